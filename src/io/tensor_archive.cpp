#include "io/tensor_archive.h"

#include "core/error.h"
#include "core/weight_source.h"

namespace diffuse {

int64_t StoredTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> StoredTensor::to_f32() const {
  if (!data && nbytes) throw Error("tensor bytes were released after the model was loaded");
  std::vector<float> out(static_cast<size_t>(numel()));
  convert_to_f32(dtype, data, out.data(), out.size());
  return out;
}

void StoredTensor::release_pages() const {
  if (file_backed) release_file_pages(data, nbytes);
}

const StoredTensor* TensorArchive::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

const StoredTensor& TensorArchive::at(const std::string& name) const {
  if (const StoredTensor* t = find(name)) return *t;
  throw Error(source + ": missing tensor '" + name + "'");
}

void TensorArchive::drop_data() {
  for (auto& [name, t] : tensors) t.data = nullptr;
  backing.clear();
}

void TensorArchive::merge(TensorArchive&& other, const std::string& prefix) {
  for (auto& [name, t] : other.tensors) tensors.insert_or_assign(prefix + name, std::move(t));
  for (auto& b : other.backing) backing.push_back(std::move(b));
  other.tensors.clear();
  other.backing.clear();
}

}  // namespace diffuse
