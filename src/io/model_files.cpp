#include "io/model_files.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>

#include "core/error.h"
#include "io/ckpt.h"
#include "io/diffusers_names.h"
#include "io/open_clip_names.h"
#include "io/safetensors.h"

namespace diffuse {
namespace fs = std::filesystem;
namespace {

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) throw Error(path.string() + ": not valid JSON");
  return j;
}

// Counts what a file held, used or not, before any of it is dropped or renamed.
void take_stock(ModelFiles& m, const TensorArchive& archive) {
  m.tensor_count += archive.tensors.size();
  for (const auto& [name, tensor] : archive.tensors) {
    std::string dtype(dtype_name(tensor.dtype));
    if (std::ranges::find(m.dtypes, dtype) == m.dtypes.end()) m.dtypes.push_back(std::move(dtype));
  }
}

// Text encoders stored in Hugging Face names keep them, with two repairs: files written by
// transformers before CLIPTextModel gained its text_model level lack that prefix, and the
// position_ids index buffer is not a weight.
TensorArchive hf_text_encoder(TensorArchive&& in) {
  TensorArchive out;
  out.source = in.source;
  out.backing = std::move(in.backing);
  for (auto& [name, tensor] : in.tensors) {
    std::string hf = name.starts_with("text_model.") || name.starts_with("text_projection.") ? name : "text_model." + name;
    if (hf != "text_model.embeddings.position_ids") out.tensors.emplace(std::move(hf), std::move(tensor));
  }
  return out;
}

// ---- single-file checkpoints (CompVis / A1111 / SGM layout) ----

enum Part { kUnet, kVae, kTextEncoder1, kTextEncoder2, kParts };

struct Route {
  std::string_view prefix;
  Part part;
  bool open_clip;  // open_clip names, else Hugging Face CLIP names
};

constexpr Route kRoutes[] = {
    {"model.diffusion_model.", kUnet, false},
    {"first_stage_model.", kVae, false},
    {"cond_stage_model.transformer.", kTextEncoder1, false},         // SD1
    {"cond_stage_model.model.", kTextEncoder1, true},                // SD2
    {"conditioner.embedders.0.transformer.", kTextEncoder1, false},  // SDXL encoder 1
    {"conditioner.embedders.1.model.", kTextEncoder2, true},         // SDXL encoder 2
    // SDXL encoder 2 in Hugging Face names: what single_file_tensors writes, as for encoder 1.
    {"conditioner.embedders.1.transformer.", kTextEncoder2, false},
};

void open_single_file(const std::string& path, ModelFiles& m) {
  TensorArchive all = load_tensor_file(path);
  take_stock(m, all);
  m.file_bytes = fs::file_size(path);
  m.metadata = all.metadata;

  TensorArchive parts[kParts];
  bool open_clip[kParts] = {};
  for (auto& [name, tensor] : all.tensors) {
    // Everything unrouted (model_ema.*, schedule buffers, ...) is not used for inference.
    for (const Route& route : kRoutes) {
      if (!name.starts_with(route.prefix)) continue;
      parts[route.part].tensors.emplace(name.substr(route.prefix.size()), std::move(tensor));
      open_clip[route.part] = route.open_clip;
      break;
    }
  }
  if (parts[kUnet].tensors.empty())
    throw Error(path + ": no UNet tensors (model.diffusion_model.*) found; is this a Stable Diffusion checkpoint?");
  for (TensorArchive& part : parts) {
    part.source = path;
    part.backing = all.backing;  // every part views the same mapped file
  }

  m.unet = std::move(parts[kUnet]);
  m.vae = std::move(parts[kVae]);
  for (Part p : {kTextEncoder1, kTextEncoder2}) {
    if (parts[p].tensors.empty()) continue;
    m.text_encoders.push_back(open_clip[p] ? text_encoder_from_open_clip(std::move(parts[p]))
                                           : hf_text_encoder(std::move(parts[p])));
  }
}

// ---- diffusers folders ----

// diffusers writes <stem>.safetensors, or shards behind <stem>.safetensors.index.json; the
// fp16 variant inserts ".fp16" before the last extension.
TensorArchive load_component_weights(const fs::path& dir, const std::string& stem, ModelFiles& m) {
  const std::string candidates[] = {stem + ".safetensors", stem + ".safetensors.index.json", stem + ".fp16.safetensors",
                                    stem + ".safetensors.index.fp16.json"};
  for (const std::string& file : candidates) {
    const fs::path path = dir / file;
    if (!fs::is_regular_file(path)) continue;
    if (!file.ends_with(".json")) {
      TensorArchive archive = load_safetensors(path.string());
      take_stock(m, archive);
      m.file_bytes += fs::file_size(path);
      return archive;
    }
    TensorArchive archive = load_safetensors_index(path.string());  // validates the weight map
    take_stock(m, archive);
    const nlohmann::json index = read_json(path);
    std::set<std::string> shards;
    for (const auto& [name, shard] : index["weight_map"].items()) shards.insert(shard.get<std::string>());
    for (const std::string& shard : shards) m.file_bytes += fs::file_size(dir / shard);
    return archive;
  }
  throw Error(dir.string() + ": no weights found (expected " + stem + ".safetensors, " + stem +
              ".safetensors.index.json, or their .fp16 variants)");
}

// model_index.json lists every pipeline component as [library, class]; [null, null] marks an
// absent one (SDXL refiner has no text_encoder).
bool listed(const nlohmann::json& index, const std::string& component) {
  auto it = index.find(component);
  return it != index.end() && it->is_array() && !it->empty() && !(*it)[0].is_null();
}

fs::path component_dir(const fs::path& root, const std::string& component) {
  fs::path dir = root / component;
  if (!fs::is_directory(dir)) throw Error(root.string() + ": diffusers folder has no " + component + "/ component");
  return dir;
}

void open_diffusers(const fs::path& root, ModelFiles& m) {
  const nlohmann::json index = read_json(root / "model_index.json");

  const fs::path unet_dir = component_dir(root, "unet");
  m.unet_config = read_json(unet_dir / "config.json");
  const UnetLayout layout = UnetLayout::from_config(*m.unet_config, (unet_dir / "config.json").string());
  m.unet = unet_from_diffusers(load_component_weights(unet_dir, "diffusion_pytorch_model", m), layout);

  const fs::path vae_dir = component_dir(root, "vae");
  m.vae_config = read_json(vae_dir / "config.json");
  auto channels = m.vae_config->find("block_out_channels");
  if (channels == m.vae_config->end() || !channels->is_array() || channels->empty())
    throw Error((vae_dir / "config.json").string() + ": needs a \"block_out_channels\" list");
  m.vae = vae_from_diffusers(load_component_weights(vae_dir, "diffusion_pytorch_model", m), int(channels->size()));

  for (const std::string component : {"text_encoder", "text_encoder_2"}) {
    if (!listed(index, component)) continue;
    const fs::path dir = component_dir(root, component);
    m.text_encoder_configs.push_back(read_json(dir / "config.json"));
    m.text_encoders.push_back(hf_text_encoder(load_component_weights(dir, "model", m)));
  }

  if (fs::is_regular_file(root / "scheduler" / "scheduler_config.json"))
    m.scheduler_config = read_json(root / "scheduler" / "scheduler_config.json");
  if (fs::is_directory(root / "tokenizer")) m.tokenizer_dir = (root / "tokenizer").string();
}

}  // namespace

// Told apart by content: a torch.save file is a zip archive; a safetensors file is an 8-byte
// header length then a JSON object.
TensorArchive load_tensor_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  char head[9] = {};
  in.read(head, sizeof head);
  const auto got = in.gcount();
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return load_ckpt(path);
  if (got == 9 && head[8] == '{') return load_safetensors(path);
  throw Error(path + ": neither a .safetensors file (no JSON header) nor a .ckpt (not a zip archive)");
}

ModelFiles open_model(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error(path + ": no such file or directory");

  ModelFiles m;
  m.source = path;
  if (fs::is_directory(status)) {
    if (!fs::is_regular_file(fs::path(path) / "model_index.json"))
      throw Error(path + ": folder is not a diffusers model (no model_index.json)");
    open_diffusers(path, m);
  } else {
    open_single_file(path, m);
  }
  std::ranges::sort(m.dtypes);
  return m;
}

std::map<std::string, StoredTensor> single_file_tensors(const ModelFiles& m) {
  if (m.text_encoders.size() > 2) throw Error(m.source + ": more than two text encoders have no single-file names");
  std::map<std::string, StoredTensor> out;
  auto add = [&](const TensorArchive& part, Part which) {
    const auto route = std::find_if(std::begin(kRoutes), std::end(kRoutes),
                                    [&](const Route& r) { return r.part == which && !r.open_clip; });
    for (const auto& [name, tensor] : part.tensors) out.emplace(std::string(route->prefix) + name, tensor);
  };
  add(m.unet, kUnet);
  add(m.vae, kVae);
  if (!m.text_encoders.empty()) add(m.text_encoders[0], kTextEncoder1);
  if (m.text_encoders.size() == 2) add(m.text_encoders[1], kTextEncoder2);
  return out;
}

}  // namespace diffuse
