#pragma once
// The building blocks shared by the text encoders, UNet and VAE, each loaded from the
// checkpoint's own tensor names (".weight", ".bias") under a prefix.
#include <optional>

#include "core/attention.h"
#include "core/conv2d.h"
#include "core/linear.h"
#include "core/ops.h"
#include "models/weights.h"

namespace diffuse {

struct Linear {
  LinearKernel kernel;
  // Accepts [out, in] and the 1x1-convolution form [out, in, 1, 1] (SD1's proj_in/proj_out,
  // the VAE's attention), which are the same matrix over NHWC activations.
  static Linear load(const Weights& w, int in, int out, bool bias = true);
  // Output rows [first, first + count) of a stored [out, in] layer, e.g. one half of GEGLU's projection.
  static Linear load_rows(const Weights& w, int in, int first, int count,
                          LinearKernel::Activation activation = LinearKernel::Activation::None);
  Tensor operator()(const Tensor& x) const { return kernel.forward(x); }
};

struct Conv2d {
  Conv2dKernel kernel;
  // Padding defaults to "same" (kernel / 2 on every side).
  static Conv2d load(const Weights& w, int in, int out, int kernel, int stride = 1,
                     std::optional<Conv2dKernel::Padding> padding = std::nullopt, bool bias = true);
  Tensor operator()(const Tensor& x) const { return kernel.forward(x); }
};

// A norm whose output only the given layer reads (or layers of its precision) writes what that
// layer reads: bf16 in bf16, which saves the product's conversion pass and half the activation's
// memory.
struct GroupNorm {
  std::vector<float> gamma, beta;
  int groups = 32;
  float eps = 1e-5f;
  Tensor::Type output = Tensor::Type::F32;
  static GroupNorm load(const Weights& w, int channels, int groups = 32, float eps = 1e-5f);
  void feeds(const Conv2d& reader) { output = reader.kernel.input_type(); }
  void feeds(const Linear& reader) { output = reader.kernel.input_type(); }
  // Normalises in place when given its input by std::move (fp32 output).
  Tensor operator()(Tensor x, ops::Activation act = ops::Activation::None) const {
    return ops::group_norm(std::move(x), groups, gamma, beta, eps, act, output);
  }
};

struct LayerNorm {
  std::vector<float> gamma, beta;
  float eps = 1e-5f;
  Tensor::Type output = Tensor::Type::F32;
  static LayerNorm load(const Weights& w, int channels, float eps = 1e-5f);
  void feeds(const Linear& reader) { output = reader.kernel.input_type(); }
  Tensor operator()(const Tensor& x) const { return ops::layer_norm(x, gamma, beta, eps, output); }
};

}  // namespace diffuse
