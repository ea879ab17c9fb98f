#pragma once
#include <optional>
#include <string>

namespace diffuse::app {

// What the CPU's multiply-add units can do at most, with the current thread count: loops of
// independent multiply-adds on registers, no memory traffic. The ceiling against which a kernel's
// (or a whole UNet's) rate is a share of the machine; oneDNN's matmul (matmul_peak.h) reaches
// part of it.
struct HardwarePeak {
  double tflops = 0;
  std::string unit;  // what ran the loop, e.g. "AVX-512 FMA", "AMX tiles"
};

HardwarePeak measure_fp32_peak();
// AMX tiles (TDPBF16PS), else AVX512-BF16 dot products; none where the CPU has neither (bf16 is
// then emulated at fp32 speed).
std::optional<HardwarePeak> measure_bf16_peak();

}  // namespace diffuse::app
