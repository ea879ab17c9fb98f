#pragma once
#include <string>

#include "io/tensor_archive.h"

namespace diffuse {

// A tiny autoencoder's weights (--taesd; models/taesd.h), in diffusers' AutoencoderTiny names
// ("decoder.layers.<i>.*", "encoder.layers.<i>.*"), from any of the forms it is shared in:
// diffusers' diffusion_pytorch_model.safetensors (or its folder), or madebyollin's original
// single files, taesd_decoder / taesd_encoder .safetensors or .pth, whose indices are those of
// its own nn.Sequential (the decoder's starts with a parameterless clamp: index i is diffusers'
// i - 1). Throws Error naming the file.
TensorArchive open_taesd(const std::string& path);

}  // namespace diffuse
