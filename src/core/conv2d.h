#pragma once
#include <array>
#include <map>
#include <memory>
#include <vector>

#include <dnnl.hpp>

#include "core/tensor.h"

namespace diffuse {

// A 2-D convolution over NHWC activations through oneDNN. The OIHW weights are reordered
// once per input shape into the layout oneDNN's kernel wants; primitives are cached per shape.
class Conv2dKernel {
 public:
  Conv2dKernel() = default;
  // weight: [out, in, k, k] OIHW values; bias: [out] or empty.
  Conv2dKernel(std::vector<float> weight, std::vector<float> bias, int out_channels, int in_channels, int kernel,
               int stride, int padding);

  Tensor forward(const Tensor& x_nhwc) const;  // [N,H,W,in] -> [N,H',W',out]
  int out_channels() const { return out_; }
  int in_channels() const { return in_; }

 private:
  struct Plan {
    dnnl::convolution_forward prim;
    dnnl::memory weights, bias;
  };
  const Plan& plan_for(int64_t n, int64_t h, int64_t w) const;

  std::vector<float> weight_, bias_;
  int out_ = 0, in_ = 0, kernel_ = 1, stride_ = 1, padding_ = 0;
  mutable std::map<std::array<int64_t, 3>, std::shared_ptr<Plan>> plans_;
};

}  // namespace diffuse
