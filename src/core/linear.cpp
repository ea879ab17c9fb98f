#include "core/linear.h"

#include <algorithm>
#include <cmath>

#include "core/dnnl_context.h"
#include "core/error.h"

namespace diffuse {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

LinearKernel::LinearKernel(std::vector<float> weight, std::vector<float> bias, int out_features, int in_features,
                           Activation activation)
    : weight_(std::move(weight)), bias_(std::move(bias)), out_(out_features), in_(in_features), activation_(activation) {}

const dnnl::matmul& LinearKernel::plan_for(int64_t rows) const {
  if (auto it = plans_.find(rows); it != plans_.end()) return *it->second;
  dnnl::memory::desc src_md({rows, in_}, dt::f32, tag::ab);
  dnnl::memory::desc wei_md({in_, out_}, dt::f32, tag::ba);
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
  return *plans_.emplace(rows, std::make_shared<dnnl::matmul>(pd)).first->second;
}

Tensor LinearKernel::forward(const Tensor& x) const {
  if (x.rank() < 1 || x.dim(-1) != in_)
    throw Error("linear layer expects " + std::to_string(in_) + " input features, got " + shape_string(x.shape()));
  const int64_t rows = x.numel() / in_;
  Shape out_shape = x.shape();
  out_shape.back() = out_;
  Tensor y(out_shape);
  auto& eng = dnnl_engine();
  dnnl::memory src({{rows, in_}, dt::f32, tag::ab}, eng, const_cast<float*>(x.data()));
  dnnl::memory wei({{in_, out_}, dt::f32, tag::ba}, eng, const_cast<float*>(weight_.data()));
  dnnl::memory dst({{rows, out_}, dt::f32, tag::ab}, eng, y.data());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  if (!bias_.empty())
    args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, out_}, dt::f32, tag::ab}, eng, const_cast<float*>(bias_.data())));
  plan_for(rows).execute(dnnl_stream(), args);
  dnnl_stream().wait();
  return y;
}

namespace {

// A strided 2-D matmul C[m,n] = scale * A[m,k] B[k,n] with leading dimensions, cached per shape.
struct StridedMatmul {
  int64_t m, n, k, lda, ldb, ldc;
  bool b_transposed;  // B stored as [n,k] (row stride ldb)
  float scale = 1.0f;

  dnnl::memory::desc a_md() const { return dnnl::memory::desc({m, k}, dt::f32, dims{lda, 1}); }
  dnnl::memory::desc b_md() const {
    return b_transposed ? dnnl::memory::desc({k, n}, dt::f32, dims{1, ldb}) : dnnl::memory::desc({k, n}, dt::f32, dims{ldb, 1});
  }
  dnnl::memory::desc c_md() const { return dnnl::memory::desc({m, n}, dt::f32, dims{ldc, 1}); }

  void run(const float* a, const float* b, float* c) const {
    thread_local std::map<std::pair<std::array<int64_t, 7>, float>, dnnl::matmul> cache;
    const auto key = std::make_pair(std::array<int64_t, 7>{m, n, k, lda, ldb, ldc, int64_t(b_transposed)}, scale);
    auto it = cache.find(key);
    if (it == cache.end()) {
      dnnl::primitive_attr attr;
      if (scale != 1.0f) attr.set_output_scales(0, {scale});
      it = cache.emplace(key, dnnl::matmul({{a_md(), b_md(), c_md()}, attr, dnnl_engine()})).first;
    }
    auto& eng = dnnl_engine();
    it->second.execute(dnnl_stream(), {{DNNL_ARG_SRC, dnnl::memory(a_md(), eng, const_cast<float*>(a))},
                                       {DNNL_ARG_WEIGHTS, dnnl::memory(b_md(), eng, const_cast<float*>(b))},
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

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal) {
  const int64_t batch = q.dim(0), tq = q.dim(1), c = q.dim(2), tk = k.dim(1);
  if (k.dim(2) != c || v.dim(2) != c || v.dim(1) != tk || c % heads != 0)
    throw Error("attention shapes do not match: q " + shape_string(q.shape()) + ", k " + shape_string(k.shape()) +
                ", v " + shape_string(v.shape()));
  const int64_t d = c / heads;
  const float scale = 1.0f / std::sqrt(float(d));
  // 1M scores (4 MiB) per block: at 512x512 the 4096x4096 matrix of a head is never whole.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(tq, (1 << 20) / std::max<int64_t>(tk, 1)));
  std::vector<float> scores(size_t(chunk * tk));
  Tensor out({batch, tq, c});
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t r0 = 0; r0 < tq; r0 += chunk) {
        const int64_t rows = std::min(chunk, tq - r0);
        const float* qp = q.data() + (b * tq + r0) * c + h * d;
        const float* kp = k.data() + b * tk * c + h * d;
        const float* vp = v.data() + b * tk * c + h * d;
        StridedMatmul{rows, tk, d, c, c, tk, true, scale}.run(qp, kp, scores.data());
        softmax_rows(scores.data(), rows, tk, causal, r0);
        StridedMatmul{rows, d, tk, tk, c, c, false}.run(scores.data(), vp, out.data() + (b * tq + r0) * c + h * d);
      }
  return out;
}

}  // namespace diffuse
