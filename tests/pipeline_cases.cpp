#include "pipeline_cases.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "golden.h"

namespace diffuse::testing {

Image image_of(const Golden& u8) {
  const size_t rank = u8.shape.size();
  Image image{int(u8.shape.at(rank - 2)), int(u8.shape.at(rank - 3)), {}};
  for (float v : u8.values) image.rgb.push_back(uint8_t(v));
  return image;
}

std::vector<PipelineCase> pipeline_cases(const std::string& family) {
  std::ifstream in(fixture(family + "/expected/pipelines.json"));
  const nlohmann::json cases = nlohmann::json::parse(in);
  std::vector<PipelineCase> out;
  for (const auto& c : cases) {
    PipelineCase p;
    p.family = family;
    p.id = c["id"];
    p.sampler = c["sampler"];
    if (p.sampler.ends_with("_karras")) {
      p.sampler.resize(p.sampler.size() - 7);
      p.karras = true;
    }
    p.prompt = c["prompt"];
    p.negative = c["negative"];
    p.file = c["file"];
    p.seed = c["seed"];
    p.steps = c["steps"];
    p.width = c["width"];
    p.height = c["height"];
    p.cfg = c["cfg"];
    if (!c["strength"].is_null()) p.strength = c["strength"].get<double>();
    out.push_back(p);
  }
  return out;
}

}  // namespace diffuse::testing
