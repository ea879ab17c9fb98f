#pragma once
#include <memory>
#include <vector>

#include <dnnl.hpp>

#include "core/precision.h"
#include "core/weight_source.h"

namespace diffuse {

// One layer's weights, reordered into the layout its oneDNN primitive prefers (a blocked format
// chosen by the kernel for this CPU) and stored in the compute precision, fp32 or bf16. Until the
// first call asks for a layout the values wait where they are stored (weight_source.h: in the
// checkpoint's mapped file, in its dtype), so each weight is read once and written once, straight
// into its packed layout.
class PackedWeights {
 public:
  PackedWeights() = default;
  // source: values in the layout `natural` describes (OIHW, or [out, in] read as [in, out]).
  PackedWeights(WeightSource source, const dnnl::memory::desc& natural, Precision precision);

  Precision precision() const { return precision_; }
  // The weights as `layout` (a primitive's weights_desc) wants them. A layout other than the first
  // one asked for gets its own packed copy. Emulated bf16 widens into a per-thread scratch buffer,
  // valid until the next call on the same thread.
  dnnl::memory get(const dnnl::memory::desc& layout) const;

 private:
  struct Packed {
    dnnl::memory::desc layout;
    std::shared_ptr<std::byte[]> bytes;  // fp32 or native bf16; emulated bf16: empty
    std::vector<uint16_t> widened_from;  // emulated bf16: the values, widened per call
  };
  Packed pack(const dnnl::memory::desc& layout, const dnnl::memory& source) const;
  dnnl::memory view(const Packed& p) const;

  Precision precision_ = Precision::Fp32;
  mutable WeightSource source_;  // until packed
  dnnl::memory::desc natural_;
  mutable std::vector<Packed> packed_;
};

}  // namespace diffuse
