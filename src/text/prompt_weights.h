#pragma once
// AUTOMATIC1111's emphasis syntax, read the way its modules/prompt_parser.py
// (parse_prompt_attention) reads it, so that a prompt pasted from A1111 or civitai weighs the
// same words by the same factors:
//   (text)      x 1.1 per pair, nested pairs multiply: ((text)) x 1.21
//   [text]      / 1.1 per pair
//   (text:1.5)  x 1.5 (an explicit factor replaces the pair's 1.1; spaces around it allowed)
//   \( \) \[ \] \\   the character itself
//   BREAK       (upper case, a whole word) ends the current 75-token chunk
// Brackets left open at the end apply to everything after them; a closing bracket with no
// opening one is plain text. Like A1111, a BREAK inside brackets is no break: its marker is
// multiplied with the rest and then reads as the word "BREAK" with a negative weight.
#include <string>
#include <string_view>
#include <vector>

namespace diffuse {

// A run of prompt text and the factor the encodings of its tokens are multiplied by.
struct WeightedText {
  std::string text;
  double weight = 1.0;
  bool operator==(const WeightedText&) const = default;
};

// A1111's marker for BREAK: the text "BREAK" with weight -1 (a weight no bracket produces
// for it unless the marker sits inside brackets, where A1111 stops treating it as a break).
bool is_break(const WeightedText& piece);

// The prompt as runs of equal weight, in order, adjacent runs of equal weight merged; never empty
// (an empty prompt is one empty run of weight 1). Doubles multiply in A1111's order, so weights
// equal Python's bit for bit. Throws Error for an explicit factor that is not a number
// ("(a:1.2.3)"), where A1111 stops with a Python ValueError, and for a prompt over
// kMaxPromptTextBytes (text_cleaner.h).
std::vector<WeightedText> parse_prompt_weights(std::string_view prompt);

}  // namespace diffuse
