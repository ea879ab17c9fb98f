#include "pipeline/checkpoint_layout.h"

namespace diffuse {
namespace {

// Appends the tensors of one module and its children under a name prefix, in the shapes the
// model code's loaders (layers.cpp) expect.
class Layout {
 public:
  explicit Layout(std::vector<TensorSpec>& out, std::string prefix = "") : out_(&out), prefix_(std::move(prefix)) {}

  Layout sub(const std::string& name) const { return Layout(*out_, prefix_ + name + "."); }
  Layout sub(const std::string& name, int index) const { return sub(name + "." + std::to_string(index)); }

  void linear(const std::string& name, int in, int out, bool bias = true) const {
    add(name + ".weight", {out, in}, TensorRole::Weight);
    if (bias) add(name + ".bias", {out}, TensorRole::Bias);
  }
  void conv(const std::string& name, int in, int out, int kernel) const {
    add(name + ".weight", {out, in, kernel, kernel}, TensorRole::Weight);
    add(name + ".bias", {out}, TensorRole::Bias);
  }
  void norm(const std::string& name, int channels) const {
    add(name + ".weight", {channels}, TensorRole::NormScale);
    add(name + ".bias", {channels}, TensorRole::NormShift);
  }
  void add(const std::string& name, Shape shape, TensorRole role) const {
    out_->push_back({prefix_ + name, std::move(shape), role});
  }

 private:
  std::vector<TensorSpec>* out_;
  std::string prefix_;
};

// ---- UNet (unet.cpp, unet_blocks.cpp) ----

void res_block(const Layout& l, int in, int out, int emb) {
  l.norm("in_layers.0", in);
  l.conv("in_layers.2", in, out, 3);
  l.linear("emb_layers.1", emb, out);
  l.norm("out_layers.0", out);
  l.conv("out_layers.3", out, out, 3);
  if (in != out) l.conv("skip_connection", in, out, 1);
}

void transformer_block(const Layout& l, int c, int context) {
  for (const char* norm : {"norm1", "norm2", "norm3"}) l.norm(norm, c);
  for (const char* proj : {"attn1.to_q", "attn1.to_k", "attn1.to_v", "attn2.to_q"}) l.linear(proj, c, c, false);
  for (const char* proj : {"attn2.to_k", "attn2.to_v"}) l.linear(proj, context, c, false);
  for (const char* out : {"attn1.to_out.0", "attn2.to_out.0"}) l.linear(out, c, c);
  l.linear("ff.net.0.proj", c, 8 * c);  // GEGLU: value and gate, 4c each
  l.linear("ff.net.2", 4 * c, c);
}

void spatial_transformer(const Layout& l, const UNetConfig& config, int c, int depth) {
  const bool conv_projections = config.fixed_heads > 0;
  l.norm("norm", c);
  for (const char* proj : {"proj_in", "proj_out"}) conv_projections ? l.conv(proj, c, c, 1) : l.linear(proj, c, c);
  for (int d = 0; d < depth; ++d) transformer_block(l.sub("transformer_blocks", d), c, config.context_dim);
}

std::string block(const char* kind, int index, int part) {
  return std::string(kind) + "." + std::to_string(index) + "." + std::to_string(part);
}

}  // namespace

std::vector<TensorSpec> unet_layout(const UNetConfig& c) {
  std::vector<TensorSpec> specs;
  const Layout l(specs);
  const int mc = c.channels.front(), emb = c.time_embed_dim(), levels = int(c.channels.size());
  l.linear("time_embed.0", mc, emb);
  l.linear("time_embed.2", emb, emb);
  if (c.adm_in_channels > 0) {
    l.linear("label_emb.0.0", c.adm_in_channels, emb);
    l.linear("label_emb.0.2", emb, emb);
  }
  l.conv("input_blocks.0.0", c.in_channels, mc, 3);

  std::vector<int> skips{mc};
  int ch = mc, index = 1;
  for (int level = 0; level < levels; ++level) {
    const int out = c.channels[size_t(level)], depth = c.depth[size_t(level)];
    for (int j = 0; j < c.layers_per_block; ++j, ++index) {
      res_block(l.sub(block("input_blocks", index, 0)), ch, out, emb);
      if (depth > 0) spatial_transformer(l.sub(block("input_blocks", index, 1)), c, out, depth);
      skips.push_back(ch = out);
    }
    if (level + 1 < levels) {
      l.conv(block("input_blocks", index++, 0) + ".op", ch, ch, 3);
      skips.push_back(ch);
    }
  }

  res_block(l.sub("middle_block.0"), ch, ch, emb);
  spatial_transformer(l.sub("middle_block.1"), c, ch, c.mid_depth);
  res_block(l.sub("middle_block.2"), ch, ch, emb);

  index = 0;
  for (int level = levels - 1; level >= 0; --level) {
    const int out = c.channels[size_t(level)], depth = c.depth[size_t(level)];
    for (int j = 0; j <= c.layers_per_block; ++j, ++index) {
      res_block(l.sub(block("output_blocks", index, 0)), ch + skips.back(), out, emb);
      skips.pop_back();
      ch = out;
      if (depth > 0) spatial_transformer(l.sub(block("output_blocks", index, 1)), c, out, depth);
      if (level > 0 && j == c.layers_per_block) l.conv(block("output_blocks", index, depth > 0 ? 2 : 1) + ".conv", ch, ch, 3);
    }
  }
  l.norm("out.0", ch);
  l.conv("out.2", ch, c.out_channels, 3);
  return specs;
}

// ---- VAE (vae.cpp) ----

namespace {

void resnet_block(const Layout& l, int in, int out) {
  l.norm("norm1", in);
  l.conv("conv1", in, out, 3);
  l.norm("norm2", out);
  l.conv("conv2", out, out, 3);
  if (in != out) l.conv("nin_shortcut", in, out, 1);
}

void vae_mid(const Layout& l, int c) {
  resnet_block(l.sub("block_1"), c, c);
  l.sub("attn_1").norm("norm", c);
  for (const char* proj : {"q", "k", "v", "proj_out"}) l.sub("attn_1").conv(proj, c, c, 1);
  resnet_block(l.sub("block_2"), c, c);
}

void vae_encoder(const Layout& l, const VaeConfig& config) {
  const std::vector<int>& ch = config.block_out_channels;
  l.conv("conv_in", config.image_channels, ch.front(), 3);
  int in = ch.front();
  for (int i = 0; i < int(ch.size()); ++i) {
    const Layout level = l.sub("down", i);
    const int out = ch[size_t(i)];
    for (int j = 0; j < config.layers_per_block; ++j, in = out) resnet_block(level.sub("block", j), in, out);
    if (i + 1 < int(ch.size())) level.conv("downsample.conv", out, out, 3);
  }
  vae_mid(l.sub("mid"), ch.back());
  l.norm("norm_out", ch.back());
  l.conv("conv_out", ch.back(), 2 * config.latent_channels, 3);
}

void vae_decoder(const Layout& l, const VaeConfig& config) {
  const std::vector<int>& ch = config.block_out_channels;
  l.conv("conv_in", config.latent_channels, ch.back(), 3);
  vae_mid(l.sub("mid"), ch.back());
  int in = ch.back();
  for (int i = int(ch.size()); i-- > 0;) {  // from the deepest level up, as the pass runs
    const Layout level = l.sub("up", i);
    const int out = ch[size_t(i)];
    for (int j = 0; j <= config.layers_per_block; ++j, in = out) resnet_block(level.sub("block", j), in, out);
    if (i > 0) level.conv("upsample.conv", out, out, 3);
  }
  l.norm("norm_out", ch.front());
  l.conv("conv_out", ch.front(), config.image_channels, 3);
}

}  // namespace

std::vector<TensorSpec> vae_layout(const VaeConfig& config) {
  std::vector<TensorSpec> specs;
  const Layout l(specs);
  vae_encoder(l.sub("encoder"), config);
  vae_decoder(l.sub("decoder"), config);
  l.conv("quant_conv", 2 * config.latent_channels, 2 * config.latent_channels, 1);
  l.conv("post_quant_conv", config.latent_channels, config.latent_channels, 1);
  return specs;
}

// ---- CLIP text model (clip_text_model.cpp) ----

std::vector<TensorSpec> clip_text_layout(const ClipTextConfig& c) {
  std::vector<TensorSpec> specs;
  const Layout l(specs);
  const Layout tm = l.sub("text_model");
  tm.add("embeddings.token_embedding.weight", {c.vocab, c.hidden}, TensorRole::Embedding);
  tm.add("embeddings.position_embedding.weight", {c.positions, c.hidden}, TensorRole::Embedding);
  for (int i = 0; i < c.layers; ++i) {
    const Layout layer = tm.sub("encoder.layers", i);
    layer.norm("layer_norm1", c.hidden);
    layer.norm("layer_norm2", c.hidden);
    for (const char* proj : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"})
      layer.linear(proj, c.hidden, c.hidden);
    layer.linear("mlp.fc1", c.hidden, c.intermediate);
    layer.linear("mlp.fc2", c.intermediate, c.hidden);
  }
  tm.norm("final_layer_norm", c.hidden);
  if (c.projection_dim > 0) l.linear("text_projection", c.hidden, c.projection_dim, false);
  return specs;
}

}  // namespace diffuse
