#pragma once
#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "io/image.h"
#include "pipeline/stable_diffusion.h"

namespace diffuse {

// A1111's "Hires. fix" settings: the first pass's latents (Latent: bilinear, LatentNearest: nearest, as
// torch's interpolate) or decoded pixels (Lanczos, then encoded again) upscaled by `scale`, then img2img
// at strength `denoise` over a schedule of `steps` (0: the first pass's) with the same seed.
enum class HiresUpscaler { Latent, LatentNearest, Lanczos };
struct HiresFix {
  double scale = 2.0;
  double denoise = 0.7;
  int steps = 0;
  HiresUpscaler upscaler = HiresUpscaler::Latent;
};

struct GenerateOptions {
  std::string prompt;
  std::optional<std::string> negative_prompt;  // none: "" (SDXL: zero embeddings, as diffusers)
  // A1111's emphasis syntax, BREAK and long prompts in 75-token chunks (pipeline/prompt_conditioning.h);
  // false: the prompts read as diffusers reads them.
  bool prompt_weighting = true;
  int clip_skip = 0;  // A1111's "Clip skip"; 0: the family's (PromptOptions)
  int64_t seed = 42;
  int steps = 50;
  double cfg_scale = 7.5;
  int width = 512, height = 512;
  std::string sampler;  // "" = the model's default
  bool karras = false;
  std::optional<std::string> timestep_spacing;  // overrides the scheduler config's: linspace, leading, trailing
  std::optional<Image> init_image;  // img2img
  // img2img from latents already encoded and scaled (the hires fix's upscaled ones), instead of
  // init_image: [1, latent channels, height / f, width / f]; the generator then draws no VAE sample.
  std::optional<Tensor> init_latents;
  double strength = 0.75;
  // Inpainting (needs init_image): white = repaint, as A1111; another size is resized to the image's.
  // With an inpainting UNet, diffusers' StableDiffusionInpaintPipeline; with an ordinary one, its
  // latent blending of the known region after every step (pipeline/inpaint.h prepares the mask).
  std::optional<Image> mask;
  int mask_blur = 4;         // A1111's Gaussian blur of the mask (sigma in pixels) before binarising; 0: none
  bool invert_mask = false;  // repaint the black part instead (A1111's "Inpaint not masked")
  // SDXL micro-conditioning; zeros mean "the image size" / no crop.
  std::array<int, 2> original_size{0, 0}, crop{0, 0}, target_size{0, 0};
  // The VAE's decode and encode in overlapping tiles (pipeline/vae_tiling.h, diffusers' enable_tiling):
  // one tile's memory at any size, pixels near the seams a little different from one whole decode.
  bool vae_tiling = false;
  int vae_tile_size = 0;  // tile side in latent pixels (diffusers' tile_latent_min_size); 0: native size / f
  // A1111's hires fix (pipeline/hires_fix.h): this image made at width x height, then upscaled and
  // refined by img2img. nullopt: one pass.
  std::optional<HiresFix> hires;
};

struct StageTimes {
  double text_encode = 0, sampling = 0, decode = 0, encode = 0;
  int unet_calls = 0;
};

struct GenerateResult {
  Image image;
  Tensor start_latents, final_latents, decoded;  // decoded: VAE output in [-1,1], NCHW
  StageTimes times;
};

// After every UNet evaluation: `done` of `total` evaluations, and the clean latents that
// evaluation predicts (what a preview shows, and what an interrupted image is made from).
struct StepProgress {
  int done, total;
  const Tensor& denoised;
};
using ProgressFn = std::function<void(const StepProgress&)>;

// One image the way diffusers' StableDiffusion(XL)(Img2Img|Inpaint)Pipeline makes it, with a CPU
// torch.Generator seeded with options.seed. Throws Error for invalid options.
GenerateResult generate(const StableDiffusion& model, const GenerateOptions& options, const ProgressFn& progress = {});

// generate() in its two halves, for a caller that frees the UNet between them (--low-memory): the
// first stops at the denoised latents (image and decoded left empty), the second decodes them (tiled
// as options say; the defaults: in one piece).
GenerateResult sample_latents(const StableDiffusion& model, const GenerateOptions& options,
                              const ProgressFn& progress = {});
void decode_latents(const StableDiffusion& model, GenerateResult& result, const GenerateOptions& options = {});

// The latents img2img starts from for `image` (options.width x options.height): the VAE's
// latent_dist.sample(), drawn first from a generator seeded with options.seed as the pass draws it,
// times the scaling factor; tiled as options say.
Tensor encode_image(const StableDiffusion& model, const Image& image, const GenerateOptions& options);

// diffusers' postprocessing: round(clamp(x / 2 + 0.5, 0, 1) * 255).
Image to_image(const Tensor& decoded_nchw, int64_t index = 0);

}  // namespace diffuse
