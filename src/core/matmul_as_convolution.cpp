#include "core/matmul_as_convolution.h"

namespace diffuse {
namespace {

MatmulAsConvolution setting = MatmulAsConvolution::Auto;

}  // namespace

void set_matmul_as_convolution(MatmulAsConvolution mode) { setting = mode; }

MatmulAsConvolution matmul_as_convolution() { return setting; }

bool convolution_ruled_out(std::string_view matmul_kernel) {
  return setting == MatmulAsConvolution::Never || (setting == MatmulAsConvolution::Auto && matmul_kernel != "gemm:jit");
}

bool convolution_chosen(std::string_view convolution_kernel) {
  return setting == MatmulAsConvolution::Always || convolution_kernel.starts_with("jit_1x1");
}

}  // namespace diffuse
