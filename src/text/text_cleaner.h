#pragma once
// The normalisation CLIPTokenizer applies before BPE: ftfy.fix_text, whitespace folding and
// Python's str.lower(). Prompts differ only in the details these get right (quotes, widths,
// mojibake), and every such detail changes token ids, so each step follows its Python original.
#include <string>
#include <string_view>

namespace diffuse {

// The longest prompt the prompt parsers (the tokenizer, the weighting syntax) take: 64 KiB, some
// 16,000 tokens, over 200 of the text encoders' 75-token chunks. Longer text is refused before it
// is decoded, so a hostile prompt costs neither time nor memory in proportion to its size.
inline constexpr size_t kMaxPromptTextBytes = size_t(64) << 10;
// Throws Error naming the size unless `text` is at most kMaxPromptTextBytes.
void check_prompt_size(std::string_view text);

std::u32string decode_utf8(std::string_view utf8);  // malformed bytes become U+FFFD
std::string encode_utf8(std::u32string_view text);

// The character classes of CLIP's pre-tokenisation regex.
bool is_space(char32_t c);   // \s: Unicode White_Space
bool is_letter(char32_t c);  // \p{L}
bool is_number(char32_t c);  // \p{N}

// ftfy.fix_text with default settings, restricted to the fixes that can touch a prompt:
// HTML entities, UTF-8 mojibake read as Latin-1 / windows-1252, C1 controls, Latin
// ligatures, full- and half-width forms, curly quotes, stray control characters, NFC.
std::u32string fix_text(std::u32string_view text);

// Python's str.lower(), including its context-dependent final sigma and the dotted capital I
// whose lower case is two code points.
std::u32string to_lower(std::u32string_view text);

// CLIPTokenizer's cleaning: fix_text, whitespace runs to one space, strip, lower-case.
std::u32string clean_clip_text(std::string_view utf8);

}  // namespace diffuse
