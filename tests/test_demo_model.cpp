// The demo model (models/demo.safetensors, trained by training/) judged on meaning: it draws from
// prompts phrased like its training captions, and the scene analyser (scene_analyser.h) reads back
// what each picture shows. Held-out prompts name colour x shape pairs the model never saw; the
// in-distribution ones name pairs it was trained on. Everything runs through diffuse::generate
// with the model's own defaults (size, steps, sampler, CFG from its metadata), as `diffuse generate`
// does without flags.
//
//   DIFFUSE_DEMO_MODEL=path       judge another checkpoint (e.g. one exported mid-training)
//   DIFFUSE_DEMO_SHEET=dir        also write each test's pictures as one PNG (rows: prompts, columns: seeds)
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <tuple>

#include "core/dnnl_context.h"
#include "golden.h"
#include "io/image.h"
#include "pipeline/generate.h"
#include "pipeline/model_defaults.h"
#include "pipeline/stable_diffusion.h"
#include "scene_analyser.h"

namespace diffuse::scene {
namespace {

constexpr int kPrompts = 24;
constexpr int kSeeds = 4;

// Issue 19's bar, held out and in distribution alike. The shipped model reaches it for background,
// position and count, not yet for colour and shape: the table prints it as the goal.
const std::vector<std::pair<std::string, double>> kBar{
    {"colour", 0.90}, {"background", 0.90}, {"position", 0.85}, {"shape", 0.75}, {"count", 0.75}};
// What the shipped model does reach (docs/demo-model.md), less a margin: the test fails when a
// change to the engine or a newly trained model draws worse. Raised as the model improves, until
// it is kBar; an attribute the model does not yet draw has no floor.
const std::vector<std::pair<std::string, double>> kFloor{
    {"colour", 0.55}, {"background", 0.95}, {"position", 0.90}, {"shape", 0.50}, {"count", 0.95}};

const SceneSpec& spec() {
  static const SceneSpec s = load_scene_spec(testing::fixture("demo/heldout.json"));
  return s;
}

std::string model_path() {
  if (const char* env = std::getenv("DIFFUSE_DEMO_MODEL")) return env;
  return DIFFUSE_MODELS "/demo.safetensors";
}

// Loaded once for all tests; null (and the test fails saying so) when the file is missing.
const StableDiffusion* demo_model() {
  static const std::unique_ptr<StableDiffusion> model = [] {
    // One thread unless OMP_NUM_THREADS says otherwise: at 8x8 latents a step is a few ms of small
    // products that a second thread barely speeds up, while OpenMP threads spinning at barriers make
    // it 10-40x slower whenever another process (ctest -j, a build) wants the same cores.
    if (!std::getenv("OMP_NUM_THREADS")) set_num_threads(1);
    return std::filesystem::exists(model_path()) ? StableDiffusion::load(model_path()) : nullptr;
  }();
  return model.get();
}

struct Case {
  std::string prompt;
  Expected want;
};

template <class T>
const T& pick(std::mt19937& rng, const std::vector<T>& options) {
  return options[rng() % options.size()];  // not std::uniform_int_distribution: the same on every platform
}

// A caption the way training/data.py words one, with every attribute said. Most say
// "<noun> <position> <background>"; a few lead with the background or end in ", <colour> background",
// as some training captions do.
std::string caption(std::mt19937& rng, const Expected& w, int index) {
  const std::string size_word = pick(rng, spec().size_words_for(w.size));
  std::string noun, position;
  if (w.count == 2) {
    noun = "two " + size_word + " " + w.color + " " + w.shape + "s";
    position = w.layout;  // "" when the prompt leaves the layout to the model
  } else {
    noun = std::string(std::string("aeiou").find(size_word[0]) != std::string::npos ? "an " : "a ") + size_word +
           " " + w.color + " " + w.shape;
    position = pick(rng, spec().position_phrases_for(w.position));
  }
  const std::string noun_position = noun + (position.empty() ? "" : " " + position);
  if (index % 8 == 5) {
    const std::string article = std::string("aeiou").find(w.background[0]) != std::string::npos ? "an " : "a ";
    return article + w.background + " background with " + noun_position;
  }
  if (index % 8 == 7) return noun_position + ", " + w.background + " background";
  std::string background = pick(rng, spec().background_phrases);
  background.replace(background.find("{c}"), 3, w.background);
  return noun_position + " " + background;
}

bool held_out(const std::string& color, const std::string& shape) {
  for (const auto& [c, s] : spec().heldout)
    if (c == color && s == shape) return true;
  return false;
}

// kPrompts scenes, deterministic: held out, each held-out pair in turn; in distribution, each shape in
// turn with a trained colour. Background, size and position drawn at random, every fourth a pair
// (the data has a quarter), half of the pairs with their layout named.
std::vector<Case> make_cases(bool heldout) {
  std::mt19937 rng(heldout ? 19 : 20);
  std::vector<std::string> colors, positions;
  for (const NamedColor& c : spec().colors) colors.push_back(c.name);
  for (const NamedPoint& p : spec().positions) positions.push_back(p.name);
  std::vector<Case> cases;
  for (int i = 0; i < kPrompts; ++i) {
    Expected w;
    if (heldout) {
      std::tie(w.color, w.shape) = spec().heldout[i % spec().heldout.size()];
    } else {
      w.shape = spec().shapes[i % spec().shapes.size()];
      do w.color = pick(rng, colors);
      while (held_out(w.color, w.shape));
    }
    do w.background = pick(rng, colors);
    while (w.background == w.color);
    w.size = rng() % 2 ? "big" : "small";
    if (i % 4 == 3) {
      w.count = 2;
      w.position = "centre";  // how the data labels a pair: it is centred as a whole
      if (i % 8 == 3) w.layout = pick(rng, spec().pair_layouts);
    } else {
      w.position = pick(rng, positions);
    }
    cases.push_back({caption(rng, w, i), w});
  }
  return cases;
}

struct Settings {
  int steps;
  double cfg;
};

// Every case x kSeeds through generate() and the analyser; pictures kept when a sheet is asked for.
Scorecard judge(const StableDiffusion& model, const std::vector<Case>& cases, const Settings& settings,
                std::vector<Image>* pictures = nullptr) {
  const UsageDefaults d = usage_defaults(model.files(), model.family());
  Scorecard card;
  for (const Case& c : cases)
    for (int seed = 0; seed < kSeeds; ++seed) {
      GenerateOptions o;
      o.prompt = c.prompt;
      o.seed = seed;
      o.width = d.width, o.height = d.height, o.sampler = d.sampler;
      o.steps = settings.steps, o.cfg_scale = settings.cfg;
      Image image = generate(model, o).image;
      card.add("\"" + c.prompt + "\" seed " + std::to_string(seed), c.want, analyse_scene(image, spec()));
      if (pictures) pictures->push_back(std::move(image));
    }
  return card;
}

// The pictures as one PNG, a row per prompt and a column per seed, 2 grey pixels apart.
void write_sheet(const std::vector<Image>& pictures, const std::string& path) {
  const int w = pictures.front().width, h = pictures.front().height, gap = 2;
  const int rows = int(pictures.size()) / kSeeds;
  Image sheet{kSeeds * (w + gap) - gap, rows * (h + gap) - gap, {}};
  sheet.rgb.assign(size_t(sheet.width) * sheet.height * 3, 128);
  for (size_t k = 0; k < pictures.size(); ++k) {
    const int ox = int(k % kSeeds) * (w + gap), oy = int(k / kSeeds) * (h + gap);
    for (int y = 0; y < h; ++y)
      std::copy_n(&pictures[k].rgb[size_t(y) * w * 3], w * 3, &sheet.rgb[(size_t(oy + y) * sheet.width + ox) * 3]);
  }
  write_png(path, sheet);
}

void judge_against_bar(bool heldout) {
  const StableDiffusion* model = demo_model();
  ASSERT_NE(model, nullptr) << model_path() << " is missing: the demo model is trained and exported by training/ "
                            << "(training/README.md)";
  const UsageDefaults d = usage_defaults(model->files(), model->family());
  const std::vector<Case> cases = make_cases(heldout);
  const char* sheet_dir = std::getenv("DIFFUSE_DEMO_SHEET");
  std::vector<Image> pictures;
  const auto start = std::chrono::steady_clock::now();
  const Scorecard card = judge(*model, cases, {d.steps, d.cfg_scale}, sheet_dir ? &pictures : nullptr);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const std::string kind = heldout ? "held-out" : "in-distribution";
  char title[256];
  std::snprintf(title, sizeof title, "demo model, %s prompts x %d seeds (%dx%d, %s, %d steps, CFG %g; %.1f s)",
                kind.c_str(), kSeeds, d.width, d.height, d.sampler.c_str(), d.steps, d.cfg_scale, seconds);
  std::printf("%s", card.table(title).c_str());
  if (sheet_dir) write_sheet(pictures, std::string(sheet_dir) + "/" + (heldout ? "heldout" : "in_distribution") + ".png");
  for (const auto& [attribute, bar] : kBar)
    std::printf("%-11s %5.1f%% against issue 19's bar of %.0f%%\n", attribute.c_str(), 100 * card.accuracy(attribute), 100 * bar);
  for (const auto& [attribute, floor] : kFloor)
    EXPECT_GE(card.accuracy(attribute), floor)
        << kind << " " << attribute << " right in " << 100 * card.accuracy(attribute) << "% of pictures, under the shipped "
        << "model's floor of " << 100 * floor << "%; misread:\n"
        << card.misses(attribute);
}

TEST(DemoModel, DrawsHeldOutCombinations) { judge_against_bar(true); }

TEST(DemoModel, DrawsTrainedCombinations) { judge_against_bar(false); }

// How accuracy moves with guidance and step count, for docs/demo-model.md: a measurement (several
// minutes), not a check, so it runs only when asked for:
//   build/test_demo_model --gtest_also_run_disabled_tests --gtest_filter='*Sweep*'
TEST(DemoModel, DISABLED_SweepCfgAndSteps) {
  const StableDiffusion* model = demo_model();
  ASSERT_NE(model, nullptr) << model_path() << " is missing";
  const UsageDefaults d = usage_defaults(model->files(), model->family());
  const std::vector<Case> cases = make_cases(false);
  std::printf("in-distribution prompts, %d x %d seeds, %s sampler\n\n", kPrompts, kSeeds, d.sampler.c_str());
  std::printf("| CFG | steps | colour | background | shape | position | count | size | s/image |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const double cfg : {1.0, 3.0, 7.5})
    for (const int steps : {5, 10, 20, 50}) {
      const auto start = std::chrono::steady_clock::now();
      const Scorecard card = judge(*model, cases, {steps, cfg});
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("| %g | %d |", cfg, steps);
      for (const std::string& a : Scorecard::attributes()) std::printf(" %.0f%% |", 100 * card.accuracy(a));
      std::printf(" %.3f |\n", seconds / card.total());
      std::fflush(stdout);
    }
}

}  // namespace
}  // namespace diffuse::scene
