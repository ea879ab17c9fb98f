#pragma once
#include <vector>

#include <dnnl.hpp>

namespace diffuse {

// A matrix re-laid out into the blocked layout a oneDNN kernel reads, kept while the next calls
// multiply by the same matrix. Attention packs each head's keys and values once for all its
// blocks of queries, where the kernel would otherwise copy them on every block's call.
class PackedOperand {
 public:
  // `source`, stored as `plain` describes, in `layout`: packed again only when the source, its
  // description or the layout changed; a layout equal to `plain` is the source itself. The
  // memory is valid until the next call.
  const dnnl::memory& get(const void* source, const dnnl::memory::desc& plain, const dnnl::memory::desc& layout);
  // The source's values changed under the same address (a new call reusing a pooled buffer).
  void forget() { source_ = nullptr; }

 private:
  const void* source_ = nullptr;
  dnnl::memory::desc plain_, layout_;
  std::vector<float> storage_;
  dnnl::memory memory_;
};

}  // namespace diffuse
