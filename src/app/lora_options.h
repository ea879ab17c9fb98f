#pragma once
// How `generate` learns which LoRAs to merge: <lora:NAME:M> tags in the prompt, looked up in
// --lora-model-dir (A1111's and stable-diffusion.cpp's way), and --lora FILE[:SCALE] flags.
#include <string>
#include <vector>

#include "io/generation_parameters.h"
#include "pipeline/lora_merge.h"

namespace diffuse::app {

struct LoraNaming {
  std::string name;        // as a prompt tag names it: the tag's NAME, or a --lora file's stem
  std::string short_hash;  // A1111's (io/lora.h: lora_short_hash)
};

struct PromptLoras {
  std::string prompt;           // what is encoded: the prompt with its tags cut out, as A1111 does
  std::string recorded_prompt;  // what the PNG records: the prompt as given, a tag added per --lora
  std::vector<LoraSpec> specs;  // tags first, in prompt order, then the flags
  std::vector<LoraNaming> names;
};

// Throws Error for a tag or flag that names no file, a bad multiplier, or a tag of another
// extra-network type (<hypernet:...>), which diffuse cannot apply.
PromptLoras prompt_loras(const std::string& prompt, const std::vector<std::string>& lora_flags,
                         const std::string& lora_model_dir);

// A1111's record of the LoRAs used: the prompt with its tags and "Lora hashes: NAME: HASH, ...".
void record_loras(GenerationParameters& p, const PromptLoras& loras);

}  // namespace diffuse::app
