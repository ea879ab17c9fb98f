#include "core/buffer_pool.h"

#include <cstdlib>
#include <map>
#include <mutex>

namespace diffuse {
namespace {

struct Pool {
  std::mutex mutex;
  std::multimap<size_t, float*> idle;
  size_t idle_bytes = 0;
  size_t capacity = BufferPool::kDefaultCapacityBytes;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: buffers may be released during static destruction
  return *p;
}

void release(float* buffer, size_t bytes) {
  Pool& p = pool();
  {
    std::lock_guard lock(p.mutex);
    if (p.idle_bytes + bytes <= p.capacity) {
      p.idle.emplace(bytes, buffer);
      p.idle_bytes += bytes;
      return;
    }
  }
  std::free(buffer);
}

// Called with the mutex held. Largest first: the fewest frees for the most memory.
void free_idle_beyond(Pool& p, size_t bytes) {
  while (p.idle_bytes > bytes) {
    auto largest = std::prev(p.idle.end());
    p.idle_bytes -= largest->first;
    std::free(largest->second);
    p.idle.erase(largest);
  }
}

}  // namespace

size_t BufferPool::capacity() {
  std::lock_guard lock(pool().mutex);
  return pool().capacity;
}

void BufferPool::set_capacity(size_t bytes) {
  Pool& p = pool();
  std::lock_guard lock(p.mutex);
  p.capacity = bytes;
  free_idle_beyond(p, bytes);
}

void BufferPool::release_idle() {
  Pool& p = pool();
  std::lock_guard lock(p.mutex);
  free_idle_beyond(p, 0);
}

std::shared_ptr<float[]> BufferPool::acquire(size_t bytes) {
  Pool& p = pool();
  float* buffer = nullptr;
  {
    std::lock_guard lock(p.mutex);
    if (auto it = p.idle.find(bytes); it != p.idle.end()) {
      buffer = it->second;
      p.idle.erase(it);
      p.idle_bytes -= bytes;
    }
  }
  if (!buffer) buffer = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!buffer) return nullptr;
  return std::shared_ptr<float[]>(buffer, [bytes](float* b) { release(b, bytes); });
}

}  // namespace diffuse
