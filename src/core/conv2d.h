#pragma once
#include <array>
#include <map>
#include <memory>
#include <vector>

#include <dnnl.hpp>

#include "core/packed_weights.h"
#include "core/tensor.h"

namespace diffuse {

// Where 3x3, stride-1 convolutions run as Winograd F(4x4, 3x3) (winograd_conv.h). Auto: where
// oneDNN's direct kernel is AVX2 and the shape pays (conv2d.cpp); AVX-512 and AMX CPUs keep
// oneDNN's kernels. Always: every shape it can take (3x3, stride 1, padding 1, channels in
// multiples of 8), for tests and measurement. Never: oneDNN's direct kernel. For plans made after.
enum class WinogradMode { Auto, Always, Never };
void set_winograd(WinogradMode mode);

// A 2-D convolution over NHWC activations through oneDNN, primitives cached per input shape.
// Weights are packed once (PackedWeights) in the compute precision; in bf16 the input is
// converted on the way in and the output is written in fp32.
class Conv2dKernel {
 public:
  // Zero padding before (top, left) and after (bottom, right), the same on both axes.
  // Asymmetric padding is the VAE encoder's downsampling (diffusers pads (0, 1, 0, 1)).
  struct Padding {
    int before = 0, after = 0;
  };

  Conv2dKernel() = default;
  // weight: [out, in, k, k] OIHW values; bias: [out] or empty.
  Conv2dKernel(WeightSource weight, std::vector<float> bias, int out_channels, int in_channels, int kernel,
               int stride, Padding padding, Precision precision = Precision::Fp32);

  Tensor forward(const Tensor& x_nhwc) const;  // [N,H,W,in] -> [N,H',W',out]
  // With `rows` in place of the padding above and below: x is a band of rows of a taller image,
  // unpadded where the band has real neighbours (the halo rows are then part of x); into y, which
  // may be a view of a larger output (Tensor::view).
  void forward(const Tensor& x_nhwc, Padding rows, Tensor& y) const;
  int out_channels() const { return out_; }
  int in_channels() const { return in_; }
  Precision precision() const { return weights_.precision(); }
  // The input its product reads (precision.h); it takes either.
  Tensor::Type input_type() const { return product_input_type(precision()); }

 private:
  struct Plan {
    dnnl::convolution_forward prim;  // empty when `winograd`
    dnnl::memory::desc weights_layout;
    dnnl::memory bias;
    bool winograd = false;  // as winograd_conv3x3, weights as fp32 hwio taps
  };
  const Plan& plan_for(int64_t n, int64_t h, int64_t w, Padding rows) const;
  void check_input(const Tensor& x) const;
  int64_t out_size(int64_t in, Padding p) const { return (in + p.before + p.after - kernel_) / stride_ + 1; }

  PackedWeights weights_;
  std::vector<float> bias_;
  int out_ = 0, in_ = 0, kernel_ = 1, stride_ = 1;
  Padding padding_;
  mutable std::map<std::array<int64_t, 6>, std::shared_ptr<Plan>> plans_;
};

}  // namespace diffuse
