#pragma once
#include <cstddef>
#include <memory>

namespace diffuse {

// Recycles tensor buffers by exact size. A denoising loop asks for the same activation sizes
// every step; handing freed buffers back out avoids a fresh mmap and its page faults for
// every large tensor (a quarter of a million faults per 512x512 VAE decode before this).
// At most capacity() bytes sit idle; beyond that buffers go back to the system.
class BufferPool {
 public:
  // The default holds a 512x512 UNet pass's churn: at 256 MiB, 812 MiB of its buffers per step
  // missed the pool (222k page faults, 0.2 s of a bf16 step on 2 cores); at 512 MiB 22k faults.
  static constexpr size_t kDefaultCapacityBytes = size_t(512) << 20;
  static size_t capacity();
  static void set_capacity(size_t bytes);  // frees idle buffers beyond the new capacity
  // Frees every idle buffer, keeping the capacity: for a phase whose sizes differ from the last
  // one's (the VAE decode after sampling), which would only hold the old sizes resident.
  static void release_idle();

  // A 64-byte aligned buffer of `bytes` (a multiple of 64) that returns to the pool when released.
  static std::shared_ptr<float[]> acquire(size_t bytes);
};

}  // namespace diffuse
