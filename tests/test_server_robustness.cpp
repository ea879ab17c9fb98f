// `diffuse serve` against hostile clients: well over 500 malformed requests (truncated JSON, huge
// and negative numbers, every field of both APIs with the wrong type, invalid UTF-8, bad base64
// and non-PNG images, wrong content types, garbage bytes, broken request lines and headers,
// unknown paths and methods), 100 MB bodies, chunked and compressed bodies, and slowloris
// connections. Every answer must be a 4xx/5xx carrying a JSON message, no connection may hang
// (each socket has a deadline), and the server must still generate afterwards. Raw sockets, so
// that nothing a client library tidies up is lost: the client is raw_http.h, the malformed
// requests hostile_requests.h.
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "golden.h"
#include "hostile_requests.h"
#include "io/image.h"
#include "raw_http.h"
#include "server/base64.h"
#include "server_process.h"

namespace diffuse {
namespace {

using nlohmann::json;
using testing::Answer;
using testing::Case;
using testing::Clock;
using testing::Connection;
using testing::edit_cases;
using testing::http_request;
using testing::json_cases;
using testing::kAnswerDeadline;
using testing::protocol_cases;
using testing::seconds_since;
using testing::ServerProcess;

constexpr int kReadTimeout = 2;  // the server's --read-timeout
constexpr size_t kMaxBody = size_t(4) << 20;  // its --max-body-mb 4

std::string tail(const std::string& s, size_t n) { return s.size() > n ? s.substr(s.size() - n) : s; }

// Whether an answer is what every hostile request must get: a 4xx/5xx whose body is JSON with a
// message (A1111's {"error", "detail"}, OpenAI's {"error": {"message"}}). "" when it is.
std::string problem_with(const Case& c, const Answer& a) {
  if (!a.answered) return (a.closed ? "the connection closed without an answer" : "no answer within the deadline") + std::string(" [") + a.head + "]";
  if (a.status < 400 || a.status > 599) return "status " + std::to_string(a.status) + " (" + a.body.substr(0, 200) + ")";
  if (c.head) return "";
  const json body = json::parse(a.body, nullptr, false);
  if (!body.is_object()) return "status " + std::to_string(a.status) + " with a body that is not a JSON object: " + a.body.substr(0, 200);
  const auto error = body.find("error");
  if (c.openai) {
    if (error == body.end() || !error->is_object() || !error->contains("message") || !(*error)["message"].is_string() ||
        (*error)["message"].get<std::string>().empty() || !error->contains("type"))
      return "an OpenAI endpoint answered outside OpenAI's error shape: " + a.body.substr(0, 200);
    return "";
  }
  if (error != body.end() && error->is_object() && error->value("message", "") != "") return "";
  const auto detail = body.find("detail");
  if (detail == body.end() || !detail->is_string() || detail->get<std::string>().empty() || error == body.end())
    return "no error/detail message: " + a.body.substr(0, 200);
  return "";
}

// ---------------------------------------------------------------------------------------------

class ServerRobustness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"-m", testing::fixture("sd1-tiny/model.safetensors"), "--precision", "fp32", "--max-body-mb", "4",
                                 "--queue-size", "4", "--read-timeout", std::to_string(kReadTimeout), "--max-steps", "50",
                                 "--max-batch", "4", "--max-pixels", "262144"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static int port() { return server_->port(); }

  // One hostile request: sent, the answer read. The sending side stays open: cpp-httplib 0.11
  // writes no answer to a client that has shut it (its is_socket_alive peeks, sees the FIN).
  static Answer exchange(const std::string& bytes, bool head_only = false) {
    Connection c(port());
    if (!c.ok()) return {};
    c.send_all(bytes);  // a server that answers before reading everything is fine
    return c.read_answer(kAnswerDeadline, head_only);
  }

  // Runs the cases on `threads` concurrent clients; every answer must be an error with a message.
  static void expect_all_refused(const std::vector<Case>& cases, int threads = 6) {
    std::atomic<size_t> next{0};
    std::mutex mutex;
    std::vector<std::string> failures;
    std::map<int, int> statuses;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&] {
        for (size_t i; (i = next++) < cases.size();) {
          const Answer a = exchange(cases[i].bytes, cases[i].head);
          const std::string problem = problem_with(cases[i], a);
          const std::lock_guard lock(mutex);
          ++statuses[a.status];
          if (!problem.empty()) failures.push_back(cases[i].name + ": " + problem);
        }
      });
    for (auto& w : workers) w.join();
    std::printf("answers:");
    for (const auto& [status, count] : statuses) std::printf(" %d x%d", status, count);
    std::printf("\n");
    for (const std::string& f : failures) ADD_FAILURE() << f;
    if (!failures.empty()) std::fprintf(stderr, "the server's log ends:\n%s\n", tail(server_->log(), 4000).c_str());
  }

  // The server is still up, and still makes a picture from a good request.
  static void expect_still_serving() {
    int status = 0;
    ASSERT_EQ(::waitpid(server_->pid(), &status, WNOHANG), 0) << "diffuse serve exited:\n" << server_->log();
    const Answer a = exchange(http_request("POST", "/sdapi/v1/txt2img", R"({"prompt":"still here","width":64,"height":64,"steps":1,"seed":3})"));
    ASSERT_EQ(a.status, 200) << a.body.substr(0, 300) << "\n" << server_->log().substr(0, 2000);
    const json body = json::parse(a.body);
    const Image image = decode_png(server::base64_decode(body["images"][0].get<std::string>(), "images[0]"), "images[0]");
    EXPECT_EQ(image.width, 64);
    EXPECT_EQ(image.height, 64);
  }

  static ServerProcess* server_;
};

ServerProcess* ServerRobustness::server_ = nullptr;

TEST_F(ServerRobustness, RefusesHundredsOfMalformedRequests) {
  std::vector<Case> cases = json_cases();
  for (const std::vector<Case>& more : {edit_cases(), protocol_cases()}) cases.insert(cases.end(), more.begin(), more.end());
  ASSERT_GE(cases.size(), 500u);
  const auto start = Clock::now();
  expect_all_refused(cases);
  std::printf("%zu hostile requests refused in %.1f s; server RSS %ld KiB\n", cases.size(), seconds_since(start), server_->rss_kib());
  expect_still_serving();
}

TEST_F(ServerRobustness, RefusesBodiesOverTheLimit) {
  const std::string head = "POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  const long rss_before = server_->rss_kib();
  std::vector<std::thread> clients;
  std::mutex mutex;
  auto check = [&](const std::string& name, const Answer& a, int status) {
    const std::lock_guard lock(mutex);
    EXPECT_EQ(problem_with({name, ""}, a), "") << name;
    EXPECT_EQ(a.status, status) << name << ": " << a.body.substr(0, 200);
  };
  // 100 MB announced and sent: read to the end, then 413.
  clients.emplace_back([&] {
    Connection c(port());
    const size_t size = size_t(100) << 20;
    c.send_all(head + "Content-Length: " + std::to_string(size) + "\r\n\r\n");
    const std::string megabyte(1 << 20, 'x');
    for (size_t sent = 0; sent < size && c.send_all(megabyte);) sent += megabyte.size();
    check("100 MB with a Content-Length", c.read_answer(), 413);
  });
  // 100 MB announced, 1 KB sent, then nothing: 413 once the read times out.
  clients.emplace_back([&] {
    Connection c(port());
    const auto start = Clock::now();
    c.send_all(head + "Content-Length: 104857600\r\n\r\n" + std::string(1024, 'x'));
    check("100 MB announced, 1 KB sent", c.read_answer(), 413);
    EXPECT_LT(seconds_since(start), kReadTimeout + 8.0);
  });
  // One byte over the limit.
  clients.emplace_back([&] { check("limit + 1", exchange(head + "Content-Length: " + std::to_string(kMaxBody + 1) + "\r\n\r\n" + std::string(kMaxBody + 1, ' ')), 413); });
  // Just under the limit: read, then refused as what it is (not JSON).
  clients.emplace_back([&] { check("limit - 1 of garbage", exchange(head + "Content-Length: " + std::to_string(kMaxBody - 1) + "\r\n\r\n" + std::string(kMaxBody - 1, '@')), 400); });
  // A chunked body growing to 100 MB: refused before it is read (cpp-httplib would keep it all).
  clients.emplace_back([&] {
    Connection c(port());
    c.send_all(head + "Transfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "100000\r\n" + std::string(1 << 20, 'a') + "\r\n";
    c.send_until_answered(size_t(100) << 20, [&](size_t) { return chunk; }, 30);
    check("chunked, growing to 100 MB", c.read_answer(), 411);
  });
  // A gzip bomb: 100 KB that would inflate to 100 MB.
  clients.emplace_back([&] {
    std::string bomb("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);  // a gzip header; the body is never read
    bomb += std::string(100000, '\0');
    check("gzip bomb", exchange(head + "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(bomb.size()) + "\r\n\r\n" + bomb), 415);
  });
  // 100 MB to the OpenAI edits endpoint: the 413 in OpenAI's shape.
  clients.emplace_back([&] {
    Connection c(port());
    const size_t size = size_t(100) << 20;
    c.send_all("POST /v1/images/edits HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n");
    const std::string megabyte(1 << 20, 'x');
    for (size_t sent = 0; sent < size && c.send_all(megabyte);) sent += megabyte.size();
    const Answer a = c.read_answer();
    const std::lock_guard lock(mutex);
    EXPECT_EQ(problem_with({"edits 100 MB", "", true}, a), "");
    EXPECT_EQ(a.status, 413);
  });
  for (auto& t : clients) t.join();
  const long rss_after = server_->rss_kib();
  std::printf("server RSS %ld KiB before the big bodies, %ld KiB after\n", rss_before, rss_after);
  EXPECT_LT(rss_after - rss_before, 64 * 1024) << "the server kept a big body in memory";
  expect_still_serving();
}

TEST_F(ServerRobustness, DropsSlowlorisConnections) {
  const auto start = Clock::now();
  // Each stalls halfway; the server must drop it within its read timeout (plus slack for a busy
  // machine), answering a 4xx with a message or nothing at all.
  const std::vector<std::pair<std::string, std::string>> stalls{
      {"nothing sent", ""},
      {"half a request line", "POST /sdapi/v1/txt2"},
      {"a request line, no headers' end", "POST /sdapi/v1/txt2img HTTP/1.1\r\n"},
      {"half the headers", "POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Type: appl"},
      {"headers, half the body", "POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\":"},
      {"a multipart form cut short", "POST /v1/images/edits HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 5000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n\x89PNG"},
      {"Expect: 100-continue, no body", "POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n"},
  };
  // Forty such connections at once, more than the server's threads (queue size + 16)...
  std::vector<std::unique_ptr<Connection>> held;
  for (int i = 0; i < 40; ++i) {
    held.push_back(std::make_unique<Connection>(port()));
    ASSERT_TRUE(held.back()->ok()) << held.back()->error();
    held.back()->send_all(stalls[size_t(i) % stalls.size()].second);
  }
  // ... still leave room for a good request once the read timeout frees the threads.
  std::thread ping([&] {
    const auto sent = Clock::now();
    const Answer a = exchange(http_request("GET", "/internal/ping", "", ""));
    EXPECT_EQ(a.status, 200) << "a ping among slowloris connections";
    EXPECT_LT(seconds_since(sent), 3 * kReadTimeout + 10.0);
    std::printf("a ping among 40 stalled connections answered in %.1f s\n", seconds_since(sent));
  });
  std::vector<std::thread> waiters;
  std::mutex mutex;
  for (size_t i = 0; i < held.size(); ++i)
    waiters.emplace_back([&, i] {
      Connection& c = *held[i];
      const bool dropped = c.wait_closed(3 * kReadTimeout + 10.0);
      const std::lock_guard lock(mutex);
      const std::string& name = stalls[i % stalls.size()].first;
      EXPECT_TRUE(dropped) << name << ": still open after " << 3 * kReadTimeout + 10 << " s";
      // What it said before dropping, if anything, is an error with a message.
      const std::string& said = c.received();
      if (said.empty()) return;
      const size_t end = said.find("\r\n\r\n");
      ASSERT_NE(end, std::string::npos) << name << ": " << said.substr(0, 200);
      Answer a;
      a.head = said.substr(0, end + 2);
      std::sscanf(a.head.c_str(), "HTTP/1.%*d %d", &a.status);
      if (a.status == 100) return;  // 100 Continue, then the close
      a.body = said.substr(end + 4, std::stoul(a.header("Content-Length").empty() ? "0" : a.header("Content-Length")));
      a.answered = true;
      EXPECT_EQ(problem_with({name, ""}, a), "") << name;
    });
  for (auto& w : waiters) w.join();
  ping.join();
  std::printf("40 slowloris connections dropped within %.1f s\n", seconds_since(start));
  expect_still_serving();
}

// Valid requests with hostile content still make pictures: control characters, emoji,
// right-to-left text, and a 16000-character prompt (CLIP reads the first 77 tokens; 16 KiB is the cap).
TEST_F(ServerRobustness, GeneratesFromStrangeButValidPrompts) {
  for (const std::string& prompt : std::vector<std::string>{std::string("a\x01\x02\x7f\x1b[31m"), std::string("\xf0\x9f\x90\x98\xf0\x9f\x8e\xa8 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xe2\x80\xae"),
                                   std::string(16000, 'z'), std::string("%s%n%x {{prompt}} ${HOME} $(reboot)")}) {
    const Answer a = exchange(http_request("POST", "/sdapi/v1/txt2img",
                                           json{{"prompt", prompt}, {"negative_prompt", prompt}, {"width", 64}, {"height", 64}, {"steps", 1}}.dump()));
    EXPECT_EQ(a.status, 200) << a.body.substr(0, 300);
  }
  const Answer openai = exchange(http_request("POST", "/v1/images/generations",
                                              R"({"model":"x","prompt":"\ud83d\ude00\u0007","size":"64x64","n":1,"steps":1})"));
  EXPECT_EQ(openai.status, 200) << openai.body.substr(0, 300);
  expect_still_serving();
}

}  // namespace
}  // namespace diffuse
