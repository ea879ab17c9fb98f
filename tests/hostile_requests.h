#pragma once
// Hostile requests for `diffuse serve`, as the raw bytes a client sends: every field of both APIs
// with values it must refuse, truncated and non-JSON bodies, wrong content types, broken
// multipart forms, broken request lines and headers, unknown paths and methods, random garbage.
// None of them is valid: each must get a 4xx/5xx with a message.
#include <string>
#include <vector>

namespace diffuse::testing {

// A hostile request: the bytes a connection sends before it shuts its sending side.
struct Case {
  std::string name;
  std::string bytes;
  bool openai = false;  // reaches an OpenAI handler: the message must be in OpenAI's shape
  bool head = false;    // a HEAD: the answer has no body
};

// JSON bodies to txt2img, img2img, /v1/images/generations and /sdapi/v1/options.
std::vector<Case> json_cases();
// Multipart forms to /v1/images/edits.
std::vector<Case> edit_cases();
// Broken HTTP: request lines, paths, methods, headers, garbage.
std::vector<Case> protocol_cases();

}  // namespace diffuse::testing
