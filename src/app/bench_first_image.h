#pragma once
// diffuse bench --first-image: the whole timeline a user waits through for one image, from a
// checkpoint file on disk (page-cached) to the decoded picture.
#include <string>

#include "core/precision.h"

namespace diffuse::app {

struct FirstImageRequest {
  std::string arch;   // a random-weight architecture, written to a temporary single file first
  std::string model;  // or a checkpoint the user has
  int width = 0, height = 0;  // 0: the model's default size (its metadata's, else its family's native size)
  int steps = 20;
  int threads = 0;  // 0: all cores, or the model's own default (1 for a tiny UNet), as generate chooses
  Precision precision = Precision::Fp32;
  bool low_memory = false, json = false;
};

int run_first_image(const FirstImageRequest& request);

}  // namespace diffuse::app
