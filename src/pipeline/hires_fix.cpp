#include "pipeline/hires_fix.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "pipeline/inpaint.h"

namespace diffuse {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// One axis of torch's bilinear upsampling (aten/src/ATen/native/UpSample.h, align_corners False): the
// source position scale (dst + 0.5) - 0.5 clamped at 0, with scale = in / out, in float as torch's
// opmath for float tensors; the second tap stays on the last pixel at the edge.
struct LinearTap {
  int64_t i0, i1;
  float w0, w1;
};

std::vector<LinearTap> linear_taps(int64_t in, int64_t out) {
  const float scale = float(in) / float(out);
  std::vector<LinearTap> taps(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const float src = std::max(scale * (float(o) + 0.5f) - 0.5f, 0.0f);
    const int64_t i0 = std::min(int64_t(src), in - 1);
    const float w1 = std::clamp(src - float(i0), 0.0f, 1.0f);
    taps[size_t(o)] = {i0, i0 < in - 1 ? i0 + 1 : i0, 1.0f - w1, w1};
  }
  return taps;
}

// Each output is the two rows' horizontal interpolations, interpolated vertically, torch's order.
Tensor upscale_bilinear(const Tensor& x, int height, int width) {
  const int64_t planes = x.dim(0) * x.dim(1), in_h = x.dim(2), in_w = x.dim(3);
  const std::vector<LinearTap> ys = linear_taps(in_h, height), xs = linear_taps(in_w, width);
  Tensor out({x.dim(0), x.dim(1), height, width});
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < height; ++y) {
      const LinearTap& ty = ys[size_t(y)];
      const float* r0 = x.data() + (p * in_h + ty.i0) * in_w;
      const float* r1 = x.data() + (p * in_h + ty.i1) * in_w;
      for (int64_t xo = 0; xo < width; ++xo) {
        const LinearTap& tx = xs[size_t(xo)];
        const float top = r0[tx.i0] * tx.w0 + r0[tx.i1] * tx.w1, bottom = r1[tx.i0] * tx.w0 + r1[tx.i1] * tx.w1;
        out.data()[(p * height + y) * width + xo] = top * ty.w0 + bottom * ty.w1;
      }
    }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

HiresUpscaler hires_upscaler_from_name(const std::string& name) {
  const std::string n = lower(name);
  if (n == "latent") return HiresUpscaler::Latent;
  if (n == "latent-nearest" || n == "latent (nearest)") return HiresUpscaler::LatentNearest;
  if (n == "lanczos") return HiresUpscaler::Lanczos;
  throw Error("unknown hires upscaler \"" + name + "\": latent (\"Latent\"), latent-nearest (\"Latent (nearest)\") or lanczos");
}

std::string hires_upscaler_name(HiresUpscaler upscaler) {
  switch (upscaler) {
    case HiresUpscaler::Latent: return "Latent";
    case HiresUpscaler::LatentNearest: return "Latent (nearest)";
    case HiresUpscaler::Lanczos: return "Lanczos";
  }
  return "";
}

void validate_hires(const GenerateOptions& o) {
  if (!o.hires) return;
  const HiresFix& hr = *o.hires;
  if (!(hr.scale >= 1.0 && hr.scale <= 4.0)) throw Error("--hr-scale must be in [1, 4], got " + std::to_string(hr.scale));
  if (!(hr.denoise >= 0.0 && hr.denoise <= 1.0))
    throw Error("--hr-denoise must be in [0, 1], got " + std::to_string(hr.denoise));
  if (hr.steps < 0) throw Error("--hr-steps must be 0 (the first pass's) or more, got " + std::to_string(hr.steps));
  if (o.init_image || o.init_latents || o.mask) throw Error("--hires is for txt2img: it takes no init image or mask");
}

int hires_side(int side, double scale) { return int(double(side) * scale) / 8 * 8; }

Tensor upscale_latents(const Tensor& latents, int height, int width, HiresUpscaler mode) {
  if (mode == HiresUpscaler::Lanczos) throw Error("the Lanczos upscaler works on pixels, not latents");
  return mode == HiresUpscaler::Latent ? upscale_bilinear(latents, height, width) : resize_nearest(latents, height, width);
}

GenerateResult hires_fix(const StableDiffusion& model, const GenerateOptions& o, const SamplePass& pass) {
  validate_hires(o);
  // An inpainting UNet's pass takes an image and mask, never the upscaled latents.
  if (model.inpainting()) throw Error("--hires needs an ordinary checkpoint, not an inpainting one");
  const HiresFix& hr = *o.hires;
  GenerateOptions base = o;
  base.hires.reset();
  GenerateResult first = pass(base);

  GenerateOptions second = base;
  second.width = hires_side(o.width, hr.scale);
  second.height = hires_side(o.height, hr.scale);
  second.steps = hr.steps > 0 ? hr.steps : o.steps;
  second.strength = hr.denoise;
  const auto clock = std::chrono::steady_clock::now();
  if (hr.upscaler == HiresUpscaler::Lanczos) {
    decode_latents(model, first, base);
    second.init_image = resize_lanczos(first.image, second.width, second.height);
  } else {
    const int f = model.latent_factor();
    second.init_latents = upscale_latents(first.final_latents, second.height / f, second.width / f, hr.upscaler);
  }
  // At denoise 0 no step would run: the upscaled latents are the result.
  const bool refine = int(second.steps * second.strength) > 0;
  GenerateResult result;
  if (!refine) {
    result.final_latents = second.init_latents ? *second.init_latents : encode_image(model, *second.init_image, second);
    result.start_latents = result.final_latents.clone();
  }
  const double upscale_s = seconds_since(clock);
  if (refine) result = pass(second);
  result.times.text_encode += first.times.text_encode;
  result.times.sampling += first.times.sampling;
  result.times.encode += first.times.encode + upscale_s;
  result.times.unet_calls += first.times.unet_calls;
  return result;
}

}  // namespace diffuse
