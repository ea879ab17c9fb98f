#include "core/op_profile.h"

#include <omp.h>

#include <atomic>
#include <chrono>

namespace diffuse {
namespace {

std::atomic<bool> profiling{false};
std::array<std::atomic<int64_t>, kOpKinds> total_ns{};
std::array<std::atomic<int64_t>, kOpKinds> total_calls{};
std::array<std::atomic<int64_t>, kOpKinds> total_macs{};
thread_local OpTimer* innermost = nullptr;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view op_kind_name(OpKind kind) {
  static constexpr std::array<std::string_view, kOpKinds> names = {
      "conv", "winograd conv", "linear", "attention", "norm", "elementwise", "layout", "bf16 convert", "weight packing"};
  return names[size_t(kind)];
}

double OpTimes::total() const {
  double sum = 0;
  for (double s : seconds) sum += s;
  return sum;
}

OpTimes OpTimes::operator-(const OpTimes& earlier) const {
  OpTimes d;
  for (int k = 0; k < kOpKinds; ++k) {
    d.seconds[size_t(k)] = seconds[size_t(k)] - earlier.seconds[size_t(k)];
    d.calls[size_t(k)] = calls[size_t(k)] - earlier.calls[size_t(k)];
    d.macs[size_t(k)] = macs[size_t(k)] - earlier.macs[size_t(k)];
  }
  return d;
}

void set_op_profiling(bool on) { profiling.store(on, std::memory_order_relaxed); }

OpTimes op_times() {
  OpTimes t;
  for (int k = 0; k < kOpKinds; ++k) {
    t.seconds[size_t(k)] = double(total_ns[size_t(k)].load(std::memory_order_relaxed)) * 1e-9;
    t.calls[size_t(k)] = total_calls[size_t(k)].load(std::memory_order_relaxed);
    t.macs[size_t(k)] = double(total_macs[size_t(k)].load(std::memory_order_relaxed));
  }
  return t;
}

OpTimer::OpTimer(OpKind kind, double macs) : kind_(kind) {
  if (!profiling.load(std::memory_order_relaxed) || omp_in_parallel()) return;
  active_ = true;
  start_ns_ = now_ns();
  outer_ = innermost;
  if (outer_) total_ns[size_t(outer_->kind_)].fetch_add(start_ns_ - outer_->start_ns_, std::memory_order_relaxed);
  innermost = this;
  total_calls[size_t(kind_)].fetch_add(1, std::memory_order_relaxed);
  total_macs[size_t(kind_)].fetch_add(int64_t(macs), std::memory_order_relaxed);
}

OpTimer::~OpTimer() {
  if (!active_) return;
  const int64_t end = now_ns();
  total_ns[size_t(kind_)].fetch_add(end - start_ns_, std::memory_order_relaxed);
  innermost = outer_;
  if (outer_) outer_->start_ns_ = end;  // the outer timer resumes
}

}  // namespace diffuse
