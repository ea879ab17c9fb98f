#pragma once
#include "core/precision.h"
#include "core/tensor.h"

namespace diffuse {

// softmax(q k^T * scale) v for `heads` heads of size C/heads, q: [B,Tq,C], k,v: [B,Tk,C];
// `causal` hides keys after the query's own position (CLIP's text transformer).
// Queries go in blocks of 1 MiB of scores, one per thread (a head's 4096x4096 matrix at 512x512 is
// never whole). The two products run in `precision`; scores and softmax stay fp32.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal = false,
                 Precision precision = Precision::Fp32);

}  // namespace diffuse
