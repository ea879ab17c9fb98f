#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/tensor_archive.h"

namespace diffuse {

// Where diffusers' UNet2DConditionModel blocks land in the original (LDM) UNet's flat
// input_blocks / output_blocks numbering. Each level holds layers_per_block res blocks (one
// more on the way up) plus a down/up-sampler, so the flat index depends on both values.
struct UnetLayout {
  int layers_per_block = 2;
  std::vector<bool> up_block_has_attention;  // one per level, in diffusers' up-block order

  // Reads layers_per_block and up_block_types; `where` (the config's path) names errors.
  static UnetLayout from_config(const nlohmann::json& config, const std::string& where);
  // The same read from a UNet already in LDM names (a single-file checkpoint has no config): the
  // first down-sampler's input block follows the first level's res blocks, and an up level with
  // attention has a SpatialTransformer (".1.norm") in its first output block.
  static UnetLayout from_ldm_names(const TensorArchive& unet);
};

// The LDM name of one diffusers tensor ("down_blocks.1.resnets.0.conv1.weight" ->
// "input_blocks.4.0.in_layers.2.weight"), or nullopt when it has none.
std::optional<std::string> unet_name_from_diffusers(std::string_view name, const UnetLayout& layout);
// The same for AutoencoderKL; `levels` = len(block_out_channels), since decoder up blocks are
// numbered in reverse in LDM.
std::optional<std::string> vae_name_from_diffusers(std::string_view name, int levels);

// Rename a whole component. Tensors keep their bytes; the VAE's mid-block attention
// projections, stored by diffusers as Linear [C, C], get LDM's 1x1-conv shape [C, C, 1, 1].
// Throws Error naming the archive and the first tensor that does not map.
TensorArchive unet_from_diffusers(TensorArchive&& unet, const UnetLayout& layout);
TensorArchive vae_from_diffusers(TensorArchive&& vae, int levels);

}  // namespace diffuse
