#pragma once

namespace diffuse::app {

// The process's resident set size now (Linux VmRSS) and at its peak (VmHWM), in MiB.
double rss_mib();
double peak_rss_mib();
// Starts a new peak from the current resident size (Linux clear_refs). Returns false where the
// kernel does not allow it; the peak then keeps counting from the process's start.
bool reset_peak_rss();
// Minor page faults so far: each is a fresh page the process touched, so a count that does not
// grow over a UNet pass shows the pass took every buffer from memory it already had.
long page_faults();

// glibc raises its mmap threshold after each large free, after which buffers of up to 32 MiB
// come from the heap and stay resident when freed (0.3-0.5 GiB over a UNet pass here). A fixed
// threshold gives every allocation over 1 MiB back to the system when it is freed. Smaller ones
// stay in the heap: it is trimmed only beyond 64 MiB free, where the default 128 KiB handed the
// same pages back and forth (38k page faults per 512x512 UNet pass).
void return_large_frees_to_the_system();

// --low-memory: idle tensor buffers only within the live peak (no slack in BufferPool). SD 1.5
// at 512x512 in bf16, 2 threads, emulated: no idle buffers, 2.19 GiB peak and 1.19M page faults
// per step (13.0 s); a fixed 64 MiB, 2.25 GiB and 0.69M (12.6 s); within the live peak,
// 2.28 GiB and 0.29M (11.4 s, as fast as the default pool).
void use_low_memory_buffers();

}  // namespace diffuse::app
