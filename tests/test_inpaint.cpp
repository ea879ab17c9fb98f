// Inpainting against diffusers 0.27.2's StableDiffusionInpaintPipeline (fixtures/wave2: a 4-channel
// UNet blending the known region, a 9-channel inpainting UNet), the mask's preparation, and the
// `generate --mask` flags as a user runs them.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "golden.h"
#include "io/generation_parameters.h"
#include "io/image.h"
#include "pipeline/generate.h"
#include "pipeline/inpaint.h"
#include "pipeline_cases.h"

namespace diffuse {
namespace {

namespace fs = std::filesystem;
using testing::fixture;
using testing::golden;
using testing::Golden;
using testing::image_of;

// A pipelines.json-style case, plus the model it runs on and the mask's blur.
struct InpaintCase : testing::PipelineCase {
  std::string model;
  int mask_blur = 0;
};

void PrintTo(const InpaintCase& c, std::ostream* os) { *os << c.id; }

std::vector<InpaintCase> inpaint_cases() {
  std::ifstream in(fixture("wave2/cases.json"));
  std::vector<InpaintCase> out;
  for (const auto& c : nlohmann::json::parse(in)) {
    if (!c["id"].get<std::string>().starts_with("inpaint")) continue;  // the TAESD cases are not inpainting
    InpaintCase ic;
    ic.family = "sd1", ic.id = c["id"], ic.sampler = c["sampler"], ic.prompt = c["prompt"], ic.negative = c["negative"];
    ic.file = c["file"], ic.seed = c["seed"], ic.steps = c["steps"], ic.width = c["width"], ic.height = c["height"];
    ic.cfg = c["cfg"], ic.strength = c["strength"].get<double>();
    ic.model = c["model"], ic.mask_blur = c["mask_blur"];
    out.push_back(std::move(ic));
  }
  return out;
}

std::string model_path(const std::string& name) {
  return name == "sd1-tiny-inpaint" ? fixture("wave2/sd1-tiny-inpaint.safetensors") : fixture(name + "/model.safetensors");
}

const StableDiffusion& model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<StableDiffusion>> cache;
  auto& m = cache[name];
  if (!m) m = StableDiffusion::load(model_path(name));
  return *m;
}

GenerateOptions options_of(const InpaintCase& c, const TensorArchive& expected) {
  GenerateOptions o = testing::generate_options(c);
  o.strength = c.strength.value_or(1.0);
  o.init_image = image_of(golden(expected, "init_image_u8"));
  o.mask = image_of(golden(expected, "mask_u8"));
  o.mask_blur = c.mask_blur;
  return o;
}

// The largest difference in 8-bit steps, and where.
struct Lsb {
  int max = 0;
  size_t at = 0;
};
Lsb lsb_difference(const Image& got, const Golden& expected) {
  Lsb d;
  for (size_t i = 0; i < got.rgb.size() && i < expected.values.size(); ++i) {
    const int diff = std::abs(int(got.rgb[i]) - int(expected.values[i]));
    if (diff > d.max) d = {diff, i};
  }
  return d;
}

class Inpaint : public ::testing::TestWithParam<InpaintCase> {};

TEST_P(Inpaint, ImageMatchesDiffusersWithin1Lsb) {
  const InpaintCase& c = GetParam();
  const TensorArchive expected = load_safetensors(fixture("wave2/" + c.file));
  const StableDiffusion& m = model(c.model);
  EXPECT_EQ(m.inpainting(), c.id.starts_with("inpaint9"));
  const GenerateResult r = generate(m, options_of(c, expected));
  const Golden u8 = golden(expected, "image_u8");
  ASSERT_EQ(r.image.rgb.size(), u8.values.size());
  const Lsb d = lsb_difference(r.image, u8);
  std::printf("%s: max difference %d LSB\n", c.id.c_str(), d.max);
  EXPECT_LE(d.max, 1) << c.id << ": " << d.max << " LSB at byte " << d.at;
}

INSTANTIATE_TEST_SUITE_P(Wave2, Inpaint, ::testing::ValuesIn(inpaint_cases()),
                         [](const auto& info) { return info.param.id; });

// --- the mask ----------------------------------------------------------------------------------

Image solid(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  Image image{width, height, {}};
  for (int i = 0; i < width * height; ++i) image.rgb.insert(image.rgb.end(), {r, g, b});
  return image;
}

TEST(InpaintMask, GreyAsPilThenBinarisedAtHalf) {
  // PIL's L of (255, 0, 0) is 76 (keep), of (0, 255, 0) 150 (repaint); 128 / 255 is the first grey >= 0.5.
  EXPECT_EQ(prepare_mask(solid(8, 8, 255, 0, 0), 8, 8, 0, false).data()[0], 0.0f);
  EXPECT_EQ(prepare_mask(solid(8, 8, 0, 255, 0), 8, 8, 0, false).data()[0], 1.0f);
  EXPECT_EQ(prepare_mask(solid(8, 8, 127, 127, 127), 8, 8, 0, false).data()[0], 0.0f);
  EXPECT_EQ(prepare_mask(solid(8, 8, 128, 128, 128), 8, 8, 0, false).data()[0], 1.0f);
  EXPECT_EQ(prepare_mask(solid(8, 8, 255, 255, 255), 8, 8, 0, true).data()[0], 0.0f);
}

TEST(InpaintMask, OtherSizesAreResizedAndBlurSoftensOnlyTheEdge) {
  Image half = solid(16, 8, 0, 0, 0);  // right half white
  for (int y = 0; y < 8; ++y)
    for (int x = 8; x < 16; ++x) std::fill_n(&half.rgb[size_t(y * 16 + x) * 3], 3, uint8_t(255));
  const Tensor resized = prepare_mask(half, 32, 16, 0, false);
  ASSERT_EQ(resized.shape(), (Shape{1, 1, 16, 32}));
  EXPECT_EQ(resized.data()[5 * 32 + 3], 0.0f);
  EXPECT_EQ(resized.data()[5 * 32 + 28], 1.0f);
  const Tensor blurred = prepare_mask(half, 16, 8, 4, false);
  EXPECT_EQ(blurred.data()[0], 0.0f);
  EXPECT_EQ(blurred.data()[15], 1.0f);
  EXPECT_THROW(prepare_mask(half, 16, 8, -1, false), Error);
  EXPECT_THROW(prepare_mask(half, 16, 8, kMaxMaskBlur + 1, false), Error);
}

TEST(InpaintMask, LatentGridIsTorchNearest) {
  Tensor mask({1, 1, 4, 4});
  for (int i = 0; i < 16; ++i) mask.data()[i] = float(i);
  const Tensor small = resize_nearest(mask, 2, 2);
  EXPECT_EQ(small.to_vector(), (std::vector<float>{0, 2, 8, 10}));
}

TEST(InpaintPipeline, MaskWithoutInitImageIsAnError) {
  GenerateOptions o;
  o.prompt = "x";
  o.width = o.height = 64;
  o.steps = 2;
  o.mask = solid(64, 64, 255, 255, 255);
  try {
    generate(model("sd1-tiny"), o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("init image"), std::string::npos) << e.what();
  }
}

// An inpainting UNet without a mask repaints everything (A1111's txt2img with such a model).
TEST(InpaintPipeline, InpaintingModelRunsTxt2img) {
  GenerateOptions o;
  o.prompt = "a wooden boat";
  o.width = o.height = 64;
  o.steps = 2;
  o.sampler = "euler";
  const GenerateResult r = generate(model("sd1-tiny-inpaint"), o);
  EXPECT_EQ(r.image.width, 64);
}

// --- the command line --------------------------------------------------------------------------

struct CliRun {
  int status;
  std::string err;
};

fs::path scratch_dir() {
  static const fs::path dir = fs::temp_directory_path() / ("diffuse-inpaint-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  return dir;
}

CliRun run(const std::vector<std::string>& args) {
  auto quote = [](const std::string& s) {
    std::string q = "'";
    for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    return q + "'";
  };
  const fs::path err = scratch_dir() / "stderr";
  std::string cmd = quote(DIFFUSE_CLI);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >/dev/null 2>" + quote(err.string()) + " </dev/null";
  const int raw = std::system(cmd.c_str());
  std::ifstream in(err);
  std::stringstream s;
  s << in.rdbuf();
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), s.str()};
}

class InpaintCli : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const InpaintCase& ic : inpaint_cases())
      if (ic.id == "inpaint9_ddim") c = ic;
    const TensorArchive expected = load_safetensors(fixture("wave2/" + c.file));
    init = (scratch_dir() / "init.png").string();
    mask = (scratch_dir() / "mask.png").string();
    write_png(init, image_of(golden(expected, "init_image_u8")));
    write_png(mask, image_of(golden(expected, "mask_u8")));
    expected_u8 = golden(expected, "image_u8");
  }
  std::vector<std::string> args(const std::string& output) const {
    return {"generate", "-m", model_path(c.model), "-p", c.prompt, "-n", c.negative, "-s", std::to_string(c.seed),
            "--steps", std::to_string(c.steps), "--cfg-scale", std::to_string(c.cfg), "--sampling-method", c.sampler,
            "-W", std::to_string(c.width), "-H", std::to_string(c.height), "--precision", "fp32", "-t", "1",
            "-o", output};
  }
  InpaintCase c;
  std::string init, mask;
  Golden expected_u8;
};

TEST_F(InpaintCli, MaskFlagsReproduceDiffusersAndAreRecorded) {
  const std::string output = (scratch_dir() / "cli.png").string();
  std::vector<std::string> a = args(output);
  a.insert(a.end(), {"-i", init, "--mask", mask, "--mask-blur", "0", "--strength", "1"});
  const CliRun r = run(a);
  ASSERT_EQ(r.status, 0) << r.err;
  const Lsb d = lsb_difference(read_png(output), expected_u8);
  EXPECT_LE(d.max, 1) << d.max << " LSB at byte " << d.at;
  const GenerationParameters p = parse_parameters(read_png_text(output).at(0).second);
  EXPECT_EQ(p.strength, 1.0);
  const auto blur = std::find_if(p.extra.begin(), p.extra.end(), [](const auto& kv) { return kv.first == "Mask blur"; });
  ASSERT_NE(blur, p.extra.end());
  EXPECT_EQ(blur->second, "0");
}

TEST_F(InpaintCli, MasksOfAnotherSizeAreResizedAndBadMasksRefused) {
  const std::string output = (scratch_dir() / "cli2.png").string();
  const std::string small = (scratch_dir() / "small-mask.png").string();
  write_png(small, resize_image(read_png(mask), 32, 32));
  std::vector<std::string> a = args(output);
  a.insert(a.end(), {"-i", init, "--mask", small, "--invert-mask"});
  CliRun r = run(a);
  ASSERT_EQ(r.status, 0) << r.err;
  const GenerationParameters p = parse_parameters(read_png_text(output).at(0).second);
  EXPECT_NE(std::find(p.extra.begin(), p.extra.end(), std::pair<std::string, std::string>{"Mask mode", "Inpaint not masked"}),
            p.extra.end());

  const std::string not_png = (scratch_dir() / "mask.txt").string();
  std::ofstream(not_png) << "not a picture";
  a = args(output);
  a.insert(a.end(), {"-i", init, "--mask", not_png});
  r = run(a);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("--mask"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  a = args(output);
  a.insert(a.end(), {"-i", init, "--mask", (scratch_dir() / "missing.png").string()});
  r = run(a);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("missing.png"), std::string::npos) << r.err;

  a = args(output);
  a.insert(a.end(), {"--mask", mask});
  r = run(a);
  EXPECT_EQ(r.status, 2) << r.err;  // bad usage
  EXPECT_NE(r.err.find("--mask"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("init-img"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace diffuse
