// Google Benchmark micro-benchmarks of the kernels diffuse writes or wraps, at SD 1.5 512x512
// shapes (batch 2 for CFG). Run: ./build/diffuse_bench_kernels [--benchmark_filter=...]
// The last argument of the matrix benchmarks is the precision: 0 fp32, 1 bf16 (emulated where
// the CPU has no native bf16, so its time there measures the emulation).
#include <benchmark/benchmark.h>

#include <random>

#include "core/attention.h"
#include "core/conv2d.h"
#include "core/linear.h"
#include "core/ops.h"

namespace diffuse {
namespace {

Precision precision_arg(int64_t arg) { return arg ? Precision::Bf16 : Precision::Fp32; }

Tensor random_tensor(Shape shape) {
  Tensor t(std::move(shape));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = normal(rng);
  return t;
}

// GroupNorm + SiLU on the UNet's top level (64x64x320) and the VAE's (512x512x128, batch 1); the
// last argument 0 writes fp32, 1 bf16 (for a bf16 product to read).
void BM_GroupNormSilu(benchmark::State& state) {
  const int64_t n = state.range(0), hw = state.range(1), c = state.range(2);
  const Tensor x = random_tensor({n, hw, hw, c});
  const std::vector<float> gamma(size_t(c), 1.0f), beta(size_t(c), 0.0f);
  const Tensor::Type out = state.range(3) ? Tensor::Type::Bf16 : Tensor::Type::F32;
  for (auto _ : state)
    benchmark::DoNotOptimize(ops::group_norm(x, 32, gamma, beta, 1e-5f, ops::Activation::SiLU, out));
  state.SetBytesProcessed(state.iterations() * x.numel() * 8);
}
BENCHMARK(BM_GroupNormSilu)->ArgsProduct({{2}, {64}, {320}, {0, 1}})->ArgsProduct({{1}, {512}, {128}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

// Self-attention at the UNet's top levels: 4096 tokens, 320 channels and 1024 tokens, 640
// channels, 8 heads. Then the precision, the softmax (0 exact, 1 fused into the products) and the
// kernel (0 oneDNN's products, 1 the AMX tile kernel, bf16 and heads up to 64 only).
void BM_SelfAttention(benchmark::State& state) {
  const int64_t tokens = state.range(0), c = state.range(1);
  const Tensor q = random_tensor({2, tokens, c}), k = random_tensor({2, tokens, c}), v = random_tensor({2, tokens, c});
  const Precision precision = precision_arg(state.range(2));
  set_softmax_fusion(state.range(3) ? SoftmaxFusion::Always : SoftmaxFusion::Never);
  try {
    set_attention_kernel(state.range(4) ? AttentionKernel::Amx : AttentionKernel::Onednn);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
  for (auto _ : state) benchmark::DoNotOptimize(attention(q, k, v, 8, false, precision));
  set_softmax_fusion(SoftmaxFusion::Auto);
  set_attention_kernel(AttentionKernel::Auto);
  state.SetItemsProcessed(state.iterations() * 2 * 2 * 2 * tokens * tokens * c);  // FLOPs of both matmuls
}
BENCHMARK(BM_SelfAttention)
    ->ArgsProduct({{4096}, {320}, {0, 1}, {0, 1}, {0}})
    ->ArgsProduct({{1024}, {640}, {0}, {0, 1}, {0}})
    ->Args({4096, 320, 1, 1, 1})
    ->Unit(benchmark::kMillisecond);

// The VAE's one-head attention over every pixel of its 512-channel level: 4096 tokens at 512x512,
// 16384 at 1024x1024.
void BM_VaeAttention(benchmark::State& state) {
  const int64_t tokens = state.range(0);
  const Tensor q = random_tensor({1, tokens, 512}), k = random_tensor({1, tokens, 512}), v = random_tensor({1, tokens, 512});
  for (auto _ : state) benchmark::DoNotOptimize(attention(q, k, v, 1, false, Precision::Fp32));
  state.SetItemsProcessed(state.iterations() * 2 * 2 * tokens * tokens * 512);
}
BENCHMARK(BM_VaeAttention)->Arg(4096)->Arg(16384)->Unit(benchmark::kMillisecond);

// 3x3 convolutions: channels, size, precision, batch, algorithm (0 oneDNN's direct kernel, 1
// Winograd F(4x4,3x3)). The UNet's levels at 512x512 (batch 2 for CFG), and the VAE decoder's
// (batch 1), whose large images run slower per FLOP in the direct kernel. Items are the direct
// convolution's FLOPs, so Winograd's rate is an effective one.
void BM_Conv3x3(benchmark::State& state) {
  const int c = int(state.range(0));
  const int64_t hw = state.range(1), batch = state.range(3);
  std::vector<float> weight(size_t(c) * c * 9, 0.01f);
  set_winograd(state.range(4) ? WinogradMode::Always : WinogradMode::Never);
  const Conv2dKernel conv(weight, {}, c, c, 3, 1, {1, 1}, precision_arg(state.range(2)));
  const Tensor x = random_tensor({batch, hw, hw, c});
  for (auto _ : state) benchmark::DoNotOptimize(conv.forward(x));
  set_winograd(WinogradMode::Auto);
  state.SetItemsProcessed(state.iterations() * 2 * batch * hw * hw * c * c * 9);
}
BENCHMARK(BM_Conv3x3)
    ->ArgsProduct({{320}, {64}, {0, 1}, {2}, {0, 1}})
    ->ArgsProduct({{640}, {32}, {0}, {2}, {0, 1}})
    ->ArgsProduct({{1280}, {16}, {0}, {2}, {0, 1}})
    ->ArgsProduct({{512}, {64, 128}, {0}, {1}, {0, 1}})
    ->ArgsProduct({{256}, {256}, {0}, {1}, {0, 1}})
    ->ArgsProduct({{128}, {512}, {0}, {1}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

// The feed-forward projection of the top level: 8192 tokens x 320 -> 1280.
void BM_Linear(benchmark::State& state) {
  const int in = int(state.range(0)), out = int(state.range(1));
  const LinearKernel linear(std::vector<float>(size_t(in) * out, 0.01f), std::vector<float>(size_t(out), 0.0f), out, in,
                            LinearKernel::Activation::None, precision_arg(state.range(2)));
  const Tensor x = random_tensor({8192, in});
  for (auto _ : state) benchmark::DoNotOptimize(linear.forward(x));
  state.SetItemsProcessed(state.iterations() * 2 * 8192 * in * out);
}
BENCHMARK(BM_Linear)->ArgsProduct({{320}, {1280}, {0, 1}})->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace diffuse

BENCHMARK_MAIN();
