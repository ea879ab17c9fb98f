#pragma once
#include <vector>

#include <dnnl.hpp>

#include "core/precision.h"

namespace diffuse {

// One layer's weights, reordered once into the layout its oneDNN primitive prefers (a blocked
// format chosen by the kernel for this CPU) and stored in the compute precision, fp32 or bf16.
// Until the first call packs them, the checkpoint-order values wait in the compute precision
// (a bf16 model never holds its weights in fp32), and are dropped once packed.
class PackedWeights {
 public:
  PackedWeights() = default;
  // values: fp32 in the layout `natural` describes (OIHW, or [out, in] read as [in, out]).
  PackedWeights(std::vector<float> values, const dnnl::memory::desc& natural, Precision precision);

  Precision precision() const { return precision_; }
  // The weights as `layout` (a primitive's weights_desc) wants them. A layout other than the first
  // one asked for gets its own packed copy. Emulated bf16 widens into a per-thread scratch buffer,
  // valid until the next call on the same thread.
  dnnl::memory get(const dnnl::memory::desc& layout) const;

 private:
  struct Packed {
    dnnl::memory::desc layout;
    dnnl::memory memory;            // fp32 or native bf16
    std::vector<uint16_t> widened_from;  // emulated bf16: the values, widened per call
  };
  Packed pack(const dnnl::memory::desc& layout, dnnl::memory source) const;
  dnnl::memory view(const Packed& p) const;

  Precision precision_ = Precision::Fp32;
  mutable std::vector<float> values_;           // fp32, until packed
  mutable std::vector<uint16_t> bf16_values_;   // bf16, until packed
  dnnl::memory::desc natural_;
  mutable std::vector<Packed> packed_;
};

}  // namespace diffuse
