#include "app/machine_load.h"

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace diffuse::app {
namespace {

struct CpuTimes {
  long long busy = 0, total = 0;
};

// The first line of /proc/stat: "cpu  user nice system idle iowait irq softirq steal ...", in
// clock ticks summed over every CPU since boot.
bool read_cpu_times(CpuTimes& t) {
  std::ifstream in("/proc/stat");
  std::string label;
  if (!(in >> label) || label != "cpu") return false;
  long long value = 0;
  t = {};
  for (int field = 0; field < 8 && in >> value; ++field) {
    t.total += value;
    if (field != 3 && field != 4) t.busy += value;  // idle and iowait are not work
  }
  return t.total > 0;
}

}  // namespace

double busy_share_of_cpus(double seconds) {
  CpuTimes before, after;
  if (!read_cpu_times(before)) return -1;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  if (!read_cpu_times(after) || after.total <= before.total) return -1;
  return double(after.busy - before.busy) / double(after.total - before.total);
}

std::string cpu_kind() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU", flags;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon + 2 > line.size()) continue;
    if (line.starts_with("model name") && model == "unknown CPU") model = line.substr(colon + 2);
    if (line.starts_with("flags") && flags.empty()) flags = " " + line.substr(colon + 2) + " ";
  }
  auto has = [&](const char* flag) { return flags.find(" " + std::string(flag) + " ") != std::string::npos; };
  const char* isa = has("amx_tile") ? "AMX" : has("avx512_bf16") ? "AVX512-BF16" : has("avx512f") ? "AVX-512"
                  : has("avx2")     ? "AVX2" : "no AVX2";
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " CPUs, " + isa;
}

}  // namespace diffuse::app
