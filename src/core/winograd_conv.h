#pragma once
#include <cstdint>

#include "core/precision.h"
#include "core/tensor.h"

namespace diffuse {

// A 3x3, stride-1 convolution with one column of zero padding left and right by Winograd's
// minimal filtering F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016): each 4x4 block of outputs comes from its 6x6 block of inputs through
// transforms in which a pair of channels costs 36 multiplications instead of 144. The 36
// products of all blocks are 36 matmuls [blocks, C_in] x [C_in, C_out], a quarter of the direct
// convolution's MACs at the same matmul rate; the transforms are a few adds per value.
//
// The price is rounding: the transforms scale values by up to 8 and 1/24, so an output carries a
// larger fp32 rounding error than the direct sum (measured in tests/test_conv2d.cpp).
//
// oneDNN has Winograd kernels only for AVX-512; Conv2dKernel uses this one where oneDNN's direct
// kernel is jit:avx2.

// x: [N, H, W, C_in] fp32 or bf16 with C_in a multiple of 8; `top`/`bottom`: zero rows above and below
// (0 where x is a band with real halo rows); taps: the weights as [3][3][C_in][C_out] (oneDNN's
// hwio) fp32, C_out a multiple of 8; bias: C_out values. Writes y: [N, H + top + bottom - 2, W, C_out].
// In bf16 fp32 inputs are rounded to bf16 as they are read, and the taps should hold bf16 values:
// the products are then those of a bf16 convolution, accumulated in fp32.
// The transformed weights (4x the taps) are made per call, for up to 64 MiB of them at a time
// (winograd_conv.cpp), in a buffer of the calling thread: their cost shrinks as the image grows,
// and a model never holds a second, larger copy of its convolutions.
void winograd_conv3x3(const Tensor& x, int top, int bottom, Precision precision, const float* taps,
                      int64_t out_channels, const float* bias, Tensor& y);

}  // namespace diffuse
