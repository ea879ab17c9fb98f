// Conv2dKernel's band mode: rows of a taller image, with real halo rows instead of padding, give
// exactly the rows of the whole convolution (the VAE decoder's banded upsampling relies on it).
#include <random>

#include "core/conv2d.h"
#include "golden.h"

namespace diffuse {
namespace {

Tensor rows_of(const Tensor& x, int64_t first, int64_t last) {
  const int64_t h = x.dim(1), row = x.dim(2) * x.dim(3);
  Tensor y({x.dim(0), last - first, x.dim(2), x.dim(3)});
  for (int64_t b = 0; b < x.dim(0); ++b)
    std::copy_n(x.data() + (b * h + first) * row, (last - first) * row, y.data() + b * (last - first) * row);
  return y;
}

TEST(Conv2dBands, HaloRowsReplacePadding) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  const int in = 8, out = 12, height = 30;
  std::vector<float> w(size_t(out) * in * 9), b(out);
  for (float& v : w) v = normal(rng);
  for (float& v : b) v = normal(rng);
  const Conv2dKernel conv(w, b, out, in, 3, 1, {1, 1});
  Tensor x({2, height, 7, in});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = normal(rng);
  const Tensor whole = conv.forward(x);

  for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 10}, {10, 20}, {20, 30}}) {
    const int64_t u0 = std::max<int64_t>(0, r0 - 1), u1 = std::min<int64_t>(height, r1 + 1);
    const Tensor band = conv.forward(rows_of(x, u0, u1), {int(r0 == 0), int(r1 == height)});
    const Tensor expected = rows_of(whole, r0, r1);
    EXPECT_TRUE(testing::close_to("rows " + std::to_string(r0) + ".." + std::to_string(r1), band.to_vector(),
                                  {expected.shape(), expected.to_vector()}, 1e-6));
  }
}

}  // namespace
}  // namespace diffuse
