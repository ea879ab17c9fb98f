#include "core/buffer_pool.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

namespace diffuse {
namespace {

struct Pool {
  std::mutex mutex;
  std::multimap<size_t, float*> idle;
  size_t idle_bytes = 0;
  size_t live_bytes = 0, live_peak = 0;  // handed out and not yet released
  size_t slack = BufferPool::kDefaultSlackBytes;
  size_t fresh = 0;

  size_t idle_limit() const { return live_peak - std::min(live_peak, live_bytes) + slack; }

  // Largest first: the fewest frees for the most memory.
  void free_idle_beyond(size_t bytes) {
    while (idle_bytes > bytes) {
      auto largest = std::prev(idle.end());
      idle_bytes -= largest->first;
      std::free(largest->second);
      idle.erase(largest);
    }
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: buffers may be released during static destruction
  return *p;
}

void release(float* buffer, size_t bytes) {
  Pool& p = pool();
  {
    std::lock_guard lock(p.mutex);
    p.live_bytes -= bytes;
    if (p.idle_bytes + bytes <= p.idle_limit()) {
      p.idle.emplace(bytes, buffer);
      p.idle_bytes += bytes;
      return;
    }
  }
  std::free(buffer);
}

}  // namespace

void BufferPool::set_slack(size_t bytes) {
  Pool& p = pool();
  std::lock_guard lock(p.mutex);
  p.slack = bytes;
  p.free_idle_beyond(p.idle_limit());
}

void BufferPool::release_idle() {
  Pool& p = pool();
  std::lock_guard lock(p.mutex);
  p.free_idle_beyond(0);
  p.live_peak = p.live_bytes;
}

size_t BufferPool::idle_bytes() {
  std::lock_guard lock(pool().mutex);
  return pool().idle_bytes;
}

size_t BufferPool::fresh_buffers() {
  std::lock_guard lock(pool().mutex);
  return pool().fresh;
}

std::shared_ptr<float[]> BufferPool::acquire(size_t bytes) {
  Pool& p = pool();
  float* buffer = nullptr;
  {
    std::lock_guard lock(p.mutex);
    p.live_bytes += bytes;
    p.live_peak = std::max(p.live_peak, p.live_bytes);
    if (auto it = p.idle.find(bytes); it != p.idle.end()) {
      buffer = it->second;
      p.idle.erase(it);
      p.idle_bytes -= bytes;
    } else {
      p.free_idle_beyond(p.idle_limit());  // the new buffer takes the room idle ones had
      ++p.fresh;
    }
  }
  if (!buffer) buffer = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!buffer) {
    std::lock_guard lock(p.mutex);
    p.live_bytes -= bytes;
    return nullptr;
  }
  return std::shared_ptr<float[]>(buffer, [bytes](float* b) { release(b, bytes); });
}

}  // namespace diffuse
