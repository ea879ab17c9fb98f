// CLIP text encoders against transformers' CLIPTextModel outputs (fixtures' expected/text_encoder*.safetensors).
#include "golden.h"
#include "io/model_files.h"
#include "models/clip_text_model.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::Golden;
using testing::fixture;
using testing::golden;

constexpr double kTol = testing::kComponentTolerance;

void check_encoder(const std::string& family, int index, bool quick_gelu, const std::string& expected_file) {
  ModelFiles files = open_model(fixture(family + "/model.safetensors"));
  ASSERT_LT(size_t(index), files.text_encoders.size());
  Weights w(files.text_encoders[size_t(index)], "text encoder");
  ClipTextConfig config = ClipTextConfig::detect(w);
  config.quick_gelu = quick_gelu;
  ClipTextModel model(w, config);

  TensorArchive expected = load_safetensors(fixture(family + "/expected/" + expected_file));
  const Golden ids_f = golden(expected, "ids");
  std::vector<int> ids(ids_f.values.begin(), ids_f.values.end());
  const int batch = int(ids_f.shape[0]);
  ClipTextOutput out = model.encode(ids, batch);

  const std::string where = family + " " + expected_file + " ";
  EXPECT_TRUE(close_to(where + "last_hidden_state", out.last_hidden_state.to_vector(), golden(expected, "last_hidden_state"), kTol));
  EXPECT_TRUE(close_to(where + "penultimate_hidden_state", out.hidden.to_vector(), golden(expected, "penultimate_hidden_state"), kTol));
  EXPECT_TRUE(close_to(where + "penultimate_final_norm", out.hidden_final_norm.to_vector(), golden(expected, "penultimate_final_norm"), kTol));
  EXPECT_TRUE(close_to(where + "pooled", out.pooled.to_vector(), golden(expected, "pooled"), kTol));
  if (expected.find("text_embeds")) {
    ASSERT_FALSE(out.text_embeds.empty()) << where << "has no text_projection";
    EXPECT_TRUE(close_to(where + "text_embeds", out.text_embeds.to_vector(), golden(expected, "text_embeds"), kTol));
  }
}

TEST(ClipTextModel, Sd1MatchesTransformers) { check_encoder("sd1-tiny", 0, true, "text_encoder.safetensors"); }
TEST(ClipTextModel, Sd2OpenClipMatchesTransformers) { check_encoder("sd2-tiny", 0, false, "text_encoder.safetensors"); }
TEST(ClipTextModel, SdxlEncoder1MatchesTransformers) { check_encoder("sdxl-tiny", 0, true, "text_encoder_1.safetensors"); }
TEST(ClipTextModel, SdxlEncoder2MatchesTransformers) { check_encoder("sdxl-tiny", 1, false, "text_encoder_2.safetensors"); }

TEST(ClipTextModel, DetectsSizesFromTensors) {
  ModelFiles files = open_model(fixture("sd2-tiny/model.safetensors"));
  ClipTextConfig c = ClipTextConfig::detect(Weights(files.text_encoders[0], "text encoder"));
  EXPECT_EQ(c.hidden, 128);
  EXPECT_EQ(c.layers, 3);
  EXPECT_EQ(c.heads, 2);
  EXPECT_EQ(c.intermediate, 512);
}

}  // namespace
}  // namespace diffuse
