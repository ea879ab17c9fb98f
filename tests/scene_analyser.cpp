#include "scene_analyser.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <numbers>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "core/error.h"

namespace diffuse::scene {

// --- the spec ------------------------------------------------------------------------------------

namespace {

const std::vector<std::string>& lookup(const std::vector<std::pair<std::string, std::vector<std::string>>>& table,
                                       const std::string& key, const char* what) {
  for (const auto& [k, v] : table)
    if (k == key) return v;
  throw Error(std::string("scene spec: no ") + what + " '" + key + "'");
}

}  // namespace

const std::vector<std::string>& SceneSpec::size_words_for(const std::string& size) const {
  return lookup(size_words, size, "size");
}
const std::vector<std::string>& SceneSpec::position_phrases_for(const std::string& position) const {
  return lookup(position_phrases, position, "position");
}

SceneSpec load_scene_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  // ordered_json keeps the file's order (data.py's), so prompts built by cycling through the
  // colours or positions come out the same on every platform.
  nlohmann::ordered_json j;
  try {
    in >> j;
    SceneSpec spec;
    for (const auto& [name, rgb] : j.at("colors").items())
      spec.colors.push_back({name, {rgb.at(0).get<double>(), rgb.at(1).get<double>(), rgb.at(2).get<double>()}});
    spec.shapes = j.at("shapes").get<std::vector<std::string>>();
    for (const auto& [name, xy] : j.at("positions").items())
      spec.positions.push_back({name, xy.at(0).get<double>(), xy.at(1).get<double>()});
    spec.small_half_extent = j.at("sizes").at("small").get<double>();
    spec.big_half_extent = j.at("sizes").at("big").get<double>();
    for (const auto& pair : j.at("heldout")) spec.heldout.emplace_back(pair.at(0), pair.at(1));
    for (const auto& [k, v] : j.at("size_words").items()) spec.size_words.emplace_back(k, v.get<std::vector<std::string>>());
    for (const auto& [k, v] : j.at("position_phrases").items())
      spec.position_phrases.emplace_back(k, v.get<std::vector<std::string>>());
    spec.background_phrases = j.at("background_phrases").get<std::vector<std::string>>();
    for (const auto& [k, v] : j.at("pair_layouts").items()) spec.pair_layouts.push_back(k);
    if (spec.colors.empty() || spec.positions.empty()) throw Error("no colours or positions");
    return spec;
  } catch (const std::exception& e) {
    throw Error(path + ": " + e.what());
  }
}

// --- pixels --------------------------------------------------------------------------------------

namespace {

using Rgb = std::array<double, 3>;

// Calibrated on ground-truth renders: 600 scenes written by data.py's write_groundtruth (seed 5;
// not the renders the tests check), clean and softened as a VAE softens (Gaussian blur of sigma 0.7
// and 1 px, noise +-12), 758 objects each. Never on generated pictures.
//
// A pixel takes part in the object-colour vote only if it is this far (RGB distance) from the
// background: above the noise of a flat background, below half the closest palette pair
// (orange-yellow, 86), so no object colour is ever out of reach ...
constexpr double kCandidateDistance = 40;
// ... and only if it is clearly its palette colour: nearer it than this fraction of its distance to
// the background, i.e. at most a third of the way from that colour towards the background. A smear
// halfway between the background and some colour is no object of that colour, and the blended
// pixels of an anti-aliased rim do not vote.
constexpr double kClearColor = 0.5;
// Components smaller than this are specks, not objects (the smallest object, a small star, covers ~85).
constexpr int kMinObjectArea = 15;
// ... and so are components under this fraction of the largest (the two objects of a pair have one size).
constexpr double kMinObjectFraction = 0.25;
// No single shape is more than 1.2x as wide as tall or vice versa; a component this elongated is a
// pair drawn touching (big circles side by side nearly touch: 1.4 px apart before jitter).
constexpr double kPairAspect = 1.5;

// Each shape's features over the calibration renders (clean and softened): min..max.
struct Range {
  double lo, hi;
};
struct ShapeRanges {
  const char* shape;
  Range solidity, skewness, roundness, rect_fill;
};
constexpr ShapeRanges kMeasured[] = {
    {"circle", {0.895, 0.967}, {-0.035, 0.037}, {0.812, 0.949}, {0.708, 0.859}},
    {"square", {0.901, 1.000}, {-0.045, 0.043}, {0.595, 0.731}, {0.850, 1.000}},
    {"triangle", {0.829, 0.931}, {-0.612, -0.410}, {0.387, 0.559}, {0.486, 0.657}},
    {"star", {0.568, 0.811}, {-0.099, 0.101}, {0.423, 0.648}, {0.403, 0.639}},
    {"heart", {0.886, 0.955}, {0.159, 0.247}, {0.664, 0.762}, {0.683, 0.809}},
};
// The decision between shapes cuts each gap between these ranges at its midpoint. Stars are the only
// concave shape (solidity <= 0.81 against >= 0.83; blur fattens their arms, hence their upper end).
constexpr double kStarSolidity = 0.82;
// Row skewness, y down: a triangle has its mass at its base (apex up, <= -0.41), a heart in its lobes
// (point down, >= 0.16); circles, squares and stars are near symmetric (within +-0.1).
constexpr double kTriangleSkew = -0.25;
constexpr double kHeartSkew = 0.10;
// Roundness: circle >= 0.81, square <= 0.73 (its corners reach sqrt(2) x its half-side).
constexpr double kCircleRoundness = 0.77;
// A blob is a shape only if all four features lie within that shape's measured ranges widened by
// this much (twice for skewness, whose spread is wider); otherwise its shape is "unknown". Without
// this every irregular blob would be read as the shape the cuts fall through to.
constexpr double kRangeMargin = 0.05;

// Area of each shape at half-extent 1 as data.py draws it, to turn an area into a size.
double unit_area(const std::string& shape) {
  if (shape == "circle") return std::numbers::pi;
  if (shape == "square") return 1.7 * 1.7;
  if (shape == "triangle") return 1.6168;
  if (shape == "star") return 1.3225;
  if (shape == "heart") return 2.5431;
  return 2.3;  // "unknown": the five shapes' mean
}

Rgb pixel(const Image& image, int i) {
  const uint8_t* p = &image.rgb[size_t(i) * 3];
  return {double(p[0]), double(p[1]), double(p[2])};
}

double distance2(const Rgb& a, const Rgb& b) {
  double s = 0;
  for (int c = 0; c < 3; ++c) s += (a[c] - b[c]) * (a[c] - b[c]);
  return s;
}

int nearest_color(const SceneSpec& spec, const Rgb& p) {
  int best = 0;
  for (int k = 1; k < int(spec.colors.size()); ++k)
    if (distance2(p, spec.colors[k].rgb) < distance2(p, spec.colors[best].rgb)) best = k;
  return best;
}

// Per-channel median of the given pixels: the colour as drawn, unmoved by stray or blended pixels.
Rgb median_rgb(const Image& image, const std::vector<int>& pixels) {
  Rgb out{};
  std::vector<double> v(pixels.size());
  for (int c = 0; c < 3; ++c) {
    for (size_t k = 0; k < pixels.size(); ++k) v[k] = image.rgb[size_t(pixels[k]) * 3 + c];
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    out[c] = v[v.size() / 2];
  }
  return out;
}

int mode(const std::vector<int>& votes) {
  return int(std::max_element(votes.begin(), votes.end()) - votes.begin());
}

// --- geometry ------------------------------------------------------------------------------------

struct Point {
  int64_t x, y;
  auto operator<=>(const Point&) const = default;
};

int64_t cross(const Point& o, const Point& a, const Point& b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

// Convex hull (Andrew's monotone chain) of the pixels' corners, counter-clockwise, so that a filled
// convex shape's hull and its pixel count measure the same region.
std::vector<Point> convex_hull(const std::vector<int>& pixels, int width) {
  std::vector<Point> pts;
  pts.reserve(pixels.size() * 4);
  for (int i : pixels) {
    const int64_t x = i % width, y = i / width;
    for (int dy = 0; dy <= 1; ++dy)
      for (int dx = 0; dx <= 1; ++dx) pts.push_back({x + dx, y + dy});
  }
  std::sort(pts.begin(), pts.end());
  pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
  std::vector<Point> hull(2 * pts.size());
  size_t k = 0;
  for (size_t i = 0; i < pts.size(); ++i) {  // lower chain
    while (k >= 2 && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  for (size_t i = pts.size() - 1, lower = k + 1; i-- > 0;) {  // upper chain
    while (k >= lower && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  hull.resize(k - 1);
  return hull;
}

double polygon_area(const std::vector<Point>& poly) {
  int64_t twice = 0;
  for (size_t i = 0; i < poly.size(); ++i) {
    const Point& a = poly[i];
    const Point& b = poly[(i + 1) % poly.size()];
    twice += a.x * b.y - b.x * a.y;
  }
  return std::abs(double(twice)) / 2;
}

// The smallest rectangle around a convex polygon has a side on one of its edges (rotating calipers).
double min_rectangle_area(const std::vector<Point>& hull) {
  double best = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < hull.size(); ++i) {
    const Point& a = hull[i];
    const Point& b = hull[(i + 1) % hull.size()];
    const double len = std::hypot(double(b.x - a.x), double(b.y - a.y));
    const double ux = (b.x - a.x) / len, uy = (b.y - a.y) / len;
    double lo_u = 1e30, hi_u = -1e30, lo_v = 1e30, hi_v = -1e30;
    for (const Point& p : hull) {
      const double u = p.x * ux + p.y * uy, v = -p.x * uy + p.y * ux;
      lo_u = std::min(lo_u, u), hi_u = std::max(hi_u, u), lo_v = std::min(lo_v, v), hi_v = std::max(hi_v, v);
    }
    best = std::min(best, (hi_u - lo_u) * (hi_v - lo_v));
  }
  return best;
}

SceneObject measure(const std::vector<int>& pixels, int width) {
  SceneObject o;
  o.area = int(pixels.size());
  o.x0 = o.y0 = 1 << 30;
  o.x1 = o.y1 = -1;
  for (int i : pixels) {
    const int x = i % width, y = i / width;
    o.cx += x + 0.5;  // pixel centres: data.py's coordinates
    o.cy += y + 0.5;
    o.x0 = std::min(o.x0, x), o.x1 = std::max(o.x1, x);
    o.y0 = std::min(o.y0, y), o.y1 = std::max(o.y1, y);
  }
  o.cx /= o.area;
  o.cy /= o.area;
  double m2 = 0, m3 = 0, rmax = 0;
  for (int i : pixels) {
    const double dx = i % width + 0.5 - o.cx, dy = i / width + 0.5 - o.cy;
    m2 += dy * dy;
    m3 += dy * dy * dy;
    rmax = std::max(rmax, std::hypot(dx, dy));
  }
  m2 /= o.area;
  m3 /= o.area;
  ShapeFeatures& f = o.features;
  const std::vector<Point> hull = convex_hull(pixels, width);  // >= 4 corners: a component has a pixel
  f.solidity = o.area / polygon_area(hull);
  f.rect_fill = o.area / min_rectangle_area(hull);
  f.skewness = m2 > 0 ? m3 / std::pow(m2, 1.5) : 0;
  rmax += 0.5;  // to the pixel's edge, not its centre
  f.roundness = o.area / (std::numbers::pi * rmax * rmax);
  return o;
}

std::string classify_shape(const ShapeFeatures& f) {
  std::string shape;
  if (f.solidity < kStarSolidity) shape = "star";
  else if (f.skewness < kTriangleSkew) shape = "triangle";
  else if (f.skewness > kHeartSkew) shape = "heart";
  else shape = f.roundness >= kCircleRoundness ? "circle" : "square";
  const auto within = [](double v, Range r, double margin) { return v >= r.lo - margin && v <= r.hi + margin; };
  for (const ShapeRanges& m : kMeasured)
    if (shape == m.shape)
      return within(f.solidity, m.solidity, kRangeMargin) && within(f.skewness, m.skewness, 2 * kRangeMargin) &&
                     within(f.roundness, m.roundness, kRangeMargin) && within(f.rect_fill, m.rect_fill, kRangeMargin)
                 ? shape
                 : "unknown";
  return "unknown";
}

// 8-connected components of the mask, as pixel-index lists.
std::vector<std::vector<int>> components(const std::vector<uint8_t>& mask, int width, int height) {
  std::vector<std::vector<int>> out;
  std::vector<uint8_t> seen(mask.size(), 0);
  for (int start = 0; start < int(mask.size()); ++start) {
    if (!mask[start] || seen[start]) continue;
    std::vector<int> pixels, stack{start};
    seen[start] = 1;
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      pixels.push_back(i);
      const int x = i % width, y = i / width;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          const int xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
          const int j = yy * width + xx;
          if (mask[j] && !seen[j]) seen[j] = 1, stack.push_back(j);
        }
    }
    out.push_back(std::move(pixels));
  }
  return out;
}

// A component much longer than wide is two objects drawn touching: cut it across its long axis where
// it is thinnest, within its middle 40%.
std::vector<std::vector<int>> split_touching_pair(const std::vector<int>& pixels, int width) {
  const SceneObject o = measure(pixels, width);
  const int w = o.x1 - o.x0 + 1, h = o.y1 - o.y0 + 1;
  const bool across_x = w >= h;  // side by side: cut at a column
  const int lo = across_x ? o.x0 : o.y0, len = across_x ? w : h;
  if (double(len) < kPairAspect * (across_x ? h : w)) return {pixels};
  std::vector<int> thickness(len, 0);
  for (int i : pixels) ++thickness[(across_x ? i % width : i / width) - lo];
  int cut = len / 2;
  for (int k = int(len * 0.3); k <= int(len * 0.7); ++k)
    if (thickness[k] < thickness[cut]) cut = k;
  std::vector<std::vector<int>> halves(2);
  for (int i : pixels) halves[(across_x ? i % width : i / width) - lo > cut].push_back(i);
  return halves;
}

const NamedPoint& nearest_position(const SceneSpec& spec, double fx, double fy) {
  const NamedPoint* best = &spec.positions.front();
  for (const NamedPoint& p : spec.positions)
    if (std::hypot(p.x - fx, p.y - fy) < std::hypot(best->x - fx, best->y - fy)) best = &p;
  return *best;
}

}  // namespace

// --- the analysis --------------------------------------------------------------------------------

SceneAnalysis analyse_scene(const Image& image, const SceneSpec& spec) {
  const int W = image.width, H = image.height, n = W * H;
  if (W < 8 || H < 8 || image.rgb.size() != size_t(n) * 3) throw Error("analyse_scene: not an RGB image of 8x8 or more");
  const int ncolors = int(spec.colors.size());
  std::vector<int> label(n);
  for (int i = 0; i < n; ++i) label[i] = nearest_color(spec, pixel(image, i));

  // Background: the commonest colour of a 2-pixel frame. Objects reach the border at most in a
  // corner, so it is mostly background even then.
  std::vector<int> frame;
  for (int i = 0; i < n; ++i) {
    const int x = i % W, y = i / W;
    if (x < 2 || y < 2 || x >= W - 2 || y >= H - 2) frame.push_back(i);
  }
  std::vector<int> votes(ncolors, 0);
  for (int i : frame) ++votes[label[i]];
  const int bg = mode(votes);
  std::vector<int> bg_pixels;
  for (int i : frame)
    if (label[i] == bg) bg_pixels.push_back(i);
  const Rgb bg_rgb = median_rgb(image, bg_pixels);

  SceneAnalysis out;
  out.background = spec.colors[bg].name;

  // Object colour: the vote of the pixels clearly off the background and clearly a palette colour,
  // counting only those whose 8 neighbours are too — the inside of an object, not its anti-aliased
  // rim, whose blends of the two colours can be nearest a third palette colour (red on blue: purple).
  std::vector<uint8_t> candidate(n, 0);
  for (int i = 0; i < n; ++i) {
    const Rgb p = pixel(image, i);
    const double to_bg = distance2(p, bg_rgb);
    candidate[i] = label[i] != bg && to_bg > kCandidateDistance * kCandidateDistance &&
                   distance2(p, spec.colors[label[i]].rgb) < kClearColor * kClearColor * to_bg;
  }
  std::vector<int> inside;
  for (int i = 0; i < n; ++i) {
    if (!candidate[i]) continue;
    const int x = i % W, y = i / W;
    bool all = x > 0 && y > 0 && x < W - 1 && y < H - 1;
    for (int dy = -1; all && dy <= 1; ++dy)
      for (int dx = -1; all && dx <= 1; ++dx) all = candidate[(y + dy) * W + x + dx];
    if (all) inside.push_back(i);
  }
  if (inside.empty())  // only a sliver: let every candidate vote
    for (int i = 0; i < n; ++i)
      if (candidate[i]) inside.push_back(i);
  if (inside.empty()) return out;  // nothing but background
  std::fill(votes.begin(), votes.end(), 0);
  for (int i : inside) ++votes[label[i]];
  const int fg = mode(votes);
  std::vector<int> fg_pixels;
  for (int i : inside)
    if (label[i] == fg) fg_pixels.push_back(i);
  const Rgb fg_rgb = median_rgb(image, fg_pixels);
  out.color = spec.colors[fg].name;

  // The objects: pixels nearer the object's colour than the background's, i.e. more than half
  // covered where the edge is anti-aliased, so areas match the drawn shapes.
  std::vector<uint8_t> mask(n);
  for (int i = 0; i < n; ++i) mask[i] = distance2(pixel(image, i), fg_rgb) < distance2(pixel(image, i), bg_rgb);
  std::vector<std::vector<int>> parts;
  for (const auto& c : components(mask, W, H))
    for (auto& part : split_touching_pair(c, W)) parts.push_back(std::move(part));
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& part : parts) {
    if (int(part.size()) < kMinObjectArea || part.size() < kMinObjectFraction * parts.front().size()) break;
    SceneObject o = measure(part, W);
    o.shape = classify_shape(o.features);
    out.objects.push_back(std::move(o));
  }
  out.count = int(out.objects.size());
  if (out.objects.empty()) return out;
  out.shape = out.objects.front().shape;

  // Position: the object's centroid, or the midpoint of all objects, nearest a named position (a
  // pair as the data draws it is centred: position "centre").
  double mx = 0, my = 0, area = 0;
  for (const SceneObject& o : out.objects) mx += o.cx, my += o.cy, area += o.area;
  mx /= out.count, my /= out.count;
  out.position = nearest_position(spec, mx / W, my / H).name;
  if (out.count >= 2) {
    const SceneObject &a = out.objects[0], &b = out.objects[1];
    out.layout = std::abs(a.cx - b.cx) >= std::abs(a.cy - b.cy) ? "side by side" : "one above the other";
  }

  // Size: the half-extent that the mean area implies for the shape, against the geometric mean of
  // the two sizes (the data's sizes differ by a factor, so the cut is in ratio, not difference).
  const double half_extent = std::sqrt(area / out.count / unit_area(out.shape));
  out.size = half_extent < std::sqrt(spec.small_half_extent * spec.big_half_extent) ? "small" : "big";
  return out;
}

std::string describe(const SceneAnalysis& a) {
  if (a.count == 0) return "nothing on " + a.background;
  std::ostringstream s;
  if (a.count != 1) s << a.count << " ";
  s << a.color << " " << a.shape << (a.count != 1 ? "s" : "") << ", " << a.size << ", " << a.position;
  if (!a.layout.empty()) s << " (" << a.layout << ")";
  s << ", on " << a.background;
  return s.str();
}

const std::vector<std::string>& Scorecard::attributes() {
  static const std::vector<std::string> names{"colour", "background", "shape", "position", "count", "size"};
  return names;
}

void Scorecard::add(const std::string& name, const Expected& want, const SceneAnalysis& got) {
  const bool layout_ok = want.layout.empty() || got.layout == want.layout;
  const std::string position_got = got.position + (got.layout.empty() ? "" : " (" + got.layout + ")");
  const std::string position_want = want.position + (want.layout.empty() ? "" : " (" + want.layout + ")");
  const std::vector<std::tuple<bool, std::string, std::string>> checks{
      {got.color == want.color, got.color, want.color},
      {got.background == want.background, got.background, want.background},
      {got.shape == want.shape, got.shape, want.shape},
      {got.position == want.position && layout_ok, position_got, position_want},
      {got.count == want.count, std::to_string(got.count), std::to_string(want.count)},
      {got.size == want.size, got.size, want.size},
  };
  for (size_t k = 0; k < checks.size(); ++k) {
    const auto& [ok, g, w] = checks[k];
    if (ok) {
      ++right_[k];
    } else {
      misses_[k].push_back(name + ": " + attributes()[k] + " '" + (g.empty() ? "none" : g) + "', want '" + w +
                           "' (saw " + describe(got) + ")");
    }
  }
  ++total_;
}

double Scorecard::accuracy(const std::string& attribute) const {
  const auto it = std::find(attributes().begin(), attributes().end(), attribute);
  if (it == attributes().end()) throw Error("Scorecard: no attribute '" + attribute + "'");
  return total_ ? double(right_[it - attributes().begin()]) / total_ : 0;
}

std::string Scorecard::table(const std::string& title) const {
  std::ostringstream s;
  s << title << " (" << total_ << " pictures)\n";
  for (size_t k = 0; k < attributes().size(); ++k) {
    char line[96];
    std::snprintf(line, sizeof line, "  %-11s %4d/%-4d %6.1f%%\n", attributes()[k].c_str(), right_[k], total_,
                  total_ ? 100.0 * right_[k] / total_ : 0.0);
    s << line;
  }
  return s.str();
}

std::string Scorecard::misses(const std::string& attribute, size_t limit) const {
  const auto it = std::find(attributes().begin(), attributes().end(), attribute);
  if (it == attributes().end()) throw Error("Scorecard: no attribute '" + attribute + "'");
  const auto& list = misses_[it - attributes().begin()];
  std::string out;
  for (size_t k = 0; k < list.size() && k < limit; ++k) out += "  " + list[k] + "\n";
  if (list.size() > limit) out += "  ... and " + std::to_string(list.size() - limit) + " more\n";
  return out;
}

}  // namespace diffuse::scene
