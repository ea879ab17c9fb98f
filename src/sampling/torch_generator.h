#pragma once
// A bit-exact copy of PyTorch's CPU generator (torch.Generator().manual_seed(seed)) as far
// as torch.randn on float32 goes, so that a seed gives the same initial latents and the same
// ancestral noise as diffusers / ComfyUI with a CPU generator.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace diffuse {

class TorchGenerator {
 public:
  explicit TorchGenerator(uint64_t seed);

  // Same values as torch.randn(n, generator=g) (any shape with n elements), and advances
  // the state the same way, so successive calls follow PyTorch's successive calls.
  void randn(float* out, size_t n);
  std::vector<float> randn(size_t n);

 private:
  float uniform_float();
  double uniform_double();
  double normal_double();

  std::mt19937 engine_;
  // Box-Muller makes two doubles; the scalar path keeps the second for the next draw.
  std::optional<double> next_double_normal_;
};

}  // namespace diffuse
