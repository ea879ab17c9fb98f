// TAESD (diffusers' AutoencoderTiny) against diffusers 0.27.2 (fixtures/wave2: a random tiny
// autoencoder decoding sd1-tiny's txt2img latents), its file forms, and `generate --taesd`.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "golden.h"
#include "io/safetensors.h"
#include "io/taesd_file.h"
#include "models/taesd.h"
#include "pipeline/generate.h"
#include "pipeline_cases.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;
using testing::close_to;
using testing::fixture;
using testing::golden;
using testing::Golden;

const std::string kTaesd = "wave2/taesd/diffusion_pytorch_model.safetensors";

std::vector<testing::PipelineCase> taesd_cases() {
  std::ifstream in(fixture("wave2/cases.json"));
  std::vector<testing::PipelineCase> out;
  for (const auto& c : nlohmann::json::parse(in)) {
    // taesd_euler_a's reference failed when it was made: its final_latents are NaN throughout and
    // its image all zeros. Non-square decoding is checked on taesd_nonsquare instead.
    if (!c.contains("taesd") || c["id"] == "taesd_euler_a") continue;
    testing::PipelineCase p;
    p.family = "sd1-tiny", p.id = c["id"], p.sampler = c["sampler"], p.prompt = c["prompt"], p.negative = c["negative"];
    p.file = c["file"], p.seed = c["seed"], p.steps = c["steps"], p.width = c["width"], p.height = c["height"];
    p.cfg = c["cfg"];
    out.push_back(std::move(p));
  }
  return out;
}

TinyAutoencoder load_taesd(const std::string& path) {
  const TensorArchive archive = open_taesd(path);
  return TinyAutoencoder(Weights(archive, "taesd"));
}

std::vector<float> bytes_of(const Image& image) { return {image.rgb.begin(), image.rgb.end()}; }

class Taesd : public ::testing::TestWithParam<testing::PipelineCase> {};

TEST_P(Taesd, DecodeOfDiffusersLatentsWithin1Lsb) {
  const testing::PipelineCase& c = GetParam();
  const TensorArchive expected = load_safetensors(fixture("wave2/" + c.file));
  const TinyAutoencoder taesd = load_taesd(fixture(kTaesd));
  const Image image = to_image(taesd.decode(tensor_of(golden(expected, "final_latents"))));
  EXPECT_TRUE(close_to(c.id + " image_u8", bytes_of(image), golden(expected, "image_u8"), 1.0 / 255.0))
      << "(a bound of 1 LSB)";
}

// The whole pipeline with --taesd: sd1-tiny's sampling, then the tiny decoder.
TEST_P(Taesd, GenerationDecodedByTaesdWithin1Lsb) {
  const testing::PipelineCase& c = GetParam();
  const TensorArchive expected = load_safetensors(fixture("wave2/" + c.file));
  LoadOptions load;
  load.taesd_path = fixture(kTaesd);
  const auto model = StableDiffusion::load(fixture("sd1-tiny/model.safetensors"), load);
  ASSERT_TRUE(model->decodes_with_taesd());
  const GenerateResult r = generate(*model, testing::generate_options(c));
  EXPECT_TRUE(close_to(c.id + " final_latents", r.final_latents.to_vector(), golden(expected, "final_latents"), 1e-3));
  EXPECT_TRUE(close_to(c.id + " image_u8", bytes_of(r.image), golden(expected, "image_u8"), 1.0 / 255.0))
      << "(a bound of 1 LSB)";
}

INSTANTIATE_TEST_SUITE_P(Wave2, Taesd, ::testing::ValuesIn(taesd_cases()),
                         [](const auto& info) { return info.param.id; });

// diffusers' AutoencoderTiny on non-square grids (make_taesd_reference.py), loaded from the
// diffusers folder form of the same weights.
TEST(TaesdNonSquare, DecodeWithin1LsbAndEncodeWithin1e4) {
  const TensorArchive expected = load_safetensors(fixture("wave2/taesd_nonsquare.safetensors"));
  const TinyAutoencoder taesd = load_taesd(fixture("wave2/taesd"));
  ASSERT_TRUE(taesd.has_encoder());
  const Image image = to_image(taesd.decode(tensor_of(golden(expected, "latents"))));
  EXPECT_TRUE(close_to("decode_u8", bytes_of(image), golden(expected, "decode_u8"), 1.0 / 255.0)) << "(1 LSB)";
  const Tensor encoded = taesd.encode(tensor_of(golden(expected, "encode_image")));
  EXPECT_TRUE(close_to("encoded", encoded.to_vector(), golden(expected, "encoded"), testing::kComponentTolerance));
}

// madebyollin's original files: the decoder's Sequential starts with a parameterless clamp, so
// its index i is diffusers' i - 1; the encoder's indices are diffusers'.
TEST(TaesdFile, OriginalSingleFilesDecodeAndEncodeTheSame) {
  const TensorArchive diffusers = load_safetensors(fixture(kTaesd));
  std::map<std::string, StoredTensor> decoder, encoder;
  for (const auto& [name, t] : diffusers.tensors) {
    const size_t dot = name.find('.', 15);  // after "decoder.layers." / "encoder.layers."
    const int index = std::stoi(name.substr(15, dot - 15));
    if (name.starts_with("decoder.")) decoder[std::to_string(index + 1) + name.substr(dot)] = t;
    if (name.starts_with("encoder.")) encoder[std::to_string(index) + name.substr(dot)] = t;
  }
  const fs::path dir = fs::temp_directory_path() / ("diffuse-taesd-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  save_safetensors((dir / "taesd_decoder.safetensors").string(), decoder);
  save_safetensors((dir / "taesd_encoder.safetensors").string(), encoder);

  const TinyAutoencoder reference = load_taesd(fixture(kTaesd));
  const TinyAutoencoder original = load_taesd((dir / "taesd_decoder.safetensors").string());
  EXPECT_FALSE(original.has_encoder());
  const Tensor z = Tensor::from({1, 4, 8, 8}, testing::normal_values(4 * 64, 7));
  EXPECT_EQ(original.decode(z).to_vector(), reference.decode(z).to_vector());
  EXPECT_THROW(original.encode(Tensor({1, 3, 64, 64})), Error);

  try {
    open_taesd((dir / "taesd_encoder.safetensors").string());
    ADD_FAILURE() << "an encoder-only file was taken for a decoder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder-only"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(TaesdFile, AVaeIsNotATaesd) {
  EXPECT_THROW(open_taesd(fixture("sd1-tiny/model.safetensors")), Error);
}

}  // namespace
}  // namespace diffuse
