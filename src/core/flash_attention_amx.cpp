// The tile kernel on AMX. Everything defined after the pragma is compiled for AVX-512 and AMX:
// headers with functions of their own come before it, so that no copy of a library function
// compiled for those instructions can be the one the program links (see flash_attention_kernel.h).
#include <cstdint>
#include <type_traits>
#include <utility>

#include <immintrin.h>

#include "core/amx.h"
#include "core/flash_attention.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16")
// GCC 12's own _mm512_roundscale_ps and _mm512_scalef_ps start from an undefined register.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "core/flash_attention_kernel.h"

namespace diffuse {
namespace {

// The tile instructions written out: GCC's intrinsics paste the tile number into the
// instruction as a token, which a template parameter is not, and tell the compiler of no memory
// access (the kernel stores the weights that the next load reads).
struct AmxTiles {
  static void configure() {
    static const TileConfig config = full_tiles();
    _tile_loadconfig(&config);
  }
  template <int T>
  static void load(const void* address, int64_t stride) {
    asm volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(address), "r"(stride), "i"(T) : "memory");
  }
  template <int T>
  static void store(void* address, int64_t stride) {
    asm volatile("tilestored %%tmm%c2, (%0,%1,1)" ::"r"(address), "r"(stride), "i"(T) : "memory");
  }
  template <int T>
  static void zero() {
    asm volatile("tilezero %%tmm%c0" ::"i"(T));
  }
  template <int C, int A, int B>
  static void dot() {
    asm volatile("tdpbf16ps %%tmm%c2, %%tmm%c1, %%tmm%c0" ::"i"(C), "i"(A), "i"(B));
  }
  static void release() { _tile_release(); }
};

// AVX-512's scaling by a power of two (exact, and 0 below the smallest float, where the portable
// exponent arithmetic needs a clamp) and AVX512-BF16's conversion of two registers in one.
struct Avx512Math {
  [[gnu::always_inline]] static inline flash::f32x16 exp(flash::f32x16 x) {
    const flash::f32x16 n = _mm512_roundscale_ps(x * flash::kLog2e, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const flash::f32x16 f = (x - n * flash::kLn2High) - n * flash::kLn2Low;
    return _mm512_scalef_ps(flash::exp_reduced<Avx512Math>(f), n);
  }
  [[gnu::always_inline]] static inline void store_bf16(uint16_t* dst, flash::f32x16 low, flash::f32x16 high) {
    _mm512_storeu_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(high, low));
  }
};

}  // namespace

void amx_flash_block(const FlashBlock& block) { flash::Kernel<AmxTiles, Avx512Math>::run(block); }

}  // namespace diffuse

#pragma GCC pop_options
