// --vae: a VAE file of any common naming replaces a checkpoint's VAE, tensor for tensor, and one of
// another architecture is refused naming the tensor that differs.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

#include "core/error.h"
#include "golden.h"
#include "io/safetensors.h"
#include "io/vae_file.h"
#include "pipeline/generate.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;
using testing::fixture;

fs::path scratch_dir() {
  static const fs::path dir = fs::temp_directory_path() / ("diffuse-vae-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

// Same names, shapes and values; the failure names the first tensor that differs.
::testing::AssertionResult same_tensors(const TensorArchive& got, const TensorArchive& expected) {
  if (got.tensors.size() != expected.tensors.size())
    return ::testing::AssertionFailure() << got.tensors.size() << " tensors against " << expected.tensors.size();
  for (const auto& [name, tensor] : expected.tensors) {
    const StoredTensor* other = got.find(name);
    if (!other) return ::testing::AssertionFailure() << "no '" << name << "' in " << got.source;
    if (other->shape != tensor.shape || other->to_f32() != tensor.to_f32())
      return ::testing::AssertionFailure() << "'" << name << "' differs between " << got.source << " and " << expected.source;
  }
  return ::testing::AssertionSuccess();
}

// A checkpoint's VAE tensors under its own names without "first_stage_model.", as vae-ft-mse-840000
// is stored, with a training file's extras beside them.
std::string compvis_vae_file(const std::string& checkpoint, const std::string& name,
                             const std::function<void(std::map<std::string, StoredTensor>&)>& edit = {}) {
  static std::vector<TensorArchive> keep_alive;
  keep_alive.push_back(load_safetensors(fixture(checkpoint)));
  std::map<std::string, StoredTensor> tensors;
  for (const auto& [stored, tensor] : keep_alive.back().tensors)
    if (stored.starts_with("first_stage_model.")) tensors[stored.substr(18)] = tensor;
  static const float junk[2] = {1, 2};
  for (const char* extra : {"loss.discriminator.main.0.weight", "model_ema.decay"})
    tensors[extra] = StoredTensor{DType::F32, {2}, reinterpret_cast<const std::byte*>(junk), sizeof junk};
  if (edit) edit(tensors);
  const std::string path = (scratch_dir() / name).string();
  save_safetensors(path, tensors);
  return path;
}

TEST(VaeFile, EveryNamingReadsAsTheCheckpointsOwnVae) {
  const ModelFiles sd1 = open_model(fixture("sd1-tiny/model.safetensors"));
  const ModelFiles sd2 = open_model(fixture("sd2-tiny/model.safetensors"));
  EXPECT_TRUE(same_tensors(open_vae(fixture("sd1-tiny/diffusers/vae/diffusion_pytorch_model.safetensors")), sd1.vae));
  EXPECT_TRUE(same_tensors(open_vae(compvis_vae_file("sd2-tiny/model.safetensors", "compvis.safetensors")), sd2.vae));
  EXPECT_TRUE(same_tensors(open_vae(fixture("sd2-tiny/model.safetensors")), sd2.vae));  // a whole checkpoint's
}

TEST(VaeFile, ReplacesTheVaeTheModelDecodesWith) {
  ModelFiles model = open_model(fixture("sd1-tiny/model.safetensors"));
  replace_vae(model, open_vae(fixture("sd2-tiny/model.safetensors")));
  EXPECT_TRUE(same_tensors(model.vae, open_model(fixture("sd2-tiny/model.safetensors")).vae));

  GenerateOptions o;
  o.prompt = "a red circle";
  o.steps = 2;
  o.width = o.height = 64;
  o.sampler = "euler";
  LoadOptions other_vae;
  other_vae.vae_path = fixture("sd2-tiny/model.safetensors");
  const GenerateResult own = generate(*StableDiffusion::load(fixture("sd1-tiny/model.safetensors")), o);
  const GenerateResult replaced = generate(*StableDiffusion::load(fixture("sd1-tiny/model.safetensors"), other_vae), o);
  EXPECT_EQ(own.final_latents.to_vector(), replaced.final_latents.to_vector()) << "the VAE changed the sampling";
  EXPECT_NE(own.image.rgb, replaced.image.rgb) << "the image was not decoded by the other VAE";
}

TEST(VaeFile, AnotherArchitectureIsRefusedNamingTheTensor) {
  auto refused = [](const std::string& path, const std::string& part) {
    ModelFiles model = open_model(fixture("sd1-tiny/model.safetensors"));
    try {
      replace_vae(model, open_vae(path));
      ADD_FAILURE() << path << " was accepted";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path), std::string::npos) << message;
      EXPECT_NE(message.find(part), std::string::npos) << "no '" << part << "' in: " << message;
    }
  };
  static const std::vector<float> wide(64 * 3 * 3 * 3 * 2, 0.5f);
  refused(compvis_vae_file("sd1-tiny/model.safetensors", "wide.safetensors",
                           [](auto& t) {
                             t["encoder.conv_in.weight"] = StoredTensor{
                                 DType::F32, {128, 3, 3, 3}, reinterpret_cast<const std::byte*>(wide.data()), wide.size() * 4};
                           }),
          "its 'encoder.conv_in.weight' is [128,3,3,3]");
  refused(compvis_vae_file("sd1-tiny/model.safetensors", "missing.safetensors",
                           [](auto& t) { t.erase("decoder.conv_out.bias"); }),
          "it has no 'decoder.conv_out.bias'");
  refused(compvis_vae_file("sd1-tiny/model.safetensors", "extra.safetensors",
                           [](auto& t) { t["decoder.conv_extra.weight"] = t.at("decoder.conv_out.weight"); }),
          "its 'decoder.conv_extra.weight' has no place");
  refused(fixture("lora/sd1_kohya.safetensors"), "no VAE tensors");
  EXPECT_THROW(open_vae(fixture("hostile/truncated.safetensors")), Error);
}

}  // namespace
}  // namespace diffuse
