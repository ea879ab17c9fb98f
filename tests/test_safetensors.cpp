// The safetensors reader: real files load, every hostile file is refused with a message that
// names the file and the problem.
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>

#include "core/error.h"
#include "golden.h"

namespace diffuse {
namespace {

using testing::fixture;

TEST(Safetensors, LoadsTinyModel) {
  TensorArchive a = load_safetensors(fixture("sd1-tiny/model.safetensors"));
  EXPECT_EQ(a.tensors.size(), 984u);
  const StoredTensor& t = a.at("model.diffusion_model.input_blocks.0.0.weight");
  EXPECT_EQ(t.dtype, DType::F16);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{32, 4, 3, 3}));
  EXPECT_EQ(t.nbytes, 32u * 4 * 3 * 3 * 2);
}

struct Hostile {
  const char* file;
  const char* problem;  // a phrase the message must contain
};

class HostileSafetensors : public ::testing::TestWithParam<Hostile> {};

TEST_P(HostileSafetensors, RefusedWithClearError) {
  const std::string path = fixture(std::string("hostile/") + GetParam().file);
  try {
    load_safetensors(path);
    FAIL() << GetParam().file << " loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "message does not start with the path: " << msg;
    EXPECT_NE(msg.find(GetParam().problem), std::string::npos) << "message lacks '" << GetParam().problem << "': " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(All, HostileSafetensors,
                         ::testing::Values(Hostile{"bad_dtype.safetensors", "unknown dtype 'Q9'"},
                                           Hostile{"header_len_huge.safetensors", "header length"},
                                           Hostile{"huge_shape.safetensors", "shape overflows"},
                                           Hostile{"not_json.safetensors", "not a JSON object"},
                                           Hostile{"offsets_past_end.safetensors", "past the data section"},
                                           Hostile{"overlap.safetensors", "overlaps"},
                                           Hostile{"shape_mismatch.safetensors", "data_offsets span"},
                                           Hostile{"truncated.safetensors", "past the"}),
                         [](const auto& info) {
                           std::string n = info.param.file;
                           return n.substr(0, n.find('.'));
                         });

TEST(Safetensors, MissingFileNamed) {
  try {
    load_safetensors("/nonexistent/model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors: cannot open"), std::string::npos) << e.what();
  }
}

// What save_safetensors writes, load_safetensors reads back byte for byte, metadata included.
TEST(Safetensors, SaveRoundTrips) {
  const TensorArchive model = load_safetensors(fixture("sd1-tiny/model.safetensors"));
  const std::string path = ::testing::TempDir() + "/round_trip.safetensors";
  save_safetensors(path, model.tensors, {{"diffuse.name", "round trip"}});
  const TensorArchive back = load_safetensors(path);
  EXPECT_EQ(back.metadata, (std::map<std::string, std::string>{{"diffuse.name", "round trip"}}));
  ASSERT_EQ(back.tensors.size(), model.tensors.size());
  for (const auto& [name, t] : model.tensors) {
    const StoredTensor& b = back.at(name);
    EXPECT_EQ(b.dtype, t.dtype) << name;
    EXPECT_EQ(b.shape, t.shape) << name;
    ASSERT_EQ(b.nbytes, t.nbytes) << name;
    EXPECT_EQ(std::memcmp(b.data, t.data, t.nbytes), 0) << name << ": bytes differ after the round trip";
  }
}

TEST(Safetensors, SaveToAnUnwritablePlaceIsNamed) {
  try {
    save_safetensors("/nonexistent/dir/model.safetensors", {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.safetensors: cannot be written"), std::string::npos)
        << e.what();
  }
}


using testing::expect_refused_quickly;

std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

std::string write_temp(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// 10^12 elements declared over a 16-byte data section: refused from the header, nothing allocated.
TEST(Safetensors, TrillionElementsAreRefusedFromTheHeader) {
  const std::string path = write_temp("trillion.safetensors", safetensors_bytes(
      R"({"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}})", 16));
  expect_refused_quickly([&] { load_safetensors(path); }, "run past the data section");
}

// fuzz/regressions/safetensors: dimensions whose partial product passes 2^63 overflowed
// StoredTensor::numel()'s int64_t even though a zero dimension leaves no bytes to read.
TEST(Safetensors, ShapeWhosePartialProductOverflowsInt64IsRefused) {
  const std::string path = write_temp("int64_overflow.safetensors", safetensors_bytes(
      R"({"w":{"dtype":"U8","shape":[4294967296,2147483648,0],"data_offsets":[0,0]}})", 0));
  expect_refused_quickly([&] { load_safetensors(path); }, "tensor 'w' shape overflows");
}
}  // namespace
}  // namespace diffuse
