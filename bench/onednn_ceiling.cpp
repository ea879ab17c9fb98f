// oneDNN's own primitives on the shapes diffuse runs, without diffuse's conversions, allocation or
// layouts around them: the ceiling the library sets on this CPU, to hold diffuse's per-op rates
// (`diffuse bench`, "by op") against, and the check a hand-written kernel must beat first.
// The types argument: 0 fp32; 1 bf16 operands, fp32 result (what diffuse runs); 2 bf16 throughout.
#include <benchmark/benchmark.h>

#include <cstring>
#include <optional>

#include "core/dnnl_context.h"

namespace diffuse {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dt operand_type(int64_t types) { return types == 0 ? dt::f32 : dt::bf16; }
dt result_type(int64_t types) { return types == 2 ? dt::bf16 : dt::f32; }

// The contents do not change the speed; zeroed memory of the layout the primitive asks for.
dnnl::memory zeroed(const dnnl::memory::desc& md) {
  dnnl::memory m(md, dnnl_engine());
  std::memset(m.get_data_handle(), 0, md.get_size());
  return m;
}

// The primitive for `desc`, or none where this CPU has no kernel for its types (bf16 before AVX-512).
template <typename PrimitiveDesc, typename Desc>
std::optional<PrimitiveDesc> primitive_desc(benchmark::State& state, const Desc& desc) {
  try {
    return PrimitiveDesc(desc, caller_scratchpad(), dnnl_engine());
  } catch (const dnnl::error&) {
    state.SkipWithError("oneDNN has no kernel for these types on this CPU");
    return std::nullopt;
  }
}

// M x K times K x N: the UNet's linear layers at 512x512, batch 2 (M = tokens).
void BM_OnednnMatmul(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2), types = state.range(3);
  const dnnl::memory::desc src({m, k}, operand_type(types), tag::ab), dst({m, n}, result_type(types), tag::ab);
  const auto pd = primitive_desc<dnnl::matmul::primitive_desc>(
      state, dnnl::matmul::desc(src, {{k, n}, operand_type(types), tag::any}, dst));
  if (!pd) return;
  const dnnl::matmul prim(*pd);
  const std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, zeroed(src)}, {DNNL_ARG_WEIGHTS, zeroed(pd->weights_desc())}, {DNNL_ARG_DST, zeroed(dst)}};
  for (auto _ : state) execute(prim, args);
  state.SetItemsProcessed(state.iterations() * 2 * m * k * n);
  state.SetLabel(pd->impl_info_str());
}
BENCHMARK(BM_OnednnMatmul)
    ->ArgsProduct({{8192}, {320}, {320, 2560}, {0, 1, 2}})
    ->ArgsProduct({{8192}, {1280}, {320}, {0, 1, 2}})
    ->ArgsProduct({{2048}, {640}, {640}, {0, 1, 2}})
    ->ArgsProduct({{512}, {1280}, {1280, 10240}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond);

// 3x3 convolution, channels in = out, at hw x hw: the UNet's levels (batch 2) and the VAE decoder's
// (batch 1). The layout argument: 0 NHWC as diffuse keeps activations, 1 the one oneDNN prefers.
void BM_OnednnConv3x3(benchmark::State& state) {
  const int64_t c = state.range(0), hw = state.range(1), batch = state.range(2), types = state.range(3);
  const tag layout = state.range(4) ? tag::any : tag::nhwc;
  const dnnl::memory::dims shape{batch, c, hw, hw};
  const dnnl::convolution_forward::desc desc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, {shape, operand_type(types), layout},
      {{c, c, 3, 3}, operand_type(types), tag::any}, {{c}, dt::f32, tag::a}, {shape, result_type(types), layout},
      {1, 1}, {1, 1}, {1, 1});
  const auto pd = primitive_desc<dnnl::convolution_forward::primitive_desc>(state, desc);
  if (!pd) return;
  const dnnl::convolution_forward prim(*pd);
  const std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, zeroed(pd->src_desc())},
                                                   {DNNL_ARG_WEIGHTS, zeroed(pd->weights_desc())},
                                                   {DNNL_ARG_BIAS, zeroed(pd->bias_desc())},
                                                   {DNNL_ARG_DST, zeroed(pd->dst_desc())}};
  for (auto _ : state) execute(prim, args);
  state.SetItemsProcessed(state.iterations() * 2 * batch * hw * hw * c * c * 9);
  state.SetLabel(pd->impl_info_str());
}
BENCHMARK(BM_OnednnConv3x3)
    ->ArgsProduct({{320}, {64}, {2}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{640}, {32}, {2}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{1280}, {16, 8}, {2}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{512}, {64, 128}, {1}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{256}, {256}, {1}, {0, 1, 2}, {0, 1}})
    ->ArgsProduct({{128}, {512}, {1}, {0, 1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace diffuse
