#include "models/clip_text_model.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"


namespace diffuse {

constexpr int kEndOfText = 49407;

ClipTextConfig ClipTextConfig::detect(const Weights& w) {
  ClipTextConfig c;
  const Shape tok = w.shape("text_model.embeddings.token_embedding.weight");
  c.vocab = int(tok.at(0));
  c.hidden = int(tok.at(1));
  c.positions = int(w.shape("text_model.embeddings.position_embedding.weight").at(0));
  c.heads = std::max(1, c.hidden / 64);
  c.layers = 0;
  while (w.has("text_model.encoder.layers." + std::to_string(c.layers) + ".layer_norm1.weight")) ++c.layers;
  if (c.layers < 2) throw Error("text encoder has " + std::to_string(c.layers) + " layers; at least 2 are needed");
  c.intermediate = int(w.shape("text_model.encoder.layers.0.mlp.fc1.weight").at(0));
  c.projection_dim = w.has("text_projection.weight") ? int(w.shape("text_projection.weight").at(0)) : 0;
  return c;
}

ClipTextModel::ClipTextModel(const Weights& w, const ClipTextConfig& config) : config_(config) {
  const int c = config.hidden;
  const Weights tm = w.sub("text_model");
  token_embedding = tm.get("embeddings.token_embedding.weight", {config.vocab, c});
  position_embedding = tm.get("embeddings.position_embedding.weight", {config.positions, c});
  for (int i = 0; i < config.layers; ++i) {
    const Weights l = tm.sub("encoder.layers." + std::to_string(i));
    layers_.push_back({LayerNorm::load(l.sub("layer_norm1"), c), LayerNorm::load(l.sub("layer_norm2"), c),
                       Linear::load(l.sub("self_attn.q_proj"), c, c), Linear::load(l.sub("self_attn.k_proj"), c, c),
                       Linear::load(l.sub("self_attn.v_proj"), c, c), Linear::load(l.sub("self_attn.out_proj"), c, c),
                       Linear::load(l.sub("mlp.fc1"), c, config.intermediate),
                       Linear::load(l.sub("mlp.fc2"), config.intermediate, c)});
    layers_.back().layer_norm1.feeds(layers_.back().q_proj);  // and k_proj, v_proj
    layers_.back().layer_norm2.feeds(layers_.back().fc1);
  }
  final_layer_norm_ = LayerNorm::load(tm.sub("final_layer_norm"), c);
  if (config.projection_dim > 0) text_projection_ = Linear::load(w.sub("text_projection"), c, config.projection_dim, false);
}

Tensor ClipTextModel::layer_forward(const Layer& l, const Tensor& x) const {
  Tensor h = l.layer_norm1(x);
  Tensor a = l.out_proj(attention(l.q_proj(h), l.k_proj(h), l.v_proj(h), config_.heads, /*causal=*/true,
                                    l.q_proj.kernel.precision()));
  ops::add_(a, x);
  Tensor m = l.fc1(l.layer_norm2(a));
  config_.quick_gelu ? ops::quick_gelu_(m) : ops::gelu_(m);
  Tensor out = l.fc2(m);
  ops::add_(out, a);
  return out;
}

ClipTextOutput ClipTextModel::encode(const std::vector<int>& ids, int batch, int skip) const {
  const int64_t t = int64_t(ids.size()) / batch, c = config_.hidden;
  if (skip < 1 || skip > config_.layers)
    throw Error("clip skip " + std::to_string(skip) + " is outside 1.." + std::to_string(config_.layers) +
                ", the layers of this text encoder");
  if (t * batch != int64_t(ids.size()) || t > config_.positions)
    throw Error("text encoder: " + std::to_string(ids.size()) + " token ids do not form " + std::to_string(batch) +
                " sequences of at most " + std::to_string(config_.positions));
  Tensor x({batch, t, c});
  for (int64_t i = 0; i < batch * t; ++i) {
    const int id = ids[size_t(i)];
    if (id < 0 || id >= config_.vocab) throw Error("token id " + std::to_string(id) + " outside the vocabulary");
    for (int64_t j = 0; j < c; ++j)
      x.data()[i * c + j] = token_embedding[size_t(id * c + j)] + position_embedding[size_t((i % t) * c + j)];
  }

  ClipTextOutput out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    x = layer_forward(layers_[i], x);
    if (i + size_t(skip) == layers_.size()) out.hidden = x;
  }
  out.hidden_final_norm = final_layer_norm_(out.hidden);
  out.last_hidden_state = final_layer_norm_(x);

  // The pooled token is the end-of-text one: the first EOS, whatever the padding token is.
  out.pooled = Tensor({batch, c});
  for (int b = 0; b < batch; ++b) {
    const auto row = ids.begin() + b * t;
    const int64_t eos = std::find(row, row + t, kEndOfText) - row;
    const int64_t pos = eos < t ? eos : t - 1;
    std::memcpy(out.pooled.data() + b * c, out.last_hidden_state.data() + (b * t + pos) * c, size_t(c) * sizeof(float));
  }
  if (config_.projection_dim > 0) out.text_embeds = text_projection_(out.pooled);
  return out;
}

}  // namespace diffuse
