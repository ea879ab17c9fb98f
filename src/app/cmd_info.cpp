#include <cstdio>
#include <fstream>

#include "app/commands.h"
#include "io/generation_parameters.h"
#include "io/image.h"
#include "pipeline/model_defaults.h"
#include "pipeline/stable_diffusion.h"

namespace diffuse::app {
namespace {

std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

bool is_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return f.gcount() == 8 && std::string(magic, 8) == "\x89PNG\r\n\x1a\n";
}

int describe_image(const std::string& path) {
  const Image image = read_png(path);
  std::printf("image: %dx%d\n", image.width, image.height);
  for (const auto& [key, value] : read_png_text(path)) std::printf("%s: %s\n", key.c_str(), value.c_str());
  return 0;
}

int describe_model(const std::string& path) {
  const ModelFiles files = open_model(path);
  const Family family = detect_family(files);
  const FamilyDefaults& defaults = family_defaults(family);
  const PredictionChoice prediction = choose_prediction(files, family, {});

  std::printf("family: %s\n", std::string(defaults.name).c_str());
  std::printf("prediction: %s (%s)\n", prediction.prediction == Prediction::V ? "v" : "eps", prediction.source.c_str());
  std::string dtypes;
  for (const auto& d : files.dtypes) dtypes += (dtypes.empty() ? "" : ",") + d;
  std::printf("tensors: %zu\ndtypes: %s\nsize: %.1f MB\n", files.tensor_count, dtypes.c_str(), double(files.file_bytes) / 1e6);

  int pooled_dim = 0;
  for (size_t i = 0; i < files.text_encoders.size(); ++i) {
    const ClipTextConfig c = ClipTextConfig::detect(Weights(files.text_encoders[i], "text encoder"));
    if (c.projection_dim > 0) pooled_dim = c.projection_dim;
    std::printf("text_encoder_%zu: hidden %d, layers %d, heads %d, intermediate %d, projection %d, pad id %d\n", i + 1,
                c.hidden, c.layers, c.heads, c.intermediate, c.projection_dim, defaults.text_pad_ids[i]);
  }
  const UNetConfig u = UNetConfig::detect(Weights(files.unet, "unet"), pooled_dim);
  std::printf("unet: channels %s, layers_per_block %d, transformer depth %s, mid depth %d, context %d, %s",
              join(u.channels).c_str(), u.layers_per_block, join(u.depth).c_str(), u.mid_depth, u.context_dim,
              u.fixed_heads > 0 ? ("heads " + std::to_string(u.fixed_heads)).c_str() : "head size 64");
  if (u.adm_in_channels > 0)
    std::printf(", adm_in %d, time-id embedding %d", u.adm_in_channels, u.addition_time_embed_dim);
  std::printf("\n");
  const VaeConfig v = VaeConfig::detect(Weights(files.vae, "vae"));
  std::printf("vae: channels %s, layers_per_block %d, latent channels %d, scaling factor %g\n",
              join(v.block_out_channels).c_str(), v.layers_per_block, v.latent_channels,
              files.vae_config && files.vae_config->contains("scaling_factor")
                  ? (*files.vae_config)["scaling_factor"].get<double>()
                  : double(defaults.vae_scaling_factor));
  const UsageDefaults usage = usage_defaults(files, family);
  if (!usage.name.empty()) std::printf("name: %s\n", usage.name.c_str());
  if (!usage.description.empty()) std::printf("description: %s\n", usage.description.c_str());
  std::printf("defaults: %dx%d, %d steps, sampler %s, CFG scale %g\nnative size: %d\n", usage.width, usage.height, usage.steps,
              usage.sampler.c_str(), usage.cfg_scale, defaults.native_size);
  return 0;
}

}  // namespace

Command add_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe a model (family, hyper-parameters, tensors) or a PNG's generation parameters");
  auto path = std::make_shared<std::string>();
  cmd->add_option("path", *path, "Model file, diffusers folder, or PNG image (default: the built-in demo model)");
  return {cmd, [path] {
            if (!path->empty()) return is_png(*path) ? describe_image(*path) : describe_model(*path);
            const std::string model = default_model_path();
            std::printf("default model: %s (used by generate and serve without -m)\n", model.c_str());
            return describe_model(model);
          }};
}

}  // namespace diffuse::app
