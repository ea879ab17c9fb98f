#pragma once
#include <array>
#include <map>
#include <memory>
#include <vector>

#include <dnnl.hpp>

#include "core/packed_weights.h"
#include "core/tensor.h"

namespace diffuse {

// y = x W^T + b over the last dimension, through oneDNN's matmul or 1x1 convolution
// (matmul_as_convolution.h). W is packed once into the primitive's preferred layout in the
// compute precision; the output is always fp32.
class LinearKernel {
 public:
  // An activation oneDNN applies to the output as it is written (vectorised, no extra pass).
  enum class Activation { None, GeluErf };

  LinearKernel() = default;
  // weight: [out, in] as the checkpoint stores it.
  LinearKernel(WeightSource weight, std::vector<float> bias, int out_features, int in_features,
               Activation activation = Activation::None, Precision precision = Precision::Fp32);

  Tensor forward(const Tensor& x) const;  // [..., in] -> [..., out]
  int out_features() const { return out_; }
  int in_features() const { return in_; }
  Precision precision() const { return weights_.precision(); }
  // The input its product reads (precision.h); it takes either.
  Tensor::Type input_type() const { return product_input_type(precision()); }

 private:
  struct Plan {
    dnnl::primitive prim;                  // a matmul, or a 1x1 convolution over the rows as pixels
    dnnl::memory::desc weights_layout;     // as PackedWeights packs them: [in, out]
    dnnl::memory::desc primitive_weights;  // the same bytes as the primitive reads them
    bool convolution = false;
  };
  const Plan& plan_for(int64_t rows) const;

  PackedWeights weights_;
  std::vector<float> bias_;
  int out_ = 0, in_ = 0;
  Activation activation_ = Activation::None;
  mutable std::map<std::pair<int64_t, int>, std::shared_ptr<Plan>> plans_;  // by rows and mode
};

}  // namespace diffuse
