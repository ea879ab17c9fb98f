#include "text/lora_tags.h"

#include <charconv>
#include <cmath>
#include <optional>

#include "core/error.h"

namespace diffuse {
namespace {

// Python's \w on str is Unicode-aware; every non-ASCII byte counts as a word character here, the
// byte-level equivalent for the letters names use.
bool is_word(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}

// One match of A1111's re_extra_net = r"<(\w+):([^>]+)>" at `pos`: the end of the tag, or npos.
size_t match_tag(std::string_view text, size_t pos, std::string_view& type, std::string_view& args) {
  if (text[pos] != '<') return std::string_view::npos;
  size_t i = pos + 1;
  while (i < text.size() && is_word(text[i])) ++i;
  if (i == pos + 1 || i >= text.size() || text[i] != ':') return std::string_view::npos;
  const size_t close = text.find('>', i + 1);
  if (close == std::string_view::npos || close == i + 1) return std::string_view::npos;
  type = text.substr(pos + 1, i - pos - 1);
  args = text.substr(i + 1, close - i - 1);
  return close + 1;
}

// Python's float(): surrounding whitespace allowed; here only finite values are.
double multiplier(std::string_view text, std::string_view tag) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  const size_t begin = text.find_first_not_of(kSpace);
  std::string_view number = begin == std::string_view::npos ? std::string_view{} : text.substr(begin);
  number = number.substr(0, number.find_last_not_of(kSpace) + 1);
  if (number.starts_with('+')) number.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() || !std::isfinite(value))
    throw Error("prompt tag " + std::string(tag) + ": multiplier '" + std::string(text) + "' is not a number");
  return value;
}

// extra_networks_lora.py: positional NAME[:TE[:UNET]], named te= and unet= overriding them.
LoraTag lora_tag(std::string_view args, std::string_view tag) {
  std::vector<std::string_view> positional;
  std::optional<std::string_view> te, unet;
  for (size_t begin = 0;;) {
    const size_t end = args.find(':', begin);
    const std::string_view item = args.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
    // ExtraNetworkParams: "k=v" is named when it splits in exactly two at '='.
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || item.find('=', eq + 1) != std::string_view::npos) {
      positional.push_back(item);
    } else if (item.substr(0, eq) == "te") {
      te = item.substr(eq + 1);
    } else if (item.substr(0, eq) == "unet") {
      unet = item.substr(eq + 1);
    } else {
      throw Error("prompt tag " + std::string(tag) + ": '" + std::string(item) + "' is not supported (te= and unet= are)");
    }
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  // "<lora:te=1>" has only named arguments, so no name.
  if (positional.empty()) throw Error("prompt tag " + std::string(tag) + ": names no LoRA");
  if (positional.size() > 3)
    throw Error("prompt tag " + std::string(tag) + ": takes <lora:NAME[:TE[:UNET]]> (a dynamic rank is not supported)");
  LoraTag lora{std::string(positional[0])};
  lora.text_scale = positional.size() > 1 ? multiplier(positional[1], tag) : 1.0;
  if (te) lora.text_scale = multiplier(*te, tag);
  lora.unet_scale = positional.size() > 2 ? multiplier(positional[2], tag) : lora.text_scale;
  if (unet) lora.unet_scale = multiplier(*unet, tag);
  if (lora.name.empty()) throw Error("prompt tag " + std::string(tag) + ": names no LoRA");
  return lora;
}

std::string number_text(double value) {
  char buffer[32];
  return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
}

}  // namespace

PromptTags extract_lora_tags(std::string_view prompt) {
  PromptTags out;
  std::string_view type, args;
  for (size_t pos = 0; pos < prompt.size();) {
    const size_t end = match_tag(prompt, pos, type, args);
    if (end == std::string_view::npos) {
      out.prompt += prompt[pos++];
      continue;
    }
    const std::string_view tag = prompt.substr(pos, end - pos);
    if (type == "lora") out.loras.push_back(lora_tag(args, tag));
    else out.other_tags.emplace_back(tag);
    pos = end;
  }
  return out;
}

std::string lora_tag_text(const LoraTag& tag) {
  std::string text = "<lora:" + tag.name + ":" + number_text(tag.text_scale);
  if (tag.unet_scale != tag.text_scale) text += ":" + number_text(tag.unet_scale);
  return text + ">";
}

}  // namespace diffuse
