#include "core/conv2d.h"

#include "core/dnnl_context.h"
#include "core/error.h"
#include "core/op_profile.h"
#include "core/shifted_conv.h"

namespace diffuse {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// Where oneDNN's direct kernel is jit:avx2, 3x3 convolutions on large images run as shifted
// products (shifted_conv.h): from 128x128 pixels with up to 320 channels (the fewer of in and out),
// from 256x256 with more. In the SD 1.5 VAE decode at 512x512, per layer shape, direct -> shifted:
// 128 channels at 512x512 5.0-5.8 -> 2.5-2.7 s, 256 at 256x256 3.8-5.1 -> 2.4 s, 512 -> 256 at
// 256x256 1.3-1.5 -> 1.0-1.1 s, but 512 at 128x128 4.5-5.1 -> 4.8-5.1 s; 512 at 256x256 (SDXL's VAE),
// alone, 120-127 -> 170-173 GFLOP/s. Below 64 channels the products are too thin (the VAE's
// 3-channel output).
static bool shifted_pays(int64_t pixels, int in, int out) {
  const int channels = std::min(in, out);
  return channels >= 64 && pixels >= (channels <= 320 ? 128 * 128 : 256 * 256);
}

Conv2dKernel::Conv2dKernel(std::vector<float> weight, std::vector<float> bias, int out_channels, int in_channels,
                           int kernel, int stride, Padding padding, Precision precision)
    : weights_(std::move(weight), {{out_channels, in_channels, kernel, kernel}, dt::f32, tag::oihw}, precision),
      bias_(std::move(bias)), out_(out_channels), in_(in_channels), kernel_(kernel), stride_(stride),
      padding_(padding) {
  if (bias_.empty()) bias_.assign(size_t(out_), 0.0f);
}

const Conv2dKernel::Plan& Conv2dKernel::plan_for(int64_t n, int64_t h, int64_t w, Padding rows) const {
  auto key = std::array<int64_t, 5>{n, h, w, rows.before, rows.after};
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;

  const int64_t oh = out_size(h, rows), ow = out_size(w, padding_);
  const dt operands = operand_type(precision());
  dnnl::memory::desc src_md({n, in_, h, w}, operands, tag::nhwc);
  dnnl::memory::desc dst_md({n, out_, oh, ow}, dt::f32, tag::nhwc);
  dnnl::memory::desc wei_any({out_, in_, kernel_, kernel_}, operands, tag::any);
  dnnl::memory::desc bias_md({out_}, dt::f32, tag::a);
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                       wei_any, bias_md, dst_md, {stride_, stride_},
                                       {rows.before, padding_.before}, {rows.after, padding_.after});
  dnnl::convolution_forward::primitive_desc pd(desc, caller_scratchpad(), dnnl_engine());

  auto plan = std::make_shared<Plan>();
  plan->shifted = kernel_ == 3 && stride_ == 1 && padding_.before == 1 && padding_.after == 1 &&
                  oh >= 1 && shifted_pays(h * w, in_, out_) &&
                  std::string_view(pd.impl_info_str()) == "jit:avx2";
  if (plan->shifted) {
    plan->weights_layout = dnnl::memory::desc({out_, in_, 3, 3}, operands, tag::hwio);
  } else {
    plan->prim = dnnl::convolution_forward(pd);
    plan->weights_layout = pd.weights_desc();
  }
  plan->bias = dnnl::memory(bias_md, dnnl_engine(), const_cast<float*>(bias_.data()));
  return *plans_.emplace(key, std::move(plan)).first->second;
}

Tensor Conv2dKernel::forward(const Tensor& x) const { return forward(x, padding_); }

Tensor Conv2dKernel::forward(const Tensor& x, Padding rows) const {
  if (x.rank() != 4 || x.dim(3) != in_)
    throw Error("conv2d expects NHWC input with " + std::to_string(in_) + " channels, got " + shape_string(x.shape()));
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2);
  const int64_t oh = out_size(h, rows), ow = out_size(w, padding_);
  const OpTimer timer(OpKind::Conv, double(n * oh * ow) * out_ * in_ * kernel_ * kernel_);
  const Plan& plan = plan_for(n, h, w, rows);
  if (plan.shifted)
    return shifted_conv3x3(x, rows.before, rows.after, precision(), weights_.get(plan.weights_layout), bias_.data(),
                           out_);
  Tensor y({n, oh, ow, out_});
  Tensor scratch;
  const Operand in = compute_operand(precision(), x.data(), size_t(x.numel()), scratch);
  dnnl::memory src({{n, in_, h, w}, in.type, tag::nhwc}, dnnl_engine(), const_cast<void*>(in.data));
  dnnl::memory dst({{n, out_, oh, ow}, dt::f32, tag::nhwc}, dnnl_engine(), y.data());
  execute(plan.prim, {{DNNL_ARG_SRC, src},
                      {DNNL_ARG_WEIGHTS, weights_.get(plan.weights_layout)},
                      {DNNL_ARG_BIAS, plan.bias},
                      {DNNL_ARG_DST, dst}});
  return y;
}

}  // namespace diffuse
