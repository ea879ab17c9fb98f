// The bf16 path. Its kernels must compute exactly what the fp32 kernels compute on bf16-rounded
// operands (fp32 accumulation), whether bf16 runs natively or emulated; and its whole-model
// deviation from diffusers' fp32 outputs is bounded by the tolerances stated here.
#include <cmath>
#include <random>

#include "core/conv2d.h"
#include "core/dtype.h"
#include "core/linear.h"
#include "core/ops.h"
#include "golden.h"
#include "pipeline/generate.h"
#include "pipeline_cases.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::fixture;
using testing::golden;
using testing::Golden;
using testing::tensor_of;

std::vector<float> random_values(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

std::vector<float> rounded(std::vector<float> v) {
  round_to_bf16(v.data(), v.data(), v.size());
  return v;
}

Golden as_golden(const Tensor& t) { return {t.shape(), t.to_vector()}; }

// Same products, summed in another order: a few fp32 ulps of the largest partial sums.
constexpr double kReorderTolerance = 1e-5;

TEST(Bf16, BulkConversionsMatchTheScalarRounding) {
  std::vector<float> v = random_values(100000, 1, 1e3f);
  v.insert(v.end(), {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f + std::ldexp(1.0f, -8), 3.4e38f, 1e-40f});
  std::vector<uint16_t> bits(v.size());
  std::vector<float> round_trip(v.size()), widened(v.size());
  to_bf16(v.data(), bits.data(), v.size());
  round_to_bf16(v.data(), round_trip.data(), v.size());
  bf16_to_f32(bits.data(), widened.data(), v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_EQ(bits[i], float_to_bf16(v[i])) << "element " << i << " = " << v[i];
    const float expected = bf16_to_float(float_to_bf16(v[i]));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(round_trip[i]) && std::isnan(widened[i])) << "element " << i;
    } else {
      ASSERT_EQ(round_trip[i], expected) << "element " << i;
      ASSERT_EQ(widened[i], expected) << "element " << i;
    }
  }
}

TEST(Bf16, AutoMeansBf16ExactlyWhereItIsNative) {
  EXPECT_EQ(*precision_from_name("auto"), native_bf16() ? Precision::Bf16 : Precision::Fp32);
  EXPECT_EQ(precision_from_name("fp16"), std::nullopt);
}

TEST(Bf16, LinearIsFp32OnRoundedOperands) {
  const int in = 96, out = 80, rows = 37;
  const std::vector<float> w = random_values(size_t(in) * out, 2, 0.1f), b = random_values(out, 3);
  const Tensor x = Tensor::from({rows, in}, random_values(size_t(rows) * in, 4));
  for (auto activation : {LinearKernel::Activation::None, LinearKernel::Activation::GeluErf}) {
    const LinearKernel bf16(w, b, out, in, activation, Precision::Bf16);
    const LinearKernel reference(rounded(w), b, out, in, activation, Precision::Fp32);
    EXPECT_TRUE(close_to("linear", bf16.forward(x).to_vector(),
                         as_golden(reference.forward(Tensor::from(x.shape(), rounded(x.to_vector())))),
                         kReorderTolerance));
  }
}

TEST(Bf16, ConvIsFp32OnRoundedOperandsAtEveryShape) {
  const int in = 64, out = 72;
  const std::vector<float> w = random_values(size_t(out) * in * 9, 5, 0.1f), b = random_values(out, 6);
  // Through oneDNN's kernel and through Winograd (conv2d.h), which AVX2 CPUs run on large images.
  for (WinogradMode mode : {WinogradMode::Never, WinogradMode::Always}) {
    set_winograd(mode);
    const Conv2dKernel bf16(w, b, out, in, 3, 1, {1, 1}, Precision::Bf16);
    const Conv2dKernel reference(rounded(w), b, out, in, 3, 1, {1, 1}, Precision::Fp32);
    // A second shape makes a second plan, which may want the weights in another layout.
    for (const Shape& shape : {Shape{2, 9, 11, in}, Shape{1, 32, 32, in}}) {
      const Tensor x = Tensor::from(shape, random_values(size_t(shape_numel(shape)), 7));
      EXPECT_TRUE(close_to("conv " + shape_string(shape) + (mode == WinogradMode::Always ? " (Winograd)" : ""),
                           bf16.forward(x).to_vector(),
                           as_golden(reference.forward(Tensor::from(shape, rounded(x.to_vector())))),
                           kReorderTolerance));
    }
  }
  set_winograd(WinogradMode::Auto);
}

Tensor bf16_tensor(const Tensor& x) {
  Tensor y(x.shape(), Tensor::Type::Bf16);
  to_bf16(x.data(), y.bf16_data(), size_t(x.numel()));
  return y;
}

// A norm that feeds a bf16 product writes bf16: the fp32 norm's values, rounded once. The SiLU
// runs per chunk there, the same oneDNN kernel: at most one rounding step apart.
TEST(Bf16, NormsWriteTheFp32NormRounded) {
  const std::vector<float> gamma = random_values(64, 8), beta = random_values(64, 9);
  // 2 x 40 x 40 x 64: batches and several chunks of 64 KiB, with a partial last one.
  const Tensor x = Tensor::from({2, 40, 40, 64}, random_values(2 * 40 * 40 * 64, 10, 3.0f));
  auto expect_rounded = [](const std::string& what, const Tensor& got, const Tensor& fp32) {
    ASSERT_EQ(got.type(), Tensor::Type::Bf16) << what;
    ASSERT_EQ(got.shape(), fp32.shape()) << what;
    const std::vector<float> values = got.to_vector();
    for (int64_t i = 0; i < fp32.numel(); ++i) {
      const float want = fp32.data()[i];
      ASSERT_LE(std::abs(values[size_t(i)] - want), std::abs(want) * std::ldexp(1.0f, -8) + 1e-30f)
          << what << ": element " << i << " is " << values[size_t(i)] << ", the fp32 norm " << want;
    }
  };
  for (auto act : {ops::Activation::None, ops::Activation::SiLU})
    expect_rounded(act == ops::Activation::SiLU ? "group norm + SiLU" : "group norm",
                   ops::group_norm(x, 32, gamma, beta, 1e-5f, act, Tensor::Type::Bf16),
                   ops::group_norm(x, 32, gamma, beta, 1e-5f, act));
  const Tensor rows = x.reshape({2 * 40 * 40, 64});
  expect_rounded("layer norm", ops::layer_norm(rows, gamma, beta, 1e-5f, Tensor::Type::Bf16),
                 ops::layer_norm(rows, gamma, beta, 1e-5f));
}

// The upsampling before a bf16 convolution writes bf16 too: the fp32 upsampling, rounded.
TEST(Bf16, UpsamplingWritesItsValuesRounded) {
  const Tensor x = Tensor::from({2, 5, 7, 24}, random_values(2 * 5 * 7 * 24, 16));
  const Tensor want = ops::upsample_nearest2x_rows(x, 3, 9);
  const Tensor got = ops::upsample_nearest2x_rows(x, 3, 9, Tensor::Type::Bf16);
  ASSERT_EQ(got.type(), Tensor::Type::Bf16);
  EXPECT_EQ(got.shape(), want.shape());
  EXPECT_EQ(got.to_vector(), rounded(want.to_vector()));
}

// GEGLU's product before its bf16 output projection: the fp32 product, rounded.
TEST(Bf16, ProductsOfActivationsWriteTheirValuesRounded) {
  const Tensor a = Tensor::from({3, 40, 64}, random_values(3 * 40 * 64, 17)),
               b = Tensor::from({3, 40, 64}, random_values(3 * 40 * 64, 18));
  const Tensor want = ops::mul(a, b);
  const Tensor got = ops::mul(a, b, Tensor::Type::Bf16);
  ASSERT_EQ(got.type(), Tensor::Type::Bf16);
  EXPECT_EQ(got.to_vector(), rounded(want.to_vector()));
  EXPECT_NE(want.data(), a.data()) << "mul wrote into an input that something else holds";
}

// A bf16 tensor is the same operand as its values in fp32: taken as it is where bf16 is native,
// widened where it is emulated or the product is fp32, read as it is by Winograd's transforms.
TEST(Bf16, ProductsTakeBf16InputsAsTheirValues) {
  const Tensor x = Tensor::from({2, 9, 11, 64}, rounded(random_values(2 * 9 * 11 * 64, 11)));
  for (WinogradMode mode : {WinogradMode::Never, WinogradMode::Always}) {
    set_winograd(mode);
    const Conv2dKernel conv(random_values(72 * 64 * 9, 12, 0.1f), random_values(72, 13), 72, 64, 3, 1, {1, 1},
                            Precision::Bf16);
    EXPECT_EQ(conv.forward(bf16_tensor(x)).to_vector(), conv.forward(x).to_vector())
        << (mode == WinogradMode::Always ? "Winograd" : "direct");
  }
  set_winograd(WinogradMode::Auto);
  const std::vector<float> w = random_values(80 * 64, 14, 0.1f), b = random_values(80, 15);
  for (Precision precision : {Precision::Bf16, Precision::Fp32}) {
    const LinearKernel linear(w, b, 80, 64, LinearKernel::Activation::None, precision);
    EXPECT_EQ(linear.forward(bf16_tensor(x)).to_vector(), linear.forward(x).to_vector()) << precision_name(precision);
  }
}

// Whole tiny models in bf16 against diffusers' fp32 outputs. The bounds are the measured
// deviation with a margin (bf16 keeps 8 significant bits: 2^-9 = 2e-3 relative per rounding).
TEST(Bf16, Sd1UnetStaysCloseToFp32) {
  ModelFiles files = open_model(fixture("sd1-tiny/model.safetensors"));
  Weights w(files.unet, "unet", Precision::Bf16);
  UNet unet(w, UNetConfig::detect(w));
  TensorArchive expected = load_safetensors(fixture("sd1-tiny/expected/unet.safetensors"));
  const Tensor out = unet.forward(tensor_of(golden(expected, "x")), golden(expected, "t").values,
                                  tensor_of(golden(expected, "context")));
  EXPECT_TRUE(close_to("sd1 unet out (bf16)", out.to_vector(), golden(expected, "out"), 2e-2));
}

TEST(Bf16, Sd1GenerationStaysCloseToFp32) {
  LoadOptions options;
  options.precision = Precision::Bf16;
  const auto model = StableDiffusion::load(fixture("sd1-tiny/model.safetensors"), options);
  const testing::PipelineCase c = testing::pipeline_cases("sd1-tiny").front();
  const TensorArchive expected = load_safetensors(fixture("sd1-tiny/" + c.file));
  const GenerateResult r = generate(*model, testing::generate_options(c));
  // A whole sampling run compounds the rounding step after step (the tiny random UNet amplifies
  // it more than a trained one), so the image is held to its mean and worst pixel.
  const Golden u8 = golden(expected, "image_u8");
  double sum = 0, worst = 0;
  for (size_t i = 0; i < u8.values.size(); ++i) {
    const double d = std::abs(double(r.image.rgb[i]) - u8.values[i]);
    sum += d;
    worst = std::max(worst, d);
  }
  const double mean = sum / double(u8.values.size());
  EXPECT_LE(mean, 3.0) << "sd1 " << c.id << " image (bf16): mean |diff| in LSB, worst " << worst;
  EXPECT_LE(worst, 32.0) << "sd1 " << c.id << " image (bf16): worst |diff| in LSB, mean " << mean;
}

}  // namespace
}  // namespace diffuse
