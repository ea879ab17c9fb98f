// parse_pickle on arbitrary bytes. Beyond not crashing: a parsed document has a root, every node
// reachable from it is well formed for its kind (a Reduce holds a callable and arguments, a Global
// only an allowed name), and only Error ever escapes.
#include <unordered_set>
#include <vector>

#include "fuzz_input.h"
#include "io/pickle.h"

using namespace diffuse;
using Kind = PickleValue::Kind;

namespace {

// Iterative: the memo lets a hostile pickle build graphs far deeper than any stack.
void check_nodes(const PickleValue& root) {
  std::unordered_set<const PickleValue*> seen{&root};
  std::vector<const PickleValue*> todo{&root};
  auto visit = [&](const PickleValue* v) {
    FUZZ_CHECK(v != nullptr);
    if (seen.insert(v).second) todo.push_back(v);
  };
  while (!todo.empty()) {
    const PickleValue& v = *todo.back();
    todo.pop_back();
    switch (v.kind) {
      case Kind::Reduce:
        FUZZ_CHECK(v.items.size() == 2 && v.items[0]->is(Kind::Global) && v.items[1]->is(Kind::Tuple));
        break;
      case Kind::PersistentId: FUZZ_CHECK(v.items.size() == 1); break;
      case Kind::Global: FUZZ_CHECK(v.text.find('.') != std::string::npos); break;
      case Kind::Tuple: case Kind::List: break;
      default: FUZZ_CHECK(v.items.empty());
    }
    if (!v.is(Kind::Dict)) FUZZ_CHECK(v.entries.empty());
    for (const PickleValue* item : v.items) visit(item);
    for (const auto& [key, value] : v.entries) {
      visit(key);
      visit(value);
    }
    if (v.state) visit(v.state);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const PickleDocument doc = parse_pickle({reinterpret_cast<const std::byte*>(data), size}, "fuzz.pkl");
    check_nodes(doc.root());
  } catch (const Error& e) {
    fuzz::check_refusal(e);
  }
  return 0;
}
