#pragma once
#include <cstddef>
#include <memory>

namespace diffuse {

// Recycles tensor buffers by exact size. A denoising loop asks for the same activation sizes
// every step; handing freed buffers back out avoids a fresh mmap and its page faults for
// every large tensor (a quarter of a million faults per 512x512 VAE decode before this).
// Idle buffers are bounded by a fixed capacity, or by the live peak (bound_by_live_peak).
class BufferPool {
 public:
  // The default holds a 512x512 UNet pass's churn: at 256 MiB, 812 MiB of its buffers per step
  // missed the pool (222k page faults, 0.2 s of a bf16 step on 2 cores); at 512 MiB 22k faults.
  static constexpr size_t kDefaultCapacityBytes = size_t(512) << 20;
  static void set_capacity(size_t bytes);  // frees idle buffers beyond the new capacity
  // Instead of a capacity: keep idle buffers only while they and the live ones together stay
  // within the most live memory seen since the last release_idle(). A repeating workload (a UNet
  // pass per step) then recycles most of its buffers without raising its peak above what its
  // live tensors alone reach.
  static void bound_by_live_peak();
  // Frees every idle buffer and starts a new live peak: for a phase whose sizes differ from the
  // last one's (the VAE decode after sampling), which would only hold the old sizes resident.
  static void release_idle();

  static size_t idle_bytes();

  // A 64-byte aligned buffer of `bytes` (a multiple of 64) that returns to the pool when released.
  static std::shared_ptr<float[]> acquire(size_t bytes);
};

}  // namespace diffuse
