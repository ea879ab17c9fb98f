#pragma once
#include <array>
#include <map>
#include <memory>
#include <vector>

#include <dnnl.hpp>

#include "core/packed_weights.h"
#include "core/tensor.h"

namespace diffuse {

// y = x W^T + b over the last dimension, through oneDNN's matmul. W is packed once into the
// matmul's preferred layout in the compute precision; the output is always fp32.
class LinearKernel {
 public:
  // An activation oneDNN applies to the output as it is written (vectorised, no extra pass).
  enum class Activation { None, GeluErf };

  LinearKernel() = default;
  // weight: [out, in] as the checkpoint stores it.
  LinearKernel(std::vector<float> weight, std::vector<float> bias, int out_features, int in_features,
               Activation activation = Activation::None, Precision precision = Precision::Fp32);

  Tensor forward(const Tensor& x) const;  // [..., in] -> [..., out]
  int out_features() const { return out_; }
  int in_features() const { return in_; }
  Precision precision() const { return weights_.precision(); }

 private:
  struct Plan {
    dnnl::matmul prim;
    dnnl::memory::desc weights_layout;
  };
  const Plan& plan_for(int64_t rows) const;

  PackedWeights weights_;
  std::vector<float> bias_;
  int out_ = 0, in_ = 0;
  Activation activation_ = Activation::None;
  mutable std::map<int64_t, std::shared_ptr<Plan>> plans_;
};

}  // namespace diffuse
