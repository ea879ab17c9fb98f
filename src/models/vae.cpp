#include "models/vae.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/op_profile.h"

namespace diffuse {

// Every VAE GroupNorm: 32 groups, eps 1e-6 (diffusers' AutoencoderKL; the UNet uses 1e-5).
constexpr int kGroups = 32;
constexpr float kEps = 1e-6f;
constexpr auto kSiLU = ops::Activation::SiLU;

VaeConfig VaeConfig::detect(const Weights& w) {
  VaeConfig c;
  c.block_out_channels.clear();
  for (int i = 0; w.has("encoder.down." + std::to_string(i) + ".block.0.conv1.weight"); ++i)
    c.block_out_channels.push_back(int(w.shape("encoder.down." + std::to_string(i) + ".block.0.conv1.weight").at(0)));
  if (c.block_out_channels.empty())
    throw Error("VAE: no '" + w.full_name("encoder.down.0.block.0.conv1.weight") + "': not an LDM AutoencoderKL");
  c.layers_per_block = 0;
  while (w.has("encoder.down.0.block." + std::to_string(c.layers_per_block) + ".conv1.weight")) ++c.layers_per_block;
  c.latent_channels = int(w.shape("post_quant_conv.weight").at(0));
  c.image_channels = int(w.shape("encoder.conv_in.weight").at(1));
  return c;
}

Vae::ResnetBlock Vae::ResnetBlock::load(const Weights& w, int in, int out) {
  ResnetBlock b{GroupNorm::load(w.sub("norm1"), in, kGroups, kEps), GroupNorm::load(w.sub("norm2"), out, kGroups, kEps),
                Conv2d::load(w.sub("conv1"), in, out, 3), Conv2d::load(w.sub("conv2"), out, out, 3), std::nullopt};
  if (in != out) b.nin_shortcut = Conv2d::load(w.sub("nin_shortcut"), in, out, 1);
  b.norm1.feeds(b.conv1);
  b.norm2.feeds(b.conv2);
  return b;
}

// The shortcut is taken first so that, when nothing else holds x, norm1 can overwrite it: at
// 512x512 the decoder's first full-resolution block has 256 MiB inputs.
Tensor Vae::ResnetBlock::operator()(Tensor x) const {
  Tensor shortcut = nin_shortcut ? (*nin_shortcut)(x) : x;
  x = norm1(std::move(x), kSiLU);  // into a new tensor when x is the shortcut itself
  Tensor h = conv1(x);
  x = Tensor();
  h = conv2(norm2(std::move(h), kSiLU));
  ops::add_(h, shortcut);
  return h;
}

Vae::AttnBlock Vae::AttnBlock::load(const Weights& w, int c) {
  AttnBlock b{GroupNorm::load(w.sub("norm"), c, kGroups, kEps), Linear::load(w.sub("q"), c, c),
              Linear::load(w.sub("k"), c, c), Linear::load(w.sub("v"), c, c), Linear::load(w.sub("proj_out"), c, c)};
  b.norm.feeds(b.q);  // and k, v
  return b;
}

Tensor Vae::AttnBlock::operator()(const Tensor& x) const {
  const int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
  const Tensor h = norm(x).reshape({n, hw, c});  // NHWC is already [N, HW, C]: no transpose
  Tensor out = proj_out(attention(q(h), k(h), v(h), /*heads=*/1, false, q.kernel.precision())).reshape(x.shape());
  ops::add_(out, x);
  return out;
}

Vae::Mid Vae::Mid::load(const Weights& w, int c) {
  return {ResnetBlock::load(w.sub("block_1"), c, c), AttnBlock::load(w.sub("attn_1"), c),
          ResnetBlock::load(w.sub("block_2"), c, c)};
}

Vae::Encoder Vae::load_encoder(const Weights& w, const VaeConfig& config) {
  const std::vector<int>& ch = config.block_out_channels;
  Encoder e{Conv2d::load(w.sub("conv_in"), config.image_channels, ch.front(), 3), {},
            Mid::load(w.sub("mid"), ch.back()), GroupNorm::load(w.sub("norm_out"), ch.back(), kGroups, kEps),
            Conv2d::load(w.sub("conv_out"), ch.back(), 2 * config.latent_channels, 3)};
  e.norm_out.feeds(e.conv_out);
  int in = ch.front();
  for (size_t i = 0; i < ch.size(); ++i) {
    const Weights level = w.sub("down." + std::to_string(i));
    Down& down = e.down.emplace_back();
    for (int j = 0; j < config.layers_per_block; ++j) {
      down.block.push_back(ResnetBlock::load(level.sub("block." + std::to_string(j)), in, ch[i]));
      in = ch[i];
    }
    if (i + 1 < ch.size()) {
      // diffusers' Downsample2D pads (0, 1, 0, 1), right and bottom only, then convolves unpadded.
      down.downsample = Conv2d::load(level.sub("downsample.conv"), ch[i], ch[i], 3, /*stride=*/2,
                                     Conv2dKernel::Padding{0, 1});
    }
  }
  return e;
}

Vae::Decoder Vae::load_decoder(const Weights& w, const VaeConfig& config) {
  const std::vector<int>& ch = config.block_out_channels;
  Decoder d{Conv2d::load(w.sub("conv_in"), config.latent_channels, ch.back(), 3), Mid::load(w.sub("mid"), ch.back()),
            std::vector<Up>(ch.size()), GroupNorm::load(w.sub("norm_out"), ch.front(), kGroups, kEps),
            Conv2d::load(w.sub("conv_out"), ch.front(), config.image_channels, 3)};
  d.norm_out.feeds(d.conv_out);
  // Loaded in the order the pass runs, from the deepest level up, so each block knows its input.
  int in = ch.back();
  for (size_t i = ch.size(); i-- > 0;) {
    const Weights level = w.sub("up." + std::to_string(i));
    for (int j = 0; j < config.layers_per_block + 1; ++j) {
      d.up[i].block.push_back(ResnetBlock::load(level.sub("block." + std::to_string(j)), in, ch[i]));
      in = ch[i];
    }
    if (i > 0) d.up[i].upsample = Conv2d::load(level.sub("upsample.conv"), ch[i], ch[i], 3);
  }
  return d;
}

Vae::Vae(const Weights& w, const VaeConfig& config)
    : config_(config),
      encoder_(load_encoder(w.sub("encoder"), config)),
      decoder_(load_decoder(w.sub("decoder"), config)),
      quant_conv_(Conv2d::load(w.sub("quant_conv"), 2 * config.latent_channels, 2 * config.latent_channels, 1)),
      post_quant_conv_(Conv2d::load(w.sub("post_quant_conv"), config.latent_channels, config.latent_channels, 1)) {}

namespace {

// Nearest 2x upsampling then a 3x3 "same" convolution, made in bands of output rows: the
// upsampled activation is the decoder's largest (256 channels at full resolution: 256 MiB at
// 512x512, 1 GiB at 1024x1024) and only a band of it, with one halo row each side, exists at once.
// Each band's convolution writes straight into its rows of the output (a copy was 0.28 s of a
// 512x512 decode here), whose fresh pages its threads then touch first, together.
Tensor upsample_conv(const Conv2d& conv, const Tensor& x) {
  constexpr int64_t kBandBytes = int64_t(32) << 20;
  const int64_t n = x.dim(0), height = 2 * x.dim(1), width = 2 * x.dim(2), out = conv.kernel.out_channels();
  const int64_t band = std::clamp<int64_t>(kBandBytes / (width * x.dim(3) * 4), 8, height);
  Tensor y({n, height, width, out});
  for (int64_t b = 0; b < n; ++b) {
    const Tensor image = x.view(b * (x.numel() / n), {1, x.dim(1), x.dim(2), x.dim(3)});
    for (int64_t r0 = 0; r0 < height; r0 += band) {
      const int64_t r1 = std::min(height, r0 + band);
      const int64_t u0 = std::max<int64_t>(0, r0 - 1), u1 = std::min(height, r1 + 1);
      Tensor rows = y.view((b * height + r0) * width * out, {1, r1 - r0, width, out});
      conv.kernel.forward(ops::upsample_nearest2x_rows(image, u0, u1, conv.kernel.input_type()),
                          {int(r0 == 0), int(r1 == height)}, rows);
    }
  }
  return y;
}

}  // namespace

// Each stage replaces `h`, so the previous activation is freed as soon as the next exists:
// at 512x512 the top levels hold 512x512x128 floats (128 MiB) per activation.
Tensor Vae::decode(const Tensor& z) const {
  if (z.rank() != 4 || z.dim(1) != config_.latent_channels)
    throw Error("VAE decode expects NCHW latents with " + std::to_string(config_.latent_channels) + " channels, got " +
                shape_string(z.shape()));
  Tensor h = decoder_.conv_in(post_quant_conv_(ops::nchw_to_nhwc(z)));
  h = decoder_.mid(h);
  for (auto level = decoder_.up.rbegin(); level != decoder_.up.rend(); ++level) {
    for (const ResnetBlock& block : level->block) h = block(std::move(h));
    if (level->upsample) h = upsample_conv(*level->upsample, h);
  }
  h = decoder_.conv_out(decoder_.norm_out(std::move(h), kSiLU));
  return ops::nhwc_to_nchw(h);
}

Vae::Moments Vae::encode(const Tensor& image) const {
  if (image.rank() != 4 || image.dim(1) != config_.image_channels)
    throw Error("VAE encode expects an NCHW image with " + std::to_string(config_.image_channels) +
                " channels, got " + shape_string(image.shape()));
  Tensor h = encoder_.conv_in(ops::nchw_to_nhwc(image));
  for (const Down& level : encoder_.down) {
    for (const ResnetBlock& block : level.block) h = block(std::move(h));
    if (level.downsample) h = (*level.downsample)(h);
  }
  h = encoder_.mid(h);
  h = quant_conv_(encoder_.conv_out(encoder_.norm_out(std::move(h), kSiLU)));

  // The channels are [mean, logvar] (torch.chunk(moments, 2, dim=1)).
  const int64_t positions = h.numel() / h.dim(3), l = config_.latent_channels;
  Tensor mean({h.dim(0), h.dim(1), h.dim(2), l}), logvar(mean.shape());
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t c = 0; c < l; ++c) {
      mean.data()[p * l + c] = h.data()[p * 2 * l + c];
      logvar.data()[p * l + c] = std::clamp(h.data()[p * 2 * l + l + c], -30.0f, 20.0f);
    }
  return {ops::nhwc_to_nchw(mean), ops::nhwc_to_nchw(logvar)};
}

Tensor Vae::Moments::sample(const Tensor& noise) const {
  if (noise.shape() != mean.shape())
    throw Error("VAE sample: noise " + shape_string(noise.shape()) + " does not match the latents " +
                shape_string(mean.shape()));
  Tensor x(mean.shape());
  for (int64_t i = 0; i < x.numel(); ++i)
    x.data()[i] = mean.data()[i] + std::exp(0.5f * logvar.data()[i]) * noise.data()[i];
  return x;
}

}  // namespace diffuse
