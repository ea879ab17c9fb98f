#pragma once
#include <optional>
#include <string>

namespace diffuse::app {

struct MatmulPeak {
  std::optional<double> tflops;  // none: no native oneDNN kernel for the type on this CPU
  std::string kernel;            // oneDNN's implementation, e.g. "gemm:jit"; empty: the type is not supported
};

// The sustained TFLOP/s of oneDNN's matmul on a large square problem (the ceiling any layer of
// the engine can reach) with the current thread count, run for about `seconds`. `type`: "f32",
// or "bf16" (bf16 inputs, f32 output, as a bf16 engine would use it). A CPU without a native
// kernel for the type gets oneDNN's reference one, which says nothing about peak: not timed.
MatmulPeak measure_matmul_peak(const std::string& type, double seconds);

}  // namespace diffuse::app
