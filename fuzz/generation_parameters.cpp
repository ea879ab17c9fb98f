// AUTOMATIC1111's "parameters" text (a PNG's text chunk, pasted infotext) on arbitrary bytes.
// Beyond not crashing: what parse_parameters reads, format_parameters writes back into text that
// parses to the same parameters, the round trip the PNGs diffuse writes rely on. The round trip
// holds for UTF-8 text (what PNG text chunks decode to): quoted values are written as JSON, which
// replaces malformed bytes.
#include "fuzz_input.h"
#include "io/generation_parameters.h"
#include "text/text_cleaner.h"

using namespace diffuse;

namespace {

// "CFG scale: nan" reads as NaN, which must read back as NaN.
bool same_number(double a, double b) { return a == b || (a != a && b != b); }

bool same(const GenerationParameters& a, const GenerationParameters& b) {
  return a.prompt == b.prompt && a.negative_prompt == b.negative_prompt && a.sampler == b.sampler &&
         a.scheduler == b.scheduler && a.model == b.model && a.steps == b.steps && same_number(a.cfg_scale, b.cfg_scale) &&
         a.seed == b.seed && a.width == b.width && a.height == b.height && a.strength.has_value() == b.strength.has_value() &&
         (!a.strength || same_number(*a.strength, *b.strength)) && a.extra == b.extra;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::text(data, size);
  const bool utf8 = encode_utf8(decode_utf8(input)) == input;
  GenerationParameters p;
  try {
    p = parse_parameters(std::string(input));
  } catch (const Error& e) {
    fuzz::check_refusal(e);
    return 0;
  }
  std::string text;
  try {
    text = format_parameters(p);
  } catch (const Error& e) {
    fuzz::check_refusal(e);  // an extra key A1111 could not read back is refused, not written
    return 0;
  }
  if (utf8) FUZZ_CHECK(same(parse_parameters(text), p));
  return 0;
}
