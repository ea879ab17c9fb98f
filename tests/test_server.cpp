// `diffuse serve` as its clients use it: every A1111 and OpenAI endpoint against a running server
// on the tiny fixture model, the shapes checked field by field, the PNGs decoded and their
// parameters read back, the images equal to the pipeline's own; progress, interrupt, a full
// queue, a client that leaves, and SIGTERM.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "golden.h"
#include "io/generation_parameters.h"
#include "io/image.h"
#include "io/lora.h"
#include "pipeline/generate.h"
#include "server/base64.h"
#include "server_client.h"
#include "server_process.h"

namespace diffuse {
namespace {

using nlohmann::json;
using testing::ServerProcess;
using testing::SharedServerTest;
using namespace std::chrono_literals;

using testing::Answer;
using testing::client;
using testing::decode;
using testing::get;
using testing::parameters_of;
using testing::post;
using testing::server_args;
using testing::tiny_model;

// Waits until the running job has made `steps` evaluations (or the deadline passes).
json wait_for_step(const ServerProcess& server, int steps, std::chrono::seconds timeout = 120s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  json p;
  while (std::chrono::steady_clock::now() < deadline) {
    const Answer a = get(server, "/sdapi/v1/progress");
    if (a.status != 200) {
      ADD_FAILURE() << "progress answered " << a.status << ": " << a.body.dump();
      return p;
    }
    p = a.body;
    if (p["state"]["sampling_step"].get<int>() >= steps) return p;
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "the job did not reach step " << steps << ": " << p.dump();
  return p;
}

class ServerApi : public SharedServerTest {};

TEST_F(ServerApi, ListsWhatA1111ClientsRead) {
  EXPECT_EQ(get(*server_, "/internal/ping").status, 200);

  const json samplers = get(*server_, "/sdapi/v1/samplers").body;
  std::vector<std::string> names;
  for (const json& s : samplers) {
    names.push_back(s["name"]);
    EXPECT_TRUE(s["aliases"].is_array()) << s.dump();
    EXPECT_TRUE(s["options"].is_object()) << s.dump();
  }
  for (const char* expected : {"Euler a", "Euler", "Heun", "DDIM", "PLMS", "DPM++ 2M", "DPM++ 2M Karras", "LCM", "UniPC"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;

  const json schedulers = get(*server_, "/sdapi/v1/schedulers").body;
  ASSERT_EQ(schedulers.size(), 2u);
  EXPECT_EQ(schedulers[0]["label"], "Automatic");
  EXPECT_EQ(schedulers[1]["label"], "Karras");

  const json models = get(*server_, "/sdapi/v1/sd-models").body;
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["title"], "model.safetensors");
  EXPECT_EQ(models[0]["model_name"], "model");

  EXPECT_EQ(get(*server_, "/sdapi/v1/options").body["sd_model_checkpoint"], "model.safetensors");
  EXPECT_EQ(post(*server_, "/sdapi/v1/options", {{"sd_model_checkpoint", "model"}, {"samples_format", "png"}}).status, 200);
  EXPECT_EQ(get(*server_, "/sdapi/v1/options").body["samples_format"], "png");
  const Answer other = post(*server_, "/sdapi/v1/options", {{"sd_model_checkpoint", "sdxl.safetensors"}});
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(other.body["field"], "sd_model_checkpoint");

  const json flags = get(*server_, "/sdapi/v1/cmd-flags").body;
  EXPECT_EQ(flags["port"], server_->port());
  EXPECT_EQ(flags["listen"], false);

  const json defaults = get(*server_, "/diffuse/v1/defaults").body;
  EXPECT_EQ(defaults["width"], 512);  // the SD1 family's native size: the tiny model says no other
  EXPECT_EQ(defaults["sampler_name"], "PLMS");
}

TEST_F(ServerApi, ServesThePage) {
  auto c = client(*server_);
  const auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("app.js"), std::string::npos);
  const auto script = c.Get("/app.js");
  ASSERT_TRUE(script);
  EXPECT_NE(script->get_header_value("Content-Type").find("javascript"), std::string::npos);
  EXPECT_GT(script->body.size(), 1000u);
}

TEST_F(ServerApi, Txt2ImgAnswersInA1111sShapeWithThePipelinesImages) {
  const Answer a = post(*server_, "/sdapi/v1/txt2img",
                        {{"prompt", "a red circle"}, {"negative_prompt", "blurry"}, {"seed", 11}, {"steps", 4}, {"cfg_scale", 5},
                         {"width", 64}, {"height", 64}, {"sampler_name", "Euler a"}, {"batch_size", 2}, {"n_iter", 1},
                         {"denoising_strength", 0.3}, {"some_field_a1111_has", true}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(a.body["images"].size(), 2u);

  const json& p = a.body["parameters"];
  EXPECT_EQ(p["prompt"], "a red circle");
  EXPECT_EQ(p["negative_prompt"], "blurry");
  EXPECT_EQ(p["seed"], 11);
  EXPECT_EQ(p["steps"], 4);
  EXPECT_EQ(p["cfg_scale"], 5.0);
  EXPECT_EQ(p["width"], 64);
  EXPECT_EQ(p["height"], 64);
  EXPECT_EQ(p["sampler_name"], "Euler a");
  EXPECT_EQ(p["batch_size"], 2);

  const json info = json::parse(a.body["info"].get<std::string>());
  EXPECT_EQ(info["seed"], 11);
  EXPECT_EQ(info["all_seeds"], json({11, 12}));
  EXPECT_EQ(info["prompt"], "a red circle");
  EXPECT_EQ(info["sampler_name"], "Euler a");
  EXPECT_EQ(info["steps"], 4);
  EXPECT_EQ(info["cfg_scale"], 5.0);
  EXPECT_EQ(info["width"], 64);
  ASSERT_EQ(info["infotexts"].size(), 2u);
  EXPECT_EQ(info["interrupted"], false);

  GenerateOptions o;
  o.prompt = "a red circle";
  o.negative_prompt = "blurry";
  o.steps = 4;
  o.cfg_scale = 5;
  o.width = o.height = 64;
  o.sampler = "euler_a";
  for (int i = 0; i < 2; ++i) {
    const Image image = decode(a.body["images"][size_t(i)]);
    const GenerationParameters read = parameters_of(a.body["images"][size_t(i)]);
    EXPECT_EQ(read.seed, 11 + i);
    EXPECT_EQ(read.steps, 4);
    EXPECT_EQ(read.sampler, "Euler a");
    EXPECT_EQ(read.prompt, "a red circle");
    EXPECT_EQ(read.negative_prompt, "blurry");
    EXPECT_EQ(read.model, "model.safetensors");
    EXPECT_EQ(format_parameters(read), info["infotexts"][size_t(i)].get<std::string>());
    o.seed = 11 + i;
    const Image expected = generate(tiny_model(), o).image;
    ASSERT_EQ(image.width, 64);
    ASSERT_EQ(image.height, 64);
    EXPECT_EQ(image.rgb, expected.rgb) << "image " << i << " differs from the pipeline's for the same options";
  }
}

TEST_F(ServerApi, SamplerNamesAndSchedulersMapToTheSameGeneration) {
  const json base{{"prompt", "x"}, {"seed", 3}, {"steps", 3}, {"width", 64}, {"height", 64}};
  json karras_name = base, karras_scheduler = base;
  karras_name["sampler_name"] = "DPM++ 2M Karras";
  karras_scheduler["sampler_name"] = "dpmpp_2m";
  karras_scheduler["scheduler"] = "Karras";
  const Answer a = post(*server_, "/sdapi/v1/txt2img", karras_name), b = post(*server_, "/sdapi/v1/txt2img", karras_scheduler);
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(b.status, 200) << b.body.dump();
  EXPECT_EQ(a.body["images"], b.body["images"]);
  EXPECT_EQ(a.body["parameters"]["scheduler"], "Karras");
}

// stable-diffusion.cpp's names read through the same table; A1111's Clip skip setting applies to
// this SD 1.x model and is written into the infotext.
TEST_F(ServerApi, SdCppNamesAndClipSkipOverride) {
  const json base{{"prompt", "x"}, {"seed", 3}, {"steps", 3}, {"width", 64}, {"height", 64}};
  json sdcpp = base, a1111 = base, skip = base;
  sdcpp["sampler_name"] = "dpm++2m";
  sdcpp["scheduler"] = "karras";
  a1111["sampler_name"] = "DPM++ 2M Karras";
  skip["sampler_name"] = "DPM++ 2M Karras";
  skip["override_settings"] = {{"CLIP_stop_at_last_layers", 2}};
  const Answer a = post(*server_, "/sdapi/v1/txt2img", sdcpp), b = post(*server_, "/sdapi/v1/txt2img", a1111),
               c = post(*server_, "/sdapi/v1/txt2img", skip);
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(b.status, 200) << b.body.dump();
  ASSERT_EQ(c.status, 200) << c.body.dump();
  EXPECT_EQ(a.body["images"], b.body["images"]);
  EXPECT_NE(c.body["images"], b.body["images"]) << "CLIP_stop_at_last_layers 2 changed nothing";
  EXPECT_NE(json::parse(c.body["info"].get<std::string>())["infotexts"][0].get<std::string>().find("Clip skip: 2"),
            std::string::npos)
      << c.body["info"];
  json bad = base;
  bad["override_settings"] = {{"CLIP_stop_at_last_layers", 13}};
  const Answer refused = post(*server_, "/sdapi/v1/txt2img", bad);
  EXPECT_EQ(refused.status, 400) << refused.body.dump();
  EXPECT_EQ(refused.body["field"], "override_settings") << refused.body.dump();
}

// A1111's hires fields become the pipeline's hires fix; bad values are 400s naming the field.
TEST_F(ServerApi, Txt2ImgHiresFixFields) {
  const json body{{"prompt", "x"}, {"seed", 3}, {"steps", 2}, {"cfg_scale", 5}, {"width", 64}, {"height", 64},
                  {"sampler_name", "Euler"}, {"enable_hr", true}, {"hr_scale", 2}, {"hr_upscaler", "Latent (nearest)"},
                  {"hr_second_pass_steps", 3}, {"denoising_strength", 0.5}};
  const Answer a = post(*server_, "/sdapi/v1/txt2img", body);
  ASSERT_EQ(a.status, 200) << a.body.dump();
  GenerateOptions o;
  o.prompt = "x";
  o.seed = 3, o.steps = 2, o.cfg_scale = 5, o.width = o.height = 64, o.sampler = "euler";
  o.hires = HiresFix{2.0, 0.5, 3, HiresUpscaler::LatentNearest};
  const Image image = decode(a.body["images"][0]);
  EXPECT_EQ(image.width, 128);
  EXPECT_EQ(image.rgb, generate(tiny_model(), o).image.rgb);
  EXPECT_EQ(parameters_of(a.body["images"][0]).strength, 0.5);
  EXPECT_EQ(a.body["parameters"]["hr_upscaler"], "Latent (nearest)");
  const std::vector<std::pair<json, std::string>> bad{
      {{{"hr_scale", 8}}, "hr_scale"},           {{{"denoising_strength", 2}}, "denoising_strength"},
      {{{"hr_upscaler", "R-ESRGAN 4x+"}}, "hr_upscaler"}, {{{"enable_hr", "yes"}}, "enable_hr"},
      {{{"hr_second_pass_steps", -1}}, "hr_second_pass_steps"}, {{{"width", 512}, {"height", 512}, {"hr_scale", 4}}, "hr_scale"}};
  for (const auto& [change, field] : bad) {
    json request = body;
    request.update(change);
    const Answer refused = post(*server_, "/sdapi/v1/txt2img", request);
    EXPECT_EQ(refused.status, 400) << request.dump();
    EXPECT_EQ(refused.body["field"], field) << refused.body.dump();
  }
}

TEST_F(ServerApi, Img2ImgTakesABase64PngAndResizesIt) {
  Image init{48, 32, std::vector<uint8_t>(48 * 32 * 3)};
  for (size_t i = 0; i < init.rgb.size(); ++i) init.rgb[i] = uint8_t(i * 7);
  const std::string png = "data:image/png;base64," + server::base64_encode(encode_png(init));
  const Answer a = post(*server_, "/sdapi/v1/img2img",
                        {{"prompt", "a blue square"}, {"init_images", {png}}, {"denoising_strength", 0.5}, {"seed", 5},
                         {"steps", 4}, {"width", 64}, {"height", 64}, {"sampler_name", "DDIM"}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(a.body["images"].size(), 1u);
  EXPECT_EQ(a.body["parameters"]["denoising_strength"], 0.5);
  EXPECT_EQ(parameters_of(a.body["images"][0]).strength, 0.5);

  GenerateOptions o;
  o.prompt = "a blue square";
  o.seed = 5;
  o.steps = 4;
  o.cfg_scale = 7.5;  // the model's default: the request names none
  o.width = o.height = 64;
  o.sampler = "ddim";
  o.strength = 0.5;
  o.init_image = resize_image(init, 64, 64);
  EXPECT_EQ(decode(a.body["images"][0]).rgb, generate(tiny_model(), o).image.rgb);

  const Answer missing = post(*server_, "/sdapi/v1/img2img", {{"prompt", "x"}, {"width", 64}, {"height", 64}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.body["field"], "init_images");
}

TEST_F(ServerApi, BadRequestsNameTheField) {
  const json good{{"prompt", "x"}, {"steps", 2}, {"width", 64}, {"height", 64}};
  const std::vector<std::pair<json, std::string>> cases{
      {{{"width", 100}}, "width"},          {{{"height", -64}}, "height"},      {{{"steps", 0}}, "steps"},
      {{{"steps", 5000}}, "steps"},         {{{"steps", 2.5}}, "steps"},        {{{"steps", "20"}}, "steps"},
      {{{"seed", "abc"}}, "seed"},          {{{"cfg_scale", "x"}}, "cfg_scale"}, {{{"sampler_name", "Nope"}}, "sampler_name"},
      {{{"scheduler", "Exponential"}}, "scheduler"}, {{{"sampler_name", "Euler a"}, {"scheduler", "Karras"}}, "scheduler"}, {{{"batch_size", 100}}, "batch_size"}, {{{"prompt", 5}}, "prompt"},
      {{{"width", 8192}, {"height", 8192}}, "width"},
  };
  for (const auto& [change, field] : cases) {
    json body = good;
    body.update(change);
    const Answer a = post(*server_, "/sdapi/v1/txt2img", body);
    EXPECT_EQ(a.status, 400) << body.dump();
    EXPECT_EQ(a.body["field"], field) << a.body.dump();
    EXPECT_FALSE(a.body["detail"].get<std::string>().empty());
  }
  auto c = client(*server_);
  const auto broken = c.Post("/sdapi/v1/txt2img", "{\"prompt\": ", "application/json");
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 400);
  EXPECT_NE(broken->body.find("not valid JSON"), std::string::npos);
  const Answer bad_image = post(*server_, "/sdapi/v1/img2img", {{"prompt", "x"}, {"init_images", {"@@@"}}, {"width", 64}, {"height", 64}});
  EXPECT_EQ(bad_image.status, 400);
  EXPECT_EQ(bad_image.body["field"], "init_images");
}

TEST_F(ServerApi, ProgressMovesWithAPreviewAndInterruptReturnsWhatWasMade) {
  auto job = std::async(std::launch::async, [] {
    return post(*server_, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"seed", 1}, {"steps", 1000}, {"width", 64}, {"height", 64}, {"sampler_name", "Euler"}});
  });
  const json first = wait_for_step(*server_, 2);
  const json later = wait_for_step(*server_, first["state"]["sampling_step"].get<int>() + 3);
  EXPECT_GT(first["progress"].get<double>(), 0.0);
  EXPECT_LT(first["progress"].get<double>(), later["progress"].get<double>());
  EXPECT_LE(later["progress"].get<double>(), 1.0);
  EXPECT_GT(later["eta_relative"].get<double>(), 0.0);
  EXPECT_EQ(later["state"]["sampling_steps"], 1000);
  EXPECT_EQ(later["state"]["job_count"], 1);
  const Image preview = decode(later["current_image"]);
  EXPECT_EQ(preview.width, 8);  // one pixel per latent pixel
  EXPECT_TRUE(get(*server_, "/sdapi/v1/progress?skip_current_image=true").body["current_image"].is_null());

  ASSERT_EQ(post(*server_, "/sdapi/v1/interrupt", json::object()).status, 200);
  const Answer a = job.get();
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_EQ(a.body["images"].size(), 1u);
  EXPECT_EQ(decode(a.body["images"][0]).width, 64);
  EXPECT_EQ(json::parse(a.body["info"].get<std::string>())["interrupted"], true);

  const json idle = get(*server_, "/sdapi/v1/progress").body;
  EXPECT_EQ(idle["progress"], 0.0);
  EXPECT_EQ(idle["state"]["job_count"], 0);
}

TEST_F(ServerApi, SkipFinishesTheCurrentImageAndGoesOn) {
  auto job = std::async(std::launch::async, [] {
    return post(*server_, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"seed", 1}, {"steps", 60}, {"width", 64}, {"height", 64}, {"batch_size", 2}, {"sampler_name", "Euler"}});
  });
  wait_for_step(*server_, 2);
  ASSERT_EQ(post(*server_, "/sdapi/v1/skip", json::object()).status, 200);
  const Answer a = job.get();
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["images"].size(), 2u);
  EXPECT_EQ(json::parse(a.body["info"].get<std::string>())["interrupted"], false);
}

TEST_F(ServerApi, OpenAIGenerationsAndModels) {
  const Answer a = post(*server_, "/v1/images/generations",
                        {{"model", "dall-e-3"}, {"prompt", "a cat"}, {"n", 2}, {"size", "64x64"}, {"response_format", "b64_json"}, {"steps", 3}});
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_TRUE(a.body["created"].is_number_integer());
  ASSERT_EQ(a.body["data"].size(), 2u);
  for (const json& d : a.body["data"]) {
    EXPECT_EQ(decode(d["b64_json"]).width, 64);
    EXPECT_EQ(d["revised_prompt"], "a cat");
  }
  EXPECT_NE(parameters_of(a.body["data"][0]["b64_json"]).seed, 0);

  const Answer url = post(*server_, "/v1/images/generations", {{"prompt", "a cat"}, {"response_format", "url"}});
  EXPECT_EQ(url.status, 400);
  EXPECT_EQ(url.body["error"]["param"], "response_format");
  EXPECT_EQ(url.body["error"]["type"], "invalid_request_error");
  EXPECT_FALSE(url.body["error"]["message"].get<std::string>().empty());
  EXPECT_TRUE(url.body["error"].contains("code"));

  const Answer size = post(*server_, "/v1/images/generations", {{"prompt", "a cat"}, {"size", "big"}});
  EXPECT_EQ(size.status, 400);
  EXPECT_EQ(size.body["error"]["param"], "size");
  EXPECT_EQ(post(*server_, "/v1/images/generations", {{"size", "64x64"}}).body["error"]["param"], "prompt");

  const json models = get(*server_, "/v1/models").body;
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "model.safetensors");
  EXPECT_EQ(models["data"][0]["object"], "model");
}

TEST_F(ServerApi, OpenAIEditsRunImg2ImgOnTheUploadedPng) {
  Image init{64, 64, std::vector<uint8_t>(64 * 64 * 3, 200)};
  httplib::MultipartFormDataItems form{{"image", encode_png(init), "in.png", "image/png"},
                                       {"prompt", "a green star", "", ""},
                                       {"n", "1", "", ""},
                                       {"seed", "9", "", ""},
                                       {"steps", "4", "", ""}};
  auto c = client(*server_);
  const auto res = c.Post("/v1/images/edits", form);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json body = json::parse(res->body);
  ASSERT_EQ(body["data"].size(), 1u);
  const GenerationParameters p = parameters_of(body["data"][0]["b64_json"]);
  EXPECT_EQ(p.prompt, "a green star");
  EXPECT_EQ(p.seed, 9);
  EXPECT_EQ(p.strength, 0.75);

  httplib::MultipartFormDataItems masked = form;
  masked.push_back({"mask", encode_png(init), "mask.png", "image/png"});
  const auto refused = c.Post("/v1/images/edits", masked);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(json::parse(refused->body)["error"]["param"], "mask");
  const auto not_png = c.Post("/v1/images/edits", httplib::MultipartFormDataItems{{"image", "GIF89a...", "a.gif", "image/gif"}, {"prompt", "x", "", ""}});
  ASSERT_TRUE(not_png);
  EXPECT_EQ(not_png->status, 400);
  EXPECT_EQ(json::parse(not_png->body)["error"]["param"], "image");
}

// LoRA tags in a request: refused by a server without a LoRA folder, an empty list of LoRAs.
TEST_F(ServerApi, LoraTagsNeedALoraFolder) {
  const Answer a = post(*server_, "/sdapi/v1/txt2img", {{"prompt", "x <lora:sd1_kohya:0.8>"}, {"steps", 2}, {"width", 64}, {"height", 64}});
  EXPECT_EQ(a.status, 400) << a.body.dump();
  EXPECT_EQ(a.body["field"], "prompt");
  EXPECT_NE(a.body["detail"].get<std::string>().find("--lora-model-dir"), std::string::npos) << a.body.dump();
  const Answer openai = post(*server_, "/v1/images/generations", {{"prompt", "x"}, {"negative_prompt", "<lora:sd1_kohya>"}, {"size", "64x64"}});
  EXPECT_EQ(openai.status, 400) << openai.body.dump();
  EXPECT_EQ(openai.body["error"]["param"], "negative_prompt");
  EXPECT_EQ(get(*server_, "/sdapi/v1/loras").body, json::array());
}

// A server with --lora-model-dir on the LoRA fixtures (sd1_kohya fits the tiny SD1 model; sdxl_kohya does not).
class ServerLora : public ServerApi {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(server_args({"--lora-model-dir", testing::fixture("lora")})); }

  static int reloads() {
    const std::string log = server_->log();
    int n = 0;
    for (size_t at = log.find("model: reloaded"); at != std::string::npos; at = log.find("model: reloaded", at + 1)) ++n;
    return n;
  }
};

GenerateOptions lora_options(const std::string& prompt) {
  GenerateOptions o;
  o.prompt = prompt;
  o.seed = 7;
  o.steps = 4;
  o.cfg_scale = 5;
  o.width = o.height = 64;
  o.sampler = "euler";
  return o;
}

json lora_request(const std::string& prompt) {
  return {{"prompt", prompt}, {"seed", 7}, {"steps", 4}, {"cfg_scale", 5}, {"width", 64}, {"height", 64}, {"sampler_name", "Euler"}};
}

TEST_F(ServerLora, ATagMergesItsLoraAndARequestWithoutGoesBackToThePlainModel) {
  const std::string lora = testing::fixture("lora/sd1_kohya.safetensors");
  LoadOptions load;
  load.loras = {{lora, 0.8, 0.8}};
  const auto merged = StableDiffusion::load(testing::fixture("sd1-tiny/model.safetensors"), load);
  // The tag is cut out as `generate` cuts it, the space before it kept.
  const Image with_lora = generate(*merged, lora_options("a red circle ")).image;
  const Image plain = generate(tiny_model(), lora_options("a red circle ")).image;
  ASSERT_NE(with_lora.rgb, plain.rgb) << "the LoRA changes nothing: the test could not tell";

  const int reloads_before = reloads();
  const Answer a = post(*server_, "/sdapi/v1/txt2img", lora_request("a red circle <lora:sd1_kohya:0.8>"));
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(decode(a.body["images"][0]).rgb, with_lora.rgb) << "not the image of the model with sd1_kohya merged at 0.8";
  const GenerationParameters p = parameters_of(a.body["images"][0]);
  EXPECT_EQ(p.prompt, "a red circle <lora:sd1_kohya:0.8>");
  const std::pair<std::string, std::string> hashes{"Lora hashes", "sd1_kohya: " + lora_short_hash(lora)};
  EXPECT_NE(std::ranges::find(p.extra, hashes), p.extra.end()) << format_parameters(p);
  EXPECT_EQ(a.body["parameters"]["prompt"], "a red circle <lora:sd1_kohya:0.8>");
  EXPECT_EQ(json::parse(a.body["info"].get<std::string>())["prompt"], "a red circle <lora:sd1_kohya:0.8>");
  EXPECT_EQ(reloads(), reloads_before + 1) << server_->log();

  // The same set again: the held model, no reload.
  const Answer again = post(*server_, "/sdapi/v1/txt2img", lora_request("<lora:sd1_kohya:0.8>a red circle "));
  ASSERT_EQ(again.status, 200) << again.body.dump();
  EXPECT_EQ(decode(again.body["images"][0]).rgb, with_lora.rgb);
  EXPECT_EQ(reloads(), reloads_before + 1) << server_->log();

  // In the negative prompt the tag asks for the same model; the rest of it is encoded.
  json negative = lora_request("a red circle ");
  negative["negative_prompt"] = "blurry<lora:sd1_kohya:0.8>";
  GenerateOptions negative_options = lora_options("a red circle ");
  negative_options.negative_prompt = "blurry";
  const Answer n = post(*server_, "/sdapi/v1/txt2img", negative);
  ASSERT_EQ(n.status, 200) << n.body.dump();
  EXPECT_EQ(decode(n.body["images"][0]).rgb, generate(*merged, negative_options).image.rgb);
  EXPECT_EQ(parameters_of(n.body["images"][0]).negative_prompt, "blurry<lora:sd1_kohya:0.8>");

  const Answer b = post(*server_, "/sdapi/v1/txt2img", lora_request("a red circle "));
  ASSERT_EQ(b.status, 200) << b.body.dump();
  EXPECT_EQ(decode(b.body["images"][0]).rgb, plain.rgb) << "a request without tags kept the LoRA";
  const GenerationParameters plain_record = parameters_of(b.body["images"][0]);
  EXPECT_TRUE(std::ranges::none_of(plain_record.extra, [](const auto& f) { return f.first == "Lora hashes"; }));
  EXPECT_EQ(reloads(), reloads_before + 2) << server_->log();

  // OpenAI's endpoint reads the same tags.
  const Answer o = post(*server_, "/v1/images/generations",
                        {{"prompt", "a red circle <lora:sd1_kohya:0.8>"}, {"size", "64x64"}, {"seed", 7}, {"steps", 4},
                         {"cfg_scale", 5}, {"sampler_name", "Euler"}});
  ASSERT_EQ(o.status, 200) << o.body.dump();
  EXPECT_EQ(decode(o.body["data"][0]["b64_json"]).rgb, with_lora.rgb);
  EXPECT_EQ(o.body["data"][0]["revised_prompt"], "a red circle <lora:sd1_kohya:0.8>");
}

TEST_F(ServerLora, BadTagsAre400sNamingTheProblem) {
  std::vector<std::tuple<json, std::string, std::string>> cases{
      {{{"prompt", "x <lora:absent:0.8>"}}, "prompt", "no absent.safetensors"},
      {{{"prompt", "x <lora:sd1_kohya:strong>"}}, "prompt", "'strong' is not a number"},
      {{{"prompt", "x <lora:../lora/sd1_kohya:1>"}}, "prompt", "not a path"},
      {{{"prompt", "x <hypernet:anime:1>"}}, "prompt", "is not supported"},
      {{{"prompt", "x"}, {"negative_prompt", "<lora:missing>"}}, "negative_prompt", "no missing.safetensors"},
  };
  std::string many;
  for (int i = 0; i < 33; ++i) many += "<lora:sd1_kohya:0.1>";
  cases.push_back({{{"prompt", many}}, "prompt", "at most 32 LoRA tags"});
  for (const auto& [change, field, message] : cases) {
    json body{{"steps", 2}, {"width", 64}, {"height", 64}};
    body.update(change);
    const Answer a = post(*server_, "/sdapi/v1/txt2img", body);
    EXPECT_EQ(a.status, 400) << body.dump();
    EXPECT_EQ(a.body["field"], field) << a.body.dump();
    EXPECT_NE(a.body["detail"].get<std::string>().find(message), std::string::npos) << a.body.dump();
  }
  // A LoRA of another family matches no layer: the loader's error, as a 400; the server goes on.
  const Answer other = post(*server_, "/sdapi/v1/txt2img", lora_request("x <lora:sdxl_kohya:1>"));
  EXPECT_EQ(other.status, 400) << other.body.dump();
  EXPECT_NE(other.body["detail"].get<std::string>().find("keys matched no layer"), std::string::npos) << other.body.dump();
  const Answer after = post(*server_, "/sdapi/v1/txt2img", lora_request("a red circle "));
  ASSERT_EQ(after.status, 200) << after.body.dump();
  EXPECT_EQ(decode(after.body["images"][0]).rgb, generate(tiny_model(), lora_options("a red circle ")).image.rgb);
}

TEST_F(ServerLora, ListsTheFolderAsA1111Does) {
  const Answer a = get(*server_, "/sdapi/v1/loras");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  ASSERT_TRUE(a.body.is_array()) << a.body.dump();
  const auto kohya = std::ranges::find_if(a.body, [](const json& l) { return l["name"] == "sd1_kohya"; });
  ASSERT_NE(kohya, a.body.end()) << a.body.dump();
  EXPECT_EQ((*kohya)["alias"], "sd1_kohya");
  EXPECT_EQ(std::filesystem::path((*kohya)["path"].get<std::string>()),
            std::filesystem::absolute(testing::fixture("lora/sd1_kohya.safetensors")));
  EXPECT_TRUE((*kohya)["metadata"].is_object());
  for (const json& l : a.body) EXPECT_EQ(l.size(), 4u) << l.dump();
  const Answer refresh = post(*server_, "/sdapi/v1/refresh-loras", json::object());
  EXPECT_EQ(refresh.status, 200);
  EXPECT_EQ(get(*server_, "/sdapi/v1/loras").body, a.body);
}

TEST(ServerQueue, AFullQueueAnswers503AndALeavingClientFreesItsPlace) {
  ServerProcess server(server_args({"--queue-size", "1"}));
  const json endless{{"prompt", "x"}, {"steps", 1000}, {"width", 64}, {"height", 64}, {"sampler_name", "Euler"}};
  auto running = std::async(std::launch::async, [&] { return post(server, "/sdapi/v1/txt2img", endless); });
  wait_for_step(server, 1);

  // A client that gives up after a second leaves the queue's one place free again.
  const Answer gave_up = post(server, "/sdapi/v1/txt2img", {{"prompt", "y"}, {"steps", 2}, {"width", 64}, {"height", 64}}, 1);
  EXPECT_EQ(gave_up.status, 0);  // no answer: the client timed out
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (get(server, "/sdapi/v1/progress").body["state"]["job_count"] != 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(get(server, "/sdapi/v1/progress").body["state"]["job_count"], 1) << "the left client's job is still queued";

  auto queued = std::async(std::launch::async, [&] {
    return post(server, "/sdapi/v1/txt2img", {{"prompt", "y"}, {"steps", 2}, {"width", 64}, {"height", 64}});
  });
  while (get(server, "/sdapi/v1/progress").body["state"]["job_count"] != 2 && std::chrono::steady_clock::now() < deadline + 10s)
    std::this_thread::sleep_for(50ms);
  const Answer full = post(server, "/sdapi/v1/txt2img", {{"prompt", "z"}, {"steps", 2}, {"width", 64}, {"height", 64}});
  EXPECT_EQ(full.status, 503);
  EXPECT_FALSE(full.retry_after.empty());
  EXPECT_GE(std::stoi(full.retry_after.empty() ? "0" : full.retry_after), 1);
  EXPECT_NE(full.body["detail"].get<std::string>().find("queue is full"), std::string::npos);
  const Answer openai_full = post(server, "/v1/images/generations", {{"prompt", "z"}, {"size", "64x64"}});
  EXPECT_EQ(openai_full.status, 503);
  EXPECT_EQ(openai_full.body["error"]["type"], "server_error");

  post(server, "/sdapi/v1/interrupt", json::object());
  EXPECT_EQ(running.get().status, 200);
  EXPECT_EQ(queued.get().status, 200);
  EXPECT_NE(server.log().find("cancelled (client gone)"), std::string::npos) << server.log();
}

TEST(ServerShutdown, SigtermFinishesTheRunningJobAndExitsZero) {
  ServerProcess server(server_args());
  auto running = std::async(std::launch::async, [&] {
    return post(server, "/sdapi/v1/txt2img", {{"prompt", "x"}, {"steps", 1000}, {"width", 64}, {"height", 64}, {"sampler_name", "Euler"}});
  });
  wait_for_step(server, 1);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  const Answer a = running.get();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body["images"].size(), 1u);
  const std::string log = server.log();
  EXPECT_NE(log.find("POST /sdapi/v1/txt2img 200"), std::string::npos) << log;
  EXPECT_NE(log.find("job 1: seed"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
}

}  // namespace
}  // namespace diffuse
