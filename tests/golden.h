#pragma once
// Helpers every component test shares: fixture paths, golden tensors, and comparisons whose
// failure message says which tensor, where, and by how much.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/error.h"

#include "core/tensor.h"
#include "io/safetensors.h"

namespace diffuse::testing {

std::string fixture(const std::string& relative);  // tests/fixtures/<relative>

struct Golden {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
Golden golden(const TensorArchive& archive, const std::string& name);
inline Tensor tensor_of(const Golden& g) { return Tensor::from(g.shape, g.values); }

// The fixtures README's bar for text encoders, UNet and VAE: max |diff| <= 1e-4 * max(1, max|expected|).
constexpr double kComponentTolerance = 1e-4;

// n unit-normal values from a fixed seed, for inputs and weights made in the test.
std::vector<float> normal_values(size_t n, uint32_t seed);

// max |got - expected| <= rel_tol * max(1, max|expected|), the fixtures' tolerance convention.
::testing::AssertionResult close_to(const std::string& what, const std::vector<float>& got,
                                    const Golden& expected, double rel_tol);

// Runs `parse`, which must throw an Error containing `fragment` within a second and 100 MB of memory
// (issue #17's bound on hostile input).
template <typename Parse>
void expect_refused_quickly(Parse parse, const std::string& fragment) {
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = std::chrono::steady_clock::now();
  try {
    parse();
    ADD_FAILURE() << "accepted; expected an error naming \"" << fragment << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 100 << 10) << "KiB of peak memory";
}

}  // namespace diffuse::testing
