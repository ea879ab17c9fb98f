#include "models/taesd.h"

#include <cmath>

#include "core/error.h"

namespace diffuse {
namespace {

bool holds_layer(const Weights& w, int i) {
  const Weights layer = w.sub(std::to_string(i));
  return layer.has("weight") || layer.has("conv.0.weight");
}

// The index of the Sequential's last layer: parameterless layers leave single gaps between
// indices, never two in a row.
int last_index(const Weights& w) {
  int last = -1;
  for (int i = 0; i <= last + 2; ++i)
    if (holds_layer(w, i)) last = i;
  if (last < 0) throw Error("TAESD: no '" + w.full_name("0.weight") + "': not a tiny autoencoder");
  return last;
}

Conv2d load_conv(const Weights& w, int stride, bool bias) {
  const Shape shape = w.shape("weight");
  if (shape.size() != 4 || shape[2] != shape[3])
    throw Error("TAESD: '" + w.full_name("weight") + "' is " + shape_string(shape) + ", not a square convolution");
  return Conv2d::load(w, int(shape[1]), int(shape[0]), int(shape[2]), stride, std::nullopt, bias);
}

}  // namespace

TinyAutoencoder::Block TinyAutoencoder::Block::load(const Weights& w) {
  Block b{load_conv(w.sub("conv.0"), 1, true), load_conv(w.sub("conv.2"), 1, true), load_conv(w.sub("conv.4"), 1, true),
          std::nullopt};
  if (b.conv0.kernel.in_channels() != b.conv4.kernel.out_channels()) b.skip = load_conv(w.sub("skip"), 1, false);
  return b;
}

Tensor TinyAutoencoder::Block::operator()(const Tensor& x) const {
  Tensor h = conv0(x);
  ops::relu_(h);
  h = conv2(h);
  ops::relu_(h);
  h = conv4(h);
  ops::add_(h, skip ? (*skip)(x) : x);
  ops::relu_(h);
  return h;
}

Tensor TinyAutoencoder::Layer::operator()(Tensor x) const {
  switch (kind) {
    case Kind::Conv: return (*conv)(x);
    case Kind::Block: return (*block)(x);
    case Kind::Relu: ops::relu_(x); return x;
    case Kind::Upsample: return ops::upsample_nearest2x(x);
  }
  return x;
}

// diffusers' DecoderTiny: conv, ReLU, then for each level its blocks, an Upsample and a conv
// without bias; the last level has no Upsample and its conv, biased, makes RGB. EncoderTiny: a
// conv, then for each further level a stride-2 conv without bias and its blocks, and a last conv
// to the latent channels. In both, only the first and last convs have a bias.
std::vector<TinyAutoencoder::Layer> TinyAutoencoder::load_layers(const Weights& w, bool decoder) {
  std::vector<Layer> layers;
  const int last = last_index(w);
  for (int i = 0; i <= last; ++i) {
    const Weights layer = w.sub(std::to_string(i));
    const bool end = i == 0 || i == last;
    if (layer.has("conv.0.weight")) {
      layers.push_back({Layer::Kind::Block, std::nullopt, Block::load(layer)});
    } else if (layer.has("weight") || !decoder) {
      layers.push_back({Layer::Kind::Conv, load_conv(layer, decoder || end ? 1 : 2, end), std::nullopt});
    } else {
      layers.push_back({i == 1 ? Layer::Kind::Relu : Layer::Kind::Upsample, std::nullopt, std::nullopt});
    }
  }
  return layers;
}

TinyAutoencoder::TinyAutoencoder(const Weights& w) : decoder_(load_layers(w.sub("decoder.layers"), true)) {
  latent_channels_ = decoder_.front().conv->kernel.in_channels();
  if (w.has("encoder.layers.0.weight")) encoder_ = load_layers(w.sub("encoder.layers"), false);
}

Tensor TinyAutoencoder::decode(const Tensor& z) const {
  if (z.rank() != 4 || z.dim(1) != latent_channels_)
    throw Error("TAESD decode expects NCHW latents with " + std::to_string(latent_channels_) + " channels, got " +
                shape_string(z.shape()));
  Tensor x = ops::nchw_to_nhwc(z);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = std::tanh(x.data()[i] / 3.0f) * 3.0f;  // its soft clamp
  for (const Layer& layer : decoder_) x = layer(std::move(x));
  // TAESD's images are in [0, 1]; diffusers' convention is [-1, 1].
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = x.data()[i] * 2.0f - 1.0f;
  return ops::nhwc_to_nchw(x);
}

Tensor TinyAutoencoder::encode(const Tensor& image) const {
  if (!has_encoder()) throw Error("TAESD: this file has no encoder (encoder.layers.*)");
  if (image.rank() != 4 || image.dim(1) != 3)
    throw Error("TAESD encode expects an NCHW RGB image, got " + shape_string(image.shape()));
  Tensor x = ops::nchw_to_nhwc(image);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = (x.data()[i] + 1.0f) / 2.0f;
  for (const Layer& layer : encoder_) x = layer(std::move(x));
  return ops::nhwc_to_nchw(x);
}

}  // namespace diffuse
