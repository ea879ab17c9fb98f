#pragma once
// A measure of meaning for the demo model: reads a 64x64 picture of one or two simple shapes on a
// plain background (the scenes of training/data.py) and says what it shows — background colour,
// object colour, count, shape, position and size — from plain pixel statistics and geometry, so a
// generated image can be checked against the prompt that made it.
//
// The vocabulary (palette, named positions, sizes, pair layouts) comes from the data's spec file,
// tests/fixtures/demo/heldout.json (a copy of training/heldout.json); the shape thresholds are
// calibrated on ground-truth renders (see scene_analyser.cpp), never on generated images.
#include <array>
#include <string>
#include <vector>

#include "io/image.h"

namespace diffuse::scene {

struct NamedColor {
  std::string name;
  std::array<double, 3> rgb;
};
struct NamedPoint {
  std::string name;
  double x, y;  // fractions of the image side, y downwards
};

// What the training data is drawn from (training/data.py's spec()).
struct SceneSpec {
  std::vector<NamedColor> colors;
  std::vector<std::string> shapes;
  std::vector<NamedPoint> positions;
  double small_half_extent = 9, big_half_extent = 14;  // pixels of a 64x64 image
  // Held-out colour x shape pairs: never in training.
  std::vector<std::pair<std::string, std::string>> heldout;
  // Phrasing, to build prompts the way the training captions say things.
  std::vector<std::pair<std::string, std::vector<std::string>>> size_words, position_phrases;
  std::vector<std::string> background_phrases;  // with "{c}" for the colour
  std::vector<std::string> pair_layouts;        // "side by side", "one above the other"
  const std::vector<std::string>& size_words_for(const std::string& size) const;
  const std::vector<std::string>& position_phrases_for(const std::string& position) const;
};
// Reads heldout.json; throws diffuse::Error naming the file for a missing or malformed one.
SceneSpec load_scene_spec(const std::string& path);

// The geometry a shape is told by, of one object's mask (pixels nearer the object colour than the
// background's). Scale-free, and insensitive to the data's slight rotations (about ±9°).
struct ShapeFeatures {
  double solidity = 0;   // area / convex hull area: star ~0.6, the others 0.84-1
  double skewness = 0;   // of the rows' distribution, y down: triangle (apex up) ~-0.55, heart (point down) ~+0.2
  double roundness = 0;  // area / (pi * largest centre-to-pixel distance^2): circle ~0.9, square ~0.64
  double rect_fill = 0;  // area / smallest enclosing rectangle (any angle): square ~0.92, circle ~0.79, triangle ~0.53
};

struct SceneObject {
  double cx = 0, cy = 0;  // centroid in pixels
  int area = 0;           // pixels
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // bounding box, inclusive
  ShapeFeatures features;
  std::string shape;  // one of the spec's shapes, or "unknown" for a blob like none of them
};

struct SceneAnalysis {
  std::string background;   // palette name
  std::string color;        // palette name of the object(s); "" when no object was found
  int count = 0;            // objects above the minimum area
  std::vector<SceneObject> objects;  // largest first
  std::string shape;        // the largest object's; "" without objects
  std::string position;     // named position of the object, or of a pair's midpoint; "" without objects
  std::string layout;       // two objects: "side by side" or "one above the other"; else ""
  std::string size;         // "small" or "big" (from the mean object area and its shape); "" without objects
};

SceneAnalysis analyse_scene(const Image& image, const SceneSpec& spec);

// "red circle, small, top left, on blue" (and the count when not 1): for test messages.
std::string describe(const SceneAnalysis& analysis);

// --- scoring against what a picture should show ---------------------------------------------------

struct Expected {
  std::string color, background, shape, position, size;
  int count = 1;
  std::string layout;  // a pair's layout when the prompt (or label) says one; else "" (not checked)
};

// Right and wrong per attribute over many pictures, with the wrong ones named, for accuracy tables
// and for failure messages that say which picture missed what.
class Scorecard {
 public:
  // The attributes scored, in table order. Position includes a pair's layout where one is expected.
  static const std::vector<std::string>& attributes();
  // `name` says which picture (file, or prompt and seed).
  void add(const std::string& name, const Expected& want, const SceneAnalysis& got);
  int total() const { return total_; }
  double accuracy(const std::string& attribute) const;  // 0..1
  // One line per attribute: "  colour      94/96   97.9%".
  std::string table(const std::string& title) const;
  // The pictures that got `attribute` wrong, one per line (at most `limit`).
  std::string misses(const std::string& attribute, size_t limit = 12) const;

 private:
  int total_ = 0;
  std::vector<int> right_ = std::vector<int>(attributes().size(), 0);
  std::vector<std::vector<std::string>> misses_ = std::vector<std::vector<std::string>>(attributes().size());
};

}  // namespace diffuse::scene
