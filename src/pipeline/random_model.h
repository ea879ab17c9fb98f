#pragma once
// Full-size Stable Diffusion models with random weights, made in memory: speed does not depend
// on the weights' values, so `diffuse bench` can time the real architectures without a
// multi-gigabyte download.
#include <cstdint>
#include <string>
#include <vector>

#include "io/model_files.h"

namespace diffuse {

// The architectures random_model makes: "sd15" (SD v1.5), "sd21" (SD 2.1 768-v), "sdxl" (SDXL base 1.0).
const std::vector<std::string>& random_model_archs();

// Every tensor a single-file checkpoint of `arch` holds for inference, under ModelFiles'
// canonical names (open_clip text towers already renamed), as fp16 values of a counter-based
// generator keyed by `seed` and the tensor's name: weights uniform within +-1/sqrt(fan_in)
// (torch's default init, which keeps activations finite through the whole network), norm
// scales near 1, biases, norm shifts and embeddings near 0. The archives' `backing` owns the
// values. Throws Error for an unknown arch.
ModelFiles random_model(const std::string& arch, uint64_t seed);

// The same tensors' names, shapes and dtype without their values (every data pointer null):
// what an architecture is, for the price of its names (SDXL's values take 7 GB).
ModelFiles random_model_layout(const std::string& arch);

}  // namespace diffuse
