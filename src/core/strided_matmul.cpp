#include "core/strided_matmul.h"

#include <array>
#include <map>
#include <string_view>

#include "core/dnnl_context.h"
#include "core/matmul_as_convolution.h"

namespace diffuse {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;

dnnl::memory::desc StridedMatmul::a_md() const { return dnnl::memory::desc({m, k}, operands, dims{lda, 1}); }

dnnl::memory::desc StridedMatmul::b_md() const {
  return b_transposed ? dnnl::memory::desc({k, n}, operands, dims{1, ldb})
                      : dnnl::memory::desc({k, n}, operands, dims{ldb, 1});
}

dnnl::memory::desc StridedMatmul::c_md() const { return dnnl::memory::desc({m, n}, dst, dims{ldc, 1}); }

dnnl::matmul::primitive_desc StridedMatmul::primitive_desc(const dnnl::memory::desc& b) const {
  dnnl::primitive_attr attr = caller_scratchpad();
  if (scale != 1.0f) attr.set_output_scales(0, {scale});
  if (exp) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_exp, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md(), b, c_md()), attr, dnnl_engine());
}

dnnl::matmul::primitive_desc StridedMatmul::preferred_primitive_desc() const {
  const dnnl::matmul::primitive_desc pd = primitive_desc(dnnl::memory::desc({k, n}, operands, tag::any));
  const dnnl::memory::desc layout = pd.weights_desc();
  const bool plain = layout == dnnl::memory::desc({k, n}, operands, tag::ab) ||
                     layout == dnnl::memory::desc({k, n}, operands, tag::ba);
  return plain ? primitive_desc(b_md()) : pd;
}

// The product as a 1x1 convolution over A's rows as pixels (matmul_as_convolution.h), where A and
// C are dense; the scale and exp ride as eltwise post-ops. On AVX2 (2 threads, fp32, ms, matmul ->
// convolution): self-attention over 4096 tokens, 8 heads of 40, exact softmax, 359-474 -> 334-397;
// the VAE's one head of 512 over 4096 pixels 262-272 -> 196-204.
std::optional<dnnl::convolution_forward::primitive_desc> StridedMatmul::convolution(const char* matmul_kernel) const {
  if (!convolution_allowed || lda != k || ldc != n) return std::nullopt;
  dnnl::primitive_attr attr = caller_scratchpad();
  dnnl::post_ops ops;
  if (scale != 1.0f) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, scale, 0.0f);
  if (exp) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_exp, 0.0f, 0.0f);
  attr.set_post_ops(ops);
  return product_as_convolution(matmul_kernel, m, k, n, operands, dst, false, attr);
}

// B as the convolution's [n, k, 1, 1] weights: the same bytes as b_md().
dnnl::memory::desc StridedMatmul::b_weights_md() const {
  return dnnl::memory::desc({n, k, 1, 1}, operands, b_transposed ? dims{ldb, 1, 1, 1} : dims{1, ldb, 1, 1});
}

const StridedMatmul::Plan& StridedMatmul::plan() const {
  thread_local std::map<std::pair<std::array<int64_t, 12>, float>, Plan> cache;
  const auto key = std::make_pair(std::array<int64_t, 12>{m, n, k, lda, ldb, ldc, int64_t(b_transposed),
                                                          int64_t(operands), int64_t(exp), int64_t(dst),
                                                          threading_context(),
                                                          convolution_allowed ? int64_t(matmul_as_convolution()) : -1},
                                  scale);
  auto it = cache.find(key);
  if (it == cache.end()) {
    const dnnl::matmul::primitive_desc pd = preferred_primitive_desc();
    const auto conv = convolution(pd.impl_info_str());
    it = cache
             .emplace(key, conv ? Plan{dnnl::convolution_forward(*conv), conv->weights_desc(), true}
                                : Plan{dnnl::matmul(pd), pd.weights_desc(), false})
             .first;
  }
  return it->second;
}

const dnnl::memory& StridedMatmul::packed(const void* b, PackedOperand& cache) const {
  const Plan& p = plan();
  return cache.get(b, p.convolution ? b_weights_md() : b_md(), p.b_layout);
}

void StridedMatmul::run(const void* a, const dnnl::memory& packed_b, void* c) const {
  auto& eng = dnnl_engine();
  const Plan& p = plan();
  const dnnl::memory::desc a_desc = p.convolution ? rows_as_pixels(m, k, operands) : a_md();
  const dnnl::memory::desc c_desc = p.convolution ? rows_as_pixels(m, n, dst) : c_md();
  execute(p.prim, {{DNNL_ARG_SRC, dnnl::memory(a_desc, eng, const_cast<void*>(a))},
                   {DNNL_ARG_WEIGHTS, packed_b},
                   {DNNL_ARG_DST, dnnl::memory(c_desc, eng, c)}});
}

}  // namespace diffuse
