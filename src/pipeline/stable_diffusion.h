#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/model_files.h"
#include "models/clip_text_model.h"
#include "models/taesd.h"
#include "models/unet.h"
#include "models/vae.h"
#include "pipeline/family.h"
#include "pipeline/lora_merge.h"
#include "pipeline/prompt_conditioning.h"
#include "sampling/schedule.h"
#include "text/clip_tokenizer.h"

namespace diffuse {

struct LoadOptions {
  std::optional<Prediction> prediction;  // the user's --prediction, overriding configs and heuristics
  Precision precision = Precision::Fp32;  // of every component's matrix work and stored weights
  // Free the text encoders once they have encoded (their output is kept for those prompts), so
  // they do not sit next to the UNet while it samples. (Freeing the UNet before the decode is the
  // caller's call: release_unet.)
  bool low_memory = false;
  // A VAE file replacing the checkpoint's (--vae; io/vae_file.h), checked to be the same architecture.
  std::string vae_path;
  // LoRAs merged into the weights before they are converted (--lora, <lora:NAME:M>; lora_merge.h),
  // keys that match no layer skipped with a warning instead of refused when lora_lenient.
  std::vector<LoraSpec> loras;
  bool lora_lenient = false;
  // A tiny autoencoder (--taesd; models/taesd.h) for previews and, unless taesd_preview_only, for
  // decoding the final images too (encoding stays the VAE's).
  std::string taesd_path;
  bool taesd_preview_only = false;
};

// A loaded checkpoint: its family, text encoders, UNet and VAE, and what it implies for sampling.
class StableDiffusion {
 public:
  static std::unique_ptr<StableDiffusion> load(const std::string& path, const LoadOptions& options = {});
  // From weights already opened (open_model) or made in memory (random_model).
  static std::unique_ptr<StableDiffusion> from_files(ModelFiles files, const LoadOptions& options = {});

  Family family() const { return family_; }
  const FamilyDefaults& defaults() const { return family_defaults(family_); }
  // Names, shapes and dtypes of what was loaded; the bytes are released once converted.
  const ModelFiles& files() const { return files_; }
  Prediction prediction() const { return scheduler_.prediction; }
  const std::string& prediction_source() const { return prediction_source_; }
  const SchedulerConfig& scheduler_config() const { return scheduler_; }
  const std::string& default_sampler() const { return default_sampler_; }
  // What merging LoadOptions::loras did and how long it took (all zeros without LoRAs).
  const LoraMergeStats& lora_merge() const { return lora_merge_; }
  float vae_scaling_factor() const { return vae_scale_; }
  // Channels of the latents the UNet denoises, from the VAE's weights (4 for SD 1.x-XL).
  int latent_channels() const { return vae_->config().latent_channels; }
  // Image pixels per latent pixel along each side: 2^(VAE levels - 1), 8 for SD 1.x-XL (diffusers'
  // vae_scale_factor); the demo model's VAE has 4.
  int latent_factor() const { return vae_->config().latent_factor(); }
  // An inpainting UNet (SD 1.5/2.x inpainting checkpoints): its input is the latents, the mask and
  // the masked image's latents (2 * latent_channels + 1 channels in conv_in's weight).
  bool inpainting() const { return inpainting_; }
  Precision precision() const { return precision_; }
  const UNet& unet() const;  // an Error once released
  const Vae& vae() const { return *vae_; }
  const TinyAutoencoder* taesd() const { return taesd_ ? &*taesd_ : nullptr; }
  // Whether final images are decoded by the TAESD instead of the VAE.
  bool decodes_with_taesd() const { return taesd_ && !taesd_preview_only_; }
  const std::vector<ClipTextModel>& text_encoders() const { return text_encoders_; }

  // Runs the text encoders (an Error once they were released).
  Conditioning encode_text(const std::vector<std::string>& prompts, const PromptOptions& options = {}) const;
  // encode_text, remembering the last prompts' result: another image of the same prompts (a new
  // seed) does not encode again, and a low-memory model can make it after its text encoders are gone.
  Conditioning conditioning(const std::vector<std::string>& prompts, const PromptOptions& options = {}) const;
  void release_text_encoders() { std::vector<ClipTextModel>().swap(text_encoders_); }
  // For a caller that has sampled every image it will make: the VAE decode then runs without the
  // UNet's weights resident (the largest part of the model).
  void release_unet() { unet_.reset(); }

 private:
  StableDiffusion() = default;

  ModelFiles files_;
  Family family_ = Family::SD1;
  SchedulerConfig scheduler_;
  std::string prediction_source_, default_sampler_;
  LoraMergeStats lora_merge_;
  float vae_scale_ = 0.18215f;
  Precision precision_ = Precision::Fp32;
  bool low_memory_ = false;
  bool inpainting_ = false;
  // What conditioning() keeps between calls; mutable like a cache, which is what it is.
  mutable std::vector<ClipTextModel> text_encoders_;
  mutable std::vector<std::string> last_prompts_;
  mutable PromptOptions last_options_;
  mutable Conditioning last_conditioning_;
  std::vector<const ClipTokenizer*> tokenizers_;
  std::unique_ptr<ClipTokenizer> folder_tokenizer_;
  std::optional<UNet> unet_;
  std::optional<Vae> vae_;
  std::optional<TinyAutoencoder> taesd_;
  bool taesd_preview_only_ = false;
};

// The family a set of UNet weights belongs to: label_emb means SDXL; Linear proj_in (head size 64) SD2; else SD1.
Family detect_family(const ModelFiles& files);

// The prediction type a model gets, and why (flag, diffusers config, or heuristic).
struct PredictionChoice {
  Prediction prediction;
  std::string source;
};
PredictionChoice choose_prediction(const ModelFiles& files, Family family, const LoadOptions& options);

}  // namespace diffuse
