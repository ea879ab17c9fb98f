// The tensor buffer pool: recycling by exact size, bounded by the phase's live peak plus a slack.
#include <gtest/gtest.h>

#include "core/buffer_pool.h"

namespace diffuse {
namespace {

constexpr size_t MiB = size_t(1) << 20;

class BufferPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { BufferPool::release_idle(); }
  void TearDown() override {
    BufferPool::set_slack(BufferPool::kDefaultSlackBytes);
    BufferPool::release_idle();
  }
};

TEST_F(BufferPoolTest, HandsBackAReleasedBufferOfTheSameSize) {
  float* first = BufferPool::acquire(MiB).get();  // released at the end of the statement
  EXPECT_EQ(BufferPool::idle_bytes(), MiB);
  const auto again = BufferPool::acquire(MiB);
  EXPECT_EQ(again.get(), first);
  EXPECT_EQ(BufferPool::idle_bytes(), 0u);
}

// --low-memory: no slack, so idle and live buffers together never exceed the live peak.
TEST_F(BufferPoolTest, WithoutSlackNeverRaisesTheLivePeak) {
  BufferPool::set_slack(0);
  {
    auto a = BufferPool::acquire(MiB);
    const auto b = BufferPool::acquire(2 * MiB);  // live peak: 3 MiB
    a.reset();
    EXPECT_EQ(BufferPool::idle_bytes(), MiB);
  }
  EXPECT_EQ(BufferPool::idle_bytes(), 3 * MiB);
  {
    const auto a = BufferPool::acquire(MiB);  // from the pool: live 1 + idle 2
    EXPECT_EQ(BufferPool::idle_bytes(), 2 * MiB);
    const auto c = BufferPool::acquire(4 * MiB);  // a new size: live 5 MiB, the new peak
    EXPECT_EQ(BufferPool::idle_bytes(), 0u) << "live 5 MiB + idle must stay within the 5 MiB peak";
  }
  EXPECT_EQ(BufferPool::idle_bytes(), 5 * MiB);
  BufferPool::release_idle();  // a new phase starts from its own live peak
  EXPECT_EQ(BufferPool::idle_bytes(), 0u);
  { const auto small = BufferPool::acquire(MiB); }
  EXPECT_EQ(BufferPool::idle_bytes(), MiB);
  { const auto larger = BufferPool::acquire(2 * MiB); }
  EXPECT_EQ(BufferPool::idle_bytes(), 2 * MiB) << "the 1 MiB buffer gave way to the 2 MiB peak";
}

// A VAE decode: within it the live peak bounds live and idle buffers together, as without slack;
// before and after it, nothing idle stays, and the slack set before is back.
TEST_F(BufferPoolTest, AOnePassPhaseKeepsNoSlackAndNothingIdleAfter) {
  BufferPool::set_slack(8 * MiB);
  { const auto before = BufferPool::acquire(MiB); }
  EXPECT_EQ(BufferPool::idle_bytes(), MiB);
  {
    const BufferPool::OnePass phase;
    EXPECT_EQ(BufferPool::idle_bytes(), 0u) << "the phase before's sizes are freed";
    { const auto small = BufferPool::acquire(MiB); }
    EXPECT_EQ(BufferPool::idle_bytes(), MiB) << "recycled within the phase's live peak";
    { const auto larger = BufferPool::acquire(2 * MiB); }
    EXPECT_EQ(BufferPool::idle_bytes(), 2 * MiB) << "no slack: the 1 MiB buffer gave way to the 2 MiB peak";
  }
  EXPECT_EQ(BufferPool::idle_bytes(), 0u);
  { const auto a = BufferPool::acquire(MiB); }
  { const auto b = BufferPool::acquire(2 * MiB); }
  EXPECT_EQ(BufferPool::idle_bytes(), 3 * MiB) << "the 8 MiB slack is back";
}

TEST_F(BufferPoolTest, SlackKeepsThatMuchBeyondTheLivePeak) {
  BufferPool::set_slack(MiB);
  { const auto x = BufferPool::acquire(2 * MiB); }  // live peak 2 MiB
  EXPECT_EQ(BufferPool::idle_bytes(), 2 * MiB);
  { const auto y = BufferPool::acquire(3 * MiB); }  // live 3 + idle 2 > 3 + 1: the 2 MiB one goes
  EXPECT_EQ(BufferPool::idle_bytes(), 3 * MiB);
  { const auto z = BufferPool::acquire(MiB); }  // live 1 + idle 3 = 4 <= 3 + 1: both kept
  EXPECT_EQ(BufferPool::idle_bytes(), 4 * MiB);
  BufferPool::set_slack(0);  // 4 > 3: the largest goes first
  EXPECT_EQ(BufferPool::idle_bytes(), MiB);
}

}  // namespace
}  // namespace diffuse
