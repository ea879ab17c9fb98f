#include "io/open_clip_names.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>

#include "core/error.h"

namespace diffuse {
namespace {

struct Rename {
  std::string_view from, to;
};

constexpr Rename kTopLevel[] = {
    {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
    {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
    {"ln_final.weight", "text_model.final_layer_norm.weight"},
    {"ln_final.bias", "text_model.final_layer_norm.bias"},
};
constexpr std::string_view kNotTextWeights[] = {"logit_scale", "attn_mask"};

// Module renames inside transformer.resblocks.{i}; the parameter name after them is kept.
constexpr Rename kLayerModules[] = {
    {"ln_1.", "layer_norm1."},
    {"ln_2.", "layer_norm2."},
    {"mlp.c_fc.", "mlp.fc1."},
    {"mlp.c_proj.", "mlp.fc2."},
    {"attn.out_proj.", "self_attn.out_proj."},
};
// nn.MultiheadAttention's fused q/k/v projection, by the parameter it becomes.
constexpr Rename kFusedProjections[] = {{"attn.in_proj_weight", "weight"}, {"attn.in_proj_bias", "bias"}};

constexpr std::string_view kResblocks = "transformer.resblocks.";

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// "transformer.resblocks.7.ln_1.weight" -> {"7", "ln_1.weight"}.
struct LayerName {
  std::string_view index, rest;
};
std::optional<LayerName> layer_name(std::string_view name) {
  if (!name.starts_with(kResblocks)) return std::nullopt;
  name.remove_prefix(kResblocks.size());
  size_t digits = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') ++digits;
  if (digits == 0 || digits >= name.size() || name[digits] != '.') return std::nullopt;
  return LayerName{name.substr(0, digits), name.substr(digits + 1)};
}

class Converter {
 public:
  explicit Converter(TensorArchive&& in) : in_(std::move(in)) {
    out_.source = in_.source;
    out_.backing = std::move(in_.backing);
  }

  TensorArchive run() && {
    for (const auto& [name, tensor] : in_.tensors) convert(name, tensor);
    return std::move(out_);
  }

 private:
  void convert(const std::string& name, const StoredTensor& tensor) {
    if (std::ranges::find(kNotTextWeights, name) != std::end(kNotTextWeights)) return;
    if (name == "text_projection") return add("text_projection.weight", transposed(name, tensor), name);
    for (const auto& [from, to] : kTopLevel)
      if (name == from) return add(std::string(to), tensor, name);
    if (auto layer = layer_name(name)) {
      const std::string hf_layer = "text_model.encoder.layers." + std::string(layer->index) + ".";
      for (const auto& [from, param] : kFusedProjections)
        if (layer->rest == from) return split_qkv(name, tensor, hf_layer + "self_attn.", param);
      for (const auto& [from, to] : kLayerModules)
        if (layer->rest.starts_with(from))
          return add(hf_layer + std::string(to) + std::string(layer->rest.substr(from.size())), tensor, name);
    }
    throw Error(in_.source + ": open_clip tensor '" + name + "' has no CLIP text model equivalent");
  }

  void add(const std::string& hf_name, const StoredTensor& tensor, const std::string& from) {
    if (!out_.tensors.emplace(hf_name, tensor).second)
      throw Error(in_.source + ": two tensors map to '" + hf_name + "' (the last is '" + from + "')");
  }

  // Rows [0, C), [C, 2C), [2C, 3C) of a row-major [3C, ...] tensor are q, k, v: three
  // contiguous byte ranges, so each is a view of the fused bytes.
  void split_qkv(const std::string& name, const StoredTensor& fused, const std::string& hf_prefix,
                 std::string_view param) {
    if (fused.shape.empty() || fused.shape[0] == 0 || fused.shape[0] % 3 != 0)
      throw Error(in_.source + ": '" + name + "' has shape " + shape_string(fused.shape) +
                  "; expected 3*C rows (q, k, v)");
    const size_t part_bytes = fused.nbytes / 3;
    for (int k = 0; k < 3; ++k) {
      StoredTensor part = fused;
      part.shape[0] /= 3;
      part.data = fused.data + k * part_bytes;
      part.nbytes = part_bytes;
      add(hf_prefix + "qkv"[k] + "_proj." + std::string(param), part, name);
    }
  }

  StoredTensor transposed(const std::string& name, const StoredTensor& m) {
    if (m.shape.size() != 2)
      throw Error(in_.source + ": '" + name + "' has shape " + shape_string(m.shape) + "; expected [hidden, proj]");
    const size_t rows = size_t(m.shape[0]), cols = size_t(m.shape[1]), elem = dtype_size(m.dtype);
    auto buffer = std::make_shared<std::vector<std::byte>>(m.nbytes);
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c)
        std::memcpy(buffer->data() + (c * rows + r) * elem, m.data + (r * cols + c) * elem, elem);
    out_.backing.push_back(buffer);
    return StoredTensor{m.dtype, {m.shape[1], m.shape[0]}, buffer->data(), m.nbytes};
  }

  TensorArchive in_;
  TensorArchive out_;
};

}  // namespace

TensorArchive text_encoder_from_open_clip(TensorArchive&& open_clip) {
  return Converter(std::move(open_clip)).run();
}

}  // namespace diffuse
