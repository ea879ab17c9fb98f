#include "io/taesd_file.h"

#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "io/model_files.h"

namespace diffuse {
namespace {

// "12.conv.0.weight" -> 12; -1 when the name does not start with an index.
int leading_index(const std::string& name) {
  size_t digits = 0;
  while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits]))) ++digits;
  if (digits == 0 || digits > 4 || digits == name.size() || name[digits] != '.') return -1;
  return std::stoi(name.substr(0, digits));
}

}  // namespace

TensorArchive open_taesd(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string file = fs::is_directory(path) ? (fs::path(path) / "diffusion_pytorch_model.safetensors").string() : path;
  TensorArchive all = load_tensor_file(file);
  TensorArchive taesd;
  taesd.source = file;
  taesd.backing = std::move(all.backing);
  taesd.metadata = std::move(all.metadata);
  // An original file is one half: the encoder's first layer reads RGB, the decoder's (index 1,
  // after the clamp) the latents.
  const StoredTensor* first = all.find("0.weight");
  const bool original_encoder = first && first->shape.size() == 4 && first->shape[1] == 3;
  const bool original_decoder = !first && all.find("1.weight");
  for (auto& [name, tensor] : all.tensors) {
    std::string renamed;
    if (name.starts_with("decoder.layers.") || name.starts_with("encoder.layers.")) {
      renamed = name;
    } else if (const int i = leading_index(name); i >= 0 && (original_encoder || original_decoder)) {
      if (original_decoder && i == 0) throw Error(file + ": '" + name + "' where the decoder's clamp has no weights");
      renamed = (original_decoder ? "decoder.layers." + std::to_string(i - 1) : "encoder.layers." + std::to_string(i)) +
                name.substr(name.find('.'));
    } else {
      continue;  // not the autoencoder's (a training file's extras)
    }
    taesd.tensors.emplace(std::move(renamed), tensor);
  }
  if (!taesd.find("decoder.layers.0.weight"))
    throw Error(file + ": not a TAESD decoder: no decoder.layers.0.weight (diffusers' AutoencoderTiny) nor 1.weight "
                "(the original taesd_decoder)" + (original_encoder ? "; this is an encoder-only file" : ""));
  return taesd;
}

}  // namespace diffuse
