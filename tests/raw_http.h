#pragma once
// A raw HTTP client for the server's robustness tests: a loopback TCP connection with a deadline
// on every wait, so that a server that hangs fails a test instead of blocking it, and nothing a
// client library would tidy up is lost.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace diffuse::testing {

using Clock = std::chrono::steady_clock;

constexpr double kAnswerDeadline = 20;  // seconds any answer may take (a hang fails, never blocks)

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Answer {
  bool answered = false;  // a whole response (status line, headers, body) arrived
  bool closed = false;    // the server closed or reset the connection
  int status = 0;
  std::string head, body;
  std::string header(const std::string& name) const;  // "" when absent; the name is case-insensitive
};

class Connection {
 public:
  explicit Connection(int port);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

  // Sends everything unless the server stops reading (it answered early, or closed): false then.
  // Gives up after `timeout_s` of a full send buffer.
  bool send_all(std::string_view data, double timeout_s = kAnswerDeadline);

  // Sends `total` bytes made by `chunk` until they are all sent or the server answers (something
  // arrives to read) or stops reading: true when the server answered first.
  bool send_until_answered(size_t total, const std::function<std::string(size_t sent)>& chunk, double timeout_s);

  void shut_write();

  // Reads one response (skipping 100 Continue), its body by Content-Length or up to the close;
  // none after the headers for a HEAD.
  Answer read_answer(double timeout_s = kAnswerDeadline, bool head_only = false);

  // Waits for the server to drop the connection (reading and discarding whatever it says): true
  // once it has, false if it is still open after `timeout_s`.
  bool wait_closed(double timeout_s);
  const std::string& received() const { return buffer_; }

 private:
  // Appends what arrives within `timeout_s` to buffer_: false once the peer closed or reset.
  bool fill(double timeout_s);

  int fd_ = -1;
  std::string error_;
  std::string buffer_;
};

// A request with a Content-Length (and "Connection: close"); no Content-Type header when
// `content_type` is empty. `extra_headers` are whole lines, each ending in \r\n.
std::string http_request(const std::string& method, const std::string& path, const std::string& body,
                         const std::string& content_type = "application/json", const std::string& extra_headers = "");

}  // namespace diffuse::testing
