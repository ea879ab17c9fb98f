#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/mapped_file.h"

namespace diffuse {

// One member of a ZIP archive, with its data range already resolved through the local
// header and checked against the file.
struct ZipEntry {
  std::string name;
  uint16_t method;       // 0 = stored; anything else is compressed
  uint64_t data_offset;  // where the entry's (stored or compressed) bytes begin
  uint64_t size;         // compressed size: the bytes at data_offset
};

// A read-only view of a ZIP file that is memory-mapped, enough for torch.save archives:
// the central directory (zip64 when present), every local header validated up front, and
// stored entries exposed in place. Every offset and size is checked against the file with
// overflow-safe arithmetic, so a hostile archive can make the constructor throw but can
// never make `data()` read outside the map. CRCs are not checked: that would read every
// byte of a multi-GB checkpoint at load time, defeating the map.
class ZipArchive {
 public:
  explicit ZipArchive(std::shared_ptr<const MappedFile> file);  // throws Error

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;
  // The bytes of a stored entry; throws Error for a compressed one.
  std::span<const std::byte> data(const ZipEntry& entry) const;
  const std::shared_ptr<const MappedFile>& file() const { return file_; }

 private:
  struct Directory {
    uint64_t count, offset, size;
  };
  Directory find_directory() const;
  void read_directory(const Directory& dir);
  [[noreturn]] void fail(const std::string& problem) const;

  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in entries_
};

}  // namespace diffuse
