#pragma once
// AUTOMATIC1111's extra-network tags, "<lora:NAME:0.8>", read the way its modules/extra_networks.py
// (parse_prompt, ExtraNetworkParams) and extensions-builtin/Lora/extra_networks_lora.py read them,
// which is also stable-diffusion.cpp's syntax:
//   <TYPE:ARG:ARG...>   any `\w+` type, arguments split at ':'; "key=value" arguments are named
//   <lora:NAME>             multiplier 1
//   <lora:NAME:M>           M for the text encoders and the UNet alike
//   <lora:NAME:TE:UNET>     separate multipliers, as are te=M and unet=M
// Every tag is cut out of the prompt, each replaced by nothing (A1111's re.sub), before the
// prompt is parsed for weights and encoded.
#include <string>
#include <string_view>
#include <vector>

namespace diffuse {

struct LoraTag {
  std::string name;  // the LoRA file's name without its extension, as the prompt spells it
  double text_scale = 1, unet_scale = 1;
  bool operator==(const LoraTag&) const = default;
};

struct PromptTags {
  std::string prompt;                    // the prompt without any tag
  std::vector<LoraTag> loras;            // in the order they appear
  std::vector<std::string> other_tags;   // tags of other types ("<hypernet:x:1>"), as written
};

// Throws Error for a LoRA tag whose multiplier is not a finite number or that has arguments
// A1111 would not read (a fourth positional one, dyn=, or another name).
PromptTags extract_lora_tags(std::string_view prompt);

// The tag that reproduces a LoRA in A1111: "<lora:NAME:M>", or "<lora:NAME:TE:UNET>" when the two differ.
std::string lora_tag_text(const LoraTag& tag);

}  // namespace diffuse
