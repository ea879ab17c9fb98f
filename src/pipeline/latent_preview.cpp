#include "pipeline/latent_preview.h"

#include <algorithm>
#include <cmath>

#include "core/buffer_pool.h"
#include "core/error.h"
#include "sampling/torch_generator.h"

namespace diffuse {
namespace {

// One decode of an 8x8 random latent: 64 latent pixels, each paired with the mean colour of
// the 8x8 pixels it decodes to. Small enough to cost a fraction of one denoising step.
constexpr int kLatentSide = 8, kBatch = 1;

// Solves the normal equations A x = b (n <= 5) by Gaussian elimination with partial pivoting.
template <size_t N>
std::array<double, N> solve(std::array<std::array<double, N>, N> a, std::array<double, N> b) {
  for (size_t col = 0; col < N; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < N; ++r)
      if (std::abs(a[r][col]) > std::abs(a[pivot][col])) pivot = r;
    std::swap(a[col], a[pivot]);
    std::swap(b[col], b[pivot]);
    if (std::abs(a[col][col]) < 1e-12) throw Error("latent preview: the VAE's latents of flat colours are degenerate");
    for (size_t r = col + 1; r < N; ++r) {
      const double f = a[r][col] / a[col][col];
      for (size_t c = col; c < N; ++c) a[r][c] -= f * a[col][c];
      b[r] -= f * b[col];
    }
  }
  std::array<double, N> x{};
  for (size_t r = N; r-- > 0;) {
    double sum = b[r];
    for (size_t c = r + 1; c < N; ++c) sum -= a[r][c] * x[c];
    x[r] = sum / a[r][r];
  }
  return x;
}

}  // namespace

LatentPreview LatentPreview::fit(const StableDiffusion& model) {
  constexpr size_t K = kChannels + 1;
  // Unit-variance latents in the sampler's scale, where the predictions a preview shows live.
  Tensor latents({kBatch, kChannels, kLatentSide, kLatentSide});
  TorchGenerator(0).randn(latents.data(), size_t(latents.numel()));
  Tensor z = latents.clone();
  for (int64_t i = 0; i < z.numel(); ++i) z.data()[i] /= model.vae_scaling_factor();
  Tensor image;
  {
    const BufferPool::OnePass decode_once;
    image = model.vae().decode(z);
  }
  const int64_t side = image.dim(2), block = side / kLatentSide, plane = kLatentSide * kLatentSide;
  std::array<std::array<double, K>, K> gram{};
  std::array<std::array<double, K>, 3> moment{};
  for (int64_t b = 0; b < kBatch; ++b)
    for (int64_t y = 0; y < kLatentSide; ++y)
      for (int64_t x = 0; x < kLatentSide; ++x) {
        std::array<double, K> features{};
        for (int k = 0; k < kChannels; ++k) features[size_t(k)] = latents.data()[(b * kChannels + k) * plane + y * kLatentSide + x];
        features[kChannels] = 1.0;
        for (size_t rgb = 0; rgb < 3; ++rgb) {
          double sum = 0;  // the block's mean, from [-1, 1] to 0..255 as to_image does
          for (int64_t dy = 0; dy < block; ++dy)
            for (int64_t dx = 0; dx < block; ++dx)
              sum += image.data()[((b * 3 + int64_t(rgb)) * side + y * block + dy) * side + x * block + dx];
          const double value = std::clamp((sum / double(block * block) / 2.0 + 0.5) * 255.0, 0.0, 255.0);
          for (size_t r = 0; r < K; ++r) moment[rgb][r] += features[r] * value;
        }
        for (size_t r = 0; r < K; ++r)
          for (size_t c = 0; c < K; ++c) gram[r][c] += features[r] * features[c];
      }
  LatentPreview preview;
  for (size_t rgb = 0; rgb < 3; ++rgb) preview.weights_[rgb] = solve(gram, moment[rgb]);
  return preview;
}

Image LatentPreview::render(const Tensor& latents) const {
  if (latents.shape().size() != 4 || latents.dim(1) != kChannels) throw Error("latent preview: expected [1, 4, h, w] latents");
  const int64_t h = latents.dim(2), w = latents.dim(3), plane = h * w;
  Image image{int(w), int(h), std::vector<uint8_t>(size_t(plane * 3))};
  for (int64_t i = 0; i < plane; ++i)
    for (size_t rgb = 0; rgb < 3; ++rgb) {
      const auto& m = weights_[rgb];
      double v = m[kChannels];
      for (int k = 0; k < kChannels; ++k) v += m[size_t(k)] * latents.data()[k * plane + i];
      image.rgb[size_t(i) * 3 + rgb] = uint8_t(std::clamp(std::lround(v), 0L, 255L));
    }
  return image;
}

}  // namespace diffuse
