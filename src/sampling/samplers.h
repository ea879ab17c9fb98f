#pragma once
// The sampler loops, diffusers 0.27.2's schedulers as small functions over a Schedule (in the
// manner of k-diffusion's sampling.py). Each follows its diffusers file step for step,
// including the float32 order of operations and every draw from the generator, so that a
// seed gives the same latents as diffusers with a CPU torch.Generator.
#include <functional>

#include "core/tensor.h"
#include "sampling/schedule.h"
#include "sampling/torch_generator.h"

namespace diffuse {

// The denoiser as a sampler sees it: the UNet's output (epsilon or v, classifier-free guidance
// already applied) for latents x at timestep t. Samplers apply diffusers' scale_model_input
// (x / sqrt(sigma^2 + 1) for euler, euler_a, heun) before calling it.
using ModelFn = std::function<Tensor(const Tensor& x, double t)>;
// Called after every model call: done calls out of total.
using StepCallback = std::function<void(int done, int total)>;

// Runs the sampler from step `start` (img2img: steps - int(steps * strength); 0 for txt2img)
// to the end and returns the final latents. `latents`: the initial noise times
// schedule.init_noise_sigma, or add_noise's result. Stochastic samplers (euler_a, lcm) and
// euler (which draws churn noise it does not use) draw from `gen` exactly when diffusers does.
Tensor sample(const Schedule& schedule, const ModelFn& model, const Tensor& latents, TorchGenerator& gen, int start = 0,
              const StepCallback& callback = {});

// img2img: the clean latents noised to the first timestep that `start` keeps, with the
// forward process of the schedule's diffusers class.
Tensor add_noise(const Schedule& schedule, const Tensor& x0, const Tensor& noise, int start);

// The clean latents the model's output predicts, for a preview: `model_in` is what the model was
// given at timestep t (unit variance for every sampler: alpha x0 + sigma eps), alpha_cumprod
// interpolated between integer timesteps for the k-diffusion samplers' fractional ones.
Tensor predicted_x0(const Schedule& schedule, const Tensor& model_out, const Tensor& model_in, double t);

}  // namespace diffuse
