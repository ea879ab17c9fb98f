#include "pipeline/generation_record.h"

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
  p.extra = {{"Version", "diffuse 0.1"}};
  return p;
}

}  // namespace diffuse
