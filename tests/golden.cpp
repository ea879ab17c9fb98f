#include "golden.h"

#include <cmath>
#include <random>
#include <sstream>

namespace diffuse::testing {

std::string fixture(const std::string& relative) { return std::string(DIFFUSE_FIXTURES) + "/" + relative; }

Golden golden(const TensorArchive& archive, const std::string& name) {
  const StoredTensor& t = archive.at(name);
  return {t.shape, t.to_f32()};
}

std::vector<float> normal_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

static std::string index_string(size_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = int64_t(flat % size_t(shape[d]));
    flat /= size_t(shape[d]);
  }
  std::ostringstream s;
  s << "[";
  for (size_t d = 0; d < idx.size(); ++d) s << (d ? "," : "") << idx[d];
  return s.str() + "]";
}

::testing::AssertionResult close_to(const std::string& what, const std::vector<float>& got,
                                    const Golden& expected, double rel_tol) {
  if (got.size() != expected.values.size())
    return ::testing::AssertionFailure() << what << ": " << got.size() << " values, expected "
                                         << expected.values.size();
  double max_ref = 1.0, worst = -1.0;
  size_t worst_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    max_ref = std::max(max_ref, double(std::fabs(expected.values[i])));
    double d = std::fabs(double(got[i]) - double(expected.values[i]));
    if (!(d <= worst) || std::isnan(d)) {
      worst = std::isnan(d) ? INFINITY : d;
      worst_at = i;
    }
  }
  const double bound = rel_tol * max_ref;
  if (worst <= bound)
    return ::testing::AssertionSuccess() << what << ": max |diff| " << worst << " <= " << bound;
  return ::testing::AssertionFailure() << what << ": max |diff| " << worst << " > bound " << bound << " at "
                                       << index_string(worst_at, expected.shape) << " (got " << got[worst_at]
                                       << ", expected " << expected.values[worst_at] << ")";
}

}  // namespace diffuse::testing
