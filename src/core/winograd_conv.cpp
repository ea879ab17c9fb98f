#include "core/winograd_conv.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <vector>

#include <omp.h>

#include "core/error.h"
#include "core/first_error.h"
#include "core/packed_operand.h"
#include "core/strided_matmul.h"

namespace diffuse {
namespace {

// Eight channels of one pixel: the transforms work on all channels alike, so they vectorise
// across channels (one AVX2 register).
using v8 = float __attribute__((vector_size(32)));
constexpr int64_t kLanes = 8;

v8 load(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void store(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

// Eight channels of x from element `index`, widened where x is bf16.
v8 load(const Tensor& x, int64_t index) {
  if (x.type() == Tensor::Type::F32) return load(x.data() + index);
  using u16x8 = uint16_t __attribute__((vector_size(16)));
  using u32x8 = uint32_t __attribute__((vector_size(32)));
  u16x8 bits;
  std::memcpy(&bits, x.bf16_data() + index, sizeof bits);
  return std::bit_cast<v8>(__builtin_convertvector(bits, u32x8) << 16);
}

// float_to_bf16 (dtype.h) on eight values, kept as floats: the inputs of a bf16 convolution.
v8 bf16_rounded(v8 x) {
  using u8 = uint32_t __attribute__((vector_size(32)));
  const u8 bits = std::bit_cast<u8>(x);
  const u8 rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  const u8 quiet_nan = (bits & 0xffff0000u) | 0x400000u;
  const u8 out = (bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded;
  return std::bit_cast<v8>(out);
}

// The transforms of F(4, 3) with interpolation points 0, 1, -1, 2, -2 and infinity, one line of
// six values (t[k * stride]) at a time; a 6x6 block is transformed along its columns, then rows.

// B^T d
void input_line(v8 d0, v8 d1, v8 d2, v8 d3, v8 d4, v8 d5, v8* t, int stride) {
  t[0 * stride] = 4 * d0 - 5 * d2 + d4;
  t[1 * stride] = d3 + d4 - 4 * (d1 + d2);
  t[2 * stride] = 4 * (d1 - d2) + d4 - d3;
  t[3 * stride] = 2 * (d3 - d1) + d4 - d2;
  t[4 * stride] = 2 * (d1 - d3) + d4 - d2;
  t[5 * stride] = 4 * d1 - 5 * d3 + d5;
}

// A^T m: six transformed values back to four outputs.
void output_line(v8 m0, v8 m1, v8 m2, v8 m3, v8 m4, v8 m5, v8* o, int stride) {
  const v8 sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4;
  o[0 * stride] = m0 + sum12 + sum34;
  o[1 * stride] = diff12 + 2 * diff34;
  o[2 * stride] = sum12 + 4 * sum34;
  o[3 * stride] = diff12 + 8 * diff34 + m5;
}

// 24 G, G taking three filter taps to six: in integers, the filter transform rounds its sums of
// a few terms, then once more in the final scaling by 1 / 24^2.
constexpr float kG24[6][3] = {{6, 0, 0}, {-4, -4, -4}, {-4, 4, -4}, {1, 2, 4}, {1, -2, 4}, {0, 0, 24}};

constexpr int kAlphas = 36;  // transformed values per block and channel
constexpr int kTile = 4;     // outputs per block side

// Blocks per matmul, at most: 64, 128 and 256 ran within 5% of each other on the UNet's and the
// VAE's shapes here (320 channels at 64x64 batch 2, 128 at 512x512, 256 at 256x256, 512 at 128x128).
constexpr int64_t kBlocksPerMatmul = 128;

// The transformed filter's buffer: 36 floats per pair of channels, so a 640 by 640 layer's fits
// whole (59 MB), 2560 by 1280 (SD 1.5's deepest) in eight parts. Each part transforms
// the inputs again, which costs little where a layer has that many channels: its images are small.
constexpr int64_t kFilterBytes = int64_t(64) << 20;

struct Geometry {
  int64_t n, h, w, c_in, c_out, out_h, tiles_x, tiles_per_image;
  int top;
  bool round_inputs;  // fp32 inputs of a bf16 convolution: rounded to bf16 on the way in
};

// Block `g`'s 6x6 inputs (zero outside the image), transformed, into v[alpha * stride + c].
void transform_block(const Tensor& x, const Geometry& s, int64_t g, float* v, int64_t stride) {
  const int64_t b = g / s.tiles_per_image, tile = g % s.tiles_per_image;
  const int64_t y0 = tile / s.tiles_x * kTile - s.top, x0 = tile % s.tiles_x * kTile - 1;
  std::array<int64_t, 36> source;  // the pixels' first elements, -1 where the input is padding
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j)
      source[size_t(i * 6 + j)] = y0 + i >= 0 && y0 + i < s.h && x0 + j >= 0 && x0 + j < s.w
                                      ? ((b * s.h + y0 + i) * s.w + x0 + j) * s.c_in
                                      : -1;
  for (int64_t c = 0; c < s.c_in; c += kLanes) {
    v8 d[36], t[36];
    for (int k = 0; k < 36; ++k) d[k] = source[size_t(k)] >= 0 ? load(x, source[size_t(k)] + c) : v8{};
    if (s.round_inputs)
      for (v8& value : d) value = bf16_rounded(value);
    for (int j = 0; j < 6; ++j) input_line(d[j], d[6 + j], d[12 + j], d[18 + j], d[24 + j], d[30 + j], t + j, 6);
    for (int i = 0; i < 6; ++i) {
      const v8* r = t + i * 6;
      input_line(r[0], r[1], r[2], r[3], r[4], r[5], d + i * 6, 1);
    }
    for (int k = 0; k < 36; ++k) store(v + k * stride + c, d[k]);
  }
}

// Output channels [first, first + count): the filter of a layer with many channels is made and
// applied in parts.
struct Channels {
  int64_t first, count;
};

// Block `g`'s transformed products m[alpha * stride + c] back to its 4x4 outputs in `channels`,
// plus the bias.
void untransform_block(const float* m, int64_t stride, const float* bias, const Geometry& s, Channels channels,
                       int64_t g, Tensor& y) {
  const int64_t b = g / s.tiles_per_image, tile = g % s.tiles_per_image;
  const int64_t y0 = tile / s.tiles_x * kTile, x0 = tile % s.tiles_x * kTile;
  const int rows = int(std::min<int64_t>(kTile, s.out_h - y0)), cols = int(std::min<int64_t>(kTile, s.w - x0));
  for (int64_t c = 0; c < channels.count; c += kLanes) {
    v8 p[36], t[24], o[16];
    for (int k = 0; k < 36; ++k) p[k] = load(m + k * stride + c);
    for (int j = 0; j < 6; ++j) output_line(p[j], p[6 + j], p[12 + j], p[18 + j], p[24 + j], p[30 + j], t + j, 6);
    for (int i = 0; i < 4; ++i) {
      const v8* r = t + i * 6;
      output_line(r[0], r[1], r[2], r[3], r[4], r[5], o + i * 4, 1);
    }
    const v8 add = load(bias + channels.first + c);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j)
        store(y.data() + ((b * s.out_h + y0 + i) * s.w + x0 + j) * s.c_out + channels.first + c, o[i * 4 + j] + add);
  }
}

// U = G g G^T for every input channel and the output `channels`, eight at a time: hwio taps
// [3][3][C_in][C_out] -> [36][C_in][channels.count]. Unrolled, so that g and gg live in registers
// (GCC's -O2 kept its loops, and them on the stack): 1280 channels at 16x16, batch 2, 75-78 -> 69-70
// ms a convolution; an SD 1.5 step's Winograd layers 1.76 -> 1.64 s here.
void transform_filter(const float* hwio, int64_t c_in, int64_t c_out, Channels channels, float* u) {
  const int64_t tap_stride = c_in * c_out, alpha_stride = c_in * channels.count;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < c_in; ++i)
    for (int64_t o = 0; o < channels.count; o += kLanes) {
      v8 g[9], gg[18];
#pragma GCC unroll 9
      for (int k = 0; k < 9; ++k) g[k] = load(hwio + k * tap_stride + i * c_out + channels.first + o);
#pragma GCC unroll 6
      for (int a = 0; a < 6; ++a)
#pragma GCC unroll 3
        for (int x = 0; x < 3; ++x) gg[a * 3 + x] = kG24[a][0] * g[x] + kG24[a][1] * g[3 + x] + kG24[a][2] * g[6 + x];
#pragma GCC unroll 6
      for (int a = 0; a < 6; ++a)
#pragma GCC unroll 6
        for (int b = 0; b < 6; ++b) {
          const v8 sum = gg[a * 3] * kG24[b][0] + gg[a * 3 + 1] * kG24[b][1] + gg[a * 3 + 2] * kG24[b][2];
          store(u + (a * 6 + b) * alpha_stride + i * channels.count + o, sum * (1.0f / 576));
        }
    }
}

}  // namespace

void winograd_conv3x3(const Tensor& x, int top, int bottom, Precision precision, const float* taps,
                      int64_t out_channels, const float* bias, Tensor& y) {
  const int64_t out_h = x.dim(1) + top + bottom - 2, tiles_x = (x.dim(2) + kTile - 1) / kTile;
  const Geometry s{.n = x.dim(0),
                   .h = x.dim(1),
                   .w = x.dim(2),
                   .c_in = x.dim(3),
                   .c_out = out_channels,
                   .out_h = out_h,
                   .tiles_x = tiles_x,
                   .tiles_per_image = (out_h + kTile - 1) / kTile * tiles_x,
                   .top = top,
                   .round_inputs = precision == Precision::Bf16 && x.type() == Tensor::Type::F32};
  if (s.c_in % kLanes || s.c_out % kLanes || s.out_h < 1)
    throw Error("winograd_conv3x3: unsupported shape " + shape_string(x.shape()) + " -> " + std::to_string(s.c_out) +
                " channels");
  // The transformed filter is made for as many output channels at a time as kFilterBytes holds,
  // in one buffer for every layer: a pooled tensor of each layer's own size would be a fresh
  // allocation per call (674k page faults per 512x512 SD 1.5 step).
  const int64_t part = std::clamp<int64_t>(kFilterBytes / (kAlphas * s.c_in * int64_t(sizeof(float))) / kLanes * kLanes,
                                           kLanes, s.c_out);
  thread_local std::vector<float> filter_buffer;
  filter_buffer.resize(std::max(filter_buffer.size(), size_t(kAlphas * s.c_in * part)));
  float* const filter = filter_buffer.data();  // the caller's thread's buffer, for every thread below
  // Groups of blocks, as many per thread: each group is transformed, multiplied and transformed
  // back by one thread while its transformed values are in that core's cache.
  const int64_t blocks = s.n * s.tiles_per_image, threads = omp_get_max_threads();
  const int64_t per_thread = (blocks + threads * kBlocksPerMatmul - 1) / (threads * kBlocksPerMatmul);
  const int64_t block = (blocks + threads * per_thread - 1) / (threads * per_thread);
  const int64_t groups = (blocks + block - 1) / block;  // fewer than threads * per_thread on tiny images
  FirstError failure;
  for (int64_t first = 0; first < s.c_out; first += part) {
    const Channels channels{first, std::min(part, s.c_out - first)};
    transform_filter(taps, s.c_in, s.c_out, channels, filter);
#pragma omp parallel
    {
      thread_local std::vector<float> v, m;  // [36][block][C_in], [36][block][channels]
      thread_local std::array<PackedOperand, kAlphas> packed;  // this part's filter
      for (PackedOperand& p : packed) p.forget();
      v.resize(std::max(v.size(), size_t(kAlphas * block * s.c_in)));
      m.resize(std::max(m.size(), size_t(kAlphas * block * channels.count)));
#pragma omp for schedule(static)
      for (int64_t group = 0; group < groups; ++group)
        failure.run([&] {
          const int64_t g0 = group * block, count = std::min(block, blocks - g0);
          for (int64_t t = 0; t < count; ++t) transform_block(x, s, g0 + t, v.data() + t * s.c_in, count * s.c_in);
          const int64_t n = channels.count;
          // A thread multiplies by each filter part for a few groups only: packed into a 1x1
          // convolution's layout every call, the UNet's Winograd layers ran 30% slower.
          StridedMatmul product{count, n, s.c_in, s.c_in, n, n};
          product.convolution_allowed = false;
          for (int64_t a = 0; a < kAlphas; ++a) {
            const float* u = filter + a * s.c_in * n;
            product.run(v.data() + a * count * s.c_in, product.packed(u, packed[size_t(a)]), m.data() + a * count * n);
          }
          for (int64_t t = 0; t < count; ++t)
            untransform_block(m.data() + t * n, count * n, bias, s, channels, g0 + t, y);
        });
    }
    failure.rethrow();
  }
}

}  // namespace diffuse
