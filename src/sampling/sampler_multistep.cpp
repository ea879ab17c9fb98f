// The exponential-integrator multistep solvers in data prediction (x0) form, over log-SNR
// lambda = log(alpha / sigma), as diffusers 0.27.2's scheduling_dpmsolver_multistep.py
// (dpmsolver++, order 2, midpoint) and scheduling_unipc_multistep.py (bh2, order 2,
// predict_x0). Both start first order, and drop to first order for the last step
// (lower_order_final; DPM-Solver++ also because its final sigma is 0).
#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "sampling/sampler_common.h"

namespace diffuse::sampling {
namespace {

// The first-order part shared by both: x_t = (sigma_t / sigma_s) x - alpha_t (e^-h - 1) x0,
// i.e. DDIM in lambda (DPM-Solver++ eq. 5 with k = 1; UniPC's x_t_ with h_phi_1 = expm1(-h)).
struct FirstOrder {
  float sample_coeff, x0_coeff;
};
FirstOrder first_order(VpLevel s, VpLevel t, float h_phi_1) { return {t.sigma / s.sigma, t.alpha * h_phi_1}; }

// 2x2 linear solve with partial pivoting (LAPACK getrf/getrs), for UniPC's corrector weights.
std::pair<float, float> solve2(float a00, float a01, float a10, float a11, float b0, float b1) {
  if (std::abs(a10) > std::abs(a00)) {
    std::swap(a00, a10);
    std::swap(a01, a11);
    std::swap(b0, b1);
  }
  const float l = a10 * (1.0f / a00);
  const float u11 = a11 - l * a01;
  const float x1 = (b1 - l * b0) / u11;
  return {(b0 - x1 * a01) / a00, x1};
}

}  // namespace

// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
// Probabilistic Models", Algorithm 2): the second-order step extrapolates x0 linearly in lambda
// from the previous step's prediction, D1 = (m0 - m1) / r0 with r0 = h_prev / h.
Tensor sample_dpmpp_2m(const Schedule& s, Denoiser& model, Tensor x, int start) {
  Tensor previous_x0;
  for (int i = start; i < s.steps; ++i) {
    const Tensor out = model(x, s.timesteps[size_t(i)]);
    const VpLevel now = vp_from_sigma(s.sigmas[size_t(i)]), next = vp_from_sigma(s.sigmas[size_t(i) + 1]);
    const Tensor x0 = vp_x0(s.prediction, out, x, now);
    const float h = next.lambda() - now.lambda();
    const FirstOrder c = first_order(now, next, std::exp(-h) - 1.0f);
    const float *v = x.data(), *m0 = x0.data();
    if (i == start || i + 1 == s.steps) {
      x = model.stepped(elementwise(x.shape(), [=](int64_t j) { return c.sample_coeff * v[j] - c.x0_coeff * m0[j]; }));
    } else {
      const float h_0 = now.lambda() - vp_from_sigma(s.sigmas[size_t(i) - 1]).lambda();
      const float d1_coeff = 1.0f / (h_0 / h), half_x0_coeff = 0.5f * c.x0_coeff;
      const float* m1 = previous_x0.data();
      x = elementwise(x.shape(), [=](int64_t j) {
        const float d1 = d1_coeff * (m0[j] - m1[j]);
        return c.sample_coeff * v[j] - c.x0_coeff * m0[j] - half_x0_coeff * d1;
      });
      x = model.stepped(std::move(x));
    }
    previous_x0 = x0;
  }
  return x;
}

namespace {

VpLevel unipc_level(const Schedule& s, int i) { return vp_from_sigma(s.sigmas[size_t(i)]); }

// UniP-p from step i: x_t = (sigma_t / sigma_s) x - alpha_t h_phi_1 m0 - alpha_t B(h) sum rho_k D_k,
// D_1 = (m1 - m0) / r1 from the previous step's x0 m1; diffusers fixes rho = 1/2 for p = 2.
Tensor unipc_predict(const Schedule& s, int i, int order, const Tensor& x, const Tensor& m0, const Tensor& m1) {
  const VpLevel from = unipc_level(s, i), to = unipc_level(s, i + 1);
  const float h = to.lambda() - from.lambda(), h_phi_1 = std::expm1(-h), b_h = h_phi_1;
  const FirstOrder c = first_order(from, to, h_phi_1);
  const float *v = x.data(), *a = m0.data();
  if (order == 1) return elementwise(x.shape(), [=](int64_t j) { return c.sample_coeff * v[j] - c.x0_coeff * a[j]; });
  const float rk = (unipc_level(s, i - 1).lambda() - from.lambda()) / h, pred_coeff = to.alpha * b_h;
  const float* b = m1.data();
  return elementwise(x.shape(), [=](int64_t j) {
    const float pred_res = 0.5f * ((b[j] - a[j]) / rk);
    return c.sample_coeff * v[j] - c.x0_coeff * a[j] - pred_coeff * pred_res;
  });
}

// UniC-p at step i: redo the step from step i - 1 (last_sample, x0 m0, and m1 one step earlier)
// with the new x0 m_t as well; the weights solve the order conditions (eq. 8), 1/2 for p = 1.
Tensor unipc_correct(const Schedule& s, int i, int order, const Tensor& last_sample, const Tensor& m_t,
                     const Tensor& m0, const Tensor& m1) {
  const VpLevel from = unipc_level(s, i - 1), to = unipc_level(s, i);
  const float h = to.lambda() - from.lambda(), hh = -h, h_phi_1 = std::expm1(hh), b_h = h_phi_1;
  const FirstOrder c = first_order(from, to, h_phi_1);
  float rho_d1 = 0.0f, rho_t = 0.5f, rk = 1.0f;
  if (order == 2) {
    rk = (unipc_level(s, i - 2).lambda() - from.lambda()) / h;
    const float h_phi_k1 = h_phi_1 / hh - 1.0f, h_phi_k2 = h_phi_k1 / hh - 0.5f;
    std::tie(rho_d1, rho_t) = solve2(1.0f, 1.0f, rk, 1.0f, h_phi_k1 * 1.0f / b_h, h_phi_k2 * 2.0f / b_h);
  }
  const float corr_coeff = to.alpha * b_h;
  const float *v = last_sample.data(), *a = m0.data(), *t = m_t.data(), *b = order == 2 ? m1.data() : nullptr;
  return elementwise(last_sample.shape(), [=](int64_t j) {
    const float d1_t = t[j] - a[j];
    const float corr = b ? rho_d1 * ((b[j] - a[j]) / rk) + rho_t * d1_t : rho_t * d1_t;
    return (c.sample_coeff * v[j] - c.x0_coeff * a[j]) - corr_coeff * corr;
  });
}

}  // namespace

// UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
// Diffusion Models"), B(h) = e^h - 1 (bh2): after each model call the corrector UniC refines the
// sample the last predictor made, using the new x0 prediction, then the predictor UniP steps on.
// Orders warm up from 1; lower_order_final makes the last step first order.
Tensor sample_unipc(const Schedule& s, Denoiser& model, Tensor x, int start) {
  Tensor last_sample, m_prev, m_prev2;  // the sample before the last prediction; x0 at steps i-1, i-2
  int last_order = 0;
  for (int i = start; i < s.steps; ++i) {
    const Tensor out = model(x, s.timesteps[size_t(i)]);
    const Tensor m = vp_x0(s.prediction, out, x, unipc_level(s, i));
    if (i > start) x = unipc_correct(s, i, last_order, last_sample, m, m_prev, m_prev2);
    m_prev2 = std::exchange(m_prev, m);
    last_order = std::min({2, s.steps - i, i - start + 1});
    last_sample = x;
    x = model.stepped(unipc_predict(s, i, last_order, x, m, m_prev2));
  }
  return x;
}

}  // namespace diffuse::sampling
