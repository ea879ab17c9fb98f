// The tiled VAE against diffusers 0.27.2's AutoencoderKL.enable_tiling (fixtures/wave2/tiling_*, made
// by make_tiling.py on sd1-tiny's VAE), the one-piece cases, and the pipeline's --vae-tiling.
#include <cstdio>
#include <cstdlib>

#include "core/dnnl_context.h"
#include "core/error.h"
#include "core/ops.h"
#include "golden.h"
#include "pipeline/generate.h"
#include "pipeline/vae_tiling.h"
#include "pipeline_cases.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::fixture;
using testing::fixture_model;
using testing::golden;
using testing::Golden;
using testing::tensor_of;

constexpr double kTol = testing::kComponentTolerance;
constexpr int kFactor = 8;  // sd1-tiny's VAE: 4 levels

// One thread unless OMP_NUM_THREADS says otherwise (as test_demo_model): sd1-tiny's products are too small
// to split, and OpenMP threads spinning at barriers make them 10-40x slower when another process wants the
// cores.
const bool kOneThread = [] {
  if (!std::getenv("OMP_NUM_THREADS")) set_num_threads(1);
  return true;
}();

const Vae& tiny_vae() { return fixture_model("sd1-tiny").vae(); }

// The largest difference in 8-bit steps and where, as "[y,x,c]".
std::string lsb_report(const Image& got, const Golden& expected, int& max) {
  max = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.rgb.size(); ++i) {
    const int d = std::abs(int(got.rgb[i]) - int(expected.values[i]));
    if (d > max) max = d, at = i;
  }
  const size_t pixel = at / 3;
  return std::to_string(max) + " LSB at [" + std::to_string(pixel / size_t(got.width)) + "," +
         std::to_string(pixel % size_t(got.width)) + "," + std::to_string(at % 3) + "]";
}

// tile_sample_min_size of the fixture, in image pixels.
class TiledDecode : public ::testing::TestWithParam<int> {};

TEST_P(TiledDecode, MatchesDiffusersWithin1Lsb) {
  const int tile = GetParam();
  const std::string name = "tiling_decode_t" + std::to_string(tile);
  const TensorArchive expected = load_safetensors(fixture("wave2/" + name + ".safetensors"));
  const Tensor decoded = tiled_decode(tiny_vae(), tensor_of(golden(expected, "z")), tile / kFactor);
  EXPECT_TRUE(close_to(name + " decoded", decoded.to_vector(), golden(expected, "decoded"), kTol));
  const Golden u8 = golden(expected, "image_u8");
  const Image image = to_image(decoded);
  ASSERT_EQ(image.rgb.size(), u8.values.size()) << name << ": " << image.width << "x" << image.height;
  int max = 0;
  const std::string report = lsb_report(image, u8, max);
  std::printf("%s image_u8: %s\n", name.c_str(), report.c_str());
  EXPECT_LE(max, 1) << name << " image_u8: " << report;
}

INSTANTIATE_TEST_SUITE_P(Wave2, TiledDecode, ::testing::Values(32, 64));

class TiledEncode : public ::testing::TestWithParam<int> {};

TEST_P(TiledEncode, MatchesDiffusers) {
  const int tile = GetParam();
  const std::string name = "tiling_encode_t" + std::to_string(tile);
  const TensorArchive expected = load_safetensors(fixture("wave2/" + name + ".safetensors"));
  const Vae::Moments m = tiled_encode(tiny_vae(), tensor_of(golden(expected, "image")), tile / kFactor);
  EXPECT_TRUE(close_to(name + " mean", m.mean.to_vector(), golden(expected, "mean"), kTol));
  EXPECT_TRUE(close_to(name + " logvar", m.logvar.to_vector(), golden(expected, "logvar"), kTol));
}

INSTANTIATE_TEST_SUITE_P(Wave2, TiledEncode, ::testing::Values(32, 64));

// diffusers tiles only what is larger than one tile: a tile that holds the whole input is the plain
// model, to the bit.
TEST(VaeTiling, ATileAsLargeAsTheInputIsThePlainModel) {
  const TensorArchive decode_case = load_safetensors(fixture("wave2/tiling_decode_t32.safetensors"));
  const Tensor z = tensor_of(golden(decode_case, "z"));  // 12 x 20 latents
  EXPECT_EQ(tiled_decode(tiny_vae(), z, 20).to_vector(), tiny_vae().decode(z).to_vector());
  const TensorArchive encode_case = load_safetensors(fixture("wave2/tiling_encode_t32.safetensors"));
  const Tensor image = tensor_of(golden(encode_case, "image"));  // 96 x 160 pixels
  EXPECT_EQ(tiled_encode(tiny_vae(), image, 20).mean.to_vector(), tiny_vae().encode(image).mean.to_vector());
  // One latent short of the width: tiled, and no longer the plain decode.
  EXPECT_NE(tiled_decode(tiny_vae(), z, 16).to_vector(), tiny_vae().decode(z).to_vector());
}

TEST(VaeTiling, TileSizesOffTheLatentGridAreRefused) {
  for (int bad : {0, 2, 6, -4}) EXPECT_THROW(check_tile_size(bad), Error) << bad;
  EXPECT_NO_THROW(check_tile_size(4));
  GenerateOptions o;
  o.prompt = "a red circle";
  o.width = 64, o.height = 64, o.steps = 1;
  o.vae_tiling = true;
  o.vae_tile_size = 6;
  try {
    generate(fixture_model("sd1-tiny"), o);
    FAIL() << "a tile size of 6 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--vae-tile-size"), std::string::npos) << e.what();
  }
}

// generate() with vae_tiling decodes its final latents with tiled_decode, and encodes an init image
// with tiled_encode (here checked through its effect: the img2img result differs from the untiled one).
TEST(VaeTiling, GenerateDecodesAndEncodesInTiles) {
  const StableDiffusion& model = fixture_model("sd1-tiny");
  GenerateOptions o;
  o.prompt = "a red circle on a blue background";
  o.width = 192, o.height = 128, o.steps = 2, o.sampler = "euler";  // sd1-tiny's UNet: multiples of 64
  const GenerateResult plain = generate(model, o);
  o.vae_tiling = true;
  o.vae_tile_size = 8;
  const GenerateResult tiled = generate(model, o);
  EXPECT_EQ(tiled.final_latents.to_vector(), plain.final_latents.to_vector()) << "tiling changed the sampling";
  Tensor z = tiled.final_latents.clone();
  ops::scale_(z, 1.0f / model.vae_scaling_factor());
  EXPECT_EQ(tiled.decoded.to_vector(), tiled_decode(model.vae(), z, 8).to_vector());
  EXPECT_NE(tiled.image.rgb, plain.image.rgb);

  o.init_image = plain.image;
  o.strength = 0.5;
  const GenerateResult tiled_img2img = generate(model, o);
  o.vae_tiling = false;
  const GenerateResult plain_img2img = generate(model, o);
  EXPECT_NE(tiled_img2img.start_latents.to_vector(), plain_img2img.start_latents.to_vector());
}

}  // namespace
}  // namespace diffuse
