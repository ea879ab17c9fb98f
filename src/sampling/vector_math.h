#pragma once
// Single-precision log and sincos for 8 lanes, operation for operation the ones PyTorch's
// AVX2 CPU kernels use (aten/src/ATen/native/cpu/avx_mathfun.h: Julien Pommier's
// cephes-derived log256_ps / sincos256_ps). They are not the most accurate float functions
// available; they exist so that normal noise matches torch.randn bit for bit.
#include <immintrin.h>

namespace diffuse {

// Natural log of each lane; NaN for lanes <= 0 (as log256_ps).
__m256 log_avx2(__m256 x);

// sin and cos of each lane at once (as sincos256_ps); accurate for |x| < 8192.
void sincos_avx2(__m256 x, __m256* sin_out, __m256* cos_out);

}  // namespace diffuse
