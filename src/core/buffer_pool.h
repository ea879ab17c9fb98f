#pragma once
#include <cstddef>
#include <memory>

namespace diffuse {

// Recycles tensor buffers by exact size. A denoising loop asks for the same activation sizes
// every step; handing freed buffers back out avoids a fresh mmap and its page faults for
// every large tensor (a quarter of a million faults per 512x512 VAE decode before this).
// Idle buffers are kept while they and the live ones together stay within the most live memory
// seen in the phase plus a slack: a repeating workload (a UNet pass per step) then recycles its
// buffers at any image size, and the pool raises the peak by at most the slack.
class BufferPool {
 public:
  // SD 1.5 at 512x512, bf16, 2 threads, page faults per step: a fixed 256 MiB of idle buffers,
  // 260k (0.2 s of the step); a fixed 512 MiB, 26k, but 569k for SD 2.1 at 768x768; live peak
  // with no slack, 290k. The slack absorbs what the live peak alone does not.
  static constexpr size_t kDefaultSlackBytes = size_t(512) << 20;
  static void set_slack(size_t bytes);  // frees idle buffers beyond the new bound
  // Frees every idle buffer and starts a new live peak: for a phase whose sizes differ from the
  // last one's (the VAE decode after sampling), which would only hold the old sizes resident.
  static void release_idle();
  // While it lives, a phase that runs once (a VAE decode or encode): it starts and ends with
  // release_idle() and keeps no slack, which only pays for a repeating workload; idle buffers are
  // still recycled within the phase's own live peak. SD 1.5 at 512x512 in bf16: the decode's peak
  // RSS 3.49 -> 2.99 GiB, its time unchanged (6.5-6.8 s).
  class OnePass {
   public:
    OnePass();
    ~OnePass();
    OnePass(const OnePass&) = delete;
    OnePass& operator=(const OnePass&) = delete;

   private:
    size_t slack_;  // restored after
  };
  static size_t idle_bytes();
  // Buffers the pool could not hand back and took from the system, since the process began: a
  // repeated UNet pass that adds none runs entirely in memory it already had.
  static size_t fresh_buffers();

  // A 64-byte aligned buffer of `bytes` (a multiple of 64) that returns to the pool when released.
  static std::shared_ptr<float[]> acquire(size_t bytes);
};

}  // namespace diffuse
