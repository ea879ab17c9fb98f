#include "io/generation_parameters.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <string_view>
#include <system_error>

#include "core/error.h"

// Both directions mirror AUTOMATIC1111 (modules/infotext_utils.py: quote, unquote,
// parse_generation_parameters; modules/processing.py: create_infotext) so that text we write
// reads back the same in A1111 and text A1111 wrote reads back the same here.

namespace diffuse {
namespace {

constexpr std::string_view kWhitespace = " \t\n\r\v\f";

bool is_space(char c) { return kWhitespace.find(c) != std::string_view::npos; }

// Python's \w on str is Unicode-aware; treating every non-ASCII byte as a word character is
// the byte-level equivalent for the letters prompts and model names use.
bool is_word(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}

bool is_key_char(char c) { return is_word(c) || c == ' ' || c == '-' || c == '/'; }

std::string_view strip(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kWhitespace) - begin + 1);
}

// A1111's quote(): JSON only where the plain value would not survive the parser. We also quote
// a value with a leading quote or surrounding whitespace, which A1111's parser would alter.
std::string quote(const std::string& value) {
  const bool plain = value.find_first_of(",:\n") == std::string::npos && (value.empty() || value.front() != '"') &&
                     strip(value).size() == value.size();
  if (plain) return value;
  return nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string unquote(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  const nlohmann::json parsed = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  return parsed.is_string() ? parsed.get<std::string>() : std::string(value);
}

std::string number(double value) {
  char buffer[32];
  return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

// What re_param's key group accepts, so that the key reads back whole.
bool valid_key(const std::string& key) {
  return key.size() >= 2 && is_word(key.front()) && std::all_of(key.begin(), key.end(), is_key_char);
}

struct Field {
  std::string key;
  std::string_view value;  // as written, still quoted
};

// One match at `pos` of A1111's
//   re_param = r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)'
// on a single line; returns the end of the match, or npos. Backtracking cannot change the
// outcome (the key class excludes ':', the quoted branch has one way to split), so this is a
// straight scan.
size_t match_field(std::string_view line, size_t pos, Field& field) {
  const size_t n = line.size();
  size_t i = pos;
  while (i < n && is_space(line[i])) ++i;
  if (i >= n || !is_word(line[i])) return std::string_view::npos;
  const size_t key_begin = i++;
  while (i < n && is_key_char(line[i])) ++i;
  if (i - key_begin < 2 || i >= n || line[i] != ':') return std::string_view::npos;
  field.key = std::string(line.substr(key_begin, i - key_begin));
  ++i;
  while (i < n && is_space(line[i])) ++i;
  if (i < n && line[i] == '"') {
    size_t j = i + 1, items = 0;
    while (j < n && line[j] != '"') {
      if (line[j] == '\\') {
        if (j + 1 >= n) break;
        ++j;
      }
      ++j, ++items;
    }
    const bool closed = items > 0 && j < n && line[j] == '"';
    if (closed && (j + 1 == n || line[j + 1] == ',')) {
      field.value = line.substr(i, j + 1 - i);
      return j + 1 == n ? n : j + 2;
    }
  }
  const size_t comma = line.find(',', i);
  field.value = line.substr(i, comma == std::string_view::npos ? n - i : comma - i);
  return comma == std::string_view::npos ? n : comma + 1;
}

// Python's re.findall: try at each position, continue after each match.
std::vector<Field> find_fields(std::string_view line) {
  std::vector<Field> fields;
  Field field;
  for (size_t pos = 0; pos < line.size();) {
    const size_t end = match_field(line, pos, field);
    if (end == std::string_view::npos) {
      ++pos;
    } else {
      fields.push_back(field);
      pos = end;
    }
  }
  return fields;
}

[[noreturn]] void bad_value(const std::string& key, const std::string& value, const char* expected) {
  throw Error("generation parameters: " + key + " is \"" + value + "\", not " + expected);
}

// `part` is the piece of `value` that must be a number; errors quote the whole value.
template <typename T>
T parse_number(const std::string& key, const std::string& value, std::string_view part, const char* expected) {
  const std::string_view text = strip(part);
  T result{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), result);
  if (ec != std::errc() || end != text.data() + text.size()) bad_value(key, value, expected);
  return result;
}

}  // namespace

std::string format_parameters(const GenerationParameters& p) {
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("Steps", std::to_string(p.steps));
  if (!p.sampler.empty()) fields.emplace_back("Sampler", quote(p.sampler));
  if (!p.scheduler.empty()) fields.emplace_back("Schedule type", p.scheduler == "karras" ? "Karras" : quote(p.scheduler));
  fields.emplace_back("CFG scale", number(p.cfg_scale));
  fields.emplace_back("Seed", std::to_string(p.seed));
  fields.emplace_back("Size", std::to_string(p.width) + "x" + std::to_string(p.height));
  if (!p.model.empty()) fields.emplace_back("Model", quote(p.model));
  if (p.strength) fields.emplace_back("Denoising strength", number(*p.strength));
  for (const auto& [key, value] : p.extra) {
    if (!valid_key(key))
      throw Error("generation parameters: \"" + key + "\" cannot be written as a key (A1111 keys are letters, "
                  "digits, '_', ' ', '-' and '/')");
    fields.emplace_back(key, quote(value));
  }

  std::string text = p.prompt;
  if (!p.negative_prompt.empty()) text += "\nNegative prompt: " + p.negative_prompt;
  text += "\n";
  for (size_t i = 0; i < fields.size(); ++i) text += (i ? ", " : "") + fields[i].first + ": " + fields[i].second;
  return std::string(strip(text));
}

GenerationParameters parse_parameters(const std::string& text) {
  std::vector<std::string_view> lines;
  const std::string_view all = strip(text);
  for (size_t begin = 0;;) {
    const size_t end = all.find('\n', begin);
    lines.push_back(all.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  std::vector<Field> fields = find_fields(lines.back());
  if (fields.size() < 3) {
    fields.clear();  // not a parameter line after all: part of the prompt
  } else {
    lines.pop_back();
  }

  GenerationParameters p;
  bool in_negative = false;
  for (std::string_view line : lines) {
    line = strip(line);
    constexpr std::string_view kNegative = "Negative prompt:";
    if (line.starts_with(kNegative)) {
      in_negative = true;
      line = strip(line.substr(kNegative.size()));
    }
    std::string& target = in_negative ? p.negative_prompt : p.prompt;
    if (!target.empty()) target += '\n';
    target += line;
  }

  bool has_schedule_type = false;
  for (const Field& field : fields) {
    const std::string& key = field.key;
    std::string value = unquote(field.value);
    if (key == "Steps") {
      p.steps = parse_number<int>(key, value, value, "a whole number");
    } else if (key == "Sampler") {
      p.sampler = std::move(value);
    } else if (key == "Schedule type" && (value == "Karras" || value == "Automatic")) {
      has_schedule_type = true;
      p.scheduler = value == "Karras" ? "karras" : "";
    } else if (key == "CFG scale") {
      p.cfg_scale = parse_number<double>(key, value, value, "a number");
    } else if (key == "Seed") {
      p.seed = parse_number<int64_t>(key, value, value, "a whole number");
    } else if (key == "Size") {
      const size_t x = value.find('x');
      if (x == std::string::npos) bad_value(key, value, "WIDTHxHEIGHT");
      p.width = parse_number<int>(key, value, value.substr(0, x), "WIDTHxHEIGHT");
      p.height = parse_number<int>(key, value, value.substr(x + 1), "WIDTHxHEIGHT");
    } else if (key == "Model") {
      p.model = std::move(value);
    } else if (key == "Denoising strength") {
      p.strength = parse_number<double>(key, value, value, "a number");
    } else {
      if (key == "Schedule type") has_schedule_type = true;  // one we have no id for: kept as is
      p.extra.emplace_back(key, std::move(value));
    }
  }
  // A1111 before 1.9 folded the schedule into the sampler name.
  constexpr std::string_view kKarras = " Karras";
  if (!has_schedule_type && p.sampler.ends_with(kKarras)) {
    p.sampler.resize(p.sampler.size() - kKarras.size());
    p.scheduler = "karras";
  }
  return p;
}

}  // namespace diffuse
