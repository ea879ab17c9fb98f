#pragma once
#include <optional>
#include <string>

#include "pipeline/latent_preview.h"
#include "pipeline/stable_diffusion.h"

namespace diffuse {

// How progress previews are drawn (stable-diffusion.cpp's --preview): the latent-to-RGB map fitted
// to the VAE (one pixel per latent pixel, no cost), the TAESD (the whole image, ~1/10 of the VAE's
// work), or the VAE itself (what the final image will be; as slow as the final decode).
enum class PreviewMethod { Projection, Taesd, Vae };
// "proj", "tae", "vae"; nullopt for another name.
std::optional<PreviewMethod> preview_method(const std::string& name);

// Draws previews of one model's latents by one method.
class Previewer {
 public:
  // Fits the projection (Projection); an Error for Taesd when the model was loaded without one.
  Previewer(const StableDiffusion& model, PreviewMethod method);
  // latents: [1, C, h, w] in the sampler's scale, e.g. StepProgress::denoised.
  Image render(const Tensor& latents) const;

 private:
  const StableDiffusion& model_;
  PreviewMethod method_;
  std::optional<LatentPreview> projection_;
};

}  // namespace diffuse
