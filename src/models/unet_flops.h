#pragma once
#include "models/unet.h"

namespace diffuse {

// Multiply-accumulates of one UNet pass for one image, counted from the architecture: what the
// convolutions, the Linear layers (projections, feed-forwards, embeddings) and the attention
// matmuls (q k^T and scores x v) must compute. Norms, activations and softmax are left out:
// they are O(activations), not O(MACs). Twice the total is the FLOP count.
struct UNetMacs {
  double conv = 0, linear = 0, attention = 0;
  double total() const { return conv + linear + attention; }
};

// latent_h x latent_w latents (image size / the VAE's factor, 8 for SD) conditioned on context_tokens text tokens.
UNetMacs unet_macs(const UNetConfig& config, int latent_h, int latent_w, int context_tokens = 77);

}  // namespace diffuse
