#include "server/http_server.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "server/a1111_api.h"
#include "server/http_util.h"
#include "server/openai_api.h"
#include "server/web_assets.h"

namespace diffuse::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The request a pool thread is handling began here: set before routing, read by the logger on
// the same thread once the answer is written.
thread_local std::optional<Clock::time_point> request_start;

// An answer the server gives itself, not a handler: in OpenAI's shape under /v1/ (its clients
// show error.message), A1111's elsewhere.
void send_server_error(const httplib::Request& req, httplib::Response& res, int status, const std::string& detail) {
  if (req.path.starts_with("/v1/"))
    send_json(res, status, {{"error", {{"message", detail}, {"type", status >= 500 ? "server_error" : "invalid_request_error"},
                                       {"param", nullptr}, {"code", nullptr}}}});
  else
    send_json(res, status, {{"error", "HTTP " + std::to_string(status)}, {"detail", detail}});
}

// Statuses cpp-httplib answers by itself (unknown path, unparsable request, body over the
// limit) come with an empty body; give them a message like every other answer.
void explain_empty_error(const httplib::Request& req, httplib::Response& res, size_t max_body) {
  if (res.status < 400 || !res.body.empty()) return;
  std::string detail = res.status == 404   ? "no such endpoint: " + req.method + " " + req.path
                       : res.status == 413 ? "the body is larger than the " + std::to_string(max_body) + " bytes allowed"
                       : res.status == 405 ? "method not allowed"
                                           : "malformed HTTP request";
  send_server_error(req, res, res.status, detail);
}

// Runs before the body is read. cpp-httplib 0.11 holds a body to --max-body-mb only when it
// comes with a Content-Length: it reads a chunked body, or inflates a gzip/brotli one (a 300 KB
// gzip of one long prompt took 6 GB), whole into memory, and reads a POST with neither header
// until the client closes (curl -X POST waited out the read timeout, then got 400). The first
// two are refused (the client asked to close, the rest of the body unread); the third gets the
// empty body HTTP says it has. It also cuts every answer to a Range header, error messages
// included ("bytes=0-0" left "{"): diffuse serves nothing worth resuming, so Range is ignored,
// as HTTP allows.
bool screen_request(const httplib::Request& req, httplib::Response& res) {
  auto& request = const_cast<httplib::Request&>(req);  // the server's own, non-const Request
  request.ranges.clear();
  const std::string encoding = req.get_header_value("Content-Encoding");
  std::string detail;
  if (!encoding.empty() && encoding != "identity") {
    res.status = 415;
    detail = "compressed bodies (Content-Encoding: " + encoding + ") are not accepted; send the body uncompressed";
  } else if (req.has_header("Transfer-Encoding")) {
    res.status = 411;
    detail = "send the body with a Content-Length; chunked bodies (Transfer-Encoding) are not accepted";
  } else {
    if (!req.has_header("Content-Length"))  // (a GET reads no body either way)
      request.set_header("Content-Length", "0");
    return false;
  }
  send_server_error(req, res, res.status, detail);
  res.set_header("Connection", "close");
  return true;
}

void add_page_routes(httplib::Server& http) {
  for (const std::string_view path : web_asset_paths())
    http.Get(std::string(path), [](const httplib::Request& req, httplib::Response& res) {
      const auto asset = web_asset(req.path);
      res.set_content(std::string(asset->bytes), std::string(asset->content_type).c_str());
      res.set_header("Cache-Control", "no-cache");
    });
}

// Waits for SIGINT or SIGTERM (blocked in every thread, so only this one receives them), then
// shuts the queue and the listener down. Destroying it ends the wait without a signal.
class SignalWatcher {
 public:
  SignalWatcher(JobQueue& jobs, httplib::Server& http)
      : thread_([this, &jobs, &http] {
          sigset_t set;
          sigemptyset(&set);
          sigaddset(&set, SIGINT);
          sigaddset(&set, SIGTERM);
          int signal = 0;
          sigwait(&set, &signal);
          if (quitting_) return;
          std::fprintf(stderr, "diffuse serve: %s: finishing the running job and stopping\n", strsignal(signal));
          jobs.shutdown();
          http.stop();
        }) {}
  ~SignalWatcher() {
    quitting_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

 private:
  std::atomic<bool> quitting_{false};
  std::thread thread_;
};

// Layers pack their weights into the compute layout on their first call (core/packed_weights.h):
// for SD 1.5 in fp32 that is 3.4 GB written to fresh memory, 20-25 s on the VMs measured, far
// longer than a step. One image at the default size here, before the first client asks, so that
// no client waits for it.
void warm_up(const StableDiffusion& model, const RequestDefaults& defaults) {
  const auto start = Clock::now();
  GenerateOptions o;
  o.prompt = "warm-up";
  o.width = defaults.width, o.height = defaults.height;
  o.steps = 1;
  o.cfg_scale = defaults.cfg_scale;  // a guided batch of two, as the clients' requests are
  o.sampler = "euler";               // one model call whatever the default sampler needs
  o.seed = 0;
  generate(model, o);
  std::fprintf(stderr, "diffuse serve: weights packed by a %dx%d warm-up image in %.1f s\n", o.width, o.height,
               std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int serve(std::unique_ptr<StableDiffusion> model, const ServeOptions& o) {
  block_stop_signals();  // again, for callers that did not: the threads started from here on inherit it
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up mid-answer is a failed write, not a dead server

  httplib::Server http;
  int port = o.port == 0 ? http.bind_to_any_port(o.host) : (http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port) + " (in use, or not an address of this machine)");
  // After the bind, so that a taken port fails at once; before listening, so that no request waits on it.
  // Fitted once: it depends on the VAE alone, which LoRAs do not change.
  const LatentPreview preview = LatentPreview::fit(*model);
  const Family family = model->family();
  warm_up(*model, o.defaults);

  ModelHolder models(o.model_path, o.load, std::move(model));
  JobQueue jobs(models, o.limits.queue_size);
  ServerContext ctx{family, o.model_name, o.lora_model_dir, o.limits, o.defaults, jobs, preview, {}, {{"sd_model_checkpoint", o.model_name}}};

  // Each waiting request holds a thread: room for a full queue, the running job and the
  // progress polls beside them.
  const size_t threads = size_t(o.limits.queue_size) + 16;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(o.limits.max_body_bytes);
  http.set_read_timeout(o.read_timeout_seconds, 0);
  http.set_write_timeout(30, 0);
  http.set_keep_alive_timeout(std::min(5, o.read_timeout_seconds));
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    request_start = Clock::now();
    return screen_request(req, res) ? httplib::Server::HandlerResponse::Handled : httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    const double ms = request_start ? std::chrono::duration<double, std::milli>(Clock::now() - *request_start).count() : 0.0;
    request_start.reset();
    std::fprintf(stderr, "%s %s %d %.0f ms\n", req.method.c_str(), req.path.c_str(), res.status, ms);
  });
  const size_t max_body = o.limits.max_body_bytes;
  http.set_error_handler([max_body](const httplib::Request& req, httplib::Response& res) { explain_empty_error(req, res, max_body); });

  add_page_routes(http);
  add_a1111_routes(http, ctx);
  add_openai_routes(http, ctx);
  http.Get("/sdapi/v1/cmd-flags", [&o, &port](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"api", true}, {"listen", o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1"},
                         {"port", port}, {"ckpt", o.model_name}, {"nowebui", false}, {"server_name", o.host}});
  });

  std::fprintf(stderr, "diffuse serve: listening on http://%s:%d (model %s); Ctrl+C stops\n", o.host.c_str(), port, o.model_name.c_str());
  {
    const SignalWatcher watcher(jobs, http);
    http.listen_after_bind();
  }
  jobs.shutdown();
  std::fprintf(stderr, "diffuse serve: stopped\n");
  return 0;
}

}  // namespace diffuse::server
