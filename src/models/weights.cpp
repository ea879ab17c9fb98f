#include "models/weights.h"

#include "core/error.h"

namespace diffuse {

Weights::Weights(const TensorArchive& archive, std::string component, Precision precision)
    : archive_(&archive), component_(std::move(component)), precision_(precision),
      backing_(std::make_shared<const std::vector<std::shared_ptr<const void>>>(archive.backing)) {}

Weights Weights::sub(const std::string& name) const {
  Weights w = *this;
  w.prefix_ = prefix_ + name + ".";
  return w;
}

bool Weights::has(const std::string& name) const { return archive_->find(prefix_ + name) != nullptr; }

const StoredTensor& Weights::find(const std::string& name) const {
  if (const StoredTensor* t = archive_->find(prefix_ + name)) return *t;
  throw Error(archive_->source + ": " + component_ + " tensor '" + prefix_ + name + "' is missing");
}

Shape Weights::shape(const std::string& name) const { return find(name).shape; }

const StoredTensor& Weights::checked(const std::string& name, const Shape& expected) const {
  const StoredTensor& t = find(name);
  bool ok = t.shape.size() == expected.size();
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || expected[i] == t.shape[i];
  if (!ok)
    throw Error(archive_->source + ": " + component_ + " tensor '" + prefix_ + name + "' has shape " +
                shape_string(t.shape) + ", expected " + shape_string(expected));
  return t;
}

std::vector<float> Weights::get(const std::string& name, const Shape& expected) const {
  const StoredTensor& t = checked(name, expected);
  std::vector<float> values = t.to_f32();
  t.release_pages();
  return values;
}

WeightSource Weights::source(const std::string& name, const Shape& expected) const {
  const StoredTensor& t = checked(name, expected);
  if (!t.data && t.nbytes) throw Error("tensor bytes were released after the model was loaded");
  return WeightSource(t.dtype, t.data, size_t(t.numel()), backing_, t.file_backed);
}

}  // namespace diffuse
