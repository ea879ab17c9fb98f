// The k-diffusion samplers over sigmas, x = x0 + sigma eps (Karras et al. 2022, "Elucidating the
// Design Space of Diffusion-Based Generative Models"), as diffusers 0.27.2's
// scheduling_euler_discrete.py, scheduling_euler_ancestral_discrete.py and
// scheduling_heun_discrete.py step them (k-diffusion's sample_euler / _euler_ancestral / _heun).
#include "sampling/sampler_common.h"

namespace diffuse::sampling {
namespace {

// scale_model_input: the UNet expects unit-variance input, x / sqrt(sigma^2 + 1).
Tensor scaled(const Tensor& x, float sigma) {
  const float denominator = std::sqrt(sigma * sigma + 1.0f);
  const float* v = x.data();
  return elementwise(x.shape(), [=](int64_t i) { return v[i] / denominator; });
}

// The ODE derivative d = (x - x0) / sigma.
Tensor derivative(const Tensor& x, const Tensor& x0, float sigma) {
  const float *v = x.data(), *d = x0.data();
  return elementwise(x.shape(), [=](int64_t i) { return (v[i] - d[i]) / sigma; });
}

// x + d dt
Tensor euler_step(const Tensor& x, const Tensor& d, float dt) {
  const float *v = x.data(), *g = d.data();
  return elementwise(x.shape(), [=](int64_t i) { return v[i] + g[i] * dt; });
}

}  // namespace

// Karras et al. Algorithm 2 with s_churn = 0, i.e. Euler's method on the probability-flow ODE.
Tensor sample_euler(const Schedule& s, Denoiser& model, Tensor x, TorchGenerator& gen, int start) {
  for (int i = start; i < s.steps; ++i) {
    const float sigma = s.sigmas[size_t(i)];
    const Tensor out = model(scaled(x, sigma), s.timesteps[size_t(i)]);
    // EulerDiscreteScheduler.step draws its churn noise even when s_churn = 0 leaves it unused;
    // drawing it keeps the generator where diffusers leaves it.
    randn_like(x, gen);
    x = model.stepped(euler_step(x, derivative(x, k_x0(s.prediction, out, x, sigma), sigma), s.sigmas[size_t(i) + 1] - sigma));
  }
  return x;
}

// Euler ancestral: step deterministically down to sigma_down, then add fresh noise of
// sigma_up, so that sigma_down^2 + sigma_up^2 = sigma_next^2 (k-diffusion's get_ancestral_step, eta 1).
Tensor sample_euler_ancestral(const Schedule& s, Denoiser& model, Tensor x, TorchGenerator& gen, int start) {
  for (int i = start; i < s.steps; ++i) {
    const float sigma = s.sigmas[size_t(i)], sigma_to = s.sigmas[size_t(i) + 1];
    const Tensor out = model(scaled(x, sigma), s.timesteps[size_t(i)]);
    const float sigma_up = std::sqrt(sigma_to * sigma_to * (sigma * sigma - sigma_to * sigma_to) / (sigma * sigma));
    const float sigma_down = std::sqrt(sigma_to * sigma_to - sigma_up * sigma_up);
    const Tensor stepped = euler_step(x, derivative(x, k_x0(s.prediction, out, x, sigma), sigma), sigma_down - sigma);
    const Tensor noise = randn_like(x, gen);
    const float *v = stepped.data(), *n = noise.data();
    x = model.stepped(elementwise(x.shape(), [=](int64_t j) { return v[j] + n[j] * sigma_up; }));
  }
  return x;
}

// Karras et al. Algorithm 1 (Heun's second-order method): an Euler step to the next sigma, a
// second model call there, and the step redone with the average slope; the last step, to
// sigma 0, stays first order. diffusers runs it as 2 * steps - 1 model calls.
Tensor sample_heun(const Schedule& s, Denoiser& model, Tensor x, int start) {
  for (int i = start; i < s.steps; ++i) {
    const float sigma = s.sigmas[size_t(i)], sigma_next = s.sigmas[size_t(i) + 1], dt = sigma_next - sigma;
    const Tensor out = model(scaled(x, sigma), s.timesteps[size_t(i)]);
    const Tensor d = derivative(x, k_x0(s.prediction, out, x, sigma), sigma);
    const Tensor x_next = model.stepped(euler_step(x, d, dt));
    if (i + 1 == s.steps) return x_next;
    const Tensor out_next = model(scaled(x_next, sigma_next), s.timesteps[size_t(i) + 1]);
    const Tensor d_next = derivative(x_next, k_x0(s.prediction, out_next, x_next, sigma_next), sigma_next);
    const float *a = d.data(), *b = d_next.data();
    x = model.stepped(euler_step(x, elementwise(x.shape(), [=](int64_t j) { return (a[j] + b[j]) / 2.0f; }), dt));
  }
  return x;
}

}  // namespace diffuse::sampling
