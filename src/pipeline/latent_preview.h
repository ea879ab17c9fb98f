#pragma once
#include <array>
#include <vector>

#include "core/tensor.h"
#include "io/image.h"
#include "pipeline/stable_diffusion.h"

namespace diffuse {

// A cheap picture of latents, for progress previews: a linear map from each latent pixel's
// channels to RGB (one output pixel per latent pixel). The map is fitted to the model's own VAE
// (least squares between random latents and the mean colour of what the decoder makes of each
// latent pixel), so it holds for any latent space, a model trained from scratch included, where
// fixed coefficients (A1111's "Approx cheap") only suit the SD 1.x VAE.
class LatentPreview {
 public:
  // VAE decodes of 64x64 images (one for 4 latent channels): 2-4 s for SD 1.5 on 2 busy AVX2 cores.
  static LatentPreview fit(const StableDiffusion& model);
  // latents: [1, C, h, w] in the sampler's scale (VAE latents times its scaling factor).
  Image render(const Tensor& latents) const;

 private:
  // rgb[c] = sum_k weights[c][k] * latent[k] + weights[c].back(), in 0..255; one weight per latent channel.
  std::array<std::vector<double>, 3> weights_;
};

}  // namespace diffuse
