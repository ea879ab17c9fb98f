#pragma once
#include <string>

#include "io/model_files.h"

namespace diffuse {

// A VAE on its own (--vae): vae-ft-mse-840000 and its kind in CompVis names ("decoder.conv_in.weight",
// also under a checkpoint's "first_stage_model."), or a diffusers AutoencoderKL's weights
// ("decoder.up_blocks.0.resnets.0.conv1.weight"), .safetensors or .ckpt. Returns its tensors in
// ModelFiles' canonical VAE naming; what is not the autoencoder (a training file's "loss.*"
// discriminator, "model_ema.*") is left out. Throws Error naming the file.
TensorArchive open_vae(const std::string& path);

// Puts `vae` in place of the model's VAE once it is known to be the same architecture: every
// tensor of the model's VAE present in the same shape, and nothing else. A model that came
// without a VAE takes any (the VAE's own loader checks it). Throws Error naming both files and the
// first tensor that differs.
void replace_vae(ModelFiles& model, TensorArchive vae);

}  // namespace diffuse
