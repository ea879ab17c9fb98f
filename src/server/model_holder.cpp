#include "server/model_holder.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace diffuse::server {
namespace {

bool same_loras(const std::vector<LoraSpec>& a, const std::vector<LoraSpec>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const LoraSpec& x, const LoraSpec& y) {
    return x.path == y.path && x.text_scale == y.text_scale && x.unet_scale == y.unet_scale;
  });
}

}  // namespace

ModelHolder::ModelHolder(std::string path, LoadOptions options, std::unique_ptr<StableDiffusion> loaded)
    : path_(std::move(path)), options_(std::move(options)), model_(std::move(loaded)) {}

const StableDiffusion& ModelHolder::get(const std::vector<LoraSpec>& loras) {
  if (model_ && same_loras(loras, loras_)) return *model_;
  // Released before the next one loads: the peak is one model, not two.
  model_.reset();
  loras_.clear();
  LoadOptions options = options_;
  options.loras = loras;
  const auto start = std::chrono::steady_clock::now();
  model_ = StableDiffusion::load(path_, options);
  loras_ = loras;
  const LoraMergeStats& merged = model_->lora_merge();
  for (const std::string& warning : merged.warnings) std::fprintf(stderr, "%s\n", warning.c_str());
  std::fprintf(stderr, "model: reloaded with %zu LoRA(s) (%zu layers merged) in %.2f s\n", loras.size(), merged.layers,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return *model_;
}

}  // namespace diffuse::server
