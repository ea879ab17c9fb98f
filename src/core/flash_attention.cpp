#include "core/flash_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/score_bound.h"

namespace diffuse {
namespace {

int64_t round_up(int64_t x, int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// bf16 storage for `count` values, pooled like every tensor (a UNet pass packs the same sizes
// every step).
struct Bf16Buffer {
  explicit Bf16Buffer(int64_t count) : storage({(count + 1) / 2}) {}
  uint16_t* data() { return reinterpret_cast<uint16_t*>(storage.data()); }
  Tensor storage;
};

// A row whose largest exp(s - m) is below this sits more than ~69 below its bound: its smaller
// terms would reach fp32's subnormals and lose digits, so it takes the exact softmax.
constexpr float kMinRowSum = 1e-30f;

// The exact softmax for one query row i of head h, in fp32 from the unrounded inputs.
void exact_row(const Tensor& q, const Tensor& k, const Tensor& v, int64_t b, int64_t i, int64_t h, int64_t d,
               float scale, float* out) {
  const int64_t tq = q.dim(1), tk = k.dim(1), c = q.dim(2);
  const float* qi = q.data() + (b * tq + i) * c + h * d;
  thread_local std::vector<float> p;
  p.resize(size_t(tk));
  float max_score = -INFINITY;
  for (int64_t j = 0; j < tk; ++j) {
    const float* kj = k.data() + (b * tk + j) * c + h * d;
    float s = 0;
    for (int64_t e = 0; e < d; ++e) s += qi[e] * kj[e];
    p[size_t(j)] = s * scale;
    max_score = std::max(max_score, p[size_t(j)]);
  }
  double sum = 0;
  for (float& x : p) sum += x = std::exp(x - max_score);
  std::fill(out, out + d, 0.0f);
  for (int64_t j = 0; j < tk; ++j) {
    const float* vj = v.data() + (b * tk + j) * c + h * d;
    const float w = float(p[size_t(j)] / sum);
    for (int64_t e = 0; e < d; ++e) out[e] += w * vj[e];
  }
}

}  // namespace

Tensor flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, FlashBlockKernel kernel,
                       int64_t* fallback_rows) {
  const int64_t batch = q.dim(0), tq = q.dim(1), c = q.dim(2), tk = k.dim(1), d = c / heads;
  if (tk == 0) throw Error("attention over no keys: k " + shape_string(k.shape()));
  if (d > kFlashMaxHeadDim || c % heads != 0 || k.dim(2) != c || v.shape() != k.shape())
    throw Error("flash attention takes heads of up to " + std::to_string(kFlashMaxHeadDim) + " values; got q " +
                shape_string(q.shape()) + ", k " + shape_string(k.shape()) + ", v " + shape_string(v.shape()) +
                " in " + std::to_string(heads) + " heads");
  const int64_t tq16 = round_up(tq, 16), tk32 = round_up(tk, 32), d16 = round_up(d, 16), d32 = round_up(d, 32);
  const int64_t head_count = batch * heads;
  const float scale = 1.0f / std::sqrt(float(d));

  Bf16Buffer queries(head_count * tq16 * d32), keys(head_count * tk32 * d32), values(head_count * tk32 * d16);
  Tensor bounds({head_count * tq16});
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t bh = b * heads + h;
      // Zero first: the padding past tq, tk and d must be.
      uint16_t* qp = queries.data() + bh * tq16 * d32;
      uint16_t* kp = keys.data() + bh * tk32 * d32;
      uint16_t* vp = values.data() + bh * tk32 * d16;
      std::fill(qp, qp + tq16 * d32, uint16_t(0));
      std::fill(kp, kp + tk32 * d32, uint16_t(0));
      std::fill(vp, vp + tk32 * d16, uint16_t(0));
      for (int64_t i = 0; i < tq; ++i) {
        const float* row = q.data() + (b * tq + i) * c + h * d;
#pragma omp simd
        for (int64_t e = 0; e < d; ++e) qp[i * d32 + e] = float_to_bf16(row[e]);
      }
      for (int64_t j = 0; j < tk; ++j) {
        const float *key = k.data() + (b * tk + j) * c + h * d, *value = v.data() + (b * tk + j) * c + h * d;
        uint16_t* key_pairs = kp + (j / 16) * (d32 / 2) * 32 + (j % 16) * 2;  // + (e / 2) * 32 + e % 2
        uint16_t* value_pairs = vp + (j / 2) * d16 * 2 + j % 2;              // + e * 2
        for (int64_t e = 0; e < d; ++e) {
          key_pairs[(e / 2) * 32 + e % 2] = float_to_bf16(key[e]);
          value_pairs[e * 2] = float_to_bf16(value[e]);
        }
      }
      const KeySpread spread = key_spread(k, b, h, heads);
      for (int64_t i = 0; i < tq16; ++i)
        bounds.data()[bh * tq16 + i] = i < tq ? float(score_bound(q.data() + (b * tq + i) * c + h * d, spread, scale)) : 0;
    }

  Tensor out({batch, tq, c});
  int64_t fallbacks = 0;
#pragma omp parallel reduction(+ : fallbacks)
  {
    std::vector<float> block_out(size_t(16 * d16));
    float row_sums[16];
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t r0 = 0; r0 < tq; r0 += 16) {
          const int64_t bh = b * heads + h;
          kernel({queries.data() + (bh * tq16 + r0) * d32, keys.data() + bh * tk32 * d32,
                  values.data() + bh * tk32 * d16, bounds.data() + bh * tq16 + r0, scale, tk, d32, d16,
                  block_out.data(), row_sums});
          for (int64_t r = 0; r < 16 && r0 + r < tq; ++r) {
            float* dst = out.data() + (b * tq + r0 + r) * c + h * d;
            if (!(row_sums[r] >= kMinRowSum)) {
              exact_row(q, k, v, b, r0 + r, h, d, scale, dst);
              ++fallbacks;
              continue;
            }
            const float inv_sum = 1.0f / row_sums[r];
            for (int64_t e = 0; e < d; ++e) dst[e] = block_out[size_t(r * d16 + e)] * inv_sum;
          }
        }
  }
  if (fallback_rows) *fallback_rows += fallbacks;
  return out;
}

}  // namespace diffuse
