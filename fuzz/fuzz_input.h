#pragma once
// What the targets share: the input as a file, for parsers that take a path, and the check that
// turns a broken invariant into a crash libFuzzer records with its input.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"

#define FUZZ_CHECK(condition)                                                                \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

namespace diffuse::fuzz {

// An in-memory file (memfd) holding the input, reached through /proc/self/fd: the parsers map
// and read it as they would a file on disk, and nothing is written to disk per input.
inline std::string as_file(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == ssize_t(size));
  return "/proc/self/fd/" + std::to_string(fd);
}

// A scratch directory for round trips through the writers, one per process, removed at exit.
inline const std::string& scratch_dir() {
  static char path[] = "/tmp/diffuse-fuzz-XXXXXX";  // a plain array: still alive when atexit handlers run
  static const std::string dir = [] {
    FUZZ_CHECK(mkdtemp(path) != nullptr);
    std::atexit([] { std::filesystem::remove_all(path); });
    return std::string(path);
  }();
  return dir;
}

inline std::string_view text(const uint8_t* data, size_t size) { return {reinterpret_cast<const char*>(data), size}; }

// Refusals are Error with a message; any other exception escaping a parser is a finding.
inline void check_refusal(const Error& e) { FUZZ_CHECK(e.what()[0] != '\0'); }

}  // namespace diffuse::fuzz
