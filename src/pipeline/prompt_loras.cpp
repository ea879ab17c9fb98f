#include "pipeline/prompt_loras.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/lora.h"
#include "text/lora_tags.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;

// stable-diffusion.cpp looks for NAME.safetensors then NAME.ckpt; A1111 also reads .pt.
std::string find_lora(const LoraTag& tag, const std::string& dir) {
  const std::string& name = tag.name;
  if (dir.empty())
    throw Error(lora_tag_text(tag) + ": LoRA tags need a LoRA folder, and none is set (--lora-model-dir)");
  if (name.find_first_of("/\\") != std::string::npos || name == "." || name == "..")
    throw Error("<lora:" + name + ">: a LoRA name is a file name in --lora-model-dir, not a path");
  for (const char* extension : {".safetensors", ".ckpt", ".pt"}) {
    const fs::path path = fs::path(dir) / (name + extension);
    if (fs::is_regular_file(path)) return path.string();
  }
  throw Error("<lora:" + name + ">: no " + name + ".safetensors, .ckpt or .pt in " + dir + " (--lora-model-dir)");
}

// FILE or FILE:SCALE; a file whose name holds ':' takes an explicit scale after it.
LoraSpec flag_spec(const std::string& flag) {
  const size_t colon = flag.rfind(':');
  if (colon != std::string::npos) {
    const std::string_view tail = std::string_view(flag).substr(colon + 1);
    double scale = 0;
    const auto [end, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), scale);
    if (ec == std::errc() && end == tail.data() + tail.size() && !tail.empty()) {
      if (!std::isfinite(scale)) throw Error("--lora " + flag + ": the scale is not a finite number");
      return {flag.substr(0, colon), scale, scale};
    }
  }
  return {flag, 1.0, 1.0};
}

// The prompt without its tags, their LoRAs appended to `out`.
std::string take_tags(const std::string& prompt, const std::string& dir, PromptLoras& out) {
  const PromptTags tags = extract_lora_tags(prompt);
  if (!tags.other_tags.empty())
    throw Error("prompt tag " + tags.other_tags.front() + " is not supported: diffuse applies <lora:...> tags only");
  for (const LoraTag& tag : tags.loras) {
    out.specs.push_back({find_lora(tag, dir), tag.text_scale, tag.unet_scale});
    out.names.push_back({tag.name, lora_short_hash(out.specs.back().path)});
  }
  return tags.prompt;
}

}  // namespace

PromptLoras prompt_loras(const std::string& prompt, const std::vector<std::string>& lora_flags,
                         const std::string& lora_model_dir) {
  PromptLoras out;
  out.prompt = take_tags(prompt, lora_model_dir, out);
  out.recorded_prompt = prompt;
  for (const std::string& flag : lora_flags) {
    LoraSpec spec = flag_spec(flag);
    if (!fs::is_regular_file(spec.path)) throw Error("--lora " + flag + ": no such file");
    const LoraTag tag{fs::path(spec.path).stem().string(), spec.text_scale, spec.unet_scale};
    out.recorded_prompt += (out.recorded_prompt.empty() ? "" : " ") + lora_tag_text(tag);
    out.names.push_back({tag.name, lora_short_hash(spec.path)});
    out.specs.push_back(std::move(spec));
  }
  return out;
}

void add_negative_loras(PromptLoras& loras, const std::string& negative_prompt, const std::string& lora_model_dir) {
  loras.negative_prompt = take_tags(negative_prompt, lora_model_dir, loras);
  loras.recorded_negative_prompt = negative_prompt;
}

void record_loras(GenerationParameters& p, const PromptLoras& loras) {
  if (loras.specs.empty()) return;
  p.prompt = loras.recorded_prompt;
  if (loras.recorded_negative_prompt) p.negative_prompt = *loras.recorded_negative_prompt;
  // extra_networks_lora.py: "alias: hash" per LoRA, the alias without ':' and ','.
  std::string hashes;
  for (const LoraNaming& n : loras.names) {
    std::string alias;
    for (char c : n.name)
      if (c != ':' && c != ',') alias += c;
    hashes += (hashes.empty() ? "" : ", ") + alias + ": " + n.short_hash;
  }
  // A1111 writes its Version last, after the extensions' fields.
  const auto version = std::ranges::find_if(p.extra, [](const auto& field) { return field.first == "Version"; });
  p.extra.emplace(version, "Lora hashes", hashes);
}

}  // namespace diffuse
