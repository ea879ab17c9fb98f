#include "core/packed_operand.h"

#include <algorithm>

#include "core/dnnl_context.h"

namespace diffuse {

const dnnl::memory& PackedOperand::get(const void* source, const dnnl::memory::desc& plain,
                                       const dnnl::memory::desc& layout) {
  if (layout == plain) {
    source_ = nullptr;
    memory_ = dnnl::memory(plain, dnnl_engine(), const_cast<void*>(source));
    return memory_;
  }
  if (source == source_ && plain == plain_ && layout == layout_) return memory_;
  storage_.resize(std::max(storage_.size(), (layout.get_size() + sizeof(float) - 1) / sizeof(float)));
  memory_ = dnnl::memory(layout, dnnl_engine(), storage_.data());
  dnnl::memory from(plain, dnnl_engine(), const_cast<void*>(source));
  execute(dnnl::reorder(from, memory_, caller_scratchpad()), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, memory_}});
  source_ = source;
  plain_ = plain;
  layout_ = layout;
  return memory_;
}

}  // namespace diffuse
