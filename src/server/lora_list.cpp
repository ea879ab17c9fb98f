#include "server/lora_list.h"

#include <filesystem>
#include <map>

#include "io/safetensors.h"

namespace diffuse::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// sd_models.read_metadata_from_safetensors: a value that starts with '{' is read as JSON when it is.
json metadata_of(const fs::path& path) {
  json out = json::object();
  if (path.extension() != ".safetensors") return out;
  try {
    for (const auto& [key, value] : load_safetensors(path.string()).metadata) {
      json parsed = value.starts_with('{') ? json::parse(value, nullptr, false) : json();
      out[key] = parsed.is_discarded() || parsed.is_null() ? json(value) : parsed;
    }
  } catch (const std::exception&) {
    // A file that does not read is still listed (A1111 lists by name); using it gives the loader's error.
  }
  return out;
}

}  // namespace

json lora_list(const std::string& dir) {
  json list = json::array();
  if (dir.empty()) return list;
  std::map<std::string, fs::path> files;  // by name: sorted, and NAME.safetensors before NAME.ckpt as tags find them
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const fs::path& path = entry.path();
    const std::string extension = path.extension().string();
    if (!entry.is_regular_file(ec) || (extension != ".safetensors" && extension != ".ckpt" && extension != ".pt")) continue;
    const std::string name = path.stem().string();
    // prompt_loras tries .safetensors, .ckpt, .pt in that order: list the file a tag would use.
    const auto rank = [](const fs::path& p) { return p.extension() == ".safetensors" ? 0 : p.extension() == ".ckpt" ? 1 : 2; };
    if (auto it = files.find(name); it == files.end() || rank(path) < rank(it->second)) files[name] = path;
  }
  for (const auto& [name, path] : files) {
    json metadata = metadata_of(path);
    const auto output_name = metadata.find("ss_output_name");
    const std::string alias = output_name != metadata.end() && output_name->is_string() ? output_name->get<std::string>() : name;
    list.push_back({{"name", name}, {"alias", alias}, {"path", fs::absolute(path).string()}, {"metadata", std::move(metadata)}});
  }
  return list;
}

}  // namespace diffuse::server
