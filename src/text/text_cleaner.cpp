#include "text/text_cleaner.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <optional>

#include "core/error.h"

namespace diffuse {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

bool in_range(char32_t c, char32_t lo, char32_t hi) { return c >= lo && c <= hi; }

utf8proc_category_t category(char32_t c) { return utf8proc_category(utf8proc_int32_t(c)); }

// Appends the code points of `utf8`. A malformed sequence becomes U+FFFD, or, when `strict`,
// stops the decoding and returns false.
bool append_decoded(std::string_view utf8, std::u32string& out, bool strict) {
  auto* p = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data());
  auto left = utf8proc_ssize_t(utf8.size());
  while (left > 0) {
    utf8proc_int32_t c = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &c);
    if (n < 0) {
      if (strict) return false;
      c = kReplacement;
      n = 1;
    }
    out.push_back(char32_t(c));
    p += n;
    left -= n;
  }
  return true;
}

// utf8proc normalises UTF-8, so the code points make a round trip through it.
std::u32string normalize(std::u32string_view text, int options) {
  std::string utf8 = encode_utf8(text);
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                                    utf8proc_ssize_t(utf8.size()), &mapped,
                                    utf8proc_option_t(options | UTF8PROC_STABLE));
  if (n < 0) throw Error(std::string("Unicode normalisation failed: ") + utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  return decode_utf8({reinterpret_cast<const char*>(mapped), size_t(n)});
}

std::u32string nfc(std::u32string_view text) { return normalize(text, UTF8PROC_COMPOSE); }

std::u32string nfkc(std::u32string_view text) {
  return normalize(text, UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
}

// Rewrites the text one code point at a time; `fix` appends the replacement (possibly none).
template <class Fix>
std::u32string translate(std::u32string_view text, Fix fix) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) fix(c, out);
  return out;
}

// Bytes 0x80-0x9F of windows-1252. The five it leaves undefined keep their Latin-1 meaning, as
// in ftfy's "sloppy-windows-1252", so that every byte decodes and every decoding re-encodes.
constexpr std::array<char32_t, 32> kCp1252C1 = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

char32_t cp1252_char(char32_t byte) {
  return in_range(byte, 0x80, 0x9F) ? kCp1252C1[byte - 0x80] : byte;
}

// The byte a single-byte codec writes for `c`, or -1 where the codec cannot write it.
int latin1_byte(char32_t c) { return c < 0x100 ? int(c) : -1; }

int cp1252_byte(char32_t c) {
  if (c < 0x80 || in_range(c, 0xA0, 0xFF)) return int(c);
  auto it = std::find(kCp1252C1.begin(), kCp1252C1.end(), c);
  return it == kCp1252C1.end() ? -1 : 0x80 + int(it - kCp1252C1.begin());
}

// ---- HTML entities (ftfy.fixes.unescape_html) ----

struct NamedEntity {
  std::u32string_view name;
  char32_t value;
};

// The entities prompts copied from web pages carry; HTML5 defines some 2,000 more, which
// ftfy knows and this does not.
constexpr NamedEntity kEntities[] = {
    {U"amp", U'&'},     {U"lt", U'<'},       {U"gt", U'>'},       {U"quot", U'"'},
    {U"apos", U'\''},   {U"nbsp", 0xA0},     {U"shy", 0xAD},      {U"copy", 0xA9},
    {U"reg", 0xAE},     {U"trade", 0x2122},  {U"hellip", 0x2026}, {U"mdash", 0x2014},
    {U"ndash", 0x2013}, {U"lsquo", 0x2018}, {U"rsquo", 0x2019},  {U"ldquo", 0x201C},
    {U"rdquo", 0x201D}, {U"laquo", 0xAB},   {U"raquo", 0xBB},    {U"bull", 0x2022},
    {U"middot", 0xB7},  {U"deg", 0xB0},     {U"times", 0xD7},    {U"divide", 0xF7},
    {U"plusmn", 0xB1},  {U"micro", 0xB5},   {U"frac12", 0xBD},   {U"frac14", 0xBC},
    {U"frac34", 0xBE},  {U"sect", 0xA7},    {U"para", 0xB6},     {U"cent", 0xA2},
    {U"pound", 0xA3},   {U"yen", 0xA5},     {U"euro", 0x20AC},
};

bool is_ascii_alnum(char32_t c) {
  return in_range(c, U'0', U'9') || in_range(c, U'a', U'z') || in_range(c, U'A', U'Z');
}

std::optional<char32_t> find_entity(std::u32string_view name) {
  for (const NamedEntity& e : kEntities)
    if (e.name == name) return e.value;
  return std::nullopt;
}

std::optional<char32_t> named_entity(std::u32string_view name) {
  if (auto c = find_entity(name)) return c;
  // ftfy also reads a lower-case entity written in capitals (&EACUTE;), as its capital.
  std::u32string lower;
  for (char32_t c : name) {
    if (in_range(c, U'a', U'z')) return std::nullopt;
    lower.push_back(in_range(c, U'A', U'Z') ? c + 32 : c);
  }
  if (auto c = find_entity(lower)) return char32_t(utf8proc_toupper(utf8proc_int32_t(*c)));
  return std::nullopt;
}

// A numeric reference as Python's html.unescape decodes it, where all of `digits` is the
// number: it maps C1 values through windows-1252, invalid values to U+FFFD, and drops the
// code points HTML forbids.
std::optional<std::u32string> numeric_entity(std::u32string_view digits) {
  int base = 10;
  if (!digits.empty() && (digits[0] == U'x' || digits[0] == U'X')) {
    base = 16;
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  char32_t value = 0;
  for (char32_t d : digits) {
    int v = in_range(d, U'0', U'9') ? int(d - U'0')
            : base == 16 && in_range(d | 0x20, U'a', U'f') ? int((d | 0x20) - U'a' + 10)
                                                           : -1;
    if (v < 0) return std::nullopt;
    value = std::min<char32_t>(value * base + v, 0x110000);  // saturate: all too-large look alike
  }
  if (value == 0 || value > 0x10FFFF || in_range(value, 0xD800, 0xDFFF)) return U"\uFFFD";
  if (in_range(value, 0x80, 0x9F)) return std::u32string(1, cp1252_char(value));
  if (in_range(value, 0x01, 0x08) || value == 0x0B || in_range(value, 0x0E, 0x1F) ||
      value == 0x7F || in_range(value, 0xFDD0, 0xFDEF) || (value & 0xFFFE) == 0xFFFE)
    return U"";
  // ftfy keeps a reference whose decoding still holds a ';', taking it for a partial match.
  if (value == U';') return std::nullopt;
  return std::u32string(1, value);
}

// Where the entity starting at text[amp] ends (its ';'), if it has ftfy's shape:
// &#?[0-9A-Za-z]{1,24};
std::optional<size_t> entity_end(std::u32string_view text, size_t amp) {
  size_t begin = amp + 1;
  if (begin < text.size() && text[begin] == U'#') ++begin;
  size_t end = begin;
  while (end < text.size() && end - begin <= 24 && is_ascii_alnum(text[end])) ++end;
  bool fits = end > begin && end - begin <= 24;
  if (fits && end < text.size() && text[end] == U';') return end;
  return std::nullopt;
}

std::optional<std::u32string> decode_entity(std::u32string_view body) {
  if (body[0] == U'#') return numeric_entity(body.substr(1));
  if (auto c = named_entity(body)) return std::u32string(1, *c);
  return std::nullopt;
}

std::u32string unescape_html(std::u32string_view text) {
  std::u32string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == U'&') {
      if (auto end = entity_end(text, i)) {
        if (auto decoded = decode_entity(text.substr(i + 1, *end - i - 1))) {
          out += *decoded;
          i = *end;
          continue;
        }
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// ---- Mojibake (ftfy.fix_encoding) ----

// UTF-8 that was decoded with a single-byte codec turns back into itself when re-encoded with
// that codec and decoded as UTF-8. The whole text has to come out as valid UTF-8: legitimate
// Latin-1 text practically never does, since every accented letter would have to be followed
// by exactly the right symbols from the 0x80-0xBF range.
std::optional<std::u32string> reread_as_utf8(std::u32string_view text, int (*byte_of)(char32_t)) {
  std::string bytes;
  for (char32_t c : text) {
    int b = byte_of(c);
    if (b < 0) return std::nullopt;
    bytes.push_back(char(b));
  }
  std::u32string fixed;
  if (!append_decoded(bytes, fixed, /*strict=*/true)) return std::nullopt;
  return fixed;
}

std::u32string fix_encoding(std::u32string text) {
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; })) return text;
  for (auto byte_of : {latin1_byte, cp1252_byte})  // ftfy's order
    if (auto fixed = reread_as_utf8(text, byte_of)) return *std::move(fixed);
  return text;
}

// ---- Character-level fixes, in ftfy's order ----

// C1 controls in text are windows-1252 bytes that were read as Latin-1.
void fix_c1_control(char32_t c, std::u32string& out) { out.push_back(cp1252_char(c)); }

void fix_latin_ligature(char32_t c, std::u32string& out) {
  struct Ligature {
    char32_t from;
    std::u32string_view to;
  };
  // ftfy's list: NFKC would also do, except that ftfy keeps the long s of U+FB05.
  static constexpr Ligature kLigatures[] = {
      {0x0132, U"IJ"},     {0x0133, U"ij"},     {0x0149, U"\u02BCn"}, {0x01F1, U"DZ"},
      {0x01F2, U"Dz"},     {0x01F3, U"dz"},     {0x01C4, U"D\u017D"}, {0x01C5, U"D\u017E"},
      {0x01C6, U"d\u017E"}, {0x01C7, U"LJ"},    {0x01C8, U"Lj"},      {0x01C9, U"lj"},
      {0x01CA, U"NJ"},     {0x01CB, U"Nj"},     {0x01CC, U"nj"},      {0xFB00, U"ff"},
      {0xFB01, U"fi"},     {0xFB02, U"fl"},     {0xFB03, U"ffi"},     {0xFB04, U"ffl"},
      {0xFB05, U"\u017Ft"}, {0xFB06, U"st"},
  };
  for (const Ligature& l : kLigatures) {
    if (l.from == c) {
      out += l.to;
      return;
    }
  }
  out.push_back(c);
}

// Full-width ASCII and half-width kana become what NFKC makes of them; so does the
// ideographic space, which NFKC turns into an ordinary one.
void fix_character_width(char32_t c, std::u32string& out) {
  if (c == 0x3000 || in_range(c, 0xFF01, 0xFFEF))
    out += nfkc(std::u32string_view(&c, 1));
  else
    out.push_back(c);
}

void uncurl_quote(char32_t c, std::u32string& out) {
  if (c == 0x02BC || in_range(c, 0x2018, 0x201B))
    out.push_back(U'\'');
  else if (in_range(c, 0x201C, 0x201F))
    out.push_back(U'"');
  else
    out.push_back(c);
}

// Controls nobody means to type; tab, line feed, form feed and carriage return stay, as do
// joiners, direction marks and the tag characters of emoji flags.
void remove_control_char(char32_t c, std::u32string& out) {
  bool control = c <= 0x08 || c == 0x0B || in_range(c, 0x0E, 0x1F) || c == 0x7F ||
                 in_range(c, 0x206A, 0x206F) || c == 0xFEFF || in_range(c, 0xFFF9, 0xFFFC);
  if (!control) out.push_back(c);
}

std::u32string fix_once(std::u32string_view line, bool unescape) {
  std::u32string text = unescape ? unescape_html(line) : std::u32string(line);
  text = fix_encoding(std::move(text));
  text = translate(text, fix_c1_control);
  text = translate(text, fix_latin_ligature);
  text = translate(text, fix_character_width);
  text = translate(text, uncurl_quote);
  text = translate(text, remove_control_char);
  return nfc(text);
}

// One fix can expose another (an entity inside mojibake, mojibake twice over), so ftfy
// repeats its fixes until the text stops changing.
std::u32string fix_line(std::u32string_view line, bool unescape) {
  std::u32string text(line);
  for (;;) {
    std::u32string fixed = fix_once(text, unescape);
    if (fixed == text) return fixed;
    text = std::move(fixed);
  }
}

// ---- Lower-casing (Python's str.lower) ----

bool is_cased(char32_t c) {
  utf8proc_category_t k = category(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}

bool is_case_ignorable(char32_t c) {
  switch (category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      break;
  }
  // Word-internal punctuation (Word_Break MidLetter, MidNumLet, Single_Quote).
  constexpr char32_t kMidWord[] = {U'\'', U'.', U':',   0xB7,   0x387,  0x55F,  0x5F4, 0x2018,
                                   0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07,
                                   0xFF0E, 0xFF1A};
  return std::find(std::begin(kMidWord), std::end(kMidWord), c) != std::end(kMidWord);
}

// Σ lower-cases to ς at the end of a word: after a cased letter and not before one, looking
// past case-ignorable characters both ways.
bool is_final_sigma(std::u32string_view text, size_t i) {
  size_t before = i;
  while (before > 0 && is_case_ignorable(text[before - 1])) --before;
  if (before == 0 || !is_cased(text[before - 1])) return false;
  size_t after = i + 1;
  while (after < text.size() && is_case_ignorable(text[after])) ++after;
  return after == text.size() || !is_cased(text[after]);
}

// CLIP's whitespace_clean: every run of \s becomes one space, and the ends are stripped.
std::u32string collapse_whitespace(std::u32string_view text) {
  std::u32string out;
  bool gap = false;
  for (char32_t c : text) {
    if (is_space(c)) {
      gap = !out.empty();
      continue;
    }
    if (gap) out.push_back(U' ');
    gap = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

void check_prompt_size(std::string_view text) {
  if (text.size() > kMaxPromptTextBytes)
    throw Error("prompt is " + std::to_string(text.size()) + " bytes, more than the " +
                std::to_string(kMaxPromptTextBytes) + " a prompt may hold");
}

std::u32string decode_utf8(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  append_decoded(utf8, out, /*strict=*/false);
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t n = utf8proc_encode_char(utf8proc_int32_t(c), buf);
    out.append(reinterpret_cast<const char*>(buf), size_t(n));
  }
  return out;
}

bool is_space(char32_t c) {
  if (in_range(c, 0x09, 0x0D) || c == 0x85) return true;
  utf8proc_category_t k = category(c);
  return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

bool is_letter(char32_t c) {
  utf8proc_category_t k = category(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

bool is_number(char32_t c) {
  utf8proc_category_t k = category(c);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

std::u32string fix_text(std::u32string_view text) {
  // ftfy works line by line, and from the first line holding a '<' on it stops decoding
  // entities: that text is probably HTML, where "&lt;" should stay as written.
  std::u32string out;
  bool unescape = true;
  for (size_t pos = 0; pos < text.size();) {
    size_t newline = text.find(U'\n', pos);
    size_t end = newline == std::u32string_view::npos ? text.size() : newline + 1;
    std::u32string_view line = text.substr(pos, end - pos);
    unescape = unescape && line.find(U'<') == std::u32string_view::npos;
    out += fix_line(line, unescape);
    pos = end;
  }
  return out;
}

std::u32string to_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    if (c == 0x130)
      out += U"i\u0307";
    else if (c == 0x3A3)
      out.push_back(is_final_sigma(text, i) ? 0x3C2 : 0x3C3);
    else
      out.push_back(char32_t(utf8proc_tolower(utf8proc_int32_t(c))));
  }
  return out;
}

std::u32string clean_clip_text(std::string_view utf8) {
  return to_lower(collapse_whitespace(fix_text(decode_utf8(utf8))));
}

}  // namespace diffuse
