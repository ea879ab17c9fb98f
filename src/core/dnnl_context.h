#pragma once
#include <dnnl.hpp>

namespace diffuse {

// The process-wide oneDNN CPU engine, and a stream per thread (attention runs primitives from
// every thread at once). oneDNN runs on the same OpenMP pool as our own kernels, so one thread
// setting (set_num_threads) governs everything.
dnnl::engine& dnnl_engine();
dnnl::stream& dnnl_stream();
void set_num_threads(int threads);  // <= 0: all cores
int num_threads();

}  // namespace diffuse
