// open_model: every layout a user can bring (single .safetensors, .ckpt, diffusers folder)
// must yield the same canonical names and the same bytes.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "golden.h"
#include "io/ckpt.h"
#include "io/diffusers_names.h"
#include "io/model_files.h"
#include "io/safetensors.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;
using diffuse::testing::fixture;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::set<std::string> names_of(const TensorArchive& archive) {
  std::set<std::string> names;
  for (const auto& [name, tensor] : archive.tensors) names.insert(name);
  return names;
}

std::string first_few(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 3; ++i) s += (i ? ", " : "") + names[i];
  return names.size() > 3 ? s + ", ..." : s;
}

// Same names, shapes, and bit-identical values once converted to f32; the failure names the
// first tensor that differs and where.
::testing::AssertionResult same_tensors(const TensorArchive& a, const TensorArchive& b) {
  std::vector<std::string> only_a, only_b;
  for (const auto& [name, tensor] : a.tensors)
    if (!b.find(name)) only_a.push_back(name);
  for (const auto& [name, tensor] : b.tensors)
    if (!a.find(name)) only_b.push_back(name);
  if (!only_a.empty() || !only_b.empty())
    return ::testing::AssertionFailure() << only_a.size() << " names only in " << a.source << " (" << first_few(only_a)
                                         << "); " << only_b.size() << " only in " << b.source << " (" << first_few(only_b)
                                         << ")";
  for (const auto& [name, ta] : a.tensors) {
    const StoredTensor& tb = b.at(name);
    if (ta.shape != tb.shape)
      return ::testing::AssertionFailure() << "'" << name << "' has shape " << shape_string(ta.shape) << " in " << a.source
                                           << " but " << shape_string(tb.shape) << " in " << b.source;
    const std::vector<float> fa = ta.to_f32(), fb = tb.to_f32();
    for (size_t i = 0; i < fa.size(); ++i)
      if (std::memcmp(&fa[i], &fb[i], sizeof(float)) != 0)
        return ::testing::AssertionFailure() << "'" << name << "' differs at element " << i << ": " << fa[i] << " in "
                                             << a.source << ", " << fb[i] << " in " << b.source;
  }
  return ::testing::AssertionSuccess();
}

// The names transformers' CLIPTextModel(WithProjection) saves, position_ids aside.
std::set<std::string> hf_clip_names(int layers, bool projection) {
  std::set<std::string> names = {"text_model.embeddings.token_embedding.weight",
                                 "text_model.embeddings.position_embedding.weight",
                                 "text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias"};
  for (int i = 0; i < layers; ++i)
    for (const char* module : {"layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2", "self_attn.q_proj", "self_attn.k_proj",
                               "self_attn.v_proj", "self_attn.out_proj"})
      for (const char* param : {"weight", "bias"})
        names.insert("text_model.encoder.layers." + std::to_string(i) + "." + module + "." + param);
  if (projection) names.insert("text_projection.weight");
  return names;
}

nlohmann::json fixture_config(const std::string& model) {
  std::ifstream in(fixture(model + "/config.json"));
  return nlohmann::json::parse(in);
}

::testing::AssertionResult same_values(const StoredTensor& got, const std::vector<float>& expected, size_t offset,
                                       const std::string& what) {
  const std::vector<float> values = got.to_f32();
  if (offset + values.size() > expected.size())
    return ::testing::AssertionFailure() << what << ": " << values.size() << " values do not fit the source tensor";
  for (size_t i = 0; i < values.size(); ++i)
    if (values[i] != expected[offset + i])
      return ::testing::AssertionFailure() << what << " differs at element " << i << ": " << values[i] << " vs "
                                           << expected[offset + i];
  return ::testing::AssertionSuccess();
}

// An open_clip tower (raw names under `prefix`) against its HF renaming `te`: every renamed
// tensor holds the source's values; q/k/v are the fused projection's row blocks, as views.
void expect_open_clip_renamed(const TensorArchive& te, const TensorArchive& raw, const std::string& prefix, int layers) {
  const std::pair<std::string, std::string> unchanged[] = {
      {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
      {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
      {"ln_final.weight", "text_model.final_layer_norm.weight"},
      {"ln_final.bias", "text_model.final_layer_norm.bias"},
  };
  const std::pair<std::string, std::string> per_layer[] = {
      {"ln_1.weight", "layer_norm1.weight"},   {"ln_1.bias", "layer_norm1.bias"},
      {"ln_2.weight", "layer_norm2.weight"},   {"ln_2.bias", "layer_norm2.bias"},
      {"mlp.c_fc.weight", "mlp.fc1.weight"},   {"mlp.c_fc.bias", "mlp.fc1.bias"},
      {"mlp.c_proj.weight", "mlp.fc2.weight"}, {"mlp.c_proj.bias", "mlp.fc2.bias"},
      {"attn.out_proj.weight", "self_attn.out_proj.weight"}, {"attn.out_proj.bias", "self_attn.out_proj.bias"},
  };
  auto expect_copy = [&](const std::string& from, const std::string& to) {
    const StoredTensor& src = raw.at(prefix + from);
    const StoredTensor& dst = te.at(to);
    EXPECT_EQ(dst.shape, src.shape) << to;
    EXPECT_TRUE(same_values(dst, src.to_f32(), 0, to + " (from " + from + ")"));
  };
  for (const auto& [from, to] : unchanged) expect_copy(from, to);
  for (int i = 0; i < layers; ++i) {
    const std::string oc = "transformer.resblocks." + std::to_string(i) + ".";
    const std::string hf = "text_model.encoder.layers." + std::to_string(i) + ".";
    for (const auto& [from, to] : per_layer) expect_copy(oc + from, hf + to);

    const StoredTensor& fused_w = raw.at(prefix + oc + "attn.in_proj_weight");
    const StoredTensor& fused_b = raw.at(prefix + oc + "attn.in_proj_bias");
    const int64_t c = fused_w.shape[1];
    ASSERT_EQ(fused_w.shape, (std::vector<int64_t>{3 * c, c}));
    const std::vector<float> w = fused_w.to_f32(), b = fused_b.to_f32();
    const StoredTensor* previous_w = nullptr;
    for (int k = 0; k < 3; ++k) {
      const std::string proj = hf + "self_attn." + "qkv"[k] + "_proj.";
      const StoredTensor& pw = te.at(proj + "weight");
      const StoredTensor& pb = te.at(proj + "bias");
      EXPECT_EQ(pw.shape, (std::vector<int64_t>{c, c})) << proj;
      EXPECT_EQ(pb.shape, (std::vector<int64_t>{c})) << proj;
      EXPECT_TRUE(same_values(pw, w, size_t(k * c * c), proj + "weight"));
      EXPECT_TRUE(same_values(pb, b, size_t(k * c), proj + "bias"));
      // Views of the fused bytes, not copies: k starts where q ends.
      if (previous_w) {
        EXPECT_EQ(pw.data, previous_w->data + previous_w->nbytes) << proj << "weight is not a view";
      }
      previous_w = &pw;
    }
  }
}

std::string error_from_opening(const std::string& path) {
  try {
    open_model(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- files built by the tests ----

// Writes tensors (any dtype, their own bytes) as a safetensors file.
void write_safetensors(const fs::path& path, const std::map<std::string, StoredTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    header[name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  const std::string text = header.dump();
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = char(uint64_t(text.size()) >> (8 * i));
  std::ofstream out(path, std::ios::binary);
  out.write(length, 8);
  out << text;
  for (const auto& [name, t] : tensors) out.write(reinterpret_cast<const char*>(t.data), std::streamsize(t.nbytes));
}

// F32 tensors of the given shapes, all reading one zero buffer.
std::map<std::string, StoredTensor> zero_tensors(const std::vector<std::pair<std::string, std::vector<int64_t>>>& specs) {
  static const std::vector<float> zeros(4096);
  std::map<std::string, StoredTensor> tensors;
  for (const auto& [name, shape] : specs) {
    StoredTensor t{DType::F32, shape, reinterpret_cast<const std::byte*>(zeros.data()), 0};
    t.nbytes = size_t(t.numel()) * sizeof(float);
    EXPECT_LE(t.nbytes, zeros.size() * sizeof(float));
    tensors.emplace(name, t);
  }
  return tensors;
}

// A fresh scratch folder per test.
class OpenModelFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    tmp_ = fs::temp_directory_path() /
           ("diffuse_test_loaders_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // A diffusers folder of links to sd1-tiny's, so a test can swap single files.
  fs::path link_sd1_diffusers(const std::string& name) {
    const fs::path src = fixture("sd1-tiny/diffusers"), dst = tmp_ / name;
    fs::create_directories(dst);
    for (const auto& entry : fs::recursive_directory_iterator(src)) {
      const fs::path rel = fs::relative(entry.path(), src);
      if (entry.is_directory())
        fs::create_directories(dst / rel);
      else
        fs::create_symlink(entry.path(), dst / rel);
    }
    return dst;
  }

  fs::path tmp_;
};

// ---- SD1: three layouts, one model ----

TEST(OpenModel, Sd1SafetensorsCkptAndDiffusersAgree) {
  const ModelFiles st = open_model(fixture("sd1-tiny/model.safetensors"));
  const ModelFiles ck = open_model(fixture("sd1-tiny/model.ckpt"));
  const ModelFiles df = open_model(fixture("sd1-tiny/diffusers"));
  for (const ModelFiles* m : {&st, &ck, &df}) {
    ASSERT_EQ(m->text_encoders.size(), 1u) << m->source;
    EXPECT_EQ(names_of(m->text_encoders[0]), hf_clip_names(3, false)) << m->source;
    EXPECT_FALSE(m->unet.tensors.empty()) << m->source;
    EXPECT_FALSE(m->vae.tensors.empty()) << m->source;
  }
  for (const ModelFiles* other : {&ck, &df}) {
    EXPECT_TRUE(same_tensors(st.unet, other->unet));
    EXPECT_TRUE(same_tensors(st.vae, other->vae));
    EXPECT_TRUE(same_tensors(st.text_encoders[0], other->text_encoders[0]));
  }
  // The names are LDM's: spot checks of each renaming rule, so a failure above is easier to read.
  for (const char* name : {"input_blocks.0.0.weight", "input_blocks.3.0.op.weight", "input_blocks.4.0.skip_connection.weight",
                           "input_blocks.8.1.proj_in.weight", "middle_block.2.emb_layers.1.bias",
                           "output_blocks.2.1.conv.weight", "output_blocks.5.2.conv.weight", "output_blocks.11.0.out_layers.3.weight",
                           "time_embed.2.weight", "out.0.weight", "out.2.bias"})
    EXPECT_NE(df.unet.find(name), nullptr) << name;
  for (const char* name : {"encoder.down.1.block.0.nin_shortcut.weight", "encoder.down.2.downsample.conv.weight",
                           "decoder.up.3.upsample.conv.weight", "decoder.up.0.block.2.conv1.weight",
                           "decoder.mid.block_2.norm2.bias", "decoder.mid.attn_1.norm.weight", "encoder.norm_out.bias",
                           "quant_conv.weight", "post_quant_conv.bias"})
    EXPECT_NE(df.vae.find(name), nullptr) << name;
  EXPECT_EQ(df.vae.at("decoder.mid.attn_1.proj_out.weight").shape, (std::vector<int64_t>{64, 64, 1, 1}));
}

TEST(OpenModel, Sd1InventoryCountsEveryFile) {
  const std::string st_path = fixture("sd1-tiny/model.safetensors"), ck_path = fixture("sd1-tiny/model.ckpt");
  const ModelFiles st = open_model(st_path);
  EXPECT_EQ(st.tensor_count, load_safetensors(st_path).tensors.size());
  EXPECT_EQ(st.file_bytes, fs::file_size(st_path));
  EXPECT_EQ(st.dtypes, (std::vector<std::string>{"F16", "I64"}));
  EXPECT_FALSE(st.unet_config || st.vae_config || st.scheduler_config);
  EXPECT_TRUE(st.text_encoder_configs.empty());
  EXPECT_EQ(st.tokenizer_dir, "");

  const ModelFiles ck = open_model(ck_path);
  EXPECT_EQ(ck.tensor_count, load_ckpt(ck_path).tensors.size());
  EXPECT_EQ(ck.file_bytes, fs::file_size(ck_path));

  const std::string dir = fixture("sd1-tiny/diffusers");
  const std::string files[] = {dir + "/unet/diffusion_pytorch_model.safetensors",
                               dir + "/vae/diffusion_pytorch_model.safetensors", dir + "/text_encoder/model.safetensors"};
  size_t count = 0, bytes = 0;
  for (const std::string& f : files) {
    count += load_safetensors(f).tensors.size();
    bytes += fs::file_size(f);
  }
  const ModelFiles df = open_model(dir);
  EXPECT_EQ(df.tensor_count, count);
  EXPECT_EQ(df.file_bytes, bytes);
  EXPECT_EQ(df.dtypes, (std::vector<std::string>{"F16"}));
  ASSERT_TRUE(df.unet_config && df.vae_config && df.scheduler_config);
  EXPECT_EQ(df.unet_config->at("layers_per_block"), 2);
  EXPECT_EQ(df.vae_config->at("_class_name"), "AutoencoderKL");
  EXPECT_EQ(df.scheduler_config->at("_class_name"), "PNDMScheduler");
  ASSERT_EQ(df.text_encoder_configs.size(), 1u);
  EXPECT_EQ(df.text_encoder_configs[0].at("num_hidden_layers"), 3);
  EXPECT_EQ(df.tokenizer_dir, dir + "/tokenizer");
}

TEST_F(OpenModelFiles, FormatIsToldByContentNotExtension) {
  fs::create_symlink(fixture("sd1-tiny/model.ckpt"), tmp_ / "named_like.safetensors");
  fs::create_symlink(fixture("sd1-tiny/model.safetensors"), tmp_ / "named_like.ckpt");
  const ModelFiles ck = open_model((tmp_ / "named_like.safetensors").string());
  const ModelFiles st = open_model((tmp_ / "named_like.ckpt").string());
  EXPECT_TRUE(same_tensors(st.unet, ck.unet));
  EXPECT_EQ(st.dtypes, (std::vector<std::string>{"F16", "I64"}));
}

// ---- open_clip text towers ----

TEST(OpenModel, Sd2OpenClipBecomesHfClip) {
  const std::string path = fixture("sd2-tiny/model.safetensors");
  const int layers = fixture_config("sd2-tiny")["text"]["num_hidden_layers"];
  const ModelFiles m = open_model(path);
  ASSERT_EQ(m.text_encoders.size(), 1u);
  EXPECT_EQ(names_of(m.text_encoders[0]), hf_clip_names(layers, false));
  expect_open_clip_renamed(m.text_encoders[0], load_safetensors(path), "cond_stage_model.model.", layers);
  EXPECT_NE(m.unet.find("input_blocks.1.1.proj_in.weight"), nullptr);
  EXPECT_EQ(m.unet.find("label_emb.0.0.weight"), nullptr);
  EXPECT_NE(m.vae.find("decoder.mid.attn_1.q.weight"), nullptr);
}

TEST(OpenModel, SdxlHasTwoTextEncoders) {
  const std::string path = fixture("sdxl-tiny/model.safetensors");
  const nlohmann::json config = fixture_config("sdxl-tiny");
  const int layers1 = config["text_1"]["num_hidden_layers"], layers2 = config["text_2"]["num_hidden_layers"];
  const ModelFiles m = open_model(path);
  const TensorArchive raw = load_safetensors(path);
  ASSERT_EQ(m.text_encoders.size(), 2u);
  EXPECT_EQ(names_of(m.text_encoders[0]), hf_clip_names(layers1, false));
  EXPECT_EQ(names_of(m.text_encoders[1]), hf_clip_names(layers2, true));
  EXPECT_TRUE(same_values(m.text_encoders[0].at("text_model.encoder.layers.1.self_attn.q_proj.weight"),
                          raw.at("conditioner.embedders.0.transformer.text_model.encoder.layers.1.self_attn.q_proj.weight").to_f32(),
                          0, "encoder 1 q_proj"));
  expect_open_clip_renamed(m.text_encoders[1], raw, "conditioner.embedders.1.model.", layers2);

  // open_clip applies x @ P with P [hidden, proj]; nn.Linear wants P^T [proj, hidden].
  const StoredTensor& p = raw.at("conditioner.embedders.1.model.text_projection");
  const StoredTensor& w = m.text_encoders[1].at("text_projection.weight");
  ASSERT_EQ(p.shape.size(), 2u);
  const int64_t hidden = p.shape[0], proj = p.shape[1];
  ASSERT_EQ(w.shape, (std::vector<int64_t>{proj, hidden}));
  EXPECT_EQ(w.dtype, p.dtype);
  const std::vector<float> pv = p.to_f32(), wv = w.to_f32();
  size_t mismatches = 0;
  for (int64_t r = 0; r < hidden; ++r)
    for (int64_t c = 0; c < proj; ++c) mismatches += wv[size_t(c * hidden + r)] != pv[size_t(r * proj + c)];
  EXPECT_EQ(mismatches, 0u) << "text_projection.weight is not the transpose of text_projection";

  EXPECT_NE(m.unet.find("label_emb.0.0.weight"), nullptr);
  EXPECT_NE(m.unet.find("label_emb.0.2.bias"), nullptr);
}

// single_file_tensors + save_safetensors write a model open_model reads back as the same model:
// every component's tensors, names and bytes (SDXL: both text encoders, the second in HF names).
TEST(OpenModel, SingleFileTensorsRoundTrip) {
  for (const char* family : {"sd1-tiny", "sd2-tiny", "sdxl-tiny"}) {
    const ModelFiles m = open_model(fixture(std::string(family) + "/model.safetensors"));
    const std::string path = ::testing::TempDir() + "/" + family + "-written.safetensors";
    save_safetensors(path, single_file_tensors(m));
    const ModelFiles back = open_model(path);
    auto expect_same = [&](const TensorArchive& a, const TensorArchive& b, const std::string& part) {
      EXPECT_EQ(names_of(b), names_of(a)) << family << " " << part;
      for (const auto& [name, t] : a.tensors) {
        const StoredTensor* u = b.find(name);
        if (!u) continue;  // reported by the names above
        EXPECT_TRUE(u->shape == t.shape && u->nbytes == t.nbytes && std::memcmp(u->data, t.data, t.nbytes) == 0)
            << family << " " << part << " " << name << " differs after the round trip";
      }
    };
    expect_same(m.unet, back.unet, "unet");
    expect_same(m.vae, back.vae, "vae");
    ASSERT_EQ(back.text_encoders.size(), m.text_encoders.size()) << family;
    for (size_t i = 0; i < m.text_encoders.size(); ++i)
      expect_same(m.text_encoders[i], back.text_encoders[i], "text encoder " + std::to_string(i + 1));
  }
}

// ---- single files built here ----

TEST_F(OpenModelFiles, OldSd1TextNamesGainTextModelAndExtrasAreCounted) {
  const fs::path path = tmp_ / "old.safetensors";
  write_safetensors(path, zero_tensors({{"model.diffusion_model.out.2.weight", {4, 4, 3, 3}},
                                        {"cond_stage_model.transformer.embeddings.token_embedding.weight", {10, 4}},
                                        {"cond_stage_model.transformer.embeddings.position_ids", {1, 77}},
                                        {"cond_stage_model.transformer.final_layer_norm.weight", {4}},
                                        {"model_ema.decay", {}},
                                        {"betas", {1000}}}));
  const ModelFiles m = open_model(path.string());
  EXPECT_EQ(m.tensor_count, 6u);
  EXPECT_EQ(m.file_bytes, fs::file_size(path));
  EXPECT_EQ(m.dtypes, (std::vector<std::string>{"F32"}));
  EXPECT_EQ(names_of(m.unet), (std::set<std::string>{"out.2.weight"}));
  EXPECT_TRUE(m.vae.tensors.empty());
  ASSERT_EQ(m.text_encoders.size(), 1u);
  EXPECT_EQ(names_of(m.text_encoders[0]),
            (std::set<std::string>{"text_model.embeddings.token_embedding.weight", "text_model.final_layer_norm.weight"}));
}

TEST_F(OpenModelFiles, FileWithoutUnetIsRefused) {
  const fs::path path = tmp_ / "vae_only.safetensors";
  write_safetensors(path, zero_tensors({{"first_stage_model.quant_conv.weight", {8, 8, 1, 1}}}));
  const std::string message = error_from_opening(path.string());
  EXPECT_NE(message.find(path.string() + ": no UNet tensors (model.diffusion_model.*) found"), std::string::npos)
      << message;
}

TEST_F(OpenModelFiles, BadPathsAreRefusedByName) {
  const fs::path empty_dir = tmp_ / "not_diffusers";
  fs::create_directories(empty_dir);
  const fs::path text_file = tmp_ / "notes.safetensors";
  std::ofstream(text_file) << "this is a text file, not a model\n";
  const fs::path missing = tmp_ / "missing.ckpt";
  const std::string truncated = fixture("hostile/truncated.safetensors");

  for (const std::string& path : {empty_dir.string(), fixture("sd1-tiny"), text_file.string(), missing.string(), truncated}) {
    const std::string message = error_from_opening(path);
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << "error for " << path << " was: " << message;
  }
  EXPECT_NE(error_from_opening(empty_dir.string()).find("model_index.json"), std::string::npos);
}

// ---- diffusers folders built here ----

TEST_F(OpenModelFiles, DiffusersFp16VariantsAndShardsLoad) {
  const fs::path root = link_sd1_diffusers("variants");
  // unet: only the fp16 variant.
  fs::rename(root / "unet/diffusion_pytorch_model.safetensors", root / "unet/diffusion_pytorch_model.fp16.safetensors");
  // vae: two shards behind an index.
  const TensorArchive vae = load_safetensors(fixture("sd1-tiny/diffusers/vae/diffusion_pytorch_model.safetensors"));
  fs::remove(root / "vae/diffusion_pytorch_model.safetensors");
  std::map<std::string, StoredTensor> shard[2];
  nlohmann::json weight_map = nlohmann::json::object();
  for (const auto& [name, t] : vae.tensors) {
    const int s = name.starts_with("encoder.") ? 0 : 1;
    shard[s].emplace(name, t);
    weight_map[name] = "diffusion_pytorch_model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
  }
  size_t shard_bytes = 0;
  for (int s = 0; s < 2; ++s) {
    const fs::path p = root / ("vae/diffusion_pytorch_model-0000" + std::to_string(s + 1) + "-of-00002.safetensors");
    write_safetensors(p, shard[s]);
    shard_bytes += fs::file_size(p);
  }
  std::ofstream(root / "vae/diffusion_pytorch_model.safetensors.index.json")
      << nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", weight_map}}.dump();

  const ModelFiles reference = open_model(fixture("sd1-tiny/diffusers"));
  const ModelFiles m = open_model(root.string());
  EXPECT_TRUE(same_tensors(reference.unet, m.unet));
  EXPECT_TRUE(same_tensors(reference.vae, m.vae));
  ASSERT_EQ(m.text_encoders.size(), 1u);
  EXPECT_TRUE(same_tensors(reference.text_encoders[0], m.text_encoders[0]));
  EXPECT_EQ(m.tensor_count, reference.tensor_count);
  EXPECT_EQ(m.file_bytes,
            reference.file_bytes - fs::file_size(fixture("sd1-tiny/diffusers/vae/diffusion_pytorch_model.safetensors")) +
                shard_bytes);
}

TEST_F(OpenModelFiles, UnmappableDiffusersNamesAreRefusedByName) {
  const std::pair<std::string, std::string> cases[] = {
      {"unet", "down_blocks.0.mystery.weight"},
      {"unet", "down_blocks.0.resnets.2.conv1.weight"},  // layers_per_block is 2
      {"unet", "down_blocks.4.resnets.0.conv1.weight"},  // 4 levels
      {"unet", "down_blocks.3.downsamplers.0.conv.weight"},  // the last level has none
      {"unet", "up_blocks.1.resnets.3.conv1.weight"},
      {"unet", "mid_block.resnets.0.mystery.weight"},
      {"unet", "time_embedding.linear_3.weight"},
      {"vae", "decoder.up_blocks.4.resnets.0.conv1.weight"},
      {"vae", "encoder.mid_block.attentions.0.mystery.weight"},
      {"vae", "encoder.up_blocks.0.resnets.0.conv1.weight"},
  };
  int n = 0;
  for (const auto& [component, bad] : cases) {
    const fs::path root = link_sd1_diffusers("case" + std::to_string(n++));
    const fs::path weights = root / component / "diffusion_pytorch_model.safetensors";
    fs::remove(weights);
    const std::string valid = component == "unet" ? "conv_in.weight" : "encoder.conv_in.weight";
    write_safetensors(weights, zero_tensors({{valid, {4, 4, 3, 3}}, {bad, {4}}}));
    const std::string message = error_from_opening(root.string());
    EXPECT_NE(message.find(weights.string() + ": "), std::string::npos) << message;
    EXPECT_NE(message.find("'" + bad + "'"), std::string::npos) << message;
  }
}

// ---- the renaming rules on layouts the fixtures do not cover ----

TEST(DiffusersNames, UnetNumberingFollowsTheConfig) {
  const std::string where = fixture("sdxl-tiny/config.json");
  const UnetLayout sdxl = UnetLayout::from_config(fixture_config("sdxl-tiny")["unet"], where);
  EXPECT_EQ(sdxl.layers_per_block, 2);
  EXPECT_EQ(sdxl.up_block_has_attention, (std::vector<bool>{true, true, false}));

  const UnetLayout one_per_level{1, {false, true}};
  const struct {
    const UnetLayout& layout;
    std::string_view from, to;
  } cases[] = {
      {sdxl, "down_blocks.0.resnets.1.norm1.weight", "input_blocks.2.0.in_layers.0.weight"},
      {sdxl, "down_blocks.1.downsamplers.0.conv.bias", "input_blocks.6.0.op.bias"},
      {sdxl, "down_blocks.2.attentions.1.transformer_blocks.1.attn2.to_k.weight",
       "input_blocks.8.1.transformer_blocks.1.attn2.to_k.weight"},
      {sdxl, "up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.2.conv.weight"},
      {sdxl, "up_blocks.2.resnets.2.conv_shortcut.weight", "output_blocks.8.0.skip_connection.weight"},
      {sdxl, "mid_block.resnets.1.time_emb_proj.bias", "middle_block.2.emb_layers.1.bias"},
      {sdxl, "add_embedding.linear_2.bias", "label_emb.0.2.bias"},
      {one_per_level, "down_blocks.1.resnets.0.norm1.weight", "input_blocks.3.0.in_layers.0.weight"},
      {one_per_level, "down_blocks.0.downsamplers.0.conv.weight", "input_blocks.2.0.op.weight"},
      {one_per_level, "up_blocks.0.upsamplers.0.conv.bias", "output_blocks.1.1.conv.bias"},
      {one_per_level, "up_blocks.1.attentions.1.proj_in.weight", "output_blocks.3.1.proj_in.weight"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(unet_name_from_diffusers(c.from, c.layout).value_or("(none)"), c.to) << c.from;
}

TEST(DiffusersNames, VaeAcceptsBothAttentionNamings) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"decoder.mid_block.attentions.0.to_out.0.weight", "decoder.mid.attn_1.proj_out.weight"},
      {"decoder.mid_block.attentions.0.proj_attn.weight", "decoder.mid.attn_1.proj_out.weight"},
      {"encoder.mid_block.attentions.0.query.bias", "encoder.mid.attn_1.q.bias"},
      {"encoder.mid_block.attentions.0.to_v.weight", "encoder.mid.attn_1.v.weight"},
      {"encoder.mid_block.attentions.0.group_norm.weight", "encoder.mid.attn_1.norm.weight"},
      {"decoder.up_blocks.0.upsamplers.0.conv.weight", "decoder.up.3.upsample.conv.weight"},
      {"decoder.up_blocks.3.resnets.0.conv_shortcut.bias", "decoder.up.0.block.0.nin_shortcut.bias"},
      {"decoder.conv_norm_out.weight", "decoder.norm_out.weight"},
  };
  for (const auto& [from, to] : cases) EXPECT_EQ(vae_name_from_diffusers(from, 4).value_or("(none)"), to) << from;
}

}  // namespace
}  // namespace diffuse
