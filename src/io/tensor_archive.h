#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace diffuse {

// One stored tensor: contiguous row-major bytes inside a mapped file (or a buffer the
// archive owns, for the rare non-contiguous .ckpt tensor).
struct StoredTensor {
  DType dtype;
  std::vector<int64_t> shape;
  const std::byte* data;
  size_t nbytes;
  // The bytes are pages of a read-only file mapping (not an owned buffer), so once converted
  // they can be handed back to the kernel and re-read from the file if ever needed again.
  bool file_backed = false;

  int64_t numel() const;
  std::vector<float> to_f32() const;
  // Drops the resident pages of a file-backed tensor (a no-op otherwise): a model converted to
  // its compute precision then does not also keep the file's pages in memory.
  void release_pages() const;
};

// The tensors of one model file (or several shards / component files), by name.
// Whatever backs the bytes (mmaps, owned buffers) lives as long as the archive.
struct TensorArchive {
  std::string source;  // the path, for error messages
  std::map<std::string, StoredTensor> tensors;
  std::vector<std::shared_ptr<const void>> backing;
  // A safetensors file's __metadata__ (string to string, by the format's rule; other values are
  // skipped): what its writer said of it, e.g. a model's suited defaults.
  std::map<std::string, std::string> metadata;

  const StoredTensor* find(const std::string& name) const;
  const StoredTensor& at(const std::string& name) const;  // throws Error naming the tensor
  // Keeps names, dtypes and shapes but lets go of the bytes (mappings, owned buffers): what a
  // loaded model does once its weights live in compute precision.
  void drop_data();
  // Moves every tensor of `other` into this archive under `prefix + name`.
  void merge(TensorArchive&& other, const std::string& prefix = "");
};

}  // namespace diffuse
