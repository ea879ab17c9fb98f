#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace diffuse {

// The fused softmax needs, for each query row, a bound m_i on its scores: exp(s_ij - m_i) then
// never overflows, and softmax is unchanged by the shift. With k̄ the mean of a head's keys and r
// their largest distance from it, s_ij = scale q_i.k_j <= scale (q_i.k̄ + |q_i| r) = m_i (Cauchy-
// Schwarz on the centred keys, whose common part would loosen the bound).
struct KeySpread {
  std::vector<double> center;  // k̄
  double radius = 0;           // r
};

// Head h (of `heads`) of batch b of keys k: [B, Tk, C].
KeySpread key_spread(const Tensor& k, int64_t b, int64_t h, int64_t heads);
// m for the query row q (the head's d values).
double score_bound(const float* q, const KeySpread& keys, float scale);

}  // namespace diffuse
