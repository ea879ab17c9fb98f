// <lora:NAME:M> tags on arbitrary prompts. Beyond not crashing: multipliers are finite, names are
// not empty, the prompt left over is no longer than the prompt, and lora_tag_text writes each tag
// back as text that extracts to the same tag and nothing else.
#include <cmath>

#include "fuzz_input.h"
#include "text/lora_tags.h"

using namespace diffuse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PromptTags tags;
  try {
    tags = extract_lora_tags(fuzz::text(data, size));
  } catch (const Error& e) {
    fuzz::check_refusal(e);
    return 0;
  }
  FUZZ_CHECK(tags.prompt.size() <= size);
  for (const std::string& other : tags.other_tags) FUZZ_CHECK(other.front() == '<' && other.back() == '>');
  for (const LoraTag& tag : tags.loras) {
    FUZZ_CHECK(!tag.name.empty() && std::isfinite(tag.text_scale) && std::isfinite(tag.unet_scale));
    const PromptTags again = extract_lora_tags(lora_tag_text(tag));
    FUZZ_CHECK(again.prompt.empty() && again.other_tags.empty() && again.loras.size() == 1 && again.loras[0] == tag);
  }
  return 0;
}
