// Whole generations through the library against diffusers' pipelines (expected/pipeline_*.safetensors).
#include <map>

#include "core/error.h"
#include "golden.h"
#include "io/model_files.h"
#include "pipeline/generate.h"
#include "pipeline_cases.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::fixture;
using testing::golden;
using testing::Golden;
using testing::image_of;
using testing::PipelineCase;

const StableDiffusion& model(const std::string& family) { return testing::fixture_model(family); }

class Pipeline : public ::testing::TestWithParam<PipelineCase> {};

TEST_P(Pipeline, MatchesDiffusers) {
  const PipelineCase& c = GetParam();
  const TensorArchive expected = load_safetensors(fixture(c.family + "/" + c.file));
  GenerateOptions o = testing::generate_options(c);
  if (c.strength) {
    o.strength = *c.strength;
    o.init_image = image_of(golden(expected, "init_image_u8"));
  }
  const GenerateResult r = generate(model(c.family), o);

  const std::string what = c.family + " " + c.id + " ";
  EXPECT_TRUE(close_to(what + "start_latents", r.start_latents.to_vector(), golden(expected, "start_latents"), 1e-4));
  EXPECT_TRUE(close_to(what + "final_latents", r.final_latents.to_vector(), golden(expected, "final_latents"), 1e-3));
  const Golden u8 = golden(expected, "image_u8");
  std::vector<float> got(r.image.rgb.begin(), r.image.rgb.end());
  EXPECT_TRUE(close_to(what + "image_u8", got, u8, 1.0 / 255.0)) << "(a bound of 1 LSB)";
}

std::string case_name(const ::testing::TestParamInfo<PipelineCase>& info) {
  std::string family = info.param.family.substr(0, info.param.family.find('-'));
  return family + "_" + info.param.id;
}

INSTANTIATE_TEST_SUITE_P(Sd1, Pipeline, ::testing::ValuesIn(testing::pipeline_cases("sd1-tiny")), case_name);
INSTANTIATE_TEST_SUITE_P(Sd2, Pipeline, ::testing::ValuesIn(testing::pipeline_cases("sd2-tiny")), case_name);
INSTANTIATE_TEST_SUITE_P(Sdxl, Pipeline, ::testing::ValuesIn(testing::pipeline_cases("sdxl-tiny")), case_name);

}  // namespace
}  // namespace diffuse

namespace diffuse {
namespace {

// SD-Turbo style: one trailing step without guidance makes exactly one conditional UNet call.
TEST(PipelineTurbo, SingleStepWithoutGuidanceCallsTheUnetOnce) {
  GenerateOptions o;
  o.prompt = "a cinematic shot of a raccoon";
  o.steps = 1;
  o.cfg_scale = 1.0;
  o.width = o.height = 64;
  o.sampler = "euler_a";
  o.timestep_spacing = "trailing";
  const GenerateResult r = generate(model("sd1-tiny"), o);
  EXPECT_EQ(r.times.unet_calls, 1);
  EXPECT_EQ(r.image.width, 64);
}

TEST(PipelineErrors, InvalidOptionsAreNamed) {
  GenerateOptions o;
  o.prompt = "x";
  o.width = 60;
  o.height = 64;
  EXPECT_THROW(generate(model("sd1-tiny"), o), Error);
  o.width = 64;
  o.sampler = "warp_drive";
  try {
    generate(model("sd1-tiny"), o);
    FAIL() << "an unknown sampler was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("warp_drive"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace diffuse

namespace diffuse {
namespace {

// --low-memory: the text encoders go once the prompt is encoded; the same prompt (a new seed of a
// batch) is served from the kept conditioning, another prompt is a clear error.
TEST(PipelineLowMemory, KeepsTheConditioningAndRefusesNewPrompts) {
  LoadOptions options;
  options.low_memory = true;
  const auto model = StableDiffusion::load(testing::fixture("sd1-tiny/model.safetensors"), options);
  GenerateOptions o;
  o.prompt = "a red apple";
  o.steps = 2;
  o.width = o.height = 64;
  const GenerateResult first = generate(*model, o);
  o.seed = 7;
  const GenerateResult second = generate(*model, o);
  EXPECT_NE(first.image.rgb, second.image.rgb);
  EXPECT_EQ(model->text_encoders().size(), 0u);
  o.prompt = "a green apple";
  try {
    generate(*model, o);
    ADD_FAILURE() << "a new prompt after the text encoders were freed must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("low-memory"), std::string::npos) << e.what();
  }
}

// generate --low-memory's order: sample, free the UNet, decode. The image is generate()'s, and
// sampling once the UNet is gone is a clear error.
TEST(PipelineLowMemory, DecodesAfterTheUnetIsFreed) {
  const auto model = StableDiffusion::load(testing::fixture("sd1-tiny/model.safetensors"));
  GenerateOptions o;
  o.prompt = "a red apple";
  o.steps = 2;
  o.width = o.height = 64;
  const GenerateResult whole = generate(*model, o);
  GenerateResult halves = sample_latents(*model, o);
  EXPECT_TRUE(halves.image.rgb.empty());
  model->release_unet();
  decode_latents(*model, halves);
  EXPECT_EQ(halves.image.rgb, whole.image.rgb);
  try {
    sample_latents(*model, o);
    ADD_FAILURE() << "sampling after the UNet was freed must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("UNet was freed"), std::string::npos) << e.what();
  }
}

// An inpainting UNet (9 input channels) beside a 4-channel VAE: refused at load, naming both counts,
// not a shape error deep in the first step.
TEST(PipelineLoad, UnetAndVaeLatentChannelsMustAgree) {
  ModelFiles files = open_model(testing::fixture("sd1-tiny/model.safetensors"));
  StoredTensor& conv_in = files.unet.tensors.at("input_blocks.0.0.weight");
  std::vector<int64_t> shape = conv_in.shape;
  shape[1] = 7;  // neither the VAE's 4 nor an inpainting UNet's 2 * 4 + 1
  auto bytes = std::make_shared<std::vector<std::byte>>(size_t(shape[0] * 7 * shape[2] * shape[3]) * dtype_size(conv_in.dtype));
  files.unet.backing.push_back(bytes);
  conv_in = StoredTensor{conv_in.dtype, shape, bytes->data(), bytes->size()};
  try {
    StableDiffusion::from_files(std::move(files));
    ADD_FAILURE() << "a 7-channel UNet with a 4-channel VAE must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("takes 7 and makes 4 latent channels, but the VAE's latents have 4"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace diffuse
