#pragma once
#include <array>
#include <map>
#include <memory>
#include <vector>

#include <dnnl.hpp>

#include "core/tensor.h"

namespace diffuse {

// A 2-D convolution over NHWC activations through oneDNN, primitives cached per input shape.
// The OIHW weights are reordered once into the layout oneDNN's kernel wants and the checkpoint
// order is then dropped, so one copy of each weight exists; plans of other shapes share it
// (or, if they want another layout, reorder from it).
class Conv2dKernel {
 public:
  // Zero padding before (top, left) and after (bottom, right), the same on both axes.
  // Asymmetric padding is the VAE encoder's downsampling (diffusers pads (0, 1, 0, 1)).
  struct Padding {
    int before = 0, after = 0;
  };

  Conv2dKernel() = default;
  // weight: [out, in, k, k] OIHW values; bias: [out] or empty.
  Conv2dKernel(std::vector<float> weight, std::vector<float> bias, int out_channels, int in_channels, int kernel,
               int stride, int padding);
  Conv2dKernel(std::vector<float> weight, std::vector<float> bias, int out_channels, int in_channels, int kernel,
               int stride, Padding padding);

  Tensor forward(const Tensor& x_nhwc) const;  // [N,H,W,in] -> [N,H',W',out]
  int out_channels() const { return out_; }
  int in_channels() const { return in_; }

 private:
  struct Plan {
    dnnl::convolution_forward prim;
    dnnl::memory weights, bias;
  };
  const Plan& plan_for(int64_t n, int64_t h, int64_t w) const;
  int64_t out_size(int64_t in) const { return (in + padding_.before + padding_.after - kernel_) / stride_ + 1; }

  mutable std::vector<float> weight_;  // OIHW until the first plan reorders it into prepared_
  mutable dnnl::memory prepared_;
  std::vector<float> bias_;
  int out_ = 0, in_ = 0, kernel_ = 1, stride_ = 1;
  Padding padding_;
  mutable std::map<std::array<int64_t, 3>, std::shared_ptr<Plan>> plans_;
};

}  // namespace diffuse
