#pragma once
#include <optional>
#include <vector>

#include "models/layers.h"

namespace diffuse {

struct VaeConfig {
  std::vector<int> block_out_channels = {128, 256, 512, 512};  // per level, encoder order
  int layers_per_block = 2;  // ResnetBlocks per encoder level; the decoder has one more
  int latent_channels = 4;
  int image_channels = 3;
  // Image pixels per latent pixel along each side: 2^(levels - 1), 8 for SD 1.x-XL.
  int latent_factor() const { return 1 << (block_out_channels.size() - 1); }

  // From the tensors alone. The scaling factor is not among them (0.18215 for SD1/SD2,
  // 0.13025 for SDXL): the caller applies it.
  static VaeConfig detect(const Weights& w);
};

// The LDM AutoencoderKL (diffusers' AutoencoderKL), named after its tensors: "encoder.*",
// "decoder.*", "quant_conv", "post_quant_conv". The API speaks NCHW like the reference;
// inside, activations are NHWC like the rest of the engine.
class Vae {
 public:
  Vae(const Weights& w, const VaeConfig& config);
  const VaeConfig& config() const { return config_; }

  // diffusers' DiagonalGaussianDistribution, NCHW [B, latent, H/f, W/f], f = 2^(levels - 1) (8 for SD).
  struct Moments {
    Tensor mean, logvar;
    // mean + exp(0.5 logvar) * noise; noise is randn of mean's shape, which the caller draws
    // from its generator so this layer stays independent of sampling.
    Tensor sample(const Tensor& noise) const;
  };

  // [B, latent, h, w] latents, already divided by the scaling factor -> [B, 3, f h, f w] in
  // about [-1, 1], not clamped.
  Tensor decode(const Tensor& z_nchw) const;
  // [B, 3, H, W] in [-1, 1], H and W multiples of 8 -> the moments after quant_conv, logvar
  // clamped to [-30, 20] as diffusers does.
  Moments encode(const Tensor& image_nchw) const;

 private:
  // GroupNorm, SiLU, conv1, GroupNorm, SiLU, conv2, plus the input (through a 1x1
  // nin_shortcut when the channel count changes).
  struct ResnetBlock {
    GroupNorm norm1, norm2;
    Conv2d conv1, conv2;
    std::optional<Conv2d> nin_shortcut;
    static ResnetBlock load(const Weights& w, int in, int out);
    Tensor operator()(Tensor x) const;  // in place where x is handed over (std::move)
  };
  // Single-head self-attention over all H*W positions, with a residual.
  struct AttnBlock {
    GroupNorm norm;
    Linear q, k, v, proj_out;  // stored as 1x1 convolutions: the same matrices over NHWC
    static AttnBlock load(const Weights& w, int channels);
    Tensor operator()(const Tensor& x) const;
  };
  struct Mid {
    ResnetBlock block_1;
    AttnBlock attn_1;
    ResnetBlock block_2;
    static Mid load(const Weights& w, int channels);
    Tensor operator()(const Tensor& x) const { return block_2(attn_1(block_1(x))); }
  };
  struct Down {
    std::vector<ResnetBlock> block;
    std::optional<Conv2d> downsample;  // downsample.conv: 3x3, stride 2, padded after only
  };
  struct Up {
    std::vector<ResnetBlock> block;
    std::optional<Conv2d> upsample;  // upsample.conv, after a nearest 2x
  };
  struct Encoder {
    Conv2d conv_in;
    std::vector<Down> down;
    Mid mid;
    GroupNorm norm_out;
    Conv2d conv_out;  // to 2 x latent channels: mean, then logvar
  };
  struct Decoder {
    Conv2d conv_in;
    Mid mid;
    std::vector<Up> up;  // up[0] is the full-resolution level; the pass runs from the last
    GroupNorm norm_out;
    Conv2d conv_out;
  };

  static Encoder load_encoder(const Weights& w, const VaeConfig& config);
  static Decoder load_decoder(const Weights& w, const VaeConfig& config);

  VaeConfig config_;
  Encoder encoder_;
  Decoder decoder_;
  Conv2d quant_conv_, post_quant_conv_;
};

}  // namespace diffuse
