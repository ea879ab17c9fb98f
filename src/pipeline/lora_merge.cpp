#include "pipeline/lora_merge.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>

#include "core/dtype.h"
#include "core/error.h"
#include "io/lora.h"

namespace diffuse {
namespace {

// One update of a weight, its factor (scale * alpha / rank) folded in.
struct Update {
  const LoraLayer* layer;
  double factor;
};

std::string listed(const std::vector<std::string>& keys) {
  constexpr size_t kShown = 5;
  std::string s;
  for (size_t i = 0; i < keys.size() && i < kShown; ++i) s += (i ? ", " : "") + keys[i];
  if (keys.size() > kShown) s += ", ... (" + std::to_string(keys.size() - kShown) + " more)";
  for (const std::string& key : keys)
    if (key.find("hada_") != std::string::npos || key.find("lokr_") != std::string::npos)
      return s + "; LyCORIS LoHa/LoKr layers are not supported";
  return s;
}

TensorArchive& archive_of(ModelFiles& model, LoraComponent component) {
  switch (component) {
    case LoraComponent::Unet: return model.unet;
    case LoraComponent::TextEncoder1: return model.text_encoders.at(0);
    case LoraComponent::TextEncoder2: return model.text_encoders.at(1);
  }
  throw Error("unknown model component");
}

// Four doubles, one AVX2 register. A block of four rows by eight columns keeps eight sums in
// registers through the whole rank: eight independent chains of adds, enough to hide each add's
// latency (one chain per register would wait on it and run at a quarter of the speed).
using Doubles = double __attribute__((vector_size(32)));
constexpr int64_t kBlockRows = 4, kBlockColumns = 8;

Doubles load(const double* p) {
  Doubles v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// One update's rank sums for kRows rows, sum_r up[row, r] * down[r, i], added to `sum` ([kRows,
// columns]) times the factor: each value's products added in rank order, as the reference adds them.
template <int kRows>
void add_update(double* sum, const double* up, const double* down, int64_t rank, int64_t columns, double factor) {
  int64_t i = 0;
  for (; i + kBlockColumns <= columns; i += kBlockColumns) {
    Doubles low[kRows] = {}, high[kRows] = {};
    for (int64_t r = 0; r < rank; ++r) {
      const Doubles down_low = load(down + r * columns + i), down_high = load(down + r * columns + i + 4);
#pragma GCC unroll 4  // the rows' sums must stay in registers, which needs constant indices
      for (int k = 0; k < kRows; ++k) {
        low[k] += up[k * rank + r] * down_low;
        high[k] += up[k * rank + r] * down_high;
      }
    }
    for (int k = 0; k < kRows; ++k)
      for (int j = 0; j < 4; ++j) {
        sum[k * columns + i + j] += factor * low[k][j];
        sum[k * columns + i + 4 + j] += factor * high[k][j];
      }
  }
  for (; i < columns; ++i)
    for (int k = 0; k < kRows; ++k) {
      double rank_sum = 0;
      for (int64_t r = 0; r < rank; ++r) rank_sum += up[k * rank + r] * down[r * columns + i];
      sum[k * columns + i] += factor * rank_sum;
    }
}

std::vector<double> widened(const StoredTensor& t) {
  const std::vector<float> values = t.to_f32();
  return {values.begin(), values.end()};
}

// W + sum of factor * up @ down, a block of rows at a time: each value summed in double (in the
// reference's order: the weight, then each update's rank sum times its factor), rounded once.
void merge_weight(StoredTensor& weight, const std::vector<Update>& updates, Precision precision,
                  std::vector<std::shared_ptr<const void>>& backing) {
  if (!weight.data) throw Error("a LoRA's target weight has no values (a layout without weights, or already released)");
  const int64_t rows = weight.shape[0], columns = weight.numel() / rows;
  std::vector<std::vector<double>> downs, ups;
  for (const Update& u : updates) {
    downs.push_back(widened(u.layer->down));
    ups.push_back(widened(u.layer->up));
  }
  const bool bf16 = precision == Precision::Bf16;
  const size_t bytes = size_t(weight.numel()) * (bf16 ? 2 : 4);
  const std::shared_ptr<std::byte> merged(new std::byte[bytes], std::default_delete<std::byte[]>());
  auto* out_f32 = reinterpret_cast<float*>(merged.get());
  auto* out_bf16 = reinterpret_cast<uint16_t*>(merged.get());
  const size_t stored_row_bytes = size_t(columns) * dtype_size(weight.dtype);

#pragma omp parallel
  {
    std::vector<double> sum(static_cast<size_t>(kBlockRows * columns));
    std::vector<float> row_values(static_cast<size_t>(columns));
#pragma omp for schedule(static)
    for (int64_t first = 0; first < rows; first += kBlockRows) {
      const int64_t count = std::min(kBlockRows, rows - first);
      for (int64_t k = 0; k < count; ++k) {
        convert_to_f32(weight.dtype, weight.data + size_t(first + k) * stored_row_bytes, row_values.data(), size_t(columns));
        std::copy(row_values.begin(), row_values.end(), sum.begin() + k * columns);
      }
      for (size_t u = 0; u < updates.size(); ++u) {
        const int64_t rank = updates[u].layer->rank();
        const double* up = ups[u].data() + first * rank;
        if (count == kBlockRows) {
          add_update<kBlockRows>(sum.data(), up, downs[u].data(), rank, columns, updates[u].factor);
        } else {
          for (int64_t k = 0; k < count; ++k)
            add_update<1>(sum.data() + k * columns, up + k * rank, downs[u].data(), rank, columns, updates[u].factor);
        }
      }
      for (int64_t i = 0; i < count * columns; ++i) {
        const float value = float(sum[size_t(i)]);
        if (bf16) out_bf16[first * columns + i] = float_to_bf16(value);
        else out_f32[first * columns + i] = value;
      }
    }
  }
  weight.release_pages();
  weight = StoredTensor{bf16 ? DType::BF16 : DType::F32, weight.shape, merged.get(), bytes};
  backing.push_back(merged);
}

}  // namespace

LoraMergeStats merge_loras(ModelFiles& model, const std::vector<LoraSpec>& loras, bool lenient, Precision precision) {
  LoraMergeStats stats;
  if (loras.empty()) return stats;
  const auto start = std::chrono::steady_clock::now();

  std::vector<LoraFile> files;
  for (const LoraSpec& spec : loras) {
    LoraFile file = read_lora(spec.path, model);
    if (!file.unmatched_keys.empty()) {
      const std::string line = "lora: " + spec.path + ": " + std::to_string(file.unmatched_keys.size()) + " of " +
                               std::to_string(file.key_count) + " keys matched no layer: " + listed(file.unmatched_keys);
      if (!lenient) throw Error(line + " (--lora-lenient skips them)");
      stats.warnings.push_back(line + " (skipped)");
    }
    files.push_back(std::move(file));
  }

  // Every update of a weight is summed before the one rounding, in the order the LoRAs were given.
  std::map<std::pair<LoraComponent, std::string>, std::vector<Update>> by_weight;
  for (size_t f = 0; f < files.size(); ++f) {
    for (const LoraLayer& layer : files[f].layers) {
      const double scale = layer.component == LoraComponent::Unet ? loras[f].unet_scale : loras[f].text_scale;
      by_weight[{layer.component, layer.target}].push_back({&layer, scale * layer.alpha / double(layer.rank())});
      ++stats.layers;
    }
  }
  for (const auto& [target, updates] : by_weight) {
    TensorArchive& archive = archive_of(model, target.first);
    merge_weight(archive.tensors.at(target.second), updates, precision, archive.backing);
  }
  stats.files = files.size();
  stats.weights = by_weight.size();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace diffuse
