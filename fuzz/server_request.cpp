// The server's request parsing on arbitrary bodies, called directly (no sockets): parse_json_body,
// the typed field reads and read_sampling_fields both APIs use, OpenAI's "WxH" size, validate, the
// prompts' <lora:...> tags resolved in a LoRA folder, and base64 uploads decoded as PNGs. Beyond not
// crashing: refusals are RequestErrors with an HTTP status, a validated request is within the
// limits, resolved LoRAs are files inside the folder, and base64 round-trips.
#include <filesystem>
#include <fstream>

#include "fuzz_input.h"
#include "io/image.h"
#include "server/base64.h"
#include "server/http_util.h"
#include "server/image_request.h"

using namespace diffuse;
using namespace diffuse::server;
using nlohmann::json;

namespace {

const std::string& lora_dir() {
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_dir() + "/loras";
    std::filesystem::create_directories(d);
    std::filesystem::copy_file(DIFFUSE_FIXTURES "/lora/sd1_peft.safetensors", d + "/tiny.safetensors",
                               std::filesystem::copy_options::overwrite_existing);
    return d;
  }();
  return dir;
}

void check_base64(const std::string& text, const std::string& field, const ServerLimits& limits) {
  std::string bytes;
  try {
    bytes = base64_decode(text, field);
  } catch (const RequestError& e) {
    FUZZ_CHECK(e.status == 400 && e.field == field);
    return;
  }
  FUZZ_CHECK(base64_decode(base64_encode(bytes), field) == bytes);
  try {
    const Image image = decode_png(bytes, field, max_upload_pixels(limits));
    FUZZ_CHECK(int64_t(image.width) * image.height <= max_upload_pixels(limits));
    decode_png_alpha(bytes, field, max_upload_pixels(limits));
  } catch (const Error& e) {
    fuzz::check_refusal(e);
  }
}

void check_request(const json& body, const ServerLimits& limits) {
  ImageRequest r;
  GenerateOptions& o = r.options;
  o.prompt = read_string(body, "prompt", "");
  RequestDefaults defaults;
  defaults.sampler = "pndm";  // the server fills these from the model; SD 1.x's
  read_sampling_fields(body, defaults, o);
  r.batch_size = read_int(body, "batch_size", 1);
  r.n_iter = read_int(body, "n_iter", 1);
  o.width = read_int(body, "width", 512);
  o.height = read_int(body, "height", 512);
  if (body.contains("size")) std::tie(o.width, o.height) = parse_size(read_string(body, "size", ""), "size");
  r.img2img = body.contains("init_images");
  if (r.img2img) o.strength = read_number(body, "denoising_strength", 0.75);
  o.mask_blur = read_int(body, "mask_blur", 4);
  validate(r, limits);
  FUZZ_CHECK(int64_t(o.width) * o.height <= limits.max_pixels && o.width % 8 == 0 && o.height % 8 == 0);
  FUZZ_CHECK(o.steps >= 1 && o.steps <= limits.max_steps && r.images() >= 1 && r.images() <= limits.max_batch);
  FUZZ_CHECK(o.prompt.size() <= kMaxPromptBytes && o.seed >= 0);
  resolve_loras(r, lora_dir());
  FUZZ_CHECK(r.loras.specs.size() <= 2 * kMaxLoraTags);
  for (const auto& spec : r.loras.specs)
    FUZZ_CHECK(std::filesystem::path(spec.path).parent_path() == lora_dir());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(fuzz::text(data, size));
  FUZZ_CHECK(base64_decode(base64_encode(input), "body") == input);
  const ServerLimits limits;
  httplib::Request req;
  req.body = input;
  req.set_header("Content-Type", "application/json");
  try {
    const json body = parse_json_body(req);
    FUZZ_CHECK(body.is_object());
    for (const char* field : {"mask", "image"})
      if (body.contains(field) && body[field].is_string()) check_base64(body[field], field, limits);
    if (body.contains("init_images") && body["init_images"].is_array() && !body["init_images"].empty() &&
        body["init_images"][0].is_string())
      check_base64(body["init_images"][0], "init_images", limits);
    check_request(body, limits);
  } catch (const RequestError& e) {
    FUZZ_CHECK(e.status == 400 || e.status == 413 || e.status == 415);
    FUZZ_CHECK(e.what()[0] != '\0');
  }
  return 0;
}
