#include "pipeline/inpaint.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"

namespace diffuse {
namespace {

// cv2's BORDER_REFLECT_101 (dcb|abcd|cba), repeated for kernels wider than the image.
int reflect101(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * n - 2;
  i = std::abs(i) % period;
  return i < n ? i : period - i;
}

// One axis of A1111's cv2.GaussianBlur(mask, (k, 1) or (1, k), sigma) on 8-bit grey: the kernel
// of cv2.getGaussianKernel, the result rounded back to 8 bits as cv2 stores it.
std::vector<uint8_t> blur_axis(const std::vector<uint8_t>& grey, int width, int height, int sigma, bool along_x) {
  const int radius = int(2.5 * sigma + 0.5);
  std::vector<double> kernel(size_t(2 * radius + 1));
  double sum = 0;
  for (int i = -radius; i <= radius; ++i) sum += kernel[size_t(i + radius)] = std::exp(-double(i * i) / (2.0 * sigma * sigma));
  for (double& k : kernel) k /= sum;
  std::vector<uint8_t> out(grey.size());
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      double v = 0;
      for (int i = -radius; i <= radius; ++i) {
        const int sx = along_x ? reflect101(x + i, width) : x, sy = along_x ? y : reflect101(y + i, height);
        v += kernel[size_t(i + radius)] * grey[size_t(sy) * size_t(width) + size_t(sx)];
      }
      out[size_t(y) * size_t(width) + size_t(x)] = uint8_t(std::lround(std::min(255.0, v)));
    }
  return out;
}

}  // namespace

Tensor prepare_mask(const Image& mask, int width, int height, int blur, bool invert) {
  if (blur < 0 || blur > kMaxMaskBlur)
    throw Error("--mask-blur must be in [0, " + std::to_string(kMaxMaskBlur) + "], got " + std::to_string(blur));
  if (mask.width <= 0 || mask.height <= 0 || mask.rgb.size() != size_t(mask.width) * size_t(mask.height) * 3)
    throw Error("the mask image is empty or malformed");
  const size_t pixels = size_t(mask.width) * size_t(mask.height);
  std::vector<uint8_t> grey(pixels);
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* p = &mask.rgb[i * 3];
    // PIL's ImagingConvert rgb2l: ITU-R 601 weights in 16-bit fixed point, rounded.
    const uint8_t l = uint8_t((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
    grey[i] = invert ? uint8_t(255 - l) : l;
  }
  if (blur > 0) {
    grey = blur_axis(grey, mask.width, mask.height, blur, true);
    grey = blur_axis(grey, mask.width, mask.height, blur, false);
  }
  if (mask.width != width || mask.height != height) {
    Image rgb{mask.width, mask.height, std::vector<uint8_t>(pixels * 3)};
    for (size_t i = 0; i < pixels * 3; ++i) rgb.rgb[i] = grey[i / 3];
    const Image resized = resize_image(rgb, width, height);
    grey.resize(size_t(width) * size_t(height));
    for (size_t i = 0; i < grey.size(); ++i) grey[i] = resized.rgb[i * 3];
  }
  Tensor out({1, 1, height, width});
  for (size_t i = 0; i < grey.size(); ++i) out.data()[i] = float(grey[i]) / 255.0f >= 0.5f ? 1.0f : 0.0f;
  return out;
}

Tensor resize_nearest(const Tensor& mask, int height, int width) {
  const int64_t in_h = mask.dim(2), in_w = mask.dim(3), planes = mask.dim(0) * mask.dim(1);
  // torch's nearest: source index floor(dst * (in / out)), the scale a float.
  const float scale_h = float(in_h) / float(height), scale_w = float(in_w) / float(width);
  Tensor out({mask.dim(0), mask.dim(1), height, width});
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < height; ++y) {
      const int64_t sy = std::min(int64_t(std::floor(float(y) * scale_h)), in_h - 1);
      for (int64_t x = 0; x < width; ++x) {
        const int64_t sx = std::min(int64_t(std::floor(float(x) * scale_w)), in_w - 1);
        out.data()[(p * height + y) * width + x] = mask.data()[(p * in_h + sy) * in_w + sx];
      }
    }
  return out;
}

Tensor masked_image(const Tensor& image, const Tensor& mask) {
  const int64_t plane = image.dim(2) * image.dim(3), channels = image.dim(1);
  if (mask.numel() != plane) throw Error("masked_image: the mask is not the image's size");
  Tensor out(image.shape());
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < plane; ++i)
      out.data()[c * plane + i] = mask.data()[i] < 0.5f ? image.data()[c * plane + i] : 0.0f;
  return out;
}

Tensor concat_channels(const Tensor& a, const Tensor& b) {
  if (a.dim(0) != 1 || b.dim(0) != 1 || a.dim(2) != b.dim(2) || a.dim(3) != b.dim(3))
    throw Error("concat_channels: " + shape_string(a.shape()) + " and " + shape_string(b.shape()) + " do not join");
  Tensor out({1, a.dim(1) + b.dim(1), a.dim(2), a.dim(3)});
  std::copy_n(a.data(), a.numel(), out.data());
  std::copy_n(b.data(), b.numel(), out.data() + a.numel());
  return out;
}

Tensor blend_known(const Tensor& known, const Tensor& generated, const Tensor& mask) {
  const int64_t plane = known.dim(2) * known.dim(3), n = known.numel();
  if (generated.shape() != known.shape() || mask.numel() != plane)
    throw Error("blend_known: latents " + shape_string(generated.shape()) + ", known " + shape_string(known.shape()) +
                " and mask " + shape_string(mask.shape()) + " differ");
  Tensor out(known.shape());
  for (int64_t i = 0; i < n; ++i) {
    const float m = mask.data()[i % plane];
    out.data()[i] = (1.0f - m) * known.data()[i] + m * generated.data()[i];
  }
  return out;
}

}  // namespace diffuse
