#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "pipeline/generate.h"
#include "pipeline/prompt_loras.h"

namespace diffuse::server {

// What one request may ask of the machine; `diffuse serve` flags set them.
struct ServerLimits {
  int64_t max_pixels = 1024 * 1024;  // width x height of one image
  int max_steps = 150;
  int max_batch = 8;  // images in one request (A1111's batch_size x n_iter, OpenAI's n)
  int queue_size = 16;  // requests waiting behind the running one
  size_t max_body_bytes = size_t(32) << 20;
};

// The settings a request gets when it leaves a field out: the model's suited ones.
struct RequestDefaults {
  int width = 512, height = 512, steps = 20;
  double cfg_scale = 7.0;
  std::string sampler;  // diffuse's name, e.g. "pndm"
};

// A request of either API once parsed: the options the CLI fills, and how many images.
struct ImageRequest {
  GenerateOptions options;  // options.seed is the first image's; image i uses seed + i
  // The prompts' <lora:...> tags (resolve_loras): options holds the prompts without them, as
  // encoded; loras.recorded_prompt and recorded_negative_prompt hold them as the client wrote them,
  // which answers and PNGs repeat.
  PromptLoras loras;
  int batch_size = 1, n_iter = 1;
  bool img2img = false;  // options.init_image follows once the request is valid
  int images() const { return batch_size * n_iter; }
};

// A request the server will not run: `field` names the part at fault ("" for the whole body),
// `status` the HTTP status that says so (400; 413 too large; 415 not JSON; 503 busy, with
// `retry_after` seconds).
struct RequestError : Error {
  RequestError(std::string field, const std::string& message, int status = 400)
      : Error(field.empty() ? message : field + ": " + message), field(std::move(field)), status(status) {}
  std::string field;
  int status;
  int retry_after = 0;
};

// The largest image an upload may hold: a few times the output limit, since it is resized to
// the output size, and a bound on the memory its decode takes.
inline int64_t max_upload_pixels(const ServerLimits& limits) { return 4 * limits.max_pixels; }

// The longest prompt accepted: far beyond what the text encoder reads (77 tokens), short of
// what would make every answer (which repeats the prompt per image) balloon.
inline constexpr size_t kMaxPromptBytes = 16 << 10;

// Throws RequestError unless the request fits the limits and the pipeline's rules (sizes
// multiples of 8, steps and images in range, an img2img strength in (0, 1], a mask blur in
// [0, kMaxMaskBlur]).
void validate(const ImageRequest& request, const ServerLimits& limits);

// The most LoRA tags one request may carry: each is hashed at request time and merged at load, and
// a 16 KiB prompt holds some 1,500 of them.
inline constexpr size_t kMaxLoraTags = 32;

// Cuts the <lora:NAME:M> tags out of the prompt and negative prompt into request.loras, their files
// found in `lora_model_dir` ("" when the server has none), as `generate` does: RequestError
// naming the prompt for a tag that names no file, a bad multiplier, another kind of tag, any
// LoRA tag when there is no folder, or more than kMaxLoraTags. Run before queueing, so a mistake
// costs no job.
void resolve_loras(ImageRequest& request, const std::string& lora_model_dir);

// A sampler by any name of sampling/sampler_names.h's table, case-insensitively: A1111's ("Euler a",
// "DPM++ 2M Karras", "k_euler_a"), sd.cpp's ("dpm++2m") and diffuse's ("euler_a"). RequestError
// naming `field` for others.
SamplerChoice parse_sampler(const std::string& name, const std::string& field);

// Whether a scheduler name ("" and A1111's "Automatic": the sampler's own) means Karras sigmas;
// names of the same table.
bool parse_karras_scheduler(const std::string& name, const std::string& field);

// A random seed as A1111 draws one for -1: below 2^32.
int64_t random_seed();

}  // namespace diffuse::server
