#include "pipeline/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/buffer_pool.h"
#include "core/error.h"
#include "core/ops.h"
#include "pipeline/hires_fix.h"
#include "pipeline/inpaint.h"
#include "pipeline/vae_tiling.h"
#include "sampling/samplers.h"
#include "sampling/torch_generator.h"

namespace diffuse {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void validate(const GenerateOptions& o) {
  if (o.width <= 0 || o.height <= 0 || o.width % 8 || o.height % 8)
    throw Error("image size " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                " is not a positive multiple of 8");
  if (o.steps < 1) throw Error("--steps must be at least 1, got " + std::to_string(o.steps));
  if (!(o.strength > 0.0 && o.strength <= 1.0))
    throw Error("--strength must be in (0, 1], got " + std::to_string(o.strength));
  if (o.init_image && (o.init_image->width != o.width || o.init_image->height != o.height))
    throw Error("init image is " + std::to_string(o.init_image->width) + "x" + std::to_string(o.init_image->height) +
                " but the output is " + std::to_string(o.width) + "x" + std::to_string(o.height));
  if (o.mask && !o.init_image) throw Error("a mask needs an init image (-i/--init-img) to inpaint");
  if (o.mask_blur < 0 || o.mask_blur > kMaxMaskBlur)
    throw Error("--mask-blur must be in [0, " + std::to_string(kMaxMaskBlur) + "], got " + std::to_string(o.mask_blur));
  if (o.init_latents && (o.init_image || o.mask)) throw Error("init latents replace the init image: give one, not both");
  if (o.vae_tile_size != 0) check_tile_size(o.vae_tile_size);
}

// The VAE tile side in latent pixels, 0 for no tiling. diffusers' default, the VAE config's sample_size,
// is the native size of the checkpoints it converts.
int vae_tile(const StableDiffusion& model, const GenerateOptions& o) {
  if (!o.vae_tiling) return 0;
  return o.vae_tile_size > 0 ? o.vae_tile_size : model.defaults().native_size / model.latent_factor();
}

Tensor randn(TorchGenerator& gen, Shape shape) {
  Tensor t(std::move(shape));
  gen.randn(t.data(), size_t(t.numel()));
  return t;
}

Tensor ones(Shape shape) {
  Tensor t(std::move(shape));
  std::fill_n(t.data(), t.numel(), 1.0f);
  return t;
}

// u8 RGB -> NCHW in [-1, 1], as diffusers' VaeImageProcessor (x / 255 * 2 - 1 in fp32).
Tensor from_image(const Image& image) {
  const int64_t h = image.height, w = image.width;
  Tensor t({1, 3, h, w});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < h * w; ++i) t.data()[c * h * w + i] = 2.0f * (float(image.rgb[size_t(i * 3 + c)]) / 255.0f) - 1.0f;
  return t;
}

// The VAE's latents of an NCHW image in [-1, 1]: latent_dist.sample() (one draw from `gen`) times
// the scaling factor, as diffusers' pipelines encode init images; in tiles of `tile` latent pixels unless 0.
Tensor encode_latents(const StableDiffusion& model, const Tensor& image, TorchGenerator& gen, int tile) {
  Vae::Moments moments = [&] {
    const BufferPool::OnePass encode_once;
    return tile ? tiled_encode(model.vae(), image, tile) : model.vae().encode(image);
  }();
  Tensor latents = moments.sample(randn(gen, moments.mean.shape()));
  ops::scale_(latents, model.vae_scaling_factor());
  return latents;
}

// Classifier-free guidance over the batch [unconditional, conditional]: u + cfg * (c - u).
// With cfg <= 1 the unconditional pass is skipped, as diffusers does. `extra` (an inpainting
// UNet's mask and masked-image latents) joins the latents after the sampler's scale_model_input.
ModelFn guided_unet(const StableDiffusion& model, const Conditioning& cond, const std::optional<AddedConditions>& added,
                    double cfg, const Tensor& extra, int& calls) {
  const bool guided = cfg > 1.0;
  return [&model, &cond, &added, cfg, guided, &extra, &calls](const Tensor& latents, double t) {
    ++calls;
    const Tensor x = extra.empty() ? latents : concat_channels(latents, extra);
    const Tensor input = guided ? ops::concat_batch(x, x) : x;
    std::vector<float> ts(size_t(input.dim(0)), float(t));
    Tensor out = model.unet().forward(input, ts, cond.context, added ? &*added : nullptr);
    if (!guided) return out;
    const int64_t n = latents.numel();
    Tensor eps(latents.shape());
    for (int64_t i = 0; i < n; ++i) {
      const float u = out.data()[i], c = out.data()[n + i];
      eps.data()[i] = u + float(cfg) * (c - u);
    }
    return eps;
  };
}

}  // namespace

Image to_image(const Tensor& decoded, int64_t index) {
  const int64_t h = decoded.dim(2), w = decoded.dim(3);
  Image image{int(w), int(h), std::vector<uint8_t>(size_t(h * w * 3))};
  const float* src = decoded.data() + index * 3 * h * w;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < h * w; ++i) {
      const float v = std::clamp(src[c * h * w + i] / 2.0f + 0.5f, 0.0f, 1.0f);
      image.rgb[size_t(i * 3 + c)] = uint8_t(std::nearbyint(v * 255.0f));
    }
  return image;
}

namespace {

// One sampling pass: txt2img, img2img or inpainting.
GenerateResult sample_pass(const StableDiffusion& model, const GenerateOptions& o, const ProgressFn& progress) {
  validate(o);
  GenerateResult result;
  const bool guided = o.cfg_scale > 1.0;
  const Family family = model.family();

  auto clock = std::chrono::steady_clock::now();
  std::vector<std::string> prompts;
  if (guided) prompts.push_back(o.negative_prompt.value_or(""));
  prompts.push_back(o.prompt);
  Conditioning cond = model.conditioning(prompts, {o.prompt_weighting, o.clip_skip});
  if (guided && family == Family::SDXL && !o.negative_prompt) {  // force_zeros_for_empty_prompt
    std::fill_n(cond.context.data(), cond.context.numel() / 2, 0.0f);
    std::fill_n(cond.pooled.data(), cond.pooled.numel() / 2, 0.0f);
  }
  std::optional<AddedConditions> added;
  if (family == Family::SDXL) {
    auto pick = [](std::array<int, 2> v, int h, int w) { return v[0] > 0 ? v : std::array<int, 2>{h, w}; };
    const auto orig = pick(o.original_size, o.height, o.width), target = pick(o.target_size, o.height, o.width);
    const std::vector<float> ids{float(orig[0]), float(orig[1]), float(o.crop[0]), float(o.crop[1]),
                                 float(target[0]), float(target[1])};
    std::vector<float> all;
    for (size_t i = 0; i < prompts.size(); ++i) all.insert(all.end(), ids.begin(), ids.end());
    added = AddedConditions{cond.pooled, Tensor::from({int64_t(prompts.size()), 6}, all)};
  }
  result.times.text_encode = seconds_since(clock);

  SamplerOptions sampler{o.sampler.empty() ? model.default_sampler() : o.sampler, o.karras, o.steps};
  SchedulerConfig scheduler = model.scheduler_config();
  if (o.timestep_spacing) scheduler.timestep_spacing = o.timestep_spacing;
  const Schedule schedule = make_schedule(scheduler, sampler);
  TorchGenerator gen(uint64_t(o.seed));
  const int factor = model.latent_factor();
  const Shape latent_shape{1, model.latent_channels(), o.height / factor, o.width / factor};
  const int tile = vae_tile(model, o);

  Tensor latents, unet_extra;
  StepHook after_step;
  int start = 0;
  if (o.mask || model.inpainting()) {
    // diffusers' StableDiffusionInpaintPipeline. An inpainting UNet given no mask repaints
    // everything over a blank (mid-grey) image, as A1111 runs such models for txt2img.
    clock = std::chrono::steady_clock::now();
    const Tensor image = o.init_image ? from_image(*o.init_image) : Tensor::zeros({1, 3, o.height, o.width});
    const Tensor mask = o.mask ? prepare_mask(*o.mask, o.width, o.height, o.mask_blur, o.invert_mask)
                               : ones({1, 1, o.height, o.width});
    // strength 1 starts from pure noise, not from noised image latents (is_strength_max); the draws
    // keep diffusers' order: image latents (only where used), start noise, masked-image latents.
    const bool pure_noise = !o.init_image || o.strength == 1.0;
    start = o.init_image ? o.steps - int(o.steps * o.strength) : 0;
    const Tensor image_latents = !model.inpainting() || !pure_noise ? encode_latents(model, image, gen, tile) : Tensor();
    const Tensor noise = randn(gen, latent_shape);
    if (pure_noise) {
      latents = noise.clone();
      ops::scale_(latents, float(schedule.init_noise_sigma));
    } else {
      latents = add_noise(schedule, image_latents, noise, start);
    }
    const Tensor latent_mask = resize_nearest(mask, int(latent_shape[2]), int(latent_shape[3]));
    // Encoded for a 4-channel UNet too, which never reads it: the draw moves the generator.
    const Tensor masked_latents = encode_latents(model, masked_image(image, mask), gen, tile);
    result.times.encode = seconds_since(clock);
    if (model.inpainting()) {
      unet_extra = concat_channels(latent_mask, masked_latents);
    } else {
      // The known region follows the image's own noised latents: after each step it is put back
      // at the next call's noise level (clean after the last), the start noise reused.
      const int last_call = int(schedule.model_timesteps().size()) - 1;
      after_step = [&schedule, image_latents, noise, latent_mask, last_call](Tensor x, int call) {
        const Tensor known = call < last_call ? add_noise_at_call(schedule, image_latents, noise, call + 1) : image_latents;
        return blend_known(known, x, latent_mask);
      };
    }
  } else if (o.init_image || o.init_latents) {
    clock = std::chrono::steady_clock::now();
    if (o.init_latents && o.init_latents->shape() != latent_shape)
      throw Error("init latents are " + shape_string(o.init_latents->shape()) + ", not " + shape_string(latent_shape));
    const Tensor init = o.init_latents ? *o.init_latents : encode_latents(model, from_image(*o.init_image), gen, tile);
    result.times.encode = seconds_since(clock);
    start = o.steps - int(o.steps * o.strength);
    latents = add_noise(schedule, init, randn(gen, latent_shape), start);
  } else {
    latents = randn(gen, latent_shape);
    ops::scale_(latents, float(schedule.init_noise_sigma));
  }
  result.start_latents = latents.clone();

  clock = std::chrono::steady_clock::now();
  const ModelFn denoiser = guided_unet(model, cond, added, o.cfg_scale, unet_extra, result.times.unet_calls);
  // The sampler reports a finished evaluation after the model call returns; the wrapper keeps
  // that call's input and output until then, so the report can carry the predicted x0.
  const Tensor *last_in = nullptr, *last_out = nullptr;
  double last_t = 0;
  Tensor out_kept;
  const ModelFn unet = [&](const Tensor& x, double t) {
    out_kept = denoiser(x, t);
    last_in = &x, last_out = &out_kept, last_t = t;
    return out_kept;
  };
  StepCallback report;
  if (progress)
    report = [&](int done, int total) {
      progress({done, total, predicted_x0(schedule, *last_out, *last_in, last_t)});
    };
  result.final_latents = sample(schedule, progress ? unet : denoiser, latents, gen, start, report, after_step);
  result.times.sampling = seconds_since(clock);
  return result;
}

}  // namespace

GenerateResult sample_latents(const StableDiffusion& model, const GenerateOptions& o, const ProgressFn& progress) {
  const SamplePass pass = [&](const GenerateOptions& p) { return sample_pass(model, p, progress); };
  return o.hires ? hires_fix(model, o, pass) : pass(o);
}

void decode_latents(const StableDiffusion& model, GenerateResult& result, const GenerateOptions& options) {
  const auto clock = std::chrono::steady_clock::now();
  {
    const BufferPool::OnePass decode_once;  // the sampler's buffer sizes recur in no VAE layer
    if (model.decodes_with_taesd()) {
      result.decoded = model.taesd()->decode(result.final_latents);  // its scaling factor is 1
    } else {
      Tensor z = result.final_latents.clone();
      ops::scale_(z, 1.0f / model.vae_scaling_factor());
      const int tile = vae_tile(model, options);
      result.decoded = tile ? tiled_decode(model.vae(), z, tile) : model.vae().decode(z);
    }
  }
  result.image = to_image(result.decoded);
  result.times.decode = seconds_since(clock);
}

Tensor encode_image(const StableDiffusion& model, const Image& image, const GenerateOptions& o) {
  TorchGenerator gen(uint64_t(o.seed));
  return encode_latents(model, from_image(image), gen, vae_tile(model, o));
}

GenerateResult generate(const StableDiffusion& model, const GenerateOptions& o, const ProgressFn& progress) {
  GenerateResult result = sample_latents(model, o, progress);
  decode_latents(model, result, o);
  return result;
}

}  // namespace diffuse
