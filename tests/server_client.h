#pragma once
// The client side of the server's suites (test_server, test_server_inpaint): the `diffuse serve`
// arguments on the tiny fixture model, JSON requests and their answers, the answers' PNGs decoded
// and their parameters read back, and the in-process model that images are compared with.
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "golden.h"
#include "io/generation_parameters.h"
#include "io/image.h"
#include "pipeline/generate.h"
#include "server/base64.h"
#include "server_process.h"

namespace diffuse::testing {

using nlohmann::json;

inline std::vector<std::string> server_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"-m", testing::fixture("sd1-tiny/model.safetensors"), "--precision", "fp32", "--max-steps", "1000"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// A test suite's one server: started once for the suite (a start loads the model and warms it up).
class SharedServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(server_args()); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static inline ServerProcess* server_ = nullptr;
};

inline httplib::Client client(const ServerProcess& server, int read_timeout_s = 300) {
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(read_timeout_s, 0);
  c.set_connection_timeout(10, 0);
  return c;
}

struct Answer {
  int status = 0;
  json body;
  std::string retry_after;
};

inline Answer post(const ServerProcess& server, const std::string& path, const json& body, int read_timeout_s = 300) {
  auto c = client(server, read_timeout_s);
  const auto res = c.Post(path, body.dump(), "application/json");
  if (!res) return {};
  return {res->status, json::parse(res->body, nullptr, false), res->get_header_value("Retry-After")};
}

inline Answer get(const ServerProcess& server, const std::string& path) {
  auto c = client(server);
  const auto res = c.Get(path);
  if (!res) return {};
  return {res->status, json::parse(res->body, nullptr, false), ""};
}

inline Image decode(const json& b64) { return decode_png(server::base64_decode(b64.get<std::string>(), "test"), "test"); }

// The PNG's "parameters" chunk, read back the way A1111 reads it.
inline GenerationParameters parameters_of(const json& b64) {
  const std::string path = ::testing::TempDir() + "/server_image.png";
  const std::string png = server::base64_decode(b64.get<std::string>(), "test");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(png.data(), 1, png.size(), f);
  std::fclose(f);
  for (const auto& [key, value] : read_png_text(path))
    if (key == "parameters") return parse_parameters(value);
  ADD_FAILURE() << "the PNG has no parameters chunk";
  return {};
}

inline const StableDiffusion& tiny_model() {
  static const auto model = StableDiffusion::load(testing::fixture("sd1-tiny/model.safetensors"));
  return *model;
}

}  // namespace diffuse::testing
