#include "core/tensor.h"

#include <algorithm>
#include <cstring>

#include "core/buffer_pool.h"
#include "core/dtype.h"
#include "core/error.h"

namespace diffuse {

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor::Tensor(Shape shape, Type type) : shape_(std::move(shape)), type_(type) {
  // 64-byte alignment keeps vector loads and oneDNN happy.
  storage_ = BufferPool::acquire((std::max<size_t>(bytes(), 1) + 63) / 64 * 64);
  if (!storage_) throw Error("out of memory allocating a tensor of shape " + shape_string(shape_));
}

Tensor Tensor::zeros(Shape shape) {
  Tensor t(std::move(shape));
  std::memset(t.data(), 0, size_t(t.numel()) * sizeof(float));
  return t;
}

Tensor Tensor::from(Shape shape, const std::vector<float>& values) {
  Tensor t(std::move(shape));
  if (size_t(t.numel()) != values.size())
    throw Error("tensor of shape " + shape_string(t.shape()) + " cannot hold " + std::to_string(values.size()) + " values");
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  if (shape_numel(shape) != numel())
    throw Error("cannot reshape " + shape_string(shape_) + " to " + shape_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::view(int64_t offset, Shape shape) const {
  if (offset < 0 || offset + shape_numel(shape) > numel())
    throw Error("cannot view " + shape_string(shape) + " at element " + std::to_string(offset) + " of " +
                shape_string(shape_));
  if (type_ != Type::F32) throw Error("views are of fp32 tensors");
  Tensor t;
  t.storage_ = std::shared_ptr<float[]>(storage_, storage_.get() + offset);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(shape_, type_);
  std::memcpy(t.data(), data(), bytes());
  return t;
}

std::vector<float> Tensor::to_vector() const {
  if (type_ == Type::F32) return {data(), data() + numel()};
  std::vector<float> values(static_cast<size_t>(numel()));
  for (size_t i = 0; i < values.size(); ++i) values[i] = bf16_to_float(bf16_data()[i]);
  return values;
}

}  // namespace diffuse
