#include "app/matmul_peak.h"

#include <chrono>
#include <cstdint>
#include <vector>

#include <dnnl.hpp>

#include "core/dnnl_context.h"
#include "core/dtype.h"

namespace diffuse::app {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// 2048^3 is 17 GFLOP: large enough that every kernel runs at its blocked steady state, small
// enough that one repetition takes a fraction of a second on a laptop.
constexpr int64_t kSize = 2048;

MatmulPeak measure_matmul_peak(const std::string& type, double seconds) {
  const dt in_type = type == "bf16" ? dt::bf16 : dt::f32;
  const dnnl::memory::desc a_md({kSize, kSize}, in_type, tag::ab), b_plain({kSize, kSize}, in_type, tag::ab),
      c_md({kSize, kSize}, dt::f32, tag::ab);
  // The weights in the layout the kernel picks (packed once, as LinearKernel does): with a plain
  // B an AMX kernel repacks it on every call, which is not the speed any layer runs at.
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, {{kSize, kSize}, in_type, tag::any}, c_md),
                                      caller_scratchpad(), dnnl_engine());
  } catch (const dnnl::error&) {
    return {std::nullopt, ""};
  }
  MatmulPeak peak{std::nullopt, pd.impl_info_str()};
  if (peak.kernel.starts_with("ref")) return peak;

  // Small values well inside both types' ranges; their size does not change the speed.
  const size_t elems = size_t(kSize * kSize);
  std::vector<float> a32(elems, 0.01f), c(elems);
  std::vector<uint16_t> a16(elems, float_to_bf16(0.01f));
  void* input = in_type == dt::bf16 ? static_cast<void*>(a16.data()) : static_cast<void*>(a32.data());
  auto& eng = dnnl_engine();
  const dnnl::memory a(a_md, eng, input), b_source(b_plain, eng, input), b(pd.weights_desc(), eng), out(c_md, eng, c.data());
  execute(dnnl::reorder(b_source, b), {{DNNL_ARG_FROM, b_source}, {DNNL_ARG_TO, b}});
  const dnnl::matmul prim(pd);
  auto run = [&] { execute(prim, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, out}}); };

  run();  // the first call pays for JIT code generation and page faults
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  int reps = 0;
  do {
    run();
    ++reps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  peak.tflops = 2.0 * double(kSize) * double(kSize) * double(kSize) * reps / elapsed / 1e12;
  return peak;
}

}  // namespace diffuse::app
