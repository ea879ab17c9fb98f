#pragma once
#include <string_view>

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

// Whether a product should skip its convolution altogether (no primitive to try).
bool convolution_ruled_out(std::string_view matmul_kernel);
// Whether the convolution found (its kernel's name) should replace the matmul.
bool convolution_chosen(std::string_view convolution_kernel);

}  // namespace diffuse
