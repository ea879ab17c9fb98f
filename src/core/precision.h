#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <dnnl.hpp>

#include "core/tensor.h"

namespace diffuse {

// The precision of the matrix work: convolutions, linear layers and attention's two products.
// Norm statistics, softmax, residual sums and the sampler state are fp32 in every mode.
enum class Precision { Fp32, Bf16 };

std::string_view precision_name(Precision p);  // "fp32", "bf16"
// "fp32", "bf16", or "auto": the fastest this CPU runs natively (bf16 with AVX512-BF16/AMX, else fp32).
std::optional<Precision> precision_from_name(std::string_view name);

// Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX). Elsewhere bf16 is emulated
// with the same numerics: weights are stored in bf16 and widened per call, inputs are rounded to
// bf16, products accumulate in fp32. Memory and results then match a native run; speed does not.
bool native_bf16();

// Bulk conversions, round to nearest even (NaN stays NaN), parallel for large arrays.
void to_bf16(const float* src, uint16_t* dst, size_t n);
void round_to_bf16(const float* src, float* dst, size_t n);  // bf16 values kept as float
void bf16_to_f32(const uint16_t* src, float* dst, size_t n);

// One operand of a matrix product as the kernels of `precision` read it: fp32 as given; bf16
// converted (native) or rounded (emulated) into `scratch` (a pooled buffer, grown when too small),
// which the caller keeps alive.
struct Operand {
  const void* data;
  dnnl::memory::data_type type;
};
Operand compute_operand(Precision precision, const float* values, size_t n, Tensor& scratch);
// The same for a tensor, which a norm may have written in bf16 already (then taken as it is where
// the kernels read bf16, widened into `scratch` where they read fp32).
Operand compute_operand(Precision precision, const Tensor& x, Tensor& scratch);
// The tensor a product in `precision` reads with no conversion pass of its own: bf16 in bf16
// (native, or emulated, where it is widened as an fp32 input would be rounded: the same cost).
Tensor::Type product_input_type(Precision precision);
// The data type oneDNN's primitives take for matrix operands in `precision` on this CPU.
dnnl::memory::data_type operand_type(Precision precision);

}  // namespace diffuse
