#include "server/openai_api.h"

#include <algorithm>
#include <ctime>
#include <optional>

#include "io/image.h"
#include "server/http_util.h"

namespace diffuse::server {
namespace {

using nlohmann::json;

void send_error(httplib::Response& res, const RequestError& e) {
  const json param = e.field.empty() ? json(nullptr) : json(e.field);
  send_json(res, e.status, {{"error", {{"message", e.what()}, {"type", e.status >= 500 ? "server_error" : "invalid_request_error"},
                                       {"param", param}, {"code", nullptr}}}});
}

httplib::Server::Handler guarded(httplib::Server::Handler handler) { return server::guarded(std::move(handler), send_error); }



// The fields both endpoints share, from a JSON body or (edits) multipart fields turned into one.
ImageRequest parse_request(const json& body, const ServerContext& ctx) {
  ImageRequest r;
  GenerateOptions& o = r.options;
  o.prompt = read_string(body, "prompt", "");
  if (o.prompt.empty()) throw RequestError("prompt", "is required");
  const std::string format = read_string(body, "response_format", "b64_json");
  if (format == "url")
    throw RequestError("response_format", "\"url\" is not served by diffuse (it stores no files); use \"b64_json\"");
  if (format != "b64_json") throw RequestError("response_format", "must be \"b64_json\", got \"" + format + "\"");
  const std::string size = read_string(body, "size", "auto");
  if (size == "auto") {
    o.width = ctx.defaults.width;
    o.height = ctx.defaults.height;
  } else {
    std::tie(o.width, o.height) = parse_size(size, "size");
  }
  r.batch_size = read_int(body, "n", 1);
  read_sampling_fields(body, ctx.defaults, o);
  return r;
}

void answer(const httplib::Request& req, httplib::Response& res, ServerContext& ctx, ImageRequest request) {
  const ImageRequest asked = request;  // what the answer repeats; the queue takes `request`
  const auto output = run_job(req, ctx.jobs, std::move(request));
  if (!output) return;
  json data = json::array();
  for (size_t i = 0; i < output->images.size(); ++i)
    data.push_back({{"b64_json", png_base64(output->images[i], request_parameters(asked, output->seeds[i], ctx.model_name))},
                    {"revised_prompt", asked.loras.recorded_prompt}});
  send_json(res, 200, {{"created", int64_t(std::time(nullptr))}, {"data", data}});
}

// OpenAI's mask convention made into A1111's, which GenerateOptions::mask takes: the fully
// transparent pixels (alpha 0) are edited (white), the others kept (black). `alpha` is
// decode_png_alpha's.
Image repaint_where_transparent(Image alpha) {
  for (uint8_t& v : alpha.rgb) v = v == 0 ? 255 : 0;
  return alpha;
}

// The edit's mask: the `mask` file (a PNG with alpha, the image's size) or, without one, the image's
// own transparency where it has any fully transparent pixel; nullopt for a plain img2img.
std::optional<Image> edit_mask(const httplib::Request& req, const std::string& image_png, const Image& image, const ServerLimits& limits) {
  if (!req.has_file("mask")) {
    std::optional<Image> alpha = decode_png_alpha(image_png, "image", max_upload_pixels(limits));  // decoded once already
    if (!alpha || std::ranges::find(alpha->rgb, uint8_t(0)) == alpha->rgb.end()) return std::nullopt;
    return repaint_where_transparent(std::move(*alpha));
  }
  std::optional<Image> alpha;
  try {
    alpha = decode_png_alpha(req.get_file_value("mask").content, "mask", max_upload_pixels(limits));
  } catch (const Error& e) {
    throw RequestError("mask", std::string(e.what()) + " (the mask must be a PNG)");
  }
  if (!alpha) throw RequestError("mask", "must have an alpha channel: transparent pixels are edited");
  if (alpha->width != image.width || alpha->height != image.height)
    throw RequestError("mask", "is " + std::to_string(alpha->width) + "x" + std::to_string(alpha->height) + ", the image " +
                                   std::to_string(image.width) + "x" + std::to_string(image.height) +
                                   ": the mask must have the same dimensions as the image");
  return repaint_where_transparent(std::move(*alpha));
}

// Multipart text fields as the JSON body parse_request reads; numbers where they parse as such.
json form_fields(const httplib::Request& req) {
  json body = json::object();
  for (const auto& [name, file] : req.files) {
    if (!file.filename.empty() || name == "image" || name == "image[]" || name == "mask") continue;
    const json number = json::parse(file.content, nullptr, false);
    const bool numeric = !number.is_discarded() && number.is_number();
    body[name] = numeric && name != "prompt" && name != "negative_prompt" ? number : json(file.content);
  }
  return body;
}

}  // namespace

void add_openai_routes(httplib::Server& http, ServerContext& ctx) {
  http.Post("/v1/images/generations", guarded([&ctx](const auto& req, auto& res) {
              ImageRequest request = parse_request(parse_json_body(req), ctx);
              validate(request, ctx.limits);
              resolve_loras(request, ctx.lora_model_dir);
              answer(req, res, ctx, std::move(request));
            }));
  http.Post("/v1/images/edits", guarded([&ctx](const auto& req, auto& res) {
              if (!req.is_multipart_form_data())
                throw RequestError("image", "edits take multipart/form-data with an image file and a prompt", 415);
              const char* key = req.has_file("image") ? "image" : "image[]";
              if (!req.has_file(key))
                throw RequestError("image", req.has_file("mask") ? "is required (a PNG file): a mask needs the image it edits" : "is required (a PNG file)");
              const std::string png = req.get_file_value(key).content;
              Image image;
              try {
                image = decode_png(png, "image", max_upload_pixels(ctx.limits));
              } catch (const Error& e) {
                throw RequestError("image", std::string(e.what()) + " (the image must be a PNG)");
              }
              json fields = form_fields(req);
              if (!fields.contains("size")) fields["size"] = std::to_string(image.width / 8 * 8) + "x" + std::to_string(image.height / 8 * 8);
              ImageRequest request = parse_request(fields, ctx);
              request.img2img = true;
              request.options.strength = read_number(fields, "strength", 0.75);
              request.options.mask_blur = read_int(fields, "mask_blur", 4);  // diffuse's addition, A1111's default
              validate(request, ctx.limits);
              resolve_loras(request, ctx.lora_model_dir);
              // The mask keeps the image's size: the pipeline blurs it, then resizes it to the output size.
              request.options.mask = edit_mask(req, png, image, ctx.limits);
              request.options.init_image = resize_image(image, request.options.width, request.options.height);
              answer(req, res, ctx, std::move(request));
            }));
  http.Get("/v1/models", guarded([&ctx](const auto&, auto& res) {
             send_json(res, 200, {{"object", "list"},
                                  {"data", json::array({{{"id", ctx.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "diffuse"}}})}});
           }));
}

}  // namespace diffuse::server
