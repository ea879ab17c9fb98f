#include "core/tensor.h"

#include <algorithm>
#include <cstring>

#include "core/buffer_pool.h"
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

Tensor::Tensor(Shape shape) : shape_(std::move(shape)) {
  // 64-byte alignment keeps vector loads and oneDNN happy.
  const size_t bytes = (size_t(std::max<int64_t>(numel(), 1)) * sizeof(float) + 63) / 64 * 64;
  storage_ = BufferPool::acquire(bytes);
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

Tensor Tensor::clone() const {
  Tensor t(shape_);
  std::memcpy(t.data(), data(), size_t(numel()) * sizeof(float));
  return t;
}

}  // namespace diffuse
