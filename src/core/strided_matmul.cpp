#include "core/strided_matmul.h"

#include <array>
#include <map>

#include "core/dnnl_context.h"

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

const StridedMatmul::Plan& StridedMatmul::plan() const {
  thread_local std::map<std::pair<std::array<int64_t, 11>, float>, Plan> cache;
  const auto key = std::make_pair(std::array<int64_t, 11>{m, n, k, lda, ldb, ldc, int64_t(b_transposed),
                                                          int64_t(operands), int64_t(exp), int64_t(dst),
                                                          threading_context()},
                                  scale);
  auto it = cache.find(key);
  if (it == cache.end()) {
    const dnnl::matmul::primitive_desc pd = preferred_primitive_desc();
    it = cache.emplace(key, Plan{dnnl::matmul(pd), pd.weights_desc()}).first;
  }
  return it->second;
}

const dnnl::memory& StridedMatmul::packed(const void* b, PackedOperand& cache) const {
  return cache.get(b, b_md(), plan().b_layout);
}

void StridedMatmul::run(const void* a, const dnnl::memory& packed_b, void* c) const {
  auto& eng = dnnl_engine();
  execute(plan().prim, {{DNNL_ARG_SRC, dnnl::memory(a_md(), eng, const_cast<void*>(a))},
                        {DNNL_ARG_WEIGHTS, packed_b},
                        {DNNL_ARG_DST, dnnl::memory(c_md(), eng, c)}});
}

}  // namespace diffuse
