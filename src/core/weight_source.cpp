#include "core/weight_source.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "core/error.h"

namespace diffuse {

WeightSource::WeightSource(std::vector<float> values) : count_(values.size()), file_backed_(false) {
  auto owned = std::make_shared<std::vector<float>>(std::move(values));
  data_ = reinterpret_cast<const std::byte*>(owned->data());
  keep_ = std::move(owned);
}

WeightSource::WeightSource(DType dtype, const void* data, size_t count, std::shared_ptr<const void> keep,
                           bool file_backed)
    : dtype_(dtype), data_(static_cast<const std::byte*>(data)), count_(count), keep_(std::move(keep)),
      file_backed_(file_backed) {}

WeightSource WeightSource::slice(size_t first, size_t count) const {
  if (first + count > count_) throw Error("weight slice runs past the stored tensor");
  WeightSource s = *this;
  s.data_ = data_ + first * dtype_size(dtype_);
  s.count_ = count;
  return s;
}

const float* WeightSource::f32(std::vector<float>& scratch) const {
  if (!keep_ && count_) throw Error("weight values were read already and let go");
  if (dtype_ == DType::F32 && reinterpret_cast<uintptr_t>(data_) % alignof(float) == 0)
    return reinterpret_cast<const float*>(data_);
  if (scratch.size() < count_) scratch.resize(count_);
  convert_to_f32(dtype_, data_, scratch.data(), count_);
  return scratch.data();
}

void WeightSource::release() {
  if (file_backed_) release_file_pages(data_, count_ * dtype_size(dtype_));
  keep_.reset();
}

void release_file_pages(const void* data, size_t bytes) {
  if (bytes == 0) return;
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace diffuse
