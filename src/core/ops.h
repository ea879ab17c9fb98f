#pragma once
#include <vector>

#include "core/tensor.h"

// Elementwise, normalisation and layout operations on fp32 tensors. Images are NHWC,
// so "channels" are always the innermost dimension.
namespace diffuse::ops {

enum class Activation { None, SiLU };

// GroupNorm over NHWC [N,H,W,C]; statistics in double for parity with the reference.
// Writes in place when x is handed over (std::move), nothing else holds its storage and `out`
// is fp32. The activation is applied per chunk while it is in cache; in bf16 (for a bf16
// product to read) before rounding.
Tensor group_norm(Tensor x, int groups, const std::vector<float>& gamma, const std::vector<float>& beta,
                  float eps, Activation act = Activation::None, Tensor::Type out = Tensor::Type::F32);
// LayerNorm over the last dimension.
Tensor layer_norm(const Tensor& x, const std::vector<float>& gamma, const std::vector<float>& beta, float eps,
                  Tensor::Type out = Tensor::Type::F32);

void silu_(Tensor& x);
void silu_(float* x, int64_t n);
void relu_(Tensor& x);
void gelu_(Tensor& x);        // exact erf form
void quick_gelu_(Tensor& x);  // x * sigmoid(1.702 x), CLIP ViT-L

void add_(Tensor& x, const Tensor& y);               // same shape
// a * b (same shape), into a when it is handed over (std::move) and `out` is fp32; bf16 for a
// bf16 product to read.
Tensor mul(Tensor a, const Tensor& b, Tensor::Type out = Tensor::Type::F32);
void add_channels_(Tensor& x, const Tensor& per_nc);  // x [N,H,W,C] += per_nc [N,C]
void scale_(Tensor& x, float s);

Tensor nchw_to_nhwc(const Tensor& x);
Tensor nhwc_to_nchw(const Tensor& x);
// NHWC, fp32 in; out in bf16 for a bf16 convolution to read (rounded as it would round them).
Tensor upsample_nearest2x(const Tensor& x, Tensor::Type out = Tensor::Type::F32);
// Rows [first, last) of upsample_nearest2x(x), without making the rest.
Tensor upsample_nearest2x_rows(const Tensor& x, int64_t first, int64_t last, Tensor::Type out = Tensor::Type::F32);
Tensor concat_last(const Tensor& a, const Tensor& b);       // along the last dim (channels, in NHWC)
Tensor concat_batch(const Tensor& a, const Tensor& b);      // along dim 0

}  // namespace diffuse::ops
