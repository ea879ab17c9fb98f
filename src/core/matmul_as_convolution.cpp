#include "core/matmul_as_convolution.h"

#include "core/dnnl_context.h"

namespace diffuse {
namespace {

MatmulAsConvolution setting = MatmulAsConvolution::Auto;

}  // namespace

void set_matmul_as_convolution(MatmulAsConvolution mode) { setting = mode; }

MatmulAsConvolution matmul_as_convolution() { return setting; }

dnnl::memory::desc rows_as_pixels(int64_t rows, int64_t channels, dnnl::memory::data_type type) {
  return dnnl::memory::desc({1, channels, 1, rows}, type, dnnl::memory::format_tag::nhwc);
}

std::optional<dnnl::convolution_forward::primitive_desc> product_as_convolution(
    std::string_view matmul_kernel, int64_t rows, int64_t in, int64_t out, dnnl::memory::data_type operands,
    dnnl::memory::data_type dst, bool bias, const dnnl::primitive_attr& attr) {
  if (setting == MatmulAsConvolution::Never || (setting == MatmulAsConvolution::Auto && matmul_kernel != "gemm:jit"))
    return std::nullopt;
  const auto forward = dnnl::prop_kind::forward_inference;
  const auto direct = dnnl::algorithm::convolution_direct;
  const dnnl::memory::desc src = rows_as_pixels(rows, in, operands), out_md = rows_as_pixels(rows, out, dst);
  const dnnl::memory::desc weights({out, in, 1, 1}, operands, dnnl::memory::format_tag::any);
  const dnnl::memory::desc bias_md({out}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
  const dnnl::convolution_forward::desc desc =
      bias ? dnnl::convolution_forward::desc(forward, direct, src, weights, bias_md, out_md, {1, 1}, {0, 0}, {0, 0})
           : dnnl::convolution_forward::desc(forward, direct, src, weights, out_md, {1, 1}, {0, 0}, {0, 0});
  dnnl::convolution_forward::primitive_desc pd(desc, attr, dnnl_engine(), /*allow_empty=*/true);
  if (!pd || (setting == MatmulAsConvolution::Auto && !std::string_view(pd.impl_info_str()).starts_with("jit_1x1")))
    return std::nullopt;
  return pd;
}

}  // namespace diffuse
