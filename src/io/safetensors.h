#pragma once
#include <map>
#include <string>

#include "io/tensor_archive.h"

namespace diffuse {

// Loads a .safetensors file by memory-mapping it. Everything in the header is validated
// before any tensor is exposed: header length, JSON shape, dtypes, shape x dtype size ==
// byte range, offsets in range, ordered and non-overlapping, no integer overflow.
// Throws Error("<path>: <problem>").
TensorArchive load_safetensors(const std::string& path);

// Writes `tensors` (names as given, sorted) and `metadata` as a .safetensors file, through a
// temporary beside `path` renamed into place, so a reader never sees half a file. Throws Error
// naming the path when it cannot be written.
void save_safetensors(const std::string& path, const std::map<std::string, StoredTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// A diffusers sharded checkpoint: `<name>.safetensors.index.json` whose weight_map names
// the shard files beside it.
TensorArchive load_safetensors_index(const std::string& index_path);

}  // namespace diffuse
