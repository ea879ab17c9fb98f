#pragma once
#include <vector>

#include "models/layers.h"

namespace diffuse {

struct ClipTextConfig {
  int hidden = 768, layers = 12, heads = 12, intermediate = 3072, vocab = 49408, positions = 77;
  int projection_dim = 0;  // 0: no text_projection
  bool quick_gelu = true;  // OpenAI CLIP (SD1, SDXL encoder 1); gelu for OpenCLIP (SD2, SDXL encoder 2)
  int pad_id = 49407;      // 0 for the OpenCLIP tokenizers

  // From the tensors alone: sizes from shapes, heads = hidden / 64 (true of every released CLIP text model).
  static ClipTextConfig detect(const Weights& w);
};

struct ClipTextOutput {
  Tensor last_hidden_state;  // [B,T,C], after final_layer_norm
  Tensor hidden;             // hidden_states[-skip], no final norm (SDXL context: skip 2)
  Tensor hidden_final_norm;  // hidden_states[-skip] then final_layer_norm (SD1: skip 1; SD2: skip 2)
  Tensor pooled;             // [B,C], final-normed state at the first end-of-text token
  Tensor text_embeds;        // [B,P], pooled @ text_projection (when the model has one)
};

// CLIPTextModel as transformers writes it, named after its tensors (text_model.*).
class ClipTextModel {
 public:
  ClipTextModel(const Weights& w, const ClipTextConfig& config);
  const ClipTextConfig& config() const { return config_; }
  // ids: batch x 77 token ids, row-major. `skip` picks `hidden` counting from the last layer's
  // output (1) back, as A1111's "Clip skip": 2 is the penultimate layer's. Error outside [1, layers].
  ClipTextOutput encode(const std::vector<int>& ids, int batch, int skip = 2) const;

 private:
  struct Layer {
    LayerNorm layer_norm1, layer_norm2;
    Linear q_proj, k_proj, v_proj, out_proj, fc1, fc2;
  };
  Tensor layer_forward(const Layer& layer, const Tensor& x) const;

  ClipTextConfig config_;
  std::vector<float> token_embedding, position_embedding;
  std::vector<Layer> layers_;
  LayerNorm final_layer_norm_;
  Linear text_projection_;
};

}  // namespace diffuse
