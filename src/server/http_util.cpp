#include "server/http_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "io/image.h"
#include "server/base64.h"
#include "server/peer_connection.h"

namespace diffuse::server {

using nlohmann::json;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Invalid UTF-8 in a prompt is replaced, not a reason to fail the whole answer.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

json parse_json_body(const httplib::Request& req) {
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) {
    // curl -d labels JSON as a form; such a body is taken for what it is. Only a body that is not
    // JSON gets its label named.
    const std::string type = req.get_header_value("Content-Type");
    if (!type.empty() && type.find("json") == std::string::npos)
      throw RequestError("", "the body must be JSON (Content-Type: application/json), got " + type, 415);
    throw RequestError("", "the body is not valid JSON");
  }
  if (!body.is_object()) throw RequestError("", "the body must be a JSON object");
  return body;
}

namespace {

const json* field_of(const json& body, const std::string& field) {
  const auto it = body.find(field);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

// Integers may arrive as 20 or 20.0 (JavaScript clients); 20.5 or 1e300 may not.
int64_t integer_of(const json& v, const std::string& field, int64_t lo, int64_t hi) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi)) throw RequestError(field, "is out of range");
    const int64_t i = v.get<int64_t>();
    if (i < lo || i > hi) throw RequestError(field, "is out of range (" + std::to_string(i) + ")");
    return i;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!(d >= double(lo) && d <= double(hi))) throw RequestError(field, "is out of range");
    if (d != std::floor(d)) throw RequestError(field, "must be a whole number");
    return int64_t(d);
  }
  throw RequestError(field, std::string("must be a number, got ") + v.type_name());
}

}  // namespace

int read_int(const json& body, const std::string& field, int fallback) {
  const json* v = field_of(body, field);
  return v ? int(integer_of(*v, field, std::numeric_limits<int>::min(), std::numeric_limits<int>::max())) : fallback;
}

int64_t read_int64(const json& body, const std::string& field, int64_t fallback) {
  const json* v = field_of(body, field);
  return v ? integer_of(*v, field, std::numeric_limits<int64_t>::min() / 2, std::numeric_limits<int64_t>::max() / 2) : fallback;
}

double read_number(const json& body, const std::string& field, double fallback) {
  const json* v = field_of(body, field);
  if (!v) return fallback;
  if (!v->is_number()) throw RequestError(field, std::string("must be a number, got ") + v->type_name());
  const double d = v->get<double>();
  if (!std::isfinite(d)) throw RequestError(field, "must be finite");
  return d;
}

std::string read_string(const json& body, const std::string& field, const std::string& fallback) {
  const json* v = field_of(body, field);
  if (!v) return fallback;
  if (!v->is_string()) throw RequestError(field, std::string("must be a string, got ") + v->type_name());
  return v->get<std::string>();
}

void read_sampling_fields(const json& body, const RequestDefaults& defaults, GenerateOptions& o) {
  if (field_of(body, "negative_prompt")) o.negative_prompt = read_string(body, "negative_prompt", "");
  o.seed = read_int64(body, "seed", -1);
  if (o.seed == -1) o.seed = random_seed();
  o.steps = read_int(body, "steps", defaults.steps);
  o.cfg_scale = read_number(body, "cfg_scale", defaults.cfg_scale);
  // sampler_index: the name older A1111 clients send
  const std::string name = read_string(body, "sampler_name", read_string(body, "sampler_index", ""));
  const SamplerChoice sampler = name.empty() ? SamplerChoice{defaults.sampler} : parse_sampler(name, "sampler_name");
  o.sampler = sampler.sampler;
  o.timestep_spacing = sampler.timestep_spacing;
  o.karras = sampler.karras || parse_karras_scheduler(read_string(body, "scheduler", ""), "scheduler");
}

httplib::Server::Handler guarded(httplib::Server::Handler handler, ErrorWriter write_error) {
  return [handler = std::move(handler), write_error](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const RequestError& e) {
      if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(e.retry_after));
      write_error(res, e);
    } catch (const std::exception& e) {
      write_error(res, RequestError("", e.what(), 500));
    }
  };
}

std::pair<int, int> parse_size(const std::string& text, const std::string& field) {
  const size_t x = text.find('x');
  auto number = [&](std::string_view s) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string_view::npos)
      throw RequestError(field, "must be WIDTHxHEIGHT, e.g. \"512x512\", got \"" + text + "\"");
    return std::stoi(std::string(s));
  };
  if (x == std::string::npos) number("");
  return {number(std::string_view(text).substr(0, x)), number(std::string_view(text).substr(x + 1))};
}

std::optional<JobOutput> run_job(const httplib::Request& req, JobQueue& jobs, ImageRequest request) {
  std::shared_ptr<Job> job;
  try {
    job = jobs.submit(std::move(request));
  } catch (const JobQueue::QueueFull& e) {
    RequestError busy("", e.what(), 503);
    busy.retry_after = std::max(1, int(std::ceil(jobs.eta_seconds())));
    throw busy;
  }
  const PeerConnection peer(req.remote_addr, req.remote_port);
  for (;;) {
    if (auto out = job->wait_for(std::chrono::milliseconds(200))) {
      if (!out->error.empty())
        throw RequestError(out->bad_request ? "prompt" : "", out->error, out->shut_down ? 503 : out->bad_request ? 400 : 500);
      return out;
    }
    if (peer.closed()) {
      jobs.cancel(job);
      return std::nullopt;
    }
  }
}

std::string png_base64(const Image& image, const GenerationParameters& parameters) {
  return base64_encode(encode_png(image, {{"parameters", format_parameters(parameters)}}));
}

GenerationParameters request_parameters(const ImageRequest& request, int64_t seed, const std::string& model_name) {
  GenerationParameters p = generation_parameters(request.options, seed, model_name);
  record_loras(p, request.loras);
  return p;
}

}  // namespace diffuse::server
