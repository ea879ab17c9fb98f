#pragma once
#include <string>

#include "io/model_files.h"
#include "pipeline/family.h"

namespace diffuse {

// The settings a model is meant to be used with when the user names none: from its file's
// metadata where it says (diffuse.default_width, .default_height, .default_steps,
// .default_cfg_scale, .default_sampler, .name, .description: the demo model carries them),
// else its family's (native size, 50 steps, CFG 7.5, diffusers' sampler). Throws Error naming
// the key for a value that is not what it must be.
struct UsageDefaults {
  int width = 512, height = 512, steps = 50;
  double cfg_scale = 7.5;
  std::string sampler;  // diffuse's name, e.g. "pndm"
  std::string name, description;  // empty unless the metadata names them
  // 1 for a UNet under 20 M parameters, whose ops are too small to split: the demo model's 20 steps
  // take 0.29 s on one thread of a 2-core AVX2 EPYC and 4.3 s on two (fork/join and barriers). 0 (all
  // cores) otherwise.
  int threads = 0;
};
UsageDefaults usage_defaults(const ModelFiles& files, Family family);

// The model `generate` and `serve` use without -m: the demo model that training/ trains, shipped
// as models/demo.safetensors. Looked for in $DIFFUSE_DEFAULT_MODEL, beside an installed binary
// (<prefix>/share/diffuse/demo.safetensors), then in the source tree the binary was built from.
// Throws Error listing where it looked.
std::string default_model_path();

}  // namespace diffuse
