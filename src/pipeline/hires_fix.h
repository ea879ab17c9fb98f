#pragma once
// AUTOMATIC1111's "Hires. fix" (modules/processing.py, StableDiffusionProcessingTxt2Img.sample_hr_pass):
// an image made at the base size, its latents (or its decoded pixels) upscaled, then refined by img2img
// at the larger size with the same seed. Both passes are generate.cpp's own sampling pass; the second
// is its img2img, so --hr-steps is that schedule's length, of which int(steps x denoise) run, as in
// `generate -i --strength` (A1111 instead runs all of them, of a schedule steps / denoise long).
#include <functional>
#include <string>

#include "pipeline/generate.h"

namespace diffuse {

// A1111's names ("Latent", "Latent (nearest)", "Lanczos") and the --hr-upscaler values (latent,
// latent-nearest, lanczos), in any case. Throws Error listing them for another name.
HiresUpscaler hires_upscaler_from_name(const std::string& name);
// A1111's name, as its parameters text records it ("Hires upscaler: Latent").
std::string hires_upscaler_name(HiresUpscaler upscaler);

// Throws Error naming the flag for a scale outside [1, 4] (A1111's slider), a denoise outside [0, 1],
// negative steps, and for an init image or mask: the hires fix is A1111's txt2img's.
void validate_hires(const GenerateOptions& options);

// A side of the second pass: int(side x scale), down to a multiple of 8, the latent grid A1111's
// latent upscale lands on (its target // 8).
int hires_side(int side, double scale);

// torch.nn.functional.interpolate(latents, size=(height, width)) as A1111's latent upscalers call it:
// mode "bilinear" (align_corners False, no antialiasing) for Latent, "nearest" for LatentNearest.
// NCHW; throws Error for Lanczos, which works on pixels.
Tensor upscale_latents(const Tensor& latents, int height, int width, HiresUpscaler mode);

// Runs both passes with `pass`, one sampling pass of generate.cpp (txt2img or img2img by its options):
// the first at options' size, the second as img2img from the upscaled first (Lanczos: decoded, resized
// with resize_lanczos, encoded with the seed's generator, as `-i` does) at hires_side of it. A second
// pass with no step to run (int(steps x denoise) = 0) is skipped: its result is the latents it would
// start from. Times add up; the Lanczos decode and resize count as encode time.
using SamplePass = std::function<GenerateResult(const GenerateOptions&)>;
GenerateResult hires_fix(const StableDiffusion& model, const GenerateOptions& options, const SamplePass& pass);

}  // namespace diffuse
