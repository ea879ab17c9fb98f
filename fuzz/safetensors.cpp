// load_safetensors on arbitrary bytes. Beyond not crashing: every tensor it exposes lies inside the
// mapping's data section, holds exactly what its shape and dtype need, overlaps no other, and a
// loaded file written back by save_safetensors reads back as the same tensors and metadata.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_input.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

using namespace diffuse;

namespace {

void check_layout(const TensorArchive& archive, const uint8_t* input, size_t size) {
  FUZZ_CHECK(archive.backing.size() == 1);
  const auto& file = *std::static_pointer_cast<const MappedFile>(archive.backing[0]);
  FUZZ_CHECK(file.size() == size && size >= 8);
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | input[i];
  const std::byte* data_begin = file.data() + 8 + header;
  const std::byte* data_end = file.data() + size;
  std::vector<std::pair<const std::byte*, const std::byte*>> ranges;
  for (const auto& [name, t] : archive.tensors) {
    FUZZ_CHECK(t.shape.size() <= 8);
    FUZZ_CHECK(std::ranges::all_of(t.shape, [](int64_t d) { return d >= 0; }));
    FUZZ_CHECK(uint64_t(t.numel()) * dtype_size(t.dtype) == t.nbytes);
    FUZZ_CHECK(t.data >= data_begin && t.data <= data_end && t.nbytes <= size_t(data_end - t.data));
    FUZZ_CHECK(std::memcmp(t.data, input + (t.data - file.data()), t.nbytes) == 0);
    if (t.nbytes) ranges.emplace_back(t.data, t.data + t.nbytes);
  }
  std::ranges::sort(ranges);
  for (size_t i = 1; i < ranges.size(); ++i) FUZZ_CHECK(ranges[i - 1].second <= ranges[i].first);
}

void check_round_trip(const TensorArchive& archive) {
  const std::string path = fuzz::scratch_dir() + "/round_trip.safetensors";
  save_safetensors(path, archive.tensors, archive.metadata);
  const TensorArchive back = load_safetensors(path);
  FUZZ_CHECK(back.metadata == archive.metadata);
  FUZZ_CHECK(back.tensors.size() == archive.tensors.size());
  for (const auto& [name, t] : archive.tensors) {
    const StoredTensor* u = back.find(name);
    FUZZ_CHECK(u && u->dtype == t.dtype && u->shape == t.shape && u->nbytes == t.nbytes);
    FUZZ_CHECK(std::memcmp(u->data, t.data, t.nbytes) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::as_file(data, size);
  TensorArchive archive;
  try {
    archive = load_safetensors(path);
  } catch (const Error& e) {
    fuzz::check_refusal(e);
    return 0;
  }
  check_layout(archive, data, size);
  check_round_trip(archive);
  return 0;
}
