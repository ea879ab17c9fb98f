#pragma once

namespace diffuse::app {

// The process's resident set size now (Linux VmRSS) and at its peak (VmHWM), in MiB.
double rss_mib();
double peak_rss_mib();
// Starts a new peak from the current resident size (Linux clear_refs). Returns false where the
// kernel does not allow it; the peak then keeps counting from the process's start.
bool reset_peak_rss();

// glibc raises its mmap threshold after each large free, after which buffers of up to 32 MiB
// come from the heap and stay resident when freed (0.3-0.5 GiB over a UNet pass here). A fixed
// threshold gives every allocation over 1 MiB back to the system when it is freed.
void return_large_frees_to_the_system();

// --low-memory: no idle tensor buffers kept for reuse (more page faults, less resident memory).
void use_low_memory_buffers();

}  // namespace diffuse::app
