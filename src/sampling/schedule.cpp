#include "sampling/schedule.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace diffuse {
namespace {

// How a diffusers scheduler class turns a spacing into timesteps.
enum class Spacing { Linspace, Leading, Trailing };
enum class TimestepStyle {
  Integer,     // DDIM, PNDM: num_inference_steps points, rounded to integers
  Fractional,  // Euler, EulerAncestral, Heun: float32 points, not rounded
  Multistep,   // DPMSolverMultistep, UniPC: num_inference_steps + 1 points, the last (0) dropped
};

// numpy's round(): half to even, which std::nearbyint does in the default rounding mode.
double round_half_even(double x) { return std::nearbyint(x); }

// np.linspace(start, stop, num): start + i * step in float64, the last point exactly stop.
std::vector<double> np_linspace(double start, double stop, int num) {
  std::vector<double> out(static_cast<size_t>(num));
  const double step = num > 1 ? (stop - start) / (num - 1) : 0.0;
  for (int i = 0; i < num; ++i) out[size_t(i)] = start + i * step;
  if (num > 1) out.back() = stop;
  return out;
}

// np.arange(start, stop, step) for floats: ceil((stop - start) / step) values; numpy fills
// them as start + i * delta with delta re-derived from the first two values.
std::vector<double> np_arange(double start, double stop, double step) {
  const auto n = int64_t(std::ceil((stop - start) / step));
  std::vector<double> out(size_t(std::max<int64_t>(n, 0)));
  const double delta = (start + step) - start;
  for (size_t i = 0; i < out.size(); ++i) out[i] = start + double(i) * delta;
  return out;
}

// torch.linspace(start, end, n, dtype=float32) as PyTorch's AVX2 CPU kernel computes it
// (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp, built with FMA contraction): the first half
// counts up from start, the second down from end. Pairs of 8-lane blocks take their first value
// that way and add k * step per lane; the tail after the last pair is computed one by one.
// Matching it bit for bit makes alphas_cumprod, and so sigma_max, the initial latents' scale,
// exactly diffusers' (plain a + b * i lands 2 ulps off sigma_max for SD's schedule).
std::vector<float> torch_linspace_f32(double start, double end, int n) {
  const float s = float(start), e = float(end);
  const float step = n > 1 ? (e - s) / float(n - 1) : 0.0f;
  auto at = [&](int i) { return i < n / 2 ? std::fma(step, float(i), s) : std::fma(-step, float(n - 1 - i), e); };
  constexpr int kLanes = 8;
  std::vector<float> out(static_cast<size_t>(n));
  int i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes)
    for (int block = i; block < i + 2 * kLanes; block += kLanes) {
      const float base = at(block);
      for (int k = 0; k < kLanes; ++k) out[size_t(block + k)] = std::fma(float(k), step, base);
    }
  for (; i < n; ++i) out[size_t(i)] = at(i);
  return out;
}

// betas -> alphas_cumprod as diffusers' scheduler constructors: betas in float32,
// alphas = 1 - betas, torch.cumprod (which accumulates in double on CPU, storing floats).
std::vector<float> train_alphas_cumprod(const SchedulerConfig& c) {
  std::vector<float> betas;
  if (c.beta_schedule == "linear") {
    betas = torch_linspace_f32(c.beta_start, c.beta_end, c.num_train_timesteps);
  } else {  // scaled_linear, checked by from_json
    betas = torch_linspace_f32(std::pow(c.beta_start, 0.5), std::pow(c.beta_end, 0.5), c.num_train_timesteps);
    for (float& b : betas) b = b * b;
  }
  std::vector<float> alphas_cumprod(betas.size());
  double product = 1.0;
  for (size_t i = 0; i < betas.size(); ++i) {
    product *= double(1.0f - betas[i]);
    alphas_cumprod[i] = float(product);
  }
  return alphas_cumprod;
}

// sigma_t = ((1 - alpha_cumprod) / alpha_cumprod) ** 0.5, the float32 table of every scheduler.
std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod) {
  std::vector<float> sigmas(alphas_cumprod.size());
  for (size_t i = 0; i < sigmas.size(); ++i) sigmas[i] = std::sqrt((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
  return sigmas;
}

Spacing parse_spacing(const std::string& s) {
  if (s == "linspace") return Spacing::Linspace;
  if (s == "leading") return Spacing::Leading;
  if (s == "trailing") return Spacing::Trailing;
  throw Error("timestep_spacing '" + s + "' is not supported; use linspace, leading or trailing");
}

// Each scheduler class's own default timestep_spacing in diffusers 0.27.2.
Spacing default_spacing(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::Ddim:
    case SamplerKind::Pndm:
    case SamplerKind::Lcm:
      return Spacing::Leading;
    default:
      return Spacing::Linspace;
  }
}

// set_timesteps' "linspace" / "leading" / "trailing" branches (Table 2 of Lin et al. 2023,
// "Common Diffusion Noise Schedules and Sample Steps are Flawed"), descending.
std::vector<double> spaced_timesteps(Spacing spacing, TimestepStyle style, int train_steps, int steps, int offset) {
  const bool multistep = style == TimestepStyle::Multistep;
  const int points = multistep ? steps + 1 : steps;
  std::vector<double> t;
  switch (spacing) {
    case Spacing::Linspace:
      t = np_linspace(0.0, train_steps - 1, points);
      if (style != TimestepStyle::Fractional)
        for (double& v : t) v = round_half_even(v);
      std::reverse(t.begin(), t.end());
      break;
    case Spacing::Leading: {
      const int ratio = train_steps / points;
      for (int i = points - 1; i >= 0; --i) t.push_back(double(i * ratio + offset));
      break;
    }
    case Spacing::Trailing:
      t = np_arange(train_steps, 0.0, -double(train_steps) / steps);
      // For some step counts (61, 103, 121, ...) the float division makes numpy's arange overshoot by one
      // point near 0, which diffusers turns into a bogus extra timestep -1; keep one per step.
      t.resize(size_t(steps));
      for (double& v : t) v = round_half_even(v) - 1.0;
      break;
  }
  if (multistep && spacing != Spacing::Trailing) t.pop_back();  // the dropped 0 (or offset) point
  if (style == TimestepStyle::Fractional)
    for (double& v : t) v = double(float(v));
  return t;
}

// LCMScheduler.set_timesteps (Luo et al. 2023): the distillation schedule of
// original_inference_steps (50) timesteps k-1, 2k-1, ..., then num_inference_steps of them
// picked at evenly spaced indices from the top. Ignores timestep_spacing and steps_offset.
std::vector<double> lcm_timesteps(int train_steps, int steps) {
  constexpr int kOriginalSteps = 50;
  if (steps > kOriginalSteps)
    throw Error("lcm supports at most " + std::to_string(kOriginalSteps) +
                " steps (its original_inference_steps), got " + std::to_string(steps));
  const int k = train_steps / kOriginalSteps;
  std::vector<double> t;
  for (int i = 0; i < steps; ++i) {
    const auto index =
        int(std::floor(double(i) * (double(kOriginalSteps) / steps)));  // linspace(0, 50, endpoint=False)
    t.push_back(double((kOriginalSteps - index) * k - 1));
  }
  return t;
}

// np.interp(t, arange(len(table)), table): linear in sigma between neighbouring integer timesteps.
double interp_sigma(const std::vector<float>& table, double t) {
  if (t <= 0.0) return table.front();
  if (t >= double(table.size() - 1)) return table.back();
  const auto j = size_t(t);
  if (double(j) == t) return table[j];
  const double slope = double(table[j + 1]) - double(table[j]);
  return slope * (t - double(j)) + double(table[j]);
}

// _convert_to_karras: Karras et al. (2022) eq. 5, rho = 7, from sigma_max down to sigma_min.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps) {
  constexpr double rho = 7.0;
  const double min_inv_rho = std::pow(sigma_min, 1.0 / rho), max_inv_rho = std::pow(sigma_max, 1.0 / rho);
  std::vector<double> sigmas;
  for (double ramp : np_linspace(0.0, 1.0, steps))
    sigmas.push_back(std::pow(max_inv_rho + ramp * (min_inv_rho - max_inv_rho), rho));
  return sigmas;
}

// _sigma_to_t: the fractional timestep whose log-sigma the sigma has, interpolating the float32
// log-sigma table. numpy 1.x casts the float64 log-sigma to float32 against that table, so the
// weight is computed in float; only the final blend of indices is float64.
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const float log_sigma = float(std::log(std::max(sigma, 1e-10)));
  size_t low = 0;
  for (size_t j = 0; j < log_sigmas.size(); ++j)
    if (log_sigma >= log_sigmas[j]) low = j;
  low = std::min(low, log_sigmas.size() - 2);
  const float w = std::clamp((log_sigmas[low] - log_sigma) / (log_sigmas[low] - log_sigmas[low + 1]), 0.0f, 1.0f);
  return double(1.0f - w) * double(low) + double(w) * double(low + 1);
}

std::vector<float> log_of(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::log(v[i]);
  return out;
}

// Euler / EulerAncestral / Heun: sigmas interpolated at the (fractional) timesteps, or Karras
// sigmas between the first and last of those, with timesteps back from log-sigma (unrounded);
// 0 appended. init_noise_sigma is sigma_max, or sqrt(sigma_max^2 + 1) for "leading" spacing.
void k_diffusion_sigmas(Schedule& s, const std::vector<float>& table, bool karras, Spacing spacing) {
  std::vector<double> sigmas;
  for (double t : s.timesteps) sigmas.push_back(interp_sigma(table, t));
  if (karras) {
    sigmas = karras_sigmas(sigmas.back(), sigmas.front(), s.steps);
    const std::vector<float> log_sigmas = log_of(table);
    for (size_t i = 0; i < sigmas.size(); ++i) s.timesteps[i] = double(float(sigma_to_t(sigmas[i], log_sigmas)));
  }
  for (double v : sigmas) s.sigmas.push_back(float(v));
  s.sigmas.push_back(0.0f);
  const float sigma_max = *std::max_element(s.sigmas.begin(), s.sigmas.end());
  s.init_noise_sigma = spacing == Spacing::Leading ? std::sqrt(sigma_max * sigma_max + 1.0f) : sigma_max;
}

// DPMSolverMultistep / UniPC: the table's sigma at each integer timestep, or Karras sigmas over
// the whole training range with rounded timesteps. The final sigma is 0 for DPM-Solver++
// (final_sigmas_type "zero"); 0.27.2's UniPC has no final_sigmas_type and ends at the table's
// sigma_min, or repeats the last Karras sigma.
void multistep_sigmas(Schedule& s, const std::vector<float>& table, bool karras) {
  std::vector<double> sigmas;
  if (karras) {
    sigmas = karras_sigmas(table.front(), table.back(), s.steps);
    const std::vector<float> log_sigmas = log_of(table);
    for (size_t i = 0; i < sigmas.size(); ++i) s.timesteps[i] = round_half_even(sigma_to_t(sigmas[i], log_sigmas));
  } else {
    for (double t : s.timesteps) sigmas.push_back(table[size_t(t)]);
  }
  for (double v : sigmas) s.sigmas.push_back(float(v));
  if (s.kind == SamplerKind::DpmPP2M)
    s.sigmas.push_back(0.0f);
  else
    s.sigmas.push_back(karras ? s.sigmas.back() : table.front());
}

}  // namespace

SchedulerConfig SchedulerConfig::from_json(const nlohmann::json& j) {
  SchedulerConfig c;
  auto read = [&j](const char* key, auto& field) {
    if (j.contains(key) && !j[key].is_null()) j[key].get_to(field);
  };
  read("beta_start", c.beta_start);
  read("beta_end", c.beta_end);
  read("beta_schedule", c.beta_schedule);
  read("num_train_timesteps", c.num_train_timesteps);
  read("steps_offset", c.steps_offset);
  read("set_alpha_to_one", c.set_alpha_to_one);
  if (j.contains("timestep_spacing") && !j["timestep_spacing"].is_null()) {
    c.timestep_spacing = j["timestep_spacing"].get<std::string>();
    parse_spacing(*c.timestep_spacing);
  }
  std::string prediction = "epsilon";
  read("prediction_type", prediction);
  if (prediction == "v_prediction")
    c.prediction = Prediction::V;
  else if (prediction != "epsilon")
    throw Error("scheduler prediction_type '" + prediction + "' is not supported; use epsilon or v_prediction");
  if (c.beta_schedule != "linear" && c.beta_schedule != "scaled_linear")
    throw Error("scheduler beta_schedule '" + c.beta_schedule + "' is not supported; use linear or scaled_linear");
  if (j.contains("trained_betas") && !j["trained_betas"].is_null())
    throw Error("scheduler configs with trained_betas are not supported");
  if (c.num_train_timesteps < 2) throw Error("scheduler num_train_timesteps must be at least 2");
  return c;
}

std::vector<double> Schedule::model_timesteps() const {
  std::vector<double> calls;
  for (size_t i = 0; i < timesteps.size(); ++i) {
    calls.push_back(timesteps[i]);
    const bool repeated = (kind == SamplerKind::Heun && i > 0) || (kind == SamplerKind::Pndm && i == 1);
    if (repeated) calls.push_back(timesteps[i]);
  }
  return calls;
}

Schedule make_schedule(const SchedulerConfig& config, const SamplerOptions& options) {
  const SamplerKind kind = sampler_kind(options.sampler);  // an Error naming the valid samplers
  const int train_steps = config.num_train_timesteps;
  if (options.steps < 1 || options.steps > train_steps)
    throw Error("steps must be between 1 and " + std::to_string(train_steps) + ", got " +
                std::to_string(options.steps));
  const bool k_diffusion =
      kind == SamplerKind::Euler || kind == SamplerKind::EulerAncestral || kind == SamplerKind::Heun;
  const bool multistep = kind == SamplerKind::DpmPP2M || kind == SamplerKind::UniPC;
  if (options.karras && !sampler_supports_karras(options.sampler))
    throw Error("sampler " + options.sampler +
                " has no Karras schedule (diffusers 0.27.2 offers it for euler, heun, dpmpp_2m and unipc)");

  Schedule s;
  s.kind = kind;
  s.prediction = config.prediction;
  s.steps = options.steps;
  s.alphas_cumprod = train_alphas_cumprod(config);
  s.final_alpha_cumprod = config.set_alpha_to_one ? 1.0f : s.alphas_cumprod.front();
  s.step_ratio = train_steps / options.steps;

  const Spacing spacing = config.timestep_spacing ? parse_spacing(*config.timestep_spacing) : default_spacing(kind);
  const TimestepStyle style = k_diffusion ? TimestepStyle::Fractional
                              : multistep ? TimestepStyle::Multistep
                                          : TimestepStyle::Integer;
  s.timesteps = kind == SamplerKind::Lcm
                    ? lcm_timesteps(train_steps, options.steps)
                    : spaced_timesteps(spacing, style, train_steps, options.steps, config.steps_offset);

  const std::vector<float> table = train_sigmas(s.alphas_cumprod);
  if (k_diffusion) k_diffusion_sigmas(s, table, options.karras, spacing);
  if (multistep) multistep_sigmas(s, table, options.karras);
  return s;
}

}  // namespace diffuse
