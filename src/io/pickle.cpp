#include "io/pickle.h"

#include <algorithm>
#include <bit>
#include <unordered_map>

#include "core/error.h"

namespace diffuse {
namespace {

// Caps far above what a checkpoint needs (an SDXL state dict is ~60k nodes, a training checkpoint
// with optimizer state a few times that, a stack of a few thousand, a nesting of a handful) that
// keep a hostile pickle under 100 MB: a node with its list of children takes some 150 bytes.
constexpr size_t kMaxStack = size_t(1) << 20;
constexpr size_t kMaxMarks = size_t(1) << 12;
constexpr size_t kMaxNodes = size_t(1) << 19;
constexpr size_t kMaxGlobalPart = 256;
constexpr uint8_t kHighestProtocol = 5;

// Everything a torch checkpoint legitimately names: the tensor rebuild functions, the
// typed storages, OrderedDict (state dicts and backward hooks), what numpy scalars (e.g. a
// global_step) pickle into, and what PyTorch Lightning training checkpoints such as the
// original sd-v1-4.ckpt carry beside the state dict (ModelCheckpoint callback records, sets).
// This parser never calls anything, so those stay inert records; every other name is a way a
// real unpickler would run code, and is refused.
constexpr std::string_view kAllowedGlobals[] = {
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "collections.OrderedDict",
    "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
    "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
    "torch.ByteStorage", "torch.BoolStorage",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",  // numpy 1 and 2 spellings
    "numpy.dtype", "_codecs.encode",
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", "__builtin__.set", "builtins.set",
};

// Hostile names go into error messages; keep them to one printable line.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c < 0x20 || c > 0x7e) c = '?';
  return out;
}

std::string hex_byte(uint8_t b) {
  const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

}  // namespace

const PickleValue* PickleValue::get(std::string_view key) const {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (it->first->is(Kind::String) && it->first->text == key) return it->second;
  return nullptr;
}

class PickleParser {
 public:
  PickleParser(std::span<const std::byte> bytes, const std::string& source) : in_(bytes), source_(source) {}

  PickleDocument parse() {
    while (pos_ < in_.size()) {
      op_start_ = pos_;
      uint8_t op = uint8_t(in_[pos_++]);
      if (op == '.') return finish();
      execute(op);
    }
    fail("it ends without a STOP opcode");
  }

 private:
  using Kind = PickleValue::Kind;

  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(source_ + ": malformed pickle: " + problem + " (at byte " + std::to_string(op_start_) + ")");
  }

  // --- input: every read is checked against the bytes left ---
  std::span<const std::byte> take(uint64_t n) {
    if (n > in_.size() - pos_)
      fail("a length of " + std::to_string(n) + " runs past the end (" + std::to_string(in_.size() - pos_) +
           " bytes left)");
    auto s = in_.subspan(pos_, size_t(n));
    pos_ += size_t(n);
    return s;
  }
  uint64_t uint_le(int n) {
    auto s = take(uint64_t(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | uint64_t(s[size_t(i)]);
    return v;
  }
  std::string_view text(uint64_t n) {
    auto s = take(n);
    return {reinterpret_cast<const char*>(s.data()), s.size()};
  }
  std::string_view line() {
    size_t limit = std::min(in_.size() - pos_, kMaxGlobalPart + 1);
    auto window = in_.subspan(pos_, limit);
    auto nl = std::find(window.begin(), window.end(), std::byte{'\n'});
    if (nl == window.end()) fail("GLOBAL name is unterminated or too long");
    std::string_view s = text(uint64_t(nl - window.begin()));
    ++pos_;
    return s;
  }

  // --- stack: a MARK fences off the items below it ---
  PickleValue* make(Kind kind) {
    if (doc_.nodes_.size() >= kMaxNodes) fail("more than " + std::to_string(kMaxNodes) + " objects");
    PickleValue& v = doc_.nodes_.emplace_back();
    v.kind = kind;
    return &v;
  }
  void push(PickleValue* v) {
    if (stack_.size() >= kMaxStack) fail("stack deeper than " + std::to_string(kMaxStack));
    stack_.push_back(v);
  }
  size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
  PickleValue* top() {
    if (stack_.size() <= fence()) fail("stack underflow");
    return stack_.back();
  }
  PickleValue* pop() {
    PickleValue* v = top();
    stack_.pop_back();
    return v;
  }
  PickleValue* pop(Kind kind, const char* what) {
    PickleValue* v = pop();
    if (!v->is(kind)) fail(std::string("expected ") + what);
    return v;
  }
  std::vector<const PickleValue*> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    std::vector<const PickleValue*> items(stack_.begin() + std::ptrdiff_t(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  PickleValue* top_of(Kind kind, const char* opcode) {
    PickleValue* v = top();
    if (!v->is(kind)) fail(std::string(opcode) + " applied to the wrong kind of object");
    return v;
  }

  // --- values ---
  void push_int(int64_t v) {
    PickleValue* n = make(Kind::Int);
    n->integer = v;
    push(n);
  }
  // LONG1/LONG4: little-endian two's complement of any width; checkpoints never need
  // more than 64 bits.
  void push_long(uint64_t nbytes) {
    if (nbytes > 8) fail("integer wider than 64 bits");
    auto s = take(nbytes);
    uint64_t v = 0;
    for (size_t i = s.size(); i-- > 0;) v = (v << 8) | uint64_t(s[i]);
    if (nbytes > 0 && nbytes < 8 && (uint64_t(s.back()) & 0x80)) v |= ~uint64_t(0) << (8 * nbytes);
    push_int(int64_t(v));
  }
  void push_text(Kind kind, uint64_t n) {
    std::string_view s = text(n);
    PickleValue* v = make(kind);
    v->text = s;
    push(v);
  }
  void push_container(Kind kind, std::vector<const PickleValue*> items) {
    PickleValue* v = make(kind);
    v->items = std::move(items);
    push(v);
  }
  void push_tuple_of(size_t n) {
    std::vector<const PickleValue*> items(n);
    for (size_t i = n; i-- > 0;) items[i] = pop();
    push_container(Kind::Tuple, std::move(items));
  }
  void set_items(std::vector<const PickleValue*> kv) {
    if (kv.size() % 2) fail("SETITEMS with an odd number of items");
    PickleValue* dict = top_of(Kind::Dict, "SETITEMS");
    for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  }
  void push_global(std::string_view module, std::string_view name) {
    std::string qualified = std::string(module) + "." + std::string(name);
    if (std::find(std::begin(kAllowedGlobals), std::end(kAllowedGlobals), qualified) == std::end(kAllowedGlobals))
      throw Error(source_ + ": pickle refers to forbidden global '" + printable(qualified) + "'");
    PickleValue* g = make(Kind::Global);
    g->text = std::move(qualified);
    push(g);
  }
  // REDUCE records callable(*args). OrderedDict() becomes a plain dict so that SETITEMS
  // (how state dicts are filled) works on it.
  void reduce() {
    PickleValue* args = pop(Kind::Tuple, "an argument tuple for REDUCE");
    PickleValue* callable = pop(Kind::Global, "a global for REDUCE");
    if (callable->is_global("collections.OrderedDict")) {
      if (!args->items.empty()) fail("OrderedDict called with arguments");
      push(make(Kind::Dict));
      return;
    }
    push_container(Kind::Reduce, {callable, args});
  }
  // BUILD restores state into an object. On a dict the state is instance attributes (a
  // state dict's _metadata), which nothing here needs.
  void build() {
    PickleValue* state = pop();
    PickleValue* target = top();
    if (target->is(Kind::Reduce))
      target->state = state;
    else if (!target->is(Kind::Dict))
      fail("BUILD applied to the wrong kind of object");
  }
  void memo_put(uint64_t key) {
    if (memo_.size() >= kMaxNodes && !memo_.contains(key)) fail("memo grows past " + std::to_string(kMaxNodes));
    memo_[key] = top();
  }
  void memo_get(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key " + std::to_string(key) + " was never stored");
    push(it->second);
  }

  void execute(uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        uint64_t p = uint_le(1);
        if (p > kHighestProtocol) fail("unsupported protocol " + std::to_string(p));
        return;
      }
      case 0x95: uint_le(8); return;  // FRAME: only a read-ahead hint; each opcode checks its own lengths
      case '(':
        if (marks_.size() >= kMaxMarks) fail("MARKs nested deeper than " + std::to_string(kMaxMarks));
        marks_.push_back(stack_.size());
        return;
      case '0': pop(); return;       // POP
      case '1': pop_mark(); return;  // POP_MARK
      case 'N': push(make(Kind::None)); return;
      case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
        PickleValue* b = make(Kind::Bool);
        b->boolean = op == 0x88;
        push(b);
        return;
      }
      case 'J': push_int(int32_t(uint32_t(uint_le(4)))); return;  // BININT
      case 'K': push_int(int64_t(uint_le(1))); return;             // BININT1
      case 'M': push_int(int64_t(uint_le(2))); return;             // BININT2
      case 0x8a: push_long(uint_le(1)); return;                    // LONG1
      case 0x8b: push_long(uint_le(4)); return;                    // LONG4
      case 'G': {  // BINFLOAT: big-endian IEEE double
        auto s = take(8);
        uint64_t bits = 0;
        for (std::byte b : s) bits = (bits << 8) | uint64_t(b);
        PickleValue* f = make(Kind::Float);
        f->real = std::bit_cast<double>(bits);
        push(f);
        return;
      }
      case 'X': push_text(Kind::String, uint_le(4)); return;   // BINUNICODE
      case 0x8c: push_text(Kind::String, uint_le(1)); return;  // SHORT_BINUNICODE
      case 0x8d: push_text(Kind::String, uint_le(8)); return;  // BINUNICODE8
      case 'B': push_text(Kind::Bytes, uint_le(4)); return;    // BINBYTES
      case 'C': push_text(Kind::Bytes, uint_le(1)); return;    // SHORT_BINBYTES
      case 0x8e: push_text(Kind::Bytes, uint_le(8)); return;   // BINBYTES8
      case ')': push(make(Kind::Tuple)); return;               // EMPTY_TUPLE
      case 't': push_container(Kind::Tuple, pop_mark()); return;
      case 0x85: push_tuple_of(1); return;
      case 0x86: push_tuple_of(2); return;
      case 0x87: push_tuple_of(3); return;
      case ']': push(make(Kind::List)); return;  // EMPTY_LIST
      case 'a': {                                // APPEND
        const PickleValue* v = pop();
        top_of(Kind::List, "APPEND")->items.push_back(v);
        return;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        auto& list = top_of(Kind::List, "APPENDS")->items;
        list.insert(list.end(), items.begin(), items.end());
        return;
      }
      case '}': push(make(Kind::Dict)); return;  // EMPTY_DICT
      case 's': {                                // SETITEM
        const PickleValue* value = pop();
        const PickleValue* key = pop();
        set_items({key, value});
        return;
      }
      case 'u': set_items(pop_mark()); return;  // SETITEMS
      case 'c': {                               // GLOBAL "module\nname\n"
        std::string_view module = line();
        push_global(module, line());
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        const PickleValue* name = pop(Kind::String, "a name string for STACK_GLOBAL");
        const PickleValue* module = pop(Kind::String, "a module string for STACK_GLOBAL");
        push_global(module->text, name->text);
        return;
      }
      case 'R': reduce(); return;
      case 0x81: reduce(); return;  // NEWOBJ: cls.__new__(cls, *args), recorded like a call
      case 'b': build(); return;
      case 'Q': push_container(Kind::PersistentId, {pop()}); return;  // BINPERSID
      case 'q': memo_put(uint_le(1)); return;                          // BINPUT
      case 'r': memo_put(uint_le(4)); return;                          // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); return;                       // MEMOIZE
      case 'h': memo_get(uint_le(1)); return;                          // BINGET
      case 'j': memo_get(uint_le(4)); return;                          // LONG_BINGET
      default: fail("unsupported opcode " + hex_byte(op));
    }
  }

  PickleDocument finish() {
    if (!marks_.empty() || stack_.size() != 1)
      fail("STOP with " + std::to_string(stack_.size()) + " objects and " + std::to_string(marks_.size()) +
           " MARKs on the stack");
    doc_.root_ = stack_.back();
    return std::move(doc_);
  }

  std::span<const std::byte> in_;
  const std::string& source_;
  size_t pos_ = 0, op_start_ = 0;
  PickleDocument doc_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

PickleDocument parse_pickle(std::span<const std::byte> bytes, const std::string& source) {
  return PickleParser(bytes, source).parse();
}

}  // namespace diffuse
