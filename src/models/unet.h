#pragma once
#include <optional>
#include <vector>

#include "models/unet_blocks.h"

namespace diffuse {

struct UNetConfig {
  int in_channels = 4, out_channels = 4;
  std::vector<int> channels;      // per level (block_out_channels)
  std::vector<int> depth;         // transformer blocks per level; 0 = no attention at that level
  int mid_depth = 1;
  int layers_per_block = 2;
  int context_dim = 768;
  int fixed_heads = 8;            // SD1: 8 heads at every level; 0 = heads of size 64 (SD2, SDXL)
  int adm_in_channels = 0;        // SDXL: pooled text + 6 micro-conditioning embeddings
  int addition_time_embed_dim = 0;

  int heads(int channels_at_level) const { return fixed_heads > 0 ? fixed_heads : channels_at_level / 64; }
  int time_embed_dim() const { return 4 * channels.front(); }
  // Every size from tensor names and shapes. `pooled_dim` (SDXL) splits adm_in_channels into
  // the pooled text embedding and 6 time-id embeddings.
  static UNetConfig detect(const Weights& w, int pooled_dim = 0);
};

// Extra conditioning of SDXL-style UNets (label_emb).
struct AddedConditions {
  Tensor text_embeds;  // [N, pooled_dim]
  Tensor time_ids;     // [N, 6]: orig_h, orig_w, crop_top, crop_left, target_h, target_w
};

// UNetModel from ldm/modules/diffusionmodules/openaimodel.py, as named in the checkpoint.
class UNet {
 public:
  UNet(const Weights& w, const UNetConfig& config);
  const UNetConfig& config() const { return config_; }

  // x: [N,C,h,w] latents, t: one timestep per item, context: [N,T,context_dim]. Returns [N,C,h,w].
  Tensor forward(const Tensor& x, const std::vector<float>& t, const Tensor& context,
                 const AddedConditions* added = nullptr) const;

 private:
  // One entry of input_blocks / output_blocks: a ResBlock, maybe a SpatialTransformer, and
  // a resampler closing the level.
  struct Block {
    std::optional<ResBlock> res;
    std::optional<SpatialTransformer> attn;
    std::optional<Conv2d> downsample;  // input_blocks.N.0.op (stride 2)
    std::optional<Upsample> upsample;  // output_blocks.N.{1|2}.conv
  };
  Tensor time_embedding(const std::vector<float>& t, const AddedConditions* added) const;
  static Tensor run_block(const Block& b, Tensor x, const Tensor& emb_silu, const Tensor& context);

  UNetConfig config_;
  Linear time_embed_0, time_embed_2;
  std::optional<Linear> label_emb_0, label_emb_2;
  Conv2d conv_in;  // input_blocks.0.0
  std::vector<Block> input_blocks, output_blocks;
  ResBlock middle_res_1, middle_res_2;
  SpatialTransformer middle_attn;
  GroupNorm out_norm;  // out.0
  Conv2d out_conv;     // out.2
};

// diffusers' get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0) in fp32: [cos | sin].
Tensor timestep_embedding(const std::vector<float>& t, int dim);

}  // namespace diffuse
