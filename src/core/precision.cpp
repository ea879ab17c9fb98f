#include "core/precision.h"

#include "core/dnnl_context.h"
#include "core/dtype.h"
#include "core/op_profile.h"

namespace diffuse {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

std::string_view precision_name(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }

std::optional<Precision> precision_from_name(std::string_view name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  if (name == "auto") return native_bf16() ? Precision::Bf16 : Precision::Fp32;
  return std::nullopt;
}

bool native_bf16() {
  // Asking oneDNN is more faithful than reading CPUID: it is oneDNN that must have the kernel.
  static const bool native = [] {
    try {
      const dnnl::memory::desc a({64, 64}, dt::bf16, tag::ab), c({64, 64}, dt::f32, tag::ab);
      dnnl::matmul::primitive_desc pd({a, a, c}, dnnl_engine());
      return std::string_view(pd.impl_info_str()).find("ref") == std::string_view::npos;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return native;
}

namespace {

constexpr size_t kParallelFrom = size_t(1) << 16;

}  // namespace

void to_bf16(const float* src, uint16_t* dst, size_t n) {
#pragma omp parallel for simd if (n >= kParallelFrom)
  for (size_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]);
}

void round_to_bf16(const float* src, float* dst, size_t n) {
#pragma omp parallel for simd if (n >= kParallelFrom)
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(float_to_bf16(src[i]));
}

void bf16_to_f32(const uint16_t* src, float* dst, size_t n) {
#pragma omp parallel for simd if (n >= kParallelFrom)
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(src[i]);
}

dt operand_type(Precision precision) { return precision == Precision::Bf16 && native_bf16() ? dt::bf16 : dt::f32; }

Operand compute_operand(Precision precision, const float* values, size_t n, Tensor& scratch) {
  if (precision == Precision::Fp32) return {values, dt::f32};
  const OpTimer timer(OpKind::Convert);
  const bool native = native_bf16();
  const int64_t floats = int64_t(native ? (n + 1) / 2 : n);
  if (scratch.empty() || scratch.numel() < floats) scratch = Tensor({floats});
  if (native)
    to_bf16(values, reinterpret_cast<uint16_t*>(scratch.data()), n);
  else
    round_to_bf16(values, scratch.data(), n);
  return {scratch.data(), native ? dt::bf16 : dt::f32};
}

Tensor::Type product_input_type(Precision precision) {
  return precision == Precision::Bf16 ? Tensor::Type::Bf16 : Tensor::Type::F32;
}

Operand compute_operand(Precision precision, const Tensor& x, Tensor& scratch) {
  if (x.type() == Tensor::Type::F32) return compute_operand(precision, x.data(), size_t(x.numel()), scratch);
  if (operand_type(precision) == dt::bf16) return {x.bf16_data(), dt::bf16};
  const OpTimer timer(OpKind::Convert);
  scratch = Tensor(x.shape());
  bf16_to_f32(x.bf16_data(), scratch.data(), size_t(x.numel()));
  return {scratch.data(), dt::f32};
}

}  // namespace diffuse
