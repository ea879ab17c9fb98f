// Conv2dKernel against a double-precision convolution, through oneDNN's direct kernel and through
// Winograd F(4x4, 3x3) (winograd_conv.h), on images whose sides are not multiples of its 4x4
// blocks; and its band mode: rows of a taller image, with real halo rows instead of padding, give
// the rows of the whole convolution (the VAE decoder's banded upsampling relies on it).
#include <omp.h>

#include <cmath>
#include <random>

#include "core/conv2d.h"
#include "core/error.h"
#include "golden.h"

namespace diffuse {
namespace {

using testing::normal_values;

Tensor rows_of(const Tensor& x, int64_t first, int64_t last) {
  const int64_t h = x.dim(1), row = x.dim(2) * x.dim(3);
  Tensor y({x.dim(0), last - first, x.dim(2), x.dim(3)});
  for (int64_t b = 0; b < x.dim(0); ++b)
    std::copy_n(x.data() + (b * h + first) * row, (last - first) * row, y.data() + b * (last - first) * row);
  return y;
}

// One output pixel of a 3x3 "same" convolution of NHWC x with OIHW weights, in double.
std::vector<double> reference_pixel(const Tensor& x, const std::vector<float>& w, const std::vector<float>& bias,
                                    int64_t b, int64_t row, int64_t col) {
  const int64_t h = x.dim(1), width = x.dim(2), in = x.dim(3), out = int64_t(bias.size());
  std::vector<double> acc(bias.begin(), bias.end());
  for (int64_t ky = 0; ky < 3; ++ky)
    for (int64_t kx = 0; kx < 3; ++kx) {
      const int64_t r = row + ky - 1, c = col + kx - 1;
      if (r < 0 || r >= h || c < 0 || c >= width) continue;
      const float* px = x.data() + ((b * h + r) * width + c) * in;
      for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < in; ++i) acc[size_t(o)] += double(px[i]) * w[size_t(((o * in + i) * 3 + ky) * 3 + kx)];
    }
  return acc;
}

// Each test runs with each algorithm forced.
class Conv2dAlgorithm : public ::testing::TestWithParam<WinogradMode> {
 protected:
  void SetUp() override { set_winograd(GetParam()); }
  void TearDown() override { set_winograd(WinogradMode::Auto); }
  bool winograd() const { return GetParam() == WinogradMode::Always; }
};

// Every pixel of the border (where the padding is) and a sample of the inside, within `tolerance`.
void expect_reference(const std::string& what, const Tensor& x, const std::vector<float>& w,
                      const std::vector<float>& bias, const Tensor& y, double tolerance) {
  const int64_t h = x.dim(1), width = x.dim(2), out = int64_t(bias.size());
  std::mt19937 rng(5);
  double worst = 0;
  std::string where;
  auto check = [&](int64_t b, int64_t r, int64_t c) {
    const std::vector<double> want = reference_pixel(x, w, bias, b, r, c);
    for (int64_t o = 0; o < out; ++o) {
      const double diff = std::abs(y.data()[((b * h + r) * width + c) * out + o] - want[size_t(o)]);
      if (std::isnan(diff) ? !std::isnan(worst) : diff > worst) {  // a NaN stays the worst
        worst = diff;
        where = "[" + std::to_string(b) + "," + std::to_string(r) + "," + std::to_string(c) + "," + std::to_string(o) + "]";
      }
    }
  };
  for (int64_t b = 0; b < x.dim(0); ++b) {
    for (int64_t c = 0; c < width; ++c) check(b, 0, c), check(b, h - 1, c);
    for (int64_t r = 0; r < h; ++r) check(b, r, 0), check(b, r, width - 1);
    for (int i = 0; i < 500; ++i) check(b, int64_t(rng() % h), int64_t(rng() % width));
  }
  EXPECT_LT(worst, tolerance) << what << ": worst |diff| " << worst << " at " << where;
}

// Outputs are sums of 9 * C_in products of unit normals (~sqrt(9 * 64) = 24, up to ~120). The
// direct sum is off by a few ulps of that (worst seen 1.1e-4); Winograd's transforms scale values
// by up to 24 and 1/576 on the way, for ~6x the direct error (worst seen 6.2e-4, 2.6e-5 of 24).
TEST_P(Conv2dAlgorithm, SmallAndLargeImagesMatchTheReference) {
  const int in = 64, out = 80;  // in != out: the taps are [in, out] matrices
  const std::vector<float> w = normal_values(size_t(out) * in * 9, 1), bias = normal_values(out, 2);
  const Conv2dKernel conv(w, bias, out, in, 3, 1, {1, 1});
  for (const Shape& shape : {Shape{2, 9, 11, in}, Shape{2, 130, 127, in}}) {
    const Tensor x = Tensor::from(shape, normal_values(size_t(shape_numel(shape)), 3));
    // Reused buffers are not zero: a NaN image one pixel wider first leaves NaN where this one's
    // zero padding must be written.
    Shape wider = shape;
    ++wider[2];
    conv.forward(Tensor::from(wider, std::vector<float>(size_t(shape_numel(wider)), NAN)));
    expect_reference("conv " + shape_string(shape), x, w, bias, conv.forward(x), winograd() ? 1e-3 : 2e-4);
  }
}

// 18 blocks of 4x4 outputs shared by 16 threads (a lent 16-core machine): groups of two blocks,
// and threads with none.
TEST_P(Conv2dAlgorithm, MoreThreadsThanBlocks) {
  const int in = 16, out = 8;
  const std::vector<float> w = normal_values(size_t(out) * in * 9, 9), bias = normal_values(out, 10);
  const Conv2dKernel conv(w, bias, out, in, 3, 1, {1, 1});
  const Shape shape{2, 9, 11, in};
  const Tensor x = Tensor::from(shape, normal_values(size_t(shape_numel(shape)), 11));
  const int threads = omp_get_max_threads();
  omp_set_num_threads(16);
  const Tensor y = conv.forward(x);
  omp_set_num_threads(threads);
  expect_reference("conv " + shape_string(shape) + " on 16 threads", x, w, bias, y, winograd() ? 1e-3 : 2e-4);
}

void expect_bands_match_the_whole(int in, int out, int64_t height, int64_t width, double tolerance) {
  const std::vector<float> w = normal_values(size_t(out) * in * 9, 6), bias = normal_values(out, 7);
  const Conv2dKernel conv(w, bias, out, in, 3, 1, {1, 1});
  const Shape shape{2, height, width, in};
  const Tensor x = Tensor::from(shape, normal_values(size_t(shape_numel(shape)), 8));
  const Tensor whole = conv.forward(x);
  const int64_t third = height / 3;
  for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, third}, {third, 2 * third}, {2 * third, height}}) {
    const int64_t u0 = std::max<int64_t>(0, r0 - 1), u1 = std::min<int64_t>(height, r1 + 1);
    Tensor band({2, r1 - r0, width, out});
    conv.forward(rows_of(x, u0, u1), {int(r0 == 0), int(r1 == height)}, band);
    const Tensor expected = rows_of(whole, r0, r1);
    EXPECT_TRUE(testing::close_to(shape_string(shape) + " rows " + std::to_string(r0) + ".." + std::to_string(r1),
                                  band.to_vector(), {expected.shape(), expected.to_vector()}, tolerance));
  }
}

// A band's 4x4 blocks start at its own first row, not the whole image's, so Winograd's rounding
// differs between the two (relative to the largest output).
TEST_P(Conv2dAlgorithm, HaloRowsReplacePadding) { expect_bands_match_the_whole(8, 16, 30, 7, winograd() ? 1e-5 : 1e-6); }
TEST_P(Conv2dAlgorithm, HaloRowsReplacePaddingOnLargeImages) {
  expect_bands_match_the_whole(64, 64, 195, 256, winograd() ? 1e-5 : 1e-6);
}

// As the VAE's upsampling writes its bands: each straight into its rows of one output.
TEST_P(Conv2dAlgorithm, BandsWriteIntoTheirRowsOfOneOutput) {
  const int in = 16, out = 24;
  const int64_t height = 30, width = 9;
  const Conv2dKernel conv(normal_values(size_t(out) * in * 9, 12), normal_values(out, 13), out, in, 3, 1, {1, 1});
  const Tensor x = Tensor::from({1, height, width, in}, normal_values(size_t(height * width * in), 14));
  Tensor y({1, height, width, out});
  for (int64_t r0 = 0; r0 < height; r0 += 8) {
    const int64_t r1 = std::min<int64_t>(height, r0 + 8);
    const int64_t u0 = std::max<int64_t>(0, r0 - 1), u1 = std::min<int64_t>(height, r1 + 1);
    Tensor rows = y.view(r0 * width * out, {1, r1 - r0, width, out});
    conv.forward(rows_of(x, u0, u1), {int(r0 == 0), int(r1 == height)}, rows);
  }
  const Tensor whole = conv.forward(x);
  EXPECT_TRUE(testing::close_to("bands in one output", y.to_vector(), {whole.shape(), whole.to_vector()},
                                winograd() ? 1e-5 : 1e-6));
}

TEST_P(Conv2dAlgorithm, AnOutputOfTheWrongShapeIsNamed) {
  const Conv2dKernel conv(normal_values(8 * 8 * 9, 15), normal_values(8, 16), 8, 8, 3, 1, {1, 1});
  const Tensor x = Tensor::from({1, 6, 5, 8}, normal_values(6 * 5 * 8, 17));
  Tensor y({1, 6, 4, 8});
  try {
    conv.forward(x, {1, 1}, y);
    FAIL() << "a convolution wrote into an output of the wrong shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1,6,4,8] is not [1,6,5,8]"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(, Conv2dAlgorithm, ::testing::Values(WinogradMode::Never, WinogradMode::Always),
                         [](const auto& info) { return info.param == WinogradMode::Always ? "Winograd" : "Direct"; });

}  // namespace
}  // namespace diffuse
