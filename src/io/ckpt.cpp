#include "io/ckpt.h"

#include <cstdint>
#include <cstring>
#include <optional>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/zip_archive.h"

namespace diffuse {
namespace {

using Kind = PickleValue::Kind;

struct StorageType {
  std::string_view global;
  DType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.FloatStorage", DType::F32}, {"torch.HalfStorage", DType::F16},
    {"torch.BFloat16Storage", DType::BF16}, {"torch.DoubleStorage", DType::F64},
    {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
    {"torch.ShortStorage", DType::I16}, {"torch.CharStorage", DType::I8},
    {"torch.ByteStorage", DType::U8}, {"torch.BoolStorage", DType::BOOL},
};

bool is_call_of(const PickleValue& v, std::string_view global) {
  return v.is(Kind::Reduce) && v.items[0]->is_global(global) && v.items[1]->is(Kind::Tuple);
}

// Overflow-checked arithmetic on the non-negative sizes a hostile pickle supplies.
bool mul(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }
bool add(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_add_overflow(a, b, &out); }

// How a tensor views its storage, in elements.
struct Layout {
  uint64_t offset = 0;
  std::vector<uint64_t> size, stride;
  uint64_t numel = 1;

  bool contiguous() const {
    uint64_t expected = 1;
    for (size_t i = size.size(); i-- > 0;) {
      if (size[i] != 1 && stride[i] != expected) return false;
      expected *= size[i];
    }
    return true;
  }
};

// Gathers a strided view into dense row-major order, one element at a time: only
// rare tensors take this path, so simplicity wins over speed.
void gather(const std::byte* src, std::byte* dst, const Layout& l, size_t itemsize) {
  std::vector<uint64_t> index(l.size.size(), 0);
  for (uint64_t n = 0; n < l.numel; ++n) {
    uint64_t element = l.offset;
    for (size_t d = 0; d < index.size(); ++d) element += index[d] * l.stride[d];
    std::memcpy(dst + n * itemsize, src + element * itemsize, itemsize);
    for (size_t d = index.size(); d-- > 0;) {
      if (++index[d] < l.size[d]) break;
      index[d] = 0;
    }
  }
}

class CkptReader {
 public:
  explicit CkptReader(const std::string& path) : path_(path), file_(MappedFile::open(path)) {
    refuse_legacy();
    zip_.emplace(file_);
  }

  TensorArchive read() {
    const ZipEntry& pickle_entry = find_pickle();
    check_byte_order();
    PickleDocument doc = parse_pickle(zip_->data(pickle_entry), path_);
    TensorArchive archive;
    archive.source = path_;
    for (const auto& [key, value] : state_dict(doc.root()).entries) {
      if (!key->is(Kind::String)) continue;
      if (auto t = tensor(key->text, *value)) archive.tensors.insert_or_assign(key->text, *t);
    }
    if (archive.tensors.empty()) fail("checkpoint contains no tensors");
    archive.backing.push_back(file_);
    for (auto& buffer : copies_) archive.backing.push_back(std::move(buffer));
    return archive;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw Error(path_ + ": " + problem); }

  // Before torch 1.6, torch.save wrote a bare sequence of pickles, which starts with the
  // pickle PROTO opcode instead of a zip signature.
  void refuse_legacy() const {
    if (file_->size() >= 2 && file_->data()[0] == std::byte{0x80} && uint8_t(file_->data()[1]) <= 5)
      fail("legacy torch.save format not supported; re-save with torch >= 1.6 or convert to safetensors");
  }

  // The archive's top folder is named after the file it was saved as, so it is found
  // rather than assumed: exactly one "<folder>/data.pkl".
  const ZipEntry& find_pickle() {
    const ZipEntry* found = nullptr;
    for (const ZipEntry& e : zip_->entries()) {
      size_t slash = e.name.find('/');
      if (slash == std::string::npos || e.name.substr(slash) != "/data.pkl") continue;
      if (found) fail("zip holds more than one data.pkl ('" + found->name + "', '" + e.name + "')");
      found = &e;
      prefix_ = e.name.substr(0, slash + 1);
    }
    if (!found) fail("no <folder>/data.pkl in the zip: not a PyTorch checkpoint");
    return *found;
  }

  // torch >= 2.1 records the byte order of the storages; older files are little-endian.
  void check_byte_order() {
    const ZipEntry* e = zip_->find(prefix_ + "byteorder");
    if (!e) return;
    auto bytes = zip_->data(*e);
    if (std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()) != "little")
      fail("storages are not little-endian (" + prefix_ + "byteorder); re-save on a little-endian machine");
  }

  const PickleValue& state_dict(const PickleValue& root) const {
    if (!root.is(Kind::Dict)) fail("top-level pickled object is not a dict");
    const PickleValue* nested = root.get("state_dict");
    return nested && nested->is(Kind::Dict) ? *nested : root;
  }

  // A state dict value that is a tensor (or a Parameter around one) becomes a
  // StoredTensor; anything else is not a tensor and is skipped.
  std::optional<StoredTensor> tensor(const std::string& name, const PickleValue& value) {
    const PickleValue* v = &value;
    if (is_call_of(*v, "torch._utils._rebuild_parameter")) {
      if (v->items[1]->items.empty()) fail_tensor(name, "_rebuild_parameter without arguments");
      v = v->items[1]->items[0];
    }
    if (!is_call_of(*v, "torch._utils._rebuild_tensor_v2")) return std::nullopt;
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    const auto& args = v->items[1]->items;
    if (args.size() != 6 && args.size() != 7) fail_tensor(name, "unexpected _rebuild_tensor_v2 arguments");
    auto [dtype, storage] = resolve_storage(name, *args[0]);
    Layout layout = parse_layout(name, *args[1], *args[2], *args[3]);
    const size_t itemsize = dtype_size(dtype);
    const uint64_t storage_numel = storage.size() / itemsize;
    check_extent(name, layout, storage_numel);

    uint64_t nbytes;
    if (!mul(layout.numel, itemsize, nbytes)) fail_tensor(name, "byte size overflows");
    StoredTensor t{dtype, {}, nullptr, size_t(nbytes)};
    for (uint64_t d : layout.size) t.shape.push_back(int64_t(d));
    const std::byte* in_place = storage.data() + layout.offset * itemsize;
    const bool aligned = reinterpret_cast<uintptr_t>(in_place) % itemsize == 0;
    t.data = layout.contiguous() && aligned ? in_place : copy_dense(name, storage.data(), layout, itemsize);
    return t;
  }

  [[noreturn]] void fail_tensor(const std::string& name, const std::string& problem) const {
    fail("tensor '" + name + "': " + problem);
  }

  // The persistent id ('storage', StorageType, key, location, numel) names the zip entry
  // <folder>/data/<key>, which must hold exactly numel elements of the storage's type.
  std::pair<DType, std::span<const std::byte>> resolve_storage(const std::string& name, const PickleValue& ref) {
    const PickleValue* pid = ref.is(Kind::PersistentId) ? ref.items[0] : nullptr;
    if (!pid || !pid->is(Kind::Tuple) || pid->items.size() != 5 || !pid->items[0]->is(Kind::String) ||
        pid->items[0]->text != "storage" || !pid->items[1]->is(Kind::Global) || !pid->items[2]->is(Kind::String) ||
        !pid->items[4]->is(Kind::Int) || pid->items[4]->integer < 0)
      fail_tensor(name, "storage reference is not ('storage', type, key, location, numel)");
    const std::string& type = pid->items[1]->text;
    const StorageType* st = nullptr;
    for (const StorageType& s : kStorageTypes)
      if (s.global == type) st = &s;
    if (!st) fail_tensor(name, "'" + type + "' is not a storage type");

    const std::string entry_name = prefix_ + "data/" + pid->items[2]->text;
    const ZipEntry* entry = zip_->find(entry_name);
    if (!entry) fail_tensor(name, "missing storage entry '" + entry_name + "' in the zip");
    auto bytes = zip_->data(*entry);
    const uint64_t numel = uint64_t(pid->items[4]->integer);
    uint64_t expected;
    if (!mul(numel, dtype_size(st->dtype), expected) || expected != bytes.size())
      fail_tensor(name, "storage entry '" + entry_name + "' holds " + std::to_string(bytes.size()) + " bytes, but " +
                            std::to_string(numel) + " elements of " + std::string(dtype_name(st->dtype)) + " need " +
                            std::to_string(numel * dtype_size(st->dtype)));
    return {st->dtype, bytes};
  }

  Layout parse_layout(const std::string& name, const PickleValue& offset, const PickleValue& size,
                      const PickleValue& stride) const {
    auto non_negative = [](const PickleValue* v) { return v->is(Kind::Int) && v->integer >= 0; };
    if (!non_negative(&offset)) fail_tensor(name, "storage offset is not a non-negative integer");
    if (!size.is(Kind::Tuple) || !stride.is(Kind::Tuple) || size.items.size() != stride.items.size())
      fail_tensor(name, "size and stride are not tuples of the same length");
    Layout l;
    l.offset = uint64_t(offset.integer);
    for (size_t d = 0; d < size.items.size(); ++d) {
      if (!non_negative(size.items[d]) || !non_negative(stride.items[d]))
        fail_tensor(name, "size and stride must be non-negative integers");
      l.size.push_back(uint64_t(size.items[d]->integer));
      l.stride.push_back(uint64_t(stride.items[d]->integer));
      if (!mul(l.numel, l.size.back(), l.numel)) fail_tensor(name, "element count overflows");
    }
    return l;
  }

  // Every element the view can reach must lie inside the storage.
  void check_extent(const std::string& name, const Layout& l, uint64_t storage_numel) const {
    uint64_t end = l.offset;  // one past the last element reached
    bool ok = l.offset <= storage_numel;
    if (l.numel > 0) {
      for (size_t d = 0; d < l.size.size() && ok; ++d) {
        uint64_t span;
        ok = mul(l.size[d] - 1, l.stride[d], span) && add(end, span, end);
      }
      ok = ok && end < storage_numel;
    }
    if (!ok)
      fail_tensor(name, "view (offset " + std::to_string(l.offset) + ") reaches past its storage of " +
                            std::to_string(storage_numel) + " elements");
  }

  // Strided views, and storages a non-torch writer left misaligned for their dtype, are
  // copied into owned (aligned) buffers. Copies are capped in total at the file's size, so
  // a file of small views that all expand one storage cannot demand unbounded memory.
  const std::byte* copy_dense(const std::string& name, const std::byte* src, const Layout& l, size_t itemsize) {
    const uint64_t nbytes = l.numel * itemsize;  // checked by the caller
    if (!add(copied_bytes_, nbytes, copied_bytes_) || copied_bytes_ > file_->size())
      fail_tensor(name, "copying strided or misaligned tensors would need more memory than the file's size");
    auto buffer = std::make_shared<std::vector<std::byte>>(size_t(nbytes));
    gather(src, buffer->data(), l, itemsize);
    copies_.push_back(buffer);
    return buffer->data();
  }

  std::string path_;
  std::shared_ptr<const MappedFile> file_;
  std::optional<ZipArchive> zip_;
  std::string prefix_;  // "<folder>/"
  uint64_t copied_bytes_ = 0;
  std::vector<std::shared_ptr<std::vector<std::byte>>> copies_;
};

}  // namespace

TensorArchive load_ckpt(const std::string& path) { return CkptReader(path).read(); }

}  // namespace diffuse
