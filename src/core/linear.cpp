#include "core/linear.h"

#include <algorithm>
#include <cmath>

#include "core/dnnl_context.h"
#include "core/dtype.h"
#include "core/error.h"

namespace diffuse {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

LinearKernel::LinearKernel(std::vector<float> weight, std::vector<float> bias, int out_features, int in_features,
                           Activation activation, Precision precision)
    : weights_(std::move(weight), {{in_features, out_features}, dt::f32, tag::ba}, precision), bias_(std::move(bias)),
      out_(out_features), in_(in_features), activation_(activation) {}

const LinearKernel::Plan& LinearKernel::plan_for(int64_t rows) const {
  if (auto it = plans_.find(rows); it != plans_.end()) return *it->second;
  const dt operands = operand_type(precision());
  dnnl::memory::desc src_md({rows, in_}, operands, tag::ab);
  dnnl::memory::desc wei_md({in_, out_}, operands, tag::any);
  dnnl::memory::desc dst_md({rows, out_}, dt::f32, tag::ab);
  dnnl::primitive_attr attr;
  if (activation_ == Activation::GeluErf) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::desc desc = bias_.empty()
                                      ? dnnl::matmul::desc(src_md, wei_md, dst_md)
                                      : dnnl::matmul::desc(src_md, wei_md, dnnl::memory::desc({1, out_}, dt::f32, tag::ab), dst_md);
  dnnl::matmul::primitive_desc pd(desc, attr, dnnl_engine());
  auto plan = std::make_shared<Plan>(Plan{dnnl::matmul(pd), pd.weights_desc()});
  return *plans_.emplace(rows, std::move(plan)).first->second;
}

Tensor LinearKernel::forward(const Tensor& x) const {
  if (x.rank() < 1 || x.dim(-1) != in_)
    throw Error("linear layer expects " + std::to_string(in_) + " input features, got " + shape_string(x.shape()));
  const int64_t rows = x.numel() / in_;
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  Tensor y(out_shape);
  const Plan& plan = plan_for(rows);
  auto& eng = dnnl_engine();
  Tensor scratch;
  const Operand in = compute_operand(precision(), x.data(), size_t(x.numel()), scratch);
  dnnl::memory src({{rows, in_}, in.type, tag::ab}, eng, const_cast<void*>(in.data));
  dnnl::memory dst({{rows, out_}, dt::f32, tag::ab}, eng, y.data());
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_.get(plan.weights_layout)}, {DNNL_ARG_DST, dst}};
  if (!bias_.empty())
    args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, out_}, dt::f32, tag::ab}, eng, const_cast<float*>(bias_.data())));
  plan.prim.execute(dnnl_stream(), args);
  dnnl_stream().wait();
  return y;
}

namespace {

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
    thread_local std::map<std::pair<std::array<int64_t, 8>, float>, dnnl::matmul> cache;
    const auto key = std::make_pair(
        std::array<int64_t, 8>{m, n, k, lda, ldb, ldc, int64_t(b_transposed), int64_t(operands)}, scale);
    auto it = cache.find(key);
    if (it == cache.end()) {
      dnnl::primitive_attr attr;
      if (scale != 1.0f) attr.set_output_scales(0, {scale});
      it = cache.emplace(key, dnnl::matmul({{a_md(), b_md(), c_md()}, attr, dnnl_engine()})).first;
    }
    auto& eng = dnnl_engine();
    it->second.execute(dnnl_stream(), {{DNNL_ARG_SRC, dnnl::memory(a_md(), eng, const_cast<void*>(a))},
                                       {DNNL_ARG_WEIGHTS, dnnl::memory(b_md(), eng, const_cast<void*>(b))},
                                       {DNNL_ARG_DST, dnnl::memory(c_md(), eng, c)}});
    dnnl_stream().wait();
  }
};

// Softmax over each row of a [rows, cols] block, in place, with oneDNN's vectorised kernel (a
// scalar exp here was a third of a UNet step). With `causal`, row r (query first_row + r) only
// sees keys 0..first_row+r: the others are set to -inf first, which the softmax turns into 0.
void softmax_rows(float* s, int64_t rows, int64_t cols, bool causal, int64_t first_row) {
  if (causal)
    for (int64_t r = 0; r < rows; ++r)
      std::fill(s + r * cols + std::min(cols, first_row + r + 1), s + (r + 1) * cols, -INFINITY);
  thread_local std::map<std::array<int64_t, 2>, dnnl::softmax_forward> cache;
  const dnnl::memory::desc md({rows, cols}, dt::f32, tag::ab);
  auto it = cache.find({rows, cols});
  if (it == cache.end())
    it = cache.emplace(std::array<int64_t, 2>{rows, cols},
                       dnnl::softmax_forward({{dnnl::prop_kind::forward_inference, md, 1}, dnnl_engine()}))
             .first;
  dnnl::memory data(md, dnnl_engine(), s);
  it->second.execute(dnnl_stream(), {{DNNL_ARG_SRC, data}, {DNNL_ARG_DST, data}});
  dnnl_stream().wait();
}

}  // namespace

namespace {

// [B, T, heads * D] fp32 -> [B, heads, T, D] in the operand type of `precision`, so every head's
// matrices are dense: oneDNN's AMX/AVX-512 matmuls take dense operands, and fall back to far
// slower kernels on the strided per-head views of the interleaved layout.
struct HeadMajor {
  std::vector<std::byte> bytes;
  dt type;
  int64_t heads, tokens, head_dim;

  size_t element_size() const { return type == dt::bf16 ? 2 : 4; }
  const void* head(int64_t b, int64_t h) const {
    return bytes.data() + size_t((b * heads + h) * tokens * head_dim) * element_size();
  }
};

HeadMajor split_heads(const Tensor& x, int64_t heads, Precision precision) {
  const int64_t batch = x.dim(0), tokens = x.dim(1), c = x.dim(2), d = c / heads;
  HeadMajor out{{}, operand_type(precision), heads, tokens, d};
  out.bytes.resize(size_t(x.numel()) * out.element_size());
  auto* bf16 = reinterpret_cast<uint16_t*>(out.bytes.data());
  auto* f32 = reinterpret_cast<float*>(out.bytes.data());
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

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal, Precision precision) {
  const int64_t batch = q.dim(0), tq = q.dim(1), c = q.dim(2), tk = k.dim(1);
  if (k.dim(2) != c || v.dim(2) != c || v.dim(1) != tk || c % heads != 0)
    throw Error("attention shapes do not match: q " + shape_string(q.shape()) + ", k " + shape_string(k.shape()) +
                ", v " + shape_string(v.shape()));
  const int64_t d = c / heads;
  const float scale = 1.0f / std::sqrt(float(d));
  // 1M scores (4 MiB) per block: at 512x512 the 4096x4096 matrix of a head is never whole.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(tq, (1 << 20) / std::max<int64_t>(tk, 1)));
  std::vector<float> scores(size_t(chunk * tk)), head_out(size_t(chunk * d));
  Tensor p_scratch;
  const HeadMajor qh = split_heads(q, heads, precision), kh = split_heads(k, heads, precision),
                  vh = split_heads(v, heads, precision);
  Tensor out({batch, tq, c});
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t r0 = 0; r0 < tq; r0 += chunk) {
        const int64_t rows = std::min(chunk, tq - r0);
        const auto* q_rows = static_cast<const std::byte*>(qh.head(b, h)) + size_t(r0 * d) * qh.element_size();
        StridedMatmul{rows, tk, d, d, d, tk, true, scale, qh.type}.run(q_rows, kh.head(b, h), scores.data());
        softmax_rows(scores.data(), rows, tk, causal, r0);
        const Operand probabilities = compute_operand(precision, scores.data(), size_t(rows * tk), p_scratch);
        StridedMatmul{rows, d, tk, tk, d, d, false, 1.0f, vh.type}.run(probabilities.data, vh.head(b, h),
                                                                        head_out.data());
        for (int64_t i = 0; i < rows; ++i)
          std::copy_n(head_out.data() + i * d, d, out.data() + (b * tq + r0 + i) * c + h * d);
      }
  return out;
}

}  // namespace diffuse
