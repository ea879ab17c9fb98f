#include "core/attention.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <map>
#include <vector>

#include "core/amx.h"
#include "core/dnnl_context.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/first_error.h"
#include "core/flash_attention.h"
#include "core/op_profile.h"
#include "core/packed_operand.h"
#include "core/score_bound.h"
#include "core/strided_matmul.h"

namespace diffuse {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Scores per block of queries: 256K fp32 (1 MiB), which a core's L2 holds from the first product
// to the second. Smaller blocks lose more in the products (at 64K, 4096 tokens took 450 ms
// instead of 375 here) than they gain in cache.
constexpr int64_t kBlockScores = int64_t(1) << 18;
// But at least this many queries: thinner products fall off the matmul rate, which costs more than
// the larger block's cache misses (the VAE's 16384-token attention at 1024x1024: 16 rows per
// block 6.4 s, 64 rows 4.5 s).
constexpr int64_t kMinBlockRows = 64;

// Softmax over each row of a [rows, cols] block, in place, with oneDNN's vectorised kernel (a
// scalar exp here was a third of a UNet step). With `causal`, row r (query first_row + r) only
// sees keys 0..first_row+r: the others are set to -inf first, which the softmax turns into 0.
void softmax_rows(float* s, int64_t rows, int64_t cols, bool causal, int64_t first_row) {
  if (causal)
    for (int64_t r = 0; r < rows; ++r)
      std::fill(s + r * cols + std::min(cols, first_row + r + 1), s + (r + 1) * cols, -INFINITY);
  thread_local std::map<std::array<int64_t, 3>, dnnl::softmax_forward> cache;
  const dnnl::memory::desc md({rows, cols}, dt::f32, tag::ab);
  const std::array<int64_t, 3> key{rows, cols, threading_context()};
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, dnnl::softmax_forward({{dnnl::prop_kind::forward_inference, md, 1}, caller_scratchpad(),
                                                   dnnl_engine()}))
             .first;
  dnnl::memory data(md, dnnl_engine(), s);
  execute(it->second, {{DNNL_ARG_SRC, data}, {DNNL_ARG_DST, data}});
}

// [B, T, heads * D] fp32 -> [B, heads, T, width] in the operand type of `precision`, so every
// head's matrices are dense: oneDNN's AMX/AVX-512 matmuls take dense operands, and fall back to
// far slower kernels on the strided per-head views of the interleaved layout. Columns past D are
// for the fused softmax's extra terms, zero until set.
struct HeadMajor {
  Tensor storage;  // pooled: a UNet pass splits the same sizes every step
  dt type;
  bool emulated_bf16;  // fp32 storage holding bf16-rounded values
  int64_t heads, tokens, width;

  size_t element_size() const { return type == dt::bf16 ? 2 : 4; }
  size_t offset(int64_t b, int64_t h, int64_t t) const { return size_t(((b * heads + h) * tokens + t) * width); }
  const void* row(int64_t b, int64_t h, int64_t t) const {
    return reinterpret_cast<const std::byte*>(storage.data()) + offset(b, h, t) * element_size();
  }
  void set(size_t index, float value) {
    if (type == dt::bf16)
      reinterpret_cast<uint16_t*>(storage.data())[index] = float_to_bf16(value);
    else
      storage.data()[index] = emulated_bf16 ? bf16_to_float(float_to_bf16(value)) : value;
  }
};

HeadMajor split_heads(const Tensor& x, int64_t heads, Precision precision, int64_t width) {
  const int64_t batch = x.dim(0), tokens = x.dim(1), c = x.dim(2), d = c / heads;
  const dt type = operand_type(precision);
  HeadMajor out{{}, type, precision == Precision::Bf16 && type == dt::f32, heads, tokens, width};
  const int64_t elements = batch * heads * tokens * width;
  out.storage = Tensor({type == dt::bf16 ? (elements + 1) / 2 : elements});
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h) {
        const float* src = x.data() + (b * tokens + t) * c + h * d;
        const size_t dst = out.offset(b, h, t);
        if (type == dt::bf16) {
          uint16_t* row = reinterpret_cast<uint16_t*>(out.storage.data()) + dst;
#pragma omp simd
          for (int64_t e = 0; e < d; ++e) row[e] = float_to_bf16(src[e]);
          std::fill(row + d, row + width, uint16_t(0));
        } else {
          float* row = out.storage.data() + dst;
          if (out.emulated_bf16) {
#pragma omp simd
            for (int64_t e = 0; e < d; ++e) row[e] = bf16_to_float(float_to_bf16(src[e]));
          } else {
            std::copy(src, src + d, row);
          }
          std::fill(row + d, row + width, 0.0f);
        }
      }
  return out;
}

// The shift m_i (score_bound.h) rides in the products as an extra column: q' = [q, -m/scale],
// k' = [k, 1], so scale q'.k' = s - m; and v' = [v, 1] makes the second product's extra column the
// row's sum of exp(s - m).
void add_softmax_columns(HeadMajor& qh, HeadMajor& kh, HeadMajor& vh, const Tensor& q, const Tensor& k, float scale) {
  const int64_t batch = q.dim(0), heads = qh.heads, tq = q.dim(1), tk = k.dim(1), c = q.dim(2), d = c / heads;
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t j = 0; j < tk; ++j) {
        kh.set(kh.offset(b, h, j) + size_t(d), 1.0f);
        vh.set(vh.offset(b, h, j) + size_t(d), 1.0f);
      }
      const KeySpread spread = key_spread(k, b, h, heads);
      for (int64_t i = 0; i < tq; ++i) {
        const double bound = score_bound(q.data() + (b * tq + i) * c + h * d, spread, scale);
        qh.set(qh.offset(b, h, i) + size_t(d), float(-bound / scale));
      }
    }
}

SoftmaxFusion fusion_mode = SoftmaxFusion::Auto;
AttentionKernel kernel_choice = AttentionKernel::Auto;
std::atomic<int64_t> fallback_blocks{0};

// A row whose largest exp(s - m) is below this sits more than ~69 below its bound: its smaller
// terms would reach fp32's subnormals and lose digits, so its block takes the exact softmax.
constexpr float kMinRowSum = 1e-30f;

}  // namespace

void set_softmax_fusion(SoftmaxFusion mode) { fusion_mode = mode; }

int64_t softmax_fallback_blocks() { return fallback_blocks.load(); }

void set_attention_kernel(AttentionKernel kernel) {
  if (kernel == AttentionKernel::Amx && !amx_usable())
    throw Error("the AMX attention kernel needs a CPU with AMX-BF16 and AVX512-BF16, and a kernel that grants "
                "this process the tile registers (Linux 5.16+): this one has not");
  kernel_choice = kernel;
}

bool amx_attention_chosen(Precision precision, int64_t head_dim) {
  return kernel_choice == AttentionKernel::Amx && precision == Precision::Bf16 && head_dim <= kFlashMaxHeadDim;
}

bool softmax_fused(Precision precision) {
  if (fusion_mode != SoftmaxFusion::Auto) return fusion_mode == SoftmaxFusion::Always;
  static const auto brgemm = [](dt type) {
    const StridedMatmul first{64, 4096, 42, 42, 42, 4096, true, 0.125f, type, true, type};
    return std::string_view(first.preferred_primitive_desc().impl_info_str()).find("brg") != std::string_view::npos;
  };
  static const bool fp32 = brgemm(dt::f32), bf16 = operand_type(Precision::Bf16) == dt::bf16 && brgemm(dt::bf16);
  return precision == Precision::Bf16 ? bf16 : fp32;
}

// Each thread takes whole (batch, head, query block) tasks and runs both products of its block
// alone (oneDNN runs single-threaded inside a parallel region): the block's scores never leave
// its core. Splitting every operation across the threads instead sent each score from one
// core's cache to the other's through memory.
//
// Without a causal mask the softmax is fused into the products (see add_softmax_columns): the
// first writes exp(s - m) straight from its registers, in the operand type of the second, and
// the second sums the rows as it multiplies; the normalisation divides the block's small output.
// That saves the softmax's passes over the scores and, in bf16, their conversion. A block with a
// row too far below its bound, and every causal one, runs the exact scores -> softmax -> product.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal, Precision precision) {
  const int64_t batch = q.dim(0), tq = q.dim(1), c = q.dim(2), tk = k.dim(1);
  if (k.dim(2) != c || v.dim(2) != c || v.dim(1) != tk || c % heads != 0)
    throw Error("attention shapes do not match: q " + shape_string(q.shape()) + ", k " + shape_string(k.shape()) +
                ", v " + shape_string(v.shape()));
  const OpTimer timer(OpKind::Attention, 2.0 * double(batch * tq * tk) * c);  // q k^T and p v, all heads
  const int64_t d = c / heads;
  if (!causal && amx_attention_chosen(precision, d)) {
    int64_t fallback_rows = 0;
    Tensor out = flash_attention(q, k, v, heads, amx_flash_block, &fallback_rows);
    fallback_blocks += fallback_rows;
    return out;
  }
  const float scale = 1.0f / std::sqrt(float(d));
  const bool fused = !causal && softmax_fused(precision);
  const dt type = operand_type(precision);
  // bf16 products take their inner dimension in pairs.
  const int64_t width = fused ? d + (type == dt::bf16 ? 2 : 1) : d;
  const int64_t rows =
      std::clamp<int64_t>(std::max(kBlockScores / std::max<int64_t>(tk, 1), kMinBlockRows), 1, std::max<int64_t>(tq, 1));
  const int64_t blocks = (tq + rows - 1) / rows;
  HeadMajor qh = split_heads(q, heads, precision, width), kh = split_heads(k, heads, precision, width),
            vh = split_heads(v, heads, precision, width);
  if (fused) add_softmax_columns(qh, kh, vh, q, k, scale);
  Tensor out({batch, tq, c});
  FirstError failure;
#pragma omp parallel
  {
    // Each thread's block buffers live as long as the thread, so a UNet pass allocates none after
    // the first. Pooled tensors instead measured 20% slower here (437 vs 359 ms for 4096 tokens),
    // likely their addresses aliasing in the cache with the pooled operands.
    thread_local std::vector<float> scores, head_out;
    thread_local PackedOperand first_b, second_b;  // this call's keys and values
    first_b.forget();
    second_b.forget();
    scores.resize(std::max(scores.size(), size_t(rows * tk)));
    head_out.resize(std::max(head_out.size(), size_t(rows * width)));
    Tensor p_scratch;
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t block = 0; block < blocks; ++block) {
          failure.run([&] {
            const int64_t r0 = block * rows, n = std::min(rows, tq - r0);
            const void *q_rows = qh.row(b, h, r0), *keys = kh.row(b, h, 0), *values = vh.row(b, h, 0);
            bool exact = !fused;
            if (fused) {
              const StridedMatmul first{n, tk, width, width, width, tk, true, scale, type, true, type};
              first.run(q_rows, first.packed(keys, first_b), scores.data());
              if (precision == Precision::Bf16 && type == dt::f32)  // emulated: the bf16 store's rounding
                round_to_bf16(scores.data(), scores.data(), size_t(n * tk));
              const StridedMatmul second{n, width, tk, tk, width, width, false, 1.0f, type};
              second.run(scores.data(), second.packed(values, second_b), head_out.data());
              for (int64_t i = 0; i < n; ++i) exact = exact || !(head_out[size_t(i * width + d)] >= kMinRowSum);
              if (exact) ++fallback_blocks;
            }
            if (exact) {
              const StridedMatmul first{n, tk, d, width, width, tk, true, scale, type};
              first.run(q_rows, first.packed(keys, first_b), scores.data());
              softmax_rows(scores.data(), n, tk, causal, r0);
              const Operand probabilities = compute_operand(precision, scores.data(), size_t(n * tk), p_scratch);
              const StridedMatmul second{n, d, tk, tk, width, width, false, 1.0f, type};
              second.run(probabilities.data, second.packed(values, second_b), head_out.data());
            }
            for (int64_t i = 0; i < n; ++i) {
              const float* o = head_out.data() + i * width;
              const float inv_sum = exact ? 1.0f : 1.0f / o[d];
              float* dst = out.data() + (b * tq + r0 + i) * c + h * d;
              for (int64_t e = 0; e < d; ++e) dst[e] = o[e] * inv_sum;
            }
          });
        }
  }
  failure.rethrow();
  return out;
}

}  // namespace diffuse
