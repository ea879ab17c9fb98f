#pragma once
#include <string>

#include "io/tensor_archive.h"

namespace diffuse {

// PyTorch zip checkpoint (torch.save since torch 1.6): <any>/data.pkl + <any>/data/<key>.
// Accepts {"state_dict": {...}, ...} and bare state dicts; non-tensor entries ignored.
// The pickle is parsed, never executed (see pickle.h). Contiguous tensors point into the
// mapped file; a strided (or misaligned) one is copied into a buffer the archive owns.
// Throws Error("<path>: <problem>").
TensorArchive load_ckpt(const std::string& path);

}  // namespace diffuse
