// LinearKernel against a double-precision y = x W^T + b (and GELU), through oneDNN's matmul and
// through its 1x1 convolution over the rows as pixels (the AVX2 default, matmul_as_convolution.h), at shapes of
// one row, a few, and many, with feature counts that are not multiples of any vector width.
#include <cmath>
#include <random>

#include "core/linear.h"
#include "core/matmul_as_convolution.h"
#include "golden.h"

namespace diffuse {
namespace {

using testing::normal_values;

class LinearPath : public ::testing::TestWithParam<MatmulAsConvolution> {
 protected:
  void SetUp() override { set_matmul_as_convolution(GetParam()); }
  void TearDown() override { set_matmul_as_convolution(MatmulAsConvolution::Auto); }
};

struct Case {
  Shape x;
  int out;
  bool bias;
  LinearKernel::Activation activation;
};

// Sums of `in` products of unit normals with weights of scale 1/sqrt(in): outputs of order 1, a
// few fp32 ulps off whichever order the kernel sums in.
TEST_P(LinearPath, MatchesTheReference) {
  for (const Case& c : {Case{{1, 13}, 7, true, LinearKernel::Activation::None},
                        Case{{2, 77, 40}, 24, true, LinearKernel::Activation::GeluErf},
                        Case{{300, 64}, 100, false, LinearKernel::Activation::None},
                        Case{{2, 96, 320}, 320, true, LinearKernel::Activation::None}}) {
    const int64_t in = c.x.back(), rows = shape_numel(c.x) / in;
    std::vector<float> w = normal_values(size_t(c.out * in), 1);
    for (float& v : w) v /= std::sqrt(float(in));
    const std::vector<float> b = c.bias ? normal_values(size_t(c.out), 2) : std::vector<float>{};
    const Tensor x = Tensor::from(c.x, normal_values(size_t(shape_numel(c.x)), 3));
    const LinearKernel linear(w, b, c.out, int(in), c.activation);
    const Tensor y = linear.forward(x);
    std::vector<float> want(size_t(rows * c.out));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < c.out; ++o) {
        double sum = c.bias ? b[size_t(o)] : 0.0;
        for (int64_t i = 0; i < in; ++i) sum += double(x.data()[r * in + i]) * w[size_t(o * in + i)];
        if (c.activation == LinearKernel::Activation::GeluErf) sum = 0.5 * sum * (1.0 + std::erf(sum / std::sqrt(2.0)));
        want[size_t(r * c.out + o)] = float(sum);
      }
    Shape out_shape = c.x;
    out_shape.back() = c.out;
    EXPECT_EQ(y.shape(), out_shape);
    EXPECT_TRUE(testing::close_to("linear " + shape_string(c.x) + " -> " + std::to_string(c.out), y.to_vector(),
                                  {out_shape, want}, 2e-6));
  }
}

INSTANTIATE_TEST_SUITE_P(, LinearPath, ::testing::Values(MatmulAsConvolution::Never, MatmulAsConvolution::Always),
                         [](const auto& info) {
                           return info.param == MatmulAsConvolution::Always ? "Convolution" : "Matmul";
                         });

}  // namespace
}  // namespace diffuse
