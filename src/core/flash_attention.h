#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace diffuse {

// Attention computed 16 queries at a time in tile registers: the block's scores, their exp and
// its product with the values never leave the core (flash attention, Dao et al. 2022, with the
// fused softmax's per-row bound in place of a running maximum, see score_bound.h).
//
// Operands are bf16, packed per head into the layouts the tile products read (a tile row is 64
// bytes: 32 bf16, or 16 pairs; the second operand of a tile product holds pairs of its inner
// dimension side by side):
// - queries [tq16][d32]: rows of 32-wide chunks of the head dimension, zero past d;
// - keys [tk32 / 16][d32 / 2][16][2]: per block of 16 keys, per pair of dimensions, the 16 keys'
//   pair;
// - values [tk32 / 2][d16][2]: per pair of keys, per output dimension, the two keys' values.
// tq16, tk32, d16, d32: tq, tk and d rounded up to multiples of 16 or 32.
struct FlashBlock {
  const uint16_t* queries;  // the block's 16 rows
  const uint16_t* keys;
  const uint16_t* values;
  const float* bounds;  // per row m, with scale * q.k - m <= 0 for every key
  float scale;
  int64_t tk, d32, d16;
  float* out;       // [16][d16]: sum over keys of exp(scale q.k - m) v (bf16 weights)
  float* row_sums;  // [16]: sum over keys of exp(scale q.k - m) (fp32)
};

// One block through the tiles. The AMX one is below; tests run the same kernel on emulated tiles.
using FlashBlockKernel = void (*)(const FlashBlock&);
void amx_flash_block(const FlashBlock& block);  // only where amx_usable()

// Head sizes the kernel takes: up to 64 (its output's 16-wide column blocks take 4 of the 8 tile
// registers).
constexpr int64_t kFlashMaxHeadDim = 64;

// softmax(q k^T / sqrt(d)) v for `heads` heads of d = C / heads <= kFlashMaxHeadDim, no mask;
// q: [B,Tq,C], k,v: [B,Tk,C], bf16 products. Rows whose sum shows that their scores sat too far
// below the bound for fp32 run an exact fp32 softmax instead; `fallback_rows` counts them.
Tensor flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, FlashBlockKernel kernel,
                       int64_t* fallback_rows = nullptr);

}  // namespace diffuse
