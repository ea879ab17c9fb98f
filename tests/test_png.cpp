// PNG reading and writing, and AUTOMATIC1111's generation-parameters text. Input PNGs of
// every layout are written here with libpng directly, so each test states the exact samples
// on disk and the RGB they must read as.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "core/error.h"
#include "golden.h"
#include "io/generation_parameters.h"
#include "io/image.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;

class Png : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("diffuse-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

// A PNG as stored: rows packed as the format says (big-endian 16-bit samples, sub-byte pixels
// filling bytes from the high bit), with optional palette, tRNS and text before and after IDAT.
struct RawPng {
  int width = 0, height = 0, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  std::vector<uint8_t> data{};
  std::vector<png_color> palette{};
  std::vector<png_byte> palette_alpha{};
  bool interlaced = false;
  std::vector<png_text> text_before{}, text_after{};
};

bool write_raw_steps(png_structp png, png_infop info, FILE* file, RawPng& spec, std::vector<png_bytep>& rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty()) png_set_PLTE(png, info, spec.palette.data(), int(spec.palette.size()));
  if (!spec.palette_alpha.empty())
    png_set_tRNS(png, info, spec.palette_alpha.data(), int(spec.palette_alpha.size()), nullptr);
  if (!spec.text_before.empty()) png_set_text(png, info, spec.text_before.data(), int(spec.text_before.size()));
  png_write_info(png, info);
  png_set_interlace_handling(png);
  png_write_image(png, rows.data());
  if (!spec.text_after.empty()) png_set_text(png, info, spec.text_after.data(), int(spec.text_after.size()));
  png_write_end(png, info);
  return true;
}

void write_raw_png(const std::string& path, RawPng spec) {
  const int channels = spec.color_type == PNG_COLOR_TYPE_RGB          ? 3
                       : spec.color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                       : spec.color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                                      : 1;
  const size_t stride = (size_t(spec.width) * channels * spec.bit_depth + 7) / 8;
  ASSERT_EQ(spec.data.size(), stride * spec.height) << path;
  std::vector<png_bytep> rows(spec.height);
  for (int y = 0; y < spec.height; ++y) rows[y] = spec.data.data() + y * stride;
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  const bool ok = write_raw_steps(png, info, file, spec, rows);
  png_destroy_write_struct(&png, &info);
  std::fclose(file);
  ASSERT_TRUE(ok) << "libpng could not write " << path;
}

png_text text_chunk(const char* key, const char* value, int compression) {
  png_text t{};
  t.compression = compression;
  t.key = const_cast<char*>(key);
  t.text = const_cast<char*>(value);
  (compression >= PNG_ITXT_COMPRESSION_NONE ? t.itxt_length : t.text_length) = std::strlen(value);
  return t;
}

Image random_image(int width, int height, unsigned seed) {
  std::mt19937 rng(seed);
  Image image{width, height, std::vector<uint8_t>(size_t(width) * height * 3)};
  for (auto& v : image.rgb) v = uint8_t(rng());
  return image;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void set_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// Expects `call` to throw Error whose message names `path` and contains `problem`.
template <typename F>
void expect_error(F call, const std::string& path, const std::string& problem) {
  try {
    call();
    ADD_FAILURE() << "no Error for " << path;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(problem), std::string::npos) << message;
  }
}

TEST_F(Png, RoundTripKeepsPixelsAndText) {
  const Image image = random_image(37, 23, 1);
  const TextChunks text = {
      {"parameters", "a café at dusk, 夕暮れ, (watercolor:1.2)\nNegative prompt: blurry\nSteps: 20, Seed: 42"},
      {"Software", "diffuse"},
      {"multi line", "first\nsecond\n\nfourth"},
      {"empty", ""},
  };
  write_png(path("out.png"), image, text);
  const Image back = read_png(path("out.png"));
  EXPECT_EQ(back.width, 37);
  EXPECT_EQ(back.height, 23);
  EXPECT_EQ(back.rgb, image.rgb);
  EXPECT_EQ(read_png_text(path("out.png")), text);
  EXPECT_EQ(listing(), std::vector<std::string>{"out.png"});  // no temporary left behind
}

TEST_F(Png, OverwriteReplacesTheImage) {
  write_png(path("out.png"), random_image(8, 8, 1), {{"n", "1"}});
  const Image second = random_image(5, 3, 2);
  write_png(path("out.png"), second);
  EXPECT_EQ(read_png(path("out.png")).rgb, second.rgb);
  EXPECT_TRUE(read_png_text(path("out.png")).empty());
  EXPECT_EQ(listing(), std::vector<std::string>{"out.png"});
}

TEST_F(Png, GreyAtEveryBitDepth) {
  write_raw_png(path("g8.png"), {.width = 3, .height = 1, .bit_depth = 8, .color_type = PNG_COLOR_TYPE_GRAY,
                                 .data = {0, 128, 255}});
  EXPECT_EQ(read_png(path("g8.png")).rgb, (std::vector<uint8_t>{0, 0, 0, 128, 128, 128, 255, 255, 255}));

  // 1-bit 1,0,1,1 and 4-bit 5,15 expand to full range: x255 and x17.
  write_raw_png(path("g1.png"), {.width = 4, .height = 1, .bit_depth = 1, .color_type = PNG_COLOR_TYPE_GRAY,
                                 .data = {0b1011'0000}});
  EXPECT_EQ(read_png(path("g1.png")).rgb, (std::vector<uint8_t>{255, 255, 255, 0, 0, 0, 255, 255, 255, 255, 255, 255}));
  write_raw_png(path("g4.png"), {.width = 2, .height = 1, .bit_depth = 4, .color_type = PNG_COLOR_TYPE_GRAY,
                                 .data = {0x5F}});
  EXPECT_EQ(read_png(path("g4.png")).rgb, (std::vector<uint8_t>{85, 85, 85, 255, 255, 255}));

  // 16-bit grey with alpha: alpha dropped, grey rounded to 8 bits.
  write_raw_png(path("ga16.png"), {.width = 2, .height = 1, .bit_depth = 16, .color_type = PNG_COLOR_TYPE_GRAY_ALPHA,
                                   .data = {0x80, 0x80, 0x00, 0x00, 0xFF, 0xFF, 0x12, 0x34}});
  EXPECT_EQ(read_png(path("ga16.png")).rgb, (std::vector<uint8_t>{128, 128, 128, 255, 255, 255}));
}

TEST_F(Png, PaletteWithTransparencyReadsAsItsColours) {
  // 2-bit indices 2,0,1,2; the tRNS alpha must not show up as a fourth channel.
  write_raw_png(path("p.png"), {.width = 4, .height = 1, .bit_depth = 2, .color_type = PNG_COLOR_TYPE_PALETTE,
                                .data = {0b10'00'01'10},
                                .palette = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}},
                                .palette_alpha = {0, 128, 255}});
  const Image image = read_png(path("p.png"));
  EXPECT_EQ(image.width, 4);
  EXPECT_EQ(image.rgb, (std::vector<uint8_t>{10, 20, 30, 255, 0, 0, 0, 255, 0, 10, 20, 30}));
}

TEST_F(Png, SixteenBitRgbRoundsToEightBits) {
  const std::vector<uint16_t> samples = {0x0000, 0xFFFF, 0x8080, 0x1234, 0xABCD, 0x00FF};
  RawPng raw{.width = 2, .height = 1, .bit_depth = 16, .color_type = PNG_COLOR_TYPE_RGB};
  std::vector<uint8_t> expected;
  for (uint16_t s : samples) {
    raw.data.push_back(uint8_t(s >> 8));
    raw.data.push_back(uint8_t(s & 0xFF));
    expected.push_back(uint8_t(std::lround(s / 257.0)));
  }
  write_raw_png(path("rgb16.png"), raw);
  EXPECT_EQ(read_png(path("rgb16.png")).rgb, expected);
}

TEST_F(Png, RgbaDropsAlphaWithoutCompositing) {
  write_raw_png(path("rgba.png"), {.width = 2, .height = 1, .bit_depth = 8, .color_type = PNG_COLOR_TYPE_RGB_ALPHA,
                                   .data = {200, 100, 50, 0, 1, 2, 3, 255}});
  EXPECT_EQ(read_png(path("rgba.png")).rgb, (std::vector<uint8_t>{200, 100, 50, 1, 2, 3}));
}

// decode_png_alpha: the alpha of every layout that has one (8-bit RGBA, 16-bit grey + alpha, a
// palette's tRNS), each in all three channels; nullopt without alpha; decode_png unchanged.
std::string string_of(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

TEST_F(Png, AlphaChannelReadsOnlyWhereThereIsOne) {
  write_raw_png(path("rgba.png"), {.width = 2, .height = 1, .bit_depth = 8, .color_type = PNG_COLOR_TYPE_RGB_ALPHA,
                                   .data = {200, 100, 50, 0, 1, 2, 3, 255}});
  const std::string rgba = string_of(file_bytes(path("rgba.png")));
  const std::optional<Image> alpha = decode_png_alpha(rgba, "rgba");
  ASSERT_TRUE(alpha);
  EXPECT_EQ(alpha->width, 2);
  EXPECT_EQ(alpha->height, 1);
  EXPECT_EQ(alpha->rgb, (std::vector<uint8_t>{0, 0, 0, 255, 255, 255}));
  EXPECT_EQ(decode_png(rgba, "rgba").rgb, (std::vector<uint8_t>{200, 100, 50, 1, 2, 3}));

  write_raw_png(path("ga16.png"), {.width = 2, .height = 1, .bit_depth = 16, .color_type = PNG_COLOR_TYPE_GRAY_ALPHA,
                                   .data = {0x80, 0x80, 0x00, 0x00, 0xFF, 0xFF, 0x80, 0x80}});
  EXPECT_EQ(decode_png_alpha(string_of(file_bytes(path("ga16.png"))), "ga16")->rgb, (std::vector<uint8_t>{0, 0, 0, 128, 128, 128}));

  write_raw_png(path("p.png"), {.width = 4, .height = 1, .bit_depth = 2, .color_type = PNG_COLOR_TYPE_PALETTE,
                                .data = {0b10'00'01'10},
                                .palette = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}},
                                .palette_alpha = {0, 128}});  // index 2 has no entry: opaque
  EXPECT_EQ(decode_png_alpha(string_of(file_bytes(path("p.png"))), "p")->rgb,
            (std::vector<uint8_t>{255, 255, 255, 0, 0, 0, 128, 128, 128, 255, 255, 255}));

  write_raw_png(path("rgb.png"), {.width = 2, .height = 1, .data = {1, 2, 3, 4, 5, 6}});
  EXPECT_FALSE(decode_png_alpha(string_of(file_bytes(path("rgb.png"))), "rgb"));
  expect_error([&] { decode_png_alpha(rgba, "big", 1); }, "big", "more than the 1 pixels allowed");
  expect_error([&] { decode_png_alpha("GIF89a", "gif"); }, "gif", "not a PNG");
}

TEST_F(Png, InterlacedReadsLikeNonInterlaced) {
  const Image image = random_image(13, 11, 3);
  write_raw_png(path("adam7.png"), {.width = 13, .height = 11, .data = image.rgb, .interlaced = true});
  EXPECT_EQ(read_png(path("adam7.png")).rgb, image.rgb);
}

TEST_F(Png, TextChunksOfEveryKindInFileOrder) {
  // "caf\xE9" is Latin-1 in tEXt; zTXt is compressed; the last one follows the pixels.
  write_raw_png(path("t.png"), {.width = 1, .height = 1, .data = {1, 2, 3},
                                .text_before = {text_chunk("plain", "caf\xE9", PNG_TEXT_COMPRESSION_NONE),
                                                text_chunk("zipped", "a, b\nc", PNG_TEXT_COMPRESSION_zTXt),
                                                text_chunk("intl", "日本", PNG_ITXT_COMPRESSION_zTXt)},
                                .text_after = {text_chunk("after", "pixels", PNG_TEXT_COMPRESSION_NONE)}});
  EXPECT_EQ(read_png_text(path("t.png")),
            (TextChunks{{"plain", "café"}, {"zipped", "a, b\nc"}, {"intl", "日本"}, {"after", "pixels"}}));
}

TEST_F(Png, MissingFileNamesThePath) {
  expect_error([&] { read_png(path("missing.png")); }, path("missing.png"), "cannot open");
  expect_error([&] { read_png_text(path("missing.png")); }, path("missing.png"), "cannot open");
}

TEST_F(Png, NonPngFileIsRefused) {
  std::ofstream(path("notes.png")) << "this is not an image\n";
  expect_error([&] { read_png(path("notes.png")); }, path("notes.png"), "not a PNG");
  set_file_bytes(path("empty.png"), {});
  expect_error([&] { read_png(path("empty.png")); }, path("empty.png"), "not a PNG");
  expect_error([&] { read_png(dir_.string()); }, dir_.string(), "cannot read");
}

TEST_F(Png, TruncatedPngIsRefused) {
  write_png(path("whole.png"), random_image(64, 64, 4), {{"parameters", "x"}});
  std::vector<uint8_t> bytes = file_bytes(path("whole.png"));
  for (size_t keep : {bytes.size() / 2, size_t(20), bytes.size() - 4}) {
    const std::string cut = path("cut-" + std::to_string(keep) + ".png");
    set_file_bytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.begin() + std::ptrdiff_t(keep)));
    expect_error([&] { read_png(cut); }, cut, "truncated");
    expect_error([&] { read_png_text(cut); }, cut, "truncated");
  }
}

TEST_F(Png, CorruptPixelDataIsRefused) {
  write_png(path("whole.png"), random_image(16, 16, 5));
  std::vector<uint8_t> bytes = file_bytes(path("whole.png"));
  bytes[bytes.size() / 2] ^= 0x55;  // inside IDAT: its CRC no longer matches
  set_file_bytes(path("bad.png"), bytes);
  expect_error([&] { read_png(path("bad.png")); }, path("bad.png"), "corrupt PNG");
}

TEST_F(Png, AbsurdDimensionsAreRefusedBeforeDecoding) {
  // 1-bit grey keeps the file tiny while the header claims more than the limit.
  write_raw_png(path("wide.png"), {.width = kMaxImageSide + 8, .height = 1, .bit_depth = 1,
                                   .color_type = PNG_COLOR_TYPE_GRAY,
                                   .data = std::vector<uint8_t>((kMaxImageSide + 8) / 8)});
  expect_error([&] { read_png(path("wide.png")); }, path("wide.png"), "16392x1");
  expect_error([&] { read_png(path("wide.png")); }, path("wide.png"), "16384");
}

TEST_F(Png, WriteFailuresLeaveNothingBehind) {
  const std::string nowhere = path("no-such-dir/out.png");
  expect_error([&] { write_png(nowhere, random_image(2, 2, 6)); }, nowhere, "cannot create");

  Image short_buffer = random_image(4, 4, 7);
  short_buffer.rgb.pop_back();
  expect_error([&] { write_png(path("short.png"), short_buffer); }, path("short.png"), "47 bytes");
  expect_error([&] { write_png(path("empty.png"), Image{}); }, path("empty.png"), "0x0");
  expect_error([&] { write_png(path("key.png"), random_image(1, 1, 8), {{" bad key", "v"}}); }, path("key.png"),
               "not a PNG keyword");
  expect_error([&] { write_png(path("nul.png"), random_image(1, 1, 8), {{"k", std::string("a\0b", 3)}}); },
               path("nul.png"), "NUL");

  // Renaming onto a directory fails after the whole image was written to the temporary.
  fs::create_directory(path("occupied"));
  fs::create_directory(path("occupied/inside"));
  expect_error([&] { write_png(path("occupied"), random_image(3, 3, 9)); }, path("occupied"), "into place");
  EXPECT_EQ(listing(), std::vector<std::string>{"occupied"});
}

// ---- AUTOMATIC1111 generation parameters -------------------------------------------------

void expect_same(const GenerationParameters& got, const GenerationParameters& expected) {
  EXPECT_EQ(got.prompt, expected.prompt);
  EXPECT_EQ(got.negative_prompt, expected.negative_prompt);
  EXPECT_EQ(got.sampler, expected.sampler);
  EXPECT_EQ(got.scheduler, expected.scheduler);
  EXPECT_EQ(got.model, expected.model);
  EXPECT_EQ(got.steps, expected.steps);
  EXPECT_EQ(got.cfg_scale, expected.cfg_scale);
  EXPECT_EQ(got.seed, expected.seed);
  EXPECT_EQ(got.width, expected.width);
  EXPECT_EQ(got.height, expected.height);
  EXPECT_EQ(got.strength, expected.strength);
  EXPECT_EQ(got.extra, expected.extra);
}

TEST(GenerationParameters, FormatsAsAutomatic1111) {
  GenerationParameters p{.prompt = "a cat, sitting",
                         .negative_prompt = "blurry",
                         .sampler = "Euler a",
                         .scheduler = "karras",
                         .model = "v1-5-pruned-emaonly",
                         .steps = 20,
                         .cfg_scale = 7.5,
                         .seed = 42,
                         .width = 512,
                         .height = 768,
                         .strength = 0.6,
                         .extra = {{"Version", "diffuse 0.1"}}};
  EXPECT_EQ(format_parameters(p),
            "a cat, sitting\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Schedule type: Karras, "
            "CFG scale: 7.5, Seed: 42, Size: 512x768, Model: v1-5-pruned-emaonly, Denoising strength: 0.6, "
            "Version: diffuse 0.1");

  GenerationParameters plain{.prompt = "a dog", .sampler = "DDIM", .steps = 50, .cfg_scale = 7, .seed = -1,
                             .width = 64, .height = 64};
  EXPECT_EQ(format_parameters(plain), "a dog\nSteps: 50, Sampler: DDIM, CFG scale: 7, Seed: -1, Size: 64x64");
}

TEST(GenerationParameters, RoundTrips) {
  const GenerationParameters full{
      .prompt = "masterpiece, (a cat:1.2), café 猫\nsecond line, with: colon",
      .negative_prompt = "lowres, bad anatomy\nworst quality",
      .sampler = "DPM++ 2M",
      .scheduler = "karras",
      .model = "model, with comma",
      .steps = 30,
      .cfg_scale = 6.1,
      .seed = 4294967297,
      .width = 640,
      .height = 448,
      .strength = 0.35,
      .extra = {{"Lora hashes", "foo: 1a2b, bar: 3c4d"},
                {"Note", "say \"hi\"\tthen\\leave"},
                {"Quoted", "\"starts with a quote"},
                {"Padded", " spaces around "},
                {"Empty", ""},
                {"Version", "diffuse 0.1"}}};
  expect_same(parse_parameters(format_parameters(full)), full);

  const GenerationParameters minimal{.prompt = "just a prompt", .steps = 1, .cfg_scale = 1, .width = 8, .height = 8};
  expect_same(parse_parameters(format_parameters(minimal)), minimal);

  const GenerationParameters no_prompt{.negative_prompt = "ugly", .steps = 4, .cfg_scale = 0.5, .seed = 9,
                                       .width = 16, .height = 32};
  expect_same(parse_parameters(format_parameters(no_prompt)), no_prompt);
}

TEST(GenerationParameters, ParsesRealAutomatic1111Text) {
  const std::string text =
      "masterpiece, best quality, 1girl, (smile:1.2), <lora:foo:0.8>\n"
      "Negative prompt: (worst quality, low quality:1.4), bad hands\n"
      "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, "
      "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, "
      "Hires upscale: 2, Hires upscaler: Latent, Lora hashes: \"foo: 1a2b3c4d5e6f\", "
      "TI hashes: \"bad_hands: 0123456789ab, easyneg: abcdef012345\", Version: v1.9.4";
  expect_same(parse_parameters(text),
              {.prompt = "masterpiece, best quality, 1girl, (smile:1.2), <lora:foo:0.8>",
               .negative_prompt = "(worst quality, low quality:1.4), bad hands",
               .sampler = "DPM++ 2M",
               .scheduler = "karras",
               .model = "v1-5-pruned-emaonly",
               .steps = 30,
               .cfg_scale = 7,
               .seed = 1234567890,
               .width = 512,
               .height = 768,
               .strength = 0.45,
               .extra = {{"Model hash", "6ce0161689"},
                         {"Clip skip", "2"},
                         {"Hires upscale", "2"},
                         {"Hires upscaler", "Latent"},
                         {"Lora hashes", "foo: 1a2b3c4d5e6f"},
                         {"TI hashes", "bad_hands: 0123456789ab, easyneg: abcdef012345"},
                         {"Version", "v1.9.4"}}});
}

TEST(GenerationParameters, ParsesOlderAndOddText) {
  // Before A1111 1.9 the schedule was part of the sampler name.
  const GenerationParameters old =
      parse_parameters("a house\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.0, Seed: 1, Size: 512x512");
  EXPECT_EQ(old.sampler, "DPM++ 2M");
  EXPECT_EQ(old.scheduler, "karras");
  EXPECT_EQ(old.cfg_scale, 7.0);

  // "Automatic" is the default schedule; one we have no id for stays in extra.
  EXPECT_EQ(parse_parameters("x\nSteps: 1, Schedule type: Automatic, Seed: 2, Size: 8x8").scheduler, "");
  const GenerationParameters exponential =
      parse_parameters("x\nSteps: 1, Sampler: Euler Karras, Schedule type: Exponential, Seed: 2, Size: 8x8");
  EXPECT_EQ(exponential.sampler, "Euler Karras");
  EXPECT_EQ(exponential.scheduler, "");
  EXPECT_EQ(exponential.extra, (std::vector<std::pair<std::string, std::string>>{{"Schedule type", "Exponential"}}));

  // A last line with fewer than three fields is prompt, as in A1111.
  const GenerationParameters prompt_only = parse_parameters("a photo\nstyle: noir, mood: dark");
  EXPECT_EQ(prompt_only.prompt, "a photo\nstyle: noir, mood: dark");
  EXPECT_EQ(prompt_only.steps, 0);
  EXPECT_TRUE(prompt_only.extra.empty());
}

TEST(GenerationParameters, MalformedKnownValuesThrow) {
  EXPECT_THROW(parse_parameters("p\nSteps: many, CFG scale: 7, Seed: 1"), Error);
  EXPECT_THROW(parse_parameters("p\nSteps: 20, CFG scale: 7, Size: 512"), Error);
  EXPECT_THROW(parse_parameters("p\nSteps: 20, CFG scale: 7, Seed: 1.5"), Error);
  GenerationParameters bad_key{.extra = {{"Bad, key", "v"}}};
  EXPECT_THROW(format_parameters(bad_key), Error);
}


using testing::expect_refused_quickly;

// A header declaring 10^5 x 10^5 pixels (30 GB of RGB) is refused before any pixel buffer exists,
// by every reader.
TEST_F(Png, TenBillionPixelHeaderIsRefusedQuickly) {
  write_raw_png(path("huge.png"), {.width = 100000, .height = 1, .bit_depth = 1, .color_type = PNG_COLOR_TYPE_GRAY,
                                   .data = std::vector<uint8_t>(100000 / 8)});
  std::vector<uint8_t> bytes = file_bytes(path("huge.png"));
  bytes[20] = 0x00, bytes[21] = 0x01, bytes[22] = 0x86, bytes[23] = 0xa0;  // IHDR height: 100000
  const uint32_t crc = uint32_t(::crc32(0, bytes.data() + 12, 17));      // over IHDR's type and fields
  for (int i = 0; i < 4; ++i) bytes[29 + size_t(i)] = uint8_t(crc >> (24 - 8 * i));
  set_file_bytes(path("huge.png"), bytes);
  const std::string png(bytes.begin(), bytes.end());
  expect_refused_quickly([&] { read_png(path("huge.png")); }, "100000x100000");
  expect_refused_quickly([&] { read_png_text(path("huge.png")); }, "100000x100000");
  expect_refused_quickly([&] { decode_png(png, "upload"); }, "100000x100000");
  expect_refused_quickly([&] { decode_png_alpha(png, "upload"); }, "100000x100000");
}

// fuzz/regressions/png: libpng allocated and cleared a chunk's declared length before reading it, so
// a few hundred bytes declaring a 2 GB text chunk cost 2 GB and seconds.
TEST_F(Png, HugeDeclaredChunkIsRefusedQuickly) {
  std::string png = encode_png(Image{1, 1, {1, 2, 3}});
  png.insert(33, std::string("\x7f\xff\xff\xf0tEXtkey\0value", 17));  // after IHDR, the rest missing
  expect_refused_quickly([&] { decode_png(png, "upload"); }, "upload: PNG chunk 'tEXt' declares 2147483632 bytes");
  set_file_bytes(path("chunk.png"), std::vector<uint8_t>(png.begin(), png.end()));
  expect_refused_quickly([&] { read_png_text(path("chunk.png")); }, path("chunk.png") + ": PNG chunk 'tEXt'");
}

}  // namespace
}  // namespace diffuse
