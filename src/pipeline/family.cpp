#include "pipeline/family.h"

namespace diffuse {

const FamilyDefaults& family_defaults(Family family) {
  // The scheduler_config.json of runwayml/stable-diffusion-v1-5, stabilityai/stable-diffusion-2-1 and
  // stabilityai/stable-diffusion-xl-base-1.0 (the fixtures' config.json carry the same values).
  static const FamilyDefaults sd1{"sd1",
                                  {{"_class_name", "PNDMScheduler"},
                                   {"beta_start", 0.00085},
                                   {"beta_end", 0.012},
                                   {"beta_schedule", "scaled_linear"},
                                   {"num_train_timesteps", 1000},
                                   {"set_alpha_to_one", false},
                                   {"skip_prk_steps", true},
                                   {"steps_offset", 1},
                                   {"clip_sample", false}},
                                  "pndm",
                                  0.18215f,
                                  512,
                                  {49407, 49407}};
  static const FamilyDefaults sd2{"sd2",
                                  {{"_class_name", "DDIMScheduler"},
                                   {"beta_start", 0.00085},
                                   {"beta_end", 0.012},
                                   {"beta_schedule", "scaled_linear"},
                                   {"num_train_timesteps", 1000},
                                   {"set_alpha_to_one", false},
                                   {"skip_prk_steps", true},
                                   {"steps_offset", 1},
                                   {"clip_sample", false},
                                   {"prediction_type", "v_prediction"}},
                                  "ddim",
                                  0.18215f,
                                  768,
                                  {0, 0}};
  static const FamilyDefaults sdxl{"sdxl",
                                   {{"_class_name", "EulerDiscreteScheduler"},
                                    {"beta_start", 0.00085},
                                    {"beta_end", 0.012},
                                    {"beta_schedule", "scaled_linear"},
                                    {"num_train_timesteps", 1000},
                                    {"interpolation_type", "linear"},
                                    {"prediction_type", "epsilon"},
                                    {"sample_max_value", 1.0},
                                    {"set_alpha_to_one", false},
                                    {"skip_prk_steps", true},
                                    {"steps_offset", 1},
                                    {"timestep_spacing", "leading"},
                                    {"clip_sample", false},
                                    {"use_karras_sigmas", false}},
                                   "euler",
                                   0.13025f,
                                   1024,
                                   {49407, 0}};
  switch (family) {
    case Family::SD1: return sd1;
    case Family::SD2: return sd2;
    case Family::SDXL: return sdxl;
  }
  return sd1;
}

}  // namespace diffuse
