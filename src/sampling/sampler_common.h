#pragma once
// What the sampler loops share (internal to src/sampling): the model wrapper that counts calls,
// elementwise float32 arithmetic, and the conversions between the model's output, the noise and
// the predicted clean latents. Scalars are float and every expression keeps diffusers' order of
// operations, so results round as torch's float32 ones do.
#include <cmath>
#include <cstdint>

#include "sampling/samplers.h"

namespace diffuse::sampling {

// The model as the loops call it: checks the output's shape and reports progress. Each loop
// passes the latents its step made from the last call through stepped(), the caller's StepHook.
class Denoiser {
 public:
  Denoiser(const ModelFn& model, const StepCallback& callback, int total_calls, int first_call,
           const StepHook& after_step)
      : model_(model), callback_(callback), after_step_(after_step), total_(total_calls), first_call_(first_call) {}
  Tensor operator()(const Tensor& x, double t);
  Tensor stepped(Tensor x) const { return after_step_ ? after_step_(std::move(x), first_call_ + done_ - 1) : x; }

 private:
  const ModelFn& model_;
  const StepCallback& callback_;
  const StepHook& after_step_;
  int total_, first_call_, done_ = 0;
};

// A new tensor of `shape` with element i = f(i).
template <class F>
Tensor elementwise(const Shape& shape, F f) {
  Tensor out(shape);
  float* o = out.data();
  const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) o[i] = f(i);
  return out;
}

Tensor randn_like(const Tensor& x, TorchGenerator& gen);

// Variance-preserving view of a noise level, x_t = alpha x_0 + sigma eps: DDPM's
// alpha = sqrt(alpha_cumprod), sigma = sqrt(1 - alpha_cumprod), or, from a k-diffusion sigma s,
// alpha = 1 / sqrt(s^2 + 1), sigma = s alpha, with log-SNR lambda = log alpha - log sigma
// (DPMSolverMultistepScheduler._sigma_to_alpha_sigma_t).
struct VpLevel {
  float alpha, sigma;
  float lambda() const { return std::log(alpha) - std::log(sigma); }
};
inline VpLevel vp_from_alpha_cumprod(float alpha_cumprod) {
  return {std::sqrt(alpha_cumprod), std::sqrt(1.0f - alpha_cumprod)};
}
inline VpLevel vp_from_sigma(float k_sigma) {
  const float alpha = 1.0f / std::sqrt(k_sigma * k_sigma + 1.0f);
  return {alpha, k_sigma * alpha};
}

// Predicted x_0 and epsilon from the model output at level `at` of sample x
// (epsilon: x0 = (x - sigma eps) / alpha; v = alpha eps - sigma x0, Salimans & Ho 2022).
Tensor vp_x0(Prediction p, const Tensor& out, const Tensor& x, VpLevel at);
Tensor vp_eps(Prediction p, const Tensor& out, const Tensor& x, VpLevel at);
// The same in k-diffusion's scaling x = x0 + sigma eps, where the model saw x / sqrt(sigma^2 + 1).
Tensor k_x0(Prediction p, const Tensor& out, const Tensor& x, float sigma);

// One function per sampler; `start` is the first step (for pndm the first model call).
Tensor sample_ddim(const Schedule& s, Denoiser& model, Tensor x, int start);
Tensor sample_pndm(const Schedule& s, Denoiser& model, Tensor x, int start);
Tensor sample_lcm(const Schedule& s, Denoiser& model, Tensor x, TorchGenerator& gen, int start);
Tensor sample_euler(const Schedule& s, Denoiser& model, Tensor x, TorchGenerator& gen, int start);
Tensor sample_euler_ancestral(const Schedule& s, Denoiser& model, Tensor x, TorchGenerator& gen, int start);
Tensor sample_heun(const Schedule& s, Denoiser& model, Tensor x, int start);
Tensor sample_dpmpp_2m(const Schedule& s, Denoiser& model, Tensor x, int start);
Tensor sample_unipc(const Schedule& s, Denoiser& model, Tensor x, int start);

}  // namespace diffuse::sampling
