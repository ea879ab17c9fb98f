#include "models/unet_blocks.h"

namespace diffuse {

ResBlock ResBlock::load(const Weights& w, int in, int out, int emb_dim) {
  ResBlock b{GroupNorm::load(w.sub("in_layers.0"), in),
             GroupNorm::load(w.sub("out_layers.0"), out),
             Conv2d::load(w.sub("in_layers.2"), in, out, 3),
             Conv2d::load(w.sub("out_layers.3"), out, out, 3),
             Linear::load(w.sub("emb_layers.1"), emb_dim, out),
             std::nullopt};
  if (in != out) b.skip_connection = Conv2d::load(w.sub("skip_connection"), in, out, 1);
  b.in_norm.feeds(b.in_conv);
  b.out_norm.feeds(b.out_conv);
  return b;
}

Tensor ResBlock::operator()(const Tensor& x, const Tensor& emb_silu) const {
  Tensor h = in_conv(in_norm(x, ops::Activation::SiLU));
  ops::add_channels_(h, emb_proj(emb_silu));
  h = out_conv(out_norm(std::move(h), ops::Activation::SiLU));
  ops::add_(h, skip_connection ? (*skip_connection)(x) : x);
  return h;
}

TransformerBlock TransformerBlock::load(const Weights& w, int c, int context_dim, int heads) {
  const int ff = 4 * c;
  TransformerBlock b{LayerNorm::load(w.sub("norm1"), c),
                     LayerNorm::load(w.sub("norm2"), c),
                     LayerNorm::load(w.sub("norm3"), c),
                     Linear::load(w.sub("attn1.to_q"), c, c, false),
                     Linear::load(w.sub("attn1.to_k"), c, c, false),
                     Linear::load(w.sub("attn1.to_v"), c, c, false),
                     Linear::load(w.sub("attn1.to_out.0"), c, c),
                     Linear::load(w.sub("attn2.to_q"), c, c, false),
                     Linear::load(w.sub("attn2.to_k"), context_dim, c, false),
                     Linear::load(w.sub("attn2.to_v"), context_dim, c, false),
                     Linear::load(w.sub("attn2.to_out.0"), c, c),
                     Linear::load_rows(w.sub("ff.net.0.proj"), c, 0, ff),
                     Linear::load_rows(w.sub("ff.net.0.proj"), c, ff, ff, LinearKernel::Activation::GeluErf),
                     Linear::load(w.sub("ff.net.2"), ff, c),
                     heads};
  b.norm1.feeds(b.attn1_q);  // and attn1_k, attn1_v
  b.norm2.feeds(b.attn2_q);
  b.norm3.feeds(b.ff_value);  // and ff_gate
  return b;
}

Tensor TransformerBlock::operator()(const Tensor& x, const Tensor& context) const {
  // The attention products run in the precision of the projections around them.
  const Precision precision = attn1_q.kernel.precision();
  Tensor h = norm1(x);
  Tensor a = attn1_out(attention(attn1_q(h), attn1_k(h), attn1_v(h), heads, false, precision));
  ops::add_(a, x);

  h = norm2(a);
  Tensor c = attn2_out(attention(attn2_q(h), attn2_k(context), attn2_v(context), heads, false, precision));
  ops::add_(c, a);

  const Tensor h3 = norm3(c);
  const Tensor gated = ops::mul(ff_value(h3), ff_gate(h3), ff_out.kernel.input_type());
  Tensor f = ff_out(gated);
  ops::add_(f, c);
  return f;
}

SpatialTransformer SpatialTransformer::load(const Weights& w, int c, int context_dim, int heads, int depth) {
  // Transformer2DModel's GroupNorm uses eps 1e-6, unlike the ResBlocks' 1e-5.
  SpatialTransformer t{GroupNorm::load(w.sub("norm"), c, 32, 1e-6f), Linear::load(w.sub("proj_in"), c, c),
                       Linear::load(w.sub("proj_out"), c, c), {}};
  t.norm.feeds(t.proj_in);
  for (int d = 0; d < depth; ++d)
    t.transformer_blocks.push_back(
        TransformerBlock::load(w.sub("transformer_blocks." + std::to_string(d)), c, context_dim, heads));
  return t;
}

Tensor SpatialTransformer::operator()(const Tensor& x, const Tensor& context) const {
  const int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
  Tensor h = proj_in(norm(x)).reshape({n, hw, c});  // NHWC is already [N, HW, C]: no transpose
  for (const TransformerBlock& block : transformer_blocks) h = block(h, context);
  Tensor out = proj_out(h).reshape(x.shape());
  ops::add_(out, x);
  return out;
}

}  // namespace diffuse
