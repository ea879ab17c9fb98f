// WeightSource: a layer's stored values read once, in their stored dtype, when the layer packs them
// (core/weight_source.h, core/packed_weights.h). The packed result must not depend on where the
// values waited: an fp16 tensor (a slice of its rows, as load_rows takes q, k and v from one
// tensor) gives the same output as its fp32 widening handed over as a vector.
#include <memory>

#include "core/dtype.h"
#include "core/error.h"
#include "core/linear.h"
#include "core/weight_source.h"
#include "golden.h"

namespace diffuse {
namespace {

using testing::normal_values;

// A stored fp16 [rows, in] matrix, as a checkpoint holds it.
std::shared_ptr<std::vector<uint16_t>> stored_halves(int rows, int in) {
  const std::vector<float> values = normal_values(size_t(rows * in), 7);
  auto halves = std::make_shared<std::vector<uint16_t>>(values.size());
  for (size_t i = 0; i < values.size(); ++i) (*halves)[i] = float_to_half(values[i] * 0.1f);
  return halves;
}

TEST(WeightSource, AStoredHalfSliceGivesTheSameLayerAsItsWidenedValues) {
  constexpr int kRows = 48, kIn = 40, kFirst = 16, kCount = 16;
  const auto halves = stored_halves(kRows, kIn);
  const WeightSource stored(DType::F16, halves->data(), halves->size(), halves, false);
  std::vector<float> widened(size_t(kCount * kIn));
  for (size_t i = 0; i < widened.size(); ++i) widened[i] = half_to_float((*halves)[size_t(kFirst * kIn) + i]);

  const std::vector<float> bias = normal_values(kCount, 3);
  const LinearKernel from_file(stored.slice(size_t(kFirst) * kIn, size_t(kCount) * kIn), bias, kCount, kIn);
  const LinearKernel from_vector(widened, bias, kCount, kIn);
  const Tensor x = Tensor::from({3, kIn}, normal_values(3 * kIn, 5));
  const std::vector<float> got = from_file.forward(x).to_vector(), want = from_vector.forward(x).to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << "output " << i;
}

TEST(WeightSource, LetsGoOfItsBytesOncePacked) {
  auto halves = stored_halves(8, 8);
  const std::weak_ptr<std::vector<uint16_t>> watch = halves;
  {
    const LinearKernel linear(WeightSource(DType::F16, halves->data(), halves->size(), halves, false), {}, 8, 8);
    halves.reset();
    EXPECT_FALSE(watch.expired()) << "the layer holds its stored values until its first call";
    linear.forward(Tensor::from({1, 8}, normal_values(8, 1)));
    EXPECT_TRUE(watch.expired()) << "packed: the stored values are no longer needed";
    const Tensor again = linear.forward(Tensor::from({1, 8}, normal_values(8, 1)));
    EXPECT_EQ(again.shape(), (Shape{1, 8}));
  }
}

TEST(WeightSource, RefusesAWrongSizeOrASliceBeyondTheTensor) {
  const auto halves = stored_halves(4, 4);
  const WeightSource stored(DType::F16, halves->data(), halves->size(), halves, false);
  EXPECT_THROW(stored.slice(8, 16), Error);
  try {
    LinearKernel(stored, {}, 4, 5);
    FAIL() << "a 4x4 tensor made a 4x5 layer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("16 values, their layer needs 20"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace diffuse
