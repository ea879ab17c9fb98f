#pragma once
// The UNet's building blocks, named as the original (LDM) checkpoint names them.
#include <optional>

#include "models/layers.h"

namespace diffuse {

// ResBlock: in_layers (GroupNorm, SiLU, conv), emb_layers (SiLU, Linear) added per channel,
// out_layers (GroupNorm, SiLU, dropout, conv), plus a 1x1 skip_connection when channels change.
struct ResBlock {
  GroupNorm in_norm, out_norm;  // in_layers.0, out_layers.0
  Conv2d in_conv, out_conv;     // in_layers.2, out_layers.3
  Linear emb_proj;              // emb_layers.1
  std::optional<Conv2d> skip_connection;

  static ResBlock load(const Weights& w, int in, int out, int emb_dim);
  // emb_silu: SiLU(time embedding), [N, emb_dim], shared by every block of a pass.
  Tensor operator()(const Tensor& x, const Tensor& emb_silu) const;
};

// BasicTransformerBlock: self-attention, cross-attention on the text context, GEGLU feed-forward.
struct TransformerBlock {
  LayerNorm norm1, norm2, norm3;
  Linear attn1_q, attn1_k, attn1_v, attn1_out;
  Linear attn2_q, attn2_k, attn2_v, attn2_out;
  // ff.net.0.proj is GEGLU's [2 x 4C, C] projection: value rows, then gate rows, gelu fused into the
  // gate's matmul. ff.net.2 projects back.
  Linear ff_value, ff_gate, ff_out;
  int heads;

  static TransformerBlock load(const Weights& w, int channels, int context_dim, int heads);
  Tensor operator()(const Tensor& x, const Tensor& context) const;  // x: [N, HW, C]
};

// SpatialTransformer: GroupNorm, proj_in (1x1 conv in SD1, Linear in SD2/SDXL: the same matrix
// over NHWC), transformer_blocks, proj_out, residual.
struct SpatialTransformer {
  GroupNorm norm;
  Linear proj_in, proj_out;
  std::vector<TransformerBlock> transformer_blocks;

  static SpatialTransformer load(const Weights& w, int channels, int context_dim, int heads, int depth);
  Tensor operator()(const Tensor& x, const Tensor& context) const;  // x: NHWC
};

struct Upsample {  // nearest 2x, then conv
  Conv2d conv;
  Tensor operator()(const Tensor& x) const { return conv(ops::upsample_nearest2x(x, conv.kernel.input_type())); }
};

}  // namespace diffuse
