// A diffusers folder's JSON as the loaders read it: the UNet config (UnetLayout::from_config, then
// every tensor of the sd1-tiny diffusers UNet renamed under that layout), the VAE config's
// block_out_channels (the VAE renamed under that many levels), a sharded checkpoint's index
// (load_safetensors_index beside one real shard), and the object's keys as tensor names. Beyond
// not crashing: a layout is positive, renaming keeps every tensor under a distinct name, and an
// index that loads holds every tensor its weight_map promises.
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "fuzz_input.h"
#include "io/diffusers_names.h"
#include "io/safetensors.h"

using namespace diffuse;
using nlohmann::json;

namespace {

struct Fixtures {
  TensorArchive unet, vae;
  std::string index_path;
};

const Fixtures& fixtures() {
  static const Fixtures f = [] {
    const std::string diffusers = DIFFUSE_FIXTURES "/sd1-tiny/diffusers/";
    Fixtures f{load_safetensors(diffusers + "unet/diffusion_pytorch_model.safetensors"),
               load_safetensors(diffusers + "vae/diffusion_pytorch_model.safetensors"), {}};
    const float values[2] = {1, 2};
    save_safetensors(fuzz::scratch_dir() + "/shard.safetensors",
                     {{"a", StoredTensor{DType::F32, {1}, reinterpret_cast<const std::byte*>(values), 4}},
                      {"b", StoredTensor{DType::F32, {1}, reinterpret_cast<const std::byte*>(values + 1), 4}}});
    f.index_path = fuzz::scratch_dir() + "/model.safetensors.index.json";
    return f;
  }();
  return f;
}

TensorArchive copy(const TensorArchive& a) { return a; }

void check_renamed(const TensorArchive& in, const TensorArchive& out) {
  FUZZ_CHECK(out.tensors.size() == in.tensors.size());  // distinct names: nothing was lost
}

void unet_config(const json& config) {
  UnetLayout layout;
  try {
    layout = UnetLayout::from_config(config, "unet/config.json");
  } catch (const Error& e) {
    return fuzz::check_refusal(e);
  }
  FUZZ_CHECK(layout.layers_per_block >= 1 && !layout.up_block_has_attention.empty());
  try {
    check_renamed(fixtures().unet, unet_from_diffusers(copy(fixtures().unet), layout));
  } catch (const Error& e) {
    fuzz::check_refusal(e);
  }
}

void vae_config(const json& config) {
  const auto channels = config.find("block_out_channels");
  if (channels == config.end() || !channels->is_array() || channels->empty()) return;
  try {
    check_renamed(fixtures().vae, vae_from_diffusers(copy(fixtures().vae), int(channels->size())));
  } catch (const Error& e) {
    fuzz::check_refusal(e);
  }
}

void index_file(std::string_view text, const json& index) {
  std::ofstream(fixtures().index_path, std::ios::binary | std::ios::trunc) << text;
  TensorArchive archive;
  try {
    archive = load_safetensors_index(fixtures().index_path);
  } catch (const Error& e) {
    return fuzz::check_refusal(e);
  }
  for (const auto& [name, shard] : index.at("weight_map").items()) FUZZ_CHECK(archive.find(name) != nullptr);
}

void names(const json& config) {
  UnetLayout layout{2, {false, true, true, true}};
  for (const auto& [key, value] : config.items()) {
    for (std::string_view name : {std::string_view(key), value.is_string() ? std::string_view(value.get_ref<const std::string&>()) : ""}) {
      if (auto ldm = unet_name_from_diffusers(name, layout)) FUZZ_CHECK(!ldm->empty());
      if (auto ldm = vae_name_from_diffusers(name, 4)) FUZZ_CHECK(!ldm->empty());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::text(data, size);
  const json config = json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object()) return 0;
  unet_config(config);
  vae_config(config);
  index_file(text, config);
  names(config);
  return 0;
}
