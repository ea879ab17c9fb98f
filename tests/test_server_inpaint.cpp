// Inpainting through `diffuse serve`: A1111's img2img `mask` (white = repaint, mask_blur,
// inpainting_mask_invert) and OpenAI's edits `mask` (alpha 0 = repaint; without a mask the image's
// own transparency), each image equal byte for byte to the pipeline's for the same GenerateOptions;
// the 400s that name the field at fault.
#include <png.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "io/image.h"
#include "pipeline/generate.h"
#include "server/base64.h"
#include "server_client.h"
#include "server_process.h"

namespace diffuse {
namespace {

using nlohmann::json;
using testing::Answer;
using testing::client;
using testing::decode;
using testing::parameters_of;
using testing::post;
using testing::server_args;
using testing::SharedServerTest;
using testing::ServerProcess;
using testing::tiny_model;

// A PNG with an alpha channel (encode_png writes RGB only): `rgba` is width x height x 4.
std::string rgba_png(int width, int height, const std::vector<uint8_t>& rgba) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = png_uint_32(width);
  image.height = png_uint_32(height);
  image.format = PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, rgba.data(), 0, nullptr)) ADD_FAILURE() << image.message;
  std::string png(size, '\0');
  if (!png_image_write_to_memory(&image, png.data(), &size, 0, rgba.data(), 0, nullptr)) ADD_FAILURE() << image.message;
  png.resize(size);
  return png;
}

// A patterned init image, so that every region of it differs.
Image pattern(int width, int height) {
  Image image{width, height, std::vector<uint8_t>(size_t(width) * height * 3)};
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = uint8_t(i * 7 + i / 97);
  return image;
}

// A1111's convention: white (repaint) where x < width / 2 and y >= height / 4, black elsewhere.
Image half_mask(int width, int height) {
  Image mask{width, height, std::vector<uint8_t>(size_t(width) * height * 3, 0)};
  for (int y = height / 4; y < height; ++y)
    for (int x = 0; x < width / 2; ++x)
      for (int c = 0; c < 3; ++c) mask.rgb[(size_t(y) * width + x) * 3 + c] = 255;
  return mask;
}

// `mask` (A1111's convention) as OpenAI's: alpha 0 where white, 255 elsewhere; the colour
// channels carry `rgb` (OpenAI reads only the alpha).
std::vector<uint8_t> openai_rgba(const Image& rgb, const Image& mask) {
  std::vector<uint8_t> rgba(size_t(mask.width) * mask.height * 4);
  for (size_t i = 0; i < size_t(mask.width) * mask.height; ++i) {
    for (int c = 0; c < 3; ++c) rgba[4 * i + c] = rgb.rgb[3 * i + c];
    rgba[4 * i + 3] = mask.rgb[3 * i] == 255 ? 0 : 255;
  }
  return rgba;
}

std::string data_url(const std::string& png) { return "data:image/png;base64," + server::base64_encode(png); }

GenerateOptions options(const Image& init, int seed) {
  GenerateOptions o;
  o.prompt = "a wooden boat";
  o.seed = seed;
  o.steps = 4;
  o.cfg_scale = 5;
  o.width = o.height = 64;
  o.sampler = "ddim";
  o.strength = 0.75;
  o.init_image = resize_image(init, 64, 64);
  return o;
}

class ServerInpaint : public SharedServerTest {
 protected:
  static json a1111_request(const Image& init) {
    return {{"prompt", "a wooden boat"}, {"init_images", {data_url(encode_png(init))}}, {"seed", 5}, {"steps", 4},
            {"cfg_scale", 5}, {"width", 64}, {"height", 64}, {"sampler_name", "DDIM"}};
  }

  static httplib::MultipartFormDataItems edit_form(const std::string& image_png) {
    return {{"image", image_png, "in.png", "image/png"}, {"prompt", "a wooden boat", "", ""}, {"seed", "9", "", ""},
            {"steps", "4", "", ""}, {"cfg_scale", "5", "", ""}, {"sampler_name", "DDIM", "", ""}};
  }

  static Answer edit(const httplib::MultipartFormDataItems& form) {
    auto c = client(*server_);
    const auto res = c.Post("/v1/images/edits", form);
    if (!res) return {};
    return {res->status, json::parse(res->body, nullptr, false), ""};
  }
};

// The mask of another size than the init image and the output (48x32, resized as the init image
// is); mask_blur, inpainting_mask_invert and denoising_strength as A1111 names them.
TEST_F(ServerInpaint, A1111MaskIsThePipelinesInpainting) {
  const Image init = pattern(48, 32), mask = half_mask(48, 32);
  json plain = a1111_request(init);
  plain["denoising_strength"] = 0.6;
  json masked = plain;
  masked["mask"] = data_url(encode_png(mask));
  json inverted = masked;
  inverted["mask"] = server::base64_encode(encode_png(mask));  // without the data: prefix too
  inverted["mask_blur"] = 2;
  inverted["inpainting_mask_invert"] = 1;

  const Answer p = post(*server_, "/sdapi/v1/img2img", plain), m = post(*server_, "/sdapi/v1/img2img", masked),
               i = post(*server_, "/sdapi/v1/img2img", inverted);
  ASSERT_EQ(p.status, 200) << p.body.dump();
  ASSERT_EQ(m.status, 200) << m.body.dump();
  ASSERT_EQ(i.status, 200) << i.body.dump();

  GenerateOptions o = options(init, 5);
  o.strength = 0.6;
  const Image plain_image = generate(tiny_model(), o).image;
  o.mask = mask;  // at its own size: the pipeline blurs, then resizes it
  const Image masked_image = generate(tiny_model(), o).image;
  o.mask_blur = 2;
  o.invert_mask = true;
  const Image inverted_image = generate(tiny_model(), o).image;
  ASSERT_NE(masked_image.rgb, plain_image.rgb) << "the mask changes nothing: the test could not tell";
  ASSERT_NE(inverted_image.rgb, masked_image.rgb) << "inverting changes nothing: the test could not tell";

  EXPECT_EQ(decode(p.body["images"][0]).rgb, plain_image.rgb);
  EXPECT_EQ(decode(m.body["images"][0]).rgb, masked_image.rgb) << "not the pipeline's inpainting with mask_blur 4";
  EXPECT_EQ(decode(i.body["images"][0]).rgb, inverted_image.rgb) << "not the pipeline's inverted inpainting with mask_blur 2";

  EXPECT_EQ(m.body["parameters"]["mask_blur"], 4);
  EXPECT_EQ(m.body["parameters"]["inpainting_mask_invert"], 0);
  EXPECT_EQ(i.body["parameters"]["mask_blur"], 2);
  EXPECT_EQ(i.body["parameters"]["inpainting_mask_invert"], 1);
  EXPECT_FALSE(p.body["parameters"].contains("mask_blur"));
  const GenerationParameters recorded = parameters_of(i.body["images"][0]);
  EXPECT_EQ(recorded.strength, 0.6);
  const auto has = [&recorded](const char* key, const char* value) {
    return std::ranges::find(recorded.extra, std::pair<std::string, std::string>{key, value}) != recorded.extra.end();
  };
  EXPECT_TRUE(has("Mask blur", "2")) << format_parameters(recorded);
  EXPECT_TRUE(has("Mask mode", "Inpaint not masked")) << format_parameters(recorded);

  // A boolean invert, as some clients send it, means the same.
  json boolean = inverted;
  boolean["inpainting_mask_invert"] = true;
  const Answer b = post(*server_, "/sdapi/v1/img2img", boolean);
  ASSERT_EQ(b.status, 200) << b.body.dump();
  EXPECT_EQ(decode(b.body["images"][0]).rgb, inverted_image.rgb);
}

// OpenAI's mask: transparent = edited; the same image as A1111's white-means-repaint mask.
TEST_F(ServerInpaint, OpenAIMaskAlphaZeroIsRepainted) {
  const Image init = pattern(64, 64), mask = half_mask(64, 64);
  httplib::MultipartFormDataItems form = edit_form(encode_png(init));
  const Answer plain = edit(form);
  form.push_back({"mask", rgba_png(64, 64, openai_rgba(pattern(64, 64), mask)), "mask.png", "image/png"});
  const Answer masked = edit(form);
  ASSERT_EQ(plain.status, 200) << plain.body.dump();
  ASSERT_EQ(masked.status, 200) << masked.body.dump();

  GenerateOptions o = options(init, 9);
  const Image plain_image = generate(tiny_model(), o).image;
  o.mask = mask;
  const Image masked_image = generate(tiny_model(), o).image;
  ASSERT_NE(masked_image.rgb, plain_image.rgb) << "the mask changes nothing: the test could not tell";
  EXPECT_EQ(decode(plain.body["data"][0]["b64_json"]).rgb, plain_image.rgb);
  EXPECT_EQ(decode(masked.body["data"][0]["b64_json"]).rgb, masked_image.rgb)
      << "not the pipeline's inpainting of the transparent part";

  // diffuse's mask_blur field reaches the edit too.
  form.push_back({"mask_blur", "0", "", ""});
  const Answer sharp = edit(form);
  ASSERT_EQ(sharp.status, 200) << sharp.body.dump();
  o.mask_blur = 0;
  EXPECT_EQ(decode(sharp.body["data"][0]["b64_json"]).rgb, generate(tiny_model(), o).image.rgb);
}

// Without a mask, the image's own fully transparent pixels are edited; an opaque RGBA image is a
// plain img2img.
TEST_F(ServerInpaint, OpenAIImageTransparencyIsTheMaskWhenNoneIsSent) {
  const Image init = pattern(64, 64), mask = half_mask(64, 64);
  const Answer transparent = edit(edit_form(rgba_png(64, 64, openai_rgba(init, mask))));
  ASSERT_EQ(transparent.status, 200) << transparent.body.dump();
  GenerateOptions o = options(init, 9);  // the colours under the transparent pixels are the init image's
  const Image plain_image = generate(tiny_model(), o).image;
  o.mask = mask;
  EXPECT_EQ(decode(transparent.body["data"][0]["b64_json"]).rgb, generate(tiny_model(), o).image.rgb);

  const Answer opaque = edit(edit_form(rgba_png(64, 64, openai_rgba(init, Image{64, 64, std::vector<uint8_t>(64 * 64 * 3, 0)}))));
  ASSERT_EQ(opaque.status, 200) << opaque.body.dump();
  EXPECT_EQ(decode(opaque.body["data"][0]["b64_json"]).rgb, plain_image.rgb);
}

TEST_F(ServerInpaint, A1111BadMasksAre400sNamingTheField) {
  const Image init = pattern(64, 64);
  const std::string mask = data_url(encode_png(half_mask(64, 64)));
  const std::vector<std::pair<json, std::string>> cases{
      {{{"mask", "@@@"}}, "mask"},
      {{{"mask", server::base64_encode("GIF89a not a png")}}, "mask"},
      {{{"mask", 5}}, "mask"},
      {{{"mask", mask}, {"init_images", json::array()}}, "mask"},
      {{{"mask", mask}, {"init_images", nullptr}}, "mask"},
      {{{"mask", mask}, {"mask_blur", -1}}, "mask_blur"},
      {{{"mask", mask}, {"mask_blur", 257}}, "mask_blur"},
      {{{"mask", mask}, {"mask_blur", "4"}}, "mask_blur"},
      {{{"mask", mask}, {"inpainting_mask_invert", 2}}, "inpainting_mask_invert"},
      {{{"mask", mask}, {"denoising_strength", 0}}, "denoising_strength"},
  };
  for (const auto& [change, field] : cases) {
    json body = a1111_request(init);
    body.update(change);
    if (body["init_images"].is_null()) body.erase("init_images");
    const Answer a = post(*server_, "/sdapi/v1/img2img", body);
    EXPECT_EQ(a.status, 400) << change.dump();
    EXPECT_EQ(a.body["field"], field) << change.dump() << " " << a.body.dump();
    EXPECT_FALSE(a.body["detail"].get<std::string>().empty());
  }
  json edge = a1111_request(init);
  edge["mask"] = mask;
  edge["mask_blur"] = 256;  // the top of the range is accepted
  EXPECT_EQ(post(*server_, "/sdapi/v1/img2img", edge).status, 200);
}

TEST_F(ServerInpaint, OpenAIBadMasksAre400sNamingTheField) {
  const Image init = pattern(64, 64);
  const std::string image = encode_png(init);
  const auto with_mask = [&](const std::string& png, httplib::MultipartFormDataItems extra = {}) {
    httplib::MultipartFormDataItems form = edit_form(image);
    form.push_back({"mask", png, "mask.png", "image/png"});
    form.insert(form.end(), extra.begin(), extra.end());
    return form;
  };
  const std::string good_mask = rgba_png(64, 64, openai_rgba(init, half_mask(64, 64)));
  const std::vector<std::tuple<std::string, httplib::MultipartFormDataItems, std::string, std::string>> cases{
      {"no alpha", with_mask(encode_png(half_mask(64, 64))), "mask", "must have an alpha channel: transparent pixels are edited"},
      {"other size", with_mask(rgba_png(32, 64, std::vector<uint8_t>(32 * 64 * 4, 0))), "mask", "same dimensions"},
      {"not a PNG", with_mask("GIF89a not a png"), "mask", "not a PNG"},
      {"mask_blur 300", with_mask(good_mask, {{"mask_blur", "300", "", ""}}), "mask_blur", "between 0 and 256"},
      {"no image", {{"mask", good_mask, "mask.png", "image/png"}, {"prompt", "x", "", ""}}, "image", "mask"},
  };
  for (const auto& [name, form, param, message] : cases) {
    const Answer a = edit(form);
    EXPECT_EQ(a.status, 400) << name;
    EXPECT_EQ(a.body["error"]["param"], param) << name << ": " << a.body.dump();
    EXPECT_EQ(a.body["error"]["type"], "invalid_request_error") << name;
    EXPECT_NE(a.body["error"]["message"].get<std::string>().find(message), std::string::npos) << name << ": " << a.body.dump();
  }
}

}  // namespace
}  // namespace diffuse
