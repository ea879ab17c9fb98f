#pragma once
#include <cstddef>
#include <memory>

namespace diffuse {

// Recycles tensor buffers by exact size. A denoising loop asks for the same activation sizes
// every step; handing freed buffers back out avoids a fresh mmap and its page faults for
// every large tensor (a quarter of a million faults per 512x512 VAE decode before this).
// At most kCapacityBytes sit idle; beyond that buffers go back to the system.
class BufferPool {
 public:
  static constexpr size_t kCapacityBytes = size_t(1) << 30;

  // A 64-byte aligned buffer of `bytes` (a multiple of 64) that returns to the pool when released.
  static std::shared_ptr<float[]> acquire(size_t bytes);
};

}  // namespace diffuse
