// The scene analyser's own accuracy, on ground-truth renders: before it judges a model, it must read
// pictures whose content is known. Two sets of renders by training/data.py (4x4-supersampled,
// anti-aliased, the data the model learns from): groundtruth/ (training/groundtruth, 64) and
// groundtruth_more/ (256 more, another seed). The shape thresholds were calibrated on a third set of
// renders, so these are held-out measurements. The same renders blurred and noised stand in for
// the softness of generated pictures.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "golden.h"
#include "io/image.h"
#include "scene_analyser.h"

namespace diffuse::scene {
namespace {

const SceneSpec& spec() {
  static const SceneSpec s = load_scene_spec(testing::fixture("demo/heldout.json"));
  return s;
}

struct Render {
  std::string file;
  Image image;
  Expected want;
};

// A set's labels.json (written by data.py's write_groundtruth) and its PNGs.
std::vector<Render> load_renders(const std::string& set) {
  const std::string dir = testing::fixture("demo/" + set);
  std::ifstream in(dir + "/labels.json");
  if (!in) throw std::runtime_error(dir + "/labels.json: cannot open");
  const nlohmann::json labels = nlohmann::json::parse(in);
  std::vector<Render> out;
  for (const auto& e : labels) {
    Render r;
    r.file = set + "/" + e.at("file").get<std::string>();
    r.image = read_png(dir + "/" + e.at("file").get<std::string>());
    Expected& w = r.want;
    w.color = e.at("color"), w.background = e.at("background"), w.shape = e.at("shape");
    w.position = e.at("position"), w.size = e.at("size"), w.count = e.at("count");
    if (w.count == 2) {  // the layout the labels imply: the pair's centres differ most in x, or in y
      const auto& c = e.at("centres");
      const double dx = std::abs(c[0][0].get<double>() - c[1][0].get<double>());
      const double dy = std::abs(c[0][1].get<double>() - c[1][1].get<double>());
      w.layout = dx >= dy ? "side by side" : "one above the other";
    }
    out.push_back(std::move(r));
  }
  return out;
}

// A separable Gaussian blur (edges clamped) and deterministic noise of +-amplitude per channel.
Image soften(const Image& image, double sigma, int amplitude) {
  const int W = image.width, H = image.height, R = 3;
  std::vector<double> k(2 * R + 1);
  double sum = 0;
  for (int i = -R; i <= R; ++i) sum += k[i + R] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : k) v /= sum;
  std::vector<double> a(image.rgb.begin(), image.rgb.end()), b(a.size());
  for (int pass = 0; pass < 2; ++pass) {
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < 3; ++c) {
          double v = 0;
          for (int i = -R; i <= R; ++i) {
            const int xx = pass == 0 ? std::clamp(x + i, 0, W - 1) : x;
            const int yy = pass == 1 ? std::clamp(y + i, 0, H - 1) : y;
            v += k[i + R] * a[(size_t(yy) * W + xx) * 3 + c];
          }
          b[(size_t(y) * W + x) * 3 + c] = v;
        }
    std::swap(a, b);
  }
  Image out = image;
  uint32_t state = 12345;
  for (size_t i = 0; i < a.size(); ++i) {
    state = state * 1664525u + 1013904223u;  // an LCG: the same noise on every platform
    const int noise = int((state >> 16) % uint32_t(2 * amplitude + 1)) - amplitude;
    out.rgb[i] = uint8_t(std::clamp(std::lround(a[i]) + noise, 0L, 255L));
  }
  return out;
}

Scorecard score(const std::vector<Render>& renders, double sigma = 0, int noise = 0) {
  Scorecard card;
  for (const Render& r : renders)
    card.add(r.file, r.want, analyse_scene(sigma > 0 ? soften(r.image, sigma, noise) : r.image, spec()));
  return card;
}

void expect_at_least(const Scorecard& card, const std::string& attribute, double bar) {
  EXPECT_GE(card.accuracy(attribute), bar) << attribute << " accuracy " << 100 * card.accuracy(attribute)
                                           << "% is under " << 100 * bar << "%; misread:\n"
                                           << card.misses(attribute);
}

// Every attribute of every clean render: the analyser reads the data exactly.
TEST(SceneAnalyser, ReadsGroundTruthRenders) {
  for (const std::string set : {"groundtruth", "groundtruth_more"}) {
    const Scorecard card = score(load_renders(set));
    std::printf("%s", card.table("scene analyser on " + set).c_str());
    for (const std::string& a : Scorecard::attributes()) expect_at_least(card, a, 1.0);
  }
}

// Softened like a generated picture (a VAE decode is slightly blurred, and not flat): the reading holds.
TEST(SceneAnalyser, ReadsBlurredNoisyRenders) {
  std::vector<Render> all = load_renders("groundtruth");
  for (Render& r : load_renders("groundtruth_more")) all.push_back(std::move(r));
  for (const double sigma : {0.7, 1.0}) {
    const Scorecard card = score(all, sigma, 12);
    char title[96];
    std::snprintf(title, sizeof title, "scene analyser on ground truth, Gaussian blur sigma %.1f px, noise +-12", sigma);
    std::printf("%s", card.table(title).c_str());
    for (const std::string& a : Scorecard::attributes()) expect_at_least(card, a, 0.95);
  }
}

TEST(SceneAnalyser, PlainBackgroundHasNoObject) {
  Image image{64, 64, std::vector<uint8_t>(64 * 64 * 3)};
  for (size_t i = 0; i < image.rgb.size(); i += 3) image.rgb[i] = 240, image.rgb[i + 1] = 130, image.rgb[i + 2] = 25;
  const SceneAnalysis a = analyse_scene(image, spec());
  EXPECT_EQ(a.background, "orange");
  EXPECT_EQ(a.count, 0);
  EXPECT_EQ(a.color, "");
  EXPECT_EQ(a.shape, "");
}

// A picture drawn by a predicate: `inside(x, y)` (pixel centres) in `fg`, the rest in `bg`.
template <class Inside>
Image draw(Inside inside, std::array<uint8_t, 3> fg, std::array<uint8_t, 3> bg) {
  Image image{64, 64, std::vector<uint8_t>(64 * 64 * 3)};
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      const auto& c = inside(x + 0.5, y + 0.5) ? fg : bg;
      std::copy(c.begin(), c.end(), &image.rgb[(y * 64 + x) * 3]);
    }
  return image;
}

// A blob like none of the five shapes (an ellipse 1.4x as wide as tall) is not forced into one.
TEST(SceneAnalyser, AnEllipseIsNoShape) {
  const Image image = draw([](double x, double y) { return std::hypot((x - 32) / 14, (y - 32) / 10) <= 1; },
                           {220, 30, 30}, {30, 60, 220});
  const SceneAnalysis a = analyse_scene(image, spec());
  EXPECT_EQ(a.count, 1) << describe(a);
  EXPECT_EQ(a.color, "red");
  EXPECT_EQ(a.shape, "unknown") << describe(a);
}

// A smear halfway from the background to purple (nearer purple, but barely) is no purple object.
TEST(SceneAnalyser, AFaintSmearIsNoObject) {
  const Image image = draw([](double x, double y) { return std::hypot(x - 32, y - 32) <= 10; }, {85, 50, 200},
                           {30, 60, 220});
  const SceneAnalysis a = analyse_scene(image, spec());
  EXPECT_EQ(a.background, "blue");
  EXPECT_EQ(a.count, 0) << describe(a);
}

// Two big circles drawn so they touch make one component: it is read as the pair it is.
TEST(SceneAnalyser, SplitsATouchingPair) {
  const double r = 15.5;  // the circles meet at x = 32
  const Image image = draw(
      [r](double x, double y) { return std::hypot(x - 16.5, y - 32) <= r || std::hypot(x - 47.5, y - 32) <= r; },
      {245, 220, 30}, {30, 60, 220});
  const SceneAnalysis a = analyse_scene(image, spec());
  EXPECT_EQ(a.count, 2) << describe(a);
  EXPECT_EQ(a.color, "yellow");
  EXPECT_EQ(a.background, "blue");
  EXPECT_EQ(a.layout, "side by side");
  EXPECT_EQ(a.position, "centre");
  EXPECT_EQ(a.shape, "circle") << describe(a);
}

}  // namespace
}  // namespace diffuse::scene
