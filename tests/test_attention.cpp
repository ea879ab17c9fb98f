// Multi-head attention, exact and with the softmax fused into the products, in fp32 and bf16,
// against a double-precision reference that models each path's roundings.
#include <cmath>
#include <cstring>
#include <random>

#include "core/amx.h"
#include "core/attention.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/flash_attention_kernel.h"
#include "core/matmul_as_convolution.h"
#include "golden.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::Golden;

Tensor random_tensor(Shape shape, uint32_t seed, float scale = 1.0f) {
  Tensor t(std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = normal(rng);
  return t;
}

float bf16_round(float x) { return bf16_to_float(float_to_bf16(x)); }

struct Path {
  bool bf16 = false, fused = false;
  bool convolution = false;  // the products as 1x1 convolutions (matmul_as_convolution.h)
  bool tiles = false;        // fused in the tile kernel: the shift in fp32, the sums of unrounded exps
};

// What each path computes, in double: the exact path rounds the normalised probabilities to bf16
// (bf16 only); the fused one rounds exp(s - m), m the kernel's bound, and divides by their sum.
Tensor reference_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, bool causal, Path path) {
  const int64_t batch = q.dim(0), tq = q.dim(1), tk = k.dim(1), c = q.dim(2), d = c / heads;
  auto operand = [&](const Tensor& t, int64_t b, int64_t row, int64_t h, int64_t e) {
    const float x = t.data()[(b * t.dim(1) + row) * c + h * d + e];
    return double(path.bf16 ? bf16_round(x) : x);
  };
  const double scale = 1.0 / std::sqrt(double(d));
  Tensor out = Tensor::zeros({batch, tq, c});
  std::vector<double> p(size_t(tk), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h) {
      std::vector<double> center(size_t(d), 0.0);  // the fused path's bound, as the kernel forms it
      for (int64_t j = 0; j < tk; ++j)
        for (int64_t e = 0; e < d; ++e) center[size_t(e)] += k.data()[(b * tk + j) * c + h * d + e] / double(tk);
      double radius = 0;
      for (int64_t j = 0; j < tk; ++j) {
        double r2 = 0;
        for (int64_t e = 0; e < d; ++e) r2 += std::pow(k.data()[(b * tk + j) * c + h * d + e] - center[size_t(e)], 2);
        radius = std::max(radius, std::sqrt(r2));
      }
      for (int64_t i = 0; i < tq; ++i) {
        const int64_t keys = causal ? i + 1 : tk;
        double dot = 0, norm2 = 0;
        for (int64_t e = 0; e < d; ++e) {
          const double x = q.data()[(b * tq + i) * c + h * d + e];
          dot += x * center[size_t(e)];
          norm2 += x * x;
        }
        const float shift = float(-(dot + std::sqrt(norm2) * radius));  // -m / scale
        double max_score = -INFINITY, sum = 0;
        for (int64_t j = 0; j < keys; ++j) {
          double s = 0;
          for (int64_t e = 0; e < d; ++e) s += operand(q, b, i, h, e) * operand(k, b, j, h, e);
          p[size_t(j)] = s * scale;
          if (path.fused) p[size_t(j)] += scale * (path.bf16 && !path.tiles ? bf16_round(shift) : shift);
          max_score = std::max(max_score, p[size_t(j)]);
        }
        for (int64_t j = 0; j < keys; ++j) {
          p[size_t(j)] = std::exp(p[size_t(j)] - (path.fused ? 0.0 : max_score));
          if (path.tiles) sum += p[size_t(j)];
          if (path.fused && path.bf16) p[size_t(j)] = bf16_round(float(p[size_t(j)]));
          if (!path.tiles) sum += p[size_t(j)];
        }
        for (int64_t j = 0; j < keys; ++j) {
          p[size_t(j)] /= sum;
          if (!path.fused && path.bf16) p[size_t(j)] = bf16_round(float(p[size_t(j)]));
        }
        for (int64_t e = 0; e < d; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < keys; ++j) acc += p[size_t(j)] * operand(v, b, j, h, e);
          out.data()[(b * tq + i) * c + h * d + e] = float(acc);
        }
      }
    }
  return out;
}

Golden as_golden(const Tensor& t) { return {t.shape(), t.to_vector()}; }

// fp32: the products' and exp's own rounding, a few ulps of the output's scale.
constexpr double kFp32Tolerance = 2e-5;
// bf16: a probability next to a rounding boundary may round the other way after a 1-ulp exp
// difference, one bf16 step (2^-8 relative) of one probability.
constexpr double kBf16Tolerance = 2e-3;

class AttentionTest : public ::testing::TestWithParam<Path> {
 protected:
  void SetUp() override {
    set_softmax_fusion(GetParam().fused ? SoftmaxFusion::Always : SoftmaxFusion::Never);
    set_matmul_as_convolution(GetParam().convolution ? MatmulAsConvolution::Always : MatmulAsConvolution::Never);
  }
  void TearDown() override {
    set_softmax_fusion(SoftmaxFusion::Auto);
    set_matmul_as_convolution(MatmulAsConvolution::Auto);
  }

  void expect_reference(const std::string& what, const Tensor& q, const Tensor& k, const Tensor& v, int heads,
                        bool causal) {
    const Path path = GetParam();
    const Tensor got = attention(q, k, v, heads, causal, path.bf16 ? Precision::Bf16 : Precision::Fp32);
    // A causal softmax is never fused.
    const Tensor want = reference_attention(q, k, v, heads, causal, {path.bf16, path.fused && !causal});
    EXPECT_TRUE(close_to(what, got.to_vector(), as_golden(want), path.bf16 ? kBf16Tolerance : kFp32Tolerance));
  }
};

TEST_P(AttentionTest, MatchesTheReference) {
  const Tensor q = random_tensor({2, 19, 32}, 8), k = random_tensor({2, 23, 32}, 9), v = random_tensor({2, 23, 32}, 10);
  expect_reference("attention", q, k, v, 4, false);
}

TEST_P(AttentionTest, CausalMatchesTheReference) {
  const Tensor q = random_tensor({2, 19, 32}, 11), k = random_tensor({2, 19, 32}, 12), v = random_tensor({2, 19, 32}, 13);
  expect_reference("causal attention", q, k, v, 4, true);
}

// 4096 keys make blocks of 64 queries: 130 queries end in a partial third block.
TEST_P(AttentionTest, ManyKeysSplitTheQueriesIntoBlocks) {
  const Tensor q = random_tensor({1, 130, 16}, 14), k = random_tensor({1, 4096, 16}, 15),
               v = random_tensor({1, 4096, 16}, 16);
  expect_reference("attention over 4096 keys", q, k, v, 2, false);
}

// Queries 300 times longer than the keys' spread put the bound far above the true scores: the
// fused path must notice and give the exact softmax's answer (nearly one-hot here).
TEST_P(AttentionTest, ScoresFarBelowTheBoundFallBackToTheExactSoftmax) {
  const Tensor q = random_tensor({1, 5, 8}, 17, 300.0f), k = random_tensor({1, 7, 8}, 18),
               v = random_tensor({1, 7, 8}, 19);
  const int64_t before = softmax_fallback_blocks();
  const Path path = GetParam();
  const Tensor got = attention(q, k, v, 1, false, path.bf16 ? Precision::Bf16 : Precision::Fp32);
  EXPECT_TRUE(close_to("far-from-bound attention", got.to_vector(),
                       as_golden(reference_attention(q, k, v, 1, false, {path.bf16, false})),
                       path.bf16 ? kBf16Tolerance : kFp32Tolerance));
  EXPECT_EQ(softmax_fallback_blocks() - before, path.fused ? 1 : 0);
}

TEST_P(AttentionTest, MismatchedShapesAreNamed) {
  const Tensor q = random_tensor({1, 4, 8}, 1), k = random_tensor({1, 5, 8}, 2), v = random_tensor({1, 6, 8}, 3);
  try {
    attention(q, k, v, 2);
    FAIL() << "attention ran on keys and values of different lengths";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("k [1,5,8], v [1,6,8]"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, AttentionTest,
                         ::testing::Values(Path{false, false, false}, Path{false, true, false}, Path{true, false, false},
                                           Path{true, true, false}, Path{false, false, true}, Path{false, true, true},
                                           Path{true, false, true}, Path{true, true, true}),
                         [](const auto& info) {
                           return std::string(info.param.bf16 ? "Bf16" : "Fp32") +
                                  (info.param.fused ? "Fused" : "Exact") +
                                  (info.param.convolution ? "Convolution" : "Matmul");
                         });

// AMX's tile registers and instructions in plain C++, as Intel's ISA reference defines them: eight
// tiles of 16 rows of 64 bytes; TDPBF16PS adds to each fp32 C[m][n] the products of A's row m and
// B's column n taken in bf16 pairs (B's row k holds pair k of every column).
struct EmulatedTiles {
  static inline thread_local std::byte tiles[8][16 * 64];  // per thread, as registers are
  static void configure() {}
  template <int T>
  static void load(const void* address, int64_t stride) {
    for (int r = 0; r < 16; ++r) std::memcpy(tiles[T] + r * 64, static_cast<const std::byte*>(address) + r * stride, 64);
  }
  template <int T>
  static void store(void* address, int64_t stride) {
    for (int r = 0; r < 16; ++r) std::memcpy(static_cast<std::byte*>(address) + r * stride, tiles[T] + r * 64, 64);
  }
  template <int T>
  static void zero() {
    std::memset(tiles[T], 0, sizeof tiles[T]);
  }
  template <int C, int A, int B>
  static void dot() {
    float c[16][16];
    uint16_t a[16][32], b[16][32];
    std::memcpy(c, tiles[C], sizeof c);
    std::memcpy(a, tiles[A], sizeof a);
    std::memcpy(b, tiles[B], sizeof b);
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 16; ++n)
        for (int k = 0; k < 16; ++k)
          for (int i = 0; i < 2; ++i) c[m][n] += bf16_to_float(a[m][2 * k + i]) * bf16_to_float(b[k][2 * n + i]);
    std::memcpy(tiles[C], c, sizeof c);
  }
  static void release() {}
};

void emulated_flash_block(const FlashBlock& block) { flash::Kernel<EmulatedTiles>::run(block); }

// The reference models the kernel's roundings; what remains is its exp's 2 ulp and the order of
// the sums (5e-5 measured on emulated tiles), with room for the hardware's own order.
constexpr double kTileTolerance = 5e-4;

struct FlashCase {
  int64_t batch, queries, keys, channels;
  int heads;
};

// The tile kernel against the fused bf16 reference: heads of 40 values (SD 1.x) pad to 48 output
// and 64 inner columns, 64 (SD 2.x, SDXL) fill them; 37 queries and 77 keys (CLIP's context) end
// in partial blocks. On emulated tiles everywhere, and on the real ones where the CPU has AMX.
TEST(FlashAttention, TileKernelMatchesTheFusedReference) {
  std::vector<std::pair<std::string, FlashBlockKernel>> kernels{{"emulated tiles", emulated_flash_block}};
  if (amx_usable()) kernels.emplace_back("AMX", amx_flash_block);
  for (const FlashCase& shape : {FlashCase{2, 37, 77, 80, 2}, FlashCase{1, 64, 100, 128, 2}, FlashCase{1, 20, 33, 24, 1},
                                 FlashCase{1, 16, 600, 64, 4}}) {
    const Tensor q = random_tensor({shape.batch, shape.queries, shape.channels}, 20),
                 k = random_tensor({shape.batch, shape.keys, shape.channels}, 21),
                 v = random_tensor({shape.batch, shape.keys, shape.channels}, 22);
    const Tensor want = reference_attention(q, k, v, shape.heads, false, {true, true, false, true});
    for (const auto& [name, kernel] : kernels) {
      const std::string what = name + ", q " + shape_string(q.shape()) + ", k " + shape_string(k.shape()) + ", " +
                               std::to_string(shape.heads) + " heads";
      int64_t fallbacks = 0;
      EXPECT_TRUE(close_to(what, flash_attention(q, k, v, shape.heads, kernel, &fallbacks).to_vector(),
                           as_golden(want), kTileTolerance));
      EXPECT_EQ(fallbacks, 0) << what;
    }
  }
}

// As for the oneDNN path: rows far below their bound take the exact softmax, row by row.
TEST(FlashAttention, ScoresFarBelowTheBoundFallBackToTheExactSoftmax) {
  const Tensor q = random_tensor({1, 5, 8}, 17, 300.0f), k = random_tensor({1, 7, 8}, 18), v = random_tensor({1, 7, 8}, 19);
  int64_t fallbacks = 0;
  const Tensor got = flash_attention(q, k, v, 1, emulated_flash_block, &fallbacks);
  EXPECT_TRUE(close_to("far-from-bound attention", got.to_vector(),
                       as_golden(reference_attention(q, k, v, 1, false, {false, false})), kFp32Tolerance));
  EXPECT_GT(fallbacks, 0);
}

// Asking for the AMX kernel is an error where it cannot run, and then changes nothing.
TEST(FlashAttention, TheAmxKernelIsChosenOnlyWhereTheCpuRunsIt) {
  if (amx_usable()) {
    set_attention_kernel(AttentionKernel::Amx);
    EXPECT_TRUE(amx_attention_chosen(Precision::Bf16, 64));
    EXPECT_FALSE(amx_attention_chosen(Precision::Bf16, 80));
    EXPECT_FALSE(amx_attention_chosen(Precision::Fp32, 64));
  } else {
    try {
      set_attention_kernel(AttentionKernel::Amx);
      FAIL() << "the AMX kernel was accepted on a CPU without AMX";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("AMX-BF16"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(amx_attention_chosen(Precision::Bf16, 64));
  }
  set_attention_kernel(AttentionKernel::Auto);
  EXPECT_FALSE(amx_attention_chosen(Precision::Bf16, 64));
}

TEST(FlashAttention, HeadsLargerThanTheTilesTakeAreNamed) {
  const Tensor x = random_tensor({1, 4, 80}, 1);
  try {
    flash_attention(x, x, x, 1, emulated_flash_block);
    FAIL() << "flash attention ran on a head of 80 values";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("up to 64"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace diffuse
