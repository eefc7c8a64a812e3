// Packed GEMM: B is packed into 16-column strips of a KC x NC block, A into 6-row strips of an
// MC x KC block, and a 6x16 micro-kernel keeps its 12 accumulators of 8 floats in registers
// while it streams the two packed panels (BLIS's loop order: jc, pc, ic, jr, ir).
#include "sgemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define COMPRESSOR_SGEMM_AVX2 1
#else
#include <Eigen/Core>
#endif

namespace compressor::kernels {
namespace {

#if COMPRESSOR_SGEMM_AVX2

constexpr int64_t kMr = 6;     // rows of the micro-kernel
constexpr int64_t kNr = 16;    // columns of the micro-kernel (two 8-float registers)
constexpr int64_t kKc = 256;   // depth of a packed block: a 6x256 A strip fits L1
constexpr int64_t kMc = 120;   // rows of a packed A block (fits L2 with the B strip)
constexpr int64_t kNc = 1024;  // columns of a packed B block (fits L2/L3)

// Packs the kc x nc block of B into kNr-wide strips, zero-padding the last strip.
void pack_b(int64_t kc, int64_t nc, const float* b, int64_t rsb, int64_t csb, float* out) {
  for (int64_t j0 = 0; j0 < nc; j0 += kNr) {
    const int64_t w = std::min(kNr, nc - j0);
    for (int64_t p = 0; p < kc; ++p, out += kNr) {
      const float* src = b + p * rsb + j0 * csb;
      if (csb == 1 && w == kNr) {
        std::memcpy(out, src, kNr * sizeof(float));
        continue;
      }
      int64_t j = 0;
      for (; j < w; ++j) out[j] = src[j * csb];
      for (; j < kNr; ++j) out[j] = 0;
    }
  }
}

// Packs the mc x kc block of A into kMr-row strips (column by column), zero-padding.
void pack_a(int64_t mc, int64_t kc, const float* a, int64_t rsa, int64_t csa, float* out) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMr) {
    const int64_t h = std::min(kMr, mc - i0);
    for (int64_t p = 0; p < kc; ++p, out += kMr) {
      int64_t i = 0;
      for (; i < h; ++i) out[i] = a[(i0 + i) * rsa + p * csa];
      for (; i < kMr; ++i) out[i] = 0;
    }
  }
}

// C[h x w] (+)= A strip x B strip over kc, h <= 6, w <= 16.
void micro_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool acc,
                  int64_t h, int64_t w) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p, a += kMr, b += kNr) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 x = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(x, b0, c40);
    c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(x, b0, c50);
    c51 = _mm256_fmadd_ps(x, b1, c51);
  }
  const __m256 rows[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                               {c30, c31}, {c40, c41}, {c50, c51}};
  if (h == kMr && w == kNr) {
    for (int64_t i = 0; i < kMr; ++i) {
      float* cr = c + i * ldc;
      if (acc) {
        _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_loadu_ps(cr), rows[i][0]));
        _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_loadu_ps(cr + 8), rows[i][1]));
      } else {
        _mm256_storeu_ps(cr, rows[i][0]);
        _mm256_storeu_ps(cr + 8, rows[i][1]);
      }
    }
    return;
  }
  alignas(32) float t[kNr];
  for (int64_t i = 0; i < h; ++i) {
    _mm256_store_ps(t, rows[i][0]);
    _mm256_store_ps(t + 8, rows[i][1]);
    float* cr = c + i * ldc;
    if (acc) {
      for (int64_t j = 0; j < w; ++j) cr[j] += t[j];
    } else {
      for (int64_t j = 0; j < w; ++j) cr[j] = t[j];
    }
  }
}

// A 32-byte aligned buffer of at least `n` floats, kept per thread.
float* scratch(std::vector<float>& buf, size_t n) {
  if (buf.size() < n + 8) buf.resize(n + 8);
  auto p = reinterpret_cast<std::uintptr_t>(buf.data());
  return reinterpret_cast<float*>((p + 31) & ~std::uintptr_t{31});
}

#endif  // COMPRESSOR_SGEMM_AVX2

}  // namespace

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa,
           const float* b, int64_t rsb, int64_t csb, float* c, int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    }
    return;
  }
#if COMPRESSOR_SGEMM_AVX2
  thread_local std::vector<float> a_buf, b_buf;
  float* ap = scratch(a_buf, static_cast<size_t>(kMc * kKc));
  float* bp = scratch(b_buf, static_cast<size_t>(kKc * (kNc + kNr)));
  for (int64_t jc = 0; jc < n; jc += kNc) {
    const int64_t nc = std::min(kNc, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      pack_b(kc, nc, b + pc * rsb + jc * csb, rsb, csb, bp);
      const bool acc = accumulate || pc > 0;
      for (int64_t ic = 0; ic < m; ic += kMc) {
        const int64_t mc = std::min(kMc, m - ic);
        pack_a(mc, kc, a + ic * rsa + pc * csa, rsa, csa, ap);
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            micro_kernel(kc, ap + ir * kc, bp + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, acc,
                         std::min(kMr, mc - ir), std::min(kNr, nc - jr));
          }
        }
      }
    }
  }
#else
  using Stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Mat, 0, Stride> am(a, m, k, Stride(rsa, csa));
  Eigen::Map<const Mat, 0, Stride> bm(b, k, n, Stride(rsb, csb));
  Eigen::Map<Mat, 0, Eigen::OuterStride<> > cm(c, m, n, Eigen::OuterStride<>(ldc));
  if (accumulate) {
    cm.noalias() += am * bm;
  } else {
    cm.noalias() = am * bm;
  }
#endif
}

}  // namespace compressor::kernels
