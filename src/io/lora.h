#pragma once
// LoRA files (kohya/A1111 "lora_unet_*"/"lora_te*_*" keys, diffusers and PEFT keys) read and
// mapped onto the weights of an opened model, in ModelFiles' canonical naming. The arithmetic
// (W += scale * alpha / rank * up @ down) is the pipeline's: pipeline/lora_merge.h.
#include <string>
#include <vector>

#include "io/model_files.h"
#include "io/tensor_archive.h"

namespace diffuse {

enum class LoraComponent { Unet, TextEncoder1, TextEncoder2 };

// One low-rank update, validated against the weight it updates: `down` is [rank, in] or
// [rank, in, kh, kw] (LoCon), `up` is [out, rank] or [out, rank, 1, 1], and together they make
// exactly the target's [out, in(, kh, kw)].
struct LoraLayer {
  std::string key;  // the file's module key, e.g. "lora_unet_down_blocks_0_attentions_0_proj_in", for messages
  LoraComponent component;
  std::string target;  // "input_blocks.1.1.proj_in.weight", a tensor of that component
  StoredTensor down, up;  // views of the file's bytes
  double alpha;           // the file's alpha, or the rank where it stores none (a factor of 1)

  int64_t rank() const { return down.shape[0]; }
};

struct LoraFile {
  std::string path;
  TensorArchive archive;  // owns the bytes the layers view
  std::vector<LoraLayer> layers;
  size_t key_count = 0;                     // tensors in the file
  std::vector<std::string> unmatched_keys;  // tensors that update no weight of the model, sorted
};

// Reads a LoRA (.safetensors, or a .ckpt/.pt zip, with the checkpoint loaders' validation) and
// maps every key onto `model`. A key whose module names no weight of the model, or that is no
// lora_down/lora_up/alpha (LoHa, LoKr, DoRA...), lands in unmatched_keys; it is the caller's to
// refuse or skip them. Throws Error naming the file and key for what cannot be applied safely: a
// shape that does not fit its target, a rank above the target's full rank, a missing up or
// down, an alpha that is not one finite number, two keys updating the same weight.
LoraFile read_lora(const std::string& path, const ModelFiles& model);

// A1111's short hash of a LoRA (its "Lora hashes" infotext): the first 12 hex digits of the
// SHA-256 of a .safetensors file's data after its header (kohya's "addnet" hash), of the whole
// file otherwise.
std::string lora_short_hash(const std::string& path);

}  // namespace diffuse
