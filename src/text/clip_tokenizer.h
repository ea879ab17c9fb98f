#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace diffuse {

// CLIP's byte-level BPE, id for id what transformers' CLIPTokenizer gives with ftfy installed:
// the ids a text encoder was trained on, so any difference changes the image.
// Immutable once built; safe to share between threads.
class ClipTokenizer {
 public:
  static const ClipTokenizer& builtin();  // the embedded vocabulary, built once
  // A diffusers tokenizer/ folder's files; throws Error naming the file on problems.
  static ClipTokenizer from_files(const std::string& vocab_json, const std::string& merges_txt);

  // No BOS/EOS, no truncation. Throws Error for text over kMaxPromptTextBytes (text_cleaner.h) or
  // with a word (a run of letters, or of other non-space characters) over 16384 bytes.
  std::vector<int> encode(std::string_view text) const;
  // [kBos] + ids[:length-2] + [kEos], padded to `length` with pad_id (49407 for SD1 and
  // SDXL's first encoder, 0 for SD2 and SDXL's second).
  std::vector<int> encode_padded(std::string_view text, int pad_id, int length = 77) const;

  static constexpr int kBos = 49406, kEos = 49407;

 private:
  using Vocab = std::unordered_map<std::string, int>;
  using MergeList = std::vector<std::pair<std::string, std::string>>;
  // The names are what errors quote: the files, or words for the embedded vocabulary.
  ClipTokenizer(const Vocab& vocab, const MergeList& merges, const std::string& vocab_name,
                const std::string& merges_name);

  void encode_piece(std::string_view text, std::vector<int>& ids) const;
  void encode_word(std::u32string_view word, std::vector<int>& ids) const;
  void apply_bpe(std::vector<int>& symbols) const;

  struct Rule {
    int rank;    // lower merges first
    int merged;  // id of the joined token
  };
  std::array<int, 256> byte_id_{};      // a byte inside a word
  std::array<int, 256> last_byte_id_{};  // a byte ending a word: the token with "</w>"
  std::unordered_map<uint64_t, Rule> rules_;  // keyed on the pair of ids it joins
};

}  // namespace diffuse
