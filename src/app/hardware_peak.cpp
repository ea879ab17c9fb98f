#include "app/hardware_peak.h"

#include <chrono>
#include <cstdint>

#include <immintrin.h>

#include "core/amx.h"
#include "core/dnnl_context.h"

namespace diffuse::app {
namespace {

// Independent accumulators per thread: more than the multiply-add latency (4 cycles) times the
// units issuing them (2), so the loop is bound by throughput alone.
constexpr int kChains = 12;
constexpr int64_t kIterations = int64_t(1) << 24;

template <typename Loop>  // Loop(iterations) -> FLOPs one thread did
double tflops_on_all_threads(Loop loop) {
  double seconds = 0, flops = 0;
  for (int pass = 0; pass < 2; ++pass) {  // the first raises the cores' clocks for the wide units
    const auto start = std::chrono::steady_clock::now();
    double total = 0;
#pragma omp parallel num_threads(num_threads()) reduction(+ : total)
    total += loop(kIterations);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    flops = total;
  }
  return flops / seconds / 1e12;
}

// Where each loop leaves a result, so that the compiler keeps the loop.
thread_local volatile float sink;

using f32x16 = float __attribute__((vector_size(64)));  // one AVX-512 register
using f32x8 = float __attribute__((vector_size(32)));   // one AVX2 register

// x = x * a + b on kChains registers of type V (this file compiles with -ffp-contract=fast, so
// each is one FMA); inlined into each target's function below.
template <typename V>
[[gnu::always_inline]] inline double fma_loop(int64_t iterations) {
  const V a = V{} + 0.999f, b = V{} + 1e-3f;
  V acc[kChains];
  for (auto& x : acc) x = b;
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 16  // all accumulators in registers
    for (auto& x : acc) x = x * a + b;
  for (auto& x : acc) sink = sink + x[0];
  return double(iterations) * kChains * (sizeof(V) / sizeof(float)) * 2;
}

__attribute__((target("avx512f"))) double fp32_avx512(int64_t iterations) { return fma_loop<f32x16>(iterations); }

double fp32_avx2(int64_t iterations) { return fma_loop<f32x8>(iterations); }

__attribute__((target("avx512f,avx512bf16"))) double bf16_avx512(int64_t iterations) {
  const __m512bh one = (__m512bh)_mm512_set1_epi16(0x3f80);  // bf16 1.0
  __m512 acc[kChains];
  for (auto& x : acc) x = _mm512_setzero_ps();
  for (int64_t i = 0; i < iterations; ++i)
#pragma GCC unroll 16  // all accumulators in registers
    for (auto& x : acc) x = _mm512_dpbf16_ps(x, one, one);
  for (auto& x : acc) sink = sink + x[0];
  return double(iterations) * kChains * 32 * 2;  // 16 lanes, a pair of products each
}

// Tiles 0-5 accumulate 16x16 fp32 products of A tile 6 (16 rows of 32 bf16) and B tile 7: each
// TDPBF16PS is 16 * 16 * 32 multiply-adds, and six independent ones cover its latency.
__attribute__((target("amx-tile,amx-bf16"))) double bf16_amx(int64_t iterations) {
  const TileConfig config = full_tiles();
  alignas(64) uint16_t operand[16 * 32] = {};
  alignas(64) float result[16 * 16];
  _tile_loadconfig(&config);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_zero(4);
  _tile_zero(5);
  _tile_loadd(6, operand, 64);
  _tile_loadd(7, operand, 64);
  const int64_t rounds = iterations / 16;  // a tile product takes ~16 cycles, an FMA 0.5
  for (int64_t i = 0; i < rounds; ++i) {
    _tile_dpbf16ps(0, 6, 7);
    _tile_dpbf16ps(1, 6, 7);
    _tile_dpbf16ps(2, 6, 7);
    _tile_dpbf16ps(3, 6, 7);
    _tile_dpbf16ps(4, 6, 7);
    _tile_dpbf16ps(5, 6, 7);
  }
  _tile_stored(0, result, 64);
  _tile_release();
  sink = sink + result[0];
  return double(rounds) * 6 * 16 * 16 * 32 * 2;
}

}  // namespace

HardwarePeak measure_fp32_peak() {
  if (__builtin_cpu_supports("avx512f")) return {tflops_on_all_threads(fp32_avx512), "AVX-512 FMA"};
  return {tflops_on_all_threads(fp32_avx2), "AVX2 FMA"};
}

std::optional<HardwarePeak> measure_bf16_peak() {
  if (amx_usable()) return HardwarePeak{tflops_on_all_threads(bf16_amx), "AMX tiles"};
  if (__builtin_cpu_supports("avx512bf16")) return HardwarePeak{tflops_on_all_threads(bf16_avx512), "AVX512-BF16"};
  return std::nullopt;
}

}  // namespace diffuse::app
