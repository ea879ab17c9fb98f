#pragma once
#include <string>


namespace diffuse::app {

// The share of all CPUs' time that went to other work during the next `seconds`, which this
// process sleeps through (Linux /proc/stat): what a bench about to start would compete with. A
// load average is no substitute: it still counts, for a minute, a job that just ended. Negative
// where /proc/stat cannot be read.
double busy_share_of_cpus(double seconds);
// The CPU as figures should name it: "AMD EPYC 7B13, 2 CPUs, AVX2" (the widest of AVX2, AVX-512,
// AVX512-BF16, AMX that /proc/cpuinfo lists), or "unknown CPU".
std::string cpu_kind();

}  // namespace diffuse::app
