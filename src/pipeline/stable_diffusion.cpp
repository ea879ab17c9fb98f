#include "pipeline/stable_diffusion.h"

#include <filesystem>

#include "core/error.h"
#include "io/taesd_file.h"
#include "io/vae_file.h"
#include "text/clip_tokenizer.h"

namespace diffuse {

Family detect_family(const ModelFiles& files) {
  if (files.unet.find("label_emb.0.0.weight") || files.text_encoders.size() == 2) return Family::SDXL;
  for (const auto& [name, t] : files.unet.tensors)
    if (name.ends_with(".proj_in.weight")) return t.shape.size() == 2 ? Family::SD2 : Family::SD1;
  return Family::SD1;
}

// Which prediction the UNet was trained for. The weights cannot say, so: the user's flag, else a
// diffusers scheduler config, else the family's usual: SD 2.x single files are assumed to be the
// 768-v models (v-prediction); the 512-base SD 2.x checkpoints are epsilon and need --prediction eps.
PredictionChoice choose_prediction(const ModelFiles& files, Family family, const LoadOptions& options) {
  if (options.prediction) return {*options.prediction, "--prediction flag"};
  if (files.scheduler_config && files.scheduler_config->contains("prediction_type")) {
    const std::string type = (*files.scheduler_config)["prediction_type"].get<std::string>();
    return {type == "v_prediction" ? Prediction::V : Prediction::Epsilon, "diffusers scheduler config"};
  }
  if (family == Family::SD2) return {Prediction::V, "heuristic: SD 2.x single file taken as a 768-v model"};
  return {Prediction::Epsilon, "family default"};
}

static bool uses_quick_gelu(const ModelFiles& files, Family family, size_t index) {
  if (index < files.text_encoder_configs.size() && files.text_encoder_configs[index].contains("hidden_act"))
    return files.text_encoder_configs[index]["hidden_act"].get<std::string>() == "quick_gelu";
  return family == Family::SD1 || (family == Family::SDXL && index == 0);  // OpenAI CLIP-L; OpenCLIP uses gelu
}

std::unique_ptr<StableDiffusion> StableDiffusion::load(const std::string& path, const LoadOptions& options) {
  return from_files(open_model(path), options);
}

std::unique_ptr<StableDiffusion> StableDiffusion::from_files(ModelFiles model_files, const LoadOptions& options) {
  std::unique_ptr<StableDiffusion> sd(new StableDiffusion());
  sd->files_ = std::move(model_files);
  if (!options.vae_path.empty()) replace_vae(sd->files_, open_vae(options.vae_path));
  sd->lora_merge_ = merge_loras(sd->files_, options.loras, options.lora_lenient, options.precision);
  const ModelFiles& files = sd->files_;
  sd->family_ = detect_family(files);
  sd->precision_ = options.precision;
  sd->low_memory_ = options.low_memory;
  const FamilyDefaults& defaults = family_defaults(sd->family_);
  const size_t expected_encoders = sd->family_ == Family::SDXL ? 2 : 1;
  if (files.text_encoders.size() != expected_encoders)
    throw Error(files.source + ": a " + std::string(defaults.name) + " model needs " + std::to_string(expected_encoders) +
                " text encoder(s), found " + std::to_string(files.text_encoders.size()));

  const nlohmann::json& scheduler_json = files.scheduler_config ? *files.scheduler_config : defaults.scheduler_config;
  sd->scheduler_ = SchedulerConfig::from_json(scheduler_json);
  PredictionChoice choice = choose_prediction(files, sd->family_, options);
  sd->scheduler_.prediction = choice.prediction;
  sd->prediction_source_ = choice.source;
  sd->default_sampler_ = defaults.default_sampler;
  sd->vae_scale_ = files.vae_config && files.vae_config->contains("scaling_factor")
                       ? (*files.vae_config)["scaling_factor"].get<float>()
                       : defaults.vae_scaling_factor;

  if (!files.tokenizer_dir.empty())
    sd->folder_tokenizer_ = std::make_unique<ClipTokenizer>(ClipTokenizer::from_files(
        files.tokenizer_dir + "/vocab.json", files.tokenizer_dir + "/merges.txt"));
  // Each component's stored bytes are let go as soon as it lives in compute precision, so the
  // stored and converted copies of the whole model never coexist.
  for (size_t i = 0; i < files.text_encoders.size(); ++i) {
    Weights w(files.text_encoders[i], "text encoder " + std::to_string(i + 1), options.precision);
    ClipTextConfig config = ClipTextConfig::detect(w);
    config.quick_gelu = uses_quick_gelu(files, sd->family_, i);
    config.pad_id = defaults.text_pad_ids[i];
    sd->text_encoders_.emplace_back(w, config);
    sd->files_.text_encoders[i].drop_data();
    sd->tokenizers_.push_back(sd->folder_tokenizer_ ? sd->folder_tokenizer_.get() : &ClipTokenizer::builtin());
  }

  const int pooled_dim = sd->family_ == Family::SDXL ? sd->text_encoders_[1].config().projection_dim : 0;
  Weights unet_weights(files.unet, "unet", options.precision);
  sd->unet_.emplace(unet_weights, UNetConfig::detect(unet_weights, pooled_dim));
  sd->files_.unet.drop_data();
  Weights vae_weights(files.vae, "vae", options.precision);
  sd->vae_.emplace(vae_weights, VaeConfig::detect(vae_weights));
  sd->files_.vae.drop_data();
  if (!options.taesd_path.empty()) {
    const TensorArchive taesd = open_taesd(options.taesd_path);
    sd->taesd_.emplace(Weights(taesd, "taesd", options.precision));
    if (sd->taesd_->latent_channels() != sd->latent_channels())
      throw Error(taesd.source + ": a TAESD for " + std::to_string(sd->taesd_->latent_channels()) +
                  " latent channels cannot decode " + files.source + "'s " + std::to_string(sd->latent_channels()));
    sd->taesd_preview_only_ = options.taesd_preview_only;
  }
  const UNetConfig& unet = sd->unet_->config();
  const int latent = sd->latent_channels();
  sd->inpainting_ = unet.in_channels == 2 * latent + 1;
  if ((unet.in_channels != latent && !sd->inpainting_) || unet.out_channels != latent)
    throw Error(files.source + ": the UNet takes " + std::to_string(unet.in_channels) + " and makes " +
                std::to_string(unet.out_channels) + " latent channels, but the VAE's latents have " +
                std::to_string(latent) + " (an inpainting UNet takes " + std::to_string(2 * latent + 1) + ")");
  return sd;
}

const UNet& StableDiffusion::unet() const {
  if (!unet_) throw Error(files_.source + ": the UNet was freed after sampling (low-memory mode); load the model again to sample more");
  return *unet_;
}

Conditioning StableDiffusion::conditioning(const std::vector<std::string>& prompts, const PromptOptions& options) const {
  if (prompts != last_prompts_ || options != last_options_) {
    last_conditioning_ = encode_text(prompts, options);
    last_prompts_ = prompts;
    last_options_ = options;
  }
  if (low_memory_) std::vector<ClipTextModel>().swap(text_encoders_);
  return last_conditioning_;
}

Conditioning StableDiffusion::encode_text(const std::vector<std::string>& prompts, const PromptOptions& options) const {
  if (text_encoders_.empty())
    throw Error(files_.source + ": the text encoders were freed after the first prompt (low-memory mode); "
                "load the model again to encode other prompts");
  return encode_prompts(family_, text_encoders_, tokenizers_, prompts, options);
}

}  // namespace diffuse
