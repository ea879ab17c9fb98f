#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace diffuse {

// The generation settings of an image in AUTOMATIC1111's "parameters" text, the format
// other tools (web UIs, image browsers, civitai) read back from a PNG.
// Every member has an initializer so that designated initializers naming only some of them
// compile without g++ 12's -Wmissing-field-initializers.
struct GenerationParameters {
  std::string prompt{}, negative_prompt{};
  std::string sampler{};    // A1111's display name, e.g. "Euler a", stored as given
  std::string scheduler{};  // "" (the sampler's default) or "karras"
  std::string model{};
  int steps = 0;
  double cfg_scale = 0;
  int64_t seed = 0;
  int width = 0, height = 0;
  std::optional<double> strength{};  // img2img "Denoising strength"
  // Further "Key: value" pairs, in order, e.g. {"Version", "diffuse 0.1"}.
  std::vector<std::pair<std::string, std::string>> extra{};
};

// "prompt\nNegative prompt: neg\nSteps: 20, Sampler: Euler a, Schedule type: Karras,
// CFG scale: 7.5, Seed: 42, Size: 512x512, Model: name, Denoising strength: 0.6, <extra>"
// as A1111 writes it: the Negative prompt line only when there is one, Sampler and Model
// only when set, Schedule type only for a non-default scheduler, values containing ',', ':'
// or a newline as JSON strings. Numbers use the shortest text that reads back exactly.
// Throws Error for an extra key A1111's parser could not read back.
std::string format_parameters(const GenerationParameters& p);

// The inverse, following A1111's own parser: the last line holds the "Key: value" pairs
// when it has at least three of them; earlier lines are the prompt up to a line starting
// "Negative prompt:", the negative prompt after it. Unknown keys are kept in `extra`; JSON
// quoted values are unquoted. An old-style "Sampler: DPM++ 2M Karras" with no Schedule type
// reads as sampler "DPM++ 2M", scheduler "karras". Throws Error for a known key whose value
// is not what it must be (e.g. "Steps: many").
GenerationParameters parse_parameters(const std::string& text);

}  // namespace diffuse
