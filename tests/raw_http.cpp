#include "raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace diffuse::testing {

std::string Answer::header(const std::string& name) const {
  std::string lower_head = head, key = "\r\n" + name + ":";
  for (auto* s : {&lower_head, &key})
    for (char& c : *s) c = char(std::tolower(static_cast<unsigned char>(c)));
  const size_t at = lower_head.find(key);
  if (at == std::string::npos) return "";
  size_t begin = at + key.size();
  while (begin < head.size() && head[begin] == ' ') ++begin;
  return head.substr(begin, head.find("\r\n", begin) - begin);
}

Connection::Connection(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // A loopback connect completes at once or is refused; the server's backlog queues the rest.
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

bool Connection::send_all(std::string_view data, double timeout_s) {
  const auto start = Clock::now();
  while (!data.empty()) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) return false;
    if (p.revents & (POLLERR | POLLHUP)) return false;
    if (p.revents & POLLOUT) {
      const ssize_t n = ::send(fd_, data.data(), std::min(data.size(), size_t(1) << 20), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      if (n > 0) data.remove_prefix(size_t(n));
    }
    if (seconds_since(start) > timeout_s) return false;
  }
  return true;
}

bool Connection::send_until_answered(size_t total, const std::function<std::string(size_t sent)>& chunk, double timeout_s) {
  const auto start = Clock::now();
  size_t sent = 0;
  std::string pending;
  while (sent < total && seconds_since(start) < timeout_s) {
    pollfd p{fd_, POLLIN | POLLOUT, 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) return false;
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) return true;
    if (!(p.revents & POLLOUT)) continue;
    if (pending.empty()) pending = chunk(sent);
    const ssize_t n = ::send(fd_, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;  // reset: it answered and closed
    if (n > 0) {
      pending.erase(0, size_t(n));
      sent += size_t(n);
    }
  }
  return false;
}

void Connection::shut_write() { ::shutdown(fd_, SHUT_WR); }

Answer Connection::read_answer(double timeout_s, bool head_only) {
  Answer a;
  const auto start = Clock::now();
  for (;;) {
    const size_t end = buffer_.find("\r\n\r\n");
    if (end != std::string::npos) {
      a.head = buffer_.substr(0, end + 2);
      std::sscanf(a.head.c_str(), "HTTP/1.%*d %d", &a.status);
      if (a.status >= 100 && a.status < 200) {  // an interim answer: the real one follows
        buffer_.erase(0, end + 4);
        a = Answer{};
        continue;
      }
      const std::string length = head_only ? "0" : a.header("Content-Length");
      if (!length.empty()) {
        const size_t want = std::stoul(length);
        if (buffer_.size() >= end + 4 + want) {
          a.body = buffer_.substr(end + 4, want);
          a.answered = a.status > 0;
          buffer_.erase(0, end + 4 + want);
          return a;
        }
      } else if (a.closed) {
        a.body = buffer_.substr(end + 4);
        a.answered = a.status > 0;
        return a;
      }
    }
    if (a.closed) return a;
    const double left = timeout_s - seconds_since(start);
    if (left <= 0) return a;
    if (!fill(left)) a.closed = true;
  }
}

bool Connection::wait_closed(double timeout_s) {
  const auto start = Clock::now();
  while (seconds_since(start) < timeout_s)
    if (!fill(timeout_s - seconds_since(start))) return true;
  return false;
}

bool Connection::fill(double timeout_s) {
  pollfd p{fd_, POLLIN, 0};
  const int ready = ::poll(&p, 1, std::max(1, int(timeout_s * 1000)));
  if (ready <= 0) return true;  // nothing yet (the caller checks its deadline)
  char chunk[65536];
  const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return n < 0 && (errno == EINTR || errno == EAGAIN);
  buffer_.append(chunk, size_t(n));
  return true;
}

std::string http_request(const std::string& method, const std::string& path, const std::string& body,
                         const std::string& content_type, const std::string& extra_headers) {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!content_type.empty()) r += "Content-Type: " + content_type + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n";
  return r + body;
}

}  // namespace diffuse::testing
