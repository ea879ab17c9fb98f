#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/precision.h"
#include "core/tensor.h"
#include "core/weight_source.h"
#include "io/tensor_archive.h"

namespace diffuse {

// A view of one component's tensors under a name prefix, so model code can say
// `w.sub("transformer_blocks.0").get("attn1.to_q.weight", {c, c})` the way the checkpoint names it.
// Every lookup validates presence and shape, and names the full tensor on failure.
class Weights {
 public:
  // `precision`: what the layers loaded from these weights compute in (and store their weights as).
  Weights(const TensorArchive& archive, std::string component, Precision precision = Precision::Fp32);

  Weights sub(const std::string& name) const;
  bool has(const std::string& name) const;
  Shape shape(const std::string& name) const;
  // Values as fp32; `expected` may contain -1 for "any size here".
  std::vector<float> get(const std::string& name, const Shape& expected) const;
  // The same values left where they are stored, for a layer that packs them on first use: they
  // outlive the archive's own hold on its files (TensorArchive::drop_data).
  WeightSource source(const std::string& name, const Shape& expected) const;
  std::string full_name(const std::string& name) const { return prefix_ + name; }
  Precision precision() const { return precision_; }

 private:
  const StoredTensor& find(const std::string& name) const;
  const StoredTensor& checked(const std::string& name, const Shape& expected) const;
  const TensorArchive* archive_;
  std::string component_;  // "unet", "vae", "text encoder": for messages
  std::string prefix_;
  Precision precision_;
  std::shared_ptr<const void> backing_;  // the archive's files and buffers, for source()
};

}  // namespace diffuse
