#pragma once
#include "core/precision.h"
#include "core/tensor.h"

namespace diffuse {

// How the softmax runs when there is no causal mask. Fused: inside the two products (exp(s - m)
// with m a bound on the row's scores, from the first product's registers; the row sums from the
// second). Exact: the scores are written, oneDNN's softmax runs over them, then the second product.
// Auto fuses where the first product with its exp runs in oneDNN's brgemm kernels (AVX-512, AMX),
// which apply the exp before storing; gemm:jit (AVX2) applies it in a separate pass, which made
// a 4096-token attention slower here (0.46 ms per 64x4096 block against 0.26 + 0.17).
enum class SoftmaxFusion { Auto, Always, Never };
void set_softmax_fusion(SoftmaxFusion mode);
bool softmax_fused(Precision precision);  // what Auto (or the mode set) does on this CPU
// Blocks of queries (single rows in the AMX kernel) that ran the exact softmax although fused was
// chosen, since the process began: a row's scores fell too far below the bound (more than ~69)
// for fp32 to keep their digits.
int64_t softmax_fallback_blocks();

// Which kernel runs bf16 attention without a mask, on heads of up to kFlashMaxHeadDim values.
// Amx: flash_attention.h's tile kernel (the scores, their exp and the second product per block of
// 16 queries in the core's tile registers); setting it throws where the CPU has no AMX. Onednn:
// the two products in oneDNN's kernels, the softmax fused or exact as above. Auto: oneDNN, until
// the AMX kernel's speed is measured on an AMX machine (docs/performance.md).
enum class AttentionKernel { Auto, Onednn, Amx };
void set_attention_kernel(AttentionKernel kernel);
// Whether attention in `precision` over heads of `head_dim` values runs the AMX kernel.
bool amx_attention_chosen(Precision precision, int64_t head_dim);

// softmax(q k^T * scale) v for `heads` heads of size C/heads, q: [B,Tq,C], k,v: [B,Tk,C];
// `causal` hides keys after the query's own position (CLIP's text transformer).
// Queries go in blocks of 1 MiB of scores (64 queries at least), one per thread: a head's
// 4096x4096 matrix at 512x512 is never whole. The two products run in `precision`; scores and
// softmax stay fp32, except that the fused softmax in bf16 stores exp(s - m) in bf16 for the
// second product.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal = false,
                 Precision precision = Precision::Fp32);

}  // namespace diffuse
