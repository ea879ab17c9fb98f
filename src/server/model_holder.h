#pragma once
#include <memory>
#include <string>
#include <vector>

#include "pipeline/stable_diffusion.h"

namespace diffuse::server {

// The server's one model, with the LoRAs of the job at hand merged into it. LoRAs are merged into
// the weights when a model loads (pipeline/lora_merge.h), so another set of LoRAs means another
// load of the checkpoint: the held model is released first, so that two models are never resident
// together, and kept while jobs ask for the same set, so that a run of jobs with the same LoRAs
// (or none) loads once. Only the job worker calls it.
class ModelHolder {
 public:
  // `loaded` is the checkpoint at `path` loaded with `options` and no LoRAs.
  ModelHolder(std::string path, LoadOptions options, std::unique_ptr<StableDiffusion> loaded);

  // The model with `loras` merged (in order, with their scales), loading it unless the held one
  // has exactly that set. Throws the loader's Error (a LoRA that does not fit the model, a
  // truncated file); the held model is gone then, and the next call loads afresh.
  const StableDiffusion& get(const std::vector<LoraSpec>& loras);

 private:
  const std::string path_;
  const LoadOptions options_;  // without LoRAs
  std::unique_ptr<StableDiffusion> model_;
  std::vector<LoraSpec> loras_;  // what model_ has merged
};

}  // namespace diffuse::server
