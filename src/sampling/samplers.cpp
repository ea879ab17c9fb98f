#include "sampling/samplers.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "sampling/sampler_common.h"

namespace diffuse {
namespace sampling {

Tensor Denoiser::operator()(const Tensor& x, double t) {
  Tensor out = model_(x, t);
  if (out.shape() != x.shape())
    throw Error("the model returned " + shape_string(out.shape()) + " for latents " + shape_string(x.shape()));
  ++done_;  // counted without a callback too: stepped() names the call by it
  if (callback_) callback_(done_, total_);
  return out;
}

Tensor randn_like(const Tensor& x, TorchGenerator& gen) {
  Tensor noise(x.shape());
  gen.randn(noise.data(), size_t(noise.numel()));
  return noise;
}

Tensor vp_x0(Prediction p, const Tensor& out, const Tensor& x, VpLevel at) {
  const float *o = out.data(), *s = x.data();
  if (p == Prediction::V) return elementwise(x.shape(), [=](int64_t i) { return at.alpha * s[i] - at.sigma * o[i]; });
  return elementwise(x.shape(), [=](int64_t i) { return (s[i] - at.sigma * o[i]) / at.alpha; });
}

Tensor vp_eps(Prediction p, const Tensor& out, const Tensor& x, VpLevel at) {
  if (p == Prediction::Epsilon) return out;
  const float *o = out.data(), *s = x.data();
  return elementwise(x.shape(), [=](int64_t i) { return at.alpha * o[i] + at.sigma * s[i]; });
}

// EulerDiscreteScheduler.step's pred_original_sample: for v, denoised = out c_out + x c_skip.
Tensor k_x0(Prediction p, const Tensor& out, const Tensor& x, float sigma) {
  const float *o = out.data(), *s = x.data();
  if (p == Prediction::Epsilon) return elementwise(x.shape(), [=](int64_t i) { return s[i] - sigma * o[i]; });
  const float c_out = -sigma / std::sqrt(sigma * sigma + 1.0f), skip_denominator = sigma * sigma + 1.0f;
  return elementwise(x.shape(), [=](int64_t i) { return o[i] * c_out + s[i] / skip_denominator; });
}

}  // namespace sampling

using namespace sampling;

Tensor sample(const Schedule& s, const ModelFn& model, const Tensor& latents, TorchGenerator& gen, int start,
              const StepCallback& callback, const StepHook& after_step) {
  if (start < 0 || start >= s.steps)
    throw Error("sampling must start at a step in [0, " + std::to_string(s.steps) + "), got " + std::to_string(start));
  // Steps are what diffusers' img2img skips; heun makes two model calls per step.
  const int first_call = start * s.order();
  Denoiser denoiser(model, callback, int(s.model_timesteps().size()) - first_call, first_call, after_step);
  switch (s.kind) {
    case SamplerKind::Ddim:
      return sample_ddim(s, denoiser, latents, start);
    case SamplerKind::Pndm:
      return sample_pndm(s, denoiser, latents, first_call);
    case SamplerKind::Lcm:
      return sample_lcm(s, denoiser, latents, gen, start);
    case SamplerKind::Euler:
      return sample_euler(s, denoiser, latents, gen, start);
    case SamplerKind::EulerAncestral:
      return sample_euler_ancestral(s, denoiser, latents, gen, start);
    case SamplerKind::Heun:
      return sample_heun(s, denoiser, latents, start);
    case SamplerKind::DpmPP2M:
      return sample_dpmpp_2m(s, denoiser, latents, start);
    case SamplerKind::UniPC:
      return sample_unipc(s, denoiser, latents, start);
  }
  throw Error("unhandled sampler kind");
}

Tensor predicted_x0(const Schedule& s, const Tensor& model_out, const Tensor& model_in, double t) {
  const auto& table = s.alphas_cumprod;
  const double at = std::clamp(t, 0.0, double(table.size() - 1));
  const size_t lo = size_t(at), hi = std::min(lo + 1, table.size() - 1);
  const float alpha_cumprod = float(table[lo] + (at - double(lo)) * (table[hi] - table[lo]));
  return vp_x0(s.prediction, model_out, model_in, vp_from_alpha_cumprod(alpha_cumprod));
}

namespace {

// x0 noised as each scheduler class's add_noise does: DDPM's sqrt(a) x0 + sqrt(1 - a) noise at
// model timestep `timestep` (DDIM, PNDM, LCM), x0 + sigma noise (Euler, EulerAncestral, Heun) and
// alpha_t x0 + sigma_t noise (DPM-Solver, UniPC) from sigmas[sigma_index].
Tensor noised(const Schedule& s, const Tensor& x0, const Tensor& noise, double timestep, size_t sigma_index) {
  if (x0.shape() != noise.shape())
    throw Error("add_noise: latents " + shape_string(x0.shape()) + " and noise " + shape_string(noise.shape()) +
                " differ");
  const float *x = x0.data(), *n = noise.data();
  VpLevel level{};
  switch (s.kind) {
    case SamplerKind::Ddim:
    case SamplerKind::Pndm:
    case SamplerKind::Lcm:
      level = vp_from_alpha_cumprod(s.alphas_cumprod.at(size_t(timestep)));
      break;
    case SamplerKind::DpmPP2M:
    case SamplerKind::UniPC:
      level = vp_from_sigma(s.sigmas[sigma_index]);
      break;
    case SamplerKind::Euler:
    case SamplerKind::EulerAncestral:
    case SamplerKind::Heun: {
      const float sigma = s.sigmas[sigma_index];
      return elementwise(x0.shape(), [=](int64_t i) { return x[i] + n[i] * sigma; });
    }
  }
  return elementwise(x0.shape(), [=](int64_t i) { return level.alpha * x[i] + level.sigma * n[i]; });
}

}  // namespace

// At the step img2img starts from.
Tensor add_noise(const Schedule& s, const Tensor& x0, const Tensor& noise, int start) {
  if (start < 0 || start >= s.steps)
    throw Error("img2img must start at a step in [0, " + std::to_string(s.steps) + "), got " + std::to_string(start));
  return noised(s, x0, noise, s.model_timesteps()[size_t(start)], size_t(start));
}

Tensor add_noise_at_call(const Schedule& s, const Tensor& x0, const Tensor& noise, int call) {
  const std::vector<double> calls = s.model_timesteps();
  if (call < 0 || call >= int(calls.size()))
    throw Error("add_noise: model call " + std::to_string(call) + " is outside [0, " + std::to_string(calls.size()) + ")");
  // HeunDiscreteScheduler's sigmas list every level after the first twice, one per call.
  return noised(s, x0, noise, calls[size_t(call)], size_t(s.kind == SamplerKind::Heun ? (call + 1) / 2 : call));
}

}  // namespace diffuse
