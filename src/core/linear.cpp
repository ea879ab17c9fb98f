#include "core/linear.h"

#include <algorithm>
#include <cmath>

#include "core/dnnl_context.h"
#include "core/error.h"

namespace diffuse {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

LinearKernel::LinearKernel(std::vector<float> weight, std::vector<float> bias, int out_features, int in_features)
    : weight_(std::move(weight)), bias_(std::move(bias)), out_(out_features), in_(in_features) {}

const dnnl::matmul& LinearKernel::plan_for(int64_t rows) const {
  if (auto it = plans_.find(rows); it != plans_.end()) return *it->second;
  dnnl::memory::desc src_md({rows, in_}, dt::f32, tag::ab);
  dnnl::memory::desc wei_md({in_, out_}, dt::f32, tag::ba);
  dnnl::memory::desc dst_md({rows, out_}, dt::f32, tag::ab);
  dnnl::matmul::primitive_desc pd =
      bias_.empty() ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(src_md, wei_md, dst_md), dnnl_engine())
                    : dnnl::matmul::primitive_desc(
                          dnnl::matmul::desc(src_md, wei_md, dnnl::memory::desc({1, out_}, dt::f32, tag::ab), dst_md),
                          dnnl_engine());
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

// A strided 2-D matmul C[m,n] = A[m,k] B[k,n] with leading dimensions, cached per shape.
struct StridedMatmul {
  int64_t m, n, k, lda, ldb, ldc;
  bool b_transposed;  // B stored as [n,k] (row stride ldb)

  dnnl::memory::desc a_md() const { return dnnl::memory::desc({m, k}, dt::f32, dims{lda, 1}); }
  dnnl::memory::desc b_md() const {
    return b_transposed ? dnnl::memory::desc({k, n}, dt::f32, dims{1, ldb}) : dnnl::memory::desc({k, n}, dt::f32, dims{ldb, 1});
  }
  dnnl::memory::desc c_md() const { return dnnl::memory::desc({m, n}, dt::f32, dims{ldc, 1}); }

  void run(const float* a, const float* b, float* c) const {
    thread_local std::map<std::array<int64_t, 7>, dnnl::matmul> cache;
    std::array<int64_t, 7> key{m, n, k, lda, ldb, ldc, int64_t(b_transposed)};
    auto it = cache.find(key);
    if (it == cache.end())
      it = cache.emplace(key, dnnl::matmul({{a_md(), b_md(), c_md()}, dnnl_engine()})).first;
    auto& eng = dnnl_engine();
    it->second.execute(dnnl_stream(), {{DNNL_ARG_SRC, dnnl::memory(a_md(), eng, const_cast<float*>(a))},
                                       {DNNL_ARG_WEIGHTS, dnnl::memory(b_md(), eng, const_cast<float*>(b))},
                                       {DNNL_ARG_DST, dnnl::memory(c_md(), eng, c)}});
    dnnl_stream().wait();
  }
};

// Row r of the block is query first_row + r; with `causal` only keys 0..first_row+r count.
void scaled_softmax_rows(float* s, int64_t rows, int64_t cols, float scale, bool causal, int64_t first_row) {
#pragma omp parallel for if (rows * cols >= (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    float* row = s + r * cols;
    if (causal)
      for (int64_t j = first_row + r + 1; j < cols; ++j) row[j] = -INFINITY;
    float mx = -INFINITY;
    for (int64_t j = 0; j < cols; ++j) mx = std::max(mx, row[j] * scale);
    float sum = 0.0f;
    for (int64_t j = 0; j < cols; ++j) sum += row[j] = std::exp(row[j] * scale - mx);
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < cols; ++j) row[j] *= inv;
  }
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
        StridedMatmul{rows, tk, d, c, c, tk, true}.run(qp, kp, scores.data());
        scaled_softmax_rows(scores.data(), rows, tk, scale, causal, r0);
        StridedMatmul{rows, d, tk, tk, c, c, false}.run(scores.data(), vp, out.data() + (b * tq + r0) * c + h * d);
      }
  return out;
}

}  // namespace diffuse
