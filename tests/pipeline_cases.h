#pragma once
// The whole-generation cases of the fixtures' expected/pipelines.json, shared by the library
// (test_pipeline) and command-line (test_cli) tests.
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace diffuse::testing {

struct PipelineCase {
  std::string family, id, sampler, prompt, negative, file;
  bool karras = false;
  int64_t seed = 0;
  int steps = 0, width = 0, height = 0;
  double cfg = 0;
  std::optional<double> strength;
};

std::vector<PipelineCase> pipeline_cases(const std::string& family);  // "sd1-tiny", ...

// How GoogleTest names a case in its output ("sd1-tiny/pndm"), instead of a byte dump.
inline void PrintTo(const PipelineCase& c, std::ostream* os) { *os << c.family << "/" << c.id; }

}  // namespace diffuse::testing
