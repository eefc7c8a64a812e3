// The float32 GEMM behind MatMul, Gemm and Conv against a double-precision triple loop: edge
// sizes around the 6x16 register block and the 256-deep and 1024-wide packing blocks, strided
// (transposed) operands, accumulation, K = 0, and bit-identical rows whatever the row tiling.
#include "../../src/kernels/sgemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "testing/test_models.h"

namespace compressor {
namespace {
using kernels::sgemm;

struct Case {
  int64_t m, n, k;
  bool trans_a, trans_b, accumulate;
};

void check(const Case& t) {
  const auto a = testing::random_floats(static_cast<size_t>(t.m * t.k), 1);
  const auto b = testing::random_floats(static_cast<size_t>(t.k * t.n), 2);
  const auto c0 = testing::random_floats(static_cast<size_t>(t.m * t.n), 3);
  // A stored [m, k] (or [k, m] when transposed), B [k, n] (or [n, k]).
  const int64_t rsa = t.trans_a ? 1 : t.k, csa = t.trans_a ? t.m : 1;
  const int64_t rsb = t.trans_b ? 1 : t.n, csb = t.trans_b ? t.k : 1;
  std::vector<float> c = c0;
  sgemm(t.m, t.n, t.k, a.data(), rsa, csa, b.data(), rsb, csb, c.data(), t.n, t.accumulate);
  double worst = 0;
  for (int64_t i = 0; i < t.m; ++i) {
    for (int64_t j = 0; j < t.n; ++j) {
      double want = t.accumulate ? c0[i * t.n + j] : 0.0;
      for (int64_t p = 0; p < t.k; ++p) {
        want += double(a[i * rsa + p * csa]) * double(b[p * rsb + j * csb]);
      }
      worst = std::max(worst, std::fabs(want - c[i * t.n + j]) / (1.0 + std::sqrt(double(t.k))));
    }
  }
  EXPECT_LT(worst, 1e-5) << "m " << t.m << " n " << t.n << " k " << t.k << " trans_a " << t.trans_a
                         << " trans_b " << t.trans_b << " acc " << t.accumulate;
}

TEST(Sgemm, MatchesDoublePrecisionAtEdgeSizes) {
  for (const Case& t :
       {Case{1, 1, 1, false, false, false}, Case{6, 16, 8, false, false, false},
        Case{7, 17, 9, false, false, false}, Case{5, 15, 300, false, false, false},
        Case{13, 33, 257, true, false, false}, Case{125, 20, 40, false, true, false},
        Case{3, 1030, 5, true, true, false}, Case{121, 18, 513, false, false, true},
        Case{2, 3, 1, false, false, true}}) {
    check(t);
  }
}

TEST(Sgemm, EmptyDepthWritesZerosOrLeavesTheSum) {
  std::vector<float> c = {1, 2, 3, 4};
  sgemm(2, 2, 0, nullptr, 0, 1, nullptr, 2, 1, c.data(), 2, true);
  EXPECT_EQ(c, (std::vector<float>{1, 2, 3, 4}));
  sgemm(2, 2, 0, nullptr, 0, 1, nullptr, 2, 1, c.data(), 2, false);
  EXPECT_EQ(c, (std::vector<float>{0, 0, 0, 0}));
}

TEST(Sgemm, RowTilesGiveBitIdenticalResults) {
  const int64_t m = 50, n = 40, k = 600;
  const auto a = testing::random_floats(m * k, 4), b = testing::random_floats(k * n, 5);
  std::vector<float> whole(m * n), tiled(m * n);
  sgemm(m, n, k, a.data(), k, 1, b.data(), n, 1, whole.data(), n, false);
  for (int64_t r0 = 0; r0 < m; r0 += 7) {
    const int64_t rows = std::min<int64_t>(7, m - r0);
    sgemm(rows, n, k, a.data() + r0 * k, k, 1, b.data(), n, 1, tiled.data() + r0 * n, n, false);
  }
  EXPECT_EQ(whole, tiled);
}

}  // namespace
}  // namespace compressor
