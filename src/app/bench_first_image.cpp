#include "app/bench_first_image.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/machine_load.h"
#include "app/memory_usage.h"
#include "core/dnnl_context.h"
#include "io/model_files.h"
#include "io/safetensors.h"
#include "pipeline/generate.h"
#include "pipeline/model_defaults.h"
#include "pipeline/random_model.h"
#include "pipeline/stable_diffusion.h"

namespace diffuse::app {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kWeightSeed = 1;
const char* const kPrompt = "a photograph of an astronaut riding a horse";

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct Timeline {
  std::string cpu, model, family;
  int width = 0, height = 0, threads = 0, sampling_steps = 0;
  double cfg_scale = 0, busy_before = -1, file_gb = 0, write_s = 0;
  double load_s = 0, text_s = 0, decode_s = 0, total_s = 0;
  std::vector<double> steps_s;  // each UNet call (a CFG step's batch of two), in order
  double load_rss_mib = 0, peak_rss_mib = 0;

  double later_step_s() const {
    if (steps_s.size() < 2) return steps_s.empty() ? 0 : steps_s[0];
    return std::accumulate(steps_s.begin() + 1, steps_s.end(), 0.0) / double(steps_s.size() - 1);
  }
};

// A random model written as the single file a user would have, deleted when done: loading it is
// then timed as loading a download is (from the page cache, which the write leaves it in).
class TemporaryCheckpoint {
 public:
  TemporaryCheckpoint(const std::string& arch, Timeline& t) {
    const auto start = Clock::now();
    path_ = (std::filesystem::temp_directory_path() / ("diffuse-bench-" + arch + ".safetensors")).string();
    const ModelFiles files = random_model(arch, kWeightSeed);
    save_safetensors(path_, single_file_tensors(files));
    t.write_s = seconds_since(start);
  }
  ~TemporaryCheckpoint() { std::filesystem::remove(path_); }
  TemporaryCheckpoint(const TemporaryCheckpoint&) = delete;
  TemporaryCheckpoint& operator=(const TemporaryCheckpoint&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Reads the file once so that its pages are cached, as for a model used before.
void warm_page_cache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chunk(size_t(1) << 24);
  while (in.read(chunk.data(), std::streamsize(chunk.size())) || in.gcount() > 0) {
  }
}

Timeline measure(const FirstImageRequest& r, const std::string& path, Timeline t) {
  t.busy_before = busy_share_of_cpus(1.0);
  t.file_gb = double(std::filesystem::file_size(path)) / 1e9;
  warm_page_cache(path);
  reset_peak_rss();

  const auto start = Clock::now();
  LoadOptions load;
  load.precision = r.precision;
  load.low_memory = r.low_memory;
  if (r.low_memory) use_low_memory_buffers();
  const auto model = StableDiffusion::load(path, load);
  t.load_s = seconds_since(start);
  t.load_rss_mib = peak_rss_mib();
  t.model = path;
  t.family = std::string(model->defaults().name);

  const UsageDefaults defaults = usage_defaults(model->files(), model->family());
  if (r.threads == 0 && defaults.threads > 0) set_num_threads(defaults.threads);
  t.threads = num_threads();
  GenerateOptions o;
  o.prompt = kPrompt;
  o.steps = t.sampling_steps = r.steps;
  o.cfg_scale = t.cfg_scale = defaults.cfg_scale;
  o.sampler = defaults.sampler;
  o.width = t.width = r.width > 0 ? r.width : defaults.width;
  o.height = t.height = r.height > 0 ? r.height : defaults.height;
  const auto sampling_start = Clock::now();
  auto last = sampling_start;
  GenerateResult result = sample_latents(*model, o, [&](const StepProgress&) {
    const auto now = Clock::now();
    t.steps_s.push_back(std::chrono::duration<double>(now - last).count());
    last = now;
  });
  t.text_s = result.times.text_encode;
  if (!t.steps_s.empty()) t.steps_s[0] -= t.text_s;  // the first evaluation starts where the text encoder ends
  if (r.low_memory) model->release_unet();
  const auto decode_start = Clock::now();
  decode_latents(*model, result);
  t.decode_s = seconds_since(decode_start);
  t.total_s = seconds_since(start);
  t.peak_rss_mib = peak_rss_mib();
  return t;
}

void print_human(const Timeline& t, bool low_memory) {
  std::printf("cpu           %s\n", t.cpu.c_str());
  std::printf("model         %s: %s, %dx%d, %d step%s (%zu UNet calls), CFG %g, %d thread%s%s\n", t.model.c_str(),
              t.family.c_str(), t.width, t.height, t.sampling_steps, t.sampling_steps == 1 ? "" : "s",
              t.steps_s.size(), t.cfg_scale, t.threads, t.threads == 1 ? "" : "s", low_memory ? ", low memory" : "");
  const int cpus = int(std::thread::hardware_concurrency());
  if (t.busy_before >= 0 && t.busy_before * cpus > std::max(0.25, double(cpus - t.threads)))
    std::printf("warning       other work kept %.1f of the %d CPUs busy just before the bench: times are inflated\n",
                t.busy_before * cpus, cpus);
  if (t.write_s > 0) std::printf("(written      %8.2f s  random weights as a %.2f GB single file, not counted)\n", t.write_s, t.file_gb);
  std::printf("load          %8.2f s  (%.2f GB file, page-cached; peak RSS %.2f GiB)\n", t.load_s, t.file_gb,
              t.load_rss_mib / 1024);
  std::printf("text encode   %8.2f s  (first call)\n", t.text_s);
  if (!t.steps_s.empty()) std::printf("first UNet    %8.2f s\n", t.steps_s[0]);
  if (t.steps_s.size() > 1) std::printf("later UNet    %8.2f s  (mean of %zu)\n", t.later_step_s(), t.steps_s.size() - 1);
  std::printf("VAE decode    %8.2f s\n", t.decode_s);
  std::printf("total         %8.2f s  (file to image; peak RSS %.2f GiB)\n", t.total_s, t.peak_rss_mib / 1024);
}

void print_json(const Timeline& t, bool low_memory) {
  const nlohmann::json j = {{"cpu", t.cpu},
                            {"model", t.model},
                            {"family", t.family},
                            {"width", t.width},
                            {"height", t.height},
                            {"threads", t.threads},
                            {"steps", t.sampling_steps},
                            {"cfg_scale", t.cfg_scale},
                            {"low_memory", low_memory},
                            {"busy_before", t.busy_before},
                            {"file_gb", t.file_gb},
                            {"load_s", t.load_s},
                            {"text_encode_s", t.text_s},
                            {"unet_calls_s", t.steps_s},
                            {"first_unet_s", t.steps_s.empty() ? 0.0 : t.steps_s[0]},
                            {"later_unet_s", t.later_step_s()},
                            {"decode_s", t.decode_s},
                            {"total_s", t.total_s},
                            {"load_peak_rss_mib", t.load_rss_mib},
                            {"peak_rss_mib", t.peak_rss_mib}};
  std::printf("%s\n", j.dump(2).c_str());
}

}  // namespace

int run_first_image(const FirstImageRequest& r) {
  Timeline t;
  t.cpu = cpu_kind();
  if (!r.model.empty()) {
    t = measure(r, r.model, t);
  } else {
    if (!r.json) std::fprintf(stderr, "bench: writing random %s weights as a single file\n", r.arch.c_str());
    const TemporaryCheckpoint file(r.arch, t);
    t = measure(r, file.path(), t);
  }
  r.json ? print_json(t, r.low_memory) : print_human(t, r.low_memory);
  return 0;
}

}  // namespace diffuse::app
