// Single-precision GEMM for the executor's float32 MatMul, Gemm and Conv: C = A B or C += A B
// with any row and column strides (so transposed operands need no copy). On x86-64 with AVX2 and
// FMA it runs a packed 6x16 register-blocked kernel (about 90% of one core's FMA peak, against
// about 68% for Eigen's); elsewhere it falls back to Eigen. Blocking along K is fixed, so every
// element's sum is accumulated in the same order whatever M and N are: callers may split a
// product into tiles without changing a single bit of the result.
#pragma once

#include <cstdint>

namespace compressor::kernels {

/// C[m x n] (+)= A[m x k] B[k x n]: element (i, p) of A at a[i * rsa + p * csa], (p, j) of B at
/// b[p * rsb + j * csb], (i, j) of C at c[i * ldc + j]. Single-threaded; callers split the work.
void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa,
           const float* b, int64_t rsb, int64_t csb, float* c, int64_t ldc, bool accumulate);

}  // namespace compressor::kernels
