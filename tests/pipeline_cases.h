#pragma once
// The whole-generation cases of the fixtures' expected/pipelines.json, shared by the library
// (test_pipeline) and command-line (test_cli) tests.
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "golden.h"
#include "pipeline/generate.h"
#include "pipeline/stable_diffusion.h"

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

// A fixture model ("sd1-tiny", ...), loaded once per test binary: loading dominates small tests.
// Inline, so that only the tests that load models need the pipeline library.
inline const StableDiffusion& fixture_model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<StableDiffusion>> cache;
  auto& m = cache[name];
  if (!m) m = StableDiffusion::load(fixture(name + "/model.safetensors"));
  return *m;
}

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

// An image_u8 fixture tensor, [H, W, 3] or [1, H, W, 3], as an Image.
Image image_of(const Golden& u8);

// How GoogleTest names a case in its output ("sd1-tiny/pndm"), instead of a byte dump.
inline void PrintTo(const PipelineCase& c, std::ostream* os) { *os << c.family << "/" << c.id; }

}  // namespace diffuse::testing
