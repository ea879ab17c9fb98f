#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace diffuse::server {

// A1111's GET /sdapi/v1/loras: one {name, alias, path, metadata} per LoRA file in `dir`
// (.safetensors, .ckpt, .pt, the files a <lora:NAME> tag can name), sorted by name. name is the
// file's stem (what a tag writes), alias its ss_output_name metadata where it has one (A1111's
// "Alias from file"), metadata a .safetensors file's __metadata__ with JSON-looking values parsed
// as A1111 parses them ({} for other files and for files that do not read). Read from the folder on
// each call, so a file added since start-up is listed (and usable) at once. Empty for dir "".
nlohmann::json lora_list(const std::string& dir);

}  // namespace diffuse::server
