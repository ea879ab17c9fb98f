// read_lora on arbitrary LoRA files (safetensors or .ckpt bytes), mapped onto the tiny SD 1.x or
// SDXL fixture model (the input's first byte chooses). Beyond not crashing: every layer updates a
// weight its model has, with down and up inside the file, shapes that fit the weight, a rank
// within the weight's full rank and a finite alpha; no weight is updated twice, and every tensor
// of the file is either part of a layer or listed as unmatched.
#include <algorithm>
#include <set>

#include "fuzz_input.h"
#include "io/lora.h"
#include "io/model_files.h"

using namespace diffuse;

namespace {

const ModelFiles& model(uint8_t choice) {
  static const ModelFiles sd1 = open_model(DIFFUSE_FIXTURES "/sd1-tiny/model.safetensors");
  static const ModelFiles sdxl = open_model(DIFFUSE_FIXTURES "/sdxl-tiny/model.safetensors");
  return choice & 1 ? sdxl : sd1;
}

const TensorArchive* component(const ModelFiles& m, LoraComponent c) {
  if (c == LoraComponent::Unet) return &m.unet;
  const size_t i = c == LoraComponent::TextEncoder1 ? 0 : 1;
  return i < m.text_encoders.size() ? &m.text_encoders[i] : nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ModelFiles& m = model(data[0]);
  LoraFile file;
  try {
    file = read_lora(fuzz::as_file(data + 1, size - 1), m);
  } catch (const Error& e) {
    fuzz::check_refusal(e);
    return 0;
  }
  FUZZ_CHECK(file.key_count == file.archive.tensors.size());
  FUZZ_CHECK(std::ranges::is_sorted(file.unmatched_keys));
  std::set<std::pair<LoraComponent, std::string>> targets;
  size_t layer_keys = 0;
  for (const LoraLayer& layer : file.layers) {
    const TensorArchive* weights = component(m, layer.component);
    FUZZ_CHECK(weights != nullptr);
    const StoredTensor* target = weights->find(layer.target);
    FUZZ_CHECK(target != nullptr && target->shape.size() >= 2);
    FUZZ_CHECK(targets.emplace(layer.component, layer.target).second);
    FUZZ_CHECK(layer.rank() >= 1 && layer.rank() <= std::min(target->shape[0], target->numel() / target->shape[0]));
    FUZZ_CHECK(layer.up.shape[0] == target->shape[0] && layer.up.shape[1] == layer.rank());
    FUZZ_CHECK(std::isfinite(layer.alpha));
    for (const StoredTensor* t : {&layer.down, &layer.up})
      FUZZ_CHECK(uint64_t(t->numel()) * dtype_size(t->dtype) == t->nbytes);
    layer_keys += 2 + (file.archive.find(layer.key + ".alpha") != nullptr);
  }
  FUZZ_CHECK(layer_keys + file.unmatched_keys.size() <= file.key_count);
  return 0;
}
