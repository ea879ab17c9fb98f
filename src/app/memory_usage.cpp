#include "app/memory_usage.h"

#include <malloc.h>
#include <sys/resource.h>

#include <fstream>
#include <string>

#include "core/buffer_pool.h"

namespace diffuse::app {

namespace {

// A "VmRSS:   123 kB" line of /proc/self/status, in MiB; 0 where there is none.
double status_mib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with(field + ":")) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  return 0;
}

}  // namespace

double rss_mib() { return status_mib("VmRSS"); }

long page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

double peak_rss_mib() {
  if (const double peak = status_mib("VmHWM"); peak > 0) return peak;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;
}

bool reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  return bool(clear_refs.flush());
}

void return_large_frees_to_the_system() {
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

void use_low_memory_buffers() { BufferPool::set_slack(0); }

}  // namespace diffuse::app
