#include "text/prompt_weights.h"

#include <charconv>

#include "core/error.h"
#include "text/text_cleaner.h"

namespace diffuse {
namespace {

constexpr double kRoundFactor = 1.1;        // ( )
constexpr double kSquareFactor = 1.0 / 1.1;  // [ ], as Python computes 1 / 1.1
constexpr std::u32string_view kBreak = U"BREAK";

// Python's \w for str patterns: letters, numbers and the underscore.
bool is_word(char32_t c) { return c == U'_' || is_letter(c) || is_number(c); }

bool is_special(char32_t c) { return c == U'\\' || c == U'(' || c == U')' || c == U'[' || c == U']' || c == U':'; }

// float() of the factor in "(text:factor)": A1111's pattern lets through text such as "1.2.3"
// or "." that Python then refuses.
double parse_factor(const std::string& text, const std::string& where) {
  const bool has_plus = !text.empty() && text[0] == '+';
  const char* begin = text.data() + (has_plus ? 1 : 0);
  const char* end = text.data() + text.size();
  double value = 0;
  const auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop != end)
    throw Error("prompt: the weight \"" + text + "\" in \"" + where + "\" is not a number");
  return value;
}

class Parser {
 public:
  explicit Parser(std::u32string_view prompt) : s_(prompt) {}

  std::vector<WeightedText> parse() {
    for (size_t i = 0; i < s_.size();) i = step(i);
    // Brackets still open: each multiplies everything after it, round ones first, in the
    // order they were opened (the order A1111 multiplies in, which the rounding depends on).
    for (size_t from : round_) multiply(from, kRoundFactor);
    for (size_t from : square_) multiply(from, kSquareFactor);
    if (out_.empty()) out_.push_back({"", 1.0});
    std::vector<WeightedText> merged{out_.front()};
    for (size_t i = 1; i < out_.size(); ++i) {
      if (out_[i].weight == merged.back().weight)
        merged.back().text += out_[i].text;
      else
        merged.push_back(out_[i]);
    }
    return merged;
  }

 private:
  // Reads the token at i (one alternative of A1111's re_attention) and returns where the next starts.
  size_t step(size_t i) {
    const char32_t c = s_[i];
    if (c == U'\\') {
      const bool escape = i + 1 < s_.size() && (s_[i + 1] == U'(' || s_[i + 1] == U')' || s_[i + 1] == U'[' ||
                                                s_[i + 1] == U']' || s_[i + 1] == U'\\');
      // A lone backslash stays in A1111's list as an empty run of weight 1.
      out_.push_back({escape ? encode_utf8(s_.substr(i + 1, 1)) : "", 1.0});
      return i + (escape ? 2 : 1);
    }
    if (c == U'(' || c == U'[') {
      (c == U'(' ? round_ : square_).push_back(out_.size());
      return i + 1;
    }
    if (c == U':') return colon(i);
    if (c == U')' || c == U']') {
      std::vector<size_t>& open = c == U')' ? round_ : square_;
      if (open.empty()) {
        plain(s_.substr(i, 1));
      } else {
        multiply(open.back(), c == U')' ? kRoundFactor : kSquareFactor);
        open.pop_back();
      }
      return i + 1;
    }
    size_t end = i;
    while (end < s_.size() && !is_special(s_[end])) ++end;
    plain(s_.substr(i, end - i));
    return end;
  }

  // ":" [spaces] [+-] digits-and-dots [spaces] ")" closes a round bracket with that factor;
  // without an open round bracket it is plain text, and so is a ":" that does not start one.
  size_t colon(size_t i) {
    size_t j = i + 1;
    while (j < s_.size() && is_space(s_[j])) ++j;
    const size_t number_begin = j;
    if (j < s_.size() && (s_[j] == U'+' || s_[j] == U'-')) ++j;
    const size_t digits_begin = j;
    while (j < s_.size() && (s_[j] == U'.' || (s_[j] >= U'0' && s_[j] <= U'9'))) ++j;
    const size_t number_end = j;
    while (j < s_.size() && is_space(s_[j])) ++j;
    if (number_end == digits_begin || j == s_.size() || s_[j] != U')') {
      plain(s_.substr(i, 1));
      return i + 1;
    }
    const std::u32string_view token = s_.substr(i, j + 1 - i);
    if (round_.empty()) {
      plain(token);
    } else {
      multiply(round_.back(), parse_factor(encode_utf8(s_.substr(number_begin, number_end - number_begin)),
                                           encode_utf8(token)));
      round_.pop_back();
    }
    return j + 1;
  }

  // Text between brackets, split where re.split(r"\s*\bBREAK\b\s*") splits it: each BREAK (with
  // the whitespace around it) becomes A1111's marker between the parts, the parts kept even when empty.
  void plain(std::u32string_view text) {
    size_t part_begin = 0;
    for (size_t at = text.find(kBreak); at != std::u32string_view::npos;) {
      const size_t after = at + kBreak.size();
      // \b on both sides, within this run of text as the regex sees it.
      if ((at > 0 && is_word(text[at - 1])) || (after < text.size() && is_word(text[after]))) {
        at = text.find(kBreak, at + 1);
        continue;
      }
      size_t cut = at;
      while (cut > part_begin && is_space(text[cut - 1])) --cut;
      size_t resume = after;
      while (resume < text.size() && is_space(text[resume])) ++resume;
      out_.push_back({encode_utf8(text.substr(part_begin, cut - part_begin)), 1.0});
      out_.push_back({"BREAK", -1.0});
      part_begin = resume;
      at = text.find(kBreak, resume);
    }
    out_.push_back({encode_utf8(text.substr(part_begin)), 1.0});
  }

  void multiply(size_t from, double factor) {
    for (size_t p = from; p < out_.size(); ++p) out_[p].weight *= factor;
  }

  std::u32string_view s_;
  std::vector<WeightedText> out_;
  std::vector<size_t> round_, square_;  // where each open bracket's runs begin in out_
};

}  // namespace

bool is_break(const WeightedText& piece) { return piece.weight == -1.0 && piece.text == "BREAK"; }

std::vector<WeightedText> parse_prompt_weights(std::string_view prompt) {
  check_prompt_size(prompt);  // nested brackets make the parse quadratic in the prompt's length
  const std::u32string text = decode_utf8(prompt);
  return Parser(text).parse();
}

}  // namespace diffuse
