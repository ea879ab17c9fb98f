// The samplers that index the training schedule by timestep: DDIM, PLMS and LCM, as diffusers
// 0.27.2's scheduling_ddim.py, scheduling_pndm.py (skip_prk_steps) and scheduling_lcm.py.
#include <vector>

#include "core/error.h"
#include "sampling/sampler_common.h"

namespace diffuse::sampling {
namespace {

// alpha_cumprod at a timestep; below 0 the "previous" alpha of the last step (set_alpha_to_one).
float alpha_cumprod_at(const Schedule& s, double t) {
  if (t < 0) return s.final_alpha_cumprod;
  if (t >= double(s.alphas_cumprod.size()))
    throw Error("timestep " + std::to_string(t) + " is past the training schedule");
  return s.alphas_cumprod[size_t(t)];
}

}  // namespace

// DDIM with eta 0 (Song et al. 2020, "Denoising Diffusion Implicit Models", eq. 12): predict x0
// and eps, then jump to the previous timestep, t - num_train_timesteps / steps, deterministically.
Tensor sample_ddim(const Schedule& s, Denoiser& model, Tensor x, int start) {
  for (int i = start; i < s.steps; ++i) {
    const double t = s.timesteps[size_t(i)];
    const Tensor out = model(x, t);
    const VpLevel now = vp_from_alpha_cumprod(alpha_cumprod_at(s, t));
    const float alpha_prev = alpha_cumprod_at(s, t - s.step_ratio);
    const float coeff_x0 = std::sqrt(alpha_prev), coeff_eps = std::sqrt(1.0f - alpha_prev);
    const Tensor x0 = vp_x0(s.prediction, out, x, now), eps = vp_eps(s.prediction, out, x, now);
    const float *a = x0.data(), *e = eps.data();
    x = model.stepped(elementwise(x.shape(), [=](int64_t j) { return coeff_x0 * a[j] + coeff_eps * e[j]; }));
  }
  return x;
}

// PLMS, the pseudo linear multistep method (Liu et al. 2022, "Pseudo Numerical Methods for
// Diffusion Models on Manifolds", eq. 9 transfer + 4th-order Adams-Bashforth noise estimates),
// in diffusers' step_plms. Call 0 steps with its own eps; call 1 evaluates the model at the new
// sample, then redoes step 0 from the old sample with the mean of both (which is why the second
// timestep is listed twice); later calls combine the last 2-4 stored outputs (the call-1 output is
// never stored). `start` is the first model call.
Tensor sample_pndm(const Schedule& s, Denoiser& model, Tensor x, int start) {
  const std::vector<double> calls = s.model_timesteps();
  std::vector<Tensor> ets;
  Tensor first_sample;
  for (size_t k = size_t(start); k < calls.size(); ++k) {
    const size_t counter = k - size_t(start);
    const Tensor out = model(x, calls[k]);
    double t = calls[k], t_prev = t - s.step_ratio;
    if (counter == 1) {
      t_prev = t;
      t = t + s.step_ratio;
    } else {
      if (ets.size() == 4) ets.erase(ets.begin());
      ets.push_back(out);
    }
    const size_t n = ets.size();
    const float *e1 = ets[n - 1].data(), *e2 = n > 1 ? ets[n - 2].data() : nullptr;
    const float *e3 = n > 2 ? ets[n - 3].data() : nullptr, *e4 = n > 3 ? ets[n - 4].data() : nullptr;
    Tensor eps;
    if (counter == 0) {
      eps = out;
      first_sample = x;
    } else if (counter == 1) {
      const float* o = out.data();
      eps = elementwise(x.shape(), [=](int64_t j) { return (o[j] + e1[j]) / 2.0f; });
      x = first_sample;
    } else if (n == 2) {
      eps = elementwise(x.shape(), [=](int64_t j) { return (3.0f * e1[j] - e2[j]) / 2.0f; });
    } else if (n == 3) {
      eps = elementwise(x.shape(), [=](int64_t j) { return (23.0f * e1[j] - 16.0f * e2[j] + 5.0f * e3[j]) / 12.0f; });
    } else {
      const float w = float(1.0 / 24.0);
      eps = elementwise(x.shape(),
                        [=](int64_t j) { return w * (55.0f * e1[j] - 59.0f * e2[j] + 37.0f * e3[j] - 9.0f * e4[j]); });
    }
    // _get_prev_sample: eq. 9 of the paper, with v turned into eps at the sample being stepped.
    const float alpha = alpha_cumprod_at(s, t), alpha_prev = alpha_cumprod_at(s, t_prev);
    const float beta = 1.0f - alpha, beta_prev = 1.0f - alpha_prev;
    eps = vp_eps(s.prediction, eps, x, vp_from_alpha_cumprod(alpha));
    const float sample_coeff = std::sqrt(alpha_prev / alpha);
    const float denominator = alpha * std::sqrt(beta_prev) + std::sqrt(alpha * beta * alpha_prev);
    const float eps_coeff = alpha_prev - alpha;
    const float *v = x.data(), *e = eps.data();
    x = model.stepped(
        elementwise(x.shape(), [=](int64_t j) { return sample_coeff * v[j] - eps_coeff * e[j] / denominator; }));
  }
  return x;
}

// Latent Consistency Model multistep sampling (Luo et al. 2023, Algorithm 1): the consistency
// function's boundary-condition blend c_skip x + c_out x0 gives the denoised latents, which are
// re-noised with fresh noise to the next timestep (not after the last).
Tensor sample_lcm(const Schedule& s, Denoiser& model, Tensor x, TorchGenerator& gen, int start) {
  for (int i = start; i < s.steps; ++i) {
    const double t = s.timesteps[size_t(i)];
    const bool last = i + 1 == s.steps;
    const Tensor out = model(x, t);
    // get_scalings_for_boundary_condition_discrete: sigma_data 0.5, timestep_scaling 10.
    const float scaled_t = float(t) * 10.0f;
    const float c_skip = 0.25f / (scaled_t * scaled_t + 0.25f);
    const float c_out = scaled_t / std::sqrt(scaled_t * scaled_t + 0.25f);
    const Tensor x0 = vp_x0(s.prediction, out, x, vp_from_alpha_cumprod(alpha_cumprod_at(s, t)));
    const float *a = x0.data(), *v = x.data();
    const Tensor denoised = elementwise(x.shape(), [=](int64_t j) { return c_out * a[j] + c_skip * v[j]; });
    if (last) return model.stepped(denoised);
    const VpLevel next = vp_from_alpha_cumprod(alpha_cumprod_at(s, s.timesteps[size_t(i) + 1]));
    const Tensor noise = randn_like(x, gen);
    const float *d = denoised.data(), *n = noise.data();
    x = model.stepped(elementwise(x.shape(), [=](int64_t j) { return next.alpha * d[j] + next.sigma * n[j]; }));
  }
  return x;
}

}  // namespace diffuse::sampling
