#pragma once
#include <optional>
#include <string_view>

#include <dnnl.hpp>

namespace diffuse {

// Where matrix products (linear layers, attention's two products) run as oneDNN 1x1 convolutions
// over their rows as pixels of a one-pixel-high NHWC image. On AVX2, oneDNN's 1x1 convolution
// kernel (jit_1x1:avx2) beats its matmul (gemm:jit) at every SD shape measured (linear.cpp,
// strided_matmul.cpp), and applies post-ops in registers where gemm:jit makes a separate pass.
// Auto: where the matmul's kernel would be gemm:jit and the convolution's a jit_1x1 one; Always:
// wherever oneDNN has the convolution (tests, measurement); Never: the matmul. For plans made after.
enum class MatmulAsConvolution { Auto, Always, Never };
void set_matmul_as_convolution(MatmulAsConvolution mode);
MatmulAsConvolution matmul_as_convolution();

// A dense [rows, channels] matrix as that image.
dnnl::memory::desc rows_as_pixels(int64_t rows, int64_t channels, dnnl::memory::data_type type);

// The convolution for the product [rows, in] x [in, out] (+ a bias of `out` fp32 values), where
// the mode chooses it over the matmul whose kernel is `matmul_kernel`. Its weights are [out, in,
// 1, 1]: the matmul's [in, out] in another layout.
std::optional<dnnl::convolution_forward::primitive_desc> product_as_convolution(
    std::string_view matmul_kernel, int64_t rows, int64_t in, int64_t out, dnnl::memory::data_type operands,
    dnnl::memory::data_type dst, bool bias, const dnnl::primitive_attr& attr);

}  // namespace diffuse
