// One task's calibration (SCM, then optionally CCM) at inference, fused into one pass over an
// NHWC float activation, image by image, where libtorch takes a small convolution and three
// more memory passes (CCM's pooling, gate multiply, and SCM's output written and read back);
// with the conv's frozen BN before it and the network's ReLU or residual add and ReLU after it
// in the same pass (and, for layers without calibration, those alone in one pass).
//
// CCM's gate needs no pass of its own: SCM is linear, so the mean of its output is its kernel
// applied to the input's channel sums over the pixels each tap reads (the whole image less
// one edge row and/or column), gathered as SCM's input rows are loaded. The image is read
// once from memory, SCM's output written, and the gate (with the add and ReLU) applied in one
// pass over the image's output while it is in L2. SCM reads its input through a ring of three
// zero-bordered rows (small enough for L1/L2).
//
// The ways of vectorising SCM over channels (`Form`), chosen by alpha and the vector width:
//  - lanes (alpha 1, 2, 4): a pixel's channels loaded once per tap, input j of each group
//    spread over its group's lanes by an in-lane shuffle;
//  - channel offsets (other alphas, fewer than 8 channels): output channel c reads input
//    c + d for d in -(alpha-1)..alpha-1, each offset a contiguous multiply-add over the
//    pixel's channels with per-channel weights, 0 where c + d leaves c's group (the
//    out-of-group reads then add exact zeros for finite activations; a non-finite one reaches
//    its neighbours' sums);
//  - broadcast (alpha a multiple of 8): a group's alpha outputs are whole vectors, and each
//    input channel of the group is broadcast and multiplied by all its outputs' weights;
//  - pairs (alpha 8 with vectors of 16): the broadcast form for two groups in one vector,
//    their lanes interleaved.
// Vectors of 16 floats (AVX-512) where the CPU has them and that was measured faster, else 8
// (AVX2); each output channel gets the same operations in the same order either way.
// Each block keeps one accumulator per pixel and vector (several adjacent pixels at once) so
// that the multiply-adds' latency is hidden and each weight load serves several pixels.
// Images are independent, so at::parallel_for over images gives the same result for any
// thread count. The sums' order differs from libtorch's (low-order bits).

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <utility>
#include <vector>

#include "ffi_error.h"

namespace {

#define CCLL_INLINE inline __attribute__((always_inline))

// Eight or sixteen floats (AVX2, AVX-512); loads and stores through them need no alignment.
typedef float v8 __attribute__((vector_size(32), aligned(4), __may_alias__));
typedef float v16 __attribute__((vector_size(64), aligned(4), __may_alias__));
typedef int v8i __attribute__((vector_size(32)));
typedef int v16i __attribute__((vector_size(64)));
typedef double v8d __attribute__((vector_size(64)));

// The vector of L floats and its lane indices.
template <int L>
struct Vec;
template <>
struct Vec<8> {
  typedef v8 F;
  typedef v8i I;
};
template <>
struct Vec<16> {
  typedef v16 F;
  typedef v16i I;
};

template <int L = 8>
CCLL_INLINE typename Vec<L>::F load(const float* p) {
  return *reinterpret_cast<const typename Vec<L>::F*>(p);
}
// (Overloads, not a template: a deduced type would drop the typedefs' 4-byte alignment and
// make the stores aligned ones.)
CCLL_INLINE void store(float* p, const v8& v) { *reinterpret_cast<v8*>(p) = v; }
CCLL_INLINE void store(float* p, const v16& v) { *reinterpret_cast<v16*>(p) = v; }

// What `pointwise` does to x before the add and ReLU: nothing, times a scale per channel
// (CCM's gate), or times a scale plus a shift (a frozen BN).
enum class Pre { kNone, kScale, kAffine };

// a b + c in one rounding, spelled out: left to itself, the compiler contracted a multiply
// and an add into one in some loops and widths and not in others (vectorised tails), and
// the widths then differed in the last bit. (Without FMA instructions, CPUs without AVX2,
// a call per lane.)
CCLL_INLINE float mul_add(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
template <class V>
CCLL_INLINE V mul_add(V a, V b, V c) {
  V sum;
  for (int i = 0; i < static_cast<int>(sizeof(V) / sizeof(float)); ++i) {
    sum[i] = __builtin_fmaf(a[i], b[i], c[i]);
  }
  return sum;
}

// pre(v) + r (where `add`), then max(., 0) (where `relu`; NaN stays NaN, as in libtorch's
// ReLU), for a vector or a float; a product and the add are one `mul_add`.
template <Pre pre, bool add, bool relu, class V>
CCLL_INLINE V pointwise_value(V v, V scale, V shift, V r) {
  if constexpr (pre == Pre::kScale && add) {
    v = mul_add(v, scale, r);
  } else {
    if constexpr (pre == Pre::kScale) v = v * scale;
    if constexpr (pre == Pre::kAffine) v = mul_add(v, scale, shift);
    if constexpr (add) v += r;
  }
  if constexpr (relu) v = v < 0.0f ? V{} : v;
  return v;
}

// `pointwise_value` for the L channels from ch of one pixel.
template <int L, Pre pre, bool add, bool relu>
CCLL_INLINE void pointwise_vector(const float* x, const float* scale, const float* shift,
                                  const float* r, int64_t ch, float* y) {
  typedef typename Vec<L>::F V;
  const V none{};
  store(y + ch, pointwise_value<pre, add, relu>(
                    load<L>(x + ch), pre != Pre::kNone ? load<L>(scale + ch) : none,
                    pre == Pre::kAffine ? load<L>(shift + ch) : none,
                    add ? load<L>(r + ch) : none));
}

// `pointwise_vector` for every channel of `pixels` pixels of C channels, the channels past
// the last whole vector one at a time: the frozen BN before calibration, CCM's gate, and the
// residual add and ReLU after it, in the kernel's passes rather than passes of their own.
template <int L, Pre pre, bool add, bool relu>
CCLL_INLINE void pointwise(const float* x, const float* scale, const float* shift,
                           const float* r, int64_t pixels, int64_t c, float* y) {
  for (int64_t p = 0; p < pixels; ++p) {
    const int64_t at = p * c;
    const float* rp = add ? r + at : nullptr;
    int64_t ch = 0;
    for (; ch + L <= c; ch += L) {
      pointwise_vector<L, pre, add, relu>(x + at, scale, shift, rp, ch, y + at);
    }
    for (; ch < c; ++ch) {
      y[at + ch] = pointwise_value<pre, add, relu>(
          x[at + ch], pre != Pre::kNone ? scale[ch] : 0.0f, pre == Pre::kAffine ? shift[ch] : 0.0f,
          add ? r[at + ch] : 0.0f);
    }
  }
}

// `pointwise` with what follows a layer: + r where r is not null, then ReLU where `relu`.
template <int L, Pre pre>
CCLL_INLINE void pointwise_then(const float* x, const float* scale, const float* shift,
                                const float* r, bool relu, int64_t pixels, int64_t c,
                                float* y) {
  if (r != nullptr && relu) {
    pointwise<L, pre, true, true>(x, scale, shift, r, pixels, c, y);
  } else if (r != nullptr) {
    pointwise<L, pre, true, false>(x, scale, shift, r, pixels, c, y);
  } else if (relu) {
    pointwise<L, pre, false, true>(x, scale, shift, r, pixels, c, y);
  } else {
    pointwise<L, pre, false, false>(x, scale, shift, r, pixels, c, y);
  }
}

// How SCM is vectorised over channels (see the top of the file).
enum class Form { kLanes, kOffsets, kBroadcast, kPairs };

// The form for alpha and C channels with vectors of `lanes` floats.
Form form_for(int64_t alpha, int64_t c, int lanes) {
  if (alpha == 8 && lanes == 16 && c % 16 == 0) return Form::kPairs;
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
  // For the gate's mean: `taps` in the lanes and broadcast forms, `broadcast_taps` in the
  // pairs form (null for channel offsets: the mean then reads `kernel`).
  const float* mean_taps;
  Form form;
  // CCM (ccm_weight null without it): 1x1 group conv [C, beta], BN folded into scale, shift.
  const float* ccm_weight;
  int64_t beta;
  const float* ccm_scale;
  const float* ccm_shift;
  // The frozen BN before calibration, folded into a scale and shift per channel (null: none),
  // and what follows it: a residual [N, H, W, C] added (null: none), then a ReLU.
  const float* bn_scale;
  const float* bn_shift;
  const float* residual;
  bool relu;
  bool avx2;  // the CPU has AVX2 and FMA
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

// [C / 16 pairs of groups][9 taps][8 inputs j][16 lanes] for alpha 8 (`pair_block`): lane
// 2 k + s holds the weight of input j of group 2 P + s for that group's output k.
std::vector<float> pair_taps(const float* kernel, int64_t c) {
  std::vector<float> taps(9 * 8 * c);
  for (int64_t out = 0; out < c; ++out) {
    const int64_t pair = out / 16, s = out / 8 % 2, k = out % 8;
    for (int64_t j = 0; j < 8; ++j) {
      for (int64_t t = 0; t < 9; ++t) {
        taps[((pair * 9 + t) * 8 + j) * 16 + 2 * k + s] = kernel[(out * 8 + j) * 9 + t];
      }
    }
  }
  return taps;
}

// Lane m of a pair of groups' 16 channels in the interleaved order (input j of group s at
// lane 2 j + s) takes channel kInterleave[m]; channel i of the NHWC order is at lane
// kDeinterleave[i].
constexpr v16i kInterleave = {0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15};
constexpr v16i kDeinterleave = {0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15};

// Three input rows of one image with a zero pixel either side, in a ring (input row r in slot
// r % 3), a fourth slot of zeros for the rows above and below the image, and `guard` zeros
// around each slot so that channel offsets at a row's ends stay inside the buffer. Pixel-major
// ([W + 2][C], as NHWC) or, with `group` > 0, group-major ([C / group][W + 2][group]: a
// group's inputs of adjacent pixels a constant distance apart, for the broadcast form), and
// with `interleave` each 16 channels of a pixel in the interleaved order (pairs of groups of
// 8, for `pair_block`).
struct Rows {
  // Each slot starts on a 64-byte boundary (guard and slot rounded up to 16 floats), so that
  // a pixel's vectors of 16 channels are aligned where C is a multiple of 16: an unaligned
  // 64-byte load spans two cache lines.
  static int64_t whole_lines(int64_t floats) { return (floats + 15) / 16 * 16; }

  std::vector<float> storage;
  float* data;
  int64_t guard, c, w, group, slot;
  bool interleave;
  // The frozen BN before calibration, applied as rows are copied (null: none).
  const float* scale;
  const float* shift;

  Rows(const Layer& l, int64_t guard, int64_t group, bool interleave)
      : guard(whole_lines(guard)), c(l.c), w(l.w), group(group), interleave(interleave),
        scale(l.bn_scale), shift(l.bn_shift),
        slot(whole_lines(2 * this->guard + (l.w + 2) * l.c)) {
    storage.assign(4 * slot + 16, 0.0f);
    const auto address = reinterpret_cast<uintptr_t>(storage.data());
    data = storage.data() + (64 - address % 64) % 64 / sizeof(float);
  }

  float* start(int64_t k) { return data + k * slot + guard; }
  const float* start(int64_t k) const { return data + k * slot + guard; }

  // `pixels` pixels of `n` channels from channel ch0 (of C) into dst, through the BN where
  // there is one (`pointwise` at L lanes: the same bits at either width).
  template <int L>
  CCLL_INLINE void copy_through_bn(float* dst, const float* src, int64_t ch0, int64_t pixels,
                                   int64_t n) const {
    if (scale == nullptr) {
      std::memcpy(dst, src, sizeof(float) * pixels * n);
    } else {
      pointwise<L, Pre::kAffine, false, false>(src, scale + ch0, shift + ch0, nullptr, pixels, n,
                                               dst);
    }
  }

  // Copies input row r of `image` into its slot (the border pixels stay zero), through the
  // BN where there is one (`pointwise` at L lanes for pixel-major rows).
  template <int L>
  CCLL_INLINE void load(const float* image, int64_t r) {
    const float* src = image + r * w * c;
    float* dst = start(r % 3);
    if (group == 0) {
      copy_through_bn<L>(dst + c, src, 0, w, c);
      return;
    }
    if (interleave) {
      for (int64_t col = 0; col < w; ++col) {
        for (int64_t g = 0; g < c / 16; ++g) {
          v16 v = ::load<16>(src + col * c + g * 16);
          if (scale != nullptr) v = mul_add(v, ::load<16>(scale + g * 16), ::load<16>(shift + g * 16));
          store(dst + (g * (w + 2) + col + 1) * 16, __builtin_shuffle(v, kInterleave));
        }
      }
      return;
    }
    for (int64_t col = 0; col < w; ++col) {
      for (int64_t g = 0; g < c / group; ++g) {
        // (A group is whole vectors of 8: no tail.)
        copy_through_bn<8>(dst + (g * (w + 2) + col + 1) * group, src + col * c + g * group,
                           g * group, 1, group);
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
// time (the loops over offsets unroll), else 0 and `alpha` says. (8 lanes only: not
// measured at 16.)
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

// Every channel of `px` adjacent pixels (C >= 8). A last partial vector of channels is
// computed as the 8 channels ending at C, overlapping the previous block: the overlapped
// channels get the same values again (a channel's sum does not depend on the block it is in).
template <int A, int px>
CCLL_INLINE void offsets_pixels(Window in, int64_t alpha, const float* taps, const float* gate,
                                float* out) {
  const int64_t c = in.c;
  int64_t c0 = 0;
  for (; c0 + 16 <= c; c0 += 16) offsets_block<A, 2, px>(in, alpha, taps, gate, c0, out);
  for (; c0 + 8 <= c; c0 += 8) offsets_block<A, 1, px>(in, alpha, taps, gate, c0, out);
  if (c0 < c) offsets_block<A, 1, px>(in, alpha, taps, gate, c - 8, out);
}

// The same for layers of fewer than 8 channels, one pixel and channel at a time.
template <int px>
CCLL_INLINE void offsets_pixels_scalar(Window in, int64_t alpha, const float* taps,
                                       const float* gate, float* out) {
  const int64_t c = in.c;
  for (int p = 0; p < px; ++p) {
    const Window one{{in.rows[0] + p * c, in.rows[1] + p * c, in.rows[2] + p * c}, c};
    offsets_scalar(one, alpha, taps, gate, out + p * c);
  }
}

// The lane indices of `spread`, a compile-time constant (so that the shuffle is one
// immediate-controlled instruction).
template <int L, int A, int j, size_t... i>
constexpr typename Vec<L>::I spread_lanes(std::index_sequence<i...>) {
  return typename Vec<L>::I{(static_cast<int>(i) - static_cast<int>(i) % A + j)...};
}

// Lanes i of `x` moved so that each holds input j of its group: lane i takes lane
// i - i % A + j (groups of A adjacent lanes; an in-lane shuffle, vpermilps, for A <= 4).
template <int L, int A, int j>
CCLL_INLINE typename Vec<L>::F spread(typename Vec<L>::F x) {
  if constexpr (A == 1) {
    return x;
  } else {
    constexpr typename Vec<L>::I lanes = spread_lanes<L, A, j>(std::make_index_sequence<L>{});
    return __builtin_shuffle(x, lanes);
  }
}

// acc[p] += taps(j) * spread<A, j>(x[p]) for j = J..A-1.
template <int L, int A, int J, int px>
CCLL_INLINE void lanes_inputs(const float* tap, int64_t c, const typename Vec<L>::F* x,
                              typename Vec<L>::F* acc) {
  if constexpr (J < A) {
    const typename Vec<L>::F w = load<L>(tap + J * c);
    for (int p = 0; p < px; ++p) acc[p] += w * spread<L, A, J>(x[p]);
    lanes_inputs<L, A, J + 1, px>(tap, c, x, acc);
  }
}

// SCM's output by in-lane shuffles (alpha A in 1, 2, 4, so that groups never straddle a
// vector's 128-bit lanes) for `px` adjacent pixels x `nv` x L channels from c0 (a multiple
// of A), times the gate: each tap loads a pixel's L inputs once and spreads input j of every
// group over the group's lanes, A multiply-adds per vector and tap (channel offsets take
// 2 A - 1).
template <int L, int A, int nv, int px>
CCLL_INLINE void lanes_block(Window in, const float* taps, const float* gate, int64_t c0,
                             float* out) {
  typedef typename Vec<L>::F V;
  V acc[nv][px] = {};
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) {
    const float* src = in.tap(t) + c0;
    for (int v = 0; v < nv; ++v) {
      V x[px];
      for (int p = 0; p < px; ++p) x[p] = load<L>(src + p * in.c + L * v);
      lanes_inputs<L, A, 0, px>(taps + t * A * in.c + c0 + L * v, in.c, x, acc[v]);
    }
  }
  for (int v = 0; v < nv; ++v) {
    const V g = load<L>(gate + c0 + L * v);
    for (int p = 0; p < px; ++p) store(out + p * in.c + c0 + L * v, acc[v][p] * g);
  }
}

// Every channel of `px` adjacent pixels by in-lane shuffles (C >= L; a last partial vector
// overlaps the previous block, as in `offsets_pixels`), two vectors per block at 8 lanes.
template <int L, int A, int px>
CCLL_INLINE void lanes_pixels(Window in, const float* taps, const float* gate, float* out) {
  const int64_t c = in.c;
  int64_t c0 = 0;
  if constexpr (L == 8) {
    for (; c0 + 2 * L <= c; c0 += 2 * L) lanes_block<L, A, 2, px>(in, taps, gate, c0, out);
  }
  for (; c0 + L <= c; c0 += L) lanes_block<L, A, 1, px>(in, taps, gate, c0, out);
  if (c0 < c) lanes_block<L, A, 1, px>(in, taps, gate, c - L, out);
}

// SCM's output by broadcast for `px` adjacent pixels from column col x `nv` x L outputs
// from k0 of group g, times the gate, from group-major rows. Each input value, broadcast
// once, serves the three taps (tx) of the block's pixels that read it, with the three taps'
// weights loaded once per input j: about half a load per multiply-add. The addresses are
// constant offsets from one pointer per row (group-major rows), so nothing spills.
template <int L, int A, int nv, int px>
CCLL_INLINE void broadcast_block(const Rows& rows, int64_t r, int64_t h, int64_t alpha,
                                 const float* taps, const float* gate, int64_t g, int64_t col,
                                 int64_t k0, float* out) {
  typedef typename Vec<L>::F V;
  const int64_t a = A > 0 ? A : alpha, c0 = g * a + k0;
  V acc[px][nv] = {};
#pragma GCC unroll 1
  for (int ty = 0; ty < 3; ++ty) {
    // Input pixel col - 1 + q of row r - 1 + ty at x + q a.
    const float* x = rows.row(r - 1 + ty, h) + (g * (rows.w + 2) + col) * a;
    const float* tap = taps + (g * 9 + ty * 3) * a * a + k0;
#pragma GCC unroll 8
    for (int64_t j = 0; j < a; ++j) {
      V w[3][nv];
      for (int tx = 0; tx < 3; ++tx) {
        for (int v = 0; v < nv; ++v) w[tx][v] = load<L>(tap + (tx * a + j) * a + L * v);
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
    const V gv = load<L>(gate + c0 + L * v);
    for (int p = 0; p < px; ++p) store(out + (col + p) * rows.c + c0 + L * v, acc[p][v] * gv);
  }
}

// Every group's output for `px` pixels from column col of output row r, by broadcast.
template <int L, int A, int nv, int px>
CCLL_INLINE void broadcast_pixels(const Rows& rows, int64_t r, int64_t h, int64_t alpha,
                                  const float* taps, const float* gate, int64_t col,
                                  float* out) {
  for (int64_t g = 0; g < rows.c / alpha; ++g) {
    for (int64_t k0 = 0; k0 < alpha; k0 += L * nv) {
      broadcast_block<L, A, nv, px>(rows, r, h, alpha, taps, gate, g, col, k0, out);
    }
  }
}

// Output row r by broadcast into `out` (the row's first pixel): blocks of `px` pixels, then
// of px / 2 (the rows of 28, 14 and 7 pixels have such tails), then single pixels.
template <int L, int A, int nv, int px>
CCLL_INLINE void broadcast_row(const Rows& rows, int64_t r, int64_t h, int64_t alpha,
                               const float* taps, const float* gate, float* out) {
  int64_t col = 0;
  for (; col + px <= rows.w; col += px) {
    broadcast_pixels<L, A, nv, px>(rows, r, h, alpha, taps, gate, col, out);
  }
  for (; col + px / 2 <= rows.w; col += px / 2) {
    broadcast_pixels<L, A, nv, px / 2>(rows, r, h, alpha, taps, gate, col, out);
  }
  for (; col < rows.w; ++col) {
    broadcast_pixels<L, A, nv, 1>(rows, r, h, alpha, taps, gate, col, out);
  }
}

// {a, b} (two adjacent floats) in every pair of lanes: one 64-bit broadcast.
CCLL_INLINE v16 pair_broadcast(const float* p) {
  double d;
  std::memcpy(&d, p, sizeof d);
  return reinterpret_cast<v16>(v8d{d, d, d, d, d, d, d, d});
}

// SCM's output at alpha 8 for `px` adjacent pixels from column col x the 16 outputs of the
// pair of groups `pair`, times the gate, from interleaved group-major rows: the broadcast
// form with vectors of 16, where a group has only 8 outputs. Lane 2 k + s accumulates output
// k of group 2 pair + s, so a 64-bit broadcast of two adjacent inputs gives each lane its
// group's input; the sums are put back in channel order once, at the store. Each lane gets
// the broadcast form's operations in its order (the same values bit for bit).
template <int px>
CCLL_INLINE void pair_block(const Rows& rows, int64_t r, int64_t h, const float* taps,
                            const float* gate, int64_t pair, int64_t col, float* out) {
  v16 acc[px] = {};
#pragma GCC unroll 1
  for (int ty = 0; ty < 3; ++ty) {
    // Input j of pixel col - 1 + q of row r - 1 + ty, both groups, at x + 16 q + 2 j.
    const float* x = rows.row(r - 1 + ty, h) + (pair * (rows.w + 2) + col) * 16;
    const float* tap = taps + (pair * 9 + ty * 3) * 8 * 16;
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      v16 w[3];
      for (int tx = 0; tx < 3; ++tx) w[tx] = load<16>(tap + (tx * 8 + j) * 16);
      for (int q = 0; q < px + 2; ++q) {
        const v16 b = pair_broadcast(x + q * 16 + 2 * j);
        for (int tx = 0; tx < 3; ++tx) {
          const int p = q - tx;
          if (p < 0 || p >= px) continue;
          acc[p] += w[tx] * b;
        }
      }
    }
  }
  const v16 g = load<16>(gate + 16 * pair);
  for (int p = 0; p < px; ++p) {
    store(out + (col + p) * rows.c + 16 * pair, __builtin_shuffle(acc[p], kDeinterleave) * g);
  }
}

// Output row r at alpha 8 by pairs of groups into `out` (blocks of `px` pixels, px / 2, 1).
template <int px>
CCLL_INLINE void pair_row(const Rows& rows, int64_t r, int64_t h, const float* taps,
                          const float* gate, float* out) {
  int64_t col = 0;
  for (; col + px <= rows.w; col += px) {
    for (int64_t g = 0; g < rows.c / 16; ++g) pair_block<px>(rows, r, h, taps, gate, g, col, out);
  }
  for (; col + px / 2 <= rows.w; col += px / 2) {
    for (int64_t g = 0; g < rows.c / 16; ++g) {
      pair_block<px / 2>(rows, r, h, taps, gate, g, col, out);
    }
  }
  for (; col < rows.w; ++col) {
    for (int64_t g = 0; g < rows.c / 16; ++g) pair_block<1>(rows, r, h, taps, gate, g, col, out);
  }
}

// SCM's output times the gate for `px` pixels from column col of output row r (vectors of L
// channels, C >= L, or one channel at a time under 8 channels).
template <int L, int A, Form form, int px>
CCLL_INLINE void scm_pixels(const Rows& rows, int64_t r, int64_t h, int64_t col, int64_t alpha,
                            const float* taps, const float* gate, float* out) {
  const Window in{{rows.at(r - 1, h, col), rows.at(r, h, col), rows.at(r + 1, h, col)}, rows.c};
  float* first = out + col * rows.c;
  if constexpr (form == Form::kLanes) {
    lanes_pixels<L, A, px>(in, taps, gate, first);
  } else if (rows.c < 8) {
    offsets_pixels_scalar<px>(in, alpha, taps, gate, first);
  } else {
    offsets_pixels<A, px>(in, alpha, taps, gate, first);
  }
}

// Output row r into `out` (the row's first pixel): blocks of `px` pixels, then the row's
// last pixels one by one. (No lambdas on this path: they would not inherit the caller's
// instruction set.)
template <int L, int A, Form form, int px>
CCLL_INLINE void scm_row(const Rows& rows, int64_t r, int64_t h, int64_t alpha,
                         const float* taps, const float* gate, float* out) {
  int64_t col = 0;
  for (; col + px <= rows.w; col += px) {
    scm_pixels<L, A, form, px>(rows, r, h, col, alpha, taps, gate, out);
  }
  for (; col < rows.w; ++col) {
    scm_pixels<L, A, form, 1>(rows, r, h, col, alpha, taps, gate, out);
  }
}

// SCM times the gate for output row r with the variant for alpha, in vectors of up to
// `widest` channels where that was measured faster (1 thread, batch 64, C64 32x32, the
// fastest of 30 passes, 2026-12-08 on an AVX-512 AMD EPYC): 16 at alpha 4 (2.6-2.8 ms
// against 3.7-4.0 at 8) and for a group's outputs at multiples of 16; 8 at alpha 1 and 2
// (1.6-1.7 and 2.2-2.3 ms at 8, 1.9-2.0 and 2.5-2.8 at 16: memory-bound), at alpha 8 (a
// group is 8 outputs) and for channel offsets. Blocks keep 8 independent accumulators
// (4 pixels x 2 vectors of 8, or 8 pixels x 1 vector for the broadcast form), 4 at 16 lanes
// (4 pixels x 1 vector: with 2 vectors the compiler spilled them).
template <int widest>
CCLL_INLINE void scm_row_of(const Layer& l, const Rows& rows, int64_t r, const float* gate,
                            float* out) {
  constexpr int L = widest;
  const int64_t a = l.alpha;
  switch (l.form) {
    case Form::kPairs:
      // (Chosen only with 16 lanes.)
      if constexpr (L == 16) pair_row<8>(rows, r, l.h, l.taps, gate, out);
      break;
    case Form::kBroadcast:
      if (a == 8) {
        broadcast_row<8, 8, 1, 8>(rows, r, l.h, a, l.taps, gate, out);
      } else if (L == 16 && a == 16) {
        broadcast_row<16, 16, 1, 8>(rows, r, l.h, a, l.taps, gate, out);
      } else if (a % (2 * L) == 0) {
        broadcast_row<L, 0, 2, 4>(rows, r, l.h, a, l.taps, gate, out);
      } else if (a % L == 0) {
        broadcast_row<L, 0, 1, 8>(rows, r, l.h, a, l.taps, gate, out);
      } else {
        broadcast_row<8, 0, 1, 8>(rows, r, l.h, a, l.taps, gate, out);
      }
      break;
    case Form::kLanes:
      if (a == 1) {
        scm_row<8, 1, Form::kLanes, 4>(rows, r, l.h, a, l.taps, gate, out);
      } else if (a == 2) {
        scm_row<8, 2, Form::kLanes, 4>(rows, r, l.h, a, l.taps, gate, out);
      } else if (L == 16 && l.c >= 16) {
        scm_row<16, 4, Form::kLanes, 4>(rows, r, l.h, a, l.taps, gate, out);
      } else {
        scm_row<8, 4, Form::kLanes, 4>(rows, r, l.h, a, l.taps, gate, out);
      }
      break;
    case Form::kOffsets:
      scm_row<8, 0, Form::kOffsets, 4>(rows, r, l.h, a, l.taps, gate, out);
      break;
  }
}

// dst[c] += src[c] for every pixel of a strided run of `n` pixels (`step` floats apart).
CCLL_INLINE void add_pixels(float* dst, const float* src, int64_t n, int64_t step, int64_t c) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) dst[ch] += src[i * step + ch];
  }
}

// Input row r's part of the sums CCM's gate needs, `edges` [5][C]: the total, the first and
// last rows, the first and last columns (row by row, the order of one pass over the image).
CCLL_INLINE void add_row_edges(const Layer& l, const float* row, int64_t r, float* edges) {
  const int64_t c = l.c, w = l.w;
  add_pixels(edges, row, w, c, c);
  if (r == 0) add_pixels(edges + c, row, w, c, c);
  if (r == l.h - 1) add_pixels(edges + 2 * c, row, w, c, c);
  add_pixels(edges + 3 * c, row, 1, c, c);
  add_pixels(edges + 4 * c, row + (w - 1) * c, 1, c, c);
}

// SCM times `gate` for every row of `image` into `y`, in vectors of up to `widest` floats,
// then what follows the layer (`residual`: the image's, or null; a ReLU where `relu`) on each
// output row while it is in L1, and into `edges` (where not null) the input's sums that CCM's
// gate needs, from each row as it is loaded. (The add and ReLU applied as each vector is
// stored instead measured slower at alpha 2 and 4 and on small images.) Each output channel
// gets the same operations in the same order at either width, so the widths agree bit for bit.
template <int widest>
CCLL_INLINE void scm_image(const Layer& l, Rows& rows, const float* image, const float* gate,
                           const float* residual, bool relu, float* edges, float* y) {
  const int64_t row = l.w * l.c;
  for (int64_t r = 0; r < l.h; ++r) {
    for (int64_t k = r == 0 ? 0 : r + 1; k <= r + 1 && k < l.h; ++k) {
      rows.load<widest>(image, k);
      if (edges != nullptr) add_row_edges(l, image + k * row, k, edges);
    }
    float* out = y + r * row;
    scm_row_of<widest>(l, rows, r, gate, out);
    if (residual != nullptr || relu) {
      const float* res = residual != nullptr ? residual + r * row : nullptr;
      pointwise_then<widest, Pre::kNone>(out, nullptr, nullptr, res, relu, l.w, l.c, out);
    }
  }
}


// m += taps(j, t) * spread<A, j>(tap t's sums) for j = J..A-1, then t = 0..8.
template <int A, int J>
CCLL_INLINE void mean_inputs(const float* mean_taps, const float* tap_sums, int64_t c, int64_t o,
                             v8& m) {
  if constexpr (J < A) {
    for (int t = 0; t < 9; ++t) {
      m += load(mean_taps + (t * A + J) * c + o) * spread<8, A, J>(load(tap_sums + t * c + o));
    }
    mean_inputs<A, J + 1>(mean_taps, tap_sums, c, o, m);
  }
}

// `scm_mean` at alpha A in 1, 2, 4 (C >= 8), 8 outputs at a time: input j of each group
// spread over its group's lanes, as in the lanes form (`mean_taps` laid out as `lane_taps`).
template <int A>
CCLL_INLINE void scm_mean_lanes(const Layer& l, const float* tap_sums, float* sum) {
  const int64_t c = l.c;
  for (int64_t out = 0; out < c; out += 8) {
    const int64_t o = out + 8 <= c ? out : c - 8;  // a last partial vector overlaps
    v8 m = {};
    mean_inputs<A, 0>(l.mean_taps, tap_sums, c, o, m);
    store(sum + o, m);
  }
}

// The sum over pixels of SCM's output into `sum` [C], from the inputs' sums over the pixels
// each tap reads (`tap_sums` [9][C]): for every output, its weights times its group's tap
// sums, in the order input j, then tap. Vectors of 8 outputs at alpha 1, 2, 4 and at
// multiples of 8 (scalar per output, it cost as much as SCM itself on 4x4 and 8x8 images),
// one output at a time otherwise; the same operations per output either way.
CCLL_INLINE void scm_mean(const Layer& l, const float* tap_sums, float* sum) {
  const int64_t c = l.c, a = l.alpha;
  if (l.form == Form::kLanes) {
    if (a == 1) {
      scm_mean_lanes<1>(l, tap_sums, sum);
    } else if (a == 2) {
      scm_mean_lanes<2>(l, tap_sums, sum);
    } else {
      scm_mean_lanes<4>(l, tap_sums, sum);
    }
    return;
  }
  if (l.form == Form::kBroadcast || l.form == Form::kPairs) {
    for (int64_t first = 0; first < c; first += a) {
      for (int64_t k = 0; k < a; k += 8) {
        v8 m = {};
        for (int64_t j = 0; j < a; ++j) {
          for (int t = 0; t < 9; ++t) {
            const float* weights = l.mean_taps + ((first / a * 9 + t) * a + j) * a + k;
            m += load(weights) * tap_sums[t * c + first + j];
          }
        }
        store(sum + first + k, m);
      }
    }
    return;
  }
  for (int64_t out = 0; out < c; ++out) {
    const int64_t first = out / a * a;
    float m = 0.0f;
    for (int64_t j = 0; j < a; ++j) {
      for (int t = 0; t < 9; ++t) m += l.kernel[(out * a + j) * 9 + t] * tap_sums[t * c + first + j];
    }
    sum[out] = m;
  }
}

// Scratch space of one thread for CCM's gate.
struct GateScratch {
  std::vector<float> edges;     // [5][C]: see `add_row_edges`
  std::vector<float> tap_sums;  // [9][C]
  std::vector<float> mean;      // [C]
};

// CCM's gate, `2 sigmoid(BN(GConv1x1(mean SCM(x))))`, for `image` (SCM's input x, or the
// conv output its frozen BN makes x) with `s.edges` its sums: SCM is linear, so the mean of
// its output is its kernel applied to the input's sums over the pixels each tap reads. Tap
// (ty, tx) reads every input pixel but the last row (ty = 0) or the first (ty = 2), and the
// last or first column likewise, so its sums are the total less those edges, their shared
// corner added back (through the BN: scale times them, plus shift per pixel read).
CCLL_INLINE void ccm_gate(const Layer& l, const float* image, GateScratch& s, float* gate) {
  const int64_t c = l.c, h = l.h, w = l.w, row = w * c;
  const float* total = s.edges.data();
  const float* rows = total + c;      // first, last
  const float* cols = total + 3 * c;  // first, last
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
    if (l.bn_scale != nullptr) {
      const float read = static_cast<float>((h - (xr >= 0)) * (w - (xc >= 0)));
      for (int64_t ch = 0; ch < c; ++ch) {
        float& sum = s.tap_sums[t * c + ch];
        sum = l.bn_scale[ch] * sum + l.bn_shift[ch] * read;
      }
    }
  }
  const float inv = 1.0f / static_cast<float>(h * w);
  s.mean.resize(c);
  scm_mean(l, s.tap_sums.data(), s.mean.data());
  for (int64_t out = 0; out < c; ++out) s.mean[out] *= inv;
  for (int64_t ch = 0; ch < c; ++ch) {
    const int64_t first = ch / l.beta * l.beta;
    float z = 0.0f;
    for (int64_t j = 0; j < l.beta; ++j) z += l.ccm_weight[ch * l.beta + j] * s.mean[first + j];
    z = z * l.ccm_scale[ch] + l.ccm_shift[ch];
    gate[ch] = 2.0f / (1.0f + std::exp(-z));
  }
}

// `ccm_gate` compiled once for both widths, so that they get the same bits: compiled into
// each width's function, its loops were vectorised differently, and the gate differed
// between the widths in the last bit in some runs and not in others (seen 2026-12-08).
__attribute__((target("avx2,fma"), noinline)) void ccm_gate_avx2(const Layer& l,
                                                                  const float* image,
                                                                  GateScratch& s, float* gate) {
  ccm_gate(l, image, s, gate);
}

__attribute__((noinline)) void ccm_gate_baseline(const Layer& l, const float* image,
                                                 GateScratch& s, float* gate) {
  ccm_gate(l, image, s, gate);
}

// Images [begin, end) of the layer. With CCM, SCM's output is written first (the input's
// sums gathered as its rows are loaded), then the gate and what follows the layer applied in
// one pass over the image's output, still in L2: the input is read once (a separate pass
// for the gate's sums before SCM cost a read of the activation from memory).
template <int widest>
CCLL_INLINE void images(const Layer& l, int64_t begin, int64_t end) {
  Rows rows(l, l.form == Form::kOffsets ? l.alpha - 1 : 0,
            l.form == Form::kBroadcast ? l.alpha
            : l.form == Form::kPairs   ? 16
                                       : 0,
            l.form == Form::kPairs);
  const std::vector<float> ones(l.c, 1.0f);  // SCM's output times 1: exact
  std::vector<float> gate(l.c);
  GateScratch scratch;
  const int64_t pixels = l.h * l.w, size = pixels * l.c;
  for (int64_t i = begin; i < end; ++i) {
    const float* image = l.x + i * size;
    const float* residual = l.residual != nullptr ? l.residual + i * size : nullptr;
    float* y = l.y + i * size;
    if (l.ccm_weight == nullptr) {
      scm_image<widest>(l, rows, image, ones.data(), residual, l.relu, nullptr, y);
      continue;
    }
    scratch.edges.assign(5 * l.c, 0.0f);
    scm_image<widest>(l, rows, image, ones.data(), nullptr, false, scratch.edges.data(), y);
    (l.avx2 ? ccm_gate_avx2 : ccm_gate_baseline)(l, image, scratch, gate.data());
    pointwise_then<widest, Pre::kScale>(y, gate.data(), nullptr, residual, l.relu, pixels, l.c,
                                        y);
  }
}

__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"))) void images_avx512(
    const Layer& l, int64_t begin, int64_t end) {
  images<16>(l, begin, end);
}

__attribute__((target("avx2,fma"))) void images_avx2(const Layer& l, int64_t begin,
                                                     int64_t end) {
  images<8>(l, begin, end);
}

void images_baseline(const Layer& l, int64_t begin, int64_t end) { images<8>(l, begin, end); }

// The base's frozen BN and what follows it where no calibration sits between them: one pass.
struct AfterBn {
  const float* x;  // [N, H, W, C]
  const float* scale;
  const float* shift;
  const float* residual;  // [N, H, W, C] or null
  bool relu;
  int64_t c;
  float* y;  // [N, H, W, C]
};

// Pixels [begin, end) of `AfterBn`.
template <int L>
CCLL_INLINE void pixels_after_bn(const AfterBn& a, int64_t begin, int64_t end) {
  const int64_t at = begin * a.c;
  const float* r = a.residual != nullptr ? a.residual + at : nullptr;
  pointwise_then<L, Pre::kAffine>(a.x + at, a.scale, a.shift, r, a.relu, end - begin, a.c, a.y + at);
}

__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"))) void
pixels_after_bn_avx512(const AfterBn& a, int64_t begin, int64_t end) {
  pixels_after_bn<16>(a, begin, end);
}

__attribute__((target("avx2,fma"))) void pixels_after_bn_avx2(const AfterBn& a, int64_t begin,
                                                               int64_t end) {
  pixels_after_bn<8>(a, begin, end);
}

void pixels_after_bn_baseline(const AfterBn& a, int64_t begin, int64_t end) {
  pixels_after_bn<8>(a, begin, end);
}

// The widest vectors (in floats) the kernel may use; lowered to compare the widths.
std::atomic<int> max_lanes{16};

// The vector width this CPU runs the kernel at under `max_lanes`.
int lanes_in_use() {
  if (max_lanes.load() >= 16 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw")) {
    return 16;
  }
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8 : 4;
}

void check_vector(const at::Tensor* t, int64_t c, const char* what) {
  TORCH_CHECK(t != nullptr && t->device().is_cpu() && t->scalar_type() == at::kFloat &&
                  t->is_contiguous() && t->numel() == c,
              what, " must be a contiguous float CPU tensor of ", c, " values");
}

void check_activation(const at::Tensor* t, const char* what) {
  TORCH_CHECK(t->dim() == 4 && t->device().is_cpu() && t->scalar_type() == at::kFloat &&
                  t->is_contiguous(at::MemoryFormat::ChannelsLast),
              what, " must be a float CPU [N, C, H, W] tensor stored channels-last");
}

// A residual to add to `like`'s output (null: none): the same shape, NHWC.
const float* residual_of(const at::Tensor* residual, const at::Tensor& like) {
  if (residual == nullptr) return nullptr;
  check_activation(residual, "the residual");
  TORCH_CHECK(residual->sizes() == like.sizes(), "the residual's shape ", residual->sizes(),
              " is not the layer's ", like.sizes());
  return residual->data_ptr<float>();
}

}  // namespace

// A frozen (eval-mode) BN's tensors, as the Rust side passes them.
struct CcllFrozenBn {
  const at::Tensor* weight;
  const at::Tensor* bias;
  const at::Tensor* running_mean;
  const at::Tensor* running_var;
  double eps;
};

namespace {

// The BN folded into a scale and a shift per channel, as libtorch's eval-mode BN folds it:
// scale = weight / sqrt(var + eps), shift = bias - mean scale.
std::pair<std::vector<float>, std::vector<float>> fold_bn(const CcllFrozenBn& bn, int64_t c) {
  check_vector(bn.weight, c, "the BN's weight");
  check_vector(bn.bias, c, "the BN's bias");
  check_vector(bn.running_mean, c, "the BN's running mean");
  check_vector(bn.running_var, c, "the BN's running variance");
  const float *weight = bn.weight->data_ptr<float>(), *bias = bn.bias->data_ptr<float>(),
              *mean = bn.running_mean->data_ptr<float>(), *var = bn.running_var->data_ptr<float>();
  std::vector<float> scale(c), shift(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float invstd = 1.0f / std::sqrt(var[ch] + static_cast<float>(bn.eps));
    scale[ch] = invstd * weight[ch];
    shift[ch] = bias[ch] - mean[ch] * scale[ch];
  }
  return {std::move(scale), std::move(shift)};
}

}  // namespace

extern "C" {

// The floats per vector the kernel runs with on this CPU (16: AVX-512, 8: AVX2, 4: SSE),
// after capping them at `cap` where it is positive (16 and 8 give the same values).
int ccll_calibration_inference_lanes(int cap) {
  if (cap > 0) max_lanes.store(cap);
  return lanes_in_use();
}

// Whether autograd records operations on this thread.
int ccll_grad_mode_enabled() { return at::GradMode::is_enabled() ? 1 : 0; }

// SCM (kernel [C, alpha, 3, 3], the residual folded in) and, where ccm_weight is not null,
// CCM (weight [C, beta], BN's eval-mode scale and shift [C]) on x [N, C, H, W] stored NHWC
// (float, CPU); where `bn` is not null, x is the output of a conv whose frozen BN is applied
// first, and after calibration `residual` (where not null, NHWC like x) is added and a ReLU
// applied where `relu` is not 0. A new NHWC tensor (freed as tch frees tensors), or null with
// the reason in `error`.
at::Tensor* ccll_calibration_inference(const at::Tensor* x, const at::Tensor* kernel,
                                       int64_t alpha, const at::Tensor* ccm_weight, int64_t beta,
                                       const at::Tensor* ccm_scale, const at::Tensor* ccm_shift,
                                       const CcllFrozenBn* bn, const at::Tensor* residual,
                                       int relu, char* error, size_t error_len) {
  try {
    check_activation(x, "the input");
    const int64_t n = x->size(0), c = x->size(1), h = x->size(2), w = x->size(3);
    TORCH_CHECK(alpha >= 1 && c % alpha == 0, "alpha ", alpha, " does not divide ", c);
    check_vector(kernel, c * alpha * 9, "SCM's kernel");
    TORCH_CHECK(kernel->dim() == 4, "SCM's kernel must be [C, alpha, 3, 3]");
    const int lanes = lanes_in_use();
    Layer l{};
    l.c = c;
    l.h = h;
    l.w = w;
    l.alpha = alpha;
    l.x = x->data_ptr<float>();
    l.form = form_for(alpha, c, lanes);
    l.beta = beta;
    l.relu = relu != 0;
    l.avx2 = lanes >= 8;
    l.residual = residual_of(residual, *x);
    if (ccm_weight != nullptr) {
      TORCH_CHECK(beta >= 1 && c % beta == 0, "beta ", beta, " does not divide ", c);
      check_vector(ccm_weight, c * beta, "CCM's weight");
      check_vector(ccm_scale, c, "CCM's scale");
      check_vector(ccm_shift, c, "CCM's shift");
      l.ccm_weight = ccm_weight->data_ptr<float>();
      l.ccm_scale = ccm_scale->data_ptr<float>();
      l.ccm_shift = ccm_shift->data_ptr<float>();
    }
    std::pair<std::vector<float>, std::vector<float>> folded;
    if (bn != nullptr) {
      folded = fold_bn(*bn, c);
      l.bn_scale = folded.first.data();
      l.bn_shift = folded.second.data();
    }
    const float* k = kernel->data_ptr<float>();
    l.kernel = k;
    const std::vector<float> taps =
        l.form == Form::kPairs       ? pair_taps(k, c)
        : l.form == Form::kBroadcast ? broadcast_taps(k, c, alpha)
        : l.form == Form::kLanes     ? lane_taps(k, c, alpha)
                                     : offset_taps(k, c, alpha);
    l.taps = taps.data();
    // The gate's mean reads the lanes and broadcast forms' own taps; the pairs form's are
    // interleaved, so it gets the broadcast layout of its own.
    std::vector<float> pairs_mean_taps;
    if (l.form == Form::kPairs && ccm_weight != nullptr) {
      pairs_mean_taps = broadcast_taps(k, c, alpha);
      l.mean_taps = pairs_mean_taps.data();
    } else if (l.form == Form::kLanes || l.form == Form::kBroadcast) {
      l.mean_taps = l.taps;
    }
    at::Tensor y = at::empty({n, c, h, w}, x->options(), at::MemoryFormat::ChannelsLast);
    if (y.numel() == 0) return new at::Tensor(std::move(y));  // no pixel: nothing to compute
    l.y = y.data_ptr<float>();
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      if (lanes == 16) {
        images_avx512(l, begin, end);
      } else if (lanes == 8) {
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

// A conv's frozen BN on its output x [N, C, H, W] stored NHWC (float, CPU), then `residual`
// added (where not null) and a ReLU (where `relu` is not 0), in one pass: the base's layers
// where no calibration sits after the BN. A new NHWC tensor, or null with the reason in
// `error`.
at::Tensor* ccll_batch_norm_inference(const at::Tensor* x, const CcllFrozenBn* bn,
                                      const at::Tensor* residual, int relu, char* error,
                                      size_t error_len) {
  try {
    check_activation(x, "the input");
    const int64_t c = x->size(1);
    const auto folded = fold_bn(*bn, c);
    at::Tensor y = at::empty(x->sizes(), x->options(), at::MemoryFormat::ChannelsLast);
    const AfterBn a{x->data_ptr<float>(), folded.first.data(),   folded.second.data(),
                    residual_of(residual, *x), relu != 0, c, y.data_ptr<float>()};
    const int lanes = lanes_in_use();
    // Chunks of pixels: per element, so any split gives the same values.
    const int64_t pixels = c > 0 ? x->numel() / c : 0;
    at::parallel_for(0, pixels, 2048, [&](int64_t begin, int64_t end) {
      if (lanes == 16) {
        pixels_after_bn_avx512(a, begin, end);
      } else if (lanes == 8) {
        pixels_after_bn_avx2(a, begin, end);
      } else {
        pixels_after_bn_baseline(a, begin, end);
      }
    });
    return new at::Tensor(std::move(y));
  } catch (const std::exception& e) {
    ccll::copy_message(e.what(), error, error_len);
    return nullptr;
  }
}

}  // extern "C"
