// PackedOperand: a matrix re-laid out into a kernel's blocked layout, packed once per source.
#include <gtest/gtest.h>

#include <numeric>

#include "core/dnnl_context.h"
#include "core/packed_operand.h"

namespace diffuse {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Back to plain row-major [rows, cols], through oneDNN's reorder.
std::vector<float> unpacked(const dnnl::memory& packed, int64_t rows, int64_t cols) {
  std::vector<float> out(size_t(rows * cols));
  dnnl::memory plain({{rows, cols}, dt::f32, tag::ab}, dnnl_engine(), out.data());
  execute(dnnl::reorder(packed, plain), {{DNNL_ARG_FROM, packed}, {DNNL_ARG_TO, plain}});
  return out;
}

constexpr int64_t kRows = 40, kCols = 70;  // not multiples of the 16x16 blocks

// The matrix stored transposed (as attention's keys are), wanted in 16x16 blocks.
const dnnl::memory::desc kPlain({kRows, kCols}, dt::f32, dnnl::memory::dims{1, kRows});
const dnnl::memory::desc kBlocked({kRows, kCols}, dt::f32, tag::AB16b16a);

std::vector<float> transposed_values(float offset) {
  std::vector<float> v(size_t(kRows * kCols));
  std::iota(v.begin(), v.end(), offset);
  return v;  // element (r, c) is v[c * kRows + r]
}

float at(const std::vector<float>& transposed, int64_t r, int64_t c) { return transposed[size_t(c * kRows + r)]; }

TEST(PackedOperand, PacksIntoTheBlockedLayoutWithEveryValueInPlace) {
  const std::vector<float> source = transposed_values(0.5f);
  PackedOperand packed;
  const std::vector<float> back = unpacked(packed.get(source.data(), kPlain, kBlocked), kRows, kCols);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c)
      ASSERT_EQ(back[size_t(r * kCols + c)], at(source, r, c)) << "element (" << r << ", " << c << ")";
}

TEST(PackedOperand, PacksASourceOnceUntilItIsForgotten) {
  std::vector<float> source = transposed_values(0.0f);
  PackedOperand packed;
  packed.get(source.data(), kPlain, kBlocked);
  source[0] = 1000.0f;  // unseen: the same source is not packed again
  EXPECT_EQ(unpacked(packed.get(source.data(), kPlain, kBlocked), kRows, kCols)[0], 0.0f);
  packed.forget();
  EXPECT_EQ(unpacked(packed.get(source.data(), kPlain, kBlocked), kRows, kCols)[0], 1000.0f);
}

TEST(PackedOperand, AnotherSourceIsPackedAgain) {
  const std::vector<float> first = transposed_values(0.0f), second = transposed_values(5000.0f);
  PackedOperand packed;
  packed.get(first.data(), kPlain, kBlocked);
  EXPECT_EQ(unpacked(packed.get(second.data(), kPlain, kBlocked), kRows, kCols)[0], 5000.0f);
}

TEST(PackedOperand, ThePlainLayoutIsTheSourceItself) {
  const std::vector<float> source = transposed_values(0.0f);
  PackedOperand packed;
  EXPECT_EQ(packed.get(source.data(), kPlain, kPlain).get_data_handle(), source.data());
}

}  // namespace
}  // namespace diffuse
