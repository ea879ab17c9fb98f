#include "core/linear.h"

#include <algorithm>
#include <cmath>

#include "core/dnnl_context.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/op_profile.h"

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
  dnnl::primitive_attr attr = caller_scratchpad();
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
  const OpTimer timer(OpKind::Linear, double(rows) * in_ * out_);
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
  execute(plan.prim, std::move(args));
  return y;
}

}  // namespace diffuse
