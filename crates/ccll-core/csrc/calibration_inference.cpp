// One task's calibration (SCM, then optionally CCM) at inference, fused into one pass over an
// NHWC float activation, image by image, where libtorch takes a small convolution and three
// more memory passes (CCM's pooling, gate multiply, and SCM's output written and read back).
//
// CCM's gate is known before SCM's output is computed: SCM is linear, so the mean of its
// output is its kernel applied to the input's channel sums over the pixels each tap reads
// (the whole image less one edge row and/or column). The image is read once for those sums,
// once (from cache) for SCM, and the output written once, already multiplied by the gate.
// SCM reads its input through a ring of three zero-bordered rows (small enough for L1/L2).
//
// Two ways of vectorising SCM over channels, chosen by alpha:
//  - channel offsets (alpha not a multiple of 8): output channel c reads input c + d for
//    d in -(alpha-1)..alpha-1, each offset a contiguous multiply-add over the pixel's channels
//    with per-channel weights, 0 where c + d leaves c's group (the out-of-group reads then add
//    exact zeros for finite activations; a non-finite one reaches its neighbours' sums);
//  - broadcast (alpha a multiple of 8): a group's alpha outputs are whole vectors, and each
//    input channel of the group is broadcast and multiplied by all its outputs' weights.
// Each block keeps one accumulator per pixel and vector (several adjacent pixels at once) so
// that the multiply-adds' latency is hidden and each weight load serves several pixels.
// Images are independent, so at::parallel_for over images gives the same result for any
// thread count. The sums' order differs from libtorch's (low-order bits).

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>

#include <cmath>
#include <cstring>
#include <exception>
#include <vector>

#include "ffi_error.h"

namespace {

#define CCLL_INLINE inline __attribute__((always_inline))

// Eight floats; loads and stores through it need no alignment.
typedef float v8 __attribute__((vector_size(32), aligned(4), __may_alias__));

typedef int v8i __attribute__((vector_size(32)));

CCLL_INLINE v8 load(const float* p) { return *reinterpret_cast<const v8*>(p); }
CCLL_INLINE void store(float* p, v8 v) { *reinterpret_cast<v8*>(p) = v; }

// How SCM is vectorised over channels (see the top of the file).
enum class Form { kLanes, kOffsets, kBroadcast };

// The form for alpha and C channels.
Form form_for(int64_t alpha, int64_t c) {
  if (alpha % 8 == 0) return Form::kBroadcast;
  if ((alpha == 1 || alpha == 2 || alpha == 4) && c >= 8) return Form::kLanes;
  return Form::kOffsets;
}

struct Layer {
  int64_t c, h, w, alpha;
  const float* x;     // [N, H, W, C]
  float* y;           // [N, H, W, C]
  const float* kernel;  // SCM's [C, alpha, 3, 3] (the residual folded in)
  const float* taps;    // the same rearranged for the form: `*_taps` below
  Form form;
  // CCM (ccm_weight null without it): 1x1 group conv [C, beta], BN folded into scale, shift.
  const float* ccm_weight;
  int64_t beta;
  const float* ccm_scale;
  const float* ccm_shift;
};

// [9 taps][2 alpha - 1 offsets][C]: the weight of input c + d for output c at a tap.
std::vector<float> offset_taps(const float* kernel, int64_t c, int64_t alpha) {
  const int64_t reach = alpha - 1, offsets = 2 * alpha - 1;
  std::vector<float> taps(9 * offsets * c, 0.0f);
  for (int64_t out = 0; out < c; ++out) {
    const int64_t k = out % alpha;
    for (int64_t j = 0; j < alpha; ++j) {
      for (int64_t t = 0; t < 9; ++t) {
        taps[(t * offsets + j - k + reach) * c + out] = kernel[(out * alpha + j) * 9 + t];
      }
    }
  }
  return taps;
}

// [9 taps][alpha inputs j][C]: the weight of input j of c's group for output c.
std::vector<float> lane_taps(const float* kernel, int64_t c, int64_t alpha) {
  std::vector<float> taps(9 * alpha * c);
  for (int64_t out = 0; out < c; ++out) {
    for (int64_t j = 0; j < alpha; ++j) {
      for (int64_t t = 0; t < 9; ++t) {
        taps[(t * alpha + j) * c + out] = kernel[(out * alpha + j) * 9 + t];
      }
    }
  }
  return taps;
}

// [G groups][9 taps][alpha inputs j][alpha outputs k].
std::vector<float> broadcast_taps(const float* kernel, int64_t c, int64_t alpha) {
  std::vector<float> taps(9 * alpha * c);
  for (int64_t out = 0; out < c; ++out) {
    const int64_t g = out / alpha, k = out % alpha;
    for (int64_t j = 0; j < alpha; ++j) {
      for (int64_t t = 0; t < 9; ++t) {
        taps[((g * 9 + t) * alpha + j) * alpha + k] = kernel[(out * alpha + j) * 9 + t];
      }
    }
  }
  return taps;
}

// Three input rows of one image with a zero pixel either side, in a ring (input row r in slot
// r % 3), a fourth slot of zeros for the rows above and below the image, and `guard` zeros
// around each slot so that channel offsets at a row's ends stay inside the buffer. Pixel-major
// ([W + 2][C], as NHWC) or, with `group` > 0, group-major ([C / group][W + 2][group]: a
// group's inputs of adjacent pixels a constant distance apart, for the broadcast form).
struct Rows {
  std::vector<float> data;
  int64_t guard, c, w, group, slot;

  Rows(const Layer& l, int64_t guard, int64_t group)
      : guard(guard), c(l.c), w(l.w), group(group), slot(2 * guard + (l.w + 2) * l.c) {
    data.assign(4 * slot, 0.0f);
  }

  float* start(int64_t k) { return data.data() + k * slot + guard; }
  const float* start(int64_t k) const { return data.data() + k * slot + guard; }

  // Copies input row r of `image` into its slot (the border pixels stay zero).
  void load(const float* image, int64_t r) {
    const float* src = image + r * w * c;
    float* dst = start(r % 3);
    if (group == 0) {
      std::memcpy(dst + c, src, sizeof(float) * w * c);
      return;
    }
    for (int64_t col = 0; col < w; ++col) {
      for (int64_t g = 0; g < c / group; ++g) {
        std::memcpy(dst + (g * (w + 2) + col + 1) * group, src + col * c + g * group,
                    sizeof(float) * group);
      }
    }
  }

  // Padded input row r (-1 and h: zeros).
  const float* row(int64_t r, int64_t h) const { return start(r < 0 || r >= h ? 3 : r % 3); }

  // Padded input row r at its pixel `col` (-1..w), pixel-major.
  const float* at(int64_t r, int64_t h, int64_t col) const { return row(r, h) + (col + 1) * c; }
};

// Where a block of outputs reads its input (pixel-major rows: the lanes and offsets forms):
// the three input rows above, at and below its first pixel (each at that pixel's channel 0),
// and the channels (the distance between pixels).
struct Window {
  const float* rows[3];
  int64_t c;
  CCLL_INLINE const float* tap(int t) const { return rows[t / 3] + (t % 3 - 1) * c; }
};

// SCM's output by channel offsets for `px` adjacent pixels x `nv` x 8 channels from c0,
// times the gate, into `out` (the first pixel's output). `A`: alpha when fixed at compile
// time (the loops over offsets unroll), else 0 and `alpha` says.
template <int A, int nv, int px>
CCLL_INLINE void offsets_block(Window in, int64_t alpha, const float* taps, const float* gate,
                               int64_t c0, float* out) {
  const int64_t a = A > 0 ? A : alpha, reach = a - 1, offsets = 2 * a - 1;
  v8 acc[px][nv] = {};
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) {
    const float* src = in.tap(t) + c0 - reach;
    const float* tap = taps + t * offsets * in.c + c0;
#pragma GCC unroll 8
    for (int64_t d = 0; d < offsets; ++d) {
      for (int v = 0; v < nv; ++v) {
        const v8 w = load(tap + d * in.c + 8 * v);
        for (int p = 0; p < px; ++p) acc[p][v] += w * load(src + p * in.c + d + 8 * v);
      }
    }
  }
  for (int v = 0; v < nv; ++v) {
    const v8 g = load(gate + c0 + 8 * v);
    for (int p = 0; p < px; ++p) store(out + p * in.c + c0 + 8 * v, acc[p][v] * g);
  }
}

// The same for every channel of one pixel, one channel at a time (fewer than 8 channels).
CCLL_INLINE void offsets_scalar(Window in, int64_t alpha, const float* taps, const float* gate,
                                float* out) {
  const int64_t reach = alpha - 1, offsets = 2 * alpha - 1;
  for (int64_t ch = 0; ch < in.c; ++ch) {
    float acc = 0.0f;
    for (int t = 0; t < 9; ++t) {
      const float* src = in.tap(t) + ch - reach;
      const float* tap = taps + t * offsets * in.c + ch;
      for (int64_t d = 0; d < offsets; ++d) acc += tap[d * in.c] * src[d];
    }
    out[ch] = acc * gate[ch];
  }
}

// Every channel of `px` adjacent pixels. A last partial vector of channels is computed as the
// 8 channels ending at C, overlapping the previous block: the overlapped channels get the
// same values again (a channel's sum does not depend on the block it is in).
template <int A, int px>
CCLL_INLINE void offsets_pixels(Window in, int64_t alpha, const float* taps, const float* gate,
                                float* out) {
  const int64_t c = in.c;
  if (c < 8) {
    for (int p = 0; p < px; ++p) {
      const Window one{{in.rows[0] + p * c, in.rows[1] + p * c, in.rows[2] + p * c}, c};
      offsets_scalar(one, alpha, taps, gate, out + p * c);
    }
    return;
  }
  int64_t c0 = 0;
  for (; c0 + 16 <= c; c0 += 16) offsets_block<A, 2, px>(in, alpha, taps, gate, c0, out);
  for (; c0 + 8 <= c; c0 += 8) offsets_block<A, 1, px>(in, alpha, taps, gate, c0, out);
  if (c0 < c) offsets_block<A, 1, px>(in, alpha, taps, gate, c - 8, out);
}

// Lanes i of `x` moved so that each holds input j of its group: lane i takes lane
// i - i % A + j (groups of A adjacent lanes; an in-lane shuffle, vpermilps, for A <= 4).
template <int A, int j>
CCLL_INLINE v8 spread(v8 x) {
  if constexpr (A == 1) {
    return x;
  } else {
    constexpr v8i lanes = {0 - 0 % A + j, 1 - 1 % A + j, 2 - 2 % A + j, 3 - 3 % A + j,
                           4 - 4 % A + j, 5 - 5 % A + j, 6 - 6 % A + j, 7 - 7 % A + j};
    return __builtin_shuffle(x, lanes);
  }
}

// acc[p] += taps(j) * spread<A, j>(x[p]) for j = J..A-1.
template <int A, int J, int px>
CCLL_INLINE void lanes_inputs(const float* tap, int64_t c, const v8* x, v8* acc) {
  if constexpr (J < A) {
    const v8 w = load(tap + J * c);
    for (int p = 0; p < px; ++p) acc[p] += w * spread<A, J>(x[p]);
    lanes_inputs<A, J + 1, px>(tap, c, x, acc);
  }
}

// SCM's output by in-lane shuffles (alpha A in 1, 2, 4, so that groups never straddle a
// vector's halves) for `px` adjacent pixels x `nv` x 8 channels from c0 (a multiple of A),
// times the gate: each tap loads a pixel's 8 inputs once and spreads input j of every group
// over the group's lanes, A multiply-adds per vector and tap (channel offsets take 2 A - 1).
template <int A, int nv, int px>
CCLL_INLINE void lanes_block(Window in, const float* taps, const float* gate, int64_t c0,
                             float* out) {
  v8 acc[nv][px] = {};
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) {
    const float* src = in.tap(t) + c0;
    for (int v = 0; v < nv; ++v) {
      v8 x[px];
      for (int p = 0; p < px; ++p) x[p] = load(src + p * in.c + 8 * v);
      lanes_inputs<A, 0, px>(taps + t * A * in.c + c0 + 8 * v, in.c, x, acc[v]);
    }
  }
  for (int v = 0; v < nv; ++v) {
    const v8 g = load(gate + c0 + 8 * v);
    for (int p = 0; p < px; ++p) store(out + p * in.c + c0 + 8 * v, acc[v][p] * g);
  }
}

// Every channel of `px` adjacent pixels by in-lane shuffles (C >= 8; a last partial vector
// overlaps the previous block, as in `offsets_pixels`).
template <int A, int px>
CCLL_INLINE void lanes_pixels(Window in, const float* taps, const float* gate, float* out) {
  const int64_t c = in.c;
  int64_t c0 = 0;
  for (; c0 + 16 <= c; c0 += 16) lanes_block<A, 2, px>(in, taps, gate, c0, out);
  for (; c0 + 8 <= c; c0 += 8) lanes_block<A, 1, px>(in, taps, gate, c0, out);
  if (c0 < c) lanes_block<A, 1, px>(in, taps, gate, c - 8, out);
}

// SCM's output by broadcast for `px` adjacent pixels from column col x `nv` x 8 outputs
// from k0 of group g, times the gate, from group-major rows. Each input value, broadcast
// once, serves the three taps (tx) of the block's pixels that read it, with the three taps'
// weights loaded once per input j: about half a load per multiply-add. The addresses are
// constant offsets from one pointer per row (group-major rows), so nothing spills.
template <int A, int nv, int px>
CCLL_INLINE void broadcast_block(const Rows& rows, int64_t r, int64_t h, int64_t alpha,
                                 const float* taps, const float* gate, int64_t g, int64_t col,
                                 int64_t k0, float* out) {
  const int64_t a = A > 0 ? A : alpha, c0 = g * a + k0;
  v8 acc[px][nv] = {};
#pragma GCC unroll 1
  for (int ty = 0; ty < 3; ++ty) {
    // Input pixel col - 1 + q of row r - 1 + ty at x + q a.
    const float* x = rows.row(r - 1 + ty, h) + (g * (rows.w + 2) + col) * a;
    const float* tap = taps + (g * 9 + ty * 3) * a * a + k0;
#pragma GCC unroll 8
    for (int64_t j = 0; j < a; ++j) {
      v8 w[3][nv];
      for (int tx = 0; tx < 3; ++tx) {
        for (int v = 0; v < nv; ++v) w[tx][v] = load(tap + (tx * a + j) * a + 8 * v);
      }
      for (int q = 0; q < px + 2; ++q) {
        const float b = x[q * a + j];
        for (int tx = 0; tx < 3; ++tx) {
          const int p = q - tx;
          if (p < 0 || p >= px) continue;
          for (int v = 0; v < nv; ++v) acc[p][v] += w[tx][v] * b;
        }
      }
    }
  }
  for (int v = 0; v < nv; ++v) {
    const v8 gv = load(gate + c0 + 8 * v);
    for (int p = 0; p < px; ++p) store(out + (col + p) * rows.c + c0 + 8 * v, acc[p][v] * gv);
  }
}

// Every group's output for `px` pixels from column col of output row r, by broadcast.
template <int A, int nv, int px>
CCLL_INLINE void broadcast_pixels(const Rows& rows, int64_t r, int64_t h, int64_t alpha,
                                  const float* taps, const float* gate, int64_t col,
                                  float* out) {
  for (int64_t g = 0; g < rows.c / alpha; ++g) {
    for (int64_t k0 = 0; k0 < alpha; k0 += 8 * nv) {
      broadcast_block<A, nv, px>(rows, r, h, alpha, taps, gate, g, col, k0, out);
    }
  }
}

// Output row r by broadcast into `out` (the row's first pixel): blocks of `px` pixels, then
// of px / 2 (the rows of 28, 14 and 7 pixels have such tails), then single pixels.
template <int A, int nv, int px>
CCLL_INLINE void broadcast_row(const Rows& rows, int64_t r, int64_t h, int64_t alpha,
                               const float* taps, const float* gate, float* out) {
  int64_t col = 0;
  for (; col + px <= rows.w; col += px) {
    broadcast_pixels<A, nv, px>(rows, r, h, alpha, taps, gate, col, out);
  }
  for (; col + px / 2 <= rows.w; col += px / 2) {
    broadcast_pixels<A, nv, px / 2>(rows, r, h, alpha, taps, gate, col, out);
  }
  for (; col < rows.w; ++col) broadcast_pixels<A, nv, 1>(rows, r, h, alpha, taps, gate, col, out);
}

// SCM's output times the gate for `px` pixels from column col of output row r.
template <int A, Form form, int px>
CCLL_INLINE void scm_pixels(const Rows& rows, int64_t r, int64_t h, int64_t col, int64_t alpha,
                            const float* taps, const float* gate, float* out) {
  const Window in{{rows.at(r - 1, h, col), rows.at(r, h, col), rows.at(r + 1, h, col)}, rows.c};
  float* first = out + col * rows.c;
  if constexpr (form == Form::kLanes) {
    lanes_pixels<A, px>(in, taps, gate, first);
  } else {
    offsets_pixels<A, px>(in, alpha, taps, gate, first);
  }
}

// Output row r into `out` (the row's first pixel): blocks of `px` pixels, then the row's
// last pixels one by one. (No lambdas on this path: they would not inherit the caller's
// instruction set.)
template <int A, Form form, int px>
CCLL_INLINE void scm_row(const Rows& rows, int64_t r, int64_t h, int64_t alpha,
                         const float* taps, const float* gate, float* out) {
  int64_t col = 0;
  for (; col + px <= rows.w; col += px) {
    scm_pixels<A, form, px>(rows, r, h, col, alpha, taps, gate, out);
  }
  for (; col < rows.w; ++col) scm_pixels<A, form, 1>(rows, r, h, col, alpha, taps, gate, out);
}

// SCM times the gate for every row of `image` into `y`, with the variant for alpha (4 pixels
// per block: with 2 vectors of channels, 8 independent accumulators).
CCLL_INLINE void scm_image(const Layer& l, Rows& rows, const float* image, const float* gate,
                           float* y) {
  const int64_t a = l.alpha;
  if (l.h > 0) rows.load(image, 0);
  for (int64_t r = 0; r < l.h; ++r) {
    if (r + 1 < l.h) rows.load(image, r + 1);
    float* out = y + r * l.w * l.c;
    switch (l.form) {
      case Form::kBroadcast:
        // 8 accumulators: 8 pixels x 1 vector at alpha 8, 4 x 2 for multiples of 16.
        if (a == 8) {
          broadcast_row<8, 1, 8>(rows, r, l.h, a, l.taps, gate, out);
        } else if (a % 16 == 0) {
          broadcast_row<0, 2, 4>(rows, r, l.h, a, l.taps, gate, out);
        } else {
          broadcast_row<0, 1, 8>(rows, r, l.h, a, l.taps, gate, out);
        }
        break;
      case Form::kLanes:
        if (a == 1) {
          scm_row<1, Form::kLanes, 4>(rows, r, l.h, a, l.taps, gate, out);
        } else if (a == 2) {
          scm_row<2, Form::kLanes, 4>(rows, r, l.h, a, l.taps, gate, out);
        } else {
          scm_row<4, Form::kLanes, 4>(rows, r, l.h, a, l.taps, gate, out);
        }
        break;
      case Form::kOffsets:
        scm_row<0, Form::kOffsets, 4>(rows, r, l.h, a, l.taps, gate, out);
        break;
    }
  }
}

// dst[c] += src[c] for every pixel of a strided run of `n` pixels (`step` floats apart).
CCLL_INLINE void add_pixels(float* dst, const float* src, int64_t n, int64_t step, int64_t c) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) dst[ch] += src[i * step + ch];
  }
}

// Scratch space of one thread for CCM's gate.
struct GateScratch {
  std::vector<float> edges;     // [5][C]: total, first row, last row, first column, last column
  std::vector<float> tap_sums;  // [9][C]
  std::vector<float> mean;      // [C]
};

// CCM's gate for `image` (the input of SCM), `2 sigmoid(BN(GConv1x1(mean SCM(image))))`,
// with the mean of SCM's output from the input's sums: tap (ty, tx) reads every input pixel
// but the last row (ty = 0) or the first (ty = 2), and the last or first column likewise, so
// its channel sums are the total less those edges, their shared corner added back.
CCLL_INLINE void ccm_gate(const Layer& l, const float* image, GateScratch& s, float* gate) {
  const int64_t c = l.c, h = l.h, w = l.w, row = w * c;
  s.edges.assign(5 * c, 0.0f);
  float* total = s.edges.data();
  float* rows = total + c;     // first, last
  float* cols = total + 3 * c;  // first, last
  add_pixels(total, image, h * w, c, c);
  add_pixels(rows, image, w, c, c);
  add_pixels(rows + c, image + (h - 1) * row, w, c, c);
  add_pixels(cols, image, h, row, c);
  add_pixels(cols + c, image + (w - 1) * c, h, row, c);
  s.tap_sums.resize(9 * c);
  for (int t = 0; t < 9; ++t) {
    // The edge a tap does not read: 1 (the last) for ty = 0, 0 (the first) for ty = 2.
    const int ty = t / 3, tx = t % 3;
    const int xr = ty == 0 ? 1 : ty == 2 ? 0 : -1, xc = tx == 0 ? 1 : tx == 2 ? 0 : -1;
    for (int64_t ch = 0; ch < c; ++ch) {
      float sum = total[ch];
      if (xr >= 0) sum -= rows[xr * c + ch];
      if (xc >= 0) sum -= cols[xc * c + ch];
      if (xr >= 0 && xc >= 0) {
        const int64_t corner_row = xr * (h - 1) * row, corner_col = xc * (w - 1) * c;
        sum += image[corner_row + corner_col + ch];
      }
      s.tap_sums[t * c + ch] = sum;
    }
  }
  const float inv = 1.0f / static_cast<float>(h * w);
  s.mean.resize(c);
  for (int64_t out = 0; out < c; ++out) {
    const int64_t first = out / l.alpha * l.alpha;
    float m = 0.0f;
    for (int64_t j = 0; j < l.alpha; ++j) {
      for (int t = 0; t < 9; ++t) {
        m += l.kernel[(out * l.alpha + j) * 9 + t] * s.tap_sums[t * c + first + j];
      }
    }
    s.mean[out] = m * inv;
  }
  for (int64_t ch = 0; ch < c; ++ch) {
    const int64_t first = ch / l.beta * l.beta;
    float z = 0.0f;
    for (int64_t j = 0; j < l.beta; ++j) z += l.ccm_weight[ch * l.beta + j] * s.mean[first + j];
    z = z * l.ccm_scale[ch] + l.ccm_shift[ch];
    gate[ch] = 2.0f / (1.0f + std::exp(-z));
  }
}

// Images [begin, end) of the layer.
CCLL_INLINE void images(const Layer& l, int64_t begin, int64_t end) {
  Rows rows(l, l.form == Form::kOffsets ? l.alpha - 1 : 0,
            l.form == Form::kBroadcast ? l.alpha : 0);
  std::vector<float> gate(l.c, 1.0f);  // without CCM: 1, an exact multiply
  GateScratch scratch;
  const int64_t pixels = l.h * l.w;
  for (int64_t i = begin; i < end; ++i) {
    const float* image = l.x + i * pixels * l.c;
    if (l.ccm_weight != nullptr) ccm_gate(l, image, scratch, gate.data());
    scm_image(l, rows, image, gate.data(), l.y + i * pixels * l.c);
  }
}

__attribute__((target("avx2,fma"))) void images_avx2(const Layer& l, int64_t begin,
                                                     int64_t end) {
  images(l, begin, end);
}

void images_baseline(const Layer& l, int64_t begin, int64_t end) { images(l, begin, end); }

void check_vector(const at::Tensor* t, int64_t c, const char* what) {
  TORCH_CHECK(t != nullptr && t->device().is_cpu() && t->scalar_type() == at::kFloat &&
                  t->is_contiguous() && t->numel() == c,
              what, " must be a contiguous float CPU tensor of ", c, " values");
}

}  // namespace

extern "C" {

// Whether autograd records operations on this thread.
int ccll_grad_mode_enabled() { return at::GradMode::is_enabled() ? 1 : 0; }

// SCM (kernel [C, alpha, 3, 3], the residual folded in) and, where ccm_weight is not null,
// CCM (weight [C, beta], BN's eval-mode scale and shift [C]) on x [N, C, H, W] stored NHWC
// (float, CPU). A new NHWC tensor (freed as tch frees tensors), or null with the reason in
// `error`.
at::Tensor* ccll_calibration_inference(const at::Tensor* x, const at::Tensor* kernel,
                                       int64_t alpha, const at::Tensor* ccm_weight, int64_t beta,
                                       const at::Tensor* ccm_scale, const at::Tensor* ccm_shift,
                                       char* error, size_t error_len) {
  try {
    TORCH_CHECK(x->dim() == 4 && x->device().is_cpu() && x->scalar_type() == at::kFloat &&
                    x->is_contiguous(at::MemoryFormat::ChannelsLast),
                "the input must be a float CPU [N, C, H, W] tensor stored channels-last");
    const int64_t n = x->size(0), c = x->size(1), h = x->size(2), w = x->size(3);
    TORCH_CHECK(alpha >= 1 && c % alpha == 0, "alpha ", alpha, " does not divide ", c);
    check_vector(kernel, c * alpha * 9, "SCM's kernel");
    TORCH_CHECK(kernel->dim() == 4, "SCM's kernel must be [C, alpha, 3, 3]");
    Layer l{c,       h,       w,       alpha, x->data_ptr<float>(), nullptr, nullptr, nullptr,
            form_for(alpha, c), nullptr, beta, nullptr, nullptr};
    if (ccm_weight != nullptr) {
      TORCH_CHECK(beta >= 1 && c % beta == 0, "beta ", beta, " does not divide ", c);
      check_vector(ccm_weight, c * beta, "CCM's weight");
      check_vector(ccm_scale, c, "CCM's scale");
      check_vector(ccm_shift, c, "CCM's shift");
      l.ccm_weight = ccm_weight->data_ptr<float>();
      l.ccm_scale = ccm_scale->data_ptr<float>();
      l.ccm_shift = ccm_shift->data_ptr<float>();
    }
    const float* k = kernel->data_ptr<float>();
    l.kernel = k;
    const std::vector<float> taps =
        l.form == Form::kBroadcast ? broadcast_taps(k, c, alpha)
        : l.form == Form::kLanes   ? lane_taps(k, c, alpha)
                                   : offset_taps(k, c, alpha);
    l.taps = taps.data();
    at::Tensor y = at::empty({n, c, h, w}, x->options(), at::MemoryFormat::ChannelsLast);
    if (y.numel() == 0) return new at::Tensor(std::move(y));  // no pixel: nothing to compute
    l.y = y.data_ptr<float>();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      if (avx2) {
        images_avx2(l, begin, end);
      } else {
        images_baseline(l, begin, end);
      }
    });
    return new at::Tensor(std::move(y));
  } catch (const std::exception& e) {
    ccll::copy_message(e.what(), error, error_len);
    return nullptr;
  }
}

}  // extern "C"
