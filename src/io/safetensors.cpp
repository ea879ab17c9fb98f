#include "io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/mapped_file.h"

namespace diffuse {
namespace {

// Real headers are a few hundred KiB; anything near this is an attack or corruption.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr int kMaxRank = 8;

struct Entry {
  std::string name;
  StoredTensor tensor;
  uint64_t begin, end;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

// Bounded by int64's range, not uint64's: StoredTensor::numel() multiplies the dimensions as int64_t,
// and every partial product must fit there too ([2^32, 2^31, 0] holds no bytes yet overflows it).
uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& path, const std::string& name) {
  if (b != 0 && a > uint64_t(std::numeric_limits<int64_t>::max()) / b)
    fail(path, "tensor '" + name + "' shape overflows");
  return a * b;
}

Entry parse_entry(const std::string& path, const std::string& name, const nlohmann::json& v) {
  if (!v.is_object()) fail(path, "tensor '" + name + "' header entry is not an object");
  auto dt = v.find("dtype"), sh = v.find("shape"), off = v.find("data_offsets");
  if (dt == v.end() || !dt->is_string() || sh == v.end() || !sh->is_array() || off == v.end() ||
      !off->is_array() || off->size() != 2)
    fail(path, "tensor '" + name + "' needs dtype, shape and data_offsets [begin, end]");
  auto dtype = dtype_from_name(dt->get<std::string>());
  if (!dtype) fail(path, "tensor '" + name + "' has unknown dtype '" + dt->get<std::string>() + "'");
  if (sh->size() > kMaxRank) fail(path, "tensor '" + name + "' has rank above 8");

  Entry e{name, StoredTensor{*dtype, {}, nullptr, 0}, 0, 0};
  uint64_t bytes = dtype_size(*dtype);
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) fail(path, "tensor '" + name + "' has a non-integer or negative dimension");
    uint64_t dim = d.get<uint64_t>();
    if (dim > uint64_t(std::numeric_limits<int64_t>::max())) fail(path, "tensor '" + name + "' dimension too large");
    e.tensor.shape.push_back(int64_t(dim));
    bytes = checked_mul(bytes, dim, path, name);
  }
  for (const auto& o : *off)
    if (!o.is_number_unsigned()) fail(path, "tensor '" + name + "' data_offsets are not unsigned integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.end < e.begin) fail(path, "tensor '" + name + "' data_offsets end before they begin");
  if (e.end - e.begin != bytes)
    fail(path, "tensor '" + name + "' shape x dtype needs " + std::to_string(bytes) + " bytes but data_offsets span " +
                   std::to_string(e.end - e.begin));
  e.tensor.nbytes = size_t(bytes);
  return e;
}

}  // namespace

TensorArchive load_safetensors(const std::string& path) {
  auto file = MappedFile::open(path);
  const uint64_t size = file->size();
  if (size < 8) fail(path, "too short for a safetensors header (" + std::to_string(size) + " bytes)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | uint8_t(file->data()[i]);
  if (header_len > kMaxHeaderBytes) fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MiB cap");
  if (header_len > size - 8)
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(size) + " bytes)");

  const char* header = reinterpret_cast<const char*>(file->data() + 8);
  nlohmann::json j = nlohmann::json::parse(header, header + header_len, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(path, "header is not a JSON object");

  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (v.is_object())
        for (const auto& [key, value] : v.items())
          if (value.is_string()) metadata[key] = value.get<std::string>();
      continue;
    }
    entries.push_back(parse_entry(path, name, v));
  }

  const uint64_t data_size = size - 8 - header_len;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (const Entry& e : entries) {
    if (e.end > data_size)
      fail(path, "tensor '" + e.name + "' data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     ") run past the data section (" + std::to_string(data_size) + " bytes); file truncated?");
    if (e.begin < covered) fail(path, "tensor '" + e.name + "' overlaps the tensor stored before it");
    covered = e.end;
  }

  TensorArchive archive;
  archive.source = path;
  archive.metadata = std::move(metadata);
  const std::byte* data = file->data() + 8 + header_len;
  for (Entry& e : entries) {
    e.tensor.data = data + e.begin;
    e.tensor.file_backed = true;
    archive.tensors.emplace(std::move(e.name), std::move(e.tensor));
  }
  archive.backing.push_back(file);
  return archive;
}

TensorArchive load_safetensors_index(const std::string& index_path) {
  auto file = MappedFile::open(index_path);
  const char* text = reinterpret_cast<const char*>(file->data());
  nlohmann::json j = nlohmann::json::parse(text, text + file->size(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(index_path, "not a safetensors index (needs a \"weight_map\" object)");

  std::map<std::string, std::vector<std::string>> names_by_shard;
  for (const auto& [name, shard] : j["weight_map"].items()) {
    if (!shard.is_string()) fail(index_path, "weight_map entry '" + name + "' is not a file name");
    std::string s = shard.get<std::string>();
    if (s.find('/') != std::string::npos || s == "..") fail(index_path, "shard name '" + s + "' leaves the folder");
    names_by_shard[s].push_back(name);
  }
  const auto dir = std::filesystem::path(index_path).parent_path();
  TensorArchive archive;
  archive.source = index_path;
  for (const auto& [shard, names] : names_by_shard) {
    TensorArchive part = load_safetensors((dir / shard).string());
    for (const auto& name : names) part.at(name);  // the index must not promise what a shard lacks
    archive.merge(std::move(part));
  }
  return archive;
}

void save_safetensors(const std::string& path, const std::map<std::string, StoredTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (uint64_t(t.numel()) * dtype_size(t.dtype) != t.nbytes)
      fail(path, "tensor '" + name + "' has " + std::to_string(t.nbytes) + " bytes, not what its shape and dtype need");
    header[name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape},
                    {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the format's writers align the data to 8 bytes
  const std::string temporary = path + ".partial";
  const std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(temporary.c_str(), "wb"), std::fclose);
  if (!file) fail(path, "cannot be written: " + std::string(std::strerror(errno)));
  auto write = [&](const void* data, size_t bytes) {
    if (bytes && std::fwrite(data, 1, bytes, file.get()) != bytes)
      fail(path, "write failed: " + std::string(std::strerror(errno)));
  };
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  write(length, 8);
  write(text.data(), text.size());
  for (const auto& [name, t] : tensors) write(t.data, t.nbytes);
  if (std::fflush(file.get()) != 0) fail(path, "write failed: " + std::string(std::strerror(errno)));
  std::filesystem::rename(temporary, path);
}

}  // namespace diffuse
