#include "hostile_requests.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <tuple>
#include <utility>

#include "io/image.h"
#include "raw_http.h"
#include "server/base64.h"

namespace diffuse::testing {
namespace {

using nlohmann::json;

// A JSON object written out from (field, raw JSON text) pairs, so that a value can be anything,
// numbers JSON cannot hold and bytes that are not UTF-8 included.
using Fields = std::vector<std::pair<std::string, std::string>>;

std::string object_text(const Fields& fields) {
  std::string s = "{";
  for (const auto& [k, v] : fields) s += (s.size() > 1 ? "," : "") + ("\"" + k + "\":" + v);
  return s + "}";
}

Fields with(Fields fields, const std::string& field, const std::string& value) {
  for (auto& [k, v] : fields)
    if (k == field) {
      v = value;
      return fields;
    }
  fields.emplace_back(field, value);
  return fields;
}

std::string quoted(const std::string& s) { return json(s).dump(); }

std::string tiny_png(int width = 64, int height = 64) {
  Image image{width, height, std::vector<uint8_t>(size_t(width) * height * 3)};
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = uint8_t(i * 7);
  return encode_png(image);
}

// The fields and the values each must refuse, as raw JSON text. None of these values is valid
// for its field (a valid one would queue a generation and answer 200, which the test reports).
const std::vector<std::string> kNotNumbers{"\"64\"", "true", "false", "[]", "{}", "[64]", "{\"a\":1}", "\"\""};
const std::vector<std::string> kNotJsonNumbers{"1e400", "-1e400", "NaN", "Infinity", "-Infinity", "0x40", "+64", "064", ".5", "5.", "1e", "--1"};
const std::vector<std::string> kHugeIntegers{"1180591620717411303424",   // 2^70
                                             "-1180591620717411303424", "1e20", "-1e20", "18446744073709551616",
                                             "9223372036854775807", "-9223372036854775808", "1.5", "1e300", "-1e300"};
const std::vector<std::string> kNotStrings{"5", "-1", "1.5", "true", "false", "[]", "{}", "[\"a\"]", "{\"a\":\"b\"}", "1e400"};
const std::vector<std::string> kInvalidUtf8{"\"\xff\"", "\"a\xfe\xff\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xe2\x82\"",
                                            "\"\xf4\x90\x80\x80\"", "\"\x80\"", "\"\\ud800\"", "\"\\udc00x\"", "\"\\ud800\\u0041\"",
                                            "\"a\x01\x02\"", "\"\t\"", "\"\\x41\"", "\"\\u12\""};

std::vector<std::pair<std::string, std::vector<std::string>>> a1111_field_values(bool img2img) {
  auto ints = [](std::vector<std::string> specific) {
    for (const auto* list : {&kNotNumbers, &kNotJsonNumbers, &kHugeIntegers}) specific.insert(specific.end(), list->begin(), list->end());
    return specific;
  };
  auto numbers = [](std::vector<std::string> specific) {
    for (const auto* list : {&kNotNumbers, &kNotJsonNumbers}) specific.insert(specific.end(), list->begin(), list->end());
    return specific;
  };
  auto strings = [](std::vector<std::string> specific) {
    for (const auto* list : {&kNotStrings, &kInvalidUtf8}) specific.insert(specific.end(), list->begin(), list->end());
    return specific;
  };
  // NUL is valid JSON but cannot go into the PNG's parameters text.
  const std::vector<std::string> nul_prompts{"\"\\u0000\"", "\"a\\u0000b\""};
  const std::vector<std::string> bad_samplers{"\"nope\"", "\"DPM++ 3M SDE\"", "\"../../etc/passwd\"", "\"\\u0000\"", "\"%s%n%s\"",
                                              "\"k_\"", "\"Euler a Karras x\"", quoted(std::string(10000, 'x'))};
  std::vector<std::pair<std::string, std::vector<std::string>>> v{
      {"prompt", strings(nul_prompts)},
      {"negative_prompt", strings(nul_prompts)},
      {"seed", ints({"-2", "281474976710656", "-1000000"})},
      {"steps", ints({"0", "-1", "51", "1000", "2147483648", "-2147483649"})},
      {"cfg_scale", numbers({"-1", "101", "1e308", "-1e308", "100.5", "-0.0001"})},
      {"width", ints({"0", "-64", "65", "63", "7", "100", "8192", "2147483640", "-2147483648"})},
      {"height", ints({"0", "-64", "65", "63", "7", "100", "8192", "2147483640", "-2147483648"})},
      {"sampler_name", strings(bad_samplers)},
      {"sampler_index", strings(bad_samplers)},
      {"scheduler", strings({"\"exponential\"", "\"karras \"", "\"\\u0000\"", "\"polyexponential\""})},
      {"batch_size", ints({"0", "-1", "5", "65536", "2147483647"})},
      {"n_iter", ints({"0", "-1", "5", "65536", "2147483647"})},
  };
  if (img2img) {
    const std::string png = server::base64_encode(tiny_png());
    std::string truncated = tiny_png(), corrupt = tiny_png(), huge = tiny_png();
    truncated.resize(truncated.size() / 2);
    corrupt[45] ^= 0x5a;  // inside the compressed pixels
    huge[16] = huge[17] = huge[20] = huge[21] = 0;  // IHDR width and height: 0x0000_4e20 = 20000
    huge[18] = huge[22] = 0x4e;
    huge[19] = huge[23] = 0x20;
    std::mt19937 rng(7);
    std::string random(1000, '\0');
    for (char& c : random) c = char(rng());
    auto b64 = [](const std::string& bytes) { return "[" + quoted(server::base64_encode(bytes)) + "]"; };
    v.push_back({"init_images",
                 {"\"" + png + "\"", "[]", "[5]", "[null]", "[{\"a\":1}]", "[\"\"]", "[\"!!!!\"]", "[\"Q\"]", "[\"QQ\"]", "[\"QQ=\"]",
                  "[\"=====\"]", "[\"data:image/png,abc\"]", "[\"data:image/png;base64,@@@@\"]", "[\"data:;base64,\"]",
                  "[\"data:image/png;base64\"]", "{\"0\":\"" + png + "\"}", "5", "true",
                  "[\"" + png.substr(0, png.size() / 2) + "\\u0000\"]", b64(std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00", 13)),
                  b64(std::string("\xff\xd8\xff\xe0\x00\x10JFIF\x00", 11)), b64("\x89PNG\r\n\x1a\n"), b64(truncated), b64(corrupt), b64(huge),
                  b64(random), b64(std::string(3000, '\0')), "[" + quoted("\n" + png.substr(0, 100) + "\n\t ") + "]"}});
    v.push_back({"denoising_strength", numbers({"0", "-0.5", "1.5", "1.0000001", "0.01", "1e300", "-1e300"})});
    // Inpainting's fields beside a valid init image: none may reach the queue.
    auto b64_string = [](const std::string& bytes) { return quoted(server::base64_encode(bytes)); };
    v.push_back({"mask", strings({"\"\"", "\"!!!!\"", "\"Q\"", "\"data:image/png;base64,@@@@\"", "[\"" + png + "\"]",
                                  b64_string(std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00", 13)),
                                  b64_string(std::string("\xff\xd8\xff\xe0\x00\x10JFIF\x00", 11)), b64_string(truncated),
                                  b64_string(corrupt), b64_string(huge), b64_string(random)})});
    v.push_back({"mask_blur", ints({"-1", "257", "2147483647", "-2147483648"})});
    v.push_back({"inpainting_mask_invert", {"2", "-1", "\"1\"", "[]", "{}", "0.5", "1e400", "2147483648"}});
  }
  return v;
}

std::vector<std::pair<std::string, std::vector<std::string>>> openai_field_values() {
  auto ints = [](std::vector<std::string> specific) {
    for (const auto* list : {&kNotNumbers, &kNotJsonNumbers, &kHugeIntegers}) specific.insert(specific.end(), list->begin(), list->end());
    return specific;
  };
  auto strings = [](std::vector<std::string> specific) {
    for (const auto* list : {&kNotStrings, &kInvalidUtf8}) specific.insert(specific.end(), list->begin(), list->end());
    return specific;
  };
  return {
      {"prompt", strings({"\"\"", "null", "\"\\u0000\""})},
      {"n", ints({"0", "-1", "5", "65536", "2147483648"})},
      {"size", strings({"\"100x100\"", "\"64\"", "\"x64\"", "\"64x\"", "\"64X64\"", "\"-64x64\"", "\"64x64x64\"", "\"0x0\"",
                        "\"99999x99999\"", "\"64x 64\"", "\" 64x64\"", "\"8192x8192\"", "\"1e3x64\"", "\"\uff16\uff14x\uff16\uff14\"",
                        "\"64x64\\u0000\"", "\"0x40x0x40\"", "\"\"", "\"auto \"", "\"999999999999x64\"", "\"65x64\""})},
      {"response_format", strings({"\"url\"", "\"png\"", "\"\"", "\"B64_JSON\"", "\"b64_json \""})},
      {"steps", ints({"0", "-1", "51"})},
      {"cfg_scale", {"\"7\"", "-1", "101", "1e400", "[]"}},
      {"seed", ints({"-2", "281474976710656"})},
      {"sampler_name", strings({"\"nope\"", "\"\\u0000\""})},
  };
}

std::string multipart(const std::string& boundary, const std::vector<std::tuple<std::string, std::string, std::string>>& parts) {
  std::string body;
  for (const auto& [name, filename, content] : parts) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"";
    if (!filename.empty()) body += "; filename=\"" + filename + "\"\r\nContent-Type: image/png";
    body += "\r\n\r\n" + content + "\r\n";
  }
  return body + "--" + boundary + "--\r\n";
}

}  // namespace

std::vector<Case> json_cases() {
  std::vector<Case> cases;
  const Fields txt2img{{"prompt", "\"robust\""}, {"width", "64"}, {"height", "64"}, {"steps", "1"}, {"seed", "1"}};
  Fields img2img = with(txt2img, "init_images", "[" + quoted(server::base64_encode(tiny_png())) + "]");
  img2img = with(with(img2img, "steps", "2"), "denoising_strength", "0.5");
  const Fields openai{{"model", "\"x\""}, {"prompt", "\"robust\""}, {"size", "\"64x64\""}, {"n", "1"}, {"steps", "1"}, {"response_format", "\"b64_json\""}};

  for (const auto& [path, base, values, is_openai] :
       {std::tuple{"/sdapi/v1/txt2img", txt2img, a1111_field_values(false), false},
        std::tuple{"/sdapi/v1/img2img", img2img, a1111_field_values(true), false},
        std::tuple{"/v1/images/generations", openai, openai_field_values(), true}}) {
    for (const auto& [field, bad] : values)
      for (const std::string& value : bad)
        cases.push_back({std::string(path) + " " + field + "=" + value.substr(0, 60), http_request("POST", path, object_text(with(base, field, value))),
                         is_openai});
    // Truncated at every length: never valid JSON.
    const std::string whole = object_text(base);
    const size_t step = whole.size() > 200 ? whole.size() / 60 : 1;  // img2img's base64 image: 60 cuts
    for (size_t n = 0; n < whole.size(); n += step)
      cases.push_back({std::string(path) + " truncated at " + std::to_string(n), http_request("POST", path, whole.substr(0, n)), is_openai});
    // Bodies that are not a JSON object, or not JSON.
    for (const std::string& body : std::vector<std::string>{
             "", " ", "null", "true", "42", "\"s\"", "[]", "[{}]", "{", "}", "{\"prompt\":}", "{'prompt':'x'}", "{\"prompt\":\"x\",}",
          "{\"prompt\":\"x\"}garbage", "{\"prompt\":\"x\"}{}", "{\"prompt\" \"x\"}", "{prompt:\"x\"}", "\xef\xbb\xbf{\"steps\":0}",
          "{\"steps\":0,\"steps\":0}", std::string("\0\0\0{", 4), "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + ",\"steps\":0}",
          std::string(200000, '['), "{\"steps\":0," + std::string(50000, ' ') + "\"n\":0}",
          "{\"prompt\":" + std::string(50000, '{') + "}"})
      cases.push_back({std::string(path) + " body " + body.substr(0, 30), http_request("POST", path, body), is_openai});
    // A prompt of 3 MB (under the body limit) in a request refused for its steps: read, refused.
    cases.push_back({std::string(path) + " 3 MB prompt", http_request("POST", path, object_text(with(with(base, "prompt", quoted(std::string(3 << 20, 'a'))), "steps", "0"))),
                     is_openai});
    // 20000 fields, and a deep object where a string belongs.
    Fields many = with(base, "steps", "0");
    for (int i = 0; i < 20000; ++i) many.emplace_back("f" + std::to_string(i), std::to_string(i));
    cases.push_back({std::string(path) + " 20000 fields", http_request("POST", path, object_text(many)), is_openai});
  }
  // Wrong content types: a body that is not JSON, labelled as something else.
  for (const auto& [type, body] :
       std::vector<std::pair<std::string, std::string>>{{"application/x-www-form-urlencoded", "prompt=x&steps=1&width=64&height=64"},
                                                        {"text/plain", "a cat"},
                                                        {"application/xml", "<txt2img><prompt>x</prompt></txt2img>"},
                                                        {"image/png", tiny_png()},
                                                        {"application/octet-stream", std::string(100, '\0')},
                                                        {"application/json; charset=utf-16", std::string("{\0\"\0p\0\"\0:\0\"\0x\0\"\0}\0", 22)},
                                                        {"application/json", "prompt=x"},
                                                        {"", "prompt=x"},
                                                        {"multipart/form-data; boundary=zz", "--zz\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx\r\n--zz--\r\n"},
                                                        {"multipart/form-data", "garbage"},
                                                        {"text/html; charset=\xff\xfe", "<p>"}}) {
    for (const char* path : {"/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/v1/images/generations", "/sdapi/v1/options"})
      cases.push_back({std::string(path) + " as " + type, http_request("POST", path, body, type), std::string(path).starts_with("/v1/")});
  }
  // /sdapi/v1/options: the one option that matters, wrong.
  for (const std::string value : {"5", "true", "[]", "{}", "\"other.safetensors\"", "\"../model\"", "\"\xff\""})
    cases.push_back({"options sd_model_checkpoint=" + value, http_request("POST", "/sdapi/v1/options", "{\"sd_model_checkpoint\":" + value + "}")});
  return cases;
}

std::vector<Case> edit_cases() {
  const std::string png = tiny_png();
  std::string truncated = png;
  truncated.resize(png.size() / 3);
  using Parts = std::vector<std::tuple<std::string, std::string, std::string>>;
  const Parts good{{"image", "in.png", png}, {"prompt", "", "robust"}, {"size", "", "64x64"}, {"steps", "", "1"}};
  auto replaced = [&](const std::string& name, std::optional<std::string> content, const std::string& filename = "") {
    Parts parts;
    for (const auto& p : good)
      if (std::get<0>(p) != name) parts.push_back(p);
    if (content) parts.emplace_back(name, filename, *content);
    return parts;
  };
  std::vector<std::pair<std::string, Parts>> forms{
      {"no image", replaced("image", std::nullopt)},
      {"image of random bytes", replaced("image", std::string(2000, '\x42'), "in.png")},
      {"image GIF", replaced("image", std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00", 13), "in.gif")},
      {"image truncated PNG", replaced("image", truncated, "in.png")},
      {"image empty", replaced("image", "", "in.png")},
      {"no prompt", replaced("prompt", std::nullopt)},
      {"empty prompt", replaced("prompt", "")},
      {"size 100x100", replaced("size", "100x100")},
      {"size garbage", replaced("size", "\xff\xfe")},
      {"size 8192x8192", replaced("size", "8192x8192")},
      {"steps 0", replaced("steps", "0")},
      {"steps 1e400", replaced("steps", "1e400")},
      {"steps abc", replaced("steps", "abc")},
      {"n 0", replaced("n", "0")},
      {"n 99", replaced("n", "99")},
      {"n abc", replaced("n", "abc")},
      {"strength 0", replaced("strength", "0")},
      {"strength 2", replaced("strength", "2")},
      {"strength abc", replaced("strength", "abc")},
      {"response_format url", replaced("response_format", "url")},
      {"cfg_scale -5", replaced("cfg_scale", "-5")},
      {"seed -7", replaced("seed", "-7")},
      {"sampler_name nope", replaced("sampler_name", "nope")},
  };
  Parts with_mask = good;
  with_mask.emplace_back("mask", "mask.png", png);
  forms.emplace_back("with a mask", with_mask);
  // The image too big to be a 64x64 request's: no size field, the image's own size is too large.
  Parts no_size = replaced("size", std::nullopt);
  std::get<2>(no_size[0]) = tiny_png(1024, 512);
  forms.emplace_back("image 1024x512 (over --max-pixels)", no_size);

  std::vector<Case> cases;
  for (const auto& [name, parts] : forms)
    cases.push_back({"edits: " + name, http_request("POST", "/v1/images/edits", multipart("b0undary", parts), "multipart/form-data; boundary=b0undary"), true});
  const std::string form = multipart("b0undary", good);
  for (const auto& [name, body, type] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"JSON body", "{\"prompt\":\"x\"}", "application/json"},
           {"no boundary", form, "multipart/form-data"},
           {"wrong boundary", form, "multipart/form-data; boundary=other"},
           {"no closing boundary", form.substr(0, form.size() - 14), "multipart/form-data; boundary=b0undary"},
           {"truncated in the image", form.substr(0, 200), "multipart/form-data; boundary=b0undary"},
           {"no Content-Disposition", "--b0undary\r\n\r\nx\r\n--b0undary--\r\n", "multipart/form-data; boundary=b0undary"},
           {"empty body", "", "multipart/form-data; boundary=b0undary"},
           {"garbage", std::string(5000, '-'), "multipart/form-data; boundary=b0undary"},
           {"boundary of 200", form, "multipart/form-data; boundary=" + std::string(200, 'b')},
           {"1000 parts", [] {
              std::vector<std::tuple<std::string, std::string, std::string>> many;
              for (int i = 0; i < 1000; ++i) many.emplace_back("f" + std::to_string(i), "", "0");
              return multipart("b0undary", many);
            }(),
            "multipart/form-data; boundary=b0undary"},
       })
    cases.push_back({"edits: " + name, http_request("POST", "/v1/images/edits", body, type), true});
  return cases;
}

std::vector<Case> protocol_cases() {
  std::vector<Case> cases;
  // Broken request lines and headers: cpp-httplib's parser answers 400 (414 for a long target).
  for (const std::string& raw : std::vector<std::string>{
           "GET\r\n\r\n", "GET / \r\n\r\n", "GET /internal/ping HTTP/9.9\r\n\r\n", "get /internal/ping HTTP/1.1\r\n\r\n",
        "FOO /internal/ping HTTP/1.1\r\n\r\n", "GET /internal/ping HTTP/1.1 extra\r\n\r\n",
        "GET /internal/ping\r\n\r\n", "\r\n\r\n", " \r\n\r\n", "GET /internal/ping HTTP/1.1\n\n", 
        "GET\t/internal/ping\tHTTP/1.1\r\n\r\n", std::string("GET /internal/ping\0 HTTP/1.1\r\n\r\n", 32),
        "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", "GET /internal/ping HTTP/1.1\r\nX: " + std::string(9000, 'b') + "\r\n\r\n",
        "GET /internal/ping HTTP/1.1\r\nRange: bytes=abc\r\n\r\n", "GET /internal/ping HTTP/1.1\r\nRange: bytes=9-1\r\n\r\n",
        "CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n", "TRACE / HTTP/1.1\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15),  // a TLS ClientHello
        "GET http://evil.example/ HTTP/1.1\r\n\r\n", "GET * HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"})
    cases.push_back({"request line " + raw.substr(0, 40), raw});
  // Unknown paths and methods.
  for (const char* method : {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
    for (const std::string& path : std::vector<std::string>{
             "/nope", "/sdapi/v1/nope", "/sdapi/v2/txt2img", "/v1/images/variations", "/v1/chat/completions", "/../../etc/passwd",
          "/%2e%2e/%2e%2e/etc/passwd", "/%00", "/sdapi/v1/txt2img%00", "/index.html/..", "//", "/nope?%zz=%zz", "/" + std::string(8000, 'a')})
      cases.push_back({std::string(method) + " " + path.substr(0, 40), http_request(method, path, "{}"), false});
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/sdapi/v1/txt2img"}, {"PUT", "/sdapi/v1/txt2img"}, {"DELETE", "/sdapi/v1/img2img"}, {"GET", "/v1/images/generations"},
           {"PATCH", "/v1/images/edits"}, {"POST", "/v1/models"}, {"POST", "/sdapi/v1/progress"}, {"PUT", "/sdapi/v1/options"},
           {"OPTIONS", "/sdapi/v1/txt2img"}, {"DELETE", "/"}})
    cases.push_back({method + " " + path + " (wrong method)", http_request(method, path, "{\"prompt\":\"x\"}"), false});
  cases.push_back({"HEAD on a POST endpoint", "HEAD /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\n\r\n", false, true});
  // Headers that lie about the body.
  const std::string body = "{\"steps\":0}";
  for (const std::string headers :
       {"Content-Length: abc\r\n", "Content-Length: -5\r\n", "Content-Length: 99999999999999999999999\r\n",
        "Content-Length: 5\r\nContent-Length: 500000\r\n", "Content-Length: 100000\r\n", "Content-Length: 1\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 11\r\n", "Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked\r\n",
        "Content-Encoding: gzip\r\nContent-Length: 11\r\n", "Content-Encoding: br\r\nContent-Length: 11\r\n",
        "Content-Encoding: deflate\r\nContent-Length: 11\r\n", "Expect: 100-continue\r\nContent-Length: 11\r\n",
        "Expect: 100-continue\r\nContent-Length: 4000000\r\n", "Content-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n",
        "Content-Length: 11\r\nHost: \xff\xfe\r\nX-\x01: \x02\r\n", "Content-Length: 11\r\nNo colon here\r\n",
        "Content-Length: 11\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"})
    cases.push_back({"headers " + headers.substr(0, 50), "POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + headers + "\r\n" + body});
  // Random garbage, and garbage headers after a good request line.
  std::mt19937 rng(1234);
  for (int i = 0; i < 60; ++i) {
    std::string garbage(1 + rng() % 4096, '\0');
    for (char& c : garbage) c = char(rng());
    cases.push_back({"garbage " + std::to_string(i), garbage + "\r\n\r\n"});
  }
  for (int i = 0; i < 30; ++i) {
    std::string garbage(1 + rng() % 2000, '\0');
    for (char& c : garbage) c = char(rng() % 2 ? rng() : "abc:\r\n "[rng() % 7]);
    // No header here may announce a body: the body is empty, and txt2img refuses that.
    std::string lower = garbage;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    for (const std::string lie : {"content-length", "transfer-encoding", "content-encoding", "expect"})
      for (size_t at = lower.find(lie); at != std::string::npos; at = lower.find(lie, at + 1)) garbage[at] = 'X';
    cases.push_back({"garbage headers " + std::to_string(i), "POST /sdapi/v1/txt2img HTTP/1.1\r\n" + garbage + "\r\n\r\n"});
  }
  return cases;
}

}  // namespace diffuse::testing
