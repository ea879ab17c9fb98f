#include <chrono>
#include <cmath>
#include <limits>
#include <cstdio>
#include <filesystem>
#include <random>

#include "app/commands.h"
#include "app/memory_usage.h"
#include "app/progress_bar.h"
#include "core/dnnl_context.h"
#include "core/error.h"
#include "io/generation_parameters.h"
#include "pipeline/generate.h"
#include "pipeline/generation_record.h"
#include "pipeline/hires_fix.h"
#include "pipeline/inpaint.h"
#include "pipeline/model_defaults.h"
#include "pipeline/previewer.h"
#include "pipeline/prompt_loras.h"
#include "sampling/sampler_names.h"

namespace diffuse::app {
namespace {

struct GenerateFlags {
  std::string model, prompt, negative, sampler, scheduler = "default", init_img, output = "output.png";
  std::string rng = "cpu", precision = "auto", prediction, timestep_spacing;
  bool negative_given = false, verbose = false, low_memory = false;
  int64_t seed = 42;
  int steps = 0, width = 0, height = 0, batch_count = 1, threads = 0;  // 0: the model's
  double cfg_scale = std::numeric_limits<double>::quiet_NaN(), strength = 0.75;  // NaN: the model's
  std::vector<int> original_size, crop, target_size;
  std::string prompt_weighting = "on";
  int clip_skip = 0;  // 0: the family's
  std::string vae, lora_model_dir = ".";
  std::vector<std::string> loras;  // FILE[:SCALE]
  bool lora_lenient = false;
  std::string mask;
  int mask_blur = 4;
  bool invert_mask = false;
  bool vae_tiling = false;
  int vae_tile_size = 0;  // 0: the model's native size
  bool hires = false;
  HiresFix hr;
  std::string hr_upscaler = "latent";
  std::string taesd, preview = "none", preview_path = "preview.png";
  bool taesd_preview_only = false;
  int preview_interval = 1;
};

// A --sampling-method / --scheduler value the name table (sampling/sampler_names.h) resolves;
// its error, listing the implemented names, is the usage error.
template <class Resolve>
CLI::Validator name_in_table(Resolve resolve) {
  return CLI::Validator(
      [resolve](std::string& name) -> std::string {
        try {
          resolve(name);
          return "";
        } catch (const Error& e) {
          return e.what();
        }
      },
      "NAME");
}

// batch_count 1: the name given; else name_1.png, name_2.png, ... (stable-diffusion.cpp's convention).
std::string output_path(const std::string& base, int index, int count) {
  if (count == 1) return base;
  std::filesystem::path p(base);
  return (p.parent_path() / (p.stem().string() + "_" + std::to_string(index + 1) + p.extension().string())).string();
}

std::array<int, 2> pair_flag(const std::vector<int>& v, const char* flag) {
  if (v.empty()) return {0, 0};
  if (v.size() != 2 || v[0] < 0 || v[1] < 0) throw Error(std::string(flag) + " takes two non-negative numbers: H W");
  return {v[0], v[1]};
}

int run_generate(const GenerateFlags& f) {
  set_num_threads(f.threads);
  if (f.preview == "tae" && f.taesd.empty()) throw Error("--preview tae needs a TAESD: --taesd FILE");
  if (f.rng != "cpu") throw Error("--rng " + f.rng + " is not supported; only 'cpu' (torch CPU generator) exists");
  LoadOptions load;
  load.precision = *precision_from_name(f.precision);
  load.low_memory = f.low_memory;
  if (f.low_memory) use_low_memory_buffers();
  if (f.prediction == "v") load.prediction = Prediction::V;
  if (f.prediction == "eps") load.prediction = Prediction::Epsilon;
  PromptLoras loras = prompt_loras(f.prompt, f.loras, f.lora_model_dir);
  if (f.negative_given) add_negative_loras(loras, f.negative, f.lora_model_dir);
  load.loras = loras.specs;
  load.lora_lenient = f.lora_lenient;
  load.vae_path = f.vae;
  load.taesd_path = f.taesd;
  load.taesd_preview_only = f.taesd_preview_only;

  auto clock = std::chrono::steady_clock::now();
  const std::string model_path = f.model.empty() ? default_model_path() : f.model;
  auto model = StableDiffusion::load(model_path, load);
  const UsageDefaults usage = usage_defaults(model->files(), model->family());
  if (f.threads <= 0) set_num_threads(usage.threads);
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - clock).count();
  const LoraMergeStats& merged = model->lora_merge();
  for (const std::string& warning : merged.warnings) std::fprintf(stderr, "%s\n", warning.c_str());
  if (merged.files > 0)
    std::fprintf(stderr, "lora: merged %zu file(s), %zu layers into %zu weights in %.2f s\n", merged.files,
                 merged.layers, merged.weights, merged.seconds);

  GenerateOptions o;
  o.prompt = loras.prompt;
  o.negative_prompt = loras.negative_prompt;
  o.steps = f.steps > 0 ? f.steps : usage.steps;
  o.cfg_scale = std::isnan(f.cfg_scale) ? usage.cfg_scale : f.cfg_scale;
  o.width = f.width > 0 ? f.width : usage.width;
  o.height = f.height > 0 ? f.height : usage.height;
  const SamplerChoice sampler = resolve_sampler(f.sampler.empty() ? usage.sampler : f.sampler);
  o.sampler = sampler.sampler;
  o.karras = sampler.karras || resolve_scheduler(f.scheduler) == SigmaSchedule::Karras;
  o.timestep_spacing = f.timestep_spacing.empty() ? sampler.timestep_spacing : f.timestep_spacing;
  o.prompt_weighting = f.prompt_weighting == "on";
  o.clip_skip = f.clip_skip;
  o.strength = f.strength;
  o.original_size = pair_flag(f.original_size, "--original-size");
  o.crop = pair_flag(f.crop, "--crop");
  o.target_size = pair_flag(f.target_size, "--target-size");
  if (!f.init_img.empty()) o.init_image = read_png(f.init_img);
  if (!f.mask.empty()) {
    try {
      o.mask = read_png(f.mask);
    } catch (const Error& e) {
      throw Error(std::string("--mask: ") + e.what());
    }
  }
  o.mask_blur = f.mask_blur;
  o.invert_mask = f.invert_mask;
  o.vae_tiling = f.vae_tiling;
  o.vae_tile_size = f.vae_tile_size;
  if (f.hires) {
    o.hires = f.hr;
    o.hires->upscaler = hires_upscaler_from_name(f.hr_upscaler);
  }
  const int64_t first_seed = f.seed >= 0 ? f.seed : int64_t(std::random_device{}() & 0x7fffffff);

  if (f.verbose)
    std::fprintf(stderr, "model: %s (%s, %s prediction: %s), %s%s, loaded in %.2f s\n", model_path.c_str(),
                 std::string(model->defaults().name).c_str(), model->prediction() == Prediction::V ? "v" : "eps",
                 model->prediction_source().c_str(), std::string(precision_name(load.precision)).c_str(),
                 load.precision == Precision::Bf16 && !native_bf16() ? " (emulated: no native bf16 on this CPU)" : "",
                 load_seconds);
  std::optional<Previewer> previewer;
  if (f.preview != "none") previewer.emplace(*model, *preview_method(f.preview));
  // Decodes image i (its latents sampled with seed first_seed + i) and writes its PNG.
  auto finish = [&](int i, GenerateResult& r) {
    decode_latents(*model, r, o);
    GenerationParameters p =
        generation_parameters(o, first_seed + i, std::filesystem::path(model_path).filename().string());
    record_loras(p, loras);
    const std::string path = output_path(f.output, i, f.batch_count);
    write_png(path, r.image, {{"parameters", format_parameters(p)}});
    std::fprintf(stderr,
                 "wrote %s (seed %lld): text encode %.2f s, sampling %.2f s (%d UNet calls), decode %.2f s, "
                 "peak memory %.0f MiB\n",
                 path.c_str(), (long long)p.seed, r.times.text_encode, r.times.sampling, r.times.unet_calls,
                 r.times.decode, peak_rss_mib());
    r = {};
  };
  // --low-memory samples every image before the UNet is freed and the first is decoded: the
  // UNet's weights and the VAE's full-resolution activations are never resident together.
  std::vector<GenerateResult> sampled(size_t(f.batch_count));
  for (int i = 0; i < f.batch_count; ++i) {
    o.seed = first_seed + i;
    ProgressBar bar("sampling");
    sampled[size_t(i)] = sample_latents(*model, o, [&](const StepProgress& p) {
      bar.update(p.done, p.total);
      // Written to a temporary name and renamed, so a viewer never reads half a PNG.
      if (previewer && (p.done % f.preview_interval == 0 || p.done == p.total)) {
        write_png(f.preview_path + ".tmp", previewer->render(p.denoised));
        std::filesystem::rename(f.preview_path + ".tmp", f.preview_path);
      }
    });
    if (!f.low_memory) finish(i, sampled[size_t(i)]);
  }
  if (f.low_memory) {
    model->release_unet();
    for (int i = 0; i < f.batch_count; ++i) finish(i, sampled[size_t(i)]);
  }
  return 0;
}

}  // namespace

Command add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate images from a prompt (txt2img, img2img with --init-img, inpainting with --mask)");
  auto f = std::make_shared<GenerateFlags>();
  cmd->add_option("-m,--model", f->model, "Checkpoint: .safetensors, .ckpt, or a diffusers folder (default: the built-in demo model)");
  cmd->add_option("-p,--prompt", f->prompt, "Prompt")->required();
  cmd->add_option("-n,--negative-prompt", f->negative, "Negative prompt (SDXL: none given = zero embeddings)")
      ->each([f](const std::string&) { f->negative_given = true; });
  cmd->add_option("-s,--seed", f->seed, "Seed; -1 for a random one")->capture_default_str();
  cmd->add_option("--steps", f->steps, "Sampling steps (default: the model's; 50 for SD checkpoints)")->check(CLI::Range(1, 10000));
  cmd->add_option("--cfg-scale", f->cfg_scale,
                  "Classifier-free guidance scale; <= 1 skips the unconditional pass (default: the model's; 7.5 for SD checkpoints)");
  cmd->add_option("--sampling-method", f->sampler,
                  "Sampler: " + implemented_samplers() + "; case-insensitive (default: the model's, pndm for SD1)")
      ->check(name_in_table(resolve_sampler));
  cmd->add_option("--scheduler", f->scheduler, "Sigma schedule: " + implemented_schedulers())
      ->capture_default_str()->check(name_in_table(resolve_scheduler));
  cmd->add_option("--prompt-weighting", f->prompt_weighting,
                  "on: A1111's prompt syntax, (word:1.2) (word) [word] \\( BREAK, and prompts beyond 75 tokens in "
                  "chunks; off: the prompt read as diffusers reads it (plain text, cut after 75 tokens)")
      ->capture_default_str()->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--clip-skip", f->clip_skip,
                  "Condition on the text encoder's N-th layer from the end, as A1111's Clip skip and sd.cpp's "
                  "--clip-skip (1: the last; default: 1 for SD1, 2 for SD2 and SDXL)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timestep-spacing", f->timestep_spacing,
                  "Override the scheduler's timestep spacing (trailing for SD-Turbo/SDXL-Turbo)")
      ->check(CLI::IsMember({"linspace", "leading", "trailing"}));
  cmd->add_option("-W,--width", f->width, "Image width, a multiple of 8 (default: the model's native size)");
  cmd->add_option("-H,--height", f->height, "Image height, a multiple of 8 (default: the model's native size)");
  auto* init_img = cmd->add_option("-i,--init-img", f->init_img, "Initial image (PNG) for img2img and inpainting");
  cmd->add_option("--strength", f->strength, "img2img strength in (0, 1]")->capture_default_str();
  cmd->add_option("--mask", f->mask,
                  "Inpainting mask (PNG; white = repaint, black = keep; resized to the image when its size differs)")
      ->needs(init_img);
  cmd->add_option("--mask-blur", f->mask_blur,
                  "Gaussian blur of the mask in pixels before it is binarised at 0.5, as A1111's Mask blur (0: none)")
      ->capture_default_str()->check(CLI::Range(0, kMaxMaskBlur));
  cmd->add_flag("--invert-mask", f->invert_mask, "Repaint the black part of the mask instead (A1111's Inpaint not masked)");
  cmd->add_flag("--vae-tiling", f->vae_tiling,
                "Decode and encode with the VAE in overlapping tiles, as diffusers' enable_tiling: the memory of one "
                "tile at any image size (pixels near the seams differ slightly)");
  cmd->add_option("--vae-tile-size", f->vae_tile_size,
                  "VAE tile side in latent pixels, a multiple of 4 (default: the model's native size / 8, e.g. 64 for SD 1.x)")
      ->check(CLI::Range(4, 4096));
  auto* hires = cmd->add_flag("--hires", f->hires,
                              "A1111's hires fix: generate at -W x -H, upscale by --hr-scale, then img2img at --hr-denoise");
  cmd->add_option("--hr-scale", f->hr.scale, "Hires fix: upscale factor, in [1, 4]")
      ->capture_default_str()->check(CLI::Range(1.0, 4.0))->needs(hires);
  cmd->add_option("--hr-denoise", f->hr.denoise, "Hires fix: the second pass's img2img strength, in [0, 1] (A1111's Denoising strength)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0))->needs(hires);
  cmd->add_option("--hr-steps", f->hr.steps,
                  "Hires fix: the second pass's schedule length, of which int(steps x denoise) run (default: --steps)")
      ->check(CLI::Range(1, 10000))->needs(hires);
  cmd->add_option("--hr-upscaler", f->hr_upscaler,
                  "Hires fix: latent (A1111's Latent: bilinear), latent-nearest (Latent (nearest)) or lanczos (decode, "
                  "Lanczos resize, encode)")
      ->capture_default_str()->check(CLI::IsMember({"latent", "latent-nearest", "lanczos"}))->needs(hires);
  auto* taesd = cmd->add_option("--taesd", f->taesd,
                  "Tiny autoencoder (TAESD: diffusers' AutoencoderTiny folder or file, or the original taesd_decoder "
                  ".safetensors/.pth) to decode the images with: ~10x less work than the VAE, softer detail");
  cmd->add_flag("--taesd-preview-only", f->taesd_preview_only, "Use --taesd for previews only; the VAE decodes the images")
      ->needs(taesd);
  cmd->add_option("--preview", f->preview,
                  "Write a preview of the image under way to --preview-path: proj (the latents' colours, one pixel per "
                  "latent pixel), tae (--taesd's decode) or vae (the VAE's, slow)")
      ->capture_default_str()->check(CLI::IsMember({"none", "proj", "tae", "vae"}));
  cmd->add_option("--preview-path", f->preview_path, "Where --preview writes")->capture_default_str();
  cmd->add_option("--preview-interval", f->preview_interval, "Write the preview every N steps (and at the last)")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  cmd->add_option("-b,--batch-count", f->batch_count, "Images to make; image i uses seed + i")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  cmd->add_option("-t,--threads", f->threads, "Threads (default: all cores; 1 for a tiny model such as the built-in one)");
  cmd->add_option("-o,--output", f->output, "Output PNG (batches: name_1.png, name_2.png, ...)")->capture_default_str();
  cmd->add_option("--rng", f->rng, "Noise generator: cpu = torch CPU generator, as diffusers")
      ->capture_default_str()->check(CLI::IsMember({"cpu"}));
  cmd->add_option("--precision", f->precision, "Compute precision: fp32 (reference), bf16 (half the memory; fast where the CPU has "
                  "AVX512-BF16/AMX, emulated elsewhere), auto (bf16 where native, else fp32)")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "bf16", "auto"}));
  cmd->add_option("--prediction", f->prediction, "What the UNet predicts (default: from the model)")
      ->check(CLI::IsMember({"eps", "v"}));
  cmd->add_option("--original-size", f->original_size, "SDXL micro-conditioning: original H W")->expected(2);
  cmd->add_option("--crop", f->crop, "SDXL micro-conditioning: crop top left")->expected(2);
  cmd->add_option("--target-size", f->target_size, "SDXL micro-conditioning: target H W")->expected(2);
  cmd->add_option("--vae", f->vae, "VAE file replacing the model's (e.g. vae-ft-mse-840000; CompVis or diffusers names)");
  cmd->add_option("--lora", f->loras, "LoRA file to merge, FILE[:SCALE] (scale 1 when none; repeatable)");
  cmd->add_option("--lora-model-dir", f->lora_model_dir, "Where the <lora:NAME:SCALE> tags of the prompt and negative prompt find NAME.safetensors")
      ->capture_default_str();
  cmd->add_flag("--lora-lenient", f->lora_lenient, "Skip LoRA keys that match no layer of the model (listed) instead of failing");
  cmd->add_flag("--low-memory", f->low_memory,
                "Free the text encoders once the prompt is encoded and the UNet once every image is sampled, and "
                "keep spare activation buffers only within the live tensors' peak");
  cmd->add_flag("-v,--verbose", f->verbose, "Print more about what happens");
  return {cmd, [f] { return run_generate(*f); }};
}

}  // namespace diffuse::app
