#include "server/web_assets.h"

// Every file web_assets.S embeds: its symbol there and the path it is served at. Adding a file to
// the page is one `asset` line in web_assets.S and one line here.
#define DIFFUSE_WEB_ASSETS(X)            \
  X(index_html, "/index.html")           \
  X(style_css, "/style.css")             \
  X(app_js, "/app.js")                   \
  X(api_js, "/api.js")                   \
  X(form_js, "/form.js")                 \
  X(gallery_js, "/gallery.js")           \
  X(generate_js, "/generate.js")         \
  X(img2img_js, "/img2img.js")           \
  X(progress_js, "/progress.js")         \
  X(stage_js, "/stage.js")               \
  X(state_js, "/state.js")               \
  X(status_js, "/status.js")             \
  X(util_js, "/util.js")

#define DIFFUSE_DECLARE_ASSET(name, path) extern const char diffuse_web_##name[], diffuse_web_##name##_end[];
extern "C" {
DIFFUSE_WEB_ASSETS(DIFFUSE_DECLARE_ASSET)
}

namespace diffuse::server {
namespace {

struct EmbeddedFile {
  std::string_view path;
  const char* begin;
  const char* end;
};

#define DIFFUSE_LIST_ASSET(name, path) EmbeddedFile{path, diffuse_web_##name, diffuse_web_##name##_end},
const EmbeddedFile kFiles[] = {DIFFUSE_WEB_ASSETS(DIFFUSE_LIST_ASSET)};

// By the file's extension.
std::string_view content_type(std::string_view path) {
  if (path.ends_with(".html")) return "text/html; charset=utf-8";
  if (path.ends_with(".css")) return "text/css; charset=utf-8";
  if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

std::optional<WebAsset> web_asset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const EmbeddedFile& f : kFiles)
    if (f.path == path) return WebAsset{std::string_view(f.begin, size_t(f.end - f.begin)), content_type(f.path)};
  return std::nullopt;
}

const std::vector<std::string_view>& web_asset_paths() {
  static const std::vector<std::string_view> paths = [] {
    std::vector<std::string_view> p{"/"};
    for (const EmbeddedFile& f : kFiles) p.push_back(f.path);
    return p;
  }();
  return paths;
}

}  // namespace diffuse::server
