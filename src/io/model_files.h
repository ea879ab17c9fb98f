#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/tensor_archive.h"

namespace diffuse {

// The component weights of a Stable Diffusion checkpoint under one canonical naming,
// whatever the layout the user brought (single .safetensors/.ckpt file, or diffusers folder):
//  - unet: the original (CompVis/LDM) names without "model.diffusion_model.":
//    "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight", "label_emb.0.0.weight", ...
//  - vae: LDM names without "first_stage_model.": "decoder.up.3.block.0.conv1.weight",
//    "encoder.mid.attn_1.q.weight", "quant_conv.weight", ...
//  - text_encoders: Hugging Face CLIPTextModel names: "text_model.encoder.layers.0.self_attn.q_proj.weight",
//    "text_model.final_layer_norm.weight", plus "text_projection.weight" ([proj, hidden], nn.Linear
//    convention) when the encoder has a projection. open_clip layouts (SD2, SDXL encoder 2) are
//    renamed into this, splitting the fused in_proj and transposing text_projection.
// Tensors keep their stored dtype and, where no conversion was needed, point into the mapped file.
struct ModelFiles {
  std::string source;  // the path the user gave
  TensorArchive unet;
  TensorArchive vae;
  std::vector<TensorArchive> text_encoders;  // 1 (SD1, SD2) or 2 (SDXL)
  // Diffusers folders only: the components' config.json and the scheduler's config.
  std::optional<nlohmann::json> unet_config, vae_config, scheduler_config;
  std::vector<nlohmann::json> text_encoder_configs;
  std::string tokenizer_dir;  // "<folder>/tokenizer" when present, for vocab.json + merges.txt
  size_t tensor_count = 0;    // tensors in the file(s), used or not
  size_t file_bytes = 0;
  std::vector<std::string> dtypes;  // distinct stored dtypes, e.g. {"F16", "I64"}
  std::map<std::string, std::string> metadata;  // a single .safetensors file's __metadata__
};

// Opens a model: a .safetensors or .ckpt single file (told apart by content, not extension),
// a diffusers folder (model_index.json + unet/ vae/ text_encoder/ [text_encoder_2/]), or a
// sharded diffusers component. Throws Error naming the file and the problem.
ModelFiles open_model(const std::string& path);

// One tensor file, .safetensors or .ckpt told apart by content, not extension: its tensors under
// their stored names. Throws Error naming the file and the problem.
TensorArchive load_tensor_file(const std::string& path);

// The model's tensors under single-file (CompVis/SGM) names, text encoders in Hugging Face names
// (for SDXL's second, conditioner.embedders.1.transformer.*): what save_safetensors writes for
// open_model to read back as the same model. The tensors view `m`'s bytes.
std::map<std::string, StoredTensor> single_file_tensors(const ModelFiles& m);

}  // namespace diffuse
