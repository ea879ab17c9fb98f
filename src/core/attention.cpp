#include "core/attention.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <map>
#include <vector>

#include "core/dnnl_context.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/op_profile.h"

namespace diffuse {
namespace {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;

// Scores per block of queries: 256K fp32 (1 MiB), which a core's L2 holds from the first product
// to the second. Smaller blocks lose more in the products (at 64K, 4096 tokens took 450 ms
// instead of 375 here) than they gain in cache.
constexpr int64_t kBlockScores = int64_t(1) << 18;

// oneDNN plans a primitive made inside a parallel region for one thread and one made outside
// for the whole team, and runs either where it is; so primitives are cached per context.
int64_t threading_context() { return omp_in_parallel() ? 1 : 0; }

// A strided 2-D matmul C[m,n] = scale * A[m,k] B[k,n] with leading dimensions, cached per shape.
// A and B share one data type (fp32 or bf16); C is fp32.
struct StridedMatmul {
  int64_t m, n, k, lda, ldb, ldc;
  bool b_transposed;  // B stored as [n,k] (row stride ldb)
  float scale = 1.0f;
  dt operands = dt::f32;

  dnnl::memory::desc a_md() const { return dnnl::memory::desc({m, k}, operands, dims{lda, 1}); }
  dnnl::memory::desc b_md() const {
    return b_transposed ? dnnl::memory::desc({k, n}, operands, dims{1, ldb})
                        : dnnl::memory::desc({k, n}, operands, dims{ldb, 1});
  }
  dnnl::memory::desc c_md() const { return dnnl::memory::desc({m, n}, dt::f32, dims{ldc, 1}); }

  void run(const void* a, const void* b, float* c) const {
    thread_local std::map<std::pair<std::array<int64_t, 9>, float>, dnnl::matmul> cache;
    const auto key = std::make_pair(std::array<int64_t, 9>{m, n, k, lda, ldb, ldc, int64_t(b_transposed),
                                                           int64_t(operands), threading_context()},
                                    scale);
    auto it = cache.find(key);
    if (it == cache.end()) {
      dnnl::primitive_attr attr = caller_scratchpad();
      if (scale != 1.0f) attr.set_output_scales(0, {scale});
      it = cache.emplace(key, dnnl::matmul({{a_md(), b_md(), c_md()}, attr, dnnl_engine()})).first;
    }
    auto& eng = dnnl_engine();
    execute(it->second, {{DNNL_ARG_SRC, dnnl::memory(a_md(), eng, const_cast<void*>(a))},
                         {DNNL_ARG_WEIGHTS, dnnl::memory(b_md(), eng, const_cast<void*>(b))},
                         {DNNL_ARG_DST, dnnl::memory(c_md(), eng, c)}});
  }
};

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


// [B, T, heads * D] fp32 -> [B, heads, T, D] in the operand type of `precision`, so every head's
// matrices are dense: oneDNN's AMX/AVX-512 matmuls take dense operands, and fall back to far
// slower kernels on the strided per-head views of the interleaved layout.
struct HeadMajor {
  Tensor storage;  // pooled: a UNet pass splits the same sizes every step
  dt type;
  int64_t heads, tokens, head_dim;

  size_t element_size() const { return type == dt::bf16 ? 2 : 4; }
  const void* head(int64_t b, int64_t h) const {
    return reinterpret_cast<const std::byte*>(storage.data()) + size_t((b * heads + h) * tokens * head_dim) * element_size();
  }
};

HeadMajor split_heads(const Tensor& x, int64_t heads, Precision precision) {
  const int64_t batch = x.dim(0), tokens = x.dim(1), c = x.dim(2), d = c / heads;
  HeadMajor out{{}, operand_type(precision), heads, tokens, d};
  out.storage = Tensor({out.type == dt::bf16 ? (x.numel() + 1) / 2 : x.numel()});
  auto* bf16 = reinterpret_cast<uint16_t*>(out.storage.data());
  float* f32 = out.storage.data();
  const bool round = precision == Precision::Bf16;
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h) {
        const float* src = x.data() + (b * tokens + t) * c + h * d;
        const int64_t dst = ((b * heads + h) * tokens + t) * d;
        for (int64_t e = 0; e < d; ++e) {
          if (out.type == dt::bf16)
            bf16[dst + e] = float_to_bf16(src[e]);
          else
            f32[dst + e] = round ? bf16_to_float(float_to_bf16(src[e])) : src[e];
        }
      }
  return out;
}

}  // namespace

// Each thread takes whole (batch, head, query block) tasks and runs the first product, the
// softmax and the second product of its block alone (oneDNN runs single-threaded inside a
// parallel region): the block's scores never leave its core. Splitting every operation across
// the threads instead sent each score from one core's cache to the other's through memory.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal, Precision precision) {
  const OpTimer timer(OpKind::Attention);
  const int64_t batch = q.dim(0), tq = q.dim(1), c = q.dim(2), tk = k.dim(1);
  if (k.dim(2) != c || v.dim(2) != c || v.dim(1) != tk || c % heads != 0)
    throw Error("attention shapes do not match: q " + shape_string(q.shape()) + ", k " + shape_string(k.shape()) +
                ", v " + shape_string(v.shape()));
  const int64_t d = c / heads;
  const float scale = 1.0f / std::sqrt(float(d));
  const int64_t rows = std::clamp<int64_t>(kBlockScores / std::max<int64_t>(tk, 1), 1, std::max<int64_t>(tq, 1));
  const int64_t blocks = (tq + rows - 1) / rows;
  const HeadMajor qh = split_heads(q, heads, precision), kh = split_heads(k, heads, precision),
                  vh = split_heads(v, heads, precision);
  Tensor out({batch, tq, c});
  std::exception_ptr failure;
#pragma omp parallel
  {
    // Each thread's block buffers live as long as the thread, so a UNet pass allocates none after
    // the first. Pooled tensors instead measured 20% slower here (437 vs 359 ms for 4096 tokens),
    // likely their addresses aliasing in the cache with the pooled operands.
    thread_local std::vector<float> scores, head_out;
    scores.resize(std::max(scores.size(), size_t(rows * tk)));
    head_out.resize(std::max(head_out.size(), size_t(rows * d)));
    Tensor p_scratch;
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t block = 0; block < blocks; ++block) {
          try {
            const int64_t r0 = block * rows, n = std::min(rows, tq - r0);
            const auto* q_rows = static_cast<const std::byte*>(qh.head(b, h)) + size_t(r0 * d) * qh.element_size();
            StridedMatmul{n, tk, d, d, d, tk, true, scale, qh.type}.run(q_rows, kh.head(b, h), scores.data());
            softmax_rows(scores.data(), n, tk, causal, r0);
            const Operand probabilities = compute_operand(precision, scores.data(), size_t(n * tk), p_scratch);
            StridedMatmul{n, d, tk, tk, d, d, false, 1.0f, vh.type}.run(probabilities.data, vh.head(b, h),
                                                                     head_out.data());
            for (int64_t i = 0; i < n; ++i)
              std::copy_n(head_out.data() + i * d, d, out.data() + (b * tq + r0 + i) * c + h * d);
          } catch (...) {
#pragma omp critical(attention_failure)
            failure = std::current_exception();
          }
        }
  }
  if (failure) std::rethrow_exception(failure);
  return out;
}

}  // namespace diffuse
