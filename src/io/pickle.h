#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diffuse {

// One node of a parsed pickle. Nothing is ever called: a global is only its name, and
// applying it (REDUCE) or restoring state into it (BUILD) only records the parts.
struct PickleValue {
  enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Reduce, PersistentId };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                                            // String, Bytes; Global: "module.name"
  std::vector<const PickleValue*> items;                       // Tuple, List; Reduce: {callable, args}; PersistentId: {pid}
  std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;  // Dict, in insertion order
  const PickleValue* state = nullptr;                          // Reduce: what a BUILD restored, if any

  bool is(Kind k) const { return kind == k; }
  bool is_global(std::string_view qualified_name) const { return kind == Kind::Global && text == qualified_name; }
  // Dict lookup by string key; the last assignment wins, as in Python.
  const PickleValue* get(std::string_view key) const;
};

// A parsed pickle: owns every node (nodes may share children through the memo, or even
// form cycles, so they live in an arena rather than owning each other).
class PickleDocument {
 public:
  const PickleValue& root() const { return *root_; }

 private:
  friend class PickleParser;
  std::deque<PickleValue> nodes_;  // a deque keeps node addresses stable as it grows
  const PickleValue* root_ = nullptr;
};

// Parses a pickle (protocol 2 to 5, the opcodes torch.save and numpy emit) into a value
// tree. Only the globals torch checkpoints use are accepted (tensor rebuild functions,
// storage types, OrderedDict, numpy scalars); any other global is refused by name before
// anything could use it. Memory is bounded: every length is checked against the bytes
// left, and the stack, mark depth and node count are capped. Errors are
// Error("<source>: <problem>").
PickleDocument parse_pickle(std::span<const std::byte> bytes, const std::string& source);

}  // namespace diffuse
