#include "core/packed_weights.h"

#include "core/dnnl_context.h"
#include "core/op_profile.h"

namespace diffuse {

PackedWeights::PackedWeights(std::vector<float> values, const dnnl::memory::desc& natural, Precision precision)
    : precision_(precision), natural_(natural) {
  if (precision == Precision::Fp32) {
    values_ = std::move(values);
  } else {
    bf16_values_.resize(values.size());
    to_bf16(values.data(), bf16_values_.data(), values.size());
  }
}

dnnl::memory PackedWeights::get(const dnnl::memory::desc& layout) const {
  for (const Packed& p : packed_)
    if (p.layout == layout) return view(p);
  if (packed_.empty()) {
    if (!bf16_values_.empty()) {  // widened for the reorder, one layer at a time
      values_.resize(bf16_values_.size());
      bf16_to_f32(bf16_values_.data(), values_.data(), values_.size());
      std::vector<uint16_t>().swap(bf16_values_);
    }
    packed_.push_back(pack(layout, dnnl::memory(natural_, dnnl_engine(), values_.data())));
    std::vector<float>().swap(values_);
  } else {
    packed_.push_back(pack(layout, view(packed_.front())));
  }
  return view(packed_.back());
}

PackedWeights::Packed PackedWeights::pack(const dnnl::memory::desc& layout, dnnl::memory source) const {
  Packed p{layout, dnnl::memory(layout, dnnl_engine()), {}};
  execute(dnnl::reorder(source, p.memory), {{DNNL_ARG_FROM, source}, {DNNL_ARG_TO, p.memory}});
  if (precision_ == Precision::Bf16 && layout.data_type() == dnnl::memory::data_type::f32) {
    const size_t n = layout.get_size() / sizeof(float);
    p.widened_from.resize(n);
    to_bf16(static_cast<const float*>(p.memory.get_data_handle()), p.widened_from.data(), n);
    p.memory = {};
  }
  return p;
}

dnnl::memory PackedWeights::view(const Packed& p) const {
  if (p.memory) return p.memory;
  const OpTimer timer(OpKind::Convert);  // emulated bf16 only
  thread_local std::vector<float> scratch;
  scratch.resize(p.widened_from.size());
  bf16_to_f32(p.widened_from.data(), scratch.data(), scratch.size());
  return dnnl::memory(p.layout, dnnl_engine(), scratch.data());
}

}  // namespace diffuse
