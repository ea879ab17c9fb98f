// LoRA: a model with a LoRA merged must be the model the LoRA's definition makes,
// W += scale * alpha / rank * up @ down per layer. tests/fixtures/lora/make_lora_fixtures.py
// merged each case by hand (numpy, float64, its own key mapping) and kept the changed tensors;
// here the original checkpoint with those tensors swapped in is "the copy", and the original with
// the LoRA merged by diffuse must have the same weights and make the same image.
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "golden.h"
#include "io/generation_parameters.h"
#include "io/image.h"
#include "io/lora.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "pipeline/generate.h"
#include "pipeline/lora_merge.h"
#include "text/lora_tags.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;
using testing::fixture;

fs::path scratch_dir() {
  static const fs::path dir = fs::temp_directory_path() / ("diffuse-lora-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

// --- the fixtures' cases ------------------------------------------------------------------------

struct MergeCase {
  std::string id, model, merged;
  std::vector<std::string> changed_tensors;
  std::vector<LoraSpec> loras;
  std::vector<nlohmann::json> lora_entries;  // file, scales, layers, keys, short_hash
};

void PrintTo(const MergeCase& c, std::ostream* os) { *os << c.id; }

std::vector<MergeCase> merge_cases() {
  std::ifstream in(fixture("lora/cases.json"));
  std::vector<MergeCase> cases;
  for (const auto& c : nlohmann::json::parse(in)) {
    MergeCase m{c["id"], c["model"], c["merged"], c["changed_tensors"], {}, {}};
    for (const auto& l : c["loras"]) {
      m.loras.push_back({fixture("lora/" + l["file"].get<std::string>()), l["text_scale"], l["unet_scale"]});
      m.lora_entries.push_back(l);
    }
    cases.push_back(std::move(m));
  }
  return cases;
}

// The original checkpoint with the hand-merged tensors in place of its own, written once per case.
std::string hand_merged_copy(const MergeCase& c) {
  const fs::path path = scratch_dir() / (c.id + "_copy.safetensors");
  if (fs::exists(path)) return path.string();
  const TensorArchive original = load_safetensors(fixture(c.model));
  const TensorArchive merged = load_safetensors(fixture("lora/" + c.merged));
  std::map<std::string, StoredTensor> tensors = original.tensors;
  for (const auto& [name, tensor] : merged.tensors) {
    const StoredTensor& own = original.at(name);
    if (own.shape != tensor.shape) throw Error(c.merged + ": '" + name + "' has another shape than the checkpoint's");
    tensors[name] = tensor;
  }
  save_safetensors(path.string(), tensors);
  return path.string();
}

// Bit-identical weights in every component a LoRA can change; the failure names the first
// tensor that differs, where, and by how much, and how many values differ in all.
::testing::AssertionResult same_weights(const ModelFiles& got, const ModelFiles& expected) {
  std::vector<std::pair<const TensorArchive*, const TensorArchive*>> parts{{&got.unet, &expected.unet}};
  for (size_t i = 0; i < got.text_encoders.size() && i < expected.text_encoders.size(); ++i)
    parts.emplace_back(&got.text_encoders[i], &expected.text_encoders[i]);
  size_t differing = 0;
  std::string first;
  for (const auto& [a, b] : parts) {
    if (a->tensors.size() != b->tensors.size())
      return ::testing::AssertionFailure() << a->tensors.size() << " tensors against " << b->tensors.size();
    for (const auto& [name, tensor] : a->tensors) {
      const std::vector<float> x = tensor.to_f32(), y = b->at(name).to_f32();
      for (size_t i = 0; i < x.size(); ++i) {
        if (std::memcmp(&x[i], &y[i], sizeof(float)) == 0) continue;
        if (differing++ == 0)
          first = "'" + name + "' [" + std::to_string(i) + "]: merged " + std::to_string(x[i]) + ", by hand " +
                  std::to_string(y[i]) + " (diff " + std::to_string(x[i] - y[i]) + ")";
      }
    }
  }
  if (differing == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << differing << " values differ; first " << first;
}

class LoraMerge : public ::testing::TestWithParam<MergeCase> {};

TEST_P(LoraMerge, WeightsEqualTheHandMergedCopy) {
  const MergeCase& c = GetParam();
  ModelFiles merged = open_model(fixture(c.model));
  const LoraMergeStats stats = merge_loras(merged, c.loras, /*lenient=*/false, Precision::Fp32);
  size_t layers = 0;
  for (const auto& l : c.lora_entries) layers += l["layers"].get<size_t>();
  EXPECT_EQ(stats.files, c.loras.size());
  EXPECT_EQ(stats.layers, layers);
  EXPECT_TRUE(stats.warnings.empty());
  EXPECT_TRUE(same_weights(merged, open_model(hand_merged_copy(c))));
}

// The same from the SD1 model's diffusers folder: the LoRA keys map onto whichever layout was opened.
TEST(LoraMergeLayouts, DiffusersFolderMergesAsTheSingleFile) {
  const MergeCase c = merge_cases().front();
  ModelFiles folder = open_model(fixture("sd1-tiny/diffusers"));
  merge_loras(folder, c.loras, false, Precision::Fp32);
  EXPECT_TRUE(same_weights(folder, open_model(hand_merged_copy(c))));
}

// bf16 layers round their weights to bf16 anyway: a merge for them keeps half the bytes, once rounded.
TEST(LoraMergePrecision, Bf16KeepsTheFp32MergeRoundedOnce) {
  const MergeCase c = merge_cases().front();
  ModelFiles fp32 = open_model(fixture(c.model)), bf16 = open_model(fixture(c.model));
  merge_loras(fp32, c.loras, false, Precision::Fp32);
  merge_loras(bf16, c.loras, false, Precision::Bf16);
  const std::string name = "input_blocks.4.0.in_layers.2.weight";  // a LoCon 3x3 convolution
  ASSERT_EQ(bf16.unet.at(name).dtype, DType::BF16);
  const std::vector<float> exact = fp32.unet.at(name).to_f32(), rounded = bf16.unet.at(name).to_f32();
  for (size_t i = 0; i < exact.size(); ++i)
    ASSERT_EQ(rounded[i], bf16_to_float(float_to_bf16(exact[i]))) << name << " [" << i << "]";
}

Image generate_image(const StableDiffusion& model, const std::string& prompt) {
  GenerateOptions o;
  o.prompt = prompt;
  o.negative_prompt = "blurry";
  o.seed = 7;
  o.steps = 4;
  o.cfg_scale = 5;
  o.width = o.height = 64;
  o.sampler = "euler";
  return generate(model, o).image;
}

// Identical pixels; the failure says how many differ and where the first is.
::testing::AssertionResult same_image(const Image& got, const Image& expected) {
  if (got.width != expected.width || got.height != expected.height)
    return ::testing::AssertionFailure() << got.width << "x" << got.height << " against " << expected.width << "x"
                                         << expected.height;
  size_t differing = 0, first = 0;
  for (size_t i = 0; i < got.rgb.size(); ++i)
    if (got.rgb[i] != expected.rgb[i] && differing++ == 0) first = i;
  if (differing == 0) return ::testing::AssertionSuccess();
  const size_t pixel = first / 3;
  return ::testing::AssertionFailure() << differing << " of " << got.rgb.size() << " channel values differ; first at x "
                                       << pixel % size_t(got.width) << ", y " << pixel / size_t(got.width)
                                       << ", channel " << first % 3 << ": " << int(got.rgb[first]) << " against "
                                       << int(expected.rgb[first]);
}

TEST_P(LoraMerge, ImageEqualsTheHandMergedCopysAndDiffersFromTheOriginals) {
  const MergeCase& c = GetParam();
  LoadOptions with_lora;
  with_lora.loras = c.loras;
  const std::string prompt = "a red circle on a blue background";
  const Image merged = generate_image(*StableDiffusion::load(fixture(c.model), with_lora), prompt);
  EXPECT_TRUE(same_image(merged, generate_image(*StableDiffusion::load(hand_merged_copy(c)), prompt)));
  EXPECT_FALSE(same_image(merged, generate_image(*StableDiffusion::load(fixture(c.model)), prompt)))
      << "the LoRA changed nothing visible";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LoraMerge, ::testing::ValuesIn(merge_cases()),
                         [](const auto& info) { return info.param.id; });

// --- diffusers 0.27.2's merge of the same files (make_diffusers_reference.py) ---------------------

class LoraDiffusers : public ::testing::TestWithParam<nlohmann::json> {};

TEST_P(LoraDiffusers, ImageWithin1LsbOfDiffusers) {
  const nlohmann::json& c = GetParam();
  LoadOptions load;
  const double scale = c["scale"];
  load.loras = {{fixture("lora/" + c["lora"].get<std::string>()), scale, scale}};
  GenerateOptions o;
  o.prompt = c["prompt"];
  o.negative_prompt = c["negative"].get<std::string>();
  o.seed = c["seed"];
  o.steps = c["steps"];
  o.cfg_scale = c["cfg"];
  o.width = o.height = 64;
  o.sampler = c["sampler"];
  const GenerateResult r = generate(*StableDiffusion::load(fixture(c["model"]), load), o);
  const TensorArchive expected = load_safetensors(fixture("lora/" + c["file"].get<std::string>()));
  const std::string what = c["id"].get<std::string>() + " ";
  EXPECT_TRUE(testing::close_to(what + "final_latents", r.final_latents.to_vector(),
                                testing::golden(expected, "final_latents"), 1e-3));
  const std::vector<float> image(r.image.rgb.begin(), r.image.rgb.end());
  EXPECT_TRUE(testing::close_to(what + "image_u8", image, testing::golden(expected, "image_u8"), 1.0 / 255.0))
      << "(a bound of 1 LSB)";
}

std::vector<nlohmann::json> diffusers_cases() {
  std::ifstream in(fixture("lora/diffusers_reference.json"));
  const nlohmann::json cases = nlohmann::json::parse(in);
  return {cases.begin(), cases.end()};
}

INSTANTIATE_TEST_SUITE_P(Reference, LoraDiffusers, ::testing::ValuesIn(diffusers_cases()),
                         [](const auto& info) { return info.param["id"].template get<std::string>(); });

// --- hostile and mismatched files ----------------------------------------------------------------

struct Entry {
  DType dtype;
  Shape shape;
  std::vector<std::byte> bytes;
};

Entry f32(Shape shape, uint32_t seed = 1) {
  const std::vector<float> values = testing::normal_values(size_t(shape_numel(shape)), seed);
  Entry e{DType::F32, std::move(shape), std::vector<std::byte>(values.size() * 4)};
  std::memcpy(e.bytes.data(), values.data(), e.bytes.size());
  return e;
}

std::string write_lora(const std::string& name, const std::map<std::string, Entry>& entries) {
  std::map<std::string, StoredTensor> tensors;
  for (const auto& [key, e] : entries) tensors[key] = StoredTensor{e.dtype, e.shape, e.bytes.data(), e.bytes.size()};
  const std::string path = (scratch_dir() / name).string();
  save_safetensors(path, tensors);
  return path;
}

const ModelFiles& sd1() {
  static const ModelFiles model = open_model(fixture("sd1-tiny/model.safetensors"));
  return model;
}

// The error a user sees names the file and every one of `parts`.
void expect_refused(const std::string& path, const std::vector<std::string>& parts) {
  try {
    read_lora(path, sd1());
    ADD_FAILURE() << path << " was accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << "no file name in: " << message;
    for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << "no '" << part << "' in: " << message;
  }
}

const std::string kToQ = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";  // [32, 32]

TEST(LoraHostile, ShapesThatDoNotFitTheLayerAreRefused) {
  expect_refused(write_lora("up_rows.safetensors", {{kToQ + ".lora_down.weight", f32({4, 32})},
                                                    {kToQ + ".lora_up.weight", f32({33, 4})}}),
                 {kToQ, "[32,32]", "up [33,4] makes 33 outputs"});
  expect_refused(write_lora("down_columns.safetensors", {{kToQ + ".lora_down.weight", f32({4, 31})},
                                                         {kToQ + ".lora_up.weight", f32({32, 4})}}),
                 {kToQ, "down [4,31] does not fit"});
  expect_refused(write_lora("ranks_differ.safetensors", {{kToQ + ".lora_down.weight", f32({4, 32})},
                                                         {kToQ + ".lora_up.weight", f32({32, 3})}}),
                 {kToQ, "disagree on the rank"});
  expect_refused(write_lora("kernel_on_linear.safetensors", {{kToQ + ".lora_down.weight", f32({4, 32, 3, 3})},
                                                             {kToQ + ".lora_up.weight", f32({32, 4})}}),
                 {kToQ, "does not fit"});
  expect_refused(write_lora("up_kernel.safetensors", {{kToQ + ".lora_down.weight", f32({4, 32})},
                                                      {kToQ + ".lora_up.weight", f32({32, 4, 3, 3})}}),
                 {kToQ, "must be a 1x1 convolution"});
  expect_refused(write_lora("vector.safetensors", {{kToQ + ".lora_down.weight", f32({4})},
                                                   {kToQ + ".lora_up.weight", f32({32, 4})}}),
                 {kToQ, "must be matrices or convolution kernels"});
}

TEST(LoraHostile, RanksAboveTheLayersFullRankAreRefused) {
  expect_refused(write_lora("rank33.safetensors", {{kToQ + ".lora_down.weight", f32({33, 32})},
                                                   {kToQ + ".lora_up.weight", f32({32, 33})}}),
                 {kToQ, "rank 33 is above the layer's full rank 32"});
}

// A header may declare any shape; the bytes it would need must be in the file.
TEST(LoraHostile, AHugeDeclaredRankWithoutItsBytesIsRefusedBeforeAnyAllocation) {
  const std::string key = kToQ + ".lora_down.weight";
  std::string header = R"({")" + key + R"(":{"dtype":"F16","shape":[1099511627776,32],"data_offsets":[0,64]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const fs::path path = scratch_dir() / "huge_rank.safetensors";
  std::ofstream out(path, std::ios::binary);
  const uint64_t length = header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << header << std::string(64, '\0');
  out.close();
  expect_refused(path.string(), {key});
}

TEST(LoraHostile, AlphaMustBeOneFiniteNumber) {
  const std::map<std::string, Entry> pair{{kToQ + ".lora_down.weight", f32({4, 32})}, {kToQ + ".lora_up.weight", f32({32, 4})}};
  auto with_alpha = [&](Entry alpha) {
    auto entries = pair;
    entries.emplace(kToQ + ".alpha", std::move(alpha));
    return entries;
  };
  expect_refused(write_lora("alpha_vector.safetensors", with_alpha(f32({2}))), {kToQ + ".alpha", "one floating-point number"});
  Entry nan = f32({});
  const float not_a_number = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan.bytes.data(), &not_a_number, 4);
  expect_refused(write_lora("alpha_nan.safetensors", with_alpha(nan)), {kToQ + ".alpha", "not a finite number"});
}

TEST(LoraHostile, IncompleteOrIntegerPairsAreRefused) {
  expect_refused(write_lora("up_only.safetensors", {{kToQ + ".lora_up.weight", f32({32, 4})}}), {kToQ, "an up but no down"});
  Entry integers = f32({32, 4});
  integers.dtype = DType::I32;
  expect_refused(write_lora("integer_up.safetensors", {{kToQ + ".lora_down.weight", f32({4, 32})},
                                                       {kToQ + ".lora_up.weight", integers}}),
                 {kToQ, "floating-point", "I32"});
}

TEST(LoraHostile, TwoKeysForOneWeightAreRefused) {
  const std::string peft = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
  expect_refused(write_lora("twice.safetensors", {{kToQ + ".lora_down.weight", f32({4, 32})},
                                                  {kToQ + ".lora_up.weight", f32({32, 4})},
                                                  {peft + ".lora_A.weight", f32({4, 32})},
                                                  {peft + ".lora_B.weight", f32({32, 4})}}),
                 {kToQ, peft, "both update input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"});
}

TEST(LoraHostile, TruncatedAndForeignFilesAreRefused) {
  const fs::path whole = fixture("lora/sd1_kohya.safetensors");
  const fs::path truncated = scratch_dir() / "truncated.safetensors";
  {
    std::ifstream in(whole, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  expect_refused(truncated.string(), {"truncated?"});
  const fs::path text = scratch_dir() / "notes.safetensors";
  std::ofstream(text) << "not a LoRA";
  expect_refused(text.string(), {"neither a .safetensors file"});
  for (const char* hostile : {"hostile/header_len_huge.safetensors", "hostile/overlap.safetensors", "hostile/exec_os_system.ckpt"})
    EXPECT_THROW(read_lora(fixture(hostile), sd1()), Error) << hostile;
}

// Keys of no layer: refused with their names unless lenient, then skipped with the same line.
TEST(LoraUnmatched, KeysOfNoLayerAreAnErrorUnlessLenient) {
  const std::string path = write_lora("unmatched.safetensors", {
      {kToQ + ".lora_down.weight", f32({4, 32})},
      {kToQ + ".lora_up.weight", f32({32, 4})},
      {"lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight", f32({4, 32})},
      {"lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", f32({64, 4})},  // SD1 has one encoder
      {"lora_unet_mid_block_attentions_0_proj_in.hada_w1_a", f32({4, 4})},                     // LyCORIS LoHa
  });
  ModelFiles model = open_model(fixture("sd1-tiny/model.safetensors"));
  try {
    merge_loras(model, {{path}}, false, Precision::Fp32);
    ADD_FAILURE() << "unmatched keys were accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const char* part : {"lora: ", "3 of 5 keys matched no layer", "lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight",
                             "lora_te2_text_model_encoder_layers_0", "LoHa/LoKr", "--lora-lenient"})
      EXPECT_NE(message.find(part), std::string::npos) << "no '" << part << "' in: " << message;
  }
  EXPECT_EQ(model.unet.at("input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight").dtype, DType::F16) << "changed before refusing";

  const LoraMergeStats stats = merge_loras(model, {{path}}, true, Precision::Fp32);
  EXPECT_EQ(stats.layers, 1u);
  ASSERT_EQ(stats.warnings.size(), 1u);
  EXPECT_NE(stats.warnings[0].find("3 of 5 keys matched no layer"), std::string::npos) << stats.warnings[0];
  EXPECT_EQ(model.unet.at("input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight").dtype, DType::F32);
}

// A norm's scale is no layer a low-rank update applies to, whatever shapes the file gives.
TEST(LoraUnmatched, NormsAreNoLayers) {
  const std::string norm = "unet.down_blocks.0.resnets.0.norm1";
  const LoraFile file = read_lora(write_lora("norm.safetensors", {{norm + ".lora_A.weight", f32({1, 1})},
                                                                   {norm + ".lora_B.weight", f32({32, 1})}}), sd1());
  EXPECT_TRUE(file.layers.empty());
  EXPECT_EQ(file.unmatched_keys.size(), 2u);
}

// An SDXL LoRA is not an SD1 one: every key unmatched, said in one line.
TEST(LoraUnmatched, ALoraForAnotherFamilyMatchesNothing) {
  ModelFiles model = open_model(fixture("sd1-tiny/model.safetensors"));
  EXPECT_THROW(merge_loras(model, {{fixture("lora/sdxl_kohya.safetensors")}}, false, Precision::Fp32), Error);
}

// --- prompt tags ----------------------------------------------------------------------------------

TEST(LoraTags, CutFromThePromptAsA1111Does) {
  const PromptTags t = extract_lora_tags("a <lora:ink:0.8> cat, <lora:paper>(sky:1.2)<lora:x: 0.5 :1.5>");
  EXPECT_EQ(t.prompt, "a  cat, (sky:1.2)");  // each tag replaced by nothing, nothing else touched
  EXPECT_EQ(t.loras, (std::vector<LoraTag>{{"ink", 0.8, 0.8}, {"paper", 1, 1}, {"x", 0.5, 1.5}}));
  EXPECT_TRUE(t.other_tags.empty());

  EXPECT_EQ(extract_lora_tags("<lora:a:0.5:te=0.25:unet=2>").loras, (std::vector<LoraTag>{{"a", 0.25, 2}}));
  EXPECT_EQ(extract_lora_tags("<lora:a:unet=0.3>").loras, (std::vector<LoraTag>{{"a", 1, 0.3}}));
  const PromptTags other = extract_lora_tags("x <hypernet:h:1> <a:<lora:b:1>");
  EXPECT_EQ(other.prompt, "x  ");
  EXPECT_EQ(other.other_tags, (std::vector<std::string>{"<hypernet:h:1>", "<a:<lora:b:1>"}));  // A1111's regex too
  for (const char* plain : {"<lora:>", "< lora:a:1>", "<lora a:1>", "a <b> c", "<lora:a:1", "x > y"})
    EXPECT_EQ(extract_lora_tags(plain).prompt, plain) << plain;
}

TEST(LoraTags, BadArgumentsAreErrors) {
  for (const char* bad : {"<lora:a:x>", "<lora:a:nan>", "<lora:a:1:2:3:4>", "<lora:a:dyn=8>", "<lora::1>", "<lora:a:>"})
    EXPECT_THROW(extract_lora_tags(bad), Error) << bad;
}

// fuzz/regressions/lora_tags: a tag of named arguments only read the name from an empty list.
TEST(LoraTags, OnlyNamedArgumentsNameNoLora) {
  for (const char* bad : {"<lora:te=1>", "<lora:unet=0.5:te=1>", "x <lora:unet=tartoftext|>:2x:11>2:3>"}) {
    try {
      extract_lora_tags(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("names no LoRA"), std::string::npos) << e.what();
    }
  }
}

TEST(LoraTags, WrittenBackAsA1111ReadsThem) {
  EXPECT_EQ(lora_tag_text({"ink", 0.8, 0.8}), "<lora:ink:0.8>");
  EXPECT_EQ(lora_tag_text({"ink", 1, 0.5}), "<lora:ink:1:0.5>");
  EXPECT_EQ(extract_lora_tags(lora_tag_text({"ink", 0.35, 1.25})).loras, (std::vector<LoraTag>{{"ink", 0.35, 1.25}}));
}

// --- A1111's hash ----------------------------------------------------------------------------------

TEST(LoraHash, Sha256OfFipsExamples) {
  auto hex = [](std::string_view text) { return sha256_hex(std::as_bytes(std::span(text.data(), text.size()))); };
  EXPECT_EQ(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(LoraHash, ShortHashesAreA1111s) {
  for (const MergeCase& c : merge_cases())
    for (size_t i = 0; i < c.loras.size(); ++i)
      EXPECT_EQ(lora_short_hash(c.loras[i].path), c.lora_entries[i]["short_hash"].get<std::string>()) << c.loras[i].path;
}

// --- the command line ------------------------------------------------------------------------------

struct CliRun {
  int status;
  std::string err;
};

CliRun run_cli(const std::vector<std::string>& args) {
  const fs::path err = scratch_dir() / "stderr.txt";
  std::string cmd = "'" DIFFUSE_CLI "'";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " >/dev/null 2>'" + err.string() + "' </dev/null";
  const int raw = std::system(cmd.c_str());
  std::ifstream in(err);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), text.str()};
}

std::vector<std::string> generate_args(const std::string& model, const std::string& prompt, const std::string& output) {
  return {"generate", "-m", model, "-p", prompt, "-W", "64", "-H", "64", "--steps", "3", "-s", "5",
          "--sampling-method", "euler", "-t", "1", "-o", output};
}

TEST(LoraCli, PromptTagAndFlagMakeTheHandMergedCopysImageAndTheRecordSaysSo) {
  const MergeCase c = merge_cases().front();  // sd1_kohya at 0.7
  const std::string tagged = (scratch_dir() / "tagged.png").string(), flagged = (scratch_dir() / "flagged.png").string(),
                    copy = (scratch_dir() / "copy.png").string();
  const CliRun tag = run_cli([&] {
    auto a = generate_args(fixture(c.model), "a red circle <lora:sd1_kohya:0.7>", tagged);
    a.insert(a.end(), {"--lora-model-dir", fixture("lora")});
    return a;
  }());
  ASSERT_EQ(tag.status, 0) << tag.err;
  EXPECT_NE(tag.err.find("lora: merged 1 file(s), 16 layers"), std::string::npos) << tag.err;
  const CliRun flag = run_cli([&] {
    auto a = generate_args(fixture(c.model), "a red circle ", flagged);
    a.insert(a.end(), {"--lora", fixture("lora/sd1_kohya.safetensors") + ":0.7"});
    return a;
  }());
  ASSERT_EQ(flag.status, 0) << flag.err;
  const CliRun by_hand = run_cli(generate_args(hand_merged_copy(c), "a red circle ", copy));
  ASSERT_EQ(by_hand.status, 0) << by_hand.err;
  EXPECT_TRUE(same_image(read_png(tagged), read_png(copy)));
  EXPECT_TRUE(same_image(read_png(flagged), read_png(copy)));

  const std::string hash = c.lora_entries[0]["short_hash"];
  const GenerationParameters from_tag = parse_parameters(read_png_text(tagged).at(0).second);
  EXPECT_EQ(from_tag.prompt, "a red circle <lora:sd1_kohya:0.7>");
  const GenerationParameters from_flag = parse_parameters(read_png_text(flagged).at(0).second);
  EXPECT_EQ(from_flag.prompt, "a red circle  <lora:sd1_kohya:0.7>");
  for (const GenerationParameters* p : {&from_tag, &from_flag}) {
    const auto hashes = std::ranges::find(p->extra, std::pair<std::string, std::string>("Lora hashes", "sd1_kohya: " + hash));
    EXPECT_NE(hashes, p->extra.end()) << format_parameters(*p);
  }
}

TEST(LoraCli, MistakesAreOneLineNamingTheCulprit) {
  const std::string model = fixture("sd1-tiny/model.safetensors"), out = (scratch_dir() / "refused.png").string();
  auto with = [&](const std::string& prompt, std::vector<std::string> extra) {
    auto a = generate_args(model, prompt, out);
    a.insert(a.end(), extra.begin(), extra.end());
    return run_cli(a);
  };
  const std::map<std::string, CliRun> runs = {
      {"no such LoRA", with("x <lora:absent:1>", {"--lora-model-dir", fixture("lora")})},
      {"a path as a name", with("x <lora:../lora/sd1_kohya:1>", {"--lora-model-dir", fixture("lora")})},
      {"bad multiplier", with("x <lora:sd1_kohya:strong>", {"--lora-model-dir", fixture("lora")})},
      {"other network", with("x <hypernet:anime:1>", {})},
      {"another family", with("x", {"--lora", fixture("lora/sdxl_kohya.safetensors")})},
      {"missing file", with("x", {"--lora", "/nonexistent.safetensors:0.5"})},
      {"wrong VAE", with("x", {"--vae", fixture("lora/sd1_kohya.safetensors")})},
  };
  const std::map<std::string, std::string> expected = {
      {"no such LoRA", "no absent.safetensors"}, {"a path as a name", "not a path"},
      {"bad multiplier", "'strong' is not a number"}, {"other network", "<hypernet:anime:1> is not supported"},
      {"another family", "keys matched no layer"}, {"missing file", "--lora /nonexistent.safetensors:0.5: no such file"},
      {"wrong VAE", "no VAE tensors"},
  };
  for (const auto& [what, r] : runs) {
    EXPECT_EQ(r.status, 1) << what << ": " << r.err;
    EXPECT_NE(r.err.find(expected.at(what)), std::string::npos) << what << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ", not one line: " << r.err;
  }
  const CliRun lenient = with("x", {"--lora", fixture("lora/sdxl_kohya.safetensors"), "--lora-lenient"});
  EXPECT_EQ(lenient.status, 0) << lenient.err;
  EXPECT_NE(lenient.err.find("(skipped)"), std::string::npos) << lenient.err;
}

}  // namespace
}  // namespace diffuse
