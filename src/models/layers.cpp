#include "models/layers.h"

namespace diffuse {

Linear Linear::load(const Weights& w, int in, int out, bool bias) {
  const Shape stored = w.shape("weight");
  const Shape expected = stored.size() == 4 ? Shape{out, in, 1, 1} : Shape{out, in};
  return {LinearKernel(w.source("weight", expected), bias ? w.get("bias", {out}) : std::vector<float>{}, out, in,
                       LinearKernel::Activation::None, w.precision())};
}

Linear Linear::load_rows(const Weights& w, int in, int first, int count, LinearKernel::Activation activation) {
  const int out = int(w.shape("weight").at(0));
  const std::vector<float> bias = w.get("bias", {out});
  return {LinearKernel(w.source("weight", {out, in}).slice(size_t(first) * in, size_t(count) * in),
                       {bias.begin() + first, bias.begin() + first + count}, count, in, activation, w.precision())};
}

Conv2d Conv2d::load(const Weights& w, int in, int out, int kernel, int stride,
                    std::optional<Conv2dKernel::Padding> padding, bool bias) {
  return {Conv2dKernel(w.source("weight", {out, in, kernel, kernel}), bias ? w.get("bias", {out}) : std::vector<float>{},
                       out, in, kernel, stride,
                       padding.value_or(Conv2dKernel::Padding{kernel / 2, kernel / 2}), w.precision())};
}

GroupNorm GroupNorm::load(const Weights& w, int channels, int groups, float eps) {
  return {w.get("weight", {channels}), w.get("bias", {channels}), groups, eps};
}

LayerNorm LayerNorm::load(const Weights& w, int channels, float eps) {
  return {w.get("weight", {channels}), w.get("bias", {channels}), eps};
}

}  // namespace diffuse
