#!/usr/bin/env python3
"""Where SCM's time goes on CPU: the grouped 3x3 convolution with `alpha` channels per group
(what ccll runs) against other formulations of the same function, in PyTorch (the same
libtorch and oneDNN that ccll links), channels-last (NHWC) as ccll's CPU activations are.

    .venv/bin/python crates/ccll-bench/reference/scm_formulations.py [--threads 2]

Formulations, each checked to give the grouped conv's values:
  grouped    conv2d(groups = C / alpha), NHWC              (ccll's today)
  nchw       the same on a contiguous NCHW copy of the input
  shifted    alpha depthwise convs over the input with its channels rotated within each group
             (torch.roll on an [N, H, W, C/alpha, alpha] view), summed
  dense      one dense conv with a block-diagonal weight (C/alpha x the FLOPs)
  offsets    2 alpha - 1 depthwise convs over views of one padded copy of the input shifted
             by -(alpha-1)..(alpha-1) channels (a view, not a rotation: NHWC keeps a pixel's
             channels adjacent, and the taps that would cross a group get weight 0), summed
  multiplier one depthwise conv with channel multiplier alpha (each input channel feeds the
             alpha outputs of its group), then the sum over the group's inputs
  fused      (--inductor) the 9 x alpha taps as broadcast multiply-adds over the NHWC view,
             compiled by torch.compile into one generated loop: an estimate of what a fused
             kernel of our own would reach (compilation takes a while per shape)
Prints milliseconds per call (batch 64) for layer shapes of convnet w32 and resnet18_cifar
w64, and what a channel rotation alone costs against a plain copy.

The process keeps freed memory as ccll does (glibc's mmap and trim thresholds at 1 GiB,
`ccll_core::allocator`): with glibc's defaults every full-size temporary is a fresh mmap that
faults its pages in again, which penalises the formulations that make several of them
(offsets: 2x on C64 32x32). `--glibc-defaults` measures without it.
"""

import argparse
import ctypes
import time

import torch
import torch.nn.functional as F


def ms(f, n=30):
    for _ in range(5):
        f()
    t = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t) / n * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--glibc-defaults", action="store_true")
    ap.add_argument("--inductor", action="store_true")
    args = ap.parse_args()
    if not args.glibc_defaults:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        for param in (m_mmap_threshold, m_trim_threshold):
            assert libc.mallopt(param, 1 << 30) == 1, "mallopt refused"
    torch.set_num_threads(args.threads)
    cl = torch.channels_last
    print(f"torch {torch.__version__}, {args.threads} threads; ms per call, batch 64")
    for c, h in [(32, 28), (64, 32), (128, 16), (256, 8)]:
        x = torch.randn(64, c, h, h).contiguous(memory_format=cl)
        xv = x.permute(0, 2, 3, 1)
        rot = ms(lambda: torch.roll(xv.reshape(64, h, h, c // 2, 2), 1, -1))
        print(f"C{c} {h}x{h}: channel rotation within pairs {rot:.2f}, plain copy {ms(x.clone):.2f}")
        for a in [1, 2, 4, 8]:
            w = torch.randn(c, a, 3, 3)
            g = c // a
            idx = torch.arange(c)
            i = idx % a
            shifts = [w[idx, (i + s) % a].unsqueeze(1).contiguous(memory_format=cl) for s in range(a)]
            dense_w = torch.zeros(c, c, 3, 3)
            for o in range(c):
                dense_w[o, (o // a) * a:(o // a + 1) * a] = w[o]
            dense_w = dense_w.contiguous(memory_format=cl)
            wl = w.contiguous(memory_format=cl)
            xc = x.contiguous()

            offset_ws = []
            for d in range(-(a - 1), a):
                src = i + d
                ok = (src >= 0) & (src < a)
                wd = torch.zeros(c, 1, 3, 3)
                wd[ok, 0] = w[idx[ok], src[ok]]
                offset_ws.append(wd.contiguous(memory_format=cl))
            mult_w = torch.zeros(c * a, 1, 3, 3)
            for gi in range(g):
                for j in range(a):
                    for m in range(a):
                        mult_w[(gi * a + j) * a + m, 0] = w[gi * a + m, j]
            mult_w = mult_w.contiguous(memory_format=cl)

            def offsets():
                n = x.numel()
                padded = F.pad(xv.reshape(-1), (a - 1, a - 1))
                out = None
                for k, wd in enumerate(offset_ws):
                    v = padded.narrow(0, k, n).view(64, h, h, c).permute(0, 3, 1, 2)
                    y = F.conv2d(v, wd, padding=1, groups=c)
                    out = y if out is None else out.add_(y)
                return out

            def multiplier():
                y = F.conv2d(x, mult_w, padding=1, groups=c)
                s = y.permute(0, 2, 3, 1).reshape(64, h, h, g, a, a).sum(4)
                return s.reshape(64, h, h, c).permute(0, 3, 1, 2)

            # [G, k, j, 3, 3]: output k of group g reads input j of the group.
            wg = w.view(g, a, a, 3, 3)

            def taps(xv_, wg_):
                xg = F.pad(xv_.reshape(64, h, h, g, a), (0, 0, 0, 0, 1, 1, 1, 1))
                out = 0
                for dy in range(3):
                    for dx in range(3):
                        win = xg[:, dy:dy + h, dx:dx + h].unsqueeze(-2)
                        out = out + (win * wg_[:, :, :, dy, dx]).sum(-1)
                return out.reshape(64, h, h, c).permute(0, 3, 1, 2)

            fused = torch.compile(taps) if args.inductor else None

            def shifted():
                out = F.conv2d(x, shifts[0], padding=1, groups=c)
                view = xv.reshape(64, h, h, g, a)
                for s in range(1, a):
                    xs = torch.roll(view, -s, -1).reshape(64, h, h, c).permute(0, 3, 1, 2)
                    out = out + F.conv2d(xs, shifts[s], padding=1, groups=c)
                return out

            with torch.no_grad():
                ref = F.conv2d(x, wl, padding=1, groups=g)
                for name, f in [
                    ("shifted", shifted),
                    ("nchw", lambda: F.conv2d(xc, w, padding=1, groups=g)),
                    ("dense", lambda: F.conv2d(x, dense_w, padding=1)),
                    ("offsets", offsets),
                    ("multiplier", multiplier),
                ] + ([("fused", lambda: fused(xv, wg))] if fused else []):
                    err = (f() - ref).abs().max().item()
                    assert err < 1e-3, f"{name} differs by {err}"
                times = {
                    "grouped": ms(lambda: F.conv2d(x, wl, padding=1, groups=g)),
                    "nchw": ms(lambda: F.conv2d(xc, w, padding=1, groups=g)),
                    "shifted": ms(shifted),
                    "dense": ms(lambda: F.conv2d(x, dense_w, padding=1)),
                    "offsets": ms(offsets),
                    "multiplier": ms(multiplier),
                }
                if fused:
                    times["fused"] = ms(lambda: fused(xv, wg))
            best = min(times, key=times.get)
            cells = "  ".join(f"{k} {v:6.2f}" for k, v in times.items())
            print(f"  alpha {a}: {cells}   fastest: {best}")


if __name__ == "__main__":
    main()
