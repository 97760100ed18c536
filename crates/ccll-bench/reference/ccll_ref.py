#!/usr/bin/env python3
"""PyTorch reference of ccll's models, for the benchmarks of `ccll-bench`.

The same networks as `crates/ccll-core/src/nn` written the way a researcher would write them in
plain PyTorch eager mode (nn.Module, torch.optim.SGD), with the same parameter names, so that
the weights ccll writes (safetensors) load here one to one:

    base.<backbone variable>          e.g. base.layer1.0.conv1.weight, base.bn1.running_var
    task<t>.calibration.<conv>.scm.weight
    task<t>.calibration.<conv>.ccm.conv.weight
    task<t>.calibration.<conv>.ccm.bn.{weight,bias,running_mean,running_var}
    task<t>.head.{weight,bias}

Training task 1 trains the base and head 1 (BN in training mode); training a later task t
freezes the base (no gradients, BN in eval mode) and trains task t's calibration modules (after
every conv + BN, placement conv -> BN -> SCM -> CCM -> ReLU / residual add) and head t.

Safetensors files are parsed by hand (8-byte little-endian header length, JSON header, raw
little-endian bytes), so nothing beyond `torch` is needed.

Modes (every one prints one JSON object per answer on stdout):
  --check    load weights and a batch, print the loss of one forward pass in the training
             modes of `--task`, the gradient norm of every trainable tensor, and the loss after
             one SGD step on the same batch.
  --serve    load weights and a batch, then answer lines on stdin: `run N` does N training
             steps (forward, backward, SGD step) and prints their time and images/s;
             `eval N` does N inference passes (no grad, eval mode); `quit` ends.
The model is described by `--spec JSON`:
  {"arch": "resnet18_cifar", "width": 20, "in_channels": 3, "classes": 10, "task": 2,
   "alpha": 1, "beta": 1, "lr": 0.05, "calibration_lr": 0.01, "momentum": 0.9,
   "weight_decay": 5e-4,
   "threads": 2, "device": "cpu", "compile": false}
With "compile": true, `--serve` runs the model under torch.compile (inductor; the first `run`
compiles, so the caller warms up first): the stronger reference beside eager mode.
"""

import argparse
import json
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {
    "F32": torch.float32,
    "F64": torch.float64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "U8": torch.uint8,
    "I8": torch.int8,
    "BOOL": torch.bool,
}


def read_safetensors(path):
    """Every tensor of a safetensors file, by name."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    start_of_data = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        if end > begin:
            raw = bytearray(data[start_of_data + begin : start_of_data + end])
            t = torch.frombuffer(raw, dtype=dtype)
        else:
            t = torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out


# --- calibration modules -------------------------------------------------------------------


class Scm(nn.Module):
    """Spatial calibration: x + grouped 3x3 conv(x), alpha channels per group."""

    def __init__(self, channels, alpha):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels, alpha, 3, 3))
        self.groups = channels // alpha

    def forward(self, x):
        return x + F.conv2d(x, self.weight, None, 1, 1, 1, self.groups)


class Ccm(nn.Module):
    """Channel-wise calibration: y * 2 sigmoid(BN(grouped 1x1 conv(GAP(y))))."""

    def __init__(self, channels, beta):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, groups=channels // beta, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, y):
        s = y.mean((2, 3), keepdim=True)
        return y * (self.bn(self.conv(s)).sigmoid() * 2.0)


class CalibrationLayer(nn.Module):
    def __init__(self, channels, alpha, beta):
        super().__init__()
        self.scm = Scm(channels, alpha)
        self.ccm = Ccm(channels, beta)

    def forward(self, x):
        return self.ccm(self.scm(x))


class Tree(nn.Module):
    """A plain container, so that a dotted conv name becomes a module path."""


class TaskModules(nn.Module):
    """What one task owns: calibration after every conv (or none) and a linear head."""

    def __init__(self, points, alpha, beta, feature_dim, classes):
        super().__init__()
        self.layers = {}
        if alpha is not None:
            self.calibration = Tree()
            for name, channels in points:
                layer = CalibrationLayer(channels, alpha, beta)
                node = self.calibration
                parts = name.split(".")
                for p in parts[:-1]:
                    child = node._modules.get(p)
                    if child is None:
                        child = Tree()
                        node.add_module(p, child)
                    node = child
                node.add_module(parts[-1], layer)
                self.layers[name] = layer
        self.head = nn.Linear(feature_dim, classes)

    def calibrate(self, y, name):
        layer = self.layers.get(name)
        return layer(y) if layer is not None else y


class NoCalibration:
    @staticmethod
    def calibrate(y, name):
        return y


# --- backbones -----------------------------------------------------------------------------


def conv(cin, cout, k, stride):
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, prefix, cin, cout, stride, points):
        super().__init__()
        self.prefix = prefix
        self.conv1 = conv(cin, cout, 3, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        points.append((f"{prefix}.conv1", cout))
        self.conv2 = conv(cout, cout, 3, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        points.append((f"{prefix}.conv2", cout))
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))
            points.append((f"{prefix}.downsample.0", cout))

    def forward(self, x, cal):
        p = self.prefix
        y = F.relu(cal.calibrate(self.bn1(self.conv1(x)), p + ".conv1"))
        y = cal.calibrate(self.bn2(self.conv2(y)), p + ".conv2")
        if self.downsample is not None:
            shortcut = cal.calibrate(self.downsample(x), p + ".downsample.0")
        else:
            shortcut = x
        return F.relu(y + shortcut)


class ResNet18(nn.Module):
    """torchvision's ResNet-18 names; ImageNet stem (7x7/2 + max-pool) or CIFAR stem (3x3/1)."""

    def __init__(self, in_channels, width, imagenet_stem):
        super().__init__()
        self.points = []
        k, s = (7, 2) if imagenet_stem else (3, 1)
        self.conv1 = conv(in_channels, width, k, s)
        self.bn1 = nn.BatchNorm2d(width)
        self.points.append(("conv1", width))
        self.max_pool = imagenet_stem
        cin = width
        for i, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
            stride = 1 if i == 0 else 2
            name = f"layer{i + 1}"
            b0 = BasicBlock(f"{name}.0", cin, cout, stride, self.points)
            b1 = BasicBlock(f"{name}.1", cout, cout, 1, self.points)
            self.add_module(name, nn.ModuleList([b0, b1]))
            cin = cout
        self.feature_dim = cin

    def forward(self, x, cal):
        y = F.relu(cal.calibrate(self.bn1(self.conv1(x)), "conv1"))
        if self.max_pool:
            y = F.max_pool2d(y, 3, 2, 1)
        for i in range(4):
            for block in self._modules[f"layer{i + 1}"]:
                y = block(y, cal)
        return y.mean((2, 3))


class ConvNet(nn.Module):
    """Three conv + BN + ReLU blocks (widths w, 2w, 4w), 2x2 max-pooling after the first two."""

    def __init__(self, in_channels, width):
        super().__init__()
        self.points = []
        cin = in_channels
        for i, cout in enumerate([width, 2 * width, 4 * width]):
            self.add_module(f"conv{i + 1}", conv(cin, cout, 3, 1))
            self.add_module(f"bn{i + 1}", nn.BatchNorm2d(cout))
            self.points.append((f"conv{i + 1}", cout))
            cin = cout
        self.feature_dim = cin

    def forward(self, x, cal):
        y = x
        for i in range(3):
            name = f"conv{i + 1}"
            bn = self._modules[f"bn{i + 1}"]
            y = F.relu(cal.calibrate(bn(self._modules[name](y)), name))
            if i < 2:
                y = F.max_pool2d(y, 2, 2)
        return y.mean((2, 3))


def backbone(arch, in_channels, width):
    if arch == "resnet18":
        return ResNet18(in_channels, width, True)
    if arch == "resnet18_cifar":
        return ResNet18(in_channels, width, False)
    if arch == "convnet":
        return ConvNet(in_channels, width)
    raise SystemExit(f"unknown arch {arch!r}")


class Net(nn.Module):
    """Base + the modules of one task (task 1: head only; later tasks: calibration + head)."""

    def __init__(self, spec):
        super().__init__()
        self.task = int(spec["task"])
        self.base = backbone(spec["arch"], int(spec["in_channels"]), int(spec["width"]))
        alpha = spec.get("alpha") if self.task > 1 else None
        modules = TaskModules(
            self.base.points,
            alpha,
            spec.get("beta", 1),
            self.base.feature_dim,
            int(spec["classes"]),
        )
        self.task_key = f"task{self.task}"
        self.add_module(self.task_key, modules)

    @property
    def modules_of_task(self):
        return self._modules[self.task_key]

    def forward(self, x):
        m = self.modules_of_task
        cal = m if self.task > 1 else NoCalibration
        return m.head(self.base(x, cal))

    def set_training_modes(self):
        """Task 1 trains everything; a later task freezes the base (eval-mode BN)."""
        self.train()
        if self.task > 1:
            self.base.eval()
            for p in self.base.parameters():
                p.requires_grad_(False)

    def load_named(self, tensors):
        own = {k: v for k, v in self.state_dict().items() if not k.endswith("num_batches_tracked")}
        missing = sorted(set(own) - set(tensors))
        extra = sorted(set(tensors) - set(own))
        if missing or extra:
            raise SystemExit(f"weights do not match the model: missing {missing[:5]}, extra {extra[:5]}")
        with torch.no_grad():
            for k, v in own.items():
                if tuple(v.shape) != tuple(tensors[k].shape):
                    raise SystemExit(f"{k}: shape {list(tensors[k].shape)} in the file, {list(v.shape)} here")
                v.copy_(tensors[k])


def build(spec, weights_path, batch_path):
    torch.set_num_threads(int(spec.get("threads", 1)))
    device = torch.device(spec.get("device", "cpu"))
    model = Net(spec)
    model.load_named(read_safetensors(weights_path))
    model.to(device)
    model.set_training_modes()
    batch = read_safetensors(batch_path)
    x = batch["x"].to(device)
    y = batch["y"].to(device)
    # Calibration modules follow their own learning rate (ccll's train.calibration_lr).
    lr = float(spec.get("lr", 0.05))
    calibration = [p for n, p in model.named_parameters() if p.requires_grad and ".calibration." in n]
    others = [p for n, p in model.named_parameters() if p.requires_grad and ".calibration." not in n]
    groups = [{"params": others}]
    if calibration:
        groups.append({"params": calibration, "lr": float(spec.get("calibration_lr", lr))})
    opt = torch.optim.SGD(
        groups,
        lr=lr,
        momentum=float(spec.get("momentum", 0.9)),
        weight_decay=float(spec.get("weight_decay", 5e-4)),
    )
    return model, opt, x, y, device


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check(spec, weights_path, batch_path):
    model, opt, x, y, _ = build(spec, weights_path, batch_path)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    grads = {
        name: p.grad.double().norm().item()
        for name, p in model.named_parameters()
        if p.requires_grad and p.grad is not None
    }
    opt.step()
    params = {
        name: p.detach().double().norm().item()
        for name, p in model.named_parameters()
        if p.requires_grad
    }
    with torch.no_grad():
        after = F.cross_entropy(model(x), y).item()
        # Inference (every module in eval mode), which ccll computes with its fused kernel.
        model.eval()
        eval_after = F.cross_entropy(model(x), y).item()
    print(
        json.dumps(
            {
                "loss": loss.item(),
                "grad_norms": grads,
                "param_norms_after_step": params,
                "loss_after_step": after,
                "eval_loss_after_step": eval_after,
            }
        )
    )


def serve(spec, weights_path, batch_path):
    model, opt, x, y, device = build(spec, weights_path, batch_path)
    # The module and its compiled form share parameters; the optimiser stays eager.
    forward = torch.compile(model) if spec.get("compile") else model
    n = x.shape[0]
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        steps = int(words[1])
        sync(device)
        started = time.perf_counter()
        cpu_started = time.process_time()
        if words[0] == "run":
            for _ in range(steps):
                loss = F.cross_entropy(forward(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        elif words[0] == "eval":
            model.eval()
            with torch.no_grad():
                for _ in range(steps):
                    forward(x)
            model.set_training_modes()
        else:
            raise SystemExit(f"unknown command {words[0]!r}")
        sync(device)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        print(
            json.dumps(
                {
                    "steps": steps,
                    "seconds": seconds,
                    "cpu_seconds": cpu_seconds,
                    "images_per_s": steps * n / seconds,
                }
            ),
            flush=True,
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--serve", action="store_true")
    ap.add_argument("--spec", required=True, help="the model and training settings, JSON")
    ap.add_argument("--weights", required=True, help="safetensors with base.* and task<t>.*")
    ap.add_argument("--batch", required=True, help="safetensors with x (float) and y (int64)")
    args = ap.parse_args()
    spec = json.loads(args.spec)
    if args.check:
        check(spec, args.weights, args.batch)
    else:
        serve(spec, args.weights, args.batch)


if __name__ == "__main__":
    main()
