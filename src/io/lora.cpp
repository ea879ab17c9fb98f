#include "io/lora.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "core/tensor.h"
#include "io/diffusers_names.h"
#include "io/mapped_file.h"
#include "io/sha256.h"

// Key conventions, as the loaders that define them read them: A1111's extensions-builtin/Lora
// (networks.py, lora_convert.py), kohya's sd-scripts (networks/lora.py), diffusers 0.27's
// lora_conversion_utils.py and PEFT's state-dict keys.

namespace diffuse {
namespace {

enum class Part { Down, Up, Alpha };

struct Suffix {
  std::string_view text;
  Part part;
};

// What ends a LoRA tensor key, after the module it updates.
constexpr Suffix kSuffixes[] = {
    {".lora_down.weight", Part::Down}, {".lora_up.weight", Part::Up}, {".alpha", Part::Alpha},  // kohya, A1111
    {".lora_A.weight", Part::Down},    {".lora_B.weight", Part::Up},                             // PEFT
    {".lora.down.weight", Part::Down}, {".lora.up.weight", Part::Up},  // diffusers' LoRACompatibleLinear/Conv
    {".lora_linear_layer.down.weight", Part::Down},  // diffusers' patched text encoder projections
    {".lora_linear_layer.up.weight", Part::Up},
    // diffusers' attention processors: "attn1.processor.to_q_lora.down.weight" updates attn1.to_q.
    {"_lora.down.weight", Part::Down}, {"_lora.up.weight", Part::Up},
};

struct Prefix {
  std::string_view text;
  LoraComponent component;
  bool underscored;  // kohya: the module path with every '.' written as '_'
};

constexpr Prefix kPrefixes[] = {
    {"lora_unet_", LoraComponent::Unet, true},           {"lora_te1_", LoraComponent::TextEncoder1, true},
    {"lora_te2_", LoraComponent::TextEncoder2, true},    {"lora_te_", LoraComponent::TextEncoder1, true},
    {"unet.", LoraComponent::Unet, false},               {"text_encoder_2.", LoraComponent::TextEncoder2, false},
    {"text_encoder.", LoraComponent::TextEncoder1, false},
};

struct Module {
  LoraComponent component;
  std::string path;  // dotted, or kohya's underscored form
  bool underscored;
};

std::string underscored(std::string_view dotted) {
  std::string s(dotted);
  std::ranges::replace(s, '.', '_');
  return s;
}

// The module a key updates, its prefix routed to a component. PEFT's own adapter files prefix
// "base_model.model." to the bare module path, as diffusers' oldest attention-processor files
// leave it bare; a bare path is the text encoder's when it starts there, else the UNet's.
Module module_of(std::string_view key) {
  for (const Prefix& p : kPrefixes)
    if (key.starts_with(p.text)) return {p.component, std::string(key.substr(p.text.size())), p.underscored};
  if (key.starts_with("base_model.model.")) key.remove_prefix(std::string_view("base_model.model.").size());
  const bool text = key.starts_with("text_model.");
  return {text ? LoraComponent::TextEncoder1 : LoraComponent::Unet, std::string(key), false};
}

// diffusers' attention processors hold their LoRA beside the attention ("attn1.processor.to_q"),
// and call the output projection "to_out" where the module is "to_out.0".
std::string without_processor(std::string path) {
  if (const size_t at = path.find(".processor."); at != std::string::npos) path.erase(at, std::string_view(".processor").size());
  if (path.ends_with(".to_out")) path += ".0";
  return path;
}

// Reads back the regular block structure of a kohya key written from diffusers' UNet names
// ("down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q") as far as the block:
// "down_blocks.1.attentions.0.transformer_blocks_0_attn1_to_q". The rest stays underscored;
// below a block, LDM names the modules as diffusers does, except a res block's own layers,
// which are single words (conv1, time_emb_proj) that unet_name_from_diffusers renames.
std::optional<std::string> diffusers_block_path(std::string_view key) {
  static constexpr std::string_view kTopLevel[][2] = {
      {"conv_in", "conv_in"},
      {"conv_out", "conv_out"},
      {"time_embedding_linear_1", "time_embedding.linear_1"},
      {"time_embedding_linear_2", "time_embedding.linear_2"},
      {"add_embedding_linear_1", "add_embedding.linear_1"},
      {"add_embedding_linear_2", "add_embedding.linear_2"},
  };
  for (const auto& [kohya, dotted] : kTopLevel)
    if (key == kohya) return std::string(dotted);

  auto take = [&key](std::string_view word) {
    if (!key.starts_with(word)) return false;
    key.remove_prefix(word.size());
    return true;
  };
  auto index = [&key]() -> std::optional<std::string> {  // "<digits>_"
    size_t digits = 0;
    while (digits < key.size() && digits < 6 && key[digits] >= '0' && key[digits] <= '9') ++digits;
    if (digits == 0 || digits >= key.size() || key[digits] != '_') return std::nullopt;
    std::string value(key.substr(0, digits));
    key.remove_prefix(digits + 1);
    return value;
  };

  std::string path;
  const bool down = take("down_blocks_");
  if (down || take("up_blocks_")) {
    auto level = index();
    if (!level) return std::nullopt;
    path = std::string(down ? "down_blocks." : "up_blocks.") + *level + ".";
    if (key == (down ? "downsamplers_0_conv" : "upsamplers_0_conv")) return path + (down ? "downsamplers.0.conv" : "upsamplers.0.conv");
  } else if (take("mid_block_")) {
    path = "mid_block.";
  } else {
    return std::nullopt;
  }
  for (std::string_view kind : {"attentions_", "resnets_"}) {
    if (!take(kind)) continue;
    auto j = index();
    if (!j || key.empty()) return std::nullopt;
    return path + std::string(kind.substr(0, kind.size() - 1)) + "." + *j + "." + std::string(key);
  }
  return std::nullopt;
}

// A Linear's [out, in] or a convolution's [out, in, kh, kw]: what a low-rank update can change.
bool layer_weight(const StoredTensor& t) { return t.shape.size() == 2 || t.shape.size() == 4; }

// Where an opened model's weights are, and how LoRA keys name them.
class Targets {
 public:
  explicit Targets(const ModelFiles& model) : model_(model) {
    for (LoraComponent c : {LoraComponent::Unet, LoraComponent::TextEncoder1, LoraComponent::TextEncoder2}) {
      const TensorArchive* archive = component(c);
      if (!archive) continue;
      auto& index = by_underscored_[size_t(c)];
      for (const auto& [name, tensor] : archive->tensors) {
        if (!name.ends_with(".weight") || !layer_weight(tensor)) continue;
        const auto [it, fresh] = index.emplace(underscored(name.substr(0, name.size() - 7)), name);
        if (!fresh) it->second.clear();  // two modules read the same: neither can be told from the key
      }
    }
    if (!model.unet.tensors.empty()) layout_ = UnetLayout::from_ldm_names(model.unet);
  }

  const TensorArchive* component(LoraComponent c) const {
    switch (c) {
      case LoraComponent::Unet: return &model_.unet;
      case LoraComponent::TextEncoder1: return model_.text_encoders.empty() ? nullptr : &model_.text_encoders[0];
      case LoraComponent::TextEncoder2: return model_.text_encoders.size() < 2 ? nullptr : &model_.text_encoders[1];
    }
    return nullptr;
  }

  // The canonical name of the weight a module updates, or nullopt when the model has none.
  std::optional<std::string> weight_of(const Module& m) const {
    const TensorArchive* archive = component(m.component);
    if (!archive) return std::nullopt;
    if (m.underscored) {
      if (auto name = by_underscored(m.component, m.path)) return name;
      if (m.component != LoraComponent::Unet) return std::nullopt;
      const auto block = diffusers_block_path(m.path);
      if (!block) return std::nullopt;
      const auto ldm = unet_name_from_diffusers(*block + ".weight", layout_);
      if (!ldm) return std::nullopt;
      return by_underscored(m.component, std::string_view(*ldm).substr(0, ldm->size() - 7));
    }
    std::string name = m.path + ".weight";
    if (m.component == LoraComponent::Unet) {
      if (auto ldm = unet_name_from_diffusers(name, layout_)) name = *ldm;
    } else if (!name.starts_with("text_model.") && !name.starts_with("text_projection.")) {
      name = "text_model." + name;  // as transformers wrote CLIPTextModel before its text_model level
    }
    if (const StoredTensor* t = archive->find(name); t && layer_weight(*t)) return name;
    return std::nullopt;
  }

 private:
  std::optional<std::string> by_underscored(LoraComponent c, std::string_view key) const {
    const auto& index = by_underscored_[size_t(c)];
    const auto it = index.find(underscored(key));
    if (it == index.end() || it->second.empty()) return std::nullopt;
    return it->second;
  }

  const ModelFiles& model_;
  std::map<std::string, std::string> by_underscored_[3];  // "input_blocks_1_1_proj_in" -> "...proj_in.weight"
  UnetLayout layout_;
};

struct Pieces {
  std::vector<std::string> keys;
  const StoredTensor *down = nullptr, *up = nullptr, *alpha = nullptr;
};

bool floating(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::F64; }

// The checks that make the merge's arithmetic safe: every index it computes lies inside the
// three tensors, and its work is bounded by the target's size times its full rank.
void check_layer(const std::string& path, const LoraLayer& layer, const Shape& target) {
  auto fail = [&](const std::string& what) {
    throw Error(path + ": LoRA layer '" + layer.key + "' for " + layer.target + " " + shape_string(target) + ": " + what);
  };
  const Shape &down = layer.down.shape, &up = layer.up.shape;
  if (std::ranges::find(target, 0) != target.end()) fail("the layer has no weights to update");
  if (!floating(layer.down.dtype) || !floating(layer.up.dtype))
    fail("down and up must be floating-point tensors, not " + std::string(dtype_name(layer.down.dtype)) + " and " +
         std::string(dtype_name(layer.up.dtype)));
  if ((down.size() != 2 && down.size() != 4) || (up.size() != 2 && up.size() != 4))
    fail("down " + shape_string(down) + " and up " + shape_string(up) + " must be matrices or convolution kernels");
  if (up.size() == 4 && (up[2] != 1 || up[3] != 1)) fail("up " + shape_string(up) + " must be a 1x1 convolution");
  const int64_t rank = down[0];
  if (rank < 1 || up[1] != rank)
    fail("down " + shape_string(down) + " and up " + shape_string(up) + " disagree on the rank");
  if (up[0] != target[0]) fail("up " + shape_string(up) + " makes " + std::to_string(up[0]) + " outputs");
  // down's [in, kh, kw] must be the target's, a 1x1 kernel and a matrix being the same thing.
  const Shape down_in(down.begin() + 1, down.end()), target_in(target.begin() + 1, target.end());
  auto as_matrix = [](const Shape& in) { return in.size() == 3 && in[1] == 1 && in[2] == 1 ? Shape{in[0]} : in; };
  if (as_matrix(down_in) != as_matrix(target_in)) fail("down " + shape_string(down) + " does not fit the layer's inputs");
  const int64_t inputs = shape_numel(target) / target[0];
  if (rank > std::min(target[0], inputs))
    fail("rank " + std::to_string(rank) + " is above the layer's full rank " + std::to_string(std::min(target[0], inputs)));
}

double alpha_value(const std::string& path, const std::string& key, const StoredTensor& alpha) {
  if (!floating(alpha.dtype) || alpha.numel() != 1)
    throw Error(path + ": LoRA key '" + key + "' must be one floating-point number, not " +
                std::string(dtype_name(alpha.dtype)) + " " + shape_string(alpha.shape));
  const double value = alpha.to_f32()[0];
  if (!std::isfinite(value)) throw Error(path + ": LoRA key '" + key + "' is not a finite number");
  return value;
}

}  // namespace

LoraFile read_lora(const std::string& path, const ModelFiles& model) {
  LoraFile file{path, load_tensor_file(path), {}, 0, {}};
  file.key_count = file.archive.tensors.size();

  std::map<std::string, Pieces> modules;  // by key without its suffix: the file's own module names
  for (const auto& [key, tensor] : file.archive.tensors) {
    const Suffix* suffix = nullptr;
    for (const Suffix& s : kSuffixes)
      if (key.size() > s.text.size() && key.ends_with(s.text)) {
        suffix = &s;
        break;
      }
    if (!suffix) {
      file.unmatched_keys.push_back(key);
      continue;
    }
    Pieces& pieces = modules[key.substr(0, key.size() - suffix->text.size())];
    pieces.keys.push_back(key);
    (suffix->part == Part::Down ? pieces.down : suffix->part == Part::Up ? pieces.up : pieces.alpha) = &tensor;
  }

  const Targets targets(model);
  std::map<std::pair<LoraComponent, std::string>, std::string> updated;  // target -> the key updating it
  for (const auto& [name, pieces] : modules) {
    Module module = module_of(name);
    if (!module.underscored) module.path = without_processor(std::move(module.path));
    const std::optional<std::string> target = targets.weight_of(module);
    if (!target) {
      file.unmatched_keys.insert(file.unmatched_keys.end(), pieces.keys.begin(), pieces.keys.end());
      continue;
    }
    if (!pieces.down || !pieces.up)
      throw Error(path + ": LoRA layer '" + name + "' has " + (pieces.down ? "a down but no up" : "an up but no down") +
                  " matrix");
    const auto [previous, fresh] = updated.emplace(std::pair(module.component, *target), name);
    if (!fresh) throw Error(path + ": LoRA layers '" + previous->second + "' and '" + name + "' both update " + *target);

    LoraLayer layer{name, module.component, *target, *pieces.down, *pieces.up, 0};
    check_layer(path, layer, targets.component(module.component)->at(*target).shape);
    layer.alpha = pieces.alpha ? alpha_value(path, name + ".alpha", *pieces.alpha) : double(layer.rank());
    file.layers.push_back(std::move(layer));
  }
  std::ranges::sort(file.unmatched_keys);
  return file;
}

std::string lora_short_hash(const std::string& path) {
  const auto file = MappedFile::open(path);
  std::span<const std::byte> bytes = file->bytes();
  // A safetensors file's data starts after its 8-byte little-endian header length and header.
  uint64_t header = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) header |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  const bool safetensors = bytes.size() > 8 && header <= bytes.size() - 8 && char(bytes[8]) == '{';
  if (safetensors) bytes = bytes.subspan(8 + header);
  return sha256_hex(bytes).substr(0, 12);
}

}  // namespace diffuse
