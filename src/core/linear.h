#pragma once
#include <array>
#include <map>
#include <memory>
#include <vector>

#include <dnnl.hpp>

#include "core/tensor.h"

namespace diffuse {

// y = x W^T + b over the last dimension, through oneDNN's matmul. W keeps the checkpoint's
// [out, in] layout: oneDNN reads it transposed in place, so no second copy exists.
class LinearKernel {
 public:
  // An activation oneDNN applies to the output as it is written (vectorised, no extra pass).
  enum class Activation { None, GeluErf };

  LinearKernel() = default;
  LinearKernel(std::vector<float> weight, std::vector<float> bias, int out_features, int in_features,
               Activation activation = Activation::None);

  Tensor forward(const Tensor& x) const;  // [..., in] -> [..., out]
  int out_features() const { return out_; }
  int in_features() const { return in_; }

 private:
  const dnnl::matmul& plan_for(int64_t rows) const;

  std::vector<float> weight_, bias_;
  int out_ = 0, in_ = 0;
  Activation activation_ = Activation::None;
  mutable std::map<int64_t, std::shared_ptr<dnnl::matmul>> plans_;
};

// softmax(q k^T * scale) v for `heads` heads of size C/heads, q: [B,Tq,C], k,v: [B,Tk,C];
// `causal` hides keys after the query's own position (CLIP's text transformer).
// Queries are processed in chunks so the score matrix never exceeds a few tens of MiB.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal = false);

}  // namespace diffuse
