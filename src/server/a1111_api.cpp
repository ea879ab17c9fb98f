#include "server/a1111_api.h"

#include <chrono>
#include <filesystem>
#include <optional>

#include "io/image.h"
#include "pipeline/hires_fix.h"
#include "sampling/schedule.h"
#include "server/base64.h"
#include "server/http_util.h"
#include "server/lora_list.h"

namespace diffuse::server {
namespace {

using nlohmann::json;

void send_error(httplib::Response& res, const RequestError& e) {
  static const std::map<int, std::string> kinds{{400, "BadRequest"}, {413, "PayloadTooLarge"}, {415, "UnsupportedMediaType"},
                                                {500, "InternalServerError"}, {503, "ServiceUnavailable"}};
  const auto kind = kinds.find(e.status);
  send_json(res, e.status, {{"error", kind == kinds.end() ? "Error" : kind->second}, {"detail", e.what()}, {"field", e.field}});
}

httplib::Server::Handler guarded(httplib::Server::Handler handler) { return server::guarded(std::move(handler), send_error); }



// The init image, resized to the output size as A1111's "Just resize" does.
Image init_image(const json& body, int width, int height, const ServerLimits& limits) {
  const auto it = body.find("init_images");
  if (it == body.end() || !it->is_array() || it->empty() || !(*it)[0].is_string())
    throw RequestError("init_images", "img2img needs init_images: a list holding one base64 PNG");
  const std::string png = base64_decode((*it)[0].get_ref<const std::string&>(), "init_images");
  Image image;
  try {
    image = decode_png(png, "init_images[0]", max_upload_pixels(limits));
  } catch (const Error& e) {
    throw RequestError("init_images", std::string(e.what()) + " (init images must be PNG)");
  }
  return resize_image(image, width, height);
}

// A1111's inpainting mask: `mask`, a base64 PNG whose white part is repainted (absent or null: plain
// img2img). It keeps its own size: the pipeline blurs it, then resizes it to the output size as
// A1111 does (prepare_mask).
std::optional<Image> mask_image(const json& body, const ServerLimits& limits) {
  const auto it = body.find("mask");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw RequestError("mask", std::string("must be a base64 PNG string, got ") + it->type_name());
  const auto init = body.find("init_images");
  if (init == body.end() || !init->is_array() || init->empty())
    throw RequestError("mask", "needs an init image to inpaint: send init_images too");
  const std::string png = base64_decode(it->get_ref<const std::string&>(), "mask");
  try {
    return decode_png(png, "mask", max_upload_pixels(limits));
  } catch (const Error& e) {
    throw RequestError("mask", std::string(e.what()) + " (masks must be PNG)");
  }
}

// inpainting_mask_invert: A1111's 0 ("Inpaint masked") or 1 ("Inpaint not masked"); true/false too.
bool mask_invert(const json& body) {
  const auto it = body.find("inpainting_mask_invert");
  if (it == body.end() || it->is_null()) return false;
  if (it->is_boolean()) return it->get<bool>();
  const int value = read_int(body, "inpainting_mask_invert", 0);
  if (value != 0 && value != 1) throw RequestError("inpainting_mask_invert", "must be 0 or 1, got " + std::to_string(value));
  return value == 1;
}

// override_settings.CLIP_stop_at_last_layers ("Clip skip", 1 to 12) as A1111 applies it: to SD 1.x
// models only (its SD2 and SDXL encoders keep their penultimate layer), 1 being SD 1.x's own.
int clip_skip(const json& body, Family family) {
  const auto settings = body.find("override_settings");
  if (settings == body.end() || settings->is_null()) return 0;
  if (!settings->is_object()) throw RequestError("override_settings", "must be an object");
  const int layers = read_int(*settings, "CLIP_stop_at_last_layers", 1);
  if (layers < 1 || layers > 12)
    throw RequestError("override_settings", "CLIP_stop_at_last_layers must be between 1 and 12, got " + std::to_string(layers));
  return family == Family::SD1 && layers > 1 ? layers : 0;
}

// A1111's txt2img hires fix: enable_hr, hr_scale (2), hr_upscaler ("Latent", "Latent (nearest)",
// "Lanczos"; diffuse's flag names too), hr_second_pass_steps (0: steps), denoising_strength (0.7);
// hr_resize_x/y are not read. The upscaled image is held to the server's pixel limit.
std::optional<HiresFix> hires_options(const json& body, const GenerateOptions& o, const ServerLimits& limits) {
  const auto it = body.find("enable_hr");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) throw RequestError("enable_hr", std::string("must be true or false, got ") + it->type_name());
  if (!it->get<bool>()) return std::nullopt;
  HiresFix hr;
  hr.scale = read_number(body, "hr_scale", hr.scale);
  if (!(hr.scale >= 1.0 && hr.scale <= 4.0)) throw RequestError("hr_scale", "must be between 1 and 4, got " + std::to_string(hr.scale));
  hr.denoise = read_number(body, "denoising_strength", hr.denoise);
  if (!(hr.denoise >= 0.0 && hr.denoise <= 1.0))
    throw RequestError("denoising_strength", "must be between 0 and 1, got " + std::to_string(hr.denoise));
  hr.steps = read_int(body, "hr_second_pass_steps", 0);
  if (hr.steps < 0 || hr.steps > limits.max_steps)
    throw RequestError("hr_second_pass_steps", "must be 0 (steps) to " + std::to_string(limits.max_steps) + ", got " + std::to_string(hr.steps));
  try {
    hr.upscaler = hires_upscaler_from_name(read_string(body, "hr_upscaler", "Latent"));
  } catch (const Error& e) {
    throw RequestError("hr_upscaler", e.what());
  }
  const int width = hires_side(o.width, hr.scale), height = hires_side(o.height, hr.scale);
  if (int64_t(width) * height > limits.max_pixels)
    throw RequestError("hr_scale", "the upscaled " + std::to_string(width) + "x" + std::to_string(height) + " is more than the " +
                                       std::to_string(limits.max_pixels) + " pixels this server allows (--max-pixels)");
  return hr;
}

ImageRequest parse_request(const json& body, const ServerContext& ctx, bool img2img) {
  ImageRequest r;
  GenerateOptions& o = r.options;
  o.prompt = read_string(body, "prompt", "");
  read_sampling_fields(body, ctx.defaults, o);
  o.clip_skip = clip_skip(body, ctx.family);
  r.batch_size = read_int(body, "batch_size", 1);
  r.n_iter = read_int(body, "n_iter", 1);
  o.width = read_int(body, "width", ctx.defaults.width);
  o.height = read_int(body, "height", ctx.defaults.height);
  r.img2img = img2img;
  if (img2img) {
    o.strength = read_number(body, "denoising_strength", 0.75);
    // mask_blur_x / mask_blur_y (A1111's per-axis blur) are not read: diffuse blurs both axes alike.
    o.mask_blur = read_int(body, "mask_blur", 4);
    o.invert_mask = mask_invert(body);
  }
  validate(r, ctx.limits);  // before the images are decoded: a bad size costs no decode
  if (!img2img) o.hires = hires_options(body, o, ctx.limits);
  resolve_loras(r, ctx.lora_model_dir);
  if (img2img) {
    o.mask = mask_image(body, ctx.limits);
    o.init_image = init_image(body, o.width, o.height, ctx.limits);
  }
  return r;
}

json parameters_json(const ImageRequest& r) {
  const GenerateOptions& o = r.options;
  json p{{"prompt", r.loras.recorded_prompt},
         {"negative_prompt", r.loras.recorded_negative_prompt.value_or("")},
         {"seed", o.seed},
         {"steps", o.steps},
         {"cfg_scale", o.cfg_scale},
         {"width", o.width},
         {"height", o.height},
         {"sampler_name", sampler_display_name(o.sampler)},
         {"scheduler", o.karras ? "Karras" : "Automatic"},
         {"batch_size", r.batch_size},
         {"n_iter", r.n_iter}};
  if (o.init_image) p["denoising_strength"] = o.strength;
  if (o.hires) {
    p["enable_hr"] = true;
    p["hr_scale"] = o.hires->scale;
    p["hr_upscaler"] = hires_upscaler_name(o.hires->upscaler);
    p["hr_second_pass_steps"] = o.hires->steps;
    p["denoising_strength"] = o.hires->denoise;
  }
  if (o.mask) {
    p["mask_blur"] = o.mask_blur;
    p["inpainting_mask_invert"] = o.invert_mask ? 1 : 0;
  }
  return p;
}

void generate_images(const httplib::Request& req, httplib::Response& res, ServerContext& ctx, bool img2img) {
  const json body = parse_json_body(req);
  ImageRequest request = parse_request(body, ctx, img2img);
  const json parameters = parameters_json(request);
  const ImageRequest asked = request;  // what the answer repeats; the queue takes `request`
  const GenerateOptions& options = asked.options;
  const auto output = run_job(req, ctx.jobs, std::move(request));
  if (!output) return;  // the client has gone: nobody reads an answer
  json images = json::array(), infotexts = json::array();
  for (size_t i = 0; i < output->images.size(); ++i) {
    const GenerationParameters p = request_parameters(asked, output->seeds[i], ctx.model_name);
    images.push_back(png_base64(output->images[i], p));
    infotexts.push_back(format_parameters(p));
  }
  // A1111's prompt and all_prompts keep their tags (its extra-network parsing works on copies).
  const std::string& prompt = asked.loras.recorded_prompt;
  json info{{"prompt", prompt},
                  {"all_prompts", json::array()},
                  {"negative_prompt", asked.loras.recorded_negative_prompt.value_or("")},
                  {"seed", options.seed},
                  {"all_seeds", output->seeds},
                  {"subseed", -1},
                  {"width", options.width},
                  {"height", options.height},
                  {"sampler_name", sampler_display_name(options.sampler)},
                  {"cfg_scale", options.cfg_scale},
                  {"steps", options.steps},
                  {"batch_size", parameters["batch_size"]},
                  {"denoising_strength", options.hires        ? json(options.hires->denoise)
                                         : options.init_image ? json(options.strength)
                                                              : json(nullptr)},
                  {"sd_model_name", std::filesystem::path(ctx.model_name).stem().string()},
                  {"index_of_first_image", 0},
                  {"infotexts", infotexts},
                  {"interrupted", output->interrupted},
                  {"version", "diffuse 0.1"}};
  for (size_t i = 0; i < output->images.size(); ++i) info["all_prompts"].push_back(prompt);
  send_json(res, 200, {{"images", images}, {"parameters", parameters}, {"info", info.dump(-1, ' ', false, json::error_handler_t::replace)}});
}

json progress_json(const ServerContext& ctx, bool with_image) {
  const QueueProgress p = ctx.jobs.progress();
  json current = nullptr;
  if (with_image && p.running && p.denoised.shape().size() == 4) current = base64_encode(encode_png(ctx.preview.render(p.denoised)));
  return {{"progress", p.fraction()},
          {"eta_relative", p.eta()},
          {"state",
           {{"skipped", p.skipped},
            {"interrupted", p.interrupted},
            {"stopping_generation", false},
            {"job", p.running ? "job " + std::to_string(p.job_id) : ""},
            {"job_count", p.queued + (p.running ? 1 : 0)},
            {"job_timestamp", "0"},
            {"job_no", p.image},
            {"sampling_step", p.step},
            {"sampling_steps", p.steps}}},
          {"current_image", current},
          {"textinfo", nullptr}};
}

json samplers_json() {
  json list = json::array();
  // options.karras: whether the Karras scheduler may go with it (diffuse's addition; A1111 lists
  // its own sampler options there).
  for (const std::string& name : sampler_names())
    list.push_back({{"name", sampler_display_name(name)}, {"aliases", sampler_aliases(name)},
                    {"options", {{"karras", sampler_supports_karras(name) ? "true" : "false"}}}});
  list.push_back({{"name", "DPM++ 2M Karras"}, {"aliases", {"k_dpmpp_2m_ka"}}, {"options", {{"scheduler", "karras"}}}});
  return list;
}

}  // namespace

void add_a1111_routes(httplib::Server& http, ServerContext& ctx) {
  http.Post("/sdapi/v1/txt2img", guarded([&ctx](const auto& req, auto& res) { generate_images(req, res, ctx, false); }));
  http.Post("/sdapi/v1/img2img", guarded([&ctx](const auto& req, auto& res) { generate_images(req, res, ctx, true); }));
  http.Get("/sdapi/v1/progress", guarded([&ctx](const auto& req, auto& res) {
             send_json(res, 200, progress_json(ctx, req.get_param_value("skip_current_image") != "true"));
           }));
  http.Post("/sdapi/v1/interrupt", guarded([&ctx](const auto&, auto& res) {
              ctx.jobs.interrupt();
              send_json(res, 200, json::object());
            }));
  http.Post("/sdapi/v1/skip", guarded([&ctx](const auto&, auto& res) {
              ctx.jobs.skip();
              send_json(res, 200, json::object());
            }));
  http.Get("/sdapi/v1/samplers", guarded([](const auto&, auto& res) { send_json(res, 200, samplers_json()); }));
  http.Get("/sdapi/v1/schedulers", guarded([](const auto&, auto& res) {
             send_json(res, 200, json::array({{{"name", "automatic"}, {"label", "Automatic"}, {"aliases", nullptr}, {"default_rho", -1}, {"need_inner_model", false}},
                                              {{"name", "karras"}, {"label", "Karras"}, {"aliases", nullptr}, {"default_rho", 7.0}, {"need_inner_model", false}}}));
           }));
  http.Get("/sdapi/v1/sd-models", guarded([&ctx](const auto&, auto& res) {
             send_json(res, 200, json::array({{{"title", ctx.model_name},
                                               {"model_name", std::filesystem::path(ctx.model_name).stem().string()},
                                               {"hash", nullptr},
                                               {"sha256", nullptr},
                                               {"filename", ctx.model_name},
                                               {"config", nullptr}}}));
           }));
  http.Get("/sdapi/v1/loras", guarded([&ctx](const auto&, auto& res) { send_json(res, 200, lora_list(ctx.lora_model_dir)); }));
  // A1111 re-scans its folders here; lora_list reads the folder on every call, so there is nothing
  // to re-read. Answered as A1111 answers it, for the clients that call it before listing.
  http.Post("/sdapi/v1/refresh-loras", guarded([](const auto&, auto& res) { send_json(res, 200, nullptr); }));
  http.Get("/sdapi/v1/options", guarded([&ctx](const auto&, auto& res) {
             const std::lock_guard lock(ctx.options_mutex);
             send_json(res, 200, ctx.options);
           }));
  http.Post("/sdapi/v1/options", guarded([&ctx](const auto& req, auto& res) {
              const json body = parse_json_body(req);
              const std::string checkpoint = read_string(body, "sd_model_checkpoint", ctx.model_name);
              if (checkpoint != ctx.model_name && checkpoint != std::filesystem::path(ctx.model_name).stem().string())
                throw RequestError("sd_model_checkpoint", "this server serves one model, " + ctx.model_name +
                                                              "; start another diffuse serve -m for \"" + checkpoint + "\"");
              const std::lock_guard lock(ctx.options_mutex);
              json updated = ctx.options;
              updated.update(body);
              // What clients set is kept for them to read back; a bound keeps it from growing without end.
              if (updated.dump().size() > (size_t(256) << 10)) throw RequestError("", "the options would exceed 256 KiB");
              ctx.options = std::move(updated);
              ctx.options["sd_model_checkpoint"] = ctx.model_name;
              send_json(res, 200, nullptr);
            }));
  http.Get("/diffuse/v1/defaults", guarded([&ctx](const auto&, auto& res) {
             send_json(res, 200, {{"width", ctx.defaults.width},
                                  {"height", ctx.defaults.height},
                                  {"steps", ctx.defaults.steps},
                                  {"cfg_scale", ctx.defaults.cfg_scale},
                                  {"sampler_name", sampler_display_name(ctx.defaults.sampler)},
                                  {"scheduler", "Automatic"},
                                  {"max_pixels", ctx.limits.max_pixels},
                                  {"max_steps", ctx.limits.max_steps},
                                  {"max_batch", ctx.limits.max_batch}});
           }));
  http.Get("/internal/ping", [](const auto&, auto& res) { send_json(res, 200, json::object()); });
}

}  // namespace diffuse::server
