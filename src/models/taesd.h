#pragma once
#include <optional>
#include <vector>

#include "models/layers.h"

namespace diffuse {

// TAESD, the tiny autoencoder (madebyollin/taesd; diffusers' AutoencoderTiny): the same latent
// space as the model's VAE, decoded by 3x3 convolutions of 64 channels and nearest upsampling,
// no attention and no norms, for previews and fast drafts. Named after diffusers' tensors,
// "decoder.layers.<i>" / "encoder.layers.<i>", the indices of its nn.Sequential
// (io/taesd_file.h maps the original single files to them). The encoder is optional: the
// original weights ship the decoder as a file of its own.
class TinyAutoencoder {
 public:
  explicit TinyAutoencoder(const Weights& w);
  int latent_channels() const { return latent_channels_; }
  bool has_encoder() const { return !encoder_.empty(); }

  // [B, latent, h, w] latents as the sampler holds them (AutoencoderTiny's scaling factor is 1)
  // -> [B, 3, 8h, 8w] in about [-1, 1], not clamped.
  Tensor decode(const Tensor& latents_nchw) const;
  // [B, 3, H, W] in [-1, 1] -> [B, latent, H/8, W/8]; an Error without an encoder.
  Tensor encode(const Tensor& image_nchw) const;

 private:
  // AutoencoderTinyBlock: relu(conv.4(relu(conv.2(relu(conv.0(x))))) + skip(x)); the 1x1 skip
  // only where the channel count changes.
  struct Block {
    Conv2d conv0, conv2, conv4;
    std::optional<Conv2d> skip;
    static Block load(const Weights& w);
    Tensor operator()(const Tensor& x) const;
  };
  // One entry of the nn.Sequential; the parameterless ones (ReLU, Upsample) hold no tensors,
  // which is how their indices are told apart in the checkpoint.
  struct Layer {
    enum class Kind { Conv, Block, Relu, Upsample } kind;
    std::optional<Conv2d> conv;
    std::optional<Block> block;
    Tensor operator()(Tensor x) const;
  };
  static std::vector<Layer> load_layers(const Weights& w, bool decoder);

  std::vector<Layer> decoder_, encoder_;
  int latent_channels_ = 4;
};

}  // namespace diffuse
