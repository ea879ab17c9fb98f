#pragma once
#include <optional>
#include <string_view>
#include <vector>

namespace diffuse::server {

// The web page's files (src/server/web/), linked into the binary: a path such as "/" or
// "/app.js", its bytes and content type; nullopt for any other path.
struct WebAsset {
  std::string_view bytes, content_type;
};
std::optional<WebAsset> web_asset(std::string_view path);
// Every path web_asset answers, "/" (the index) included.
const std::vector<std::string_view>& web_asset_paths();

}  // namespace diffuse::server
