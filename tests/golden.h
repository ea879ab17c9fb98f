#pragma once
// Helpers every component test shares: fixture paths, golden tensors, and comparisons whose
// failure message says which tensor, where, and by how much.
#include <gtest/gtest.h>

#include <string>
#include <vector>

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

}  // namespace diffuse::testing
