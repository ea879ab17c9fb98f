#include "core/linear.h"

#include <algorithm>
#include <cmath>

#include "core/dnnl_context.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/matmul_as_convolution.h"
#include "core/op_profile.h"

namespace diffuse {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

LinearKernel::LinearKernel(WeightSource weight, std::vector<float> bias, int out_features, int in_features,
                           Activation activation, Precision precision)
    : weights_(std::move(weight), {{in_features, out_features}, dt::f32, tag::ba}, precision), bias_(std::move(bias)),
      out_(out_features), in_(in_features), activation_(activation) {}

// On AVX2, oneDNN's 1x1 convolution (jit_1x1:avx2) beats its matmul (gemm:jit) at every shape of
// the SD UNets and text encoders measured here (2 threads, fp32, ms, matmul -> convolution): 8192
// rows 320 -> 320 10.8 -> 9.1, 1280 -> 320 40.4 -> 35.4, 320 -> 1280 44.3 -> 42.1; 2048 rows 640 ->
// 640 11.0 -> 9.1; 512 rows 1280 -> 1280 10.5 -> 9.1; 154 rows (two prompts) 768 -> 768 1.09 ->
// 0.97, and 768 -> 3072 with GELU 8.6 -> 4.2, where gemm:jit applies the GELU in a separate pass.
const LinearKernel::Plan& LinearKernel::plan_for(int64_t rows) const {
  const auto key = std::make_pair(rows, int(matmul_as_convolution()));
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;
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
  const dnnl::memory::desc bias_md({1, out_}, dt::f32, tag::ab);
  const dnnl::matmul::desc desc = bias_.empty() ? dnnl::matmul::desc(src_md, wei_md, dst_md)
                                                : dnnl::matmul::desc(src_md, wei_md, bias_md, dst_md);
  dnnl::matmul::primitive_desc pd(desc, attr, dnnl_engine());
  auto plan = std::make_shared<Plan>();
  auto conv = product_as_convolution(pd.impl_info_str(), rows, in_, out_, operands, dt::f32, !bias_.empty(), attr);
  if (conv) {
    try {  // PackedWeights packs into a layout of the matmul's [in, out] shape
      plan->weights_layout = conv->weights_desc().reshape({out_, in_}).permute_axes({1, 0});
    } catch (const dnnl::error&) {  // a blocking of the 1x1 dimensions: keep the matmul
      conv.reset();
    }
  }
  if (conv) {
    plan->prim = dnnl::convolution_forward(*conv);
    plan->primitive_weights = conv->weights_desc();
    plan->convolution = true;
  } else {
    plan->prim = dnnl::matmul(pd);
    plan->weights_layout = plan->primitive_weights = pd.weights_desc();
  }
  return *plans_.emplace(key, std::move(plan)).first->second;
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
  const Operand in = compute_operand(precision(), x, scratch);
  const dnnl::memory::desc src_md = plan.convolution ? rows_as_pixels(rows, in_, in.type)
                                                     : dnnl::memory::desc({rows, in_}, in.type, tag::ab);
  const dnnl::memory::desc dst_md = plan.convolution ? rows_as_pixels(rows, out_, dt::f32)
                                                     : dnnl::memory::desc({rows, out_}, dt::f32, tag::ab);
  dnnl::memory src(src_md, eng, const_cast<void*>(in.data));
  dnnl::memory dst(dst_md, eng, y.data());
  const dnnl::memory packed = weights_.get(plan.weights_layout);
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, src},
      {DNNL_ARG_WEIGHTS, dnnl::memory(plan.primitive_weights, eng, packed.get_data_handle())},
      {DNNL_ARG_DST, dst}};
  if (!bias_.empty())
    args.emplace(DNNL_ARG_BIAS, dnnl::memory(plan.convolution ? dnnl::memory::desc({out_}, dt::f32, tag::a)
                                                              : dnnl::memory::desc({1, out_}, dt::f32, tag::ab),
                                             eng, const_cast<float*>(bias_.data())));
  execute(plan.prim, std::move(args));
  return y;
}

}  // namespace diffuse
