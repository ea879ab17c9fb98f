#include "pipeline/prompt_conditioning.h"

#include <algorithm>
#include <cstring>

#include "core/ops.h"

namespace diffuse {
namespace {

constexpr size_t kChunkTokens = 75;     // between a chunk's BOS and EOS
constexpr size_t kCommaBacktrack = 20;  // A1111's comma_padding_backtrack setting, at its default
constexpr size_t kChunkLength = kChunkTokens + 2;

// Ends the chunk being filled: padded with EOS (weight 1) to 75 tokens, then BOS and EOS around it.
void close_chunk(std::vector<PromptChunk>& chunks, std::vector<int>& ids, std::vector<float>& weights) {
  PromptChunk chunk;
  chunk.ids.push_back(ClipTokenizer::kBos);
  chunk.ids.insert(chunk.ids.end(), ids.begin(), ids.end());
  chunk.ids.resize(kChunkLength, ClipTokenizer::kEos);
  chunk.weights.push_back(1.0f);
  chunk.weights.insert(chunk.weights.end(), weights.begin(), weights.end());
  chunk.weights.resize(kChunkLength, 1.0f);
  chunks.push_back(std::move(chunk));
  ids.clear();
  weights.clear();
}

// One prompt's chunks: A1111's, or with weighting off the single truncated chunk diffusers encodes.
std::vector<PromptChunk> chunks_of(const std::string& prompt, const ClipTokenizer& tokenizer, bool weighting) {
  if (weighting) return prompt_chunks(parse_prompt_weights(prompt), tokenizer);
  return {{tokenizer.encode_padded(prompt, ClipTokenizer::kEos, int(kChunkLength)), std::vector<float>(kChunkLength, 1.0f)}};
}

// A1111's "Original" emphasis on each 77-token row of z [rows, 77, C]: every token's output times
// its weight, then the whole row scaled back to the mean it had. A row whose weights are all 1
// is left as it is, which is what that arithmetic gives.
void apply_weights(Tensor& z, const std::vector<float>& weights) {
  const int64_t rows = z.dim(0), tokens = z.dim(1), channels = z.dim(2), n = tokens * channels;
  for (int64_t r = 0; r < rows; ++r) {
    const float* w = weights.data() + r * tokens;
    if (std::all_of(w, w + tokens, [](float v) { return v == 1.0f; })) continue;
    float* row = z.data() + r * n;
    double before = 0, after = 0;
    for (int64_t i = 0; i < n; ++i) before += row[i];
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t c = 0; c < channels; ++c) row[t * channels + c] *= w[t];
    for (int64_t i = 0; i < n; ++i) after += row[i];
    const auto restore = float(before / after);
    for (int64_t i = 0; i < n; ++i) row[i] *= restore;
  }
}

}  // namespace

std::vector<PromptChunk> prompt_chunks(const std::vector<WeightedText>& runs, const ClipTokenizer& tokenizer) {
  const int comma = tokenizer.encode(",").at(0);
  std::vector<PromptChunk> chunks;
  std::vector<int> ids;
  std::vector<float> weights;
  std::ptrdiff_t last_comma = -1;  // index in ids of the chunk's last comma
  for (const WeightedText& run : runs) {
    if (is_break(run)) {
      close_chunk(chunks, ids, weights);
      last_comma = -1;
      continue;
    }
    for (const int token : tokenizer.encode(run.text)) {
      if (token == comma) {
        last_comma = std::ptrdiff_t(ids.size());
      } else if (ids.size() == kChunkTokens && last_comma >= 0 &&
                 kChunkTokens - size_t(last_comma) <= kCommaBacktrack) {
        // The words after the last comma move to the next chunk rather than being split from it.
        const auto cut = size_t(last_comma) + 1;
        std::vector<int> moved_ids(ids.begin() + std::ptrdiff_t(cut), ids.end());
        std::vector<float> moved_weights(weights.begin() + std::ptrdiff_t(cut), weights.end());
        ids.resize(cut);
        weights.resize(cut);
        close_chunk(chunks, ids, weights);
        ids = std::move(moved_ids);
        weights = std::move(moved_weights);
        last_comma = -1;
      }
      if (ids.size() == kChunkTokens) {
        close_chunk(chunks, ids, weights);
        last_comma = -1;
      }
      ids.push_back(token);
      weights.push_back(float(run.weight));
    }
  }
  if (!ids.empty() || chunks.empty()) close_chunk(chunks, ids, weights);
  return chunks;
}

Conditioning encode_prompts(Family family, const std::vector<ClipTextModel>& encoders,
                            const std::vector<const ClipTokenizer*>& tokenizers, const std::vector<std::string>& prompts,
                            const PromptOptions& options) {
  const int skip = options.clip_skip > 0 ? options.clip_skip : family == Family::SD1 ? 1 : 2;
  const auto batch = int64_t(prompts.size());
  // Each encoder's chunks of each prompt (its own tokenizer), and the most chunks any has.
  std::vector<std::vector<std::vector<PromptChunk>>> chunks(encoders.size());
  size_t count = 1;
  for (size_t e = 0; e < encoders.size(); ++e)
    for (const std::string& prompt : prompts) {
      chunks[e].push_back(chunks_of(prompt, *tokenizers[e], options.weighting));
      count = std::max(count, chunks[e].back().size());
    }

  Conditioning out;
  for (size_t e = 0; e < encoders.size(); ++e) {
    const PromptChunk empty = chunks_of("", *tokenizers[e], false).front();
    const int pad = encoders[e].config().pad_id;
    // Rows prompt-major, chunk-minor: [batch x count, 77, C] is then [batch, count x 77, C] as it lies.
    std::vector<int> ids;
    std::vector<float> weights;
    for (const std::vector<PromptChunk>& prompt : chunks[e])
      for (size_t k = 0; k < count; ++k) {
        const PromptChunk& chunk = k < prompt.size() ? prompt[k] : empty;
        // After the first EOS the OpenCLIP encoders (pad 0) see padding, as A1111's process_tokens writes it.
        const auto eos = std::find(chunk.ids.begin(), chunk.ids.end(), ClipTokenizer::kEos);
        ids.insert(ids.end(), chunk.ids.begin(), eos + 1);
        ids.resize(ids.size() + size_t(chunk.ids.end() - eos - 1), pad);
        weights.insert(weights.end(), chunk.weights.begin(), chunk.weights.end());
      }
    const ClipTextOutput encoded = encoders[e].encode(ids, int(batch * int64_t(count)), skip);
    Tensor z = family == Family::SDXL ? encoded.hidden : encoded.hidden_final_norm;
    apply_weights(z, weights);
    z = z.reshape({batch, int64_t(count * kChunkLength), z.dim(2)});
    out.context = e == 0 ? z : ops::concat_last(out.context, z);
    if (family == Family::SDXL && e == 1) {
      const int64_t dim = encoded.text_embeds.dim(1);
      out.pooled = Tensor({batch, dim});
      for (int64_t p = 0; p < batch; ++p)
        std::memcpy(out.pooled.data() + p * dim, encoded.text_embeds.data() + p * int64_t(count) * dim,
                    size_t(dim) * sizeof(float));
    }
  }
  return out;
}

}  // namespace diffuse
