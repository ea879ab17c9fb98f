#include "pipeline/previewer.h"

#include "core/error.h"
#include "core/ops.h"
#include "pipeline/generate.h"

namespace diffuse {

std::optional<PreviewMethod> preview_method(const std::string& name) {
  if (name == "proj") return PreviewMethod::Projection;
  if (name == "tae") return PreviewMethod::Taesd;
  if (name == "vae") return PreviewMethod::Vae;
  return std::nullopt;
}

Previewer::Previewer(const StableDiffusion& model, PreviewMethod method) : model_(model), method_(method) {
  if (method == PreviewMethod::Projection) projection_ = LatentPreview::fit(model);
  if (method == PreviewMethod::Taesd && !model.taesd()) throw Error("TAESD previews need a TAESD (--taesd FILE)");
}

Image Previewer::render(const Tensor& latents) const {
  switch (method_) {
    case PreviewMethod::Projection: return projection_->render(latents);
    case PreviewMethod::Taesd: return to_image(model_.taesd()->decode(latents));
    case PreviewMethod::Vae: {
      Tensor z = latents.clone();
      ops::scale_(z, 1.0f / model_.vae_scaling_factor());
      return to_image(model_.vae().decode(z));
    }
  }
  throw Error("preview: unknown method");
}

}  // namespace diffuse
