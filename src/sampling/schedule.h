#pragma once
// Noise schedules as diffusers 0.27.2 computes them: the training betas / alphas_cumprod, the
// inference timesteps of each scheduler class (its own timestep_spacing default unless the
// family's scheduler config sets one), the sigmas, and Karras et al. (2022)'s rho-7 sigmas.
// Everything the sampler loops need is computed here once; the loops are in samplers.h.
//
// Precision follows the reference: what diffusers keeps in float32 torch tensors
// (alphas_cumprod, sigmas) is float here, what it computes with numpy in float64
// (timestep spacing, sigma interpolation, Karras) is double and rounded to float where
// diffusers casts.
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sampling/sampler_names.h"

namespace diffuse {

enum class Prediction { Epsilon, V };

// The family's scheduler config (a diffusers scheduler_config.json). Every sampler is built
// from it the way diffusers' `Scheduler.from_config(config)` does.
struct SchedulerConfig {
  double beta_start = 0.00085, beta_end = 0.012;
  std::string beta_schedule = "scaled_linear";  // or "linear"
  int num_train_timesteps = 1000, steps_offset = 1;
  bool set_alpha_to_one = false;
  // "linspace", "leading" or "trailing"; unset = each sampler's own diffusers default.
  std::optional<std::string> timestep_spacing;
  Prediction prediction = Prediction::Epsilon;

  // Missing keys keep the defaults above (Stable Diffusion's values). Throws Error for values
  // this engine does not implement (another beta schedule or prediction type, trained_betas).
  static SchedulerConfig from_json(const nlohmann::json& config);
};

struct SamplerOptions {
  std::string sampler;  // one of sampler_names()
  bool karras = false;  // use_karras_sigmas: euler, heun, dpmpp_2m, unipc
  int steps = 20;
};

// Everything a sampler loop needs, computed once by make_schedule.
struct Schedule {
  SamplerKind kind{};
  Prediction prediction{};
  int steps = 0;
  // One per step, as diffusers' scheduler.timesteps before any per-step repetition: the
  // timestep the UNet sees. Float32 values (fractional for euler/heun linspace and Karras).
  std::vector<double> timesteps;
  // Sigma-based samplers (euler, euler_a, heun, dpmpp_2m, unipc): steps + 1 noise levels,
  // sigma = sqrt((1 - alpha_cumprod) / alpha_cumprod), the last one the level sampling ends at.
  // Empty for ddim, pndm and lcm, which index alphas_cumprod by timestep instead.
  std::vector<float> sigmas;
  std::vector<float> alphas_cumprod;  // the training schedule, num_train_timesteps entries
  float final_alpha_cumprod = 1.0f;   // alpha_cumprod "before" timestep 0 (set_alpha_to_one)
  int step_ratio = 0;                 // num_train_timesteps / steps: ddim's and pndm's step back
  float init_noise_sigma = 1.0f;      // the pipeline scales the initial noise by this

  // UNet calls per step as diffusers' img2img counts them (scheduler.order): 2 for heun.
  int order() const { return kind == SamplerKind::Heun ? 2 : 1; }
  // The timestep of every UNet call, in order, as diffusers' scheduler.timesteps lists them:
  // pndm (PLMS) evaluates the second timestep twice, heun every timestep after the first.
  std::vector<double> model_timesteps() const;
};

// Throws Error for an unknown sampler (naming the valid ones), steps < 1 or beyond what the
// sampler supports, and Karras sigmas where diffusers 0.27.2 has no use_karras_sigmas.
Schedule make_schedule(const SchedulerConfig& config, const SamplerOptions& options);

}  // namespace diffuse
