#pragma once
#include <array>
#include <cstdint>
#include <string_view>

namespace diffuse {

// Where a model pass spends its time, by kind of operation, for `diffuse bench`: the breakdown
// ONEDNN_VERBOSE gives for oneDNN's primitives, plus our own loops, and cheap enough to leave on.
// Winograd convolutions declare the direct convolution's MACs, so their rate is an effective one
// (it can pass the matmul peak).
enum class OpKind { Conv, Winograd, Linear, Attention, Norm, Elementwise, Layout, Convert, Pack };
constexpr int kOpKinds = 9;
std::string_view op_kind_name(OpKind kind);  // "conv", "winograd conv", "linear", ...

struct OpTimes {
  std::array<double, kOpKinds> seconds{};
  std::array<int64_t, kOpKinds> calls{};
  std::array<double, kOpKinds> macs{};  // multiply-accumulates the timed ops declared
  double operator[](OpKind kind) const { return seconds[size_t(kind)]; }
  double total() const;
  OpTimes operator-(const OpTimes& earlier) const;
};

// Totals since the process began, of every OpTimer while profiling is on (off by default).
void set_op_profiling(bool on);
OpTimes op_times();

// Adds the wall time of its scope to `kind`, less the time of timers opened inside it, so a bf16
// conversion inside a convolution counts as conversion and not twice. Timers inside a parallel
// region do not count: the region's own (outer) timer already has their time. `macs`, the op's
// multiply-accumulates, give each kind's achieved TFLOP/s.
class OpTimer {
 public:
  explicit OpTimer(OpKind kind, double macs = 0);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  OpKind kind_;
  bool active_ = false;
  OpTimer* outer_ = nullptr;
  int64_t start_ns_ = 0;
};

}  // namespace diffuse
