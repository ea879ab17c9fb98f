#pragma once
#include <chrono>
#include <string>

namespace diffuse::app {

// Sampling progress on stderr, counted in UNet evaluations like diffusers' progress bar (PNDM makes
// steps + 1, Heun 2 x steps - 1): a redrawn bar with s/it and ETA on a terminal, one plain line per
// evaluation otherwise (logs, CI, pipes).
class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  void update(int done, int total);

 private:
  std::string label_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace diffuse::app
