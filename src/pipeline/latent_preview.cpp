#include "pipeline/latent_preview.h"

#include <algorithm>
#include <cmath>

#include "core/buffer_pool.h"
#include "core/error.h"
#include "sampling/torch_generator.h"

namespace diffuse {
namespace {

// Decodes of 8x8 random latents: 64 latent pixels each, each paired with the mean colour of the
// 8x8 pixels it decodes to; enough of them for 8 samples per unknown. For SD's 4 channels that is
// one decode of a 64x64 image, a fraction of one denoising step.
constexpr int kLatentSide = 8, kSamplesPerUnknown = 8;

// Solves the normal equations A x = b (A: n x n, row-major) by Gaussian elimination with partial pivoting.
std::vector<double> solve(std::vector<double> a, std::vector<double> b) {
  const size_t n = b.size();
  auto at = [&](size_t r, size_t c) -> double& { return a[r * n + c]; };
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::abs(at(r, col)) > std::abs(at(pivot, col))) pivot = r;
    for (size_t c = 0; c < n; ++c) std::swap(at(col, c), at(pivot, c));
    std::swap(b[col], b[pivot]);
    if (std::abs(at(col, col)) < 1e-12) throw Error("latent preview: the VAE's latents of flat colours are degenerate");
    for (size_t r = col + 1; r < n; ++r) {
      const double f = at(r, col) / at(col, col);
      for (size_t c = col; c < n; ++c) at(r, c) -= f * at(col, c);
      b[r] -= f * b[col];
    }
  }
  std::vector<double> x(n);
  for (size_t r = n; r-- > 0;) {
    double sum = b[r];
    for (size_t c = r + 1; c < n; ++c) sum -= at(r, c) * x[c];
    x[r] = sum / at(r, r);
  }
  return x;
}

}  // namespace

LatentPreview LatentPreview::fit(const StableDiffusion& model) {
  const int channels = model.latent_channels();
  const size_t k_unknowns = size_t(channels) + 1;
  const int64_t plane = kLatentSide * kLatentSide;
  const int64_t batch = (int64_t(k_unknowns) * kSamplesPerUnknown + plane - 1) / plane;
  // Unit-variance latents in the sampler's scale, where the predictions a preview shows live.
  Tensor latents({batch, channels, kLatentSide, kLatentSide});
  TorchGenerator(0).randn(latents.data(), size_t(latents.numel()));
  Tensor z = latents.clone();
  for (int64_t i = 0; i < z.numel(); ++i) z.data()[i] /= model.vae_scaling_factor();
  Tensor image;
  {
    const BufferPool::OnePass decode_once;
    image = model.vae().decode(z);
  }
  const int64_t side = image.dim(2), block = side / kLatentSide;
  std::vector<double> gram(k_unknowns * k_unknowns), features(k_unknowns);
  std::array<std::vector<double>, 3> moment;
  moment.fill(std::vector<double>(k_unknowns));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t y = 0; y < kLatentSide; ++y)
      for (int64_t x = 0; x < kLatentSide; ++x) {
        for (int k = 0; k < channels; ++k) features[size_t(k)] = latents.data()[(b * channels + k) * plane + y * kLatentSide + x];
        features[size_t(channels)] = 1.0;
        for (size_t rgb = 0; rgb < 3; ++rgb) {
          double sum = 0;  // the block's mean, from [-1, 1] to 0..255 as to_image does
          for (int64_t dy = 0; dy < block; ++dy)
            for (int64_t dx = 0; dx < block; ++dx)
              sum += image.data()[((b * 3 + int64_t(rgb)) * side + y * block + dy) * side + x * block + dx];
          const double value = std::clamp((sum / double(block * block) / 2.0 + 0.5) * 255.0, 0.0, 255.0);
          for (size_t r = 0; r < k_unknowns; ++r) moment[rgb][r] += features[r] * value;
        }
        for (size_t r = 0; r < k_unknowns; ++r)
          for (size_t c = 0; c < k_unknowns; ++c) gram[r * k_unknowns + c] += features[r] * features[c];
      }
  LatentPreview preview;
  for (size_t rgb = 0; rgb < 3; ++rgb) preview.weights_[rgb] = solve(gram, moment[rgb]);
  return preview;
}

Image LatentPreview::render(const Tensor& latents) const {
  const int channels = int(weights_[0].size()) - 1;
  if (latents.shape().size() != 4 || latents.dim(1) != channels)
    throw Error("latent preview: expected [1, " + std::to_string(channels) + ", h, w] latents");
  const int64_t h = latents.dim(2), w = latents.dim(3), plane = h * w;
  Image image{int(w), int(h), std::vector<uint8_t>(size_t(plane * 3))};
  for (int64_t i = 0; i < plane; ++i)
    for (size_t rgb = 0; rgb < 3; ++rgb) {
      const auto& m = weights_[rgb];
      double v = m[size_t(channels)];
      for (int k = 0; k < channels; ++k) v += m[size_t(k)] * latents.data()[k * plane + i];
      image.rgb[size_t(i) * 3 + rgb] = uint8_t(std::clamp(std::lround(v), 0L, 255L));
    }
  return image;
}

}  // namespace diffuse
