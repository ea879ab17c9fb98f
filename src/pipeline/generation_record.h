#pragma once
#include <cstdint>
#include <string>

#include "io/generation_parameters.h"
#include "pipeline/generate.h"

namespace diffuse {

// What a PNG records of how one image was made (AUTOMATIC1111's "parameters" text): the options as
// applied, with `seed` the image's own seed (a batch's images differ only in it).
GenerationParameters generation_parameters(const GenerateOptions& options, int64_t seed, const std::string& model_name);

}  // namespace diffuse
