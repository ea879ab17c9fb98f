// The VAE against diffusers' AutoencoderKL (fixtures' expected/vae.safetensors).
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "golden.h"
#include "io/model_files.h"
#include "models/vae.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::fixture;
using testing::golden;
using testing::Golden;
using testing::tensor_of;

constexpr double kTol = testing::kComponentTolerance;

struct Sd1Tiny {
  ModelFiles files = open_model(fixture("sd1-tiny/model.safetensors"));
  Weights weights{files.vae, "vae"};
  Vae vae{weights, VaeConfig::detect(weights)};
  TensorArchive expected = load_safetensors(fixture("sd1-tiny/expected/vae.safetensors"));
};

TEST(Vae, DetectsSd1TinyConfig) {
  ModelFiles files = open_model(fixture("sd1-tiny/model.safetensors"));
  VaeConfig c = VaeConfig::detect(Weights(files.vae, "vae"));
  EXPECT_EQ(c.block_out_channels, (std::vector<int>{32, 64, 64, 64}));
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_EQ(c.latent_channels, 4);
  EXPECT_EQ(c.image_channels, 3);
}

TEST(Vae, DecodeMatchesDiffusers) {
  Sd1Tiny m;
  Tensor image = m.vae.decode(tensor_of(golden(m.expected, "z")));
  EXPECT_TRUE(close_to("sd1-tiny vae decoded", image.to_vector(), golden(m.expected, "decoded"), kTol));
}

// Covers the encoder's asymmetric (0, 1, 0, 1) downsampling padding and the logvar split.
TEST(Vae, EncodeMatchesDiffusers) {
  Sd1Tiny m;
  Vae::Moments moments = m.vae.encode(tensor_of(golden(m.expected, "image")));
  EXPECT_TRUE(close_to("sd1-tiny vae mean", moments.mean.to_vector(), golden(m.expected, "mean"), kTol));
  EXPECT_TRUE(close_to("sd1-tiny vae logvar", moments.logvar.to_vector(), golden(m.expected, "logvar"), kTol));
}

TEST(Vae, SampleIsMeanPlusStdTimesNoise) {
  Vae::Moments m{Tensor::from({1, 1, 1, 3}, {1.0f, -2.0f, 0.5f}), Tensor::from({1, 1, 1, 3}, {0.0f, 2.0f, -30.0f})};
  Tensor x = m.sample(Tensor::from({1, 1, 1, 3}, {0.5f, -1.0f, 3.0f}));
  EXPECT_FLOAT_EQ(x.data()[0], 1.5f);
  EXPECT_FLOAT_EQ(x.data()[1], -2.0f - std::exp(1.0f));
  EXPECT_FLOAT_EQ(x.data()[2], 0.5f + std::exp(-15.0f) * 3.0f);
  EXPECT_THROW(m.sample(Tensor::zeros({1, 3, 1, 1})), Error);
}

// Full-resolution shapes and memory: 64x64 latents (512x512 output) put the mid-block
// attention over 4096 positions.
TEST(Vae, Decodes512x512) {
  Sd1Tiny m;
  Tensor z({1, 4, 64, 64});
  for (int64_t i = 0; i < z.numel(); ++i) z.data()[i] = std::sin(float(i) * 0.37f);
  const auto start = std::chrono::steady_clock::now();
  Tensor image = m.vae.decode(z);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sd1-tiny VAE decode 64x64 -> 512x512: %.3f s\n", seconds);
  EXPECT_EQ(image.shape(), (Shape{1, 3, 512, 512}));
  for (float v : image.to_vector()) ASSERT_TRUE(std::isfinite(v));
}

TEST(Vae, RejectsWrongLatentChannels) {
  Sd1Tiny m;
  EXPECT_THROW(m.vae.decode(Tensor::zeros({1, 3, 8, 8})), Error);
  EXPECT_THROW(m.vae.encode(Tensor::zeros({1, 4, 64, 64})), Error);
}

}  // namespace
}  // namespace diffuse
