// The per-op time accounting behind `diffuse bench`'s "by op" lines.
#include <gtest/gtest.h>
#include <omp.h>

#include <chrono>
#include <thread>

#include "core/op_profile.h"
#include "core/ops.h"

namespace diffuse {
namespace {

using std::chrono::milliseconds;

class OpProfileTest : public ::testing::Test {
 protected:
  void SetUp() override { set_op_profiling(true); }
  void TearDown() override { set_op_profiling(false); }
};

// A conversion inside a convolution counts as conversion only: each kind gets its own time.
TEST_F(OpProfileTest, NestedTimerTimeIsTheInnerKindsOnly) {
  const OpTimes before = op_times();
  {
    const OpTimer conv(OpKind::Conv);
    std::this_thread::sleep_for(milliseconds(20));
    {
      const OpTimer convert(OpKind::Convert);
      std::this_thread::sleep_for(milliseconds(40));
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  const OpTimes d = op_times() - before;
  EXPECT_GE(d[OpKind::Conv], 0.040);
  EXPECT_LT(d[OpKind::Conv], 0.055) << "the conversion's 40 ms counted as convolution too";
  EXPECT_GE(d[OpKind::Convert], 0.040);
  EXPECT_LT(d[OpKind::Convert], 0.055);
  EXPECT_EQ(d.calls[size_t(OpKind::Conv)], 1);
  EXPECT_EQ(d.calls[size_t(OpKind::Convert)], 1);
}

// Inside a parallel region every thread would add the same wall time again.
TEST_F(OpProfileTest, TimersInsideAParallelRegionDoNotCount) {
  const OpTimes before = op_times();
#pragma omp parallel num_threads(2)
  {
    const OpTimer t(OpKind::Norm);
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ((op_times() - before).calls[size_t(OpKind::Norm)], 0);
}

TEST_F(OpProfileTest, OpsReportTheirKind) {
  Tensor x = Tensor::zeros({1, 8, 8, 64});
  const OpTimes before = op_times();
  x = ops::group_norm(std::move(x), 32, std::vector<float>(64, 1.0f), std::vector<float>(64, 0.0f), 1e-5f,
                      ops::Activation::SiLU);
  ops::add_(x, x);
  const OpTimes d = op_times() - before;
  EXPECT_EQ(d.calls[size_t(OpKind::Norm)], 1);
  EXPECT_GE(d.calls[size_t(OpKind::Elementwise)], 1);
}

TEST_F(OpProfileTest, NothingCountsWhileOff) {
  set_op_profiling(false);
  const OpTimes before = op_times();
  { const OpTimer t(OpKind::Linear); }
  EXPECT_EQ((op_times() - before).calls[size_t(OpKind::Linear)], 0);
}

}  // namespace
}  // namespace diffuse
