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

// A dense tensor, row-major; images are NCHW, token sequences [batch, tokens, features].
// Copies share storage (like torch): reshape() is free, clone() copies.
//
// Activations are fp32. An op whose only readers are bf16 matrix products (a norm, layers.h; the
// upsampling before a convolution; GEGLU's product) writes bf16 instead: the products take it as
// their operand with no conversion pass. Only the convolutions and linear layers accept such a
// tensor; data() is for fp32 ones.
class Tensor {
 public:
  enum class Type : uint8_t { F32, Bf16 };

  Tensor() = default;
  explicit Tensor(Shape shape, Type type = Type::F32);  // uninitialised
  static Tensor zeros(Shape shape);
  static Tensor from(Shape shape, const std::vector<float>& values);

  Type type() const { return type_; }
  float* data() { return storage_.get(); }
  const float* data() const { return storage_.get(); }
  uint16_t* bf16_data() { return reinterpret_cast<uint16_t*>(storage_.get()); }
  const uint16_t* bf16_data() const { return reinterpret_cast<const uint16_t*>(storage_.get()); }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[size_t(i < 0 ? i + int(shape_.size()) : i)]; }
  int rank() const { return int(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  bool empty() const { return !storage_; }
  // No other tensor shares the storage: an op given this tensor by value may write into it.
  bool sole_owner() const { return storage_.use_count() == 1; }

  Tensor reshape(Shape shape) const;
  // The elements [offset, offset + numel(shape)) of an fp32 tensor as a tensor of `shape`
  // sharing its storage.
  Tensor view(int64_t offset, Shape shape) const;
  Tensor clone() const;
  std::vector<float> to_vector() const;  // bf16 widened

 private:
  size_t bytes() const { return size_t(numel()) * (type_ == Type::Bf16 ? 2 : 4); }

  std::shared_ptr<float[]> storage_;
  Shape shape_;
  Type type_ = Type::F32;
};

}  // namespace diffuse
