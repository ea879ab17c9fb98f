#pragma once
#include <stdexcept>
#include <string>

namespace diffuse {

// Every user-facing failure (bad file, bad flag, missing tensor) is an Error whose message
// names the thing at fault; the CLI prints it on one line and exits non-zero.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace diffuse
