#include "core/dnnl_context.h"

#include <omp.h>

#include <cstdlib>
#include <memory>

namespace diffuse {

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream stream(dnnl_engine());
  return stream;
}

void set_num_threads(int threads) { omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs()); }

int num_threads() { return omp_get_max_threads(); }

int64_t threading_context() { return omp_in_parallel() ? 1 : 0; }

dnnl::primitive_attr caller_scratchpad(dnnl::primitive_attr attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void execute(const dnnl::primitive& prim, std::unordered_map<int, dnnl::memory> args) {
  const dnnl_memory_desc_t* md = dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  const size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
  if (bytes > 0) {
    struct FreeDeleter {
      void operator()(void* p) const { std::free(p); }
    };
    thread_local std::unique_ptr<void, FreeDeleter> buffer;
    thread_local size_t capacity = 0;
    if (bytes > capacity) {
      capacity = (bytes + 63) / 64 * 64;
      buffer.reset(std::aligned_alloc(64, capacity));
      if (!buffer) throw std::bad_alloc();
    }
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(dnnl::memory::desc(*md), dnnl_engine(), buffer.get()));
  }
  prim.execute(dnnl_stream(), args);
  dnnl_stream().wait();
}

}  // namespace diffuse
