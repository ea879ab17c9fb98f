// random_model: full-size architectures made in memory must be exactly what a real checkpoint
// holds (SD v1.5 against the manifest of the released file) and be detected as their family
// with the released hyper-parameters. No forward pass here: `diffuse bench` is where speed lives.
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "golden.h"
#include "models/unet_flops.h"
#include "pipeline/random_model.h"
#include "pipeline/stable_diffusion.h"

namespace diffuse {
namespace {

using diffuse::testing::fixture;
using Shapes = std::map<std::string, Shape>;

struct ManifestParts {
  Shapes unet, vae, text_encoder;
};

Shape parse_shape(const std::string& text) {
  Shape shape;
  std::istringstream in(text);
  for (std::string dim; std::getline(in, dim, ',');) shape.push_back(std::stoll(dim));
  return shape;
}

// sd15.tsv split the way open_model routes a single file: component prefixes stripped,
// position_ids (an index buffer) and the schedule buffers dropped.
ManifestParts read_manifest() {
  ManifestParts parts;
  const std::pair<std::string, Shapes*> routes[] = {{"model.diffusion_model.", &parts.unet},
                                                    {"first_stage_model.", &parts.vae},
                                                    {"cond_stage_model.transformer.", &parts.text_encoder}};
  std::ifstream in(fixture("manifests/sd15.tsv"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, dtype, shape;
    std::getline(fields, name, '\t');
    std::getline(fields, dtype, '\t');
    std::getline(fields, shape, '\t');
    for (const auto& [prefix, target] : routes)
      if (name.starts_with(prefix) && !name.ends_with("position_ids")) (*target)[name.substr(prefix.size())] = parse_shape(shape);
  }
  return parts;
}

Shapes shapes_of(const TensorArchive& archive) {
  Shapes shapes;
  for (const auto& [name, tensor] : archive.tensors) shapes[name] = tensor.shape;
  return shapes;
}

// The first name only one side has, or whose shapes differ.
::testing::AssertionResult same_shapes(const Shapes& got, const Shapes& expected) {
  for (const auto& [name, shape] : expected) {
    auto it = got.find(name);
    if (it == got.end()) return ::testing::AssertionFailure() << "missing '" << name << "'";
    if (it->second != shape)
      return ::testing::AssertionFailure() << "'" << name << "' is " << shape_string(it->second) << ", the manifest says "
                                           << shape_string(shape);
  }
  for (const auto& [name, shape] : got)
    if (!expected.contains(name)) return ::testing::AssertionFailure() << "'" << name << "' is not in the manifest";
  return ::testing::AssertionSuccess();
}

UNetConfig unet_config(const ModelFiles& files) {
  int pooled = 0;
  for (const TensorArchive& encoder : files.text_encoders)
    if (auto proj = encoder.find("text_projection.weight")) pooled = int(proj->shape[0]);
  return UNetConfig::detect(Weights(files.unet, "unet"), pooled);
}

ClipTextConfig clip_config(const ModelFiles& files, size_t index) {
  return ClipTextConfig::detect(Weights(files.text_encoders.at(index), "text encoder"));
}

TEST(RandomModel, Sd15HasTheManifestsTensorsWithFiniteFp16Values) {
  const ModelFiles files = random_model("sd15", 1);
  const ManifestParts manifest = read_manifest();
  EXPECT_TRUE(same_shapes(shapes_of(files.unet), manifest.unet)) << "unet";
  EXPECT_TRUE(same_shapes(shapes_of(files.vae), manifest.vae)) << "vae";
  ASSERT_EQ(files.text_encoders.size(), 1u);
  EXPECT_TRUE(same_shapes(shapes_of(files.text_encoders[0]), manifest.text_encoder)) << "text encoder";

  // Weights within +-1/sqrt(fan_in), norm scales near 1.
  const std::vector<float> conv = files.unet.at("input_blocks.1.0.in_layers.2.weight").to_f32();
  const float bound = 1.0f / std::sqrt(320.0f * 9.0f);
  for (float v : conv) ASSERT_LE(std::abs(v), bound * 1.001f);
  for (float v : files.unet.at("out.0.weight").to_f32()) ASSERT_NEAR(v, 1.0f, 0.021f);
}

TEST(RandomModel, Sd15DetectsAsSd1WithTheReleasedHyperParameters) {
  const ModelFiles files = random_model_layout("sd15");
  EXPECT_EQ(detect_family(files), Family::SD1);
  const UNetConfig u = unet_config(files);
  EXPECT_EQ(u.channels, (std::vector<int>{320, 640, 1280, 1280}));
  EXPECT_EQ(u.depth, (std::vector<int>{1, 1, 1, 0}));
  EXPECT_EQ(u.mid_depth, 1);
  EXPECT_EQ(u.layers_per_block, 2);
  EXPECT_EQ(u.context_dim, 768);
  EXPECT_EQ(u.fixed_heads, 8);
  EXPECT_EQ(u.adm_in_channels, 0);
  const ClipTextConfig c = clip_config(files, 0);
  EXPECT_EQ(c.hidden, 768);
  EXPECT_EQ(c.layers, 12);
  EXPECT_EQ(c.projection_dim, 0);
  EXPECT_EQ(VaeConfig::detect(Weights(files.vae, "vae")).block_out_channels, (std::vector<int>{128, 256, 512, 512}));
}

TEST(RandomModel, Sd21DetectsAsSd2) {
  const ModelFiles files = random_model_layout("sd21");
  EXPECT_EQ(detect_family(files), Family::SD2);
  const UNetConfig u = unet_config(files);
  EXPECT_EQ(u.channels, (std::vector<int>{320, 640, 1280, 1280}));
  EXPECT_EQ(u.depth, (std::vector<int>{1, 1, 1, 0}));
  EXPECT_EQ(u.context_dim, 1024);
  EXPECT_EQ(u.fixed_heads, 0);
  const ClipTextConfig c = clip_config(files, 0);
  EXPECT_EQ(c.hidden, 1024);
  EXPECT_EQ(c.layers, 24);
  EXPECT_EQ(c.heads, 16);
  EXPECT_EQ(c.intermediate, 4096);
}

TEST(RandomModel, SdxlDetectsAsSdxl) {
  const ModelFiles files = random_model_layout("sdxl");
  EXPECT_EQ(detect_family(files), Family::SDXL);
  ASSERT_EQ(files.text_encoders.size(), 2u);
  const UNetConfig u = unet_config(files);
  EXPECT_EQ(u.channels, (std::vector<int>{320, 640, 1280}));
  EXPECT_EQ(u.depth, (std::vector<int>{0, 2, 10}));
  EXPECT_EQ(u.mid_depth, 10);
  EXPECT_EQ(u.context_dim, 2048);
  EXPECT_EQ(u.adm_in_channels, 2816);
  EXPECT_EQ(u.addition_time_embed_dim, 256);
  EXPECT_EQ(clip_config(files, 0).hidden, 768);
  EXPECT_EQ(clip_config(files, 0).projection_dim, 0);
  const ClipTextConfig big_g = clip_config(files, 1);
  EXPECT_EQ(big_g.hidden, 1280);
  EXPECT_EQ(big_g.layers, 32);
  EXPECT_EQ(big_g.heads, 20);
  EXPECT_EQ(big_g.projection_dim, 1280);
}

TEST(RandomModel, ParameterCountsMatchTheReleasedModels) {
  auto unet_params = [](const std::string& arch) {
    double n = 0;
    for (const auto& [name, t] : random_model_layout(arch).unet.tensors) n += double(t.numel());
    return n;
  };
  EXPECT_NEAR(unet_params("sd15"), 859.52e6, 0.01e6);  // diffusers' UNet2DConditionModel counts
  EXPECT_NEAR(unet_params("sd21"), 865.91e6, 0.01e6);
  EXPECT_NEAR(unet_params("sdxl"), 2567.46e6, 0.01e6);
}

TEST(UNetMacs, Sd15At512IsAbout402GMacPerImage) {
  const UNetMacs macs = unet_macs(unet_config(random_model_layout("sd15")), 64, 64);
  EXPECT_NEAR(macs.total() / 1e9, 402, 6);
  EXPECT_GT(macs.conv, macs.attention);
}

}  // namespace
}  // namespace diffuse
