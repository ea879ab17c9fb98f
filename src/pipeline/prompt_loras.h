#pragma once
// Which LoRAs a generation merges: <lora:NAME:M> tags in the prompts, looked up in a LoRA folder
// (A1111's and stable-diffusion.cpp's way), and --lora FILE[:SCALE] flags. `generate` and `serve`
// both read them here, so that a tag means the same model and the same record in either.
#include <optional>
#include <string>
#include <vector>

#include "io/generation_parameters.h"
#include "pipeline/lora_merge.h"

namespace diffuse {

struct LoraNaming {
  std::string name;        // as a prompt tag names it: the tag's NAME, or a --lora file's stem
  std::string short_hash;  // A1111's (io/lora.h: lora_short_hash)
};

struct PromptLoras {
  std::string prompt;           // what is encoded: the prompt with its tags cut out, as A1111 does
  std::string recorded_prompt;  // what the PNG records: the prompt as given, a tag added per --lora
  // The same for the negative prompt, when one was given (add_negative_loras).
  std::optional<std::string> negative_prompt, recorded_negative_prompt;
  std::vector<LoraSpec> specs;  // the prompt's tags, in prompt order, then the flags, then the negative prompt's tags
  std::vector<LoraNaming> names;
};

// Throws Error for a tag or flag that names no file, a bad multiplier, a tag of another
// extra-network type (<hypernet:...>), which diffuse cannot apply, or any LoRA tag when
// `lora_model_dir` is empty (no folder to look in: a server started without --lora-model-dir).
PromptLoras prompt_loras(const std::string& prompt, const std::vector<std::string>& lora_flags,
                         const std::string& lora_model_dir);

// Cuts the negative prompt's tags out as well and adds their LoRAs: a LoRA changes the model both
// prompts are encoded with, so a tag there is as much a request for it as one in the prompt (and
// left in, it would be encoded as literal text). Throws as prompt_loras does.
void add_negative_loras(PromptLoras& loras, const std::string& negative_prompt, const std::string& lora_model_dir);

// A1111's record of the LoRAs used: the prompts with their tags and "Lora hashes: NAME: HASH, ...".
void record_loras(GenerationParameters& p, const PromptLoras& loras);

}  // namespace diffuse
