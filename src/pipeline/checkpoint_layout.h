#pragma once
// The tensors (name and shape) a checkpoint of a given architecture holds, in ModelFiles'
// canonical naming: the inverse of UNetConfig / VaeConfig / ClipTextConfig::detect. It lets a
// full-size model be made in memory without a file (random_model.h).
#include <string>
#include <vector>

#include "models/clip_text_model.h"
#include "models/unet.h"
#include "models/vae.h"

namespace diffuse {

// What a tensor is for, which decides the values a random model gives it.
enum class TensorRole {
  Weight,     // of a Linear or convolution: scaled by its fan-in
  Bias,
  NormScale,  // GroupNorm / LayerNorm weight
  NormShift,  // GroupNorm / LayerNorm bias
  Embedding,  // token and position tables
};

struct TensorSpec {
  std::string name;
  Shape shape;
  TensorRole role;
};

// UNetModel: SD1's SpatialTransformer projections are 1x1 convolutions (config.fixed_heads > 0,
// as UNetConfig::detect reads it), SD2's and SDXL's are Linear.
std::vector<TensorSpec> unet_layout(const UNetConfig& config);
// AutoencoderKL, encoder and decoder, with the attention projections as 1x1 convolutions.
std::vector<TensorSpec> vae_layout(const VaeConfig& config);
// CLIPTextModel in Hugging Face names, plus text_projection.weight when config.projection_dim > 0.
std::vector<TensorSpec> clip_text_layout(const ClipTextConfig& config);

}  // namespace diffuse
