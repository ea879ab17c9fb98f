// The CLIP tokenizer with its text cleaning on arbitrary bytes. Beyond not crashing: every id is
// inside the 49408-token vocabulary, a padded encoding is BOS, the first ids, EOS and padding, the
// cleaned text is folded and stripped, and UTF-8 decoding and encoding are inverses on what they
// produce.
#include <algorithm>

#include "fuzz_input.h"
#include "text/clip_tokenizer.h"
#include "text/text_cleaner.h"

using namespace diffuse;

namespace {

constexpr int kVocabularySize = 49408;

void check_cleaning(std::string_view text) {
  const std::u32string decoded = decode_utf8(text);
  const std::string utf8 = encode_utf8(decoded);
  FUZZ_CHECK(decode_utf8(utf8) == decoded);  // malformed bytes became U+FFFD once and for all
  const std::u32string clean = clean_clip_text(text);
  if (clean.empty()) return;
  FUZZ_CHECK(!is_space(clean.front()) && !is_space(clean.back()));
  for (size_t i = 1; i < clean.size(); ++i) FUZZ_CHECK(!(clean[i] == U' ' && clean[i - 1] == U' '));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::text(data, size);
  check_cleaning(text);
  const ClipTokenizer& tokenizer = ClipTokenizer::builtin();
  std::vector<int> ids;
  try {
    ids = tokenizer.encode(text);
  } catch (const Error& e) {
    fuzz::check_refusal(e);
    return 0;
  }
  FUZZ_CHECK(std::ranges::all_of(ids, [](int id) { return id >= 0 && id < kVocabularySize; }));
  const std::vector<int> padded = tokenizer.encode_padded(text, 0, 77);
  FUZZ_CHECK(padded.size() == 77 && padded[0] == ClipTokenizer::kBos);
  const size_t kept = std::min<size_t>(ids.size(), 75);
  FUZZ_CHECK(std::equal(ids.begin(), ids.begin() + std::ptrdiff_t(kept), padded.begin() + 1));
  FUZZ_CHECK(padded[kept + 1] == ClipTokenizer::kEos);
  FUZZ_CHECK(std::all_of(padded.begin() + std::ptrdiff_t(kept) + 2, padded.end(), [](int id) { return id == 0; }));
  return 0;
}
