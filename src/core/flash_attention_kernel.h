#pragma once
// The tile kernel of flash_attention.h, over a Tiles type with AMX's operations: configure(),
// load<T>(address, stride), store<T>, zero<T>, dot<C, A, B>() (C += A B in bf16 pairs, fp32
// accumulation), release(). flash_attention_amx.cpp instantiates it on the tile registers inside a
// region compiled for AVX-512 and AMX, so nothing here may be a non-template function or call
// one defined outside (its copy would be compiled for AVX-512 and could be the one linked
// everywhere); the tests instantiate it on emulated tiles. The vector helpers are always inlined,
// so passing 64-byte vectors between them has no ABI, whatever -Wpsabi says where AVX-512 is off.
#include <cstdint>
#include <type_traits>
#include <utility>

#include "core/flash_attention.h"

// For the whole including file: templates are instantiated at its end.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace diffuse::flash {

// GCC vector types: one AVX-512 register in the AMX build, two AVX2 ones elsewhere.
using f32x16 = float __attribute__((vector_size(64)));
using i32x16 = int32_t __attribute__((vector_size(64)));
using u32x16 = uint32_t __attribute__((vector_size(64)));
using u16x16 = uint16_t __attribute__((vector_size(32)));

// e^f for |f| <= ln 2 / 2, Cephes' expf polynomial (within ~2 ulp with the range reduction
// below). A template only so that each caller's copy is its own (see above).
template <class Caller>
[[gnu::always_inline]] inline f32x16 exp_reduced(f32x16 f) {
  f32x16 p = f * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  return p * (f * f) + f + 1.0f;
}
constexpr float kLog2e = 1.44269504088896341f, kLn2High = 0.693359375f, kLn2Low = -2.12194440e-4f;

// The kernel's arithmetic outside the tiles, in portable vector code; flash_attention_amx.cpp
// has AVX-512 single instructions for the exponent and the bf16 packing.
struct PortableMath {
  // exp(x) for the shifted scores (x <= ~0): 2^n e^f, n = round(x / ln 2); below -87 it gives
  // ~2^-126, not 0.
  [[gnu::always_inline]] static inline f32x16 exp(f32x16 x) {
    const f32x16 lowest = f32x16{} - 87.0f, magic = f32x16{} + 12582912.0f;  // 1.5 * 2^23
    x = x < lowest ? lowest : x;
    const f32x16 t = x * kLog2e + magic;  // its low bits: n
    const f32x16 n = t - magic;
    const f32x16 f = (x - n * kLn2High) - n * kLn2Low;
    const i32x16 exponent = ((i32x16)t - (i32x16)magic + 127) << 23;
    return exp_reduced<PortableMath>(f) * (f32x16)exponent;
  }
  // 32 values, rounded to nearest even (they are finite and non-negative), low then high.
  [[gnu::always_inline]] static inline void store_bf16(uint16_t* dst, f32x16 low, f32x16 high) {
    *(u16x16*)dst = to_bf16(low);
    *(u16x16*)(dst + 16) = to_bf16(high);
  }
  [[gnu::always_inline]] static inline u16x16 to_bf16(f32x16 x) {
    const u32x16 bits = (u32x16)x;
    return __builtin_convertvector((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16, u16x16);
  }
};

template <class Tiles, class Math = PortableMath>
struct Kernel {
  // Tile registers: two 16x16 score blocks (32 keys), the first also the bf16 weights of those
  // 32 keys for the second product; a chunk of 32 query dimensions; the second operand (keys or
  // values); up to four 16-column blocks of the output.
  enum : int { kScores0 = 0, kScores1 = 1, kQueries = 2, kOperand = 3, kOut0 = 4 };

  // f(std::integral_constant<int, O>) for the output's column blocks O < count: tile numbers are
  // part of the instruction.
  template <class F>
  [[gnu::always_inline]] static inline void each_out_block(int count, F f) {
    [&]<int... O>(std::integer_sequence<int, O...>) {
      ((O < count ? f(std::integral_constant<int, O>{}) : void()), ...);
    }(std::make_integer_sequence<int, 4>());
  }

  static void run(const FlashBlock& b) {
    alignas(64) float scores[16][32];
    alignas(64) uint16_t weights[16][32];
    f32x16 sums[16];
    for (f32x16& s : sums) s = f32x16{};
    const int out_blocks = int(b.d16 / 16), chunks = int(b.d32 / 32);
    const i32x16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

    Tiles::configure();
    each_out_block(out_blocks, [](auto o) { Tiles::template zero<kOut0 + decltype(o)::value>(); });
    for (int64_t key = 0; key < b.tk; key += 32) {
      Tiles::template zero<kScores0>();
      Tiles::template zero<kScores1>();
      // Keys key .. key+15 and key+16 .. key+31, blocks of the packed keys' layout.
      const uint16_t* keys0 = b.keys + (key / 16) * (b.d32 / 2) * 32;
      const uint16_t* keys1 = keys0 + (b.d32 / 2) * 32;
      for (int c = 0; c < chunks; ++c) {
        Tiles::template load<kQueries>(b.queries + c * 32, b.d32 * 2);
        Tiles::template load<kOperand>(keys0 + c * 16 * 32, 64);
        Tiles::template dot<kScores0, kQueries, kOperand>();
        Tiles::template load<kOperand>(keys1 + c * 16 * 32, 64);
        Tiles::template dot<kScores1, kQueries, kOperand>();
      }
      Tiles::template store<kScores0>(&scores[0][0], sizeof scores[0]);
      Tiles::template store<kScores1>(&scores[0][16], sizeof scores[0]);

      const int64_t valid = b.tk - key;  // keys past tk are padding: weight 0
      for (int r = 0; r < 16; ++r) {
        const f32x16 shift = f32x16{} + b.bounds[r];
        f32x16 e0 = Math::exp(*(const f32x16*)&scores[r][0] * b.scale - shift);
        f32x16 e1 = Math::exp(*(const f32x16*)&scores[r][16] * b.scale - shift);
        if (valid < 32) {
          e0 = lane < int32_t(valid) ? e0 : f32x16{};
          e1 = lane + 16 < int32_t(valid) ? e1 : f32x16{};
        }
        sums[r] += e0 + e1;
        Math::store_bf16(weights[r], e0, e1);
      }
      // Out += weights x values, the 16 pairs of keys key / 2 .. key / 2 + 15, per column block.
      Tiles::template load<kScores0>(&weights[0][0], sizeof weights[0]);
      each_out_block(out_blocks, [&](auto o) {
        constexpr int O = decltype(o)::value;
        Tiles::template load<kOperand>(b.values + ((key / 2) * b.d16 + O * 16) * 2, b.d16 * 4);
        Tiles::template dot<kOut0 + O, kScores0, kOperand>();
      });
    }
    each_out_block(out_blocks, [&](auto o) {
      constexpr int O = decltype(o)::value;
      Tiles::template store<kOut0 + O>(b.out + O * 16, b.d16 * 4);
    });
    Tiles::release();
    for (int r = 0; r < 16; ++r) {
      float s = 0;
      for (int i = 0; i < 16; ++i) s += sums[r][i];
      b.row_sums[r] = s;
    }
  }
};

}  // namespace diffuse::flash
