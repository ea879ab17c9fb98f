#include "models/unet.h"

#include <cmath>

#include "core/error.h"

namespace diffuse {

static std::string block_name(const char* kind, int index, int part) {
  return std::string(kind) + "." + std::to_string(index) + "." + std::to_string(part);
}

UNetConfig UNetConfig::detect(const Weights& w, int pooled_dim) {
  UNetConfig c;
  const Shape conv_in = w.shape("input_blocks.0.0.weight");
  c.in_channels = int(conv_in.at(1));
  c.out_channels = int(w.shape("out.2.weight").at(0));

  // input_blocks after conv_in: layers_per_block ResBlocks per level, a downsampler between levels.
  int blocks = 0, downsamples = 0;
  for (int i = 1;; ++i, ++blocks) {
    const Weights b = w.sub(block_name("input_blocks", i, 0));
    if (b.has("op.weight"))
      ++downsamples;
    else if (!b.has("in_layers.0.weight"))
      break;
  }
  const int levels = downsamples + 1;
  if (blocks == 0 || (blocks - downsamples) % levels != 0) throw Error("unet: cannot make out its levels from input_blocks");
  c.layers_per_block = (blocks - downsamples) / levels;
  for (int level = 0; level < levels; ++level) {
    const int first = 1 + level * (c.layers_per_block + 1);
    const Weights res = w.sub(block_name("input_blocks", first, 0));
    c.channels.push_back(int(res.shape("out_layers.3.weight").at(0)));
    int depth = 0;
    const Weights attn = w.sub(block_name("input_blocks", first, 1));
    while (attn.has("transformer_blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
    c.depth.push_back(depth);
    if (depth > 0) {
      c.context_dim = int(attn.shape("transformer_blocks.0.attn2.to_k.weight").at(1));
      c.fixed_heads = attn.shape("proj_in.weight").size() == 4 ? 8 : 0;  // SD1's conv projections go with 8 heads
    }
  }
  c.mid_depth = 0;
  while (w.has("middle_block.1.transformer_blocks." + std::to_string(c.mid_depth) + ".norm1.weight")) ++c.mid_depth;

  if (w.has("label_emb.0.0.weight")) {
    c.adm_in_channels = int(w.shape("label_emb.0.0.weight").at(1));
    if (pooled_dim <= 0 || (c.adm_in_channels - pooled_dim) % 6 != 0)
      throw Error("unet: label_emb takes " + std::to_string(c.adm_in_channels) +
                  " inputs, which does not fit a pooled text embedding of " + std::to_string(pooled_dim) + " + 6 time ids");
    c.addition_time_embed_dim = (c.adm_in_channels - pooled_dim) / 6;
  }
  return c;
}

Tensor timestep_embedding(const std::vector<float>& t, int dim) {
  const int half = dim / 2;
  Tensor emb({int64_t(t.size()), dim});
  for (size_t n = 0; n < t.size(); ++n)
    for (int i = 0; i < half; ++i) {
      const float exponent = float(-std::log(10000.0)) * float(i) / float(half);  // fp32, as diffusers
      const float arg = t[n] * std::exp(exponent);
      emb.data()[n * size_t(dim) + size_t(i)] = std::cos(arg);
      emb.data()[n * size_t(dim) + size_t(half + i)] = std::sin(arg);
    }
  return emb;
}

UNet::UNet(const Weights& w, const UNetConfig& c) : config_(c) {
  const int mc = c.channels.front(), emb = c.time_embed_dim();
  time_embed_0 = Linear::load(w.sub("time_embed.0"), mc, emb);
  time_embed_2 = Linear::load(w.sub("time_embed.2"), emb, emb);
  if (c.adm_in_channels > 0) {
    label_emb_0 = Linear::load(w.sub("label_emb.0.0"), c.adm_in_channels, emb);
    label_emb_2 = Linear::load(w.sub("label_emb.0.2"), emb, emb);
  }
  conv_in = Conv2d::load(w.sub("input_blocks.0.0"), c.in_channels, mc, 3);

  const int levels = int(c.channels.size());
  std::vector<int> skip_channels{mc};
  int ch = mc, index = 1;
  for (int level = 0; level < levels; ++level) {
    const int out = c.channels[size_t(level)], depth = c.depth[size_t(level)];
    for (int j = 0; j < c.layers_per_block; ++j, ++index) {
      Block b;
      b.res = ResBlock::load(w.sub(block_name("input_blocks", index, 0)), ch, out, emb);
      if (depth > 0)
        b.attn = SpatialTransformer::load(w.sub(block_name("input_blocks", index, 1)), out, c.context_dim,
                                          c.heads(out), depth);
      input_blocks.push_back(std::move(b));
      ch = out;
      skip_channels.push_back(ch);
    }
    if (level + 1 < levels) {
      Block b;
      b.downsample = Conv2d::load(w.sub(block_name("input_blocks", index, 0) + ".op"), ch, ch, 3, /*stride=*/2);
      input_blocks.push_back(std::move(b));
      skip_channels.push_back(ch);
      ++index;
    }
  }

  middle_res_1 = ResBlock::load(w.sub("middle_block.0"), ch, ch, emb);
  middle_attn = SpatialTransformer::load(w.sub("middle_block.1"), ch, c.context_dim, c.heads(ch), c.mid_depth);
  middle_res_2 = ResBlock::load(w.sub("middle_block.2"), ch, ch, emb);

  index = 0;
  for (int level = levels - 1; level >= 0; --level) {
    const int out = c.channels[size_t(level)], depth = c.depth[size_t(level)];
    for (int j = 0; j <= c.layers_per_block; ++j, ++index) {
      Block b;
      const int skip = skip_channels.back();
      skip_channels.pop_back();
      b.res = ResBlock::load(w.sub(block_name("output_blocks", index, 0)), ch + skip, out, emb);
      ch = out;
      if (depth > 0)
        b.attn = SpatialTransformer::load(w.sub(block_name("output_blocks", index, 1)), out, c.context_dim,
                                          c.heads(out), depth);
      if (level > 0 && j == c.layers_per_block)
        b.upsample = Upsample{Conv2d::load(w.sub(block_name("output_blocks", index, depth > 0 ? 2 : 1) + ".conv"), ch, ch, 3)};
      output_blocks.push_back(std::move(b));
    }
  }
  out_norm = GroupNorm::load(w.sub("out.0"), ch);
  out_conv = Conv2d::load(w.sub("out.2"), ch, c.out_channels, 3);
  out_norm.feeds(out_conv);
}

Tensor UNet::time_embedding(const std::vector<float>& t, const AddedConditions* added) const {
  Tensor h = timestep_embedding(t, config_.channels.front());
  h = time_embed_0(h);
  ops::silu_(h);
  Tensor emb = time_embed_2(h);
  if (label_emb_0) {
    if (!added) throw Error("this UNet needs pooled text embeddings and time ids (SDXL conditioning)");
    const int64_t n = int64_t(t.size());
    std::vector<float> ids = added->time_ids.to_vector();
    Tensor time_ids = timestep_embedding(ids, config_.addition_time_embed_dim)
                          .reshape({n, 6 * int64_t(config_.addition_time_embed_dim)});
    Tensor a = (*label_emb_0)(ops::concat_last(added->text_embeds, time_ids));
    ops::silu_(a);
    ops::add_(emb, (*label_emb_2)(a));
  }
  ops::silu_(emb);  // every ResBlock's emb_layers begins with SiLU: apply it once
  return emb;
}

Tensor UNet::run_block(const Block& b, Tensor x, const Tensor& emb_silu, const Tensor& context) {
  if (b.res) x = (*b.res)(x, emb_silu);
  if (b.attn) x = (*b.attn)(x, context);
  if (b.downsample) x = (*b.downsample)(x);
  if (b.upsample) x = (*b.upsample)(x);
  return x;
}

Tensor UNet::forward(const Tensor& x_nchw, const std::vector<float>& t, const Tensor& context,
                     const AddedConditions* added) const {
  if (x_nchw.rank() != 4 || x_nchw.dim(1) != config_.in_channels || int64_t(t.size()) != x_nchw.dim(0))
    throw Error("unet: input " + shape_string(x_nchw.shape()) + " with " + std::to_string(t.size()) + " timesteps");
  const Tensor emb = time_embedding(t, added);

  Tensor h = conv_in(ops::nchw_to_nhwc(x_nchw));
  std::vector<Tensor> skips{h};
  for (const Block& b : input_blocks) {
    h = run_block(b, h, emb, context);
    skips.push_back(h);
  }

  h = middle_res_1(h, emb);
  h = middle_attn(h, context);
  h = middle_res_2(h, emb);

  for (const Block& b : output_blocks) {
    h = ops::concat_last(h, skips.back());
    skips.pop_back();
    h = run_block(b, h, emb, context);
  }
  return ops::nhwc_to_nchw(out_conv(out_norm(std::move(h), ops::Activation::SiLU)));
}

}  // namespace diffuse
