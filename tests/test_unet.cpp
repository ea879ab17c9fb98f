// UNet forward passes against diffusers' UNet2DConditionModel (fixtures' expected/unet.safetensors).
#include "core/attention.h"
#include "core/buffer_pool.h"
#include "core/error.h"
#include "core/op_profile.h"
#include "golden.h"
#include "io/model_files.h"
#include "models/unet.h"
#include "models/unet_flops.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::fixture;
using testing::golden;
using testing::Golden;
using testing::tensor_of;

constexpr double kTol = testing::kComponentTolerance;

void check_unet(const std::string& family, int pooled_dim) {
  ModelFiles files = open_model(fixture(family + "/model.safetensors"));
  Weights w(files.unet, "unet");
  UNet unet(w, UNetConfig::detect(w, pooled_dim));

  TensorArchive expected = load_safetensors(fixture(family + "/expected/unet.safetensors"));
  const Golden t = golden(expected, "t");
  std::optional<AddedConditions> added;
  if (expected.find("text_embeds"))
    added = AddedConditions{tensor_of(golden(expected, "text_embeds")), tensor_of(golden(expected, "time_ids"))};
  Tensor out = unet.forward(tensor_of(golden(expected, "x")), t.values, tensor_of(golden(expected, "context")),
                            added ? &*added : nullptr);
  EXPECT_TRUE(close_to(family + " unet out", out.to_vector(), golden(expected, "out"), kTol));
}

TEST(UNet, Sd1MatchesDiffusers) { check_unet("sd1-tiny", 0); }
TEST(UNet, Sd2MatchesDiffusers) { check_unet("sd2-tiny", 0); }
TEST(UNet, SdxlMatchesDiffusers) { check_unet("sdxl-tiny", 64); }

// The softmax fused into the attention products, which Auto picks on AVX-512 and AMX only.
void check_unet_with_fused_softmax(const std::string& family, int pooled_dim) {
  set_softmax_fusion(SoftmaxFusion::Always);
  check_unet(family, pooled_dim);
  set_softmax_fusion(SoftmaxFusion::Auto);
}

TEST(UNet, Sd1MatchesDiffusersWithTheFusedSoftmax) { check_unet_with_fused_softmax("sd1-tiny", 0); }
TEST(UNet, SdxlMatchesDiffusersWithTheFusedSoftmax) { check_unet_with_fused_softmax("sdxl-tiny", 64); }

// The denoising loop's second and later passes run entirely in tensor buffers the first one left
// in the pool: no allocation from the system, so no fresh pages to fault in.
TEST(UNet, RepeatedPassAllocatesNoTensorBuffer) {
  ModelFiles files = open_model(fixture("sd1-tiny/model.safetensors"));
  Weights w(files.unet, "unet");
  UNet unet(w, UNetConfig::detect(w));
  TensorArchive expected = load_safetensors(fixture("sd1-tiny/expected/unet.safetensors"));
  const Tensor x = tensor_of(golden(expected, "x")), context = tensor_of(golden(expected, "context"));
  const std::vector<float> t = golden(expected, "t").values;
  const std::vector<float> first = unet.forward(x, t, context).to_vector();
  const size_t fresh = BufferPool::fresh_buffers();
  const std::vector<float> second = unet.forward(x, t, context).to_vector();
  EXPECT_EQ(BufferPool::fresh_buffers() - fresh, 0u) << "tensor buffers the second pass took from the system";
  EXPECT_EQ(first, second);
}

// The MACs the ops declare to the profiler (bench's TFLOP/s per op) and the architecture's count
// (bench's per-image figure) are two independent tallies of the same pass.
TEST(UNet, OpsDeclareTheArchitecturesMacs) {
  for (const auto& [family, pooled_dim] : {std::pair{"sd1-tiny", 0}, std::pair{"sdxl-tiny", 64}}) {
    ModelFiles files = open_model(fixture(std::string(family) + "/model.safetensors"));
    Weights w(files.unet, "unet");
    const UNetConfig config = UNetConfig::detect(w, pooled_dim);
    UNet unet(w, config);
    TensorArchive expected = load_safetensors(fixture(std::string(family) + "/expected/unet.safetensors"));
    const Tensor x = tensor_of(golden(expected, "x")), context = tensor_of(golden(expected, "context"));
    std::optional<AddedConditions> added;
    if (expected.find("text_embeds"))
      added = AddedConditions{tensor_of(golden(expected, "text_embeds")), tensor_of(golden(expected, "time_ids"))};
    set_op_profiling(true);
    const OpTimes before = op_times();
    unet.forward(x, golden(expected, "t").values, context, added ? &*added : nullptr);
    const OpTimes pass = op_times() - before;
    set_op_profiling(false);
    const UNetMacs per_image = unet_macs(config, int(x.dim(2)), int(x.dim(3)), int(context.dim(1)));
    const double batch = double(x.dim(0));
    EXPECT_EQ(pass.macs[size_t(OpKind::Conv)] + pass.macs[size_t(OpKind::Winograd)], batch * per_image.conv)
        << family << " conv";
    EXPECT_EQ(pass.macs[size_t(OpKind::Linear)], batch * per_image.linear) << family << " linear";
    EXPECT_EQ(pass.macs[size_t(OpKind::Attention)], batch * per_image.attention) << family << " attention";
  }
}

TEST(UNet, DetectsSd1HyperParameters) {
  ModelFiles files = open_model(fixture("sd1-tiny/model.safetensors"));
  UNetConfig c = UNetConfig::detect(Weights(files.unet, "unet"));
  EXPECT_EQ(c.channels, (std::vector<int>{32, 64, 64, 64}));
  EXPECT_EQ(c.depth, (std::vector<int>{1, 1, 1, 0}));
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_EQ(c.context_dim, 64);
  EXPECT_EQ(c.fixed_heads, 8);
  EXPECT_EQ(c.adm_in_channels, 0);
}

TEST(UNet, DetectsSdxlHyperParameters) {
  ModelFiles files = open_model(fixture("sdxl-tiny/model.safetensors"));
  UNetConfig c = UNetConfig::detect(Weights(files.unet, "unet"), 64);
  EXPECT_EQ(c.channels, (std::vector<int>{32, 64, 64}));
  EXPECT_EQ(c.depth, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(c.mid_depth, 2);
  EXPECT_EQ(c.context_dim, 128);
  EXPECT_EQ(c.fixed_heads, 0);
  EXPECT_EQ(c.adm_in_channels, 112);
  EXPECT_EQ(c.addition_time_embed_dim, 8);
}

TEST(UNet, MissingTensorIsNamed) {
  ModelFiles files = open_model(fixture("sd1-tiny/model.safetensors"));
  files.unet.tensors.erase("middle_block.1.proj_in.weight");
  Weights w(files.unet, "unet");
  try {
    UNet unet(w, UNetConfig::detect(w));
    FAIL() << "a UNet without middle_block.1.proj_in.weight loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("middle_block.1.proj_in.weight"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace diffuse
