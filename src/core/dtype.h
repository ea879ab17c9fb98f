#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace diffuse {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType t);
std::string_view dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...
std::optional<DType> dtype_from_name(std::string_view name);

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);  // round to nearest even

inline float bf16_to_float(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint16_t float_to_bf16(float f);  // round to nearest even, NaN stays NaN

// Converts `count` elements of `src` (any numeric dtype) to float.
void convert_to_f32(DType src_type, const void* src, float* dst, size_t count);

}  // namespace diffuse
