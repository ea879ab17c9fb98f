#pragma once
#include <string>
#include <vector>

#include "core/precision.h"
#include "io/model_files.h"

namespace diffuse {

// One LoRA and its strengths: A1111's <lora:NAME:TE:UNET> multipliers, one for the text
// encoders' layers and one for the UNet's (the same unless the prompt gives both).
struct LoraSpec {
  std::string path;
  double text_scale = 1, unet_scale = 1;
};

struct LoraMergeStats {
  size_t files = 0;
  size_t layers = 0;   // low-rank updates applied
  size_t weights = 0;  // distinct weights they changed
  double seconds = 0;  // reading the files, mapping their keys and merging
  // Under `lenient`: per file with keys that matched no layer, the line that says which.
  std::vector<std::string> warnings;
};

// Merges `loras`, in order, into `model`'s UNet and text-encoder weights before they are
// converted: W += scale * alpha / rank * up @ down per layer (kohya's and A1111's definition), summed
// in double and rounded once to what `precision`'s layers keep (fp32, or bf16, which they would
// round to anyway), so a model merged here and one merged by hand in float64 are the same model.
// Every file is read and checked (io/lora.h) before any weight changes. A key that matches no
// layer is an Error naming the file and keys, unless `lenient`, when it is skipped and reported.
LoraMergeStats merge_loras(ModelFiles& model, const std::vector<LoraSpec>& loras, bool lenient, Precision precision);

}  // namespace diffuse
