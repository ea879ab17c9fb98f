#include "models/unet_flops.h"

namespace diffuse {
namespace {

// Walks the UNet the way UNet::forward runs it, at the current resolution.
class Counter {
 public:
  Counter(const UNetConfig& config, double pixels, int tokens) : c_(config), pixels_(pixels), tokens_(tokens) {}

  void conv(int in, int out, int kernel) { macs_.conv += pixels_ * kernel * kernel * in * out; }
  void linear(double rows, int in, int out) { macs_.linear += rows * in * out; }

  void res_block(int in, int out) {
    conv(in, out, 3);
    linear(1, c_.time_embed_dim(), out);
    conv(out, out, 3);
    if (in != out) conv(in, out, 1);
  }

  void spatial_transformer(int ch, int depth) {
    linear(pixels_, ch, ch);  // proj_in
    for (int d = 0; d < depth; ++d) {
      linear(pixels_, ch, 4 * ch);                 // attn1 q, k, v, out
      macs_.attention += 2 * pixels_ * pixels_ * ch;  // q k^T and scores x v, over all heads
      linear(pixels_, ch, 2 * ch);                 // attn2 q, out
      linear(2 * tokens_, c_.context_dim, ch);     // attn2 k, v of the text tokens
      macs_.attention += 2 * pixels_ * tokens_ * ch;
      linear(pixels_, ch, 8 * ch);                 // ff.net.0.proj (GEGLU)
      linear(pixels_, 4 * ch, ch);                 // ff.net.2
    }
    linear(pixels_, ch, ch);  // proj_out
  }

  void downsample(int ch) {  // stride 2: a quarter of the output positions
    pixels_ /= 4;
    conv(ch, ch, 3);
  }
  void upsample(int ch) {  // nearest 2x, then the conv at the new size
    pixels_ *= 4;
    conv(ch, ch, 3);
  }

  UNetMacs result() const { return macs_; }

 private:
  const UNetConfig& c_;
  double pixels_;
  int tokens_;
  UNetMacs macs_;
};

}  // namespace

UNetMacs unet_macs(const UNetConfig& c, int latent_h, int latent_w, int context_tokens) {
  Counter count(c, double(latent_h) * latent_w, context_tokens);
  const int mc = c.channels.front(), emb = c.time_embed_dim(), levels = int(c.channels.size());
  count.linear(1, mc, emb);
  count.linear(1, emb, emb);
  if (c.adm_in_channels > 0) {
    count.linear(1, c.adm_in_channels, emb);
    count.linear(1, emb, emb);
  }
  count.conv(c.in_channels, mc, 3);

  std::vector<int> skips{mc};
  int ch = mc;
  for (int level = 0; level < levels; ++level) {
    const int out = c.channels[size_t(level)], depth = c.depth[size_t(level)];
    for (int j = 0; j < c.layers_per_block; ++j) {
      count.res_block(ch, out);
      if (depth > 0) count.spatial_transformer(out, depth);
      skips.push_back(ch = out);
    }
    if (level + 1 < levels) {
      count.downsample(ch);
      skips.push_back(ch);
    }
  }

  count.res_block(ch, ch);
  count.spatial_transformer(ch, c.mid_depth);
  count.res_block(ch, ch);

  for (int level = levels - 1; level >= 0; --level) {
    const int out = c.channels[size_t(level)], depth = c.depth[size_t(level)];
    for (int j = 0; j <= c.layers_per_block; ++j) {
      count.res_block(ch + skips.back(), out);
      skips.pop_back();
      ch = out;
      if (depth > 0) count.spatial_transformer(out, depth);
      if (level > 0 && j == c.layers_per_block) count.upsample(ch);
    }
  }
  count.conv(ch, c.out_channels, 3);
  return count.result();
}

}  // namespace diffuse
