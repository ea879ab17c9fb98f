#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace diffuse {

enum class Family { SD1, SD2, SDXL };

// What a family is when a single file says nothing more: the scheduler config the reference
// pipeline ships with (diffusers' scheduler_config.json of the official repos), the default
// sampler that config implies, the VAE scaling factor, the native size.
struct FamilyDefaults {
  std::string_view name;  // "sd1", "sd2", "sdxl"
  nlohmann::json scheduler_config;
  std::string default_sampler;
  float vae_scaling_factor;
  int native_size;
  int text_pad_ids[2];  // per text encoder: 49407 (OpenAI CLIP tokenizer) or 0 (OpenCLIP)
};

const FamilyDefaults& family_defaults(Family family);

}  // namespace diffuse
