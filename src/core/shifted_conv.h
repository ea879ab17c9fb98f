#pragma once
#include <dnnl.hpp>

#include "core/precision.h"
#include "core/tensor.h"

namespace diffuse {

// A 3x3, stride-1 convolution with one column of zero padding left and right, computed as nine
// accumulated matrix products, one per tap. With the zero-padded image's rows laid end to end,
// the inputs of tap (ky, kx) for a band of output rows are one contiguous [rows * (W + 2), C_in]
// matrix, ky rows and kx pixels into the band: a plain matmul operand. Each output row gets two
// extra pixels where that view runs into the next row; they are dropped on the way out.
//
// On AVX2, oneDNN's direct convolution (jit:avx2, NHWC) slows down on large images with few
// channels, where these products keep the matmul rate (2 threads, GFLOP/s, direct -> this, each
// alone): 128 channels at 512x512 105 -> 168, 256 at 256x256 106 -> 175, 320 at 128x128 143 ->
// 173, 512 at 256x256 120-127 -> 170-173; at 64x64 both are within noise (Conv2dKernel chooses).
//
// x: [N, H, W, C_in] fp32; `top`/`bottom`: zero rows above and below (0 where x is a band with
// real halo rows); taps: the weights as [3][3][C_in][C_out] (oneDNN's hwio) in the operand type of
// `precision`; bias: C_out values. Returns [N, H + top + bottom - 2, W, C_out] fp32.
Tensor shifted_conv3x3(const Tensor& x, int top, int bottom, Precision precision, const dnnl::memory& taps,
                       const float* bias, int64_t out_channels);

}  // namespace diffuse
