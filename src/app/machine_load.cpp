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

}  // namespace diffuse::app
