#include "core/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <map>
#include <tuple>

#include "core/dnnl_context.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/op_profile.h"

namespace diffuse::ops {

// Below this many elements a loop costs less than waking the other threads (a parallel region
// is a barrier, and a busy or oversubscribed machine makes barriers slow).
constexpr int64_t kParallelMin = 1 << 15;

static void require_same(const Tensor& a, const Tensor& b, const char* op) {
  if (a.shape() != b.shape())
    throw Error(std::string(op) + ": shapes differ: " + shape_string(a.shape()) + " vs " + shape_string(b.shape()));
}

// y = x * scale + shift per channel over `rows` rows of `c` channels, then the activation, into
// y's fp32 or bf16 elements from `first`: in chunks that stay in the core's cache, so that x is
// read once and y written once.
static void normalize(const float* x, Tensor& y, int64_t first, int64_t rows, int64_t c, const float* scale,
                      const float* shift, Activation act) {
  constexpr int64_t kChunkFloats = 1 << 14;  // 64 KiB: 16K to 64K measured alike here
  const int64_t chunk_rows = std::max<int64_t>(1, kChunkFloats / c);
  const bool bf16 = y.type() == Tensor::Type::Bf16;
#pragma omp parallel if (rows * c >= kParallelMin)
  {
    std::vector<float> chunk(bf16 ? size_t(chunk_rows * c) : 0);  // bf16's values before rounding
#pragma omp for
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - r0) * c;
      float* values = bf16 ? chunk.data() : y.data() + first + r0 * c;
      for (int64_t r = 0; r < n / c; ++r)
#pragma omp simd
        for (int64_t j = 0; j < c; ++j) values[r * c + j] = x[(r0 + r) * c + j] * scale[j] + shift[j];
      if (act == Activation::SiLU) silu_(values, n);
      if (!bf16) continue;
      uint16_t* out = y.bf16_data() + first + r0 * c;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = float_to_bf16(values[i]);
    }
  }
}

Tensor group_norm(Tensor x, int groups, const std::vector<float>& gamma, const std::vector<float>& beta,
                  float eps, Activation act, Tensor::Type out) {
  const OpTimer timer(OpKind::Norm);
  const int64_t n = x.dim(0), c = x.dim(-1), hw = x.numel() / (n * c), cg = c / groups;
  Tensor y = out == Tensor::Type::Bf16 ? Tensor(x.shape(), out) : x.sole_owner() ? x : Tensor(x.shape());
  const size_t channels = static_cast<size_t>(c);
  std::vector<double> sum(channels), sq(channels);
  std::vector<float> scale(channels), shift(channels);
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x.data() + b * hw * c;
    // Per-channel sums first: the inner loop runs along contiguous NHWC channels and vectorises
    // (told so: at -O2 GCC will not check at run time that the arrays do not overlap); double
    // accumulators keep the statistics exact enough for parity with the reference.
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(sq.begin(), sq.end(), 0.0);
#pragma omp parallel if (x.numel() >= kParallelMin)
    {
      std::vector<double> s(channels, 0.0), q(channels, 0.0);
      double *sp = s.data(), *qp = q.data();
#pragma omp for nowait
      for (int64_t p = 0; p < hw; ++p)
#pragma omp simd
        for (int64_t j = 0; j < c; ++j) {
          const double v = xb[p * c + j];
          sp[j] += v;
          qp[j] += v * v;
        }
#pragma omp critical
      for (int64_t j = 0; j < c; ++j) {
        sum[size_t(j)] += s[size_t(j)];
        sq[size_t(j)] += q[size_t(j)];
      }
    }
    // Fold each group's mean and 1/std with gamma and beta into one multiply-add per element.
    for (int64_t g = 0; g < groups; ++g) {
      double gs = 0.0, gq = 0.0;
      for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
        gs += sum[size_t(j)];
        gq += sq[size_t(j)];
      }
      const double count = double(hw * cg), mean = gs / count;
      const double inv = 1.0 / std::sqrt(std::max(0.0, gq / count - mean * mean) + eps);
      for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
        scale[size_t(j)] = float(inv * gamma[size_t(j)]);
        shift[size_t(j)] = float(beta[size_t(j)] - mean * inv * gamma[size_t(j)]);
      }
    }
    normalize(xb, y, b * hw * c, hw, c, scale.data(), shift.data(), act);
  }
  return y;
}

Tensor layer_norm(const Tensor& x, const std::vector<float>& gamma, const std::vector<float>& beta, float eps,
                  Tensor::Type out) {
  const OpTimer timer(OpKind::Norm);
  const int64_t c = x.dim(-1), rows = x.numel() / c;
  Tensor y(x.shape(), out);
#pragma omp parallel if (x.numel() >= kParallelMin)
  {
    std::vector<float> row(static_cast<size_t>(c));  // a bf16 output's row before rounding
#pragma omp for
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * c;
      float* yr = out == Tensor::Type::F32 ? y.data() + r * c : row.data();
      double sum = 0.0, sq = 0.0;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < c; ++j) sum += xr[j];
      const double mean = sum / double(c);
#pragma omp simd reduction(+ : sq)
      for (int64_t j = 0; j < c; ++j) sq += (xr[j] - mean) * (xr[j] - mean);
      const float inv = float(1.0 / std::sqrt(sq / double(c) + eps)), m = float(mean);
      const float *g = gamma.data(), *bias = beta.data();
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - m) * inv * g[j] + bias[j];
      if (out == Tensor::Type::Bf16) {  // inline: to_bf16's parallel region per row would cost more than the row
        uint16_t* y16 = y.bf16_data() + r * c;
#pragma omp simd
        for (int64_t j = 0; j < c; ++j) y16[j] = float_to_bf16(yr[j]);
      }
    }
  }
  return y;
}

// Activations through oneDNN's eltwise kernels: vectorised exp/erf, where a scalar libm loop was
// seconds per VAE decode. The tensor is treated as one flat vector.
static void eltwise_(float* x, int64_t n, dnnl::algorithm algorithm, float alpha) {
  const OpTimer timer(OpKind::Elementwise);
  thread_local std::map<std::tuple<int64_t, dnnl::algorithm, float>, dnnl::eltwise_forward> cache;
  const dnnl::memory::desc md({n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
  const auto key = std::make_tuple(n, algorithm, alpha);
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, dnnl::eltwise_forward({{dnnl::prop_kind::forward_inference, algorithm, md, alpha, 0.0f},
                                                   caller_scratchpad(), dnnl_engine()}))
             .first;
  dnnl::memory data(md, dnnl_engine(), x);
  execute(it->second, {{DNNL_ARG_SRC, data}, {DNNL_ARG_DST, data}});
}

void silu_(float* x, int64_t n) { eltwise_(x, n, dnnl::algorithm::eltwise_swish, 1.0f); }
void silu_(Tensor& x) { silu_(x.data(), x.numel()); }
void relu_(Tensor& x) { eltwise_(x.data(), x.numel(), dnnl::algorithm::eltwise_relu, 0.0f); }
void gelu_(Tensor& x) { eltwise_(x.data(), x.numel(), dnnl::algorithm::eltwise_gelu_erf, 0.0f); }
// x * sigmoid(1.702 x)
void quick_gelu_(Tensor& x) { eltwise_(x.data(), x.numel(), dnnl::algorithm::eltwise_swish, 1.702f); }
void scale_(Tensor& x, float s) { eltwise_(x.data(), x.numel(), dnnl::algorithm::eltwise_linear, s); }

void add_(Tensor& x, const Tensor& y) {
  const OpTimer timer(OpKind::Elementwise);
  require_same(x, y, "add");
  float* p = x.data();
  const float* q = y.data();
  const int64_t n = x.numel();
#pragma omp parallel for simd if (x.numel() >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) p[i] += q[i];
}

Tensor mul(Tensor a, const Tensor& b, Tensor::Type out) {
  const OpTimer timer(OpKind::Elementwise);
  require_same(a, b, "mul");
  const float *p = a.data(), *q = b.data();
  const int64_t n = a.numel();
  if (out == Tensor::Type::Bf16) {
    Tensor y(a.shape(), out);
    uint16_t* r = y.bf16_data();
#pragma omp parallel for simd if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) r[i] = float_to_bf16(p[i] * q[i]);
    return y;
  }
  Tensor y = a.sole_owner() ? a : Tensor(a.shape());
  float* r = y.data();
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) r[i] = p[i] * q[i];
  return y;
}

void add_channels_(Tensor& x, const Tensor& per_nc) {
  const OpTimer timer(OpKind::Elementwise);
  const int64_t n = x.dim(0), c = x.dim(-1), hw = x.numel() / (n * c);
  if (per_nc.numel() != n * c)
    throw Error("add_channels: " + shape_string(per_nc.shape()) + " does not match " + shape_string(x.shape()));
  float* values = x.data();
  const float* add = per_nc.data();
#pragma omp parallel for collapse(2) if (x.numel() >= kParallelMin)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < hw; ++p)
#pragma omp simd
      for (int64_t j = 0; j < c; ++j) values[(b * hw + p) * c + j] += add[b * c + j];
}

Tensor nchw_to_nhwc(const Tensor& x) {
  const OpTimer timer(OpKind::Layout);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor y({n, h, w, c});
#pragma omp parallel for collapse(2) if (x.numel() >= kParallelMin)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < h * w; ++i)
      for (int64_t j = 0; j < c; ++j) y.data()[(b * h * w + i) * c + j] = x.data()[(b * c + j) * h * w + i];
  return y;
}

Tensor nhwc_to_nchw(const Tensor& x) {
  const OpTimer timer(OpKind::Layout);
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor y({n, c, h, w});
#pragma omp parallel for collapse(2) if (x.numel() >= kParallelMin)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t i = 0; i < h * w; ++i) y.data()[(b * c + j) * h * w + i] = x.data()[(b * h * w + i) * c + j];
  return y;
}

Tensor upsample_nearest2x(const Tensor& x, Tensor::Type out) {
  return upsample_nearest2x_rows(x, 0, 2 * x.dim(1), out);
}

Tensor upsample_nearest2x_rows(const Tensor& x, int64_t first, int64_t last, Tensor::Type out) {
  const OpTimer timer(OpKind::Layout);
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3), rows = last - first;
  Tensor y({n, rows, 2 * w, c}, out);
#pragma omp parallel for collapse(2) if (y.numel() >= kParallelMin)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < 2 * w; ++j) {
        const float* pixel = x.data() + ((b * h + (first + i) / 2) * w + j / 2) * c;
        const int64_t to = ((b * rows + i) * 2 * w + j) * c;
        if (out == Tensor::Type::F32) {
          std::memcpy(y.data() + to, pixel, size_t(c) * sizeof(float));
        } else {
          uint16_t* dst = y.bf16_data() + to;
#pragma omp simd
          for (int64_t k = 0; k < c; ++k) dst[k] = float_to_bf16(pixel[k]);
        }
      }
  return y;
}

Tensor concat_last(const Tensor& a, const Tensor& b) {
  const OpTimer timer(OpKind::Layout);
  const int64_t ca = a.dim(-1), cb = b.dim(-1), rows = a.numel() / ca;
  if (b.numel() / cb != rows) throw Error("concat: " + shape_string(a.shape()) + " and " + shape_string(b.shape()));
  Shape shape = a.shape();
  shape.back() = ca + cb;
  Tensor y(shape);
#pragma omp parallel for if (y.numel() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(y.data() + r * (ca + cb), a.data() + r * ca, size_t(ca) * sizeof(float));
    std::memcpy(y.data() + r * (ca + cb) + ca, b.data() + r * cb, size_t(cb) * sizeof(float));
  }
  return y;
}

Tensor concat_batch(const Tensor& a, const Tensor& b) {
  const OpTimer timer(OpKind::Layout);
  Shape shape = a.shape();
  shape[0] += b.dim(0);
  Tensor y(shape);
  std::memcpy(y.data(), a.data(), size_t(a.numel()) * sizeof(float));
  std::memcpy(y.data() + a.numel(), b.data(), size_t(b.numel()) * sizeof(float));
  return y;
}

}  // namespace diffuse::ops
