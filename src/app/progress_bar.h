#pragma once
#include <chrono>
#include <string>

namespace diffuse::app {

// Sampling progress on stderr: a redrawn bar with s/step and ETA on a terminal, one plain line
// per step otherwise (logs, CI, pipes).
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
