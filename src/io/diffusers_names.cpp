#include "io/diffusers_names.h"

#include <algorithm>
#include <span>

#include "core/error.h"

namespace diffuse {
namespace {

// A dotted tensor name consumed left to right, one module path at a time.
class NameReader {
 public:
  explicit NameReader(std::string_view name) : rest_(name) {}

  // Consumes `path` when the name continues with "<path>." (a whole module, never a prefix
  // of a longer module name: "conv_out" does not match "conv_out_2.weight").
  bool take(std::string_view path) {
    if (rest_.size() <= path.size() || !rest_.starts_with(path) || rest_[path.size()] != '.') return false;
    rest_.remove_prefix(path.size() + 1);
    return true;
  }

  // Consumes a "<decimal>." module index.
  std::optional<int> index() {
    size_t digits = 0;
    while (digits < rest_.size() && digits < 6 && rest_[digits] >= '0' && rest_[digits] <= '9') ++digits;
    if (digits == 0 || digits >= rest_.size() || rest_[digits] != '.') return std::nullopt;
    int value = 0;
    for (size_t i = 0; i < digits; ++i) value = value * 10 + (rest_[i] - '0');
    rest_.remove_prefix(digits + 1);
    return value;
  }

  std::string rest() const { return std::string(rest_); }

 private:
  std::string_view rest_;
};

struct Rename {
  std::string_view from, to;
};

// The first module of `table` the name continues with, renamed, followed by the rest.
std::optional<std::string> renamed(NameReader& r, std::span<const Rename> table) {
  for (const auto& [from, to] : table)
    if (r.take(from)) return std::string(to) + "." + r.rest();
  return std::nullopt;
}

std::string at(std::string_view prefix, int i) { return std::string(prefix) + std::to_string(i); }

// ---- UNet ----

constexpr Rename kUnetModules[] = {
    {"conv_in", "input_blocks.0.0"},
    {"time_embedding.linear_1", "time_embed.0"},
    {"time_embedding.linear_2", "time_embed.2"},
    {"add_embedding.linear_1", "label_emb.0.0"},  // SDXL's pooled-text + size conditioning
    {"add_embedding.linear_2", "label_emb.0.2"},
    {"conv_norm_out", "out.0"},
    {"conv_out", "out.2"},
};

// LDM's ResBlock keeps its layers in nn.Sequentials, hence the numbered names.
constexpr Rename kUnetResnetParams[] = {
    {"norm1", "in_layers.0"},  {"conv1", "in_layers.2"},  {"time_emb_proj", "emb_layers.1"},
    {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"}, {"conv_shortcut", "skip_connection"},
};

std::optional<std::string> unet_resnet(const std::string& block, NameReader& r) {
  auto param = renamed(r, kUnetResnetParams);
  if (!param) return std::nullopt;
  return block + "." + *param;
}

// ---- VAE ----

constexpr Rename kVaeModules[] = {{"quant_conv", "quant_conv"}, {"post_quant_conv", "post_quant_conv"}};
constexpr Rename kVaeCoderModules[] = {{"conv_in", "conv_in"}, {"conv_out", "conv_out"}, {"conv_norm_out", "norm_out"}};
constexpr Rename kVaeResnetParams[] = {
    {"norm1", "norm1"}, {"conv1", "conv1"}, {"norm2", "norm2"}, {"conv2", "conv2"}, {"conv_shortcut", "nin_shortcut"},
};
// diffusers >= 0.14 names (to_q ...) first, then the older AttentionBlock names (query ...).
constexpr Rename kVaeAttentionParams[] = {
    {"group_norm", "norm"}, {"to_q", "q"},  {"to_k", "k"},  {"to_v", "v"},         {"to_out.0", "proj_out"},
    {"query", "q"},         {"key", "k"},   {"value", "v"}, {"proj_attn", "proj_out"},
};

std::optional<std::string> vae_resnet(const std::string& block, NameReader& r) {
  auto param = renamed(r, kVaeResnetParams);
  if (!param) return std::nullopt;
  return block + "." + *param;
}

template <class RenameFn>
TensorArchive renamed_archive(TensorArchive&& in, std::string_view component, RenameFn&& rename) {
  TensorArchive out;
  out.source = in.source;
  out.backing = std::move(in.backing);
  for (auto& [name, tensor] : in.tensors) {
    std::optional<std::string> ldm = rename(name, tensor);
    if (!ldm) throw Error(in.source + ": diffusers " + std::string(component) + " tensor '" + name + "' has no LDM equivalent");
    if (!out.tensors.emplace(*ldm, std::move(tensor)).second)
      throw Error(in.source + ": two tensors map to '" + *ldm + "' (the last is '" + name + "')");
  }
  in.tensors.clear();
  return out;
}

}  // namespace

UnetLayout UnetLayout::from_config(const nlohmann::json& config, const std::string& where) {
  auto lpb = config.find("layers_per_block");
  auto ups = config.find("up_block_types");
  auto downs = config.find("down_block_types");
  if (lpb == config.end() || !lpb->is_number_unsigned() || *lpb == 0)
    throw Error(where + ": needs \"layers_per_block\" as one positive integer (per-level counts are not supported)");
  if (ups == config.end() || !ups->is_array() || ups->empty() || downs == config.end() || !downs->is_array() ||
      downs->size() != ups->size())
    throw Error(where + ": needs \"down_block_types\" and \"up_block_types\" lists of the same length");
  UnetLayout layout;
  layout.layers_per_block = lpb->get<int>();
  for (const auto& type : *ups) {
    if (!type.is_string()) throw Error(where + ": \"up_block_types\" entries must be strings");
    // CrossAttnUpBlock2D / AttnUpBlock2D carry attentions; UpBlock2D does not.
    layout.up_block_has_attention.push_back(type.get<std::string>().find("Attn") != std::string::npos);
  }
  return layout;
}

UnetLayout UnetLayout::from_ldm_names(const TensorArchive& unet) {
  auto has = [&unet](const std::string& name) { return unet.find(name) != nullptr; };
  UnetLayout layout;
  int first_sampler = 1;
  while (first_sampler < 64 && !has(at("input_blocks.", first_sampler) + ".0.op.weight")) ++first_sampler;
  if (first_sampler == 64) {  // one level, no down-sampler: every input block after conv_in is a res block
    first_sampler = 1;
    while (has(at("input_blocks.", first_sampler) + ".0.in_layers.2.weight")) ++first_sampler;
  }
  layout.layers_per_block = std::max(1, first_sampler - 1);
  const int per_level = layout.layers_per_block + 1;
  int levels = 1;
  while (has(at("input_blocks.", per_level * levels) + ".0.op.weight")) ++levels;
  for (int i = 0; i < levels; ++i)
    layout.up_block_has_attention.push_back(has(at("output_blocks.", per_level * i) + ".1.norm.weight"));
  return layout;
}

std::optional<std::string> unet_name_from_diffusers(std::string_view name, const UnetLayout& layout) {
  NameReader r(name);
  if (auto ldm = renamed(r, kUnetModules)) return ldm;

  // Each LDM level is layers_per_block (res block [+ attention]) entries then one sampler entry.
  const int per_level = layout.layers_per_block + 1;
  const int levels = int(layout.up_block_has_attention.size());

  if (r.take("down_blocks")) {
    auto i = r.index();
    if (!i || *i >= levels) return std::nullopt;
    const int first = per_level * *i + 1;  // input_blocks.0 is conv_in
    if (r.take("resnets")) {
      auto j = r.index();
      if (!j || *j >= layout.layers_per_block) return std::nullopt;
      return unet_resnet(at("input_blocks.", first + *j) + ".0", r);
    }
    if (r.take("attentions")) {
      auto j = r.index();
      if (!j || *j >= layout.layers_per_block) return std::nullopt;
      return at("input_blocks.", first + *j) + ".1." + r.rest();
    }
    if (r.take("downsamplers.0.conv") && *i + 1 < levels) return at("input_blocks.", per_level * (*i + 1)) + ".0.op." + r.rest();
    return std::nullopt;
  }

  if (r.take("mid_block")) {
    if (r.take("resnets")) {
      auto j = r.index();
      if (!j || *j > 1) return std::nullopt;
      return unet_resnet(at("middle_block.", 2 * *j), r);
    }
    if (r.take("attentions.0")) return "middle_block.1." + r.rest();
    return std::nullopt;
  }

  if (r.take("up_blocks")) {
    auto i = r.index();
    if (!i || *i >= levels) return std::nullopt;
    const int first = per_level * *i;
    if (r.take("resnets")) {
      auto j = r.index();
      if (!j || *j >= per_level) return std::nullopt;
      return unet_resnet(at("output_blocks.", first + *j) + ".0", r);
    }
    if (r.take("attentions")) {
      auto j = r.index();
      if (!j || *j >= per_level) return std::nullopt;
      return at("output_blocks.", first + *j) + ".1." + r.rest();
    }
    // The upsampler shares the level's last output block, after its attention if any.
    if (r.take("upsamplers.0.conv") && *i + 1 < levels)
      return at("output_blocks.", first + layout.layers_per_block) + (layout.up_block_has_attention[*i] ? ".2" : ".1") +
             ".conv." + r.rest();
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> vae_name_from_diffusers(std::string_view name, int levels) {
  NameReader r(name);
  if (auto ldm = renamed(r, kVaeModules)) return ldm;

  const bool encoder = r.take("encoder");
  if (!encoder && !r.take("decoder")) return std::nullopt;
  const std::string coder = encoder ? "encoder." : "decoder.";
  if (auto ldm = renamed(r, kVaeCoderModules)) return coder + *ldm;

  if (r.take("mid_block")) {
    if (r.take("resnets")) {
      auto j = r.index();
      if (!j || *j > 1) return std::nullopt;
      return vae_resnet(coder + at("mid.block_", *j + 1), r);
    }
    if (r.take("attentions.0")) {
      auto param = renamed(r, kVaeAttentionParams);
      if (!param) return std::nullopt;
      return coder + "mid.attn_1." + *param;
    }
    return std::nullopt;
  }

  if (!r.take(encoder ? "down_blocks" : "up_blocks")) return std::nullopt;
  auto i = r.index();
  if (!i || *i >= levels) return std::nullopt;
  // LDM numbers decoder levels from the highest resolution, diffusers from the latent.
  const std::string level = encoder ? coder + at("down.", *i) : coder + at("up.", levels - 1 - *i);
  if (r.take("resnets")) {
    auto j = r.index();
    if (!j) return std::nullopt;
    return vae_resnet(level + at(".block.", *j), r);
  }
  if (r.take(encoder ? "downsamplers.0.conv" : "upsamplers.0.conv") && *i + 1 < levels)
    return level + (encoder ? ".downsample.conv." : ".upsample.conv.") + r.rest();
  return std::nullopt;
}

TensorArchive unet_from_diffusers(TensorArchive&& unet, const UnetLayout& layout) {
  return renamed_archive(std::move(unet), "UNet",
                         [&](const std::string& name, StoredTensor&) { return unet_name_from_diffusers(name, layout); });
}

TensorArchive vae_from_diffusers(TensorArchive&& vae, int levels) {
  return renamed_archive(std::move(vae), "VAE", [&](const std::string& name, StoredTensor& tensor) {
    auto ldm = vae_name_from_diffusers(name, levels);
    // The only rank-2 tensors under attn_1 are the q/k/v/proj_out projections; the same bytes
    // read as LDM's 1x1 convolutions.
    if (ldm && ldm->find(".mid.attn_1.") != std::string::npos && tensor.shape.size() == 2) {
      tensor.shape.push_back(1);
      tensor.shape.push_back(1);
    }
    return ldm;
  });
}

}  // namespace diffuse
