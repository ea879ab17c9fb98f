#include "text/clip_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/mapped_file.h"
#include "text/text_cleaner.h"

// CLIP's merges file, linked in by bpe_merges.S so that a single-file checkpoint needs no
// tokenizer folder beside it.
extern "C" const char diffuse_bpe_merges[];
extern "C" const char diffuse_bpe_merges_end[];

namespace diffuse {
namespace {

constexpr std::string_view kStartOfText = "<|startoftext|>";
constexpr std::string_view kEndOfText = "<|endoftext|>";

// CLIP's vocabulary has 49408 tokens whatever the merges file holds: 256 bytes, the same 256
// ending a word, this many merges and the two special tokens.
constexpr size_t kMergeCount = 49152 - 256 - 2;

// BPE takes time quadratic in a word's length: a word this long costs ~0.25 s. It is the server's
// cap on a whole prompt, so every prompt the server takes tokenizes; no real word comes near it.
constexpr size_t kMaxWordBytes = 16384;

using MergeList = std::vector<std::pair<std::string, std::string>>;
using Vocab = std::unordered_map<std::string, int>;

uint64_t pair_key(int left, int right) {
  return uint64_t(uint32_t(left)) << 32 | uint32_t(right);
}

// GPT-2's reversible byte-to-character map: printable Latin-1 bytes stand for themselves and
// the others move to U+0100 and up, so that no token holds whitespace or a control character.
bool stands_for_itself(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
}

struct ByteSymbol {
  uint8_t byte;
  std::string text;  // UTF-8 of the character standing for the byte
};

// In vocabulary order: the bytes standing for themselves come first.
std::vector<ByteSymbol> byte_symbols() {
  auto symbol = [](int byte, char32_t c) {
    return ByteSymbol{uint8_t(byte), encode_utf8({&c, 1})};
  };
  std::vector<ByteSymbol> out;
  for (int b = 0; b < 256; ++b)
    if (stands_for_itself(b)) out.push_back(symbol(b, char32_t(b)));
  char32_t moved = 0x100;
  for (int b = 0; b < 256; ++b)
    if (!stands_for_itself(b)) out.push_back(symbol(b, moved++));
  return out;
}

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  for (line = strip(line); !line.empty(); line = strip(line)) {
    size_t end = std::find_if(line.begin(), line.end(), is_ascii_space) - line.begin();
    fields.push_back(line.substr(0, end));
    line.remove_prefix(end);
  }
  return fields;
}

// As transformers reads the file: stripped, then lines 1 to kMergeCount (line 0 is the
// "#version" header), each a pair of tokens.
MergeList parse_merges(std::string_view text, const std::string& name) {
  MergeList merges;
  text = strip(text);
  for (size_t line_no = 1; !text.empty() && merges.size() < kMergeCount; ++line_no) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line_no == 1) continue;
    std::vector<std::string_view> fields = split_fields(line);
    if (fields.size() != 2)
      throw Error(name + ": line " + std::to_string(line_no) + ": expected two tokens");
    merges.emplace_back(fields[0], fields[1]);
  }
  return merges;
}

// The vocabulary transformers derives from the merges alone. A token that two merges both
// produce keeps the later id, as in the Python dict it builds.
Vocab vocab_from_merges(const MergeList& merges) {
  Vocab vocab;
  int next = 0;
  auto add = [&](std::string token) { vocab.insert_or_assign(std::move(token), next++); };
  std::vector<ByteSymbol> bytes = byte_symbols();
  for (const ByteSymbol& b : bytes) add(b.text);
  for (const ByteSymbol& b : bytes) add(b.text + "</w>");
  for (const auto& [left, right] : merges) add(left + right);
  add(std::string(kStartOfText));
  add(std::string(kEndOfText));
  return vocab;
}

Vocab parse_vocab(std::string_view text, const std::string& name) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) throw Error(name + ": not a JSON object mapping tokens to ids");
  Vocab vocab;
  for (const auto& [token, id] : json.items()) {
    if (!id.is_number_integer()) throw Error(name + ": token \"" + token + "\" has no integer id");
    vocab.emplace(token, id.get<int>());
  }
  return vocab;
}

std::string_view contents(const MappedFile& file) {
  return {reinterpret_cast<const char*>(file.data()), file.size()};
}

template <class Pred>
size_t run_length(std::u32string_view text, Pred pred) {
  return size_t(std::find_if_not(text.begin(), text.end(), pred) - text.begin());
}

bool is_symbol(char32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); }

// The length of CLIP's pre-tokenisation match at the start of `text`, 0 where none starts
// there (whitespace). The alternatives are tried in the regex's order, as its engine does:
// <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
size_t pre_token_length(std::u32string_view text) {
  static constexpr std::u32string_view kLiterals[] = {
      U"<|startoftext|>", U"<|endoftext|>", U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  for (std::u32string_view literal : kLiterals)
    if (text.starts_with(literal)) return literal.size();
  if (is_letter(text[0])) return run_length(text, is_letter);
  if (is_number(text[0])) return 1;
  return run_length(text, is_symbol);
}

// Joins each occurrence of (left, right), scanning left to right, so that in a run "a a a"
// the pair (a, a) takes the first two.
void join_all(std::vector<int>& symbols, int left, int right, int merged) {
  size_t out = 0;
  for (size_t i = 0; i < symbols.size(); ++i, ++out) {
    if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
      symbols[out] = merged;
      ++i;
    } else {
      symbols[out] = symbols[i];
    }
  }
  symbols.resize(out);
}

}  // namespace

ClipTokenizer::ClipTokenizer(const Vocab& vocab, const MergeList& merges,
                             const std::string& vocab_name, const std::string& merges_name) {
  auto id_of = [&](const std::string& token, auto&& needed_by) {
    auto it = vocab.find(token);
    if (it == vocab.end())
      throw Error(vocab_name + ": no token \"" + token + "\", needed by " + needed_by());
    return it->second;
  };
  for (const ByteSymbol& b : byte_symbols()) {
    auto needed_by = [&] { return "the byte " + std::to_string(b.byte); };
    byte_id_[b.byte] = id_of(b.text, needed_by);
    last_byte_id_[b.byte] = id_of(b.text + "</w>", needed_by);
  }
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto needed_by = [&] { return merges_name + " line " + std::to_string(rank + 2); };
    Rule rule{int(rank), id_of(left + right, needed_by)};
    // A repeated merge takes its later rank, as in the Python dict transformers builds.
    rules_.insert_or_assign(pair_key(id_of(left, needed_by), id_of(right, needed_by)), rule);
  }
  auto special = [] { return std::string("CLIP's special tokens"); };
  if (id_of(std::string(kStartOfText), special) != kBos ||
      id_of(std::string(kEndOfText), special) != kEos)
    throw Error(vocab_name + ": special tokens do not have CLIP's ids 49406 and 49407");
}

const ClipTokenizer& ClipTokenizer::builtin() {
  static const ClipTokenizer tokenizer = [] {
    const std::string name = "built-in CLIP merges";
    MergeList merges = parse_merges(
        std::string_view(diffuse_bpe_merges, size_t(diffuse_bpe_merges_end - diffuse_bpe_merges)),
        name);
    return ClipTokenizer(vocab_from_merges(merges), merges, "built-in CLIP vocabulary", name);
  }();
  return tokenizer;
}

ClipTokenizer ClipTokenizer::from_files(const std::string& vocab_json,
                                        const std::string& merges_txt) {
  auto vocab_file = MappedFile::open(vocab_json);
  auto merges_file = MappedFile::open(merges_txt);
  return ClipTokenizer(parse_vocab(contents(*vocab_file), vocab_json),
                       parse_merges(contents(*merges_file), merges_txt), vocab_json, merges_txt);
}

std::vector<int> ClipTokenizer::encode(std::string_view text) const {
  // transformers cuts the special tokens out of the raw text before anything else and cleans
  // the pieces between them separately, which matters to ftfy's "is this HTML" test.
  check_prompt_size(text);
  std::vector<int> ids;
  for (;;) {
    size_t start = text.find(kStartOfText);
    size_t end = text.find(kEndOfText);
    size_t at = std::min(start, end);
    encode_piece(text.substr(0, at), ids);
    if (at == std::string_view::npos) return ids;
    ids.push_back(at == start ? kBos : kEos);
    text.remove_prefix(at + (at == start ? kStartOfText.size() : kEndOfText.size()));
  }
}

std::vector<int> ClipTokenizer::encode_padded(std::string_view text, int pad_id, int length) const {
  if (length < 2)
    throw Error("a CLIP token sequence needs room for BOS and EOS; length " +
                std::to_string(length) + " is too short");
  std::vector<int> ids = encode(text);
  ids.resize(std::min(ids.size(), size_t(length - 2)));
  ids.insert(ids.begin(), kBos);
  ids.push_back(kEos);
  ids.resize(size_t(length), pad_id);
  return ids;
}

void ClipTokenizer::encode_piece(std::string_view piece, std::vector<int>& ids) const {
  std::u32string text = clean_clip_text(piece);
  for (std::u32string_view rest = text; !rest.empty();) {
    size_t n = pre_token_length(rest);
    if (n > 0) encode_word(rest.substr(0, n), ids);
    rest.remove_prefix(std::max<size_t>(n, 1));
  }
}

void ClipTokenizer::encode_word(std::u32string_view word, std::vector<int>& ids) const {
  // Cleaning can spell out a special token ("&lt;|endoftext|&gt;", capitals); it stays one.
  if (word == U"<|startoftext|>" || word == U"<|endoftext|>") {
    ids.push_back(word == U"<|startoftext|>" ? kBos : kEos);
    return;
  }
  std::string bytes = encode_utf8(word);
  if (bytes.size() > kMaxWordBytes)
    throw Error("prompt has a word of " + std::to_string(bytes.size()) + " bytes (\"" + bytes.substr(0, 16) +
                "...\"), longer than the " + std::to_string(kMaxWordBytes) + " the tokenizer takes");
  std::vector<int> symbols(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto byte = uint8_t(bytes[i]);
    symbols[i] = i + 1 < bytes.size() ? byte_id_[byte] : last_byte_id_[byte];
  }
  apply_bpe(symbols);
  ids.insert(ids.end(), symbols.begin(), symbols.end());
}

// Joins the adjacent pair whose merge was learnt first, everywhere in the word, and again,
// until no adjacent pair has a merge: CLIP's own order, which the ids depend on.
void ClipTokenizer::apply_bpe(std::vector<int>& symbols) const {
  while (symbols.size() > 1) {
    const Rule* best = nullptr;
    size_t at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = rules_.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != rules_.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        at = i;
      }
    }
    if (!best) return;
    join_all(symbols, symbols[at], symbols[at + 1], best->merged);
  }
}

}  // namespace diffuse
