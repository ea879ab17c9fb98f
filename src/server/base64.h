#pragma once
#include <string>
#include <string_view>

namespace diffuse::server {

std::string base64_encode(std::string_view bytes);

// Standard alphabet (RFC 4648), padding optional, whitespace (line breaks) ignored, and an
// optional "data:<type>;base64," prefix as browsers write it. Throws Error naming `field` for
// any other character or a length that no encoding has.
std::string base64_decode(std::string_view text, const std::string& field);

}  // namespace diffuse::server
