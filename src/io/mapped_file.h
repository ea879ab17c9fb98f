#pragma once
#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace diffuse {

// A read-only memory map of a whole file. Model weights stay in the page cache and are
// converted once into the precision the model runs in, never copied whole.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);  // throws Error
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const std::byte* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const std::byte* data_;
  size_t size_;
};

}  // namespace diffuse
