// diffuse_server_load: a bounded load generator for `diffuse serve` on this machine's loopback.
//
//   diffuse_server_load --port PORT [--clients 8] [--requests 25] [--steps 2] [--size 64]
//                       [--pid PID] [--max-seconds 600] [--warmup 1]
//
// CLIENTS threads each send REQUESTS txt2img requests (SIZExSIZE, STEPS steps, seed c*100000+i),
// one at a time, and report requests/s, latency percentiles, non-200 answers and, with --pid, the
// server's resident memory and CPU time before and after. A full queue answers 503 with
// Retry-After: those are counted apart and retried after Retry-After (at most 5 s a wait, 1000
// retries a request), so that a run measures throughput, not the queue bound. The run stops
// sending at --max-seconds. Exit status: 0 every request answered 200, 1 otherwise, 2 bad usage.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  int port = 0, clients = 8, requests = 25, steps = 2, size = 64, warmup = 1;
  long pid = 0;
  double max_seconds = 600;
};

[[noreturn]] void usage(const char* problem) {
  if (problem) std::fprintf(stderr, "diffuse_server_load: %s\n", problem);
  std::fprintf(stderr,
               "usage: diffuse_server_load --port PORT [--clients 1..64 (8)] [--requests 1..10000 (25)] [--steps 1..150 (2)]\n"
               "                           [--size 8..1024, a multiple of 8 (64)] [--pid PID] [--max-seconds 1..3600 (600)]\n"
               "                           [--warmup 0..100 (1)]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  auto number = [&](int& i, double lo, double hi) {
    if (i + 1 >= argc) usage((std::string(argv[i]) + " needs a value").c_str());
    char* end = nullptr;
    const double v = std::strtod(argv[++i], &end);
    if (end == argv[i] || *end || !(v >= lo && v <= hi))
      usage((std::string(argv[i - 1]) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi)).c_str());
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--port") o.port = int(number(i, 1, 65535));
    else if (a == "--clients") o.clients = int(number(i, 1, 64));
    else if (a == "--requests") o.requests = int(number(i, 1, 10000));
    else if (a == "--steps") o.steps = int(number(i, 1, 150));
    else if (a == "--size") o.size = int(number(i, 8, 1024));
    else if (a == "--pid") o.pid = long(number(i, 1, 1e9));
    else if (a == "--max-seconds") o.max_seconds = number(i, 1, 3600);
    else if (a == "--warmup") o.warmup = int(number(i, 0, 100));
    else if (a == "-h" || a == "--help") usage(nullptr);
    else usage(("unknown argument " + a).c_str());
  }
  if (o.port == 0) usage("--port is required");
  if (o.size % 8) usage("--size must be a multiple of 8");
  return o;
}

// The server's resident set now and at its peak (KiB), and its CPU seconds, from /proc.
struct ProcessSample {
  long rss_kib = -1, peak_kib = -1;
  double cpu_seconds = -1;
};

ProcessSample sample(long pid) {
  ProcessSample s;
  if (pid <= 0) return s;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.peak_kib = std::stol(line.substr(6));
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream fields(text.substr(paren + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; fields >> f; ++i) {  // field 3 is the state; 14 utime, 15 stime
      if (i == 14) utime = std::stoull(f);
      if (i == 15) {
        stime = std::stoull(f);
        break;
      }
    }
    s.cpu_seconds = double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
  }
  return s;
}

struct Result {
  bool ok = false;
  int status = 0, busy = 0;        // the final status; 503s before it
  double latency = 0, service = 0; // first send to the final answer; the final attempt alone
  std::string error;
};

// One txt2img, retried after Retry-After while the queue is full.
Result request(httplib::Client& http, const Options& o, int64_t seed, Clock::time_point deadline) {
  const std::string body = json{{"prompt", "load test " + std::to_string(seed)},
                                {"width", o.size},
                                {"height", o.size},
                                {"steps", o.steps},
                                {"seed", seed}}
                               .dump();
  Result r;
  const auto first = Clock::now();
  for (int attempt = 0; attempt <= 1000; ++attempt) {
    const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.error = "the run's --max-seconds passed";
      return r;
    }
    http.set_read_timeout(std::chrono::milliseconds(int64_t(left * 1000) + 1000));
    const auto start = Clock::now();
    const auto res = http.Post("/sdapi/v1/txt2img", body, "application/json");
    const auto end = Clock::now();
    if (!res) {
      r.error = "transport: " + httplib::to_string(res.error());
      return r;
    }
    r.status = res->status;
    if (res->status == 503) {
      ++r.busy;
      const int retry_after = std::clamp(std::atoi(res->get_header_value("Retry-After").c_str()), 1, 5);
      std::this_thread::sleep_for(std::chrono::seconds(retry_after));
      continue;
    }
    r.latency = std::chrono::duration<double>(end - first).count();
    r.service = std::chrono::duration<double>(end - start).count();
    if (res->status != 200) {
      r.error = "status " + std::to_string(res->status) + ": " + res->body.substr(0, 200);
      return r;
    }
    const json answer = json::parse(res->body, nullptr, false);
    if (!answer.is_object() || !answer.contains("images") || !answer["images"].is_array() || answer["images"].size() != 1 ||
        !answer["images"][0].is_string() || answer["images"][0].get_ref<const std::string&>().rfind("iVBORw0KGgo", 0) != 0) {
      r.error = "a 200 without one base64 PNG: " + res->body.substr(0, 200);
      return r;
    }
    r.ok = true;
    return r;
  }
  r.error = "still 503 after 1000 retries";
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = size_t(std::ceil(p / 100.0 * double(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const auto deadline = Clock::now() + std::chrono::milliseconds(int64_t(o.max_seconds * 1000));
  auto make_client = [&] {
    auto http = std::make_unique<httplib::Client>("127.0.0.1", o.port);  // loopback only
    http->set_connection_timeout(5, 0);
    http->set_write_timeout(30, 0);
    return http;
  };

  for (int i = 0; i < o.warmup; ++i) {
    auto http = make_client();
    const Result r = request(*http, o, 999999000 + i, deadline);
    if (!r.ok) {
      std::fprintf(stderr, "diffuse_server_load: the warm-up request failed: %s\n", r.error.c_str());
      return 1;
    }
  }

  const ProcessSample before = sample(o.pid);
  std::vector<Result> results(size_t(o.clients) * size_t(o.requests));
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < o.clients; ++c)
    clients.emplace_back([&, c] {
      auto http = make_client();
      for (int i = 0; i < o.requests; ++i) {
        results[size_t(c) * size_t(o.requests) + size_t(i)] = request(*http, o, int64_t(c) * 100000 + i, deadline);
      }
    });
  for (auto& t : clients) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const ProcessSample after = sample(o.pid);

  std::vector<double> latency, service;
  int ok = 0, busy = 0, errors = 0, retried = 0;
  std::vector<std::string> error_lines;
  for (const Result& r : results) {
    busy += r.busy;
    retried += r.busy > 0;
    if (r.ok) {
      ++ok;
      latency.push_back(r.latency);
      service.push_back(r.service);
    } else {
      ++errors;
      if (error_lines.size() < 5) error_lines.push_back(r.error);
    }
  }
  std::printf("diffuse_server_load: %d clients x %d requests, txt2img %dx%d, %d steps, on 127.0.0.1:%d (%d warm-up)\n", o.clients,
              o.requests, o.size, o.size, o.steps, o.port, o.warmup);
  std::printf("  wall %.2f s, %d x 200 -> %.2f requests/s\n", wall, ok, ok / wall);
  std::printf("  latency (first send to 200, 503 waits included): p50 %.3f s, p99 %.3f s, max %.3f s, mean %.3f s\n",
              percentile(latency, 50), percentile(latency, 99), percentile(latency, 100),
              latency.empty() ? 0.0 : std::accumulate(latency.begin(), latency.end(), 0.0) / double(latency.size()));
  std::printf("  latency of the answered attempt alone: p50 %.3f s, p99 %.3f s\n", percentile(service, 50), percentile(service, 99));
  std::printf("  503 (queue full, retried after Retry-After): %d, on %d requests\n", busy, retried);
  std::printf("  errors (not 200, not 503): %d\n", errors);
  for (const std::string& e : error_lines) std::printf("    %s\n", e.c_str());
  if (o.pid > 0) {
    std::printf("  server pid %ld RSS: before %.1f MiB, after %.1f MiB (%+.1f MiB); peak RSS so far %.1f MiB\n", o.pid,
                before.rss_kib / 1024.0, after.rss_kib / 1024.0, (after.rss_kib - before.rss_kib) / 1024.0, after.peak_kib / 1024.0);
    if (before.cpu_seconds >= 0 && after.cpu_seconds >= 0 && ok > 0)
      std::printf("  server CPU: %.1f s over the run, %.3f CPU-s per image\n", after.cpu_seconds - before.cpu_seconds,
                  (after.cpu_seconds - before.cpu_seconds) / ok);
  }
  return errors == 0 ? 0 : 1;
}
