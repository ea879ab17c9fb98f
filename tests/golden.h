#pragma once
// Helpers every component test shares: fixture paths, golden tensors, and comparisons whose
// failure message says which tensor, where, and by how much.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/safetensors.h"

namespace diffuse::testing {

std::string fixture(const std::string& relative);  // tests/fixtures/<relative>

struct Golden {
  std::vector<int64_t> shape;
  std::vector<float> values;
};
Golden golden(const TensorArchive& archive, const std::string& name);

// max |got - expected| <= rel_tol * max(1, max|expected|), the fixtures' tolerance convention.
::testing::AssertionResult close_to(const std::string& what, const std::vector<float>& got,
                                    const Golden& expected, double rel_tol);

}  // namespace diffuse::testing
