#include "core/shifted_conv.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "core/dnnl_context.h"
#include "core/dtype.h"
#include "core/first_error.h"
#include "core/packed_operand.h"
#include "core/strided_matmul.h"

namespace diffuse {
namespace {

using dt = dnnl::memory::data_type;

// Output floats per band: 1 MiB, which stays in a core's L2 while its nine products accumulate.
constexpr int64_t kBandFloats = int64_t(1) << 18;

// Padded row `r` of image `b` (input row r - top, zero outside the input and in the two edge
// pixels) in the operand type: the conversion rides on the copy.
void write_padded_row(const Tensor& x, int64_t b, int64_t r, int top, Precision precision, std::byte* row) {
  const int64_t h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const size_t element = operand_type(precision) == dt::bf16 ? 2 : 4, row_bytes = size_t((w + 2) * c) * element;
  const int64_t source = r - top;
  if (source < 0 || source >= h) {
    std::memset(row, 0, row_bytes);
    return;
  }
  std::memset(row, 0, size_t(c) * element);
  std::memset(row + row_bytes - size_t(c) * element, 0, size_t(c) * element);
  write_operand(precision, x.data() + (b * h + source) * w * c, size_t(w * c), row + size_t(c) * element);
}

}  // namespace

// Each thread pads only its band's rows (two halo rows copied twice), so no padded copy of the
// whole image exists: 128 MiB less at the VAE's 512x512 level.
Tensor shifted_conv3x3(const Tensor& x, int top, int bottom, Precision precision, const dnnl::memory& taps,
                       const float* bias, int64_t out_channels) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c_in = x.dim(3), c_out = out_channels;
  const int64_t out_h = h + top + bottom - 2, wp = w + 2;
  const dt type = operand_type(precision);
  const size_t element = type == dt::bf16 ? 2 : 4, row_bytes = size_t(wp * c_in) * element;
  const int64_t band = std::clamp<int64_t>(kBandFloats / (wp * c_out), 1, out_h);
  const int64_t bands = (out_h + band - 1) / band;
  // A band's padded rows: its output rows, the two halo rows, and one more that the last output
  // row's two extra pixels read into.
  const int64_t band_rows = band + 3;
  const auto* tap_weights = static_cast<const std::byte*>(taps.get_data_handle());
  Tensor y({n, out_h, w, c_out});
  FirstError failure;
#pragma omp parallel
  {
    thread_local std::vector<float> acc, padded;
    thread_local std::array<PackedOperand, 9> packed_taps;  // this call's weights
    for (PackedOperand& t : packed_taps) t.forget();
    acc.resize(std::max(acc.size(), size_t(band * wp * c_out)));
    padded.resize(std::max(padded.size(), (size_t(band_rows) * row_bytes + 3) / 4));
    auto* bytes = reinterpret_cast<std::byte*>(padded.data());
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < bands; ++i) {
        failure.run([&] {
          const int64_t y0 = i * band, rows = std::min(band, out_h - y0);
          for (int64_t r = 0; r < rows + 3; ++r)
            write_padded_row(x, b, y0 + r, top, precision, bytes + size_t(r) * row_bytes);
          for (int tap = 0; tap < 9; ++tap) {
            const int64_t ky = tap / 3, kx = tap % 3;
            const std::byte* a = bytes + size_t((ky * wp + kx) * c_in) * element;
            // out (+)= band [rows * wp, c_in] x tap [c_in, c_out], the bias with the first tap
            const StridedMatmul product{rows * wp, c_out, c_in, c_in, c_out, c_out, false, 1.0f, type,
                                        false, dt::f32, tap == 0, tap != 0};
            const std::byte* weights = tap_weights + size_t(tap * c_in * c_out) * element;
            product.run(a, product.packed(weights, packed_taps[size_t(tap)]), acc.data(), bias);
          }
          for (int64_t r = 0; r < rows; ++r)
            std::memcpy(y.data() + ((b * out_h + y0 + r) * w) * c_out, acc.data() + r * wp * c_out,
                        size_t(w * c_out) * sizeof(float));
        });
      }
  }
  failure.rethrow();
  return y;
}

}  // namespace diffuse
