#include "pipeline/generation_record.h"

#include <charconv>

#include "pipeline/hires_fix.h"
#include "sampling/schedule.h"

namespace diffuse {

GenerationParameters generation_parameters(const GenerateOptions& o, int64_t seed, const std::string& model_name) {
  GenerationParameters p;
  p.prompt = o.prompt;
  p.negative_prompt = o.negative_prompt.value_or("");
  p.steps = o.steps;
  p.sampler = sampler_display_name(o.sampler);
  p.scheduler = o.karras ? "karras" : "";
  p.cfg_scale = o.cfg_scale;
  p.seed = seed;
  p.width = o.width;
  p.height = o.height;
  p.model = model_name;
  if (o.init_image) p.strength = o.strength;
  // A1111's hires keys: its "Denoising strength" is the second pass's, Size stays the first pass's, and
  // "Hires steps" is written only when set.
  if (o.hires) {
    p.strength = o.hires->denoise;
    char scale[32];
    p.extra.emplace_back("Hires upscale", std::string(scale, std::to_chars(scale, scale + sizeof scale, o.hires->scale).ptr));
    if (o.hires->steps > 0) p.extra.emplace_back("Hires steps", std::to_string(o.hires->steps));
    p.extra.emplace_back("Hires upscaler", hires_upscaler_name(o.hires->upscaler));
  }
  // A1111's inpainting keys, after its "Denoising strength".
  if (o.mask) {
    p.extra.emplace_back("Mask blur", std::to_string(o.mask_blur));
    if (o.invert_mask) p.extra.emplace_back("Mask mode", "Inpaint not masked");
  }
  // A1111's own keys: "Clip skip" when set, "Emphasis: None" when brackets were read as text.
  if (o.clip_skip > 0) p.extra.emplace_back("Clip skip", std::to_string(o.clip_skip));
  const auto bracketed = [](const std::string& text) { return text.find_first_of("([") != std::string::npos; };
  if (!o.prompt_weighting && (bracketed(p.prompt) || bracketed(p.negative_prompt))) p.extra.emplace_back("Emphasis", "None");
  p.extra.emplace_back("Version", "diffuse 0.1");
  return p;
}

}  // namespace diffuse
