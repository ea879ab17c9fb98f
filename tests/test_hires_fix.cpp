// The hires fix: its upscalers against the libraries A1111 calls (fixtures/wave2/hires_upscale, made by
// make_hires.py: torch's interpolate, PIL's LANCZOS), what its two passes are made of on sd1-tiny, its
// validation and its record in the PNG parameters.
#include <cstdio>
#include <cstdlib>

#include "core/dnnl_context.h"
#include "core/error.h"
#include "core/ops.h"
#include "golden.h"
#include "io/generation_parameters.h"
#include "pipeline/generation_record.h"
#include "pipeline/hires_fix.h"
#include "pipeline_cases.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::fixture;
using testing::fixture_model;
using testing::golden;
using testing::Golden;
using testing::image_of;
using testing::tensor_of;

// One thread unless OMP_NUM_THREADS says otherwise (as test_demo_model): sd1-tiny's products are too small
// to split, and OpenMP threads spinning at barriers make them 10-40x slower when another process wants the
// cores.
const bool kOneThread = [] {
  if (!std::getenv("OMP_NUM_THREADS")) set_num_threads(1);
  return true;
}();

const TensorArchive& upscale_fixture() {
  static const TensorArchive archive = load_safetensors(fixture("wave2/hires_upscale.safetensors"));
  return archive;
}

TEST(HiresUpscalers, LatentModesMatchTorchInterpolate) {
  const Tensor latents = tensor_of(golden(upscale_fixture(), "latents"));
  for (auto [h, w] : {std::pair{12, 18}, std::pair{9, 13}}) {
    const std::string size = std::to_string(h) + "x" + std::to_string(w);
    EXPECT_TRUE(close_to("bilinear_" + size, upscale_latents(latents, h, w, HiresUpscaler::Latent).to_vector(),
                         golden(upscale_fixture(), "bilinear_" + size), 1e-6));
    EXPECT_TRUE(close_to("nearest_" + size, upscale_latents(latents, h, w, HiresUpscaler::LatentNearest).to_vector(),
                         golden(upscale_fixture(), "nearest_" + size), 0.0));
  }
  EXPECT_THROW(upscale_latents(latents, 12, 18, HiresUpscaler::Lanczos), Error);
}

TEST(HiresUpscalers, LanczosIsPilsBitForBit) {
  const Image image = image_of(golden(upscale_fixture(), "image_u8"));
  for (auto [w, h] : {std::pair{56, 40}, std::pair{42, 30}, std::pair{19, 37}}) {
    const std::string name = "lanczos_" + std::to_string(w) + "x" + std::to_string(h);
    const Golden expected = golden(upscale_fixture(), name);
    const Image got = resize_lanczos(image, w, h);
    ASSERT_EQ(got.rgb.size(), expected.values.size()) << name;
    size_t differing = 0, first = 0;
    for (size_t i = 0; i < got.rgb.size(); ++i)
      if (float(got.rgb[i]) != expected.values[i] && differing++ == 0) first = i;
    EXPECT_EQ(differing, 0u) << name << ": " << differing << " bytes differ, the first at pixel " << first / 3
                             << " channel " << first % 3 << " (got " << int(got.rgb[first]) << ", PIL "
                             << expected.values[first] << ")";
  }
}

// sd1-tiny at 64x64, two steps of Euler, upscaled 2x.
GenerateOptions hires_options(HiresUpscaler upscaler, double denoise) {
  GenerateOptions o;
  o.prompt = "a red circle on a blue background";
  o.seed = 7, o.steps = 2, o.width = 64, o.height = 64, o.sampler = "euler";
  o.hires = HiresFix{2.0, denoise, 3, upscaler};
  return o;
}

GenerateOptions first_pass(GenerateOptions o) {
  o.hires.reset();
  return o;
}

// Denoise 0 runs no second step: the result is the first pass's latents upscaled, decoded at 128x128.
TEST(HiresFix, AtDenoiseZeroTheResultIsTheUpscaledFirstPass) {
  const StableDiffusion& model = fixture_model("sd1-tiny");
  for (HiresUpscaler mode : {HiresUpscaler::Latent, HiresUpscaler::LatentNearest}) {
    const GenerateOptions o = hires_options(mode, 0.0);
    const GenerateResult first = generate(model, first_pass(o));
    const GenerateResult hires = generate(model, o);
    const Tensor upscaled = upscale_latents(first.final_latents, 16, 16, mode);
    EXPECT_EQ(hires.final_latents.to_vector(), upscaled.to_vector()) << hires_upscaler_name(mode);
    GenerateResult decoded;
    decoded.final_latents = upscaled;
    decode_latents(model, decoded);
    EXPECT_EQ(hires.image.width, 128);
    EXPECT_EQ(hires.image.height, 128);
    EXPECT_EQ(hires.image.rgb, decoded.image.rgb) << hires_upscaler_name(mode);
  }
  // Lanczos: the first image resized, and encoded as the second pass would have started from it.
  const GenerateOptions o = hires_options(HiresUpscaler::Lanczos, 0.0);
  const GenerateResult first = generate(model, first_pass(o));
  GenerateOptions second = first_pass(o);
  second.width = second.height = 128;
  const Tensor encoded = encode_image(model, resize_lanczos(first.image, 128, 128), second);
  EXPECT_EQ(generate(model, o).final_latents.to_vector(), encoded.to_vector());
}

// The second pass is generate's img2img from the upscaled latents with the same seed: its noise is the
// seed's first draw at the upscaled size, so the same seed makes the same image.
TEST(HiresFix, TheSecondPassIsImg2ImgWithTheSameSeed) {
  const StableDiffusion& model = fixture_model("sd1-tiny");
  const GenerateOptions o = hires_options(HiresUpscaler::Latent, 0.7);
  const GenerateResult hires = generate(model, o);
  GenerateOptions second = first_pass(o);
  second.width = second.height = 128;
  second.steps = 3;
  second.strength = 0.7;
  second.init_latents = upscale_latents(generate(model, first_pass(o)).final_latents, 16, 16, HiresUpscaler::Latent);
  const GenerateResult img2img = generate(model, second);
  EXPECT_EQ(hires.final_latents.to_vector(), img2img.final_latents.to_vector());
  EXPECT_EQ(hires.image.rgb, img2img.image.rgb);
  EXPECT_EQ(hires.times.unet_calls, 2 + int(3 * 0.7)) << "first pass 2 steps, second int(3 x 0.7)";
  EXPECT_EQ(generate(model, o).image.rgb, hires.image.rgb) << "same seed, another image";
  GenerateOptions other = o;
  other.seed = 8;
  EXPECT_NE(generate(model, other).image.rgb, hires.image.rgb);
}

// sd1-tiny's UNet takes multiples of 64 pixels: the second passes that sample stay on them, the others
// (denoise 0: upscale and encode only) show the rounding down to the latent grid.
TEST(HiresFix, OutputIsTheBaseSizeTimesTheScaleOnTheLatentGrid) {
  const StableDiffusion& model = fixture_model("sd1-tiny");
  struct Case {
    double scale, denoise;
    int width, height;
  };
  for (const Case& c : {Case{2.0, 0.5, 256, 128}, Case{1.0, 0.5, 128, 64}, Case{1.5, 0.0, 192, 96}, Case{1.3, 0.0, 160, 80}}) {
    GenerateOptions o = hires_options(HiresUpscaler::Lanczos, c.denoise);
    o.width = 128, o.height = 64;
    o.hires->scale = c.scale;
    const GenerateResult r = generate(model, o);
    EXPECT_EQ(r.image.width, c.width) << c.scale;
    EXPECT_EQ(r.image.height, c.height) << c.scale;
  }
  EXPECT_EQ(hires_side(512, 2.0), 1024);
  EXPECT_EQ(hires_side(600, 1.7), 1016);  // int(1020) down to a multiple of 8
}

// Each refusal names what it refuses.
void expect_refused(const GenerateOptions& o, const std::string& needle) {
  try {
    generate(fixture_model("sd1-tiny"), o);
    ADD_FAILURE() << "accepted; expected an error naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(HiresFix, SettingsOutOfRangeAreRefusedClearly) {
  for (double scale : {0.5, 4.5}) {
    GenerateOptions o = hires_options(HiresUpscaler::Latent, 0.7);
    o.hires->scale = scale;
    expect_refused(o, "--hr-scale must be in [1, 4]");
  }
  for (double denoise : {-0.1, 1.5}) expect_refused(hires_options(HiresUpscaler::Latent, denoise), "--hr-denoise must be in [0, 1]");
  GenerateOptions o = hires_options(HiresUpscaler::Latent, 0.7);
  o.hires->steps = -1;
  expect_refused(o, "--hr-steps");
  o = hires_options(HiresUpscaler::Latent, 0.7);
  o.init_image = Image{64, 64, std::vector<uint8_t>(64 * 64 * 3, 128)};
  expect_refused(o, "--hires is for txt2img");
  EXPECT_EQ(hires_upscaler_from_name("Latent (nearest)"), HiresUpscaler::LatentNearest);
  EXPECT_EQ(hires_upscaler_from_name("LANCZOS"), HiresUpscaler::Lanczos);
  try {
    hires_upscaler_from_name("ESRGAN_4x");
    ADD_FAILURE() << "ESRGAN_4x accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("latent-nearest"), std::string::npos) << e.what();
  }
}

TEST(HiresFix, ParametersRecordA1111sKeys) {
  const GenerationParameters p = generation_parameters(hires_options(HiresUpscaler::Latent, 0.7), 7, "tiny.safetensors");
  const std::string text = format_parameters(p);
  EXPECT_NE(text.find("Size: 64x64"), std::string::npos) << text;
  EXPECT_NE(text.find("Denoising strength: 0.7, Hires upscale: 2, Hires steps: 3, Hires upscaler: Latent"), std::string::npos)
      << text;
  const GenerationParameters back = parse_parameters(text);
  EXPECT_EQ(back.strength, 0.7);
}

}  // namespace
}  // namespace diffuse
