#pragma once
#include <cstdint>
#include <optional>

#include <dnnl.hpp>

#include "core/packed_operand.h"

namespace diffuse {

// One matmul C[m,n] = post(scale * A[m,k] B[k,n]) over strided operands, for kernels that
// run many products of a few shapes inside their own parallel loops (attention's blocks of
// queries, the 36 products of the Winograd convolution). Primitives are cached per thread, shape
// and threading context. A and B share one data type (fp32 or bf16); C is fp32 unless `dst` says
// bf16.
struct StridedMatmul {
  int64_t m, n, k, lda, ldb, ldc;
  bool b_transposed = false;  // B stored as [n,k] (row stride ldb)
  float scale = 1.0f;
  dnnl::memory::data_type operands = dnnl::memory::data_type::f32;
  bool exp = false;  // C = exp(scale * A B), through oneDNN's exp post-op
  dnnl::memory::data_type dst = dnnl::memory::data_type::f32;
  // May run as a 1x1 convolution (matmul_as_convolution.h), whose B is packed into its own layout:
  // for products that reuse their B over many calls.
  bool convolution_allowed = true;

  dnnl::memory::desc a_md() const;
  dnnl::memory::desc b_md() const;  // B as stored
  dnnl::memory::desc c_md() const;

  // B in the blocked layout the kernel prefers where it has one: given a plain B, oneDNN's brgemm
  // kernels (AVX-512, AMX) copy it into that layout on every call, i.e. once per block of queries
  // for the same head's keys, as LinearKernel's weights would be without packing. A kernel that
  // reads plain B (gemm:jit, AVX2) takes it as stored: re-laying out attention's transposed keys
  // for it cost 0.58 s of a 512x512 SD 1.5 step here.
  dnnl::matmul::primitive_desc preferred_primitive_desc() const;
  // `b` (stored as b_md()) in the layout the cached primitive reads, through `cache`.
  const dnnl::memory& packed(const void* b, PackedOperand& cache) const;
  void run(const void* a, const dnnl::memory& packed_b, void* c) const;

 private:
  dnnl::matmul::primitive_desc primitive_desc(const dnnl::memory::desc& b) const;
  struct Plan {
    dnnl::primitive prim;  // a matmul, or a 1x1 convolution (convolution())
    dnnl::memory::desc b_layout;
    bool convolution = false;
  };
  std::optional<dnnl::convolution_forward::primitive_desc> convolution(const char* matmul_kernel) const;
  dnnl::memory::desc b_weights_md() const;
  const Plan& plan() const;
};

}  // namespace diffuse
