// The .ckpt reader: the fixture checkpoint against its safetensors twin, hostile pickles,
// and synthetic archives (strided views, zip64, every kind of truncation and corruption).
#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/resource.h>

#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>

#include "core/error.h"
#include "golden.h"
#include "io/ckpt.h"
#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/safetensors.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;
using testing::fixture;

constexpr const char* kPwned = "/tmp/diffuse-pwned";

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += char((v >> (8 * i)) & 0xff);
  return s;
}

// ---- hand-assembled pickles (protocol 2, as torch.save writes them) ----
namespace pk {
const std::string kProto = std::string("\x80\x02", 2);
std::string str(std::string_view s) { return "X" + le(s.size(), 4) + std::string(s); }
std::string integer(int32_t v) { return "J" + le(uint32_t(v), 4); }
std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
std::string tuple(std::initializer_list<std::string> items) {
  std::string s = "(";
  for (const auto& i : items) s += i;
  return s + "t";
}
std::string int_tuple(const std::vector<int32_t>& v) {
  std::string s = "(";
  for (int32_t x : v) s += integer(x);
  return s + "t";
}
std::string dict(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string s = "}(";
  for (const auto& [k, v] : kv) s += str(k) + v;
  return s + "u";
}
}  // namespace pk

struct TensorSpec {
  std::string storage_type = "FloatStorage";
  std::string key;
  int32_t storage_numel;
  int32_t offset;
  std::vector<int32_t> size, stride;
};

std::string rebuild_tensor(const TensorSpec& t) {
  using namespace pk;
  std::string pid = tuple({str("storage"), global("torch", t.storage_type), str(t.key), str("cpu"),
                           integer(t.storage_numel)}) + "Q";
  std::string hooks = global("collections", "OrderedDict") + ")R";
  return global("torch._utils", "_rebuild_tensor_v2") +
         tuple({pid, integer(t.offset), int_tuple(t.size), int_tuple(t.stride), "\x89", hooks}) + "R";
}

// np.int64(7) as numpy pickles it in protocol 2, as Lightning's global_step often is.
std::string numpy_int64_scalar() {
  using namespace pk;
  std::string dtype = global("numpy", "dtype") + tuple({str("i8"), "\x89", "\x88"}) + "R" +
                      tuple({integer(3), str("<"), "N", "N", "N", integer(-1), integer(-1), integer(0)}) + "b";
  std::string raw = global("_codecs", "encode") + tuple({str(std::string("\x07\0\0\0\0\0\0\0", 8)), str("latin1")}) + "R";
  return global("numpy.core.multiarray", "scalar") + tuple({dtype, raw}) + "R";
}

// ---- a minimal ZIP writer: stored entries, CRCs left zero (the reader does not check them) ----
struct ZipOptions {
  bool zip64 = false;
  uint16_t method = 0;
  bool align = true;  // pad local extra fields so data starts 64-byte aligned, as torch.save does
};

std::string alignment_padding(uint64_t data_start) {
  uint64_t pad = 4;  // an extra-field block needs at least its 4-byte header
  while ((data_start + pad) % 64) ++pad;
  return le(0x4246, 2) + le(pad - 4, 2) + std::string(pad - 4, 'Z');
}

std::string make_zip(const std::vector<std::pair<std::string, std::string>>& files, ZipOptions opt = {}) {
  std::string out, central;
  for (const auto& [name, data] : files) {
    uint64_t local = out.size();
    std::string local_extra = opt.align ? alignment_padding(local + 30 + name.size()) : "";
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(opt.method, 2) + le(0, 4) + le(0, 4) +
           le(data.size(), 4) + le(data.size(), 4) + le(name.size(), 2) + le(local_extra.size(), 2) + name +
           local_extra + data;
    std::string extra = opt.zip64 ? le(1, 2) + le(24, 2) + le(data.size(), 8) + le(data.size(), 8) + le(local, 8) : "";
    uint32_t small = opt.zip64 ? 0xffffffff : 0;
    central += le(0x02014b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(opt.method, 2) + le(0, 4) + le(0, 4) +
               le(small ? small : data.size(), 4) + le(small ? small : data.size(), 4) + le(name.size(), 2) +
               le(extra.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(small ? small : local, 4) + name +
               extra;
  }
  const uint64_t cd_offset = out.size(), count = files.size();
  out += central;
  if (opt.zip64) {
    uint64_t record = out.size();
    out += le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(count, 8) +
           le(count, 8) + le(central.size(), 8) + le(cd_offset, 8);
    out += le(0x07064b50, 4) + le(0, 4) + le(record, 8) + le(1, 4);
    return out + le(0x06054b50, 4) + le(0, 4) + le(0xffff, 2) + le(0xffff, 2) + le(0xffffffff, 4) +
           le(0xffffffff, 4) + le(0, 2);
  }
  return out + le(0x06054b50, 4) + le(0, 4) + le(count, 2) + le(count, 2) + le(central.size(), 4) +
         le(cd_offset, 4) + le(0, 2);
}

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// A checkpoint as torch.save lays it out: <folder>/data.pkl, <folder>/data/<key>, version.
std::string make_ckpt(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& storages,
                      ZipOptions opt = {}, const std::string& folder = "archive") {
  std::vector<std::pair<std::string, std::string>> files{{folder + "/data.pkl", pickle}};
  for (const auto& [key, bytes] : storages) files.emplace_back(folder + "/data/" + key, bytes);
  files.emplace_back(folder + "/version", "3\n");
  return make_zip(files, opt);
}

std::string state_dict_pickle(const std::vector<std::pair<std::string, std::string>>& tensors) {
  return pk::kProto + pk::dict({{"state_dict", pk::dict(tensors)}, {"global_step", numpy_int64_scalar()}}) + ".";
}

class CkptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("diffuse-test-ckpt-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& bytes, const std::string& name = "t.ckpt") {
    std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
    return path;
  }

  // The canonical small checkpoint the corruption tests start from: a contiguous 2x3 and
  // a transposed (strided) view of a second storage.
  std::string small_ckpt(ZipOptions opt = {}) {
    std::string pickle = state_dict_pickle({
        {"w", rebuild_tensor({.key = "0", .storage_numel = 6, .offset = 0, .size = {2, 3}, .stride = {3, 1}})},
        {"wt", rebuild_tensor({.key = "1", .storage_numel = 6, .offset = 0, .size = {3, 2}, .stride = {1, 3}})},
    });
    return make_ckpt(pickle, {{"0", floats({1, 2, 3, 4, 5, 6})}, {"1", floats({1, 2, 3, 4, 5, 6})}}, opt);
  }

  fs::path dir_;
};

// Runs `load` and checks that it throws an Error whose message holds every fragment.
void expect_error(const std::function<void()>& load, std::initializer_list<std::string> fragments) {
  try {
    load();
    ADD_FAILURE() << "no Error thrown (expected one mentioning '" << *fragments.begin() << "')";
  } catch (const Error& e) {
    for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

std::vector<float> values(const StoredTensor& t) { return t.to_f32(); }

// ---------------------------------------------------------------- the fixture checkpoint

TEST_F(CkptTest, FixtureMatchesSafetensorsTwin) {
  TensorArchive ckpt = load_ckpt(fixture("sd1-tiny/model.ckpt"));
  TensorArchive st = load_safetensors(fixture("sd1-tiny/model.safetensors"));
  EXPECT_EQ(ckpt.tensors.size(), st.tensors.size());
  for (const auto& [name, want] : st.tensors) {
    const StoredTensor* got = ckpt.find(name);
    ASSERT_NE(got, nullptr) << "tensor missing from model.ckpt: " << name;
    ASSERT_EQ(got->dtype, want.dtype) << name;
    ASSERT_EQ(got->shape, want.shape) << name;
    ASSERT_EQ(got->nbytes, want.nbytes) << name;
    ASSERT_EQ(std::memcmp(got->data, want.data, want.nbytes), 0) << "bytes differ: " << name;
  }
}

// ---------------------------------------------------------------- hostile files

TEST_F(CkptTest, HostileGlobalsAreRefusedByName) {
  fs::remove(kPwned);
  for (auto [file, global] : {std::pair{"hostile/exec_eval.ckpt", "'__builtin__.eval'"},
                              std::pair{"hostile/exec_os_system.ckpt", "'posix.system'"}}) {
    std::string path = fixture(file);
    expect_error([&] { load_ckpt(path); }, {path + ": ", "forbidden global " + std::string(global)});
  }
  EXPECT_FALSE(fs::exists(kPwned));
}

TEST_F(CkptTest, MissingStorageIsNamed) {
  std::string path = fixture("hostile/missing_storage.ckpt");
  expect_error([&] { load_ckpt(path); }, {path + ": ", "tensor 'w'", "missing storage entry 'archive/data/0'"});
}

// ---------------------------------------------------------------- synthetic archives that load

TEST_F(CkptTest, StridedViewIsCopiedContiguous) {
  TensorArchive a = load_ckpt(write(small_ckpt()));
  ASSERT_EQ(a.tensors.size(), 2u);  // global_step (a numpy scalar) is not a tensor
  EXPECT_EQ(a.at("w").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values(a.at("w")), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(a.at("wt").shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(values(a.at("wt")), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST_F(CkptTest, ContiguousTensorsPointIntoTheFile) {
  TensorArchive a = load_ckpt(write(small_ckpt()));
  ASSERT_EQ(a.backing.size(), 2u);  // the map, and the one copy of the strided view
  auto map = std::static_pointer_cast<const MappedFile>(a.backing[0]);
  auto in_map = [&](const StoredTensor& t) {
    return t.data >= map->data() && t.data + t.nbytes <= map->data() + map->size();
  };
  EXPECT_TRUE(in_map(a.at("w")));
  EXPECT_FALSE(in_map(a.at("wt")));
}

// Only a non-torch writer leaves data misaligned; such a storage is copied so every
// tensor's data stays aligned for its dtype.
TEST_F(CkptTest, MisalignedStorageIsCopied) {
  const std::string storage = floats({1.25f, 2.5f, 3.75f});
  std::string tensor = rebuild_tensor({.key = "0", .storage_numel = 3, .offset = 0, .size = {3}, .stride = {1}});
  for (std::string padding; padding.size() < 4; padding += '.') {  // bytes after STOP are never read
    std::string bytes = make_ckpt(state_dict_pickle({{"v", tensor}}) + padding, {{"0", storage}}, {.align = false});
    if (bytes.find(storage) % 4 == 0) continue;
    TensorArchive a = load_ckpt(write(bytes));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.at("v").data) % 4, 0u);
    EXPECT_EQ(values(a.at("v")), (std::vector<float>{1.25f, 2.5f, 3.75f}));
    return;
  }
  FAIL() << "could not build a misaligned storage";
}

TEST_F(CkptTest, Zip64AndAnyFolderName) {
  TensorArchive a = load_ckpt(write(make_ckpt(
      state_dict_pickle({{"b", rebuild_tensor({.key = "7", .storage_numel = 2, .offset = 0, .size = {2}, .stride = {1}})}}),
      {{"7", floats({0.5f, -2})}}, {.zip64 = true}, "some_model_name")));
  EXPECT_EQ(values(a.at("b")), (std::vector<float>{0.5f, -2}));
}

TEST_F(CkptTest, BareStateDictWithParameterAndOffset) {
  std::string tensor = rebuild_tensor(
      {.storage_type = "HalfStorage", .key = "0", .storage_numel = 4, .offset = 1, .size = {2}, .stride = {1}});
  std::string param = pk::global("torch._utils", "_rebuild_parameter") + pk::tuple({tensor, "\x88", ")"}) + "R";
  std::string pickle = pk::kProto + std::string("}q\0(", 4) + pk::str("p") + param + pk::str("n") +
                       pk::str("not a tensor") + "u.";
  const uint16_t halves[] = {0x3c00, 0x4000, 0x4200, 0x4400};  // 1, 2, 3, 4
  TensorArchive a = load_ckpt(write(make_ckpt(pickle, {{"0", std::string(reinterpret_cast<const char*>(halves), 8)}})));
  ASSERT_EQ(a.tensors.size(), 1u);
  EXPECT_EQ(a.at("p").dtype, DType::F16);
  EXPECT_EQ(values(a.at("p")), (std::vector<float>{2, 3}));
}

// ---------------------------------------------------------------- synthetic archives that must be refused

TEST_F(CkptTest, GarbageEmptyAndLegacyFiles) {
  std::string garbage = write("this is not a checkpoint at all, just some bytes", "garbage.ckpt");
  expect_error([&] { load_ckpt(garbage); }, {garbage + ": ", "not a zip archive"});
  std::string empty = write("", "empty.ckpt");
  expect_error([&] { load_ckpt(empty); }, {empty + ": ", "not a zip archive"});
  std::string legacy = write(pk::kProto + "\x8a\x0alegacy-magic.", "legacy.ckpt");
  expect_error([&] { load_ckpt(legacy); }, {legacy + ": ", "legacy torch.save format not supported"});
}

TEST_F(CkptTest, EveryTruncationIsRefused) {
  for (ZipOptions opt : {ZipOptions{}, ZipOptions{.zip64 = true}}) {
    std::string full = small_ckpt(opt);
    for (size_t n = 0; n < full.size(); ++n) {
      std::string path = write(full.substr(0, n));
      EXPECT_THROW(load_ckpt(path), Error) << "truncated to " << n << " of " << full.size();
    }
  }
}

TEST_F(CkptTest, TruncatedFixtureIsRefused) {
  std::ifstream in(fixture("sd1-tiny/model.ckpt"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (size_t n : {bytes.size() / 2, bytes.size() - 10, bytes.size() - 30}) {
    std::string path = write(bytes.substr(0, n));
    EXPECT_THROW(load_ckpt(path), Error) << "truncated to " << n;
  }
}

// Every single-byte corruption either still loads or is an Error; none may crash.
TEST_F(CkptTest, ByteFlipsNeverCrash) {
  std::string full = small_ckpt();
  for (size_t i = 0; i < full.size(); ++i) {
    for (char replacement : {'\0', '\xff', char(full[i] ^ 0x01)}) {
      std::string bytes = full;
      bytes[i] = replacement;
      std::string path = write(bytes);
      try {
        TensorArchive a = load_ckpt(path);
        for (const auto& [name, t] : a.tensors)
          if (t.nbytes) (void)values(t);  // to_f32 of an empty tensor trips UBSan in convert_to_f32's memcpy
      } catch (const Error&) {
      }
    }
  }
}

TEST_F(CkptTest, CompressedEntryIsRefused) {
  std::string path = write(small_ckpt({.method = 8}));
  expect_error([&] { load_ckpt(path); }, {path + ": ", "'archive/data.pkl' is compressed"});
}

TEST_F(CkptTest, StorageSizeMustMatchNumel) {
  std::string path = write(make_ckpt(
      state_dict_pickle({{"w", rebuild_tensor({.key = "0", .storage_numel = 4, .offset = 0, .size = {3}, .stride = {1}})}}),
      {{"0", floats({1, 2, 3})}}));
  expect_error([&] { load_ckpt(path); }, {path + ": ", "tensor 'w'", "holds 12 bytes", "need 16"});
}

TEST_F(CkptTest, ViewPastStorageIsRefused) {
  for (TensorSpec spec : {TensorSpec{.key = "0", .storage_numel = 4, .offset = 2, .size = {3}, .stride = {1}},
                          TensorSpec{.key = "0", .storage_numel = 4, .offset = 0, .size = {2, 2}, .stride = {1, 3}},
                          TensorSpec{.key = "0", .storage_numel = 4, .offset = 0, .size = {0x40000000, 0x40000000},
                                     .stride = {0x7fffffff, 0x7fffffff}}}) {
    std::string path = write(make_ckpt(state_dict_pickle({{"w", rebuild_tensor(spec)}}), {{"0", floats({1, 2, 3, 4})}}));
    expect_error([&] { load_ckpt(path); }, {path + ": ", "tensor 'w'", "reaches past its storage"});
  }
}

TEST_F(CkptTest, ExpandedViewsCannotExhaustMemory) {
  TensorSpec broadcast{.key = "0", .storage_numel = 1, .offset = 0, .size = {0x10000, 0x10000}, .stride = {0, 0}};
  std::string path = write(make_ckpt(state_dict_pickle({{"w", rebuild_tensor(broadcast)}}), {{"0", floats({1})}}));
  expect_error([&] { load_ckpt(path); }, {path + ": ", "tensor 'w'", "more memory than the file"});
}

TEST_F(CkptTest, PickleLengthPastEndIsRefused) {
  std::string pickle = pk::kProto + "}X" + le(0x7ffffff0, 4) + "abc";
  std::string path = write(make_ckpt(pickle, {}));
  expect_error([&] { load_ckpt(path); }, {path + ": ", "malformed pickle", "runs past the end"});
}

TEST_F(CkptTest, ForbiddenGlobalInsideTensorIsRefused) {
  std::string pickle = pk::kProto + pk::dict({{"w", pk::global("torch", "load") + ")R"}}) + ".";
  std::string path = write(make_ckpt(pickle, {}));
  expect_error([&] { load_ckpt(path); }, {path + ": ", "forbidden global 'torch.load'"});
}

TEST_F(CkptTest, NonDictTopLevelAndNoTensors) {
  std::string list = write(make_ckpt(pk::kProto + "]" + ".", {}), "list.ckpt");
  expect_error([&] { load_ckpt(list); }, {list + ": ", "not a dict"});
  std::string none = write(make_ckpt(pk::kProto + pk::dict({{"epoch", pk::integer(3)}}) + ".", {}), "none.ckpt");
  expect_error([&] { load_ckpt(none); }, {none + ": ", "no tensors"});
}

TEST_F(CkptTest, TwoPicklesAreAmbiguous) {
  std::string pickle = state_dict_pickle({});
  std::string path = write(make_zip({{"a/data.pkl", pickle}, {"b/data.pkl", pickle}}));
  expect_error([&] { load_ckpt(path); }, {path + ": ", "more than one data.pkl"});
}

// ---------------------------------------------------------------- the pickle parser alone

PickleDocument parse(const std::string& bytes) {
  return parse_pickle(std::as_bytes(std::span(bytes.data(), bytes.size())), "test.pkl");
}

TEST(Pickle, ScalarsContainersAndMemo) {
  using K = PickleValue::Kind;
  // {"a": [1, -2, 3.5, None, True], "b": <memo 1: the same list>, "c": -129 (LONG1), "d": b"xy"}
  std::string bytes = pk::kProto + "}(" + pk::str("a") + "]q\x01(K\x01" + pk::integer(-2) + "G" +
                      std::string("\x40\x0c\0\0\0\0\0\0", 8) + "N\x88" + "e" + pk::str("b") + "h\x01" +
                      pk::str("c") + "\x8a\x02\x7f\xff" + pk::str("d") + "C\x02xy" + "u.";
  PickleDocument doc = parse(bytes);
  const PickleValue& root = doc.root();
  ASSERT_TRUE(root.is(K::Dict));
  const PickleValue* a = root.get("a");
  ASSERT_TRUE(a && a->is(K::List) && a->items.size() == 5);
  EXPECT_EQ(a->items[0]->integer, 1);
  EXPECT_EQ(a->items[1]->integer, -2);
  EXPECT_EQ(a->items[2]->real, 3.5);
  EXPECT_TRUE(a->items[3]->is(K::None));
  EXPECT_TRUE(a->items[4]->boolean);
  EXPECT_EQ(root.get("b"), a);
  EXPECT_EQ(root.get("c")->integer, -129);
  EXPECT_TRUE(root.get("d")->is(K::Bytes));
  EXPECT_EQ(root.get("d")->text, "xy");
}

TEST(Pickle, Protocol4StackGlobalIsCheckedToo) {
  auto short_str = [](const std::string& v) { return "\x8c" + std::string(1, char(v.size())) + v + "\x94"; };
  const std::string proto4("\x80\x04", 2);
  std::string ok = proto4 + short_str("collections") + short_str("OrderedDict") + "\x93\x94)R\x94.";
  EXPECT_TRUE(parse(ok).root().is(PickleValue::Kind::Dict));
  std::string bad = proto4 + short_str("subprocess") + short_str("Popen") + "\x93.";
  expect_error([&] { parse(bad); }, {"test.pkl: ", "forbidden global 'subprocess.Popen'"});
}

// What a PyTorch Lightning checkpoint (the original sd-v1-4.ckpt) keeps beside its state dict: a
// callbacks dict keyed by the ModelCheckpoint class, an object of it (NEWOBJ + BUILD), a set.
// Written by Python's pickle (protocol 2) with stand-in classes of those names.
TEST(Pickle, LightningCheckpointRecordsParseAsInertValues) {
  const std::string hex =
      "80027d710028580500000065706f636871014b06580900000063616c6c6261636b7371027d7103637079746f7263685f6c696768746e696e672e63616c6c6261636b732e6d6f64656c5f636865636b706f696e740a4d6f64656c436865636b706f696e740a71047d7105285810000000626573745f6d6f64656c5f73636f726571064e580f000000626573745f6d6f64656c5f7061746871075800000000710875735807000000747261696e6572710968042981710a7d710b2858070000006d6f6e69746f72710c4e580a000000736176655f746f705f6b710d4b017562580400000074616773710e635f5f6275696c74696e5f5f0a7365740a710f5d7110580100000061711161857112527113580a00000073746174655f6469637471147d7115752e";
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) bytes += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  const PickleDocument doc = parse(bytes);
  const PickleValue& root = doc.root();
  ASSERT_TRUE(root.is(PickleValue::Kind::Dict));
  bool has_state_dict = false;
  for (const auto& [key, value] : root.entries)
    if (key->is(PickleValue::Kind::String) && key->text == "state_dict") has_state_dict = value->is(PickleValue::Kind::Dict);
  EXPECT_TRUE(has_state_dict);
}

TEST(Pickle, MalformedInputsAreErrors) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "without a STOP"},
      {pk::kProto + "0.", "stack underflow"},
      {pk::kProto + "(K\x01t" + "t.", "no MARK"},
      {pk::kProto + "h\x05.", "memo key 5"},
      {pk::kProto + "\x8a\x09" + std::string(9, '\x01') + ".", "wider than 64 bits"},
      {pk::kProto + "X\xff\xff\xff\xff.", "runs past the end"},
      {pk::kProto + "K\x01K\x02.", "STOP with 2 objects"},
      {pk::kProto + "K\x01K\x02" + "a.", "APPEND applied to the wrong kind"},
      {pk::kProto + "K\x01)R.", "a global for REDUCE"},
      {pk::kProto + "cposix\nsys", "unterminated"},
      {pk::kProto + "i.", "unsupported opcode 0x69"},
      {std::string("\x80\x06", 2) + "N.", "unsupported protocol 6"},
      {pk::kProto + std::string(5000, '(') + ".", "nested deeper"},
  };
  for (const auto& [bytes, fragment] : cases) expect_error([&] { parse(bytes); }, {"test.pkl: ", fragment});
}


using testing::expect_refused_quickly;

// None wrapped in 10^6 one-element tuples: refused at the node cap, within the memory bound.
TEST(Pickle, MillionDeepNestingIsRefusedQuickly) {
  const std::string bytes = pk::kProto + "N" + std::string(1'000'000, '\x85') + ".";
  expect_refused_quickly([&] { parse(bytes); }, "more than 524288 objects");
}

// A zip bomb: a deflated data.pkl declaring 2^40 bytes. Nothing is ever inflated; the entry is
// refused as compressed the moment it is read.
TEST_F(CkptTest, ZipBombIsRefusedWithoutInflating) {
  std::string zip = make_ckpt(state_dict_pickle({}), {}, {.zip64 = true, .method = 8});
  const size_t central = zip.find(le(0x02014b50, 4));
  const size_t uncompressed = zip.find(le(1, 2) + le(24, 2), central) + 4;  // the zip64 extra field's first size
  zip.replace(uncompressed, 8, le(uint64_t(1) << 40, 8));
  const std::string path = write(zip, "bomb.ckpt");
  expect_refused_quickly([&] { load_ckpt(path); }, "is compressed (method 8)");
}
}  // namespace
}  // namespace diffuse
