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
// Called with the latents each model call's scheduler step produced and that call's index in
// schedule.model_timesteps(); what it returns replaces them, as diffusers' inpainting pipeline
// replaces `latents` after scheduler.step (the known region blended back in).
using StepHook = std::function<Tensor(Tensor x, int call)>;

// Runs the sampler from step `start` (img2img: steps - int(steps * strength); 0 for txt2img)
// to the end and returns the final latents. `latents`: the initial noise times
// schedule.init_noise_sigma, or add_noise's result. Stochastic samplers (euler_a, lcm) and
// euler (which draws churn noise it does not use) draw from `gen` exactly when diffusers does.
Tensor sample(const Schedule& schedule, const ModelFn& model, const Tensor& latents, TorchGenerator& gen, int start = 0,
              const StepCallback& callback = {}, const StepHook& after_step = {});

// img2img: the clean latents noised to the first timestep that `start` keeps, with the
// forward process of the schedule's diffusers class.
Tensor add_noise(const Schedule& schedule, const Tensor& x0, const Tensor& noise, int start);

// x0 noised to the level of model call `call` (an index into schedule.model_timesteps()), with
// the scheduler class's add_noise as diffusers 0.27.2 calls it mid-sampling: DDPM's forward process
// at that call's timestep (DDIM, PNDM, LCM), or the sigma at the scheduler's step index after
// `call` steps (sigma samplers, whose add_noise reads step_index once begin_index is set; Heun's
// sigmas repeat per call). Inpainting re-noises the known region with it after every step.
Tensor add_noise_at_call(const Schedule& schedule, const Tensor& x0, const Tensor& noise, int call);

// The clean latents the model's output predicts, for a preview: `model_in` is what the model was
// given at timestep t (unit variance for every sampler: alpha x0 + sigma eps), alpha_cumprod
// interpolated between integer timesteps for the k-diffusion samplers' fractional ones.
Tensor predicted_x0(const Schedule& schedule, const Tensor& model_out, const Tensor& model_in, double t);

}  // namespace diffuse
