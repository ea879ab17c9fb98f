#pragma once
#include <sys/types.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace diffuse::testing {

// A `diffuse serve` child process on a free loopback port, for the server's tests: started with
// the given arguments (after "serve --port 0"), ready once it printed its listening line; its
// stderr is kept for the tests to read. Killed when destroyed if still running.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& args);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const;
  // Sends `signal` and waits up to `timeout_seconds` for the exit: its status as a shell shows it
  // (the exit code, or 128 + the signal that ended it), -1 on a timeout.
  int stop(int signal, int timeout_seconds = 60);
  // The resident set size now, in KiB, from /proc.
  long rss_kib() const;

 private:
  void wait_until_listening();
  pid_t pid_ = -1;
  int port_ = 0;
  int stderr_fd_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string log_;
};

}  // namespace diffuse::testing
