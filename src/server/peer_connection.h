#pragma once
#include <string>

namespace diffuse::server {

// Tells a handler that its client has gone. cpp-httplib 0.11 (Debian 12's) gives a handler no
// way to know, and a queued job whose client left would still take the CPU for minutes; this
// finds the connection's socket by its peer address and peeks at it without reading.
class PeerConnection {
 public:
  PeerConnection(std::string remote_addr, int remote_port);
  // True once the peer closed or reset its end (or the socket can no longer be found).
  bool closed() const;

 private:
  bool matches(int fd) const;
  std::string addr_;
  int port_;
  int fd_ = -1;
};

}  // namespace diffuse::server
