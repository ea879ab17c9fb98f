#include "core/packed_weights.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "core/dnnl_context.h"
#include "core/error.h"
#include "core/op_profile.h"

namespace diffuse {
namespace {

// Small pages on purpose: asking for huge pages (MADV_HUGEPAGE) makes the kernel compact memory
// to find them, and the model's 1.7-3.4 GB of packed weights are written once, where a fault per
// 4 KiB costs less than that (first step 9.0-9.2 -> 9.7-10.1 s with huge pages, AVX2, fp32).
std::shared_ptr<std::byte[]> allocate_packed(size_t bytes) {
  auto* buffer = static_cast<std::byte*>(std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64));
  if (!buffer) throw std::bad_alloc();
  return {buffer, [](std::byte* b) { std::free(b); }};
}

}  // namespace

PackedWeights::PackedWeights(WeightSource source, const dnnl::memory::desc& natural, Precision precision)
    : precision_(precision), source_(std::move(source)), natural_(natural) {
  if (source_.size() * sizeof(float) != natural.get_size())
    throw Error("weights hold " + std::to_string(source_.size()) + " values, their layer needs " +
                std::to_string(natural.get_size() / sizeof(float)));
}

dnnl::memory PackedWeights::get(const dnnl::memory::desc& layout) const {
  for (const Packed& p : packed_)
    if (p.layout == layout) return view(p);
  if (packed_.empty()) {
    thread_local std::vector<float> scratch;  // stored dtype -> fp32; reused for every layer
    const float* values = source_.f32(scratch);
    packed_.push_back(pack(layout, dnnl::memory(natural_, dnnl_engine(), const_cast<float*>(values))));
    source_.release();
  } else {
    packed_.push_back(pack(layout, view(packed_.front())));
  }
  return view(packed_.back());
}

PackedWeights::Packed PackedWeights::pack(const dnnl::memory::desc& layout, const dnnl::memory& source) const {
  const OpTimer timer(OpKind::Pack);
  Packed p{layout, allocate_packed(layout.get_size()), {}};
  const dnnl::memory packed(layout, dnnl_engine(), p.bytes.get());
  execute(dnnl::reorder(source, packed), {{DNNL_ARG_FROM, source}, {DNNL_ARG_TO, packed}});
  if (precision_ == Precision::Bf16 && layout.data_type() == dnnl::memory::data_type::f32) {
    const size_t n = layout.get_size() / sizeof(float);
    p.widened_from.resize(n);
    to_bf16(reinterpret_cast<const float*>(p.bytes.get()), p.widened_from.data(), n);
    p.bytes.reset();
  }
  return p;
}

dnnl::memory PackedWeights::view(const Packed& p) const {
  if (p.bytes) return dnnl::memory(p.layout, dnnl_engine(), p.bytes.get());
  const OpTimer timer(OpKind::Convert);  // emulated bf16 only
  thread_local std::vector<float> scratch;
  scratch.resize(p.widened_from.size());
  bf16_to_f32(p.widened_from.data(), scratch.data(), scratch.size());
  return dnnl::memory(p.layout, dnnl_engine(), scratch.data());
}

}  // namespace diffuse
