#include "server/image_request.h"

#include <mutex>
#include <random>

#include "pipeline/inpaint.h"
#include "sampling/schedule.h"
#include "text/lora_tags.h"

namespace diffuse::server {

void validate(const ImageRequest& r, const ServerLimits& limits) {
  const GenerateOptions& o = r.options;
  for (auto [value, field] : {std::pair{o.width, "width"}, std::pair{o.height, "height"}})
    if (value < 8 || value % 8) throw RequestError(field, "must be a positive multiple of 8, got " + std::to_string(value));
  if (int64_t(o.width) * o.height > limits.max_pixels)
    throw RequestError("width", std::to_string(o.width) + "x" + std::to_string(o.height) + " is more than the " +
                                    std::to_string(limits.max_pixels) + " pixels this server allows (--max-pixels)");
  if (o.steps < 1 || o.steps > limits.max_steps)
    throw RequestError("steps", "must be between 1 and " + std::to_string(limits.max_steps) + ", got " + std::to_string(o.steps));
  if (r.batch_size < 1 || r.n_iter < 1 || int64_t(r.batch_size) * r.n_iter > limits.max_batch)  // 2^31 x 2^31 overflowed images()
    throw RequestError("batch_size", "a request makes 1 to " + std::to_string(limits.max_batch) + " images (batch_size x n_iter), got " +
                                         std::to_string(r.batch_size) + " x " + std::to_string(r.n_iter));
  if (o.karras && !sampler_supports_karras(o.sampler))
    throw RequestError("scheduler", "sampler \"" + sampler_display_name(o.sampler) +
                                        "\" has no Karras schedule; Karras works with Euler, Heun, DPM++ 2M and UniPC");
  if (!(o.cfg_scale >= 0.0 && o.cfg_scale <= 100.0))
    throw RequestError("cfg_scale", "must be between 0 and 100, got " + std::to_string(o.cfg_scale));
  if (r.img2img && !(o.strength > 0.0 && o.strength <= 1.0))
    throw RequestError("denoising_strength", "must be in (0, 1], got " + std::to_string(o.strength));
  if (o.mask_blur < 0 || o.mask_blur > kMaxMaskBlur)
    throw RequestError("mask_blur", "must be between 0 and " + std::to_string(kMaxMaskBlur) + ", got " + std::to_string(o.mask_blur));
  if (r.img2img && int(o.steps * o.strength) < 1)
    throw RequestError("denoising_strength", "leaves no step to run: steps x strength must be at least 1");
  // The prompts go into the PNG's parameters text, which cannot hold NUL: refused here, not as a
  // 500 once the images are made.
  if (o.prompt.find('\0') != std::string::npos) throw RequestError("prompt", "must not contain NUL characters");
  const std::string negative = o.negative_prompt.value_or("");
  for (const auto& [text, field] : {std::pair{&o.prompt, "prompt"}, std::pair{&negative, "negative_prompt"}})
    if (text->size() > kMaxPromptBytes)
      throw RequestError(field, "is " + std::to_string(text->size()) + " bytes, more than the " + std::to_string(kMaxPromptBytes) + " accepted");
  if (o.negative_prompt && o.negative_prompt->find('\0') != std::string::npos)
    throw RequestError("negative_prompt", "must not contain NUL characters");
  if (o.seed < 0 || o.seed > int64_t(0xFFFFFFFFFFFF))
    throw RequestError("seed", "must be -1 (random) or between 0 and 2^48, got " + std::to_string(o.seed));
}

void resolve_loras(ImageRequest& r, const std::string& lora_model_dir) {
  GenerateOptions& o = r.options;
  // Counted before any file is looked up or hashed.
  size_t tags = 0;
  auto count = [&tags](const std::string& text, const char* field) {
    try {
      tags += extract_lora_tags(text).loras.size();
    } catch (const Error& e) {
      throw RequestError(field, e.what());
    }
    if (tags > kMaxLoraTags) throw RequestError(field, "a request may use at most " + std::to_string(kMaxLoraTags) + " LoRA tags");
  };
  count(o.prompt, "prompt");
  if (o.negative_prompt) count(*o.negative_prompt, "negative_prompt");
  try {
    r.loras = prompt_loras(o.prompt, {}, lora_model_dir);
  } catch (const Error& e) {
    throw RequestError("prompt", e.what());
  }
  try {
    if (o.negative_prompt) add_negative_loras(r.loras, *o.negative_prompt, lora_model_dir);
  } catch (const Error& e) {
    throw RequestError("negative_prompt", e.what());
  }
  o.prompt = r.loras.prompt;
  o.negative_prompt = r.loras.negative_prompt;
}

SamplerChoice parse_sampler(const std::string& name, const std::string& field) {
  try {
    return resolve_sampler(name);
  } catch (const Error& e) {
    throw RequestError(field, e.what());
  }
}

bool parse_karras_scheduler(const std::string& name, const std::string& field) {
  if (name.empty()) return false;
  try {
    return resolve_scheduler(name) == SigmaSchedule::Karras;
  } catch (const Error& e) {
    throw RequestError(field, e.what());
  }
}

int64_t random_seed() {
  static std::mt19937_64 engine{std::random_device{}()};
  static std::mutex mutex;
  const std::lock_guard lock(mutex);
  return int64_t(engine() % 4294967294u);
}

}  // namespace diffuse::server
