#include "sampling/torch_generator.h"

#include <immintrin.h>

#include <cmath>
#include <numbers>

#include "sampling/vector_math.h"

namespace diffuse {

// at::mt19937 (aten/src/ATen/core/MT19937RNGEngine.h) is the reference MT19937 seeded with
// init_genrand on the seed's low 32 bits, i.e. exactly std::mt19937; CPUGeneratorImpl
// (aten/src/ATen/CPUGeneratorImpl.cpp) starts with no cached normal.
TorchGenerator::TorchGenerator(uint64_t seed) : engine_(static_cast<uint32_t>(seed)) {}

// transformation::uniform_real (aten/src/ATen/core/TransformationHelper.h) for float: the
// low 24 bits of one 32-bit draw times 2^-24, in float (dist_acctype<float> is float).
float TorchGenerator::uniform_float() {
  return static_cast<float>(engine_() & ((1u << 24) - 1)) * (1.0f / (1 << 24));
}

// The same for double: random64() = (first draw << 32) | second draw
// (CPUGeneratorImpl::random64), low 53 bits times 2^-53.
double TorchGenerator::uniform_double() {
  const uint64_t hi = engine_();
  const uint64_t lo = engine_();
  return static_cast<double>(((hi << 32) | lo) & ((uint64_t{1} << 53) - 1)) * (1.0 / (uint64_t{1} << 53));
}

// at::normal_distribution<double> (aten/src/ATen/core/DistributionsHelper.h, PyTorch 1.13):
// return the cached sample if there is one, else Box-Muller on two fresh doubles, returning
// r*cos and caching r*sin. The trailing "* 1 + 0" of transformation::normal is only visible
// as -0 -> +0, which + 0.0 reproduces.
double TorchGenerator::normal_double() {
  if (next_double_normal_) {
    const double cached = *next_double_normal_;
    next_double_normal_.reset();
    return cached + 0.0;
  }
  const double u1 = uniform_double();
  const double u2 = uniform_double();
  const double r = std::sqrt(-2.0 * std::log(1.0 - u2));
  const double theta = 2.0 * std::numbers::pi * u1;
  next_double_normal_ = r * std::sin(theta);
  return r * std::cos(theta) + 0.0;
}

namespace {

// normal_fill_16_AVX2 (aten/src/ATen/native/cpu/DistributionTemplates.h): uniforms in
// data[0..16) become 8 Box-Muller pairs, cos half in data[0..8), sin half in data[8..16).
// PyTorch finishes with fmadd(n, std=1, mean=0), which is n except -0 -> +0; hence + 0.
void normal_fill_16(float* data) {
  const __m256 u1 = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_loadu_ps(data));  // (0, 1] for log
  const __m256 u2 = _mm256_loadu_ps(data + 8);
  const __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), log_avx2(u1)));
  const __m256 theta = _mm256_mul_ps(_mm256_set1_ps(static_cast<float>(2.0 * std::numbers::pi)), u2);
  __m256 sin_theta, cos_theta;
  sincos_avx2(theta, &sin_theta, &cos_theta);
  const __m256 zero = _mm256_setzero_ps();
  _mm256_storeu_ps(data, _mm256_add_ps(_mm256_mul_ps(radius, cos_theta), zero));
  _mm256_storeu_ps(data + 8, _mm256_add_ps(_mm256_mul_ps(radius, sin_theta), zero));
}

}  // namespace

// normal_kernel (aten/src/ATen/native/cpu/DistributionTemplates.h): a contiguous float
// tensor of >= 16 elements goes through normal_fill_AVX2, anything smaller through the
// scalar double path. The vector path never touches the cached double normal.
void TorchGenerator::randn(float* out, size_t n) {
  if (n < 16) {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(normal_double());
    return;
  }
  for (size_t i = 0; i < n; ++i) out[i] = uniform_float();
  for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
  if (n % 16 != 0) {
    // PyTorch redoes the last 16 values from fresh uniforms, overlapping the last full
    // block; the tail uniforms drawn above are thus consumed but never used.
    float* tail = out + n - 16;
    for (size_t i = 0; i < 16; ++i) tail[i] = uniform_float();
    normal_fill_16(tail);
  }
}

std::vector<float> TorchGenerator::randn(size_t n) {
  std::vector<float> out(n);
  randn(out.data(), n);
  return out;
}

}  // namespace diffuse
