// ZipArchive on arbitrary bytes. Beyond not crashing: every entry's data range lies inside the file,
// names are unique and found by find(), and data() of a stored entry is exactly that range.
#include <cstring>
#include <memory>
#include <set>

#include "fuzz_input.h"
#include "io/mapped_file.h"
#include "io/zip_archive.h"

using namespace diffuse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const MappedFile> file = MappedFile::open(fuzz::as_file(data, size));
  std::unique_ptr<ZipArchive> zip;
  try {
    zip = std::make_unique<ZipArchive>(file);
  } catch (const Error& e) {
    fuzz::check_refusal(e);
    return 0;
  }
  std::set<std::string> names;
  for (const ZipEntry& entry : zip->entries()) {
    FUZZ_CHECK(entry.data_offset <= size && entry.size <= size - entry.data_offset);
    FUZZ_CHECK(names.insert(entry.name).second);
    FUZZ_CHECK(zip->find(entry.name) == &entry);
    if (entry.method != 0) continue;
    const auto bytes = zip->data(entry);
    FUZZ_CHECK(bytes.data() == file->data() + entry.data_offset && bytes.size() == entry.size);
    FUZZ_CHECK(std::memcmp(bytes.data(), data + entry.data_offset, bytes.size()) == 0);
  }
  return 0;
}
