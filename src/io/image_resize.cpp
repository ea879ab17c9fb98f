#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "io/image.h"

namespace diffuse {
namespace {

// One axis of a resampling: for each output index, the source indices and their weights
// (summing to 1). Shrinking averages the output pixel's footprint, fractional edges weighted;
// enlarging interpolates linearly between pixel centres.
struct Taps {
  std::vector<int> first;             // per output index
  std::vector<std::vector<float>> w;  // per output index, weights from first onwards
};

Taps axis_taps(int from, int to) {
  Taps t{std::vector<int>(size_t(to)), std::vector<std::vector<float>>(size_t(to))};
  const double scale = double(from) / to;
  for (int o = 0; o < to; ++o) {
    if (scale > 1.0) {
      const double lo = o * scale, hi = (o + 1) * scale;
      const int a = int(std::floor(lo)), b = std::min(from, int(std::ceil(hi)));
      t.first[size_t(o)] = a;
      for (int i = a; i < b; ++i)
        t.w[size_t(o)].push_back(float((std::min(hi, i + 1.0) - std::max(lo, double(i))) / scale));
    } else {
      const double c = std::clamp((o + 0.5) * scale - 0.5, 0.0, double(from - 1));
      const int a = std::min(int(c), from - 1), b = std::min(a + 1, from - 1);
      const float f = float(c - a);
      t.first[size_t(o)] = a;
      t.w[size_t(o)] = b == a ? std::vector<float>{1.0f} : std::vector<float>{1.0f - f, f};
    }
  }
  return t;
}

}  // namespace

Image resize_image(const Image& image, int width, int height) {
  if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide)
    throw Error("cannot resize to " + std::to_string(width) + "x" + std::to_string(height));
  if (image.width < 1 || image.height < 1 || image.rgb.size() != size_t(image.width) * size_t(image.height) * 3)
    throw Error("cannot resize an empty or malformed image");
  if (image.width == width && image.height == height) return image;
  const Taps xs = axis_taps(image.width, width), ys = axis_taps(image.height, height);
  // Rows first into floats, then columns: separable, so each pass is a short weighted sum.
  std::vector<float> rows(size_t(image.height) * size_t(width) * 3);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        float sum = 0;
        for (size_t k = 0; k < xs.w[size_t(x)].size(); ++k)
          sum += xs.w[size_t(x)][k] * image.rgb[(size_t(y) * size_t(image.width) + size_t(xs.first[size_t(x)]) + k) * 3 + size_t(c)];
        rows[(size_t(y) * size_t(width) + size_t(x)) * 3 + size_t(c)] = sum;
      }
  Image out{width, height, std::vector<uint8_t>(size_t(width) * size_t(height) * 3)};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        float sum = 0;
        for (size_t k = 0; k < ys.w[size_t(y)].size(); ++k)
          sum += ys.w[size_t(y)][k] * rows[((size_t(ys.first[size_t(y)]) + k) * size_t(width) + size_t(x)) * 3 + size_t(c)];
        out.rgb[(size_t(y) * size_t(width) + size_t(x)) * 3 + size_t(c)] = uint8_t(std::clamp(std::lround(sum), 0L, 255L));
      }
  return out;
}

namespace {

// PIL's LANCZOS filter (libImaging/Resample.c: lanczos_filter, sinc_filter): a = 3.
double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}
double lanczos3(double x) { return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0; }

// PIL's 8-bit fixed point: coefficients in units of 2^-22, sums rounded by adding half a unit.
constexpr int kPrecisionBits = 32 - 8 - 2;

// PIL's precompute_coeffs and normalize_coeffs_8bpc for one axis of `from` -> `to` pixels.
struct FixedTaps {
  std::vector<int> first;                 // per output index
  std::vector<std::vector<int32_t>> k;    // per output index, from first onwards
};

FixedTaps lanczos_taps(int from, int to) {
  const double scale = double(from) / to, filterscale = std::max(scale, 1.0), support = 3.0 * filterscale;
  const double ss = 1.0 / filterscale;
  FixedTaps t{std::vector<int>(size_t(to)), std::vector<std::vector<int32_t>>(size_t(to))};
  for (int o = 0; o < to; ++o) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(int(center - support + 0.5), 0), hi = std::min(int(center + support + 0.5), from);
    std::vector<double> w;
    double sum = 0;
    for (int i = lo; i < hi; ++i) sum += w.emplace_back(lanczos3((i - center + 0.5) * ss));
    t.first[size_t(o)] = lo;
    for (double v : w) {
      const double unit = (sum != 0.0 ? v / sum : v) * double(1 << kPrecisionBits);
      t.k[size_t(o)].push_back(int32_t(unit < 0 ? unit - 0.5 : unit + 0.5));
    }
  }
  return t;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t(1) << kPrecisionBits << 8)) return 255;
  return v <= 0 ? 0 : uint8_t(v >> kPrecisionBits);
}

// One pass along x (stride 3, one pixel) or y (stride 3 * width, one row) of every channel.
Image resample_axis(const Image& in, int width, int height, bool along_x) {
  const FixedTaps taps = along_x ? lanczos_taps(in.width, width) : lanczos_taps(in.height, height);
  const size_t step = along_x ? 3 : size_t(in.width) * 3;
  Image out{width, height, std::vector<uint8_t>(size_t(width) * size_t(height) * 3)};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const int o = along_x ? x : y;
      const size_t base = along_x ? (size_t(y) * size_t(in.width) + size_t(taps.first[size_t(o)])) * 3
                                  : (size_t(taps.first[size_t(o)]) * size_t(in.width) + size_t(x)) * 3;
      for (size_t c = 0; c < 3; ++c) {
        int64_t sum = int64_t(1) << (kPrecisionBits - 1);
        for (size_t k = 0; k < taps.k[size_t(o)].size(); ++k) sum += int64_t(in.rgb[base + k * step + c]) * taps.k[size_t(o)][k];
        out.rgb[(size_t(y) * size_t(width) + size_t(x)) * 3 + c] = clip8(sum);
      }
    }
  return out;
}

}  // namespace

Image resize_lanczos(const Image& image, int width, int height) {
  if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide)
    throw Error("cannot resize to " + std::to_string(width) + "x" + std::to_string(height));
  if (image.width < 1 || image.height < 1 || image.rgb.size() != size_t(image.width) * size_t(image.height) * 3)
    throw Error("cannot resize an empty or malformed image");
  // As PIL: along x first, into 8 bits, then along y; an axis whose size stays is not resampled.
  const Image rows = image.width == width ? image : resample_axis(image, width, image.height, true);
  return image.height == height ? rows : resample_axis(rows, width, height, false);
}

}  // namespace diffuse
