#include "core/score_bound.h"

#include <algorithm>
#include <cmath>

namespace diffuse {

KeySpread key_spread(const Tensor& k, int64_t b, int64_t h, int64_t heads) {
  const int64_t tk = k.dim(1), c = k.dim(2), d = c / heads;
  const float* keys = k.data() + b * tk * c + h * d;
  KeySpread spread{std::vector<double>(size_t(d), 0.0), 0.0};
  double* center = spread.center.data();  // the loops vectorise (omp simd) over a head's values
  for (int64_t j = 0; j < tk; ++j)
#pragma omp simd
    for (int64_t e = 0; e < d; ++e) center[e] += keys[j * c + e];
  for (double& e : spread.center) e /= double(tk);
  double radius2 = 0;
  for (int64_t j = 0; j < tk; ++j) {
    double r2 = 0;
#pragma omp simd reduction(+ : r2)
    for (int64_t e = 0; e < d; ++e) {
      const double diff = keys[j * c + e] - center[e];
      r2 += diff * diff;
    }
    radius2 = std::max(radius2, r2);
  }
  spread.radius = std::sqrt(radius2);
  return spread;
}

double score_bound(const float* q, const KeySpread& keys, float scale) {
  double dot = 0, norm2 = 0;
  const double* center = keys.center.data();
  const int64_t d = int64_t(keys.center.size());
#pragma omp simd reduction(+ : dot, norm2)
  for (int64_t e = 0; e < d; ++e) {
    dot += q[e] * center[e];
    norm2 += double(q[e]) * q[e];
  }
  return double(scale) * (dot + std::sqrt(norm2) * keys.radius);
}

}  // namespace diffuse
