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
  // The default holds a UNet pass's working set (a few hundred MiB at 1024x1024) but not a VAE
  // decode's large full-resolution tensors, which would otherwise stay resident after it.
  static constexpr size_t kDefaultCapacityBytes = size_t(256) << 20;
  static size_t capacity();
  static void set_capacity(size_t bytes);  // frees idle buffers beyond the new capacity

  // A 64-byte aligned buffer of `bytes` (a multiple of 64) that returns to the pool when released.
  static std::shared_ptr<float[]> acquire(size_t bytes);
};

}  // namespace diffuse
