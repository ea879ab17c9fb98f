#include "pipeline/random_model.h"

#include <cmath>
#include <functional>
#include <memory>

#include "core/error.h"
#include "pipeline/checkpoint_layout.h"

namespace diffuse {
namespace {

struct Architecture {
  UNetConfig unet;
  std::vector<ClipTextConfig> text_encoders;
  VaeConfig vae;  // every family shares SD's 128, 256, 512, 512 autoencoder layout
};

UNetConfig unet(std::vector<int> channels, std::vector<int> depth, int mid_depth, int context_dim, int fixed_heads) {
  UNetConfig c;
  c.channels = std::move(channels);
  c.depth = std::move(depth);
  c.mid_depth = mid_depth;
  c.context_dim = context_dim;
  c.fixed_heads = fixed_heads;
  return c;
}

ClipTextConfig clip(int hidden, int layers, int intermediate, int projection_dim) {
  ClipTextConfig c;
  c.hidden = hidden;
  c.layers = layers;
  c.heads = hidden / 64;
  c.intermediate = intermediate;
  c.projection_dim = projection_dim;
  return c;
}

// The hyper-parameters of the released checkpoints (their diffusers config.json files).
Architecture architecture(const std::string& arch) {
  // CLIP ViT-L/14 text encoder; conv projections and 8 heads everywhere in the UNet.
  if (arch == "sd15") return {unet({320, 640, 1280, 1280}, {1, 1, 1, 0}, 1, 768, 8), {clip(768, 12, 3072, 0)}, {}};
  // OpenCLIP ViT-H/14 with its 24 layers and projection, as the single file stores them (SD2
  // conditions on the penultimate layer); head size 64 and linear projections in the UNet.
  if (arch == "sd21")
    return {unet({320, 640, 1280, 1280}, {1, 1, 1, 0}, 1, 1024, 0), {clip(1024, 24, 4096, 1024)}, {}};
  if (arch == "sdxl") {
    // Pooled OpenCLIP-bigG embedding (1280) + 6 time ids of 256 each = adm_in 2816.
    UNetConfig u = unet({320, 640, 1280}, {0, 2, 10}, 10, 2048, 0);
    u.adm_in_channels = 2816;
    u.addition_time_embed_dim = 256;
    return {u, {clip(768, 12, 3072, 0), clip(1280, 32, 5120, 1280)}, {}};
  }
  throw Error("no random-weight architecture '" + arch + "' (known: sd15, sd21, sdxl)");
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// FNV-1a: a tensor's values depend on the seed and its name only, not on the layout's order.
uint64_t name_hash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : name) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
  return h;
}

// Values are center + spread * u, u uniform in [-1, 1).
struct Distribution {
  float center, spread;
};

Distribution distribution(const TensorSpec& spec) {
  switch (spec.role) {
    case TensorRole::Weight: return {0.0f, 1.0f / std::sqrt(float(shape_numel(spec.shape) / spec.shape.front()))};
    case TensorRole::NormScale: return {1.0f, 0.02f};
    case TensorRole::Bias:
    case TensorRole::NormShift:
    case TensorRole::Embedding: return {0.0f, 0.02f};
  }
  return {0.0f, 0.0f};
}

void fill(const TensorSpec& spec, uint64_t stream, uint16_t* out) {
  const Distribution d = distribution(spec);
  const int64_t n = shape_numel(spec.shape);
  for (int64_t i = 0; i < n; ++i) {
    const float u = float(splitmix64(stream + uint64_t(i)) >> 40) * 0x1p-23f - 1.0f;  // 24 random bits
    out[i] = float_to_half(d.center + d.spread * u);
  }
}

// One owned fp16 buffer for all of a component's tensors, filled in parallel.
TensorArchive random_archive(const std::vector<TensorSpec>& specs, const std::string& component, uint64_t seed) {
  std::vector<size_t> offsets;
  size_t total = 0;
  for (const TensorSpec& spec : specs) {
    offsets.push_back(total);
    total += (size_t(shape_numel(spec.shape)) + 31) / 32 * 32;  // 64-byte aligned starts
  }
  auto buffer = std::make_shared_for_overwrite<uint16_t[]>(total);

#pragma omp parallel for schedule(dynamic)
  for (size_t i = 0; i < specs.size(); ++i)
    fill(specs[i], splitmix64(seed) ^ name_hash(component + "/" + specs[i].name), buffer.get() + offsets[i]);

  TensorArchive archive;
  for (size_t i = 0; i < specs.size(); ++i) {
    const size_t nbytes = size_t(shape_numel(specs[i].shape)) * sizeof(uint16_t);
    archive.tensors.emplace(specs[i].name, StoredTensor{DType::F16, specs[i].shape,
                                                        reinterpret_cast<const std::byte*>(buffer.get() + offsets[i]), nbytes});
  }
  archive.backing.push_back(std::move(buffer));
  return archive;
}

TensorArchive layout_archive(const std::vector<TensorSpec>& specs) {
  TensorArchive archive;
  for (const TensorSpec& spec : specs)
    archive.tensors.emplace(spec.name,
                            StoredTensor{DType::F16, spec.shape, nullptr, size_t(shape_numel(spec.shape)) * sizeof(uint16_t)});
  return archive;
}

// Names the archive after the model and counts its tensors; file_bytes: what they weigh as an fp16 file.
void adopt(ModelFiles& m, TensorArchive& archive) {
  archive.source = m.source;
  m.tensor_count += archive.tensors.size();
  for (const auto& [name, tensor] : archive.tensors) m.file_bytes += tensor.nbytes;
}

// Every component of `arch`, each archive made by `make(specs, component name)`.
using ArchiveMaker = std::function<TensorArchive(const std::vector<TensorSpec>&, const std::string&)>;
ModelFiles make_model(const std::string& arch, std::string source, const ArchiveMaker& make) {
  const Architecture a = architecture(arch);
  ModelFiles m;
  m.source = std::move(source);
  m.unet = make(unet_layout(a.unet), "unet");
  m.vae = make(vae_layout(a.vae), "vae");
  for (size_t i = 0; i < a.text_encoders.size(); ++i)
    m.text_encoders.push_back(make(clip_text_layout(a.text_encoders[i]), "text_encoder_" + std::to_string(i + 1)));
  adopt(m, m.unet);
  adopt(m, m.vae);
  for (TensorArchive& encoder : m.text_encoders) adopt(m, encoder);
  m.dtypes = {"F16"};
  return m;
}

}  // namespace

const std::vector<std::string>& random_model_archs() {
  static const std::vector<std::string> archs{"sd15", "sd21", "sdxl"};
  return archs;
}

ModelFiles random_model(const std::string& arch, uint64_t seed) {
  return make_model(arch, "random " + arch + " weights (seed " + std::to_string(seed) + ")",
                    [seed](const std::vector<TensorSpec>& specs, const std::string& component) {
                      return random_archive(specs, component, seed);
                    });
}

ModelFiles random_model_layout(const std::string& arch) {
  return make_model(arch, arch + " layout",
                    [](const std::vector<TensorSpec>& specs, const std::string&) { return layout_archive(specs); });
}

}  // namespace diffuse
