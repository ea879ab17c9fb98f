#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace diffuse {

using Shape = std::vector<int64_t>;
std::string shape_string(const Shape& shape);  // "[2,4,8,8]"
int64_t shape_numel(const Shape& shape);

// A dense fp32 tensor, row-major; images are NCHW, token sequences [batch, tokens, features].
// Copies share storage (like torch): reshape() is free, clone() copies.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape);  // uninitialised
  static Tensor zeros(Shape shape);
  static Tensor from(Shape shape, const std::vector<float>& values);

  float* data() { return storage_.get(); }
  const float* data() const { return storage_.get(); }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[size_t(i < 0 ? i + int(shape_.size()) : i)]; }
  int rank() const { return int(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  bool empty() const { return !storage_; }
  // No other tensor shares the storage: an op given this tensor by value may write into it.
  bool sole_owner() const { return storage_.use_count() == 1; }

  Tensor reshape(Shape shape) const;
  Tensor clone() const;
  std::vector<float> to_vector() const { return {data(), data() + numel()}; }

 private:
  std::shared_ptr<float[]> storage_;
  Shape shape_;
};

}  // namespace diffuse
