#include "app/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace diffuse::app {

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)), terminal_(isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(int done, int total) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double per_step = done > 0 ? elapsed / done : 0.0;
  const double eta = per_step * (total - done);
  if (!terminal_) {
    std::fprintf(stderr, "%s %d/%d, %.2f s/it, ETA %.0f s\n", label_.c_str(), done, total, per_step, eta);
    return;
  }
  constexpr int kWidth = 30;
  const int filled = total > 0 ? done * kWidth / total : kWidth;
  std::string bar(size_t(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(size_t(kWidth - filled - 1), ' ');
  std::fprintf(stderr, "\r%s [%s] %d/%d  %.2f s/it  ETA %.0f s ", label_.c_str(), bar.c_str(), done, total, per_step, eta);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace diffuse::app
