#include "io/zip_archive.h"

#include <cstring>

#include "core/error.h"

namespace diffuse {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr uint64_t kCentralHeaderSize = 46, kLocalHeaderSize = 30;
constexpr uint64_t kMaxComment = 0xffff;
constexpr uint32_t kSaturated32 = 0xffffffff;  // "the real value is in the zip64 extra field"
constexpr uint16_t kZip64ExtraId = 1;

uint64_t le(const std::byte* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | uint64_t(p[i]);
  return v;
}

// True when [offset, offset + length) lies inside [0, limit), without overflowing.
bool fits(uint64_t offset, uint64_t length, uint64_t limit) {
  return offset <= limit && length <= limit - offset;
}

// Replaces the saturated 32-bit fields of a central header with their zip64 values, which
// appear in the extra field in this fixed order, each only when its field is saturated.
struct CentralSizes {
  uint64_t compressed, uncompressed, local_offset;
};

bool apply_zip64_extra(const std::byte* extra, uint64_t length, CentralSizes& s) {
  uint64_t pos = 0;
  while (fits(pos, 4, length)) {
    uint64_t id = le(extra + pos, 2), block = le(extra + pos + 2, 2);
    pos += 4;
    if (!fits(pos, block, length)) return false;
    if (id == kZip64ExtraId) {
      uint64_t field = pos, end = pos + block;
      for (uint64_t* v : {&s.uncompressed, &s.compressed, &s.local_offset}) {
        if (*v != kSaturated32) continue;
        if (!fits(field, 8, end)) return false;
        *v = le(extra + field, 8);
        field += 8;
      }
    }
    pos += block;
  }
  return true;
}

}  // namespace

ZipArchive::ZipArchive(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  read_directory(find_directory());
}

void ZipArchive::fail(const std::string& problem) const { throw Error(file_->path() + ": " + problem); }

// The end-of-central-directory record sits at the very end, after an optional comment;
// scan back over the largest possible comment for a signature whose comment length agrees.
// A zip64 locator right before it points to the zip64 record that holds 64-bit values.
ZipArchive::Directory ZipArchive::find_directory() const {
  const std::byte* base = file_->data();
  const uint64_t size = file_->size();
  if (size < kEndSize) fail("not a zip archive (too short)");
  const uint64_t last = size - kEndSize;
  const uint64_t first = last > kMaxComment ? last - kMaxComment : 0;
  uint64_t end = last + 1;
  for (uint64_t pos = last + 1; pos-- > first;) {
    if (le(base + pos, 4) == kEndSig && pos + kEndSize + le(base + pos + 20, 2) == size) {
      end = pos;
      break;
    }
  }
  if (end > last) fail("not a zip archive (no end of central directory record)");

  const std::byte* e = base + end;
  Directory dir{le(e + 10, 2), le(e + 16, 4), le(e + 12, 4)};
  uint64_t directory_limit = end;
  bool multi_disk = le(e + 4, 2) != 0 || le(e + 6, 2) != 0;
  if (end >= kZip64LocatorSize && le(e - kZip64LocatorSize, 4) == kZip64LocatorSig) {
    const std::byte* loc = e - kZip64LocatorSize;
    uint64_t record = le(loc + 8, 8);
    if (!fits(record, kZip64EndSize, end - kZip64LocatorSize) || le(base + record, 4) != kZip64EndSig)
      fail("corrupt zip64 end of central directory record");
    const std::byte* r = base + record;
    dir = {le(r + 32, 8), le(r + 48, 8), le(r + 40, 8)};
    directory_limit = record;
    multi_disk = le(loc + 4, 4) != 0 || le(loc + 16, 4) > 1 || le(r + 16, 4) != 0 || le(r + 20, 4) != 0;
  }
  if (multi_disk) fail("multi-volume zip archives are not supported");
  if (!fits(dir.offset, dir.size, directory_limit))
    fail("central directory lies outside the file (truncated or corrupt zip)");
  if (dir.count > dir.size / kCentralHeaderSize)
    fail("central directory is too small for its " + std::to_string(dir.count) + " entries");
  return dir;
}

void ZipArchive::read_directory(const Directory& dir) {
  const std::byte* base = file_->data();
  const uint64_t end = dir.offset + dir.size;
  uint64_t pos = dir.offset;
  for (uint64_t i = 0; i < dir.count; ++i) {
    if (!fits(pos, kCentralHeaderSize, end) || le(base + pos, 4) != kCentralHeaderSig)
      fail("corrupt central directory entry " + std::to_string(i));
    const std::byte* h = base + pos;
    const uint64_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
    const uint64_t header_len = kCentralHeaderSize + name_len + extra_len + comment_len;
    if (!fits(pos, header_len, end)) fail("corrupt central directory entry " + std::to_string(i));
    ZipEntry entry{std::string(reinterpret_cast<const char*>(h + 46), name_len), uint16_t(le(h + 10, 2)), 0, 0};
    auto fail_entry = [&](const std::string& problem) { fail("zip entry '" + entry.name + "': " + problem); };

    CentralSizes sizes{le(h + 20, 4), le(h + 24, 4), le(h + 42, 4)};
    if (!apply_zip64_extra(h + 46 + name_len, extra_len, sizes)) fail_entry("corrupt zip64 extra field");
    if (le(h + 8, 2) & 1) fail_entry("encrypted entries are not supported");
    if (entry.method == 0 && sizes.compressed != sizes.uncompressed)
      fail_entry("stored entry with different compressed and uncompressed sizes");

    // Local headers may differ from the central one in their extra field (torch pads there
    // to align data) and may leave sizes zero (data descriptor), so only the name is compared.
    const uint64_t local = sizes.local_offset;
    if (!fits(local, kLocalHeaderSize, dir.offset) || le(base + local, 4) != kLocalHeaderSig)
      fail_entry("local header lies outside the file or is corrupt");
    const uint64_t local_name = le(base + local + 26, 2), local_extra = le(base + local + 28, 2);
    entry.data_offset = local + kLocalHeaderSize + local_name + local_extra;
    if (local_name != name_len || !fits(local, kLocalHeaderSize + local_name, dir.offset) ||
        std::memcmp(base + local + kLocalHeaderSize, entry.name.data(), name_len) != 0)
      fail_entry("local header names a different entry");
    if (!fits(entry.data_offset, sizes.compressed, dir.offset))
      fail_entry("data lies outside the file (truncated or corrupt zip)");
    entry.size = sizes.compressed;

    if (!index_.emplace(entry.name, entries_.size()).second) fail_entry("appears twice");
    entries_.push_back(std::move(entry));
    pos += header_len;
  }
}

const ZipEntry* ZipArchive::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::span<const std::byte> ZipArchive::data(const ZipEntry& entry) const {
  if (entry.method != 0)
    fail("zip entry '" + entry.name + "' is compressed (method " + std::to_string(entry.method) +
         "); torch.save stores entries uncompressed, re-save the checkpoint with torch.save");
  return {file_->data() + entry.data_offset, size_t(entry.size)};
}

}  // namespace diffuse
