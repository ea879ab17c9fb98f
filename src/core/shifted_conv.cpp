#include "core/shifted_conv.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <map>
#include <vector>

#include "core/dnnl_context.h"
#include "core/dtype.h"

namespace diffuse {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Output floats per band: 1 MiB, which stays in a core's L2 while its nine products accumulate.
constexpr int64_t kBandFloats = int64_t(1) << 18;

// out[m, c_out] (+)= a[m, c_in] taps[c_in, c_out] (+ bias on the first tap), single-threaded
// inside the bands' parallel loop, cached per shape.
struct TapProduct {
  int64_t m, c_in, c_out;
  dt type;
  bool first;  // writes (with the bias) rather than accumulates

  dnnl::memory::desc a_md() const { return dnnl::memory::desc({m, c_in}, type, tag::ab); }
  dnnl::memory::desc b_md() const { return dnnl::memory::desc({c_in, c_out}, type, tag::ab); }
  dnnl::memory::desc c_md() const { return dnnl::memory::desc({m, c_out}, dt::f32, tag::ab); }
  dnnl::memory::desc bias_md() const { return dnnl::memory::desc({1, c_out}, dt::f32, tag::ab); }

  void run(const void* a, const void* b, const float* bias, float* c) const {
    thread_local std::map<std::array<int64_t, 6>, dnnl::matmul> cache;
    const std::array<int64_t, 6> key{m, c_in, c_out, int64_t(type), int64_t(first), threading_context()};
    auto it = cache.find(key);
    if (it == cache.end()) {
      dnnl::primitive_attr attr = caller_scratchpad();
      if (!first) {
        dnnl::post_ops ops;
        ops.append_sum(1.0f);
        attr.set_post_ops(ops);
      }
      const dnnl::matmul::desc desc = first ? dnnl::matmul::desc(a_md(), b_md(), bias_md(), c_md())
                                            : dnnl::matmul::desc(a_md(), b_md(), c_md());
      it = cache.emplace(key, dnnl::matmul({desc, attr, dnnl_engine()})).first;
    }
    auto& eng = dnnl_engine();
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(a_md(), eng, const_cast<void*>(a))},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(b_md(), eng, const_cast<void*>(b))},
                                               {DNNL_ARG_DST, dnnl::memory(c_md(), eng, c)}};
    if (first) args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_md(), eng, const_cast<float*>(bias)));
    execute(it->second, std::move(args));
  }
};

// Padded row `r` of image `b` (input row r - top, zero outside the input and in the two edge
// pixels) in the operand type: the conversion rides on the copy.
void write_padded_row(const Tensor& x, int64_t b, int64_t r, int top, dt type, bool round, std::byte* row) {
  const int64_t h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const size_t element = type == dt::bf16 ? 2 : 4, row_bytes = size_t((w + 2) * c) * element;
  const int64_t source = r - top;
  if (source < 0 || source >= h) {
    std::memset(row, 0, row_bytes);
    return;
  }
  std::memset(row, 0, size_t(c) * element);
  std::memset(row + row_bytes - size_t(c) * element, 0, size_t(c) * element);
  const float* src = x.data() + (b * h + source) * w * c;
  std::byte* dst = row + size_t(c) * element;
  const size_t count = size_t(w * c);
  if (type == dt::bf16)
    to_bf16(src, reinterpret_cast<uint16_t*>(dst), count);
  else if (round)
    round_to_bf16(src, reinterpret_cast<float*>(dst), count);
  else
    std::memcpy(dst, src, count * sizeof(float));
}

}  // namespace

// Each thread pads only its band's rows (two halo rows copied twice), so no padded copy of the
// whole image exists: 128 MiB less at the VAE's 512x512 level.
Tensor shifted_conv3x3(const Tensor& x, int top, int bottom, Precision precision, const dnnl::memory& taps,
                       const float* bias, int64_t out_channels) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c_in = x.dim(3), c_out = out_channels;
  const int64_t out_h = h + top + bottom - 2, wp = w + 2;
  const dt type = operand_type(precision);
  const bool round = precision == Precision::Bf16 && type == dt::f32;  // emulated bf16
  const size_t element = type == dt::bf16 ? 2 : 4, row_bytes = size_t(wp * c_in) * element;
  const int64_t band = std::clamp<int64_t>(kBandFloats / (wp * c_out), 1, out_h);
  const int64_t bands = (out_h + band - 1) / band;
  // A band's padded rows: its output rows, the two halo rows, and one more that the last output
  // row's two extra pixels read into.
  const int64_t band_rows = band + 3;
  const auto* tap_weights = static_cast<const std::byte*>(taps.get_data_handle());
  Tensor y({n, out_h, w, c_out});
  std::exception_ptr failure;
#pragma omp parallel
  {
    thread_local std::vector<float> acc, padded;
    acc.resize(std::max(acc.size(), size_t(band * wp * c_out)));
    padded.resize(std::max(padded.size(), (size_t(band_rows) * row_bytes + 3) / 4));
    auto* bytes = reinterpret_cast<std::byte*>(padded.data());
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < bands; ++i) {
        try {
          const int64_t y0 = i * band, rows = std::min(band, out_h - y0);
          for (int64_t r = 0; r < rows + 3; ++r)
            write_padded_row(x, b, y0 + r, top, type, round, bytes + size_t(r) * row_bytes);
          for (int tap = 0; tap < 9; ++tap) {
            const int64_t ky = tap / 3, kx = tap % 3;
            const std::byte* a = bytes + size_t((ky * wp + kx) * c_in) * element;
            TapProduct{rows * wp, c_in, c_out, type, tap == 0}.run(
                a, tap_weights + size_t(tap * c_in * c_out) * element, bias, acc.data());
          }
          for (int64_t r = 0; r < rows; ++r)
            std::memcpy(y.data() + ((b * out_h + y0 + r) * w) * c_out, acc.data() + r * wp * c_out,
                        size_t(w * c_out) * sizeof(float));
        } catch (...) {
#pragma omp critical(shifted_conv_failure)
          failure = std::current_exception();
        }
      }
  }
  if (failure) std::rethrow_exception(failure);
  return y;
}

}  // namespace diffuse
