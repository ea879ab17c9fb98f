// The `diffuse` command line as a user runs it: golden generations from every model layout,
// model and image info, tokenize, and the error paths (exit status, one-line messages).
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "golden.h"
#include "io/generation_parameters.h"
#include "io/image.h"
#include "pipeline_cases.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;
using testing::close_to;
using testing::fixture;
using testing::golden;
using testing::Golden;
using testing::PipelineCase;

struct CliRun {
  int status;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path scratch_dir() {
  static const fs::path dir = fs::temp_directory_path() / ("diffuse-cli-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

CliRun run(const std::vector<std::string>& args) {
  static int counter = 0;
  const fs::path out = scratch_dir() / ("out" + std::to_string(++counter)), err = out.string() + ".err";
  std::string cmd = quote(DIFFUSE_CLI);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(out) + " 2>" + quote(err) + " </dev/null";
  const int raw = std::system(cmd.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), slurp(out), slurp(err)};
}

// A failure a user sees: non-zero status below 128 (no crash), one line naming `needle`.
void expect_clean_failure(const CliRun& r, const std::string& needle, int status = 1) {
  EXPECT_EQ(r.status, status) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr lacks '" << needle << "': " << r.err;
  if (status == 1) {
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
  }
}

// --- generations through the CLI, from every layout of the SD1 model ---------------------------

struct CliCase {
  PipelineCase c;
  std::string layout;  // model path relative to the family folder
};

void PrintTo(const CliCase& c, std::ostream* os) { *os << c.c.family << "/" << c.c.id << " from " << c.layout; }

class CliGeneration : public ::testing::TestWithParam<CliCase> {};

TEST_P(CliGeneration, ImageMatchesDiffusersWithin1Lsb) {
  const PipelineCase& c = GetParam().c;
  const TensorArchive expected = load_safetensors(fixture(c.family + "/" + c.file));
  const fs::path output = scratch_dir() / (c.id + ".png");
  std::vector<std::string> args{"generate", "-m", fixture(c.family + "/" + GetParam().layout), "-p", c.prompt,
                                "-n", c.negative, "-s", std::to_string(c.seed), "--steps", std::to_string(c.steps),
                                "--cfg-scale", std::to_string(c.cfg), "--sampling-method", c.sampler,
                                "-W", std::to_string(c.width), "-H", std::to_string(c.height),
                                "--precision", "fp32", "--rng", "cpu", "-o", output.string()};
  if (c.karras) args.insert(args.end(), {"--scheduler", "karras"});
  if (c.strength) {
    const fs::path init_path = scratch_dir() / (c.id + "-init.png");
    write_png(init_path.string(), testing::image_of(golden(expected, "init_image_u8")));
    args.insert(args.end(), {"-i", init_path.string(), "--strength", std::to_string(*c.strength)});
  }
  const CliRun r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  const Image image = read_png(output.string());
  std::vector<float> got(image.rgb.begin(), image.rgb.end());
  EXPECT_TRUE(close_to(c.family + " " + c.id + " (" + GetParam().layout + ") image_u8", got,
                       golden(expected, "image_u8"), 1.0 / 255.0));
}

std::vector<CliCase> cli_cases() {
  std::vector<CliCase> out;
  for (const char* layout : {"model.safetensors", "model.ckpt", "diffusers"})
    for (const PipelineCase& c : testing::pipeline_cases("sd1-tiny")) out.push_back({c, layout});
  for (const char* family : {"sd2-tiny", "sdxl-tiny"})
    for (const PipelineCase& c : testing::pipeline_cases(family)) out.push_back({c, "model.safetensors"});
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, CliGeneration, ::testing::ValuesIn(cli_cases()), [](const auto& info) {
  std::string layout = info.param.layout.substr(info.param.layout.find('.') + 1);
  return info.param.c.family.substr(0, info.param.c.family.find('-')) + "_" + info.param.c.id + "_" + layout;
});

// --- output files ------------------------------------------------------------------------------

TEST(Cli, PngCarriesParametersAndInfoPrintsThem) {
  const fs::path output = scratch_dir() / "params.png";
  const CliRun r = run({"generate", "-m", fixture("sd1-tiny/model.safetensors"), "-p", "a red, round apple", "-n", "blurry",
                     "-W", "64", "-H", "64", "--steps", "3", "-s", "7", "--sampling-method", "euler_a", "-o",
                     output.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto chunks = read_png_text(output.string());
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].first, "parameters");
  const GenerationParameters p = parse_parameters(chunks[0].second);
  EXPECT_EQ(p.prompt, "a red, round apple");
  EXPECT_EQ(p.negative_prompt, "blurry");
  EXPECT_EQ(p.steps, 3);
  EXPECT_EQ(p.seed, 7);
  EXPECT_EQ(p.width, 64);
  EXPECT_EQ(p.sampler, "Euler a");
  EXPECT_EQ(p.model, "model.safetensors");

  const CliRun info = run({"info", output.string()});
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("Negative prompt: blurry"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("Seed: 7"), std::string::npos) << info.out;
}

CliRun tiny_batch(std::vector<std::string> extra) {
  std::vector<std::string> a{"generate", "-m", fixture("sd1-tiny/model.safetensors"), "-p", "x", "-W", "64",
                             "-H", "64", "--steps", "2"};
  a.insert(a.end(), extra.begin(), extra.end());
  return run(a);
}

TEST(Cli, BatchUsesSuccessiveSeeds) {
  const fs::path base = scratch_dir() / "batch.png";
  auto with = tiny_batch;
  ASSERT_EQ(with({"-b", "2", "-s", "10", "-o", base.string()}).status, 0);
  const fs::path single = scratch_dir() / "seed11.png";
  ASSERT_EQ(with({"-s", "11", "-o", single.string()}).status, 0);
  EXPECT_TRUE(fs::exists(scratch_dir() / "batch_1.png"));
  EXPECT_EQ(read_png((scratch_dir() / "batch_2.png").string()).rgb, read_png(single.string()).rgb)
      << "image 2 of a batch seeded 10 should be the seed-11 image";
}

// --low-memory samples both images, frees the UNet, then decodes them: the images must not change.
TEST(Cli, LowMemoryBatchMakesTheSameImages) {
  const fs::path normal = scratch_dir() / "normal.png", low = scratch_dir() / "low.png";
  ASSERT_EQ(tiny_batch({"-b", "2", "-s", "3", "-o", normal.string()}).status, 0);
  const CliRun r = tiny_batch({"-b", "2", "-s", "3", "--low-memory", "-o", low.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* suffix : {"_1.png", "_2.png"})
    EXPECT_EQ(read_png((scratch_dir() / ("low" + std::string(suffix))).string()).rgb,
              read_png((scratch_dir() / ("normal" + std::string(suffix))).string()).rgb)
        << "image " << suffix << " differs with --low-memory";
}

// --vae-tiling and --hires as a user runs them (test_vae_tiling and test_hires_fix test what they do).
TEST(Cli, VaeTilingAndHiresFlags) {
  const fs::path plain = scratch_dir() / "untiled.png", tiled = scratch_dir() / "tiled.png";
  ASSERT_EQ(tiny_batch({"-s", "5", "-o", plain.string()}).status, 0);
  CliRun r = tiny_batch({"-s", "5", "--vae-tiling", "--vae-tile-size", "4", "-o", tiled.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_png(tiled.string()).width, 64);
  EXPECT_NE(read_png(tiled.string()).rgb, read_png(plain.string()).rgb) << "32-pixel tiles changed nothing";

  const fs::path hires = scratch_dir() / "hires.png";
  r = tiny_batch({"--hires", "--hr-steps", "3", "--hr-upscaler", "lanczos", "-o", hires.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_png(hires.string()).width, 128);
  EXPECT_EQ(read_png(hires.string()).height, 128);
  const std::string text = read_png_text(hires.string()).at(0).second;
  EXPECT_NE(text.find("Size: 64x64"), std::string::npos) << text;
  EXPECT_NE(text.find("Denoising strength: 0.7, Hires upscale: 2, Hires steps: 3, Hires upscaler: Lanczos"), std::string::npos)
      << text;

  expect_clean_failure(tiny_batch({"--hires", "--hr-scale", "5"}), "--hr-scale", 2);
  expect_clean_failure(tiny_batch({"--hires", "--hr-denoise", "1.5"}), "--hr-denoise", 2);
  expect_clean_failure(tiny_batch({"--hires", "--hr-upscaler", "esrgan"}), "--hr-upscaler", 2);
  expect_clean_failure(tiny_batch({"--hr-scale", "1.5"}), "--hires", 2);
  expect_clean_failure(tiny_batch({"--vae-tiling", "--vae-tile-size", "6"}), "--vae-tile-size must be a positive multiple of 4");
}

// --- info and tokenize -------------------------------------------------------------------------

TEST(Cli, InfoReportsFamilyAndPrediction) {
  struct Expect {
    const char* model;
    const char* family;
    const char* prediction;
  };
  for (const Expect& e : {Expect{"sd1-tiny/model.safetensors", "family: sd1", "prediction: eps (family default)"},
                          Expect{"sd1-tiny/model.ckpt", "family: sd1", "prediction: eps"},
                          Expect{"sd1-tiny/diffusers", "family: sd1", "prediction: eps (family default)"},
                          Expect{"sd2-tiny/model.safetensors", "family: sd2", "prediction: v (heuristic"},
                          Expect{"sdxl-tiny/model.safetensors", "family: sdxl", "prediction: eps"}}) {
    const CliRun r = run({"info", fixture(e.model)});
    ASSERT_EQ(r.status, 0) << e.model << ": " << r.err;
    EXPECT_NE(r.out.find(e.family), std::string::npos) << e.model << ": " << r.out;
    EXPECT_NE(r.out.find(e.prediction), std::string::npos) << e.model << ": " << r.out;
    EXPECT_NE(r.out.find("tensors: "), std::string::npos) << r.out;
  }
  const CliRun sd1 = run({"info", fixture("sd1-tiny/model.safetensors")});
  EXPECT_NE(sd1.out.find("tensors: 984"), std::string::npos) << sd1.out;
  EXPECT_NE(sd1.out.find("unet: channels 32,64,64,64"), std::string::npos) << sd1.out;
}

// --- bench ---------------------------------------------------------------------------------------

// Every stage timed and the machine's peak measured, on the tiny model (speed itself is not tested).
TEST(Cli, BenchReportsEveryStageAndTheMachinePeakAsJson) {
  const CliRun r = run({"bench", "-m", fixture("sd1-tiny/model.safetensors"), "--width", "64", "--height", "64",
                        "--steps", "2", "--measure-peak", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* stage : {"text_encode_s", "unet_pass_s", "cfg_step_s", "vae_decode_s", "peak_rss_mib"})
    EXPECT_GT(j.at(stage).get<double>(), 0.0) << stage;
  EXPECT_GT(j.at("fastest_step_s").get<double>(), 0.0);
  EXPECT_LE(j.at("fastest_step_s").get<double>(), j.at("cfg_step_s").get<double>());  // of the 2 steps
  EXPECT_GT(j.at("machine_peak_fp32").at("tflops").get<double>(), 0.0);
  EXPECT_NE(j.at("machine_peak_fp32").at("unit").get<std::string>().find("FMA"), std::string::npos);
  EXPECT_EQ(j.at("machine_peak_bf16").is_null(), !j.at("native_bf16").get<bool>());
  EXPECT_GT(j.at("peak_fp32").at("tflops").get<double>(), 0.0);
  const double busy = j.at("busy_before").get<double>();  // a share of the CPUs' time, from /proc/stat
  EXPECT_GE(busy, 0.0);
  EXPECT_LE(busy, 1.0);
}

// The user's timeline from a file: load, first text encode, every UNet call, decode, with the CPU named.
TEST(Cli, BenchFirstImageTimesTheWholeTimeline) {
  const CliRun r = run({"bench", "--first-image", "-m", fixture("sd1-tiny/model.safetensors"), "--steps", "3", "-W", "64",
                        "-H", "64", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("steps").get<int>(), 3);
  EXPECT_EQ(j.at("width").get<int>(), 64);
  const auto calls = j.at("unet_calls_s").get<std::vector<double>>();
  EXPECT_GE(calls.size(), 3u) << "one UNet call per step at least (PNDM adds one)";
  double sum = j.at("load_s").get<double>() + j.at("text_encode_s").get<double>() + j.at("decode_s").get<double>();
  for (double c : calls) {
    EXPECT_GT(c, 0.0);
    sum += c;
  }
  EXPECT_EQ(j.at("first_unet_s").get<double>(), calls.front());
  EXPECT_LE(sum, j.at("total_s").get<double>() * 1.001) << "the stages are parts of the total";
  EXPECT_GT(j.at("peak_rss_mib").get<double>(), 0.0);
  EXPECT_NE(j.at("cpu").get<std::string>().find("CPUs"), std::string::npos) << j.at("cpu");
}

TEST(Cli, TokenizePrintsEveryCaseExactly) {
  std::ifstream in(fixture("tokenizer/cases.json"));
  const nlohmann::json cases = nlohmann::json::parse(in);
  for (const auto& c : cases) {
    const CliRun r = run({"tokenize", c["text"].get<std::string>()});
    ASSERT_EQ(r.status, 0) << r.err;
    std::string expected;
    for (const auto& id : c["ids"]) expected += (expected.empty() ? "" : " ") + std::to_string(id.get<int>());
    EXPECT_EQ(r.out, expected + "\n") << "text: " << c["text"];
  }
}

// --- sd.cpp's and A1111's names, A1111's prompt syntax, clip skip ---------------------------------

struct Made {
  CliRun run;
  Image image;
  GenerationParameters parameters;
};

// sd1-tiny at 64x64, 3 steps, seed 5: the image and its PNG parameters (when it ran).
Made made(const std::string& id, const std::string& prompt, const std::vector<std::string>& extra) {
  const fs::path out = scratch_dir() / ("made-" + id + ".png");
  std::vector<std::string> a{"generate", "-m", fixture("sd1-tiny/model.safetensors"), "-p", prompt, "-W", "64", "-H", "64",
                             "--steps", "3", "-s", "5", "-o", out.string()};
  a.insert(a.end(), extra.begin(), extra.end());
  Made m{run(a), {}, {}};
  if (m.run.status == 0) {
    m.image = read_png(out.string());
    m.parameters = parse_parameters(read_png_text(out.string()).at(0).second);
  }
  return m;
}

std::string extra_value(const GenerationParameters& p, const std::string& key) {
  for (const auto& [k, v] : p.extra)
    if (k == key) return v;
  return "";
}

// Each --sampling-method / --scheduler name of stable-diffusion.cpp that diffuse implements, run
// once: the same image as diffuse's own name for it, and A1111's name in the PNG.
TEST(Cli, StableDiffusionCppNamesRunAsDiffusesOwn) {
  struct NameCase {
    std::vector<std::string> sdcpp, own;
    std::string sampler, schedule;  // what the PNG says
  };
  const std::vector<NameCase> cases{
      {{"--sampling-method", "euler"}, {}, "Euler", ""},
      {{"--sampling-method", "euler_a"}, {}, "Euler a", ""},
      {{"--sampling-method", "heun"}, {}, "Heun", ""},
      {{"--sampling-method", "lcm"}, {}, "LCM", ""},
      {{"--sampling-method", "dpm++2m"}, {"--sampling-method", "dpmpp_2m"}, "DPM++ 2M", ""},
      {{"--sampling-method", "ddim_trailing"}, {"--sampling-method", "ddim", "--timestep-spacing", "trailing"}, "DDIM", ""},
      {{"--sampling-method", "euler", "--scheduler", "discrete"}, {"--sampling-method", "euler", "--scheduler", "default"}, "Euler", ""},
      {{"--sampling-method", "euler", "--scheduler", "normal"}, {"--sampling-method", "euler"}, "Euler", ""},
      {{"--sampling-method", "dpm++2m", "--scheduler", "karras"}, {"--sampling-method", "dpmpp_2m", "--scheduler", "karras"},
       "DPM++ 2M", "karras"},
  };
  for (const NameCase& c : cases) {
    std::string id;
    for (const std::string& a : c.sdcpp) id += a;
    const Made sdcpp = made("sdcpp" + id, "a red circle", c.sdcpp);
    ASSERT_EQ(sdcpp.run.status, 0) << id << ": " << sdcpp.run.err;
    EXPECT_EQ(sdcpp.parameters.sampler, c.sampler) << id;
    EXPECT_EQ(sdcpp.parameters.scheduler, c.schedule) << id;
    if (c.own.empty()) continue;
    const Made own = made("own" + id, "a red circle", c.own);
    ASSERT_EQ(own.run.status, 0) << id << ": " << own.run.err;
    EXPECT_EQ(sdcpp.image.rgb, own.image.rgb) << id << " makes another image than diffuse's own name for it";
  }
}

TEST(Cli, NamesNotImplementedAreUsageErrorsListingTheImplemented) {
  const CliRun sampler = made("dpm2", "x", {"--sampling-method", "dpm2"}).run;
  EXPECT_EQ(sampler.status, 2) << sampler.err;
  EXPECT_NE(sampler.err.find("sampler 'dpm2' is not implemented in diffuse; implemented: ddim"), std::string::npos) << sampler.err;
  EXPECT_NE(sampler.err.find("dpmpp_2m (A1111 DPM++ 2M; sd.cpp dpm++2m)"), std::string::npos) << sampler.err;
  const CliRun scheduler = made("exponential", "x", {"--scheduler", "exponential"}).run;
  EXPECT_EQ(scheduler.status, 2) << scheduler.err;
  EXPECT_NE(scheduler.err.find("scheduler 'exponential' is not implemented in diffuse; implemented: default"), std::string::npos)
      << scheduler.err;
}

TEST(Cli, PromptWeightingOnAndOff) {
  // Off, brackets are words: the image of the same words escaped with weighting on, and A1111's
  // "Emphasis: None" in the PNG.
  const Made off = made("weights-off", "a (red:1.5) [circle]", {"--prompt-weighting", "off"});
  ASSERT_EQ(off.run.status, 0) << off.run.err;
  const Made escaped = made("weights-escaped", "a \\(red:1.5\\) \\[circle\\]", {});
  ASSERT_EQ(escaped.run.status, 0) << escaped.run.err;
  EXPECT_EQ(off.image.rgb, escaped.image.rgb) << "--prompt-weighting off is not the prompt read as plain text";
  EXPECT_EQ(extra_value(off.parameters, "Emphasis"), "None");
  const Made on = made("weights-on", "a (red:1.5) [circle]", {});
  ASSERT_EQ(on.run.status, 0) << on.run.err;
  EXPECT_NE(on.image.rgb, off.image.rgb) << "the weights changed nothing";
  EXPECT_EQ(extra_value(on.parameters, "Emphasis"), "");

  // Past 75 tokens: a second chunk with weighting on, cut with it off.
  std::string long_prompt = "a red circle";
  for (int i = 0; i < 40; ++i) long_prompt += ", blue square";
  const Made chunked = made("long-on", long_prompt, {});
  const Made cut = made("long-off", long_prompt, {"--prompt-weighting", "off"});
  ASSERT_EQ(chunked.run.status, 0) << chunked.run.err;
  ASSERT_EQ(cut.run.status, 0) << cut.run.err;
  EXPECT_NE(chunked.image.rgb, cut.image.rgb) << "the tokens past 75 changed nothing";
  EXPECT_EQ(made("break", "a red circle BREAK on a blue background", {}).run.status, 0);
}

TEST(Cli, ClipSkipCountsLayersFromTheEnd) {
  const Made own = made("clip-default", "a red circle", {});
  const Made one = made("clip-1", "a red circle", {"--clip-skip", "1"});
  const Made two = made("clip-2", "a red circle", {"--clip-skip", "2"});
  ASSERT_EQ(own.run.status, 0) << own.run.err;
  ASSERT_EQ(one.run.status, 0) << one.run.err;
  ASSERT_EQ(two.run.status, 0) << two.run.err;
  EXPECT_EQ(one.image.rgb, own.image.rgb) << "clip skip 1 is SD1's own layer";
  EXPECT_NE(two.image.rgb, own.image.rgb) << "clip skip 2 changed nothing";
  EXPECT_EQ(extra_value(two.parameters, "Clip skip"), "2");
  EXPECT_EQ(extra_value(own.parameters, "Clip skip"), "");
  expect_clean_failure(made("clip-4", "x", {"--clip-skip", "4"}).run, "clip skip 4 is outside 1..3");
  EXPECT_EQ(made("clip-0", "x", {"--clip-skip", "0"}).run.status, 2);
}

// --- bad input ---------------------------------------------------------------------------------

class HostileInfo : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileInfo, RefusedWithOneLineNamingTheFile) {
  const std::string path = fixture("hostile/" + GetParam());
  const CliRun r = run({"info", path});
  expect_clean_failure(r, path);
  EXPECT_FALSE(fs::exists("/tmp/diffuse-pwned")) << "a hostile checkpoint ran code";
}

INSTANTIATE_TEST_SUITE_P(All, HostileInfo, ::testing::Values(
    "bad_dtype.safetensors", "exec_eval.ckpt", "exec_os_system.ckpt", "header_len_huge.safetensors",
    "huge_shape.safetensors", "missing_storage.ckpt", "not_json.safetensors", "offsets_past_end.safetensors",
    "overlap.safetensors", "shape_mismatch.safetensors", "truncated.safetensors"),
    [](const auto& info) { return info.param.substr(0, info.param.find('.')) + "_" + info.param.substr(info.param.find('.') + 1); });

std::vector<std::string> tiny_generate(std::vector<std::string> extra) {
  std::vector<std::string> a{"generate", "-m", fixture("sd1-tiny/model.safetensors"), "-p", "x", "-H", "64",
                             "--steps", "2", "-o", (scratch_dir() / "bad.png").string()};
  if (std::find(extra.begin(), extra.end(), "-W") == extra.end()) a.insert(a.end(), {"-W", "64"});
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(Cli, BadInputIsRefusedClearly) {
  expect_clean_failure(run({"generate", "-m", "/nonexistent/model.safetensors", "-p", "x"}), "/nonexistent/model.safetensors");
  expect_clean_failure(run(tiny_generate({"-W", "65"})), "65x64 is not a positive multiple of 8");
  expect_clean_failure(run(tiny_generate({"--strength", "0"})), "--strength");
  expect_clean_failure(run(tiny_generate({"--strength", "1.5"})), "--strength");
  expect_clean_failure(run(tiny_generate({"-i", "/nonexistent/init.png"})), "/nonexistent/init.png");
  const fs::path not_png = scratch_dir() / "not.png";
  std::ofstream(not_png) << "hello";
  expect_clean_failure(run(tiny_generate({"-i", not_png.string()})), not_png.string());
  expect_clean_failure(run(tiny_generate({"--sampling-method", "warp_drive"})), "warp_drive", 2);
}

// --- a model's own defaults (safetensors __metadata__) and the built-in model ---------------------

// sd1-tiny/model.safetensors with `metadata` as its __metadata__.
fs::path tiny_with_metadata(const std::string& name, const nlohmann::json& metadata) {
  const std::string bytes = slurp(fixture("sd1-tiny/model.safetensors"));
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | uint8_t(bytes[size_t(i)]);
  nlohmann::json header = nlohmann::json::parse(bytes.substr(8, length));
  header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the tensors stay 8-byte aligned
  std::string head(8, '\0');
  for (int i = 0; i < 8; ++i) head[size_t(i)] = char(uint64_t(text.size()) >> (8 * i) & 0xFF);
  const fs::path path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary) << head << text << bytes.substr(8 + length);
  return path;
}

TEST(Cli, DefaultsComeFromTheModelsMetadata) {
  const fs::path model = tiny_with_metadata("with-defaults.safetensors",
                                            {{"diffuse.default_width", "64"}, {"diffuse.default_height", "128"},
                                             {"diffuse.default_steps", "3"}, {"diffuse.default_cfg_scale", "2.5"},
                                             {"diffuse.default_sampler", "euler"}, {"diffuse.name", "tiny-test"}});
  const fs::path out = scratch_dir() / "defaults.png";
  const CliRun r = run({"generate", "-m", model.string(), "-p", "x", "-o", out.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  const Image image = read_png(out.string());
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 128);
  const GenerationParameters p = parse_parameters(read_png_text(out.string()).at(0).second);
  EXPECT_EQ(p.steps, 3);
  EXPECT_EQ(p.cfg_scale, 2.5);
  EXPECT_EQ(p.sampler, "Euler");
  const CliRun flags = run({"generate", "-m", model.string(), "-p", "x", "--steps", "2", "--cfg-scale", "4", "-o", out.string()});
  ASSERT_EQ(flags.status, 0) << flags.err;
  const GenerationParameters given = parse_parameters(read_png_text(out.string()).at(0).second);
  EXPECT_EQ(given.steps, 2);
  EXPECT_EQ(given.cfg_scale, 4.0);
  const CliRun info = run({"info", model.string()});
  EXPECT_NE(info.out.find("name: tiny-test"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("defaults: 64x128, 3 steps, sampler euler, CFG scale 2.5"), std::string::npos) << info.out;

  const fs::path bad = tiny_with_metadata("bad-defaults.safetensors", {{"diffuse.default_steps", "many"}});
  expect_clean_failure(run({"generate", "-m", bad.string(), "-p", "x", "-o", out.string()}), "diffuse.default_steps");
  const fs::path bad_sampler = tiny_with_metadata("bad-sampler.safetensors", {{"diffuse.default_sampler", "warp_drive"}});
  expect_clean_failure(run({"info", bad_sampler.string()}), "warp_drive");
}

TEST(Cli, WithoutAModelTheBuiltInOneIsUsed) {
  const fs::path model = tiny_with_metadata("builtin.safetensors", {{"diffuse.default_width", "64"}, {"diffuse.default_height", "64"},
                                                                    {"diffuse.default_steps", "2"}});
  const std::string env = "DIFFUSE_DEFAULT_MODEL=" + quote(model.string()) + " ";
  const fs::path out = scratch_dir() / "builtin.png";
  const std::string cmd = env + quote(DIFFUSE_CLI) + " generate -p x -o " + quote(out.string()) + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(parse_parameters(read_png_text(out.string()).at(0).second).model, "builtin.safetensors");
  const fs::path info_out = scratch_dir() / "builtin-info.txt";
  ASSERT_EQ(std::system((env + quote(DIFFUSE_CLI) + " info >" + quote(info_out.string())).c_str()), 0);
  EXPECT_NE(slurp(info_out).find("default model: " + model.string()), std::string::npos) << slurp(info_out);
  const std::string missing = "DIFFUSE_DEFAULT_MODEL=/nonexistent/demo.safetensors " + quote(DIFFUSE_CLI) + " info >/dev/null 2>&1";
  // Falls back to the shipped model when the variable names nothing; fails only if none exists.
  const int status = std::system(missing.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) < 2) << status;
}

TEST(Cli, UsageErrorsExit2WithHelp) {
  const CliRun unknown = run({"frobnicate"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("generate"), std::string::npos) << unknown.err;
  const CliRun flag = run({"generate", "-m", "m.safetensors", "-p", "x", "--no-such-flag"});
  EXPECT_EQ(flag.status, 2);
  EXPECT_NE(flag.err.find("--no-such-flag"), std::string::npos) << flag.err;
  EXPECT_NE(flag.err.find("--sampling-method"), std::string::npos) << "usage of generate expected: " << flag.err;
  EXPECT_EQ(run({}).status, 2);
  EXPECT_EQ(run({"--help"}).status, 0);
  const CliRun help = run({"generate", "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--cfg-scale"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace diffuse
