#include "pipeline/model_defaults.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "sampling/schedule.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;

template <class T>
T number(const ModelFiles& files, const std::string& key, T fallback, T lo, T hi) {
  const auto it = files.metadata.find(key);
  if (it == files.metadata.end()) return fallback;
  T value{};
  const std::string& text = it->second;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < lo || value > hi)
    throw Error(files.source + ": metadata " + key + " = \"" + text + "\" is not a number in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
  return value;
}

std::string text(const ModelFiles& files, const std::string& key) {
  const auto it = files.metadata.find(key);
  return it == files.metadata.end() ? "" : it->second;
}

}  // namespace

UsageDefaults usage_defaults(const ModelFiles& files, Family family) {
  const FamilyDefaults& f = family_defaults(family);
  UsageDefaults d;
  d.width = number(files, "diffuse.default_width", f.native_size, 8, 16384);
  d.height = number(files, "diffuse.default_height", f.native_size, 8, 16384);
  if (d.width % 8 || d.height % 8) throw Error(files.source + ": metadata default size is not a multiple of 8");
  d.steps = number(files, "diffuse.default_steps", 50, 1, 1000);
  d.cfg_scale = number(files, "diffuse.default_cfg_scale", 7.5, 0.0, 100.0);
  d.sampler = text(files, "diffuse.default_sampler");
  if (d.sampler.empty()) d.sampler = f.default_sampler;
  sampler_display_name(d.sampler);  // an Error naming the valid samplers for an unknown one
  int64_t unet_parameters = 0;
  for (const auto& [name, tensor] : files.unet.tensors) {
    int64_t n = 1;
    for (const int64_t dim : tensor.shape) n *= dim;
    unet_parameters += n;
  }
  d.threads = unet_parameters < 20'000'000 ? 1 : 0;
  d.name = text(files, "diffuse.name");
  d.description = text(files, "diffuse.description");
  return d;
}

std::string default_model_path() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("DIFFUSE_DEFAULT_MODEL")) candidates.emplace_back(env);
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error) candidates.push_back(exe.parent_path().parent_path() / "share/diffuse/demo.safetensors");
  candidates.emplace_back(DIFFUSE_SOURCE_MODELS "/demo.safetensors");
  std::string looked;
  for (const fs::path& p : candidates) {
    if (fs::is_regular_file(p, error)) return p.string();
    looked += (looked.empty() ? "" : ", ") + p.string();
  }
  throw Error("no model given (-m) and the built-in demo model is not where it is looked for: " + looked);
}

}  // namespace diffuse
