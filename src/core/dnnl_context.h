#pragma once
#include <cstdint>
#include <unordered_map>

#include <dnnl.hpp>

namespace diffuse {

// The process-wide oneDNN CPU engine, and a stream per thread (attention runs primitives from
// every thread at once). oneDNN runs on the same OpenMP pool as our own kernels, so one thread
// setting (set_num_threads) governs everything.
dnnl::engine& dnnl_engine();
dnnl::stream& dnnl_stream();
void set_num_threads(int threads);  // <= 0: all cores
int num_threads();
// oneDNN plans a primitive made inside a parallel region for one thread and one made outside for
// the whole team, and runs either where it is; so primitives are cached per context (0 or 1).
int64_t threading_context();

// oneDNN allocates a primitive's scratchpad (packing and im2col buffers) for each execution and
// frees it after: fresh pages every call, 13k page faults per 256x256 UNet pass. Primitives made
// with these attributes take theirs from execute(), out of a per-thread buffer that grows to the
// largest one needed and stays.
dnnl::primitive_attr caller_scratchpad(dnnl::primitive_attr attr = {});
// Runs `prim` on this thread's stream, with its scratchpad if it has one, and waits.
void execute(const dnnl::primitive& prim, std::unordered_map<int, dnnl::memory> args);

}  // namespace diffuse
