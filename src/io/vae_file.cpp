#include "io/vae_file.h"

#include <set>

#include "core/error.h"
#include "core/tensor.h"
#include "io/diffusers_names.h"

namespace diffuse {
namespace {

bool autoencoder_tensor(const std::string& name) {
  for (const char* part : {"encoder.", "decoder.", "quant_conv.", "post_quant_conv."})
    if (name.starts_with(part)) return true;
  return false;
}

}  // namespace

TensorArchive open_vae(const std::string& path) {
  TensorArchive all = load_tensor_file(path);
  TensorArchive vae;
  vae.source = path;
  vae.backing = std::move(all.backing);
  vae.metadata = std::move(all.metadata);
  constexpr std::string_view kCheckpointPrefix = "first_stage_model.";
  std::set<std::string> encoder_levels;  // diffusers' "encoder.down_blocks.<i>": how many levels it has
  for (auto& [stored, tensor] : all.tensors) {
    std::string name = stored.starts_with(kCheckpointPrefix) ? stored.substr(kCheckpointPrefix.size()) : stored;
    if (!autoencoder_tensor(name)) continue;
    if (name.starts_with("encoder.down_blocks.")) encoder_levels.insert(name.substr(0, name.find('.', 20)));
    if (!vae.tensors.emplace(name, std::move(tensor)).second)
      throw Error(path + ": holds '" + name + "' both with and without the first_stage_model. prefix");
  }
  if (vae.tensors.empty())
    throw Error(path + ": no VAE tensors (encoder.*, decoder.*, quant_conv.*, post_quant_conv.*) found");
  if (!encoder_levels.empty()) return vae_from_diffusers(std::move(vae), int(encoder_levels.size()));
  return vae;
}

void replace_vae(ModelFiles& model, TensorArchive vae) {
  if (!model.vae.tensors.empty()) {
    const std::string both = vae.source + " cannot replace the VAE of " + model.source + ": ";
    for (const auto& [name, tensor] : model.vae.tensors) {
      const StoredTensor* replacement = vae.find(name);
      if (!replacement) throw Error(both + "it has no '" + name + "' " + shape_string(tensor.shape));
      if (replacement->shape != tensor.shape)
        throw Error(both + "its '" + name + "' is " + shape_string(replacement->shape) + ", the model's " +
                    shape_string(tensor.shape));
    }
    for (const auto& [name, tensor] : vae.tensors)
      if (!model.vae.find(name)) throw Error(both + "its '" + name + "' has no place in the model's VAE");
  }
  model.vae = std::move(vae);
}

}  // namespace diffuse
