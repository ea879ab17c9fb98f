// diffuse bench: where the time of one generation goes, stage by stage, on full-size models
// (random weights made in memory, or a real checkpoint), with the UNet's achieved TFLOP/s.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/bench_first_image.h"
#include "app/commands.h"
#include "app/hardware_peak.h"
#include "app/machine_load.h"
#include "app/memory_usage.h"
#include "app/matmul_peak.h"
#include "core/attention.h"
#include "core/buffer_pool.h"
#include "core/conv2d.h"
#include "core/dnnl_context.h"
#include "core/error.h"
#include "core/flash_attention.h"
#include "core/matmul_as_convolution.h"
#include "core/op_profile.h"
#include "core/ops.h"
#include "models/unet_flops.h"
#include "pipeline/random_model.h"
#include "pipeline/stable_diffusion.h"
#include "sampling/torch_generator.h"

namespace diffuse::app {
namespace {

constexpr uint64_t kWeightSeed = 1;
constexpr float kCfgScale = 7.5f;
constexpr double kPeakSeconds = 1.0;  // per data type
const char* const kPrompt = "a photograph of an astronaut riding a horse";

struct BenchFlags {
  std::string arch = "sd15", model, precision = "auto", softmax = "auto", conv = "auto", matmul = "auto",
              attention = "auto";
  int width = 0, height = 0, steps = 0, threads = 0;  // steps 0: the mode's default
  bool json = false, measure_peak = false, accuracy = false, low_memory = false, first_image = false;
};

// How far one precision's output is from the fp32 path's on the same input.
struct Deviation {
  double relative_rms = 0, max_abs = 0;
};

struct BenchResult {
  std::string model, family;
  Precision precision = Precision::Fp32;
  bool low_memory = false;
  bool softmax_fused = false;
  bool amx_attention = false;  // the tile kernel runs the attention of heads it takes
  std::string conv, matmul;  // --conv, --matmul
  double step_softmax_fallbacks = 0;  // query blocks per step that the fused softmax left to the exact one
  int width = 0, height = 0, threads = 0, steps = 0;
  double parameters = 0, weight_bytes = 0;
  double load_s = 0, text_first_s = 0, text_s = 0, warmup_step_s = 0, unet_s = 0, step_s = 0, vae_s = 0;
  // The fastest step: on a shared machine the one least disturbed, the figure to compare runs by.
  double fastest_step_s = 0;
  double step_page_faults = 0;  // per timed step
  double step_fresh_buffers = 0;  // per timed step: 0 when every tensor buffer came from the pool
  OpTimes unet_ops, vae_ops;     // per UNet pass, and for the decode
  double load_peak_rss_mib = 0;  // building or loading the model
  double peak_rss_mib = 0;       // from the end of loading through the VAE decode, if it could be reset
  double busy_before = -1;  // the share of all CPUs' time other work took in the second before the bench
  UNetMacs macs;  // one image
  std::optional<MatmulPeak> peak_f32, peak_bf16;
  std::optional<HardwarePeak> machine_f32, machine_bf16;
  std::optional<Deviation> text_error, unet_error, vae_error;  // --accuracy

  // The pass runs the batch of 2 (negative, prompt); 2 FLOP per MAC.
  double unet_tflops() const { return 4.0 * macs.total() / unet_s / 1e12; }
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }


// Progress on stderr, stamped with the time since the bench began: stages take minutes on small machines.
void note(const BenchFlags& f, const std::string& stage) {
  static const Clock::time_point start = Clock::now();
  if (!f.json)
    std::fprintf(stderr, "bench: [%7.1f s, RSS %5.2f GiB, peak %5.2f GiB] %s\n", seconds_since(start), rss_mib() / 1024,
                 peak_rss_mib() / 1024, stage.c_str());
}

// Random weights that overflowed would make every later timing meaningless (and a real model
// that does is broken): refuse to report them.
void require_finite(const Tensor& t, const std::string& what) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.data()[i])) throw Error(what + " has a non-finite value at element " + std::to_string(i));
}

struct Conditions {
  Conditioning text;
  std::optional<AddedConditions> added;  // SDXL
};

// The batch a guided generation runs: [negative, prompt], as diffusers orders it.
Conditions encode(const StableDiffusion& model, int width, int height) {
  Conditions c{model.conditioning({"", kPrompt}), std::nullopt};
  if (model.family() == Family::SDXL) {
    const float h = float(height), w = float(width);
    c.added = AddedConditions{c.text.pooled, Tensor::from({2, 6}, {h, w, 0, 0, h, w, h, w, 0, 0, h, w})};
  }
  return c;
}

// One classifier-free-guidance step: the latents twice, the UNet at batch 2, the guidance
// u + cfg (c - u), and an Euler-style update standing in for the sampler's (one pass over
// the latents). Returns the time of the UNet pass alone.
double cfg_step(const StableDiffusion& model, const Conditions& c, Tensor& latents, float t) {
  const auto start = Clock::now();
  const Tensor out = model.unet().forward(ops::concat_batch(latents, latents), {t, t}, c.text.context,
                                          c.added ? &*c.added : nullptr);
  const double unet_s = seconds_since(start);
  require_finite(out, "the UNet output");
  const int64_t n = latents.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float u = out.data()[i], cond = out.data()[n + i];
    latents.data()[i] -= 0.05f * (u + kCfgScale * (cond - u));
  }
  return unet_s;
}

std::unique_ptr<StableDiffusion> build_model(const BenchFlags& f, Precision precision) {
  LoadOptions options;
  options.precision = precision;
  return StableDiffusion::from_files(f.model.empty() ? random_model(f.arch, kWeightSeed) : open_model(f.model), options);
}

void count_weights(const ModelFiles& files, BenchResult& r) {
  auto add = [&r](const TensorArchive& archive) {
    for (const auto& [name, t] : archive.tensors) {
      r.parameters += double(t.numel());
      r.weight_bytes += double(t.nbytes);
    }
  };
  add(files.unet);
  add(files.vae);
  for (const TensorArchive& encoder : files.text_encoders) add(encoder);
}

Conditions time_text(const BenchFlags& f, const StableDiffusion& model, BenchResult& r) {
  note(f, "text encode (batch 2), twice");
  auto start = Clock::now();
  model.encode_text({"", kPrompt});
  r.text_first_s = seconds_since(start);  // creates the oneDNN primitives
  start = Clock::now();
  model.encode_text({"", kPrompt});
  r.text_s = seconds_since(start);
  return encode(model, r.width, r.height);
}

void time_unet(const BenchFlags& f, const StableDiffusion& model, const Conditions& conditions, BenchResult& r) {
  TorchGenerator gen(kWeightSeed);
  Tensor latents({1, model.latent_channels(), r.height / model.latent_factor(), r.width / model.latent_factor()});
  gen.randn(latents.data(), size_t(latents.numel()));

  note(f, "warm-up CFG step (creates the oneDNN primitives)");
  auto start = Clock::now();
  cfg_step(model, conditions, latents, 999.0f);
  r.warmup_step_s = seconds_since(start);
  const long faults = page_faults();
  const size_t fresh = BufferPool::fresh_buffers();
  const int64_t fallbacks = softmax_fallback_blocks();
  const OpTimes ops_before = op_times();
  for (int i = 0; i < r.steps; ++i) {
    note(f, "CFG step " + std::to_string(i + 1) + "/" + std::to_string(r.steps));
    start = Clock::now();
    r.unet_s += cfg_step(model, conditions, latents, 999.0f - 50.0f * float(i + 1));
    const double step = seconds_since(start);
    r.step_s += step;
    r.fastest_step_s = i == 0 ? step : std::min(r.fastest_step_s, step);
  }
  r.unet_s /= r.steps;
  r.step_s /= r.steps;
  r.step_page_faults = double(page_faults() - faults) / r.steps;
  r.step_fresh_buffers = double(BufferPool::fresh_buffers() - fresh) / r.steps;
  r.step_softmax_fallbacks = double(softmax_fallback_blocks() - fallbacks) / r.steps;
  r.unet_ops = op_times() - ops_before;
  for (int k = 0; k < kOpKinds; ++k) {
    r.unet_ops.seconds[size_t(k)] /= r.steps;
    r.unet_ops.macs[size_t(k)] /= r.steps;
  }
  r.macs = unet_macs(model.unet().config(), r.height / model.latent_factor(), r.width / model.latent_factor());
}

Tensor noise(const StableDiffusion& model, const BenchResult& r, uint64_t seed) {
  TorchGenerator gen(seed);
  Tensor z({1, model.latent_channels(), r.height / model.latent_factor(), r.width / model.latent_factor()});
  gen.randn(z.data(), size_t(z.numel()));
  return z;
}

void time_vae(const BenchFlags& f, const StableDiffusion& model, BenchResult& r) {
  note(f, "VAE decode (one latent)");
  const Tensor z = noise(model, r, kWeightSeed + 1);
  const auto start = Clock::now();
  const OpTimes ops_before = op_times();
  const Tensor image = [&] {
    const BufferPool::OnePass decode_once;  // as decode_latents does
    return model.vae().decode(z);
  }();
  r.vae_s = seconds_since(start);
  r.vae_ops = op_times() - ops_before;
  require_finite(image, "the VAE output");
  note(f, "VAE decoded");
}

Deviation deviation(const Tensor& a, const Tensor& reference) {
  double diff2 = 0, ref2 = 0, max_abs = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = double(a.data()[i]) - double(reference.data()[i]);
    diff2 += d * d;
    ref2 += double(reference.data()[i]) * double(reference.data()[i]);
    max_abs = std::max(max_abs, std::abs(d));
  }
  return {std::sqrt(diff2 / std::max(ref2, 1e-30)), max_abs};
}

// A kernel flag's mode: the one of its two other values' names, else Auto ("auto").
template <typename Mode>
Mode mode_named(std::string_view value, std::string_view first_name, Mode first, std::string_view second_name,
                Mode second) {
  return value == first_name ? first : value == second_name ? second : Mode::Auto;
}

// The kernel choices of --attention, --softmax, --conv and --matmul, by their values' names.
void set_kernel_modes(std::string_view attention, std::string_view softmax, std::string_view conv,
                      std::string_view matmul) {
  set_attention_kernel(mode_named(attention, "amx", AttentionKernel::Amx, "onednn", AttentionKernel::Onednn));
  set_softmax_fusion(mode_named(softmax, "fused", SoftmaxFusion::Always, "exact", SoftmaxFusion::Never));
  set_winograd(mode_named(conv, "winograd", WinogradMode::Always, "direct", WinogradMode::Never));
  set_matmul_as_convolution(
      mode_named(matmul, "conv", MatmulAsConvolution::Always, "matmul", MatmulAsConvolution::Never));
}

void set_bench_modes(const BenchFlags& f) { set_kernel_modes(f.attention, f.softmax, f.conv, f.matmul); }

// Each component of `model` against the exact path on the same weights (fp32 through oneDNN's
// direct convolutions and matmuls, the exact softmax), on identical inputs (the UNet and VAE get
// the reference's text context and the same latents), so errors do not compound.
void measure_accuracy(const BenchFlags& f, const StableDiffusion& model, BenchResult& r) {
  note(f, "building the fp32 reference model for --accuracy");
  const auto reference = build_model(f, Precision::Fp32);
  note(f, "comparing text encoder, UNet pass and VAE decode with fp32");
  const Tensor z = noise(model, r, kWeightSeed + 2);
  const Tensor latents = ops::concat_batch(z, z);
  const std::vector<float> t = {500.0f, 500.0f};
  auto outputs = [&](const StableDiffusion& m, const Conditions& c) {
    const AddedConditions* added = c.added ? &*c.added : nullptr;
    return std::array<Tensor, 2>{m.unet().forward(latents, t, c.text.context, added), m.vae().decode(z)};
  };
  const Conditions tested = encode(model, r.width, r.height);
  set_kernel_modes("onednn", "exact", "direct", "matmul");
  const Conditions c = encode(*reference, r.width, r.height);
  const auto [unet, vae] = outputs(*reference, c);
  set_bench_modes(f);
  const auto [tested_unet, tested_vae] = outputs(model, c);
  r.text_error = deviation(tested.text.context, c.text.context);
  r.unet_error = deviation(tested_unet, unet);
  r.vae_error = deviation(tested_vae, vae);
}

BenchResult run(const BenchFlags& f) {
  BenchResult r;
  set_op_profiling(true);
  note(f, "how busy the CPUs are (1 s)");
  r.busy_before = busy_share_of_cpus(1.0);
  r.threads = num_threads();
  r.steps = f.steps;
  if (f.measure_peak) {
    note(f, "machine peak and oneDNN's matmul peak (fp32, bf16)");
    r.machine_f32 = measure_fp32_peak();
    r.machine_bf16 = measure_bf16_peak();
    r.peak_f32 = measure_matmul_peak("f32", kPeakSeconds);
    r.peak_bf16 = measure_matmul_peak("bf16", kPeakSeconds);
  }

  note(f, f.model.empty() ? "building random " + f.arch + " weights" : "loading " + f.model);
  const auto start = Clock::now();
  r.precision = *precision_from_name(f.precision);
  r.low_memory = f.low_memory;
  set_bench_modes(f);
  r.conv = f.conv;
  r.matmul = f.matmul;
  r.softmax_fused = softmax_fused(r.precision);
  r.amx_attention = amx_attention_chosen(r.precision, kFlashMaxHeadDim);
  const auto model = build_model(f, r.precision);
  r.load_s = seconds_since(start);
  r.load_peak_rss_mib = peak_rss_mib();
  // Random weights are built as an in-memory fp16 "file" that a mapped checkpoint would not
  // keep resident: the running peak is what a generation needs.
  if (!reset_peak_rss()) r.load_peak_rss_mib = 0;
  r.model = model->files().source;
  r.family = std::string(model->defaults().name);
  r.width = f.width > 0 ? f.width : model->defaults().native_size;
  r.height = f.height > 0 ? f.height : model->defaults().native_size;
  count_weights(model->files(), r);

  const Conditions conditions = time_text(f, *model, r);
  if (f.low_memory) {  // what generate --low-memory does once the prompt is encoded
    model->release_text_encoders();
    use_low_memory_buffers();
  }
  time_unet(f, *model, conditions, r);
  if (f.low_memory) model->release_unet();  // as generate --low-memory once every image is sampled
  time_vae(f, *model, r);
  r.peak_rss_mib = peak_rss_mib();  // before --accuracy builds a second model
  if (f.accuracy) measure_accuracy(f, *model, r);
  return r;
}

// "0.093 TFLOP/s (gemm:jit)", or why there is no number.
std::string peak_text(const std::optional<MatmulPeak>& peak) {
  if (peak->kernel.empty()) return "not supported by oneDNN on this CPU";
  if (!peak->tflops) return "only oneDNN's reference kernel (" + peak->kernel + "), not timed";
  char s[96];
  std::snprintf(s, sizeof s, "%.3f TFLOP/s (%s)", *peak->tflops, peak->kernel.c_str());
  return s;
}

// "0.176 TFLOP/s (AVX2 FMA loop)"
std::string machine_peak_text(const std::optional<HardwarePeak>& peak) {
  if (!peak) return "no native units (emulated on the fp32 ones)";
  char s[96];
  std::snprintf(s, sizeof s, "%.3f TFLOP/s (%s loop)", peak->tflops, peak->unit.c_str());
  return s;
}

std::string precision_text(Precision p) {
  std::string s(precision_name(p));
  if (p == Precision::Bf16) s += native_bf16() ? " (native)" : " (emulated: this CPU has no native bf16)";
  return s;
}

void print_deviation(const char* what, const std::optional<Deviation>& d) {
  if (d) std::printf("%-13s relative RMS %.2e, max |diff| %.3g (vs the exact fp32 path)\n", what, d->relative_rms, d->max_abs);
}

// "conv 5.50 s (52%, 0.153 TFLOP/s), ..., other 0.02 s": `other` is the stage's time outside
// every timed op (the timestep embedding, the guidance, allocation).
std::string ops_text(const OpTimes& ops, double stage_s) {
  std::string s;
  char part[96];
  auto add = [&](std::string_view name, double seconds, double macs) {
    if (seconds < 5e-4) return;
    std::snprintf(part, sizeof part, "%s%.*s %.2f s (%.0f%%", s.empty() ? "" : ", ", int(name.size()), name.data(),
                  seconds, 100.0 * seconds / stage_s);
    s += part;
    if (macs > 0) {
      std::snprintf(part, sizeof part, ", %.3f TFLOP/s", 2.0 * macs / seconds / 1e12);
      s += part;
    }
    s += ")";
  };
  for (int k = 0; k < kOpKinds; ++k) add(op_kind_name(OpKind(k)), ops.seconds[size_t(k)], ops.macs[size_t(k)]);
  add("other", std::max(0.0, stage_s - ops.total()), 0);
  return s;
}

void print_human(const BenchResult& r, bool random_weights) {
  std::printf("model         %s: %s, %dx%d, %s, %d thread%s%s\n", r.model.c_str(), r.family.c_str(), r.width,
              r.height, precision_text(r.precision).c_str(), r.threads, r.threads == 1 ? "" : "s",
              r.low_memory ? ", low memory" : "");
  // OpenMP threads spin at barriers: on a busy machine a descheduled thread stalls the others.
  const int cpus = int(std::thread::hardware_concurrency());
  const double others = r.busy_before * cpus;  // CPUs' worth of other work
  if (r.busy_before >= 0 && others > std::max(0.25, double(cpus - r.threads)))
    std::printf("warning       other work kept %.1f of the %d CPUs busy just before the bench, which runs %d threads: "
                "times are inflated\n",
                others, cpus, r.threads);
  std::printf("%-13s %8.2f s  (%.0f M parameters, %.2f GB as stored)\n", random_weights ? "build" : "load", r.load_s,
              r.parameters / 1e6, r.weight_bytes / 1e9);
  std::printf("text encode   %8.3f s  (batch 2; first call %.3f s)\n", r.text_s, r.text_first_s);
  // Winograd does a quarter of a convolution's multiplications, so a rate from the
  // architecture's MACs is an effective one and may pass the peak.
  const bool effective = r.unet_ops.macs[size_t(OpKind::Winograd)] > 0;
  std::printf("UNet pass     %8.2f s  (batch 2; %.0f GMAC per image; %.3f TFLOP/s%s", r.unet_s, r.macs.total() / 1e9,
              r.unet_tflops(), effective ? " effective" : "");
  // Emulated bf16 runs on the fp32 units: its share is of their peak.
  const bool bf16_units = r.precision == Precision::Bf16 && r.machine_bf16;
  const std::optional<HardwarePeak>& machine = bf16_units ? r.machine_bf16 : r.machine_f32;
  if (machine)
    std::printf(", %.0f%% of the machine's %s peak", 100.0 * r.unet_tflops() / machine->tflops,
                bf16_units ? "bf16" : "fp32");
  const std::optional<MatmulPeak>& peak = r.precision == Precision::Bf16 ? r.peak_bf16 : r.peak_f32;
  if (peak && peak->tflops)
    std::printf(", %.0f%% of oneDNN's %s matmul peak", 100.0 * r.unet_tflops() / *peak->tflops,
                std::string(precision_name(r.precision)).c_str());
  std::printf(")\n");
  std::printf("CFG step      %8.2f s  (mean of %d", r.step_s, r.steps);
  if (r.steps > 1) std::printf(", fastest %.2f s", r.fastest_step_s);
  std::printf("; warm-up step %.2f s; per step %.0f page faults, %.0f tensor buffers not from the pool)\n",
              r.warmup_step_s, r.step_page_faults, r.step_fresh_buffers);
  std::printf("  by op       %s\n", ops_text(r.unet_ops, r.step_s).c_str());
  std::printf("  softmax     %s", r.amx_attention ? "AMX tile kernel (heads of up to 64 values), else "
                                                    : "");
  std::printf("%s", r.softmax_fused ? "fused into the attention products" : "exact (scores, then softmax)");
  if (r.step_softmax_fallbacks > 0) std::printf("; %.0f query blocks per step fell back to exact", r.step_softmax_fallbacks);
  std::printf("\n");
  std::printf("  3x3 conv    %s\n", r.conv == "winograd" ? "Winograd F(4x4,3x3) wherever it applies"
                                  : r.conv == "direct" ? "oneDNN's direct kernel"
                                                       : "Winograd F(4x4,3x3) where oneDNN's kernel is AVX2 and it pays, "
                                                         "else oneDNN's direct kernel");
  std::printf("VAE decode    %8.2f s  (one latent, first call)\n", r.vae_s);
  std::printf("  by op       %s\n", ops_text(r.vae_ops, r.vae_s).c_str());
  std::printf("peak RSS      %8.2f GiB", r.peak_rss_mib / 1024.0);
  if (r.load_peak_rss_mib > 0) std::printf("  (text encode to VAE decode; %.2f GiB while %s)", r.load_peak_rss_mib / 1024.0,
                                           random_weights ? "building the random weights" : "loading");
  std::printf("\n");
  std::printf("UNet MACs     conv %.0f G, linear %.0f G, attention %.0f G per image\n", r.macs.conv / 1e9,
              r.macs.linear / 1e9, r.macs.attention / 1e9);
  if (r.machine_f32)
    std::printf("machine peak  fp32 %s; bf16 %s\n", machine_peak_text(r.machine_f32).c_str(),
                machine_peak_text(r.machine_bf16).c_str());
  if (r.peak_f32) std::printf("matmul peak   fp32 %s; bf16 %s\n", peak_text(r.peak_f32).c_str(), peak_text(r.peak_bf16).c_str());
  print_deviation("text context", r.text_error);
  print_deviation("UNet output", r.unet_error);
  print_deviation("VAE image", r.vae_error);
}

nlohmann::json ops_json(const OpTimes& ops) {
  nlohmann::json j = nlohmann::json::object();
  for (int k = 0; k < kOpKinds; ++k) j[std::string(op_kind_name(OpKind(k)))] = ops.seconds[size_t(k)];
  return j;
}

nlohmann::json deviation_json(const std::optional<Deviation>& d) {
  if (!d) return nullptr;
  return {{"relative_rms", d->relative_rms}, {"max_abs", d->max_abs}};
}

nlohmann::json peak_json(const std::optional<MatmulPeak>& peak) {
  if (!peak) return nullptr;
  return {{"tflops", peak->tflops ? nlohmann::json(*peak->tflops) : nlohmann::json(nullptr)},
          {"kernel", peak->kernel.empty() ? nlohmann::json(nullptr) : nlohmann::json(peak->kernel)}};
}

nlohmann::json machine_peak_json(const std::optional<HardwarePeak>& peak) {
  if (!peak) return nullptr;
  return {{"tflops", peak->tflops}, {"unit", peak->unit}};
}

void print_json(const BenchResult& r) {
  const nlohmann::json j = {
      {"model", r.model},
      {"family", r.family},
      {"width", r.width},
      {"height", r.height},
      {"precision", precision_name(r.precision)},
      {"native_bf16", native_bf16()},
      {"low_memory", r.low_memory},
      {"threads", r.threads},
      {"steps", r.steps},
      {"parameters", r.parameters},
      {"load_s", r.load_s},
      {"text_encode_s", r.text_s},
      {"text_encode_first_s", r.text_first_s},
      {"unet_pass_s", r.unet_s},
      {"cfg_step_s", r.step_s},
      {"fastest_step_s", r.fastest_step_s},
      {"warmup_step_s", r.warmup_step_s},
      {"step_page_faults", r.step_page_faults},
      {"step_fresh_buffers", r.step_fresh_buffers},
      {"softmax_fused", r.softmax_fused},
      {"amx_attention", r.amx_attention},
      {"conv", r.conv},
      {"matmul", r.matmul},
      {"step_softmax_fallbacks", r.step_softmax_fallbacks},
      {"vae_decode_s", r.vae_s},
      {"cfg_step_ops_s", ops_json(r.unet_ops)},
      {"vae_decode_ops_s", ops_json(r.vae_ops)},
      {"peak_rss_mib", r.peak_rss_mib},
      {"load_peak_rss_mib", r.load_peak_rss_mib},
      {"busy_before", r.busy_before},
      {"unet_gmac_per_image", r.macs.total() / 1e9},
      {"unet_tflops", r.unet_tflops()},
      {"machine_peak_fp32", machine_peak_json(r.machine_f32)},
      {"machine_peak_bf16", machine_peak_json(r.machine_bf16)},
      {"peak_fp32", peak_json(r.peak_f32)},
      {"peak_bf16", peak_json(r.peak_bf16)},
      {"text_error", deviation_json(r.text_error)},
      {"unet_error", deviation_json(r.unet_error)},
      {"vae_error", deviation_json(r.vae_error)},
  };
  std::printf("%s\n", j.dump().c_str());
}

int run_bench(BenchFlags f) {
  set_num_threads(f.threads);
  if (f.width < 0 || f.height < 0 || f.width % 8 || f.height % 8)
    throw Error("-W/-H must be positive multiples of 8, got " + std::to_string(f.width) + "x" + std::to_string(f.height));
  if (f.first_image) {
    set_bench_modes(f);
    return run_first_image({f.model.empty() ? f.arch : "", f.model, f.width, f.height, f.steps > 0 ? f.steps : 20,
                            f.threads, *precision_from_name(f.precision), f.low_memory, f.json});
  }
  if (f.steps <= 0) f.steps = 2;
  const BenchResult r = run(f);
  f.json ? print_json(r) : print_human(r, f.model.empty());
  return 0;
}

}  // namespace

Command add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Time text encoding, the UNet, a CFG step and the VAE on full-size models");
  auto f = std::make_shared<BenchFlags>();
  auto* arch = cmd->add_option("--arch", f->arch, "Random-weight model made in memory")
                   ->capture_default_str()
                   ->check(CLI::IsMember(random_model_archs()));
  cmd->add_option("-m,--model", f->model, "A real checkpoint instead (.safetensors, .ckpt, diffusers folder)")
      ->excludes(arch);
  cmd->add_option("-W,--width", f->width, "Image width (default: the model's native size)");
  cmd->add_option("-H,--height", f->height, "Image height (default: the model's native size)");
  cmd->add_option("--steps", f->steps, "Timed CFG steps, after one warm-up step (default 2); with --first-image, "
                                       "the image's sampling steps (default 20)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("-t,--threads", f->threads, "Threads (default: all cores)");
  cmd->add_option("--precision", f->precision, "Compute precision (auto: bf16 where the CPU runs it natively)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}));
  cmd->add_option("--attention", f->attention,
                  "bf16 attention: amx (a tile kernel: scores, exp and the second product per block of 16 "
                  "queries in the core's tile registers; heads of up to 64 values), onednn (oneDNN's products), "
                  "or auto (onednn until the amx kernel is measured)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "onednn", "amx"}));
  cmd->add_option("--softmax", f->softmax,
                  "Attention's softmax: fused into the products, exact, or auto (fused where oneDNN's brgemm "
                  "kernels run it: AVX-512, AMX)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fused", "exact"}));
  cmd->add_option("--conv", f->conv,
                  "3x3 convolutions: winograd (F(4x4,3x3)), direct (oneDNN's kernel), or auto (Winograd where "
                  "oneDNN's kernel is AVX2 and the layer is large enough to pay)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "winograd", "direct"}));
  cmd->add_option("--matmul", f->matmul,
                  "Linear layers and attention's products: matmul (oneDNN's), conv (oneDNN's 1x1 convolution over "
                  "the rows), or auto (the convolution where the matmul's kernel is AVX2's gemm:jit)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "matmul", "conv"}));
  cmd->add_flag("--json", f->json, "One JSON object on stdout, for tracking");
  auto* low_memory = cmd->add_flag("--low-memory", f->low_memory,
                                   "As generate --low-memory: free the text encoders after encoding and the UNet "
                                   "before the VAE decode");
  // --accuracy runs the components again after the timings, by when --low-memory has freed them.
  cmd->add_flag("--accuracy", f->accuracy,
                "Also build the model in fp32 and report each component's deviation from it on the same input "
                "(fp32 through oneDNN's direct convolutions and matmuls, with the exact softmax)")
      ->excludes(low_memory);
  cmd->add_flag("--measure-peak", f->measure_peak,
                "Also measure the machine's fp32 and bf16 peak (multiply-add loops on registers) and oneDNN's "
                "matmul peak (a few seconds)");
  cmd->add_flag("--first-image", f->first_image,
                "Instead, the whole timeline a user waits through for one image: load the checkpoint file (page-cached; "
                "--arch writes its random weights to a temporary single file first), encode the prompt, each "
                "sampling step, decode; the first step against the later ones")
      ->excludes("--accuracy")
      ->excludes("--measure-peak");
  return {cmd, [f] { return run_bench(*f); }};
}

}  // namespace diffuse::app
