#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "app/commands.h"
#include "core/dnnl_context.h"
#include "core/error.h"
#include "pipeline/model_defaults.h"
#include "server/http_server.h"

namespace diffuse::app {
namespace {

struct ServeFlags {
  std::string model, precision = "auto";
  int threads = 0;
  bool lora_lenient = false;
  int max_body_mb = 32;
  int default_steps = 0;  // 0: the model's
  double default_cfg_scale = std::numeric_limits<double>::quiet_NaN();  // NaN: the model's
  server::ServeOptions serve;
};

int run_serve(ServeFlags f) {
  server::block_stop_signals();
  set_num_threads(f.threads);
  LoadOptions load;
  load.precision = *precision_from_name(f.precision);
  const std::string model_path = f.model.empty() ? default_model_path() : f.model;
  auto model = StableDiffusion::load(model_path, load);
  const UsageDefaults usage = usage_defaults(model->files(), model->family());
  if (f.threads <= 0) set_num_threads(usage.threads);
  server::ServeOptions& o = f.serve;
  o.model_name = std::filesystem::path(model_path).filename().string();
  o.model_path = model_path;
  load.lora_lenient = f.lora_lenient;
  o.load = load;
  o.limits.max_body_bytes = size_t(f.max_body_mb) << 20;
  o.defaults = {usage.width, usage.height, f.default_steps > 0 ? f.default_steps : usage.steps,
                std::isnan(f.default_cfg_scale) ? usage.cfg_scale : f.default_cfg_scale, usage.sampler};
  if (o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1")
    std::fprintf(stderr, "diffuse serve: listening on %s: anyone who can reach this machine can generate images with it\n",
                 o.host.c_str());
  return server::serve(std::move(model), o);
}

}  // namespace

Command add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve the web page, the AUTOMATIC1111 API and the OpenAI images API");
  auto f = std::make_shared<ServeFlags>();
  server::ServeOptions& o = f->serve;
  cmd->add_option("-m,--model", f->model, "Checkpoint: .safetensors, .ckpt, or a diffusers folder (default: the built-in demo model)");
  cmd->add_option("--host", o.host, "Address to listen on (another than loopback exposes the server)")->capture_default_str();
  cmd->add_option("--port", o.port, "Port (0: any free one)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("-t,--threads", f->threads, "Threads for generation (default: all cores; 1 for a tiny model such as the built-in one)");
  cmd->add_option("--precision", f->precision, "Compute precision: fp32, bf16, auto")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "bf16", "auto"}));
  cmd->add_option("--queue-size", o.limits.queue_size, "Requests that may wait behind the running one; more get 503")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--max-pixels", o.limits.max_pixels, "Largest width x height a request may ask for")
      ->capture_default_str()->check(CLI::Range(int64_t(64), int64_t(16384) * 16384));
  cmd->add_option("--max-steps", o.limits.max_steps, "Most sampling steps a request may ask for")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--max-batch", o.limits.max_batch, "Most images one request may ask for")
      ->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--max-body-mb", f->max_body_mb, "Largest request body in MiB; larger ones get 413")
      ->capture_default_str()->check(CLI::Range(1, 1024));
  cmd->add_option("--read-timeout", o.read_timeout_seconds, "Seconds a client may stall mid-request (or idle between requests, at most 5) before it is dropped")
      ->capture_default_str()->check(CLI::Range(1, 3600));
  cmd->add_option("--default-steps", f->default_steps, "Steps for a request that names none (default: the model's)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--default-cfg-scale", f->default_cfg_scale, "CFG scale for a request that names none (default: the model's)");
  cmd->add_option("--lora-model-dir", o.lora_model_dir,
                  "Where <lora:NAME:M> tags in a request's prompts find NAME.safetensors (.ckpt, .pt); "
                  "without it, requests with LoRA tags are refused")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--lora-lenient", f->lora_lenient, "Skip LoRA keys that match no layer of the model (logged) instead of refusing the request");
  return {cmd, [f] { return run_serve(*f); }};
}

}  // namespace diffuse::app
