#pragma once
// The whole-generation cases of the fixtures' expected/pipelines.json, shared by the library
// (test_pipeline) and command-line (test_cli) tests.
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pipeline/generate.h"

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

// The case's txt2img options (an img2img case also needs its init image and strength).
inline GenerateOptions generate_options(const PipelineCase& c) {
  GenerateOptions o;
  o.prompt = c.prompt;
  // The fixtures' SDXL cases give a negative prompt; an empty one in SD1/SD2 cases is encoded as "".
  o.negative_prompt = c.negative;
  o.seed = c.seed;
  o.steps = c.steps;
  o.cfg_scale = c.cfg;
  o.width = c.width;
  o.height = c.height;
  o.sampler = c.sampler;
  o.karras = c.karras;
  return o;
}

// How GoogleTest names a case in its output ("sd1-tiny/pndm"), instead of a byte dump.
inline void PrintTo(const PipelineCase& c, std::ostream* os) { *os << c.family << "/" << c.id; }

}  // namespace diffuse::testing
