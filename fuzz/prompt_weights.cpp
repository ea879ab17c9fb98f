// A1111's emphasis syntax on arbitrary prompts. Beyond not crashing: the runs are never empty as a
// list, adjacent runs differ in weight (they were merged), every weight is a finite number or the
// product of finite factors, and no run holds more text than the prompt.
#include <cmath>

#include "fuzz_input.h"
#include "text/prompt_weights.h"
#include "text/text_cleaner.h"

using namespace diffuse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view prompt = fuzz::text(data, size);
  std::vector<WeightedText> runs;
  try {
    runs = parse_prompt_weights(prompt);
  } catch (const Error& e) {
    fuzz::check_refusal(e);
    return 0;
  }
  FUZZ_CHECK(!runs.empty());
  // Malformed UTF-8 reads as U+FFFD (3 bytes) per byte, so text can grow up to 3x, never beyond.
  size_t total = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i > 0) FUZZ_CHECK(!(runs[i].weight == runs[i - 1].weight));
    total += runs[i].text.size();
  }
  FUZZ_CHECK(total <= 3 * size + 5 * runs.size());  // "BREAK" markers are the only text added
  // Brackets alone cannot reach a NaN; only an explicit factor (inf x 0) can.
  if (prompt.find(':') == std::string_view::npos)
    for (const WeightedText& run : runs) FUZZ_CHECK(!std::isnan(run.weight));
  return 0;
}
