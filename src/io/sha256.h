#pragma once
#include <cstddef>
#include <span>
#include <string>

namespace diffuse {

// SHA-256 (FIPS 180-4) of `bytes` as 64 lower-case hex digits: the hashes A1111 and civitai
// identify model and LoRA files by.
std::string sha256_hex(std::span<const std::byte> bytes);

}  // namespace diffuse
