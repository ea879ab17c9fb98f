#pragma once
// Text conditioning the way AUTOMATIC1111 builds it (modules/sd_hijack_clip.py with its default
// "Original" emphasis): the prompt's weighted runs (text/prompt_weights.h) tokenized and cut into
// chunks of 75 tokens, each chunk encoded on its own as [BOS] + 75 + [EOS], every token's output
// multiplied by its weight and the chunk's mean then restored, the chunks concatenated along the
// sequence. A prompt with no brackets and at most 75 tokens is one chunk with unit weights: the
// same ids, and so the same embeddings bit for bit, as diffusers' truncating encoder.
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/clip_text_model.h"
#include "pipeline/family.h"
#include "text/clip_tokenizer.h"
#include "text/prompt_weights.h"

namespace diffuse {

// Text conditioning for a batch of prompts.
struct Conditioning {
  Tensor context;  // [B, 77 x chunks, context_dim]
  Tensor pooled;   // [B, pooled_dim] (SDXL: from each prompt's first chunk, as A1111 and ComfyUI), else empty
};

struct PromptOptions {
  // false: the prompt read as diffusers reads it: brackets and BREAK are plain text and tokens
  // after the 75th are dropped.
  bool weighting = true;
  // The hidden state the context is read from, counted from the last layer as A1111's "Clip skip"
  // and sd.cpp's --clip-skip count (1: the last layer, 2: the one before); applied to every text
  // encoder of the model, with the family's final layer norm (SD1, SD2) or without it (SDXL).
  // 0: the family's own, 1 for SD1, 2 for SD2 and SDXL.
  int clip_skip = 0;
  bool operator==(const PromptOptions&) const = default;
};

// One of A1111's PromptChunks: 77 token ids ([BOS], 75 tokens padded with EOS, [EOS]) and the
// weight of each (1 for BOS, EOS and padding).
struct PromptChunk {
  std::vector<int> ids;
  std::vector<float> weights;
};

// A1111's tokenize_line: the runs' tokens in order, a new chunk at each BREAK and after 75
// tokens. A chunk that fills up within 20 tokens of its last comma ends after that comma and the
// tokens after it start the next chunk (A1111's comma_padding_backtrack = 20). Always at least one chunk.
std::vector<PromptChunk> prompt_chunks(const std::vector<WeightedText>& runs, const ClipTokenizer& tokenizer);

// The conditioning of a family's text encoders (tokenizers[i] feeds encoders[i]) for `prompts`.
// Prompts with fewer chunks than the longest are padded with the empty prompt's chunk, so
// negative and positive prompts line up (A1111's empty_chunk). Throws Error for a clip skip
// beyond the encoders' layers.
Conditioning encode_prompts(Family family, const std::vector<ClipTextModel>& encoders,
                            const std::vector<const ClipTokenizer*>& tokenizers, const std::vector<std::string>& prompts,
                            const PromptOptions& options);

}  // namespace diffuse
