#include "core/conv2d.h"

#include "core/dnnl_context.h"
#include "core/error.h"
#include "core/op_profile.h"
#include "core/winograd_conv.h"

namespace diffuse {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

WinogradMode winograd_setting = WinogradMode::Auto;

// 3x3 convolutions run as Winograd F(4x4, 3x3) (winograd_conv.h) where oneDNN's direct kernel is
// jit:avx2, from 128 channels and 512 output pixels (all images of the batch together). Its
// filter transform is made per call, so its share shrinks as the pixels grow; here (2 threads,
// fp32, direct -> Winograd, ms): 320 channels at 64x64 batch 2 90 -> 34, 640 at 32x32 87 -> 38,
// 1280 at 16x16 92 -> 72, 1280 at 8x8 17 -> 69 (batch 1), 128 at 512x512 483 -> 188, 64 at 64x64
// 1.8 -> 1.9.
bool winograd_pays(int64_t pixels, int in, int out) { return std::min(in, out) >= 128 && pixels >= 512; }

}  // namespace

void set_winograd(WinogradMode mode) { winograd_setting = mode; }

Conv2dKernel::Conv2dKernel(WeightSource weight, std::vector<float> bias, int out_channels, int in_channels,
                           int kernel, int stride, Padding padding, Precision precision)
    : weights_(std::move(weight), {{out_channels, in_channels, kernel, kernel}, dt::f32, tag::oihw}, precision),
      bias_(std::move(bias)), out_(out_channels), in_(in_channels), kernel_(kernel), stride_(stride),
      padding_(padding) {
  if (bias_.empty()) bias_.assign(size_t(out_), 0.0f);
}

const Conv2dKernel::Plan& Conv2dKernel::plan_for(int64_t n, int64_t h, int64_t w, Padding rows) const {
  auto key = std::array<int64_t, 6>{n, h, w, rows.before, rows.after, int64_t(winograd_setting)};
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
  const bool eligible = kernel_ == 3 && stride_ == 1 && padding_.before == 1 && padding_.after == 1 && oh >= 1 &&
                        in_ % 8 == 0 && out_ % 8 == 0;
  plan->winograd = eligible && (winograd_setting == WinogradMode::Always ||
                                (winograd_setting == WinogradMode::Auto && winograd_pays(n * oh * ow, in_, out_) &&
                                 std::string_view(pd.impl_info_str()) == "jit:avx2"));
  if (plan->winograd) {  // fp32 taps: also emulated bf16's, whose direct kernel is fp32 too
    plan->weights_layout = dnnl::memory::desc({out_, in_, 3, 3}, dt::f32, tag::hwio);
  } else {
    plan->prim = dnnl::convolution_forward(pd);
    plan->weights_layout = pd.weights_desc();
  }
  plan->bias = dnnl::memory(bias_md, dnnl_engine(), const_cast<float*>(bias_.data()));
  return *plans_.emplace(key, std::move(plan)).first->second;
}

void Conv2dKernel::check_input(const Tensor& x) const {
  if (x.rank() != 4 || x.dim(3) != in_)
    throw Error("conv2d expects NHWC input with " + std::to_string(in_) + " channels, got " + shape_string(x.shape()));
}

Tensor Conv2dKernel::forward(const Tensor& x) const {
  check_input(x);
  Tensor y({x.dim(0), out_size(x.dim(1), padding_), out_size(x.dim(2), padding_), out_});
  forward(x, padding_, y);
  return y;
}

void Conv2dKernel::forward(const Tensor& x, Padding rows, Tensor& y) const {
  check_input(x);
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2);
  const int64_t oh = out_size(h, rows), ow = out_size(w, padding_);
  if (y.shape() != Shape{n, oh, ow, out_})
    throw Error("conv2d output " + shape_string(y.shape()) + " is not " + shape_string({n, oh, ow, out_}));
  const Plan& plan = plan_for(n, h, w, rows);
  const OpTimer timer(plan.winograd ? OpKind::Winograd : OpKind::Conv,
                      double(n * oh * ow) * out_ * in_ * kernel_ * kernel_);
  if (plan.winograd) {
    const dnnl::memory taps = weights_.get(plan.weights_layout);
    winograd_conv3x3(x, rows.before, rows.after, precision(), static_cast<const float*>(taps.get_data_handle()), out_,
                     bias_.data(), y);
    return;
  }
  Tensor scratch;
  const Operand in = compute_operand(precision(), x, scratch);
  dnnl::memory src({{n, in_, h, w}, in.type, tag::nhwc}, dnnl_engine(), const_cast<void*>(in.data));
  dnnl::memory dst({{n, out_, oh, ow}, dt::f32, tag::nhwc}, dnnl_engine(), y.data());
  execute(plan.prim, {{DNNL_ARG_SRC, src},
                      {DNNL_ARG_WEIGHTS, weights_.get(plan.weights_layout)},
                      {DNNL_ARG_BIAS, plan.bias},
                      {DNNL_ARG_DST, dst}});
}

}  // namespace diffuse
