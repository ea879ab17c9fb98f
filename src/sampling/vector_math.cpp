#include "sampling/vector_math.h"

// Follows aten/src/ATen/native/cpu/avx_mathfun.h (PyTorch), same constants, same order of
// operations. One thing the source does not show: PyTorch's x86 wheels are compiled by GCC
// with -mfma and GCC's default -ffp-contract=fast, and GCC's _mm256_mul_ps/_mm256_add_ps are
// plain vector arithmetic, so every product whose only use is an add or a subtract was fused
// into one FMA in the shipped binary. This project builds with -ffp-contract=off, so those
// fusions are written out below as explicit _mm256_fmadd_ps / _mm256_fnmadd_ps /
// _mm256_fmsub_ps. Each is the pairing GCC's widening_mul pass makes (the first product in
// statement order whose single use is the add wins). Unfused, about 1% of normal samples
// come out 1-2 ulp off torch.randn; fused as here, all fixture values match exactly.

namespace diffuse {
namespace {

__m256 splat(float v) { return _mm256_set1_ps(v); }
__m256 splat_bits(int bits) { return _mm256_castsi256_ps(_mm256_set1_epi32(bits)); }

// cephes logf coefficients, as avx_mathfun.h spells them.
constexpr float kSqrtHalf = 0.707106781186547524f;
constexpr float kLogP[9] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                            -1.2420140846E-1f, +1.4249322787E-1f, -1.6668057665E-1f,
                            +2.0000714765E-1f, -2.4999993993E-1f, +3.3333331174E-1f};
constexpr float kLogQ1 = -2.12194440e-4f;  // log(2) = kLogQ2 + kLogQ1, split for precision
constexpr float kLogQ2 = 0.693359375f;

// cephes sinf/cosf: 4/pi, pi/4 split in three parts, and the two minimax polynomials.
constexpr float kFourOverPi = 1.27323954473516f;
constexpr float kMinusDP1 = -0.78515625f;
constexpr float kMinusDP2 = -2.4187564849853515625e-4f;
constexpr float kMinusDP3 = -3.77489497744594108e-8f;
constexpr float kSinP0 = -1.9515295891E-4f, kSinP1 = 8.3321608736E-3f, kSinP2 = -1.6666654611E-1f;
constexpr float kCosP0 = 2.443315711809948E-005f, kCosP1 = -1.388731625493765E-003f,
                kCosP2 = 4.166664568298827E-002f;

}  // namespace

__m256 log_avx2(__m256 x) {
  const __m256 one = splat(1.0f);
  const __m256 invalid = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LE_OS);
  x = _mm256_max_ps(x, splat_bits(0x00800000));  // flush denormals to the smallest normal

  // x = m * 2^e with m in [0.5, 1).
  const __m256i exponent = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(x), 23),
                                            _mm256_set1_epi32(0x7f));
  x = _mm256_or_ps(_mm256_and_ps(x, splat_bits(~0x7f800000)), splat(0.5f));
  __m256 e = _mm256_add_ps(_mm256_cvtepi32_ps(exponent), one);

  // if (m < sqrt(1/2)) { e -= 1; x = m + m - 1; } else { x = m - 1; }
  const __m256 below = _mm256_cmp_ps(x, splat(kSqrtHalf), _CMP_LT_OS);
  const __m256 extra = _mm256_and_ps(x, below);
  x = _mm256_sub_ps(x, one);
  e = _mm256_sub_ps(e, _mm256_and_ps(one, below));
  x = _mm256_add_ps(x, extra);

  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = splat(kLogP[0]);
  for (int i = 1; i < 9; ++i) y = _mm256_fmadd_ps(y, x, splat(kLogP[i]));
  y = _mm256_mul_ps(y, x);

  y = _mm256_fmadd_ps(y, z, _mm256_mul_ps(e, splat(kLogQ1)));  // y*z + e*q1
  y = _mm256_fnmadd_ps(z, splat(0.5f), y);                     // y - z*0.5
  x = _mm256_add_ps(x, y);
  x = _mm256_fmadd_ps(e, splat(kLogQ2), x);  // (x + y) + e*q2
  return _mm256_or_ps(x, invalid);
}

void sincos_avx2(__m256 x, __m256* sin_out, __m256* cos_out) {
  const __m256i one_i = _mm256_set1_epi32(1), two_i = _mm256_set1_epi32(2), four_i = _mm256_set1_epi32(4);

  __m256 sign_sin = _mm256_and_ps(x, splat_bits(static_cast<int>(0x80000000)));
  x = _mm256_and_ps(x, splat_bits(~static_cast<int>(0x80000000)));

  // Octant j = (int(|x| * 4/pi) + 1) & ~1 (cephes), and y = float(j).
  __m256i j = _mm256_cvttps_epi32(_mm256_mul_ps(x, splat(kFourOverPi)));
  j = _mm256_and_si256(_mm256_add_epi32(j, one_i), _mm256_set1_epi32(~1));
  const __m256 y_oct = _mm256_cvtepi32_ps(j);

  const __m256 swap_sign_sin = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(j, four_i), 29));
  const __m256 poly_mask =
      _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(j, two_i), _mm256_setzero_si256()));

  // "Extended precision modular arithmetic": x = ((x - y*DP1) - y*DP2) - y*DP3.
  x = _mm256_fmadd_ps(y_oct, splat(kMinusDP1), x);
  x = _mm256_fmadd_ps(y_oct, splat(kMinusDP2), x);
  x = _mm256_fmadd_ps(y_oct, splat(kMinusDP3), x);

  const __m256 sign_cos = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_andnot_si256(_mm256_sub_epi32(j, two_i), four_i), 29));
  sign_sin = _mm256_xor_ps(sign_sin, swap_sign_sin);

  // Cosine polynomial on [0, pi/4]: 1 - z/2 + z^2 * P(z).
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = splat(kCosP0);
  y = _mm256_fmadd_ps(y, z, splat(kCosP1));
  y = _mm256_fmadd_ps(y, z, splat(kCosP2));
  y = _mm256_mul_ps(y, z);
  y = _mm256_fmsub_ps(y, z, _mm256_mul_ps(z, splat(0.5f)));  // y*z - z*0.5
  y = _mm256_add_ps(y, splat(1.0f));

  // Sine polynomial on [0, pi/4]: x + x * z * Q(z).
  __m256 y2 = splat(kSinP0);
  y2 = _mm256_fmadd_ps(y2, z, splat(kSinP1));
  y2 = _mm256_fmadd_ps(y2, z, splat(kSinP2));
  y2 = _mm256_mul_ps(y2, z);
  y2 = _mm256_fmadd_ps(y2, x, x);

  // Each output takes one polynomial per lane; the subtract/add pairs are avx_mathfun's.
  const __m256 sin_from_sin = _mm256_and_ps(poly_mask, y2);
  const __m256 sin_from_cos = _mm256_andnot_ps(poly_mask, y);
  y2 = _mm256_sub_ps(y2, sin_from_sin);
  y = _mm256_sub_ps(y, sin_from_cos);
  *sin_out = _mm256_xor_ps(_mm256_add_ps(sin_from_cos, sin_from_sin), sign_sin);
  *cos_out = _mm256_xor_ps(_mm256_add_ps(y, y2), sign_cos);
}

}  // namespace diffuse
