#pragma once
#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "pipeline/generation_record.h"
#include "server/job_queue.h"

// Request parsing and response writing that both APIs share: every field read is type-checked
// and a failure names the field (RequestError), so a handler is a straight list of reads.
namespace diffuse::server {

void send_json(httplib::Response& res, int status, const nlohmann::json& body);

// The body as a JSON object; RequestError for a wrong Content-Type (415), bad JSON or non-object.
nlohmann::json parse_json_body(const httplib::Request& req);

// Typed reads of body[field], `fallback` when absent or null.
int read_int(const nlohmann::json& body, const std::string& field, int fallback);
int64_t read_int64(const nlohmann::json& body, const std::string& field, int64_t fallback);
double read_number(const nlohmann::json& body, const std::string& field, double fallback);
std::string read_string(const nlohmann::json& body, const std::string& field, const std::string& fallback);

// What both APIs read alike: negative_prompt (absent: none), seed (-1: random), steps, cfg_scale,
// sampler_name (A1111's names or diffuse's) and scheduler, the defaults' where absent.
void read_sampling_fields(const nlohmann::json& body, const RequestDefaults& defaults, GenerateOptions& options);

// A handler whose RequestError (and any other exception, as a 500) becomes its API's error answer.
using ErrorWriter = void (*)(httplib::Response&, const RequestError&);
httplib::Server::Handler guarded(httplib::Server::Handler handler, ErrorWriter write_error);

// "WxH" (OpenAI's size): RequestError naming `field` otherwise.
std::pair<int, int> parse_size(const std::string& text, const std::string& field);

// Queues the request and waits for its output while the client stays: nullopt (the job
// cancelled) once the client has gone. RequestError 503 for a full queue or a shutdown, 400 for
// LoRAs the loader refused, 500 for a failed generation.
std::optional<JobOutput> run_job(const httplib::Request& req, JobQueue& jobs, ImageRequest request);

// The image as a base64 PNG carrying A1111's "parameters" text.
std::string png_base64(const Image& image, const GenerationParameters& parameters);

// What the PNG of a request's image `seed` records: its options as applied, the prompts as the
// client wrote them with their LoRA tags, and the LoRAs' hashes (the CLI's record_loras).
GenerationParameters request_parameters(const ImageRequest& request, int64_t seed, const std::string& model_name);

}  // namespace diffuse::server
