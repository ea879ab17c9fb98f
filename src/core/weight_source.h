#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "core/dtype.h"

namespace diffuse {

// The stored values of one weight matrix, read once, when its layer packs them (packed_weights.h):
// a checkpoint's tensor stays in the mapped file, in its stored dtype, until then, so loading
// converts nothing and the model's weights are written to fresh memory once, in their packed
// layout, never first as a row-major fp32 copy.
class WeightSource {
 public:
  WeightSource() = default;
  // Values already in memory (tests, merged or generated weights): the source owns them.
  WeightSource(std::vector<float> values);  // NOLINT: a vector is the plain way to say "these values"
  // `count` elements of `dtype` at `data`, kept alive by `keep` (the file mapping or buffer).
  // `file_backed`: the bytes are pages of a read-only file mapping, handed back once read.
  WeightSource(DType dtype, const void* data, size_t count, std::shared_ptr<const void> keep, bool file_backed);

  size_t size() const { return count_; }
  // Elements [first, first + count): a slice of the rows of a matrix stored as one tensor.
  WeightSource slice(size_t first, size_t count) const;
  // The values as fp32: a view of the source when it is fp32 already, else converted into
  // `scratch` (grown as needed, so one scratch serves a whole model's loading).
  const float* f32(std::vector<float>& scratch) const;
  // Lets go of the bytes (and of a file's resident pages): the layer has packed them.
  void release();

 private:
  DType dtype_ = DType::F32;
  const std::byte* data_ = nullptr;
  size_t count_ = 0;
  std::shared_ptr<const void> keep_;
  bool file_backed_ = false;
};

// Drops the resident pages of [data, data + bytes) of a read-only file mapping (whole pages inside
// the range only: a neighbour sharing the edge pages keeps them); they are re-read if touched again.
void release_file_pages(const void* data, size_t bytes);

}  // namespace diffuse
