#include "pipeline/family.h"

namespace diffuse {

// The settings every official Stable Diffusion scheduler_config.json shares, plus each family's own.
static nlohmann::json scheduler_config(const char* class_name, const nlohmann::json& own) {
  nlohmann::json config = {{"_class_name", class_name},
                           {"beta_start", 0.00085},
                           {"beta_end", 0.012},
                           {"beta_schedule", "scaled_linear"},
                           {"num_train_timesteps", 1000},
                           {"set_alpha_to_one", false},
                           {"skip_prk_steps", true},
                           {"steps_offset", 1},
                           {"clip_sample", false}};
  config.update(own);
  return config;
}

const FamilyDefaults& family_defaults(Family family) {
  // From runwayml/stable-diffusion-v1-5, stabilityai/stable-diffusion-2-1 and
  // stabilityai/stable-diffusion-xl-base-1.0 (the fixtures' config.json carry the same values).
  static const FamilyDefaults sd1{"sd1", scheduler_config("PNDMScheduler", nlohmann::json::object()), "pndm",
                                  0.18215f, 512, {49407, 49407}};
  static const FamilyDefaults sd2{"sd2", scheduler_config("DDIMScheduler", {{"prediction_type", "v_prediction"}}),
                                  "ddim", 0.18215f, 768, {0, 0}};
  static const FamilyDefaults sdxl{"sdxl",
                                   scheduler_config("EulerDiscreteScheduler", {{"interpolation_type", "linear"},
                                                                               {"prediction_type", "epsilon"},
                                                                               {"timestep_spacing", "leading"},
                                                                               {"use_karras_sigmas", false}}),
                                   "euler", 0.13025f, 1024, {49407, 0}};
  switch (family) {
    case Family::SD1: return sd1;
    case Family::SD2: return sd2;
    case Family::SDXL: return sdxl;
  }
  return sd1;
}

}  // namespace diffuse
