// load_ckpt (zip + pickle + tensor views) on arbitrary bytes; torch.save stores its entries
// uncompressed and no CRC is checked, so mutations reach the pickle inside. Beyond not crashing:
// every tensor holds what its shape and dtype need, and its bytes lie inside the mapped file or
// inside a buffer the archive owns.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_input.h"
#include "io/ckpt.h"
#include "io/mapped_file.h"

using namespace diffuse;

namespace {

bool inside(const std::byte* p, size_t n, const std::byte* begin, size_t size) {
  return p >= begin && p <= begin + size && n <= size_t(begin + size - p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::as_file(data, size);
  TensorArchive archive;
  try {
    archive = load_ckpt(path);
  } catch (const Error& e) {
    fuzz::check_refusal(e);
    return 0;
  }
  FUZZ_CHECK(!archive.tensors.empty() && !archive.backing.empty());
  const auto& file = *std::static_pointer_cast<const MappedFile>(archive.backing[0]);
  std::vector<const std::vector<std::byte>*> copies;
  for (size_t i = 1; i < archive.backing.size(); ++i)
    copies.push_back(std::static_pointer_cast<const std::vector<std::byte>>(archive.backing[i]).get());
  size_t copied = 0;
  for (const auto* c : copies) copied += c->size();
  FUZZ_CHECK(copied <= size);  // copies are capped at the file's size
  for (const auto& [name, tensor] : archive.tensors) {
    const StoredTensor& t = tensor;
    FUZZ_CHECK(std::ranges::all_of(t.shape, [](int64_t d) { return d >= 0; }));
    FUZZ_CHECK(uint64_t(t.numel()) * dtype_size(t.dtype) == t.nbytes);
    if (inside(t.data, t.nbytes, file.data(), file.size())) {
      FUZZ_CHECK(std::memcmp(t.data, data + (t.data - file.data()), t.nbytes) == 0);
      continue;
    }
    FUZZ_CHECK(std::ranges::any_of(copies, [&](const auto* c) { return inside(t.data, t.nbytes, c->data(), c->size()); }));
  }
  return 0;
}
