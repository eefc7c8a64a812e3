// Einsum and Det: expected values computed here with naive loops from the definitions (sums of
// products over the contracted labels; the Leibniz formula for determinants), covering the GEMM
// path and the general path, ellipsis broadcasting, diagonals and traces, implicit outputs,
// integers, empty operands and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Dims;
using ir::Tensor;

std::string header(int opset) {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\n";
}

std::vector<double> random_doubles(size_t n, uint64_t seed) {
  const auto f = random_floats(n, seed);
  return {f.begin(), f.end()};
}

bool has_text(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}
template <typename T>
bool has_text(const StatusOr<T>& s, const std::string& text) {
  return has_text(s.status(), text);
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
}

// ---------------------------------------------------------------------------------------------
// Einsum

TEST(Einsum, BatchedMatmulWithPermutedOutputMatchesLoops) {
  const int64_t B = 3, I = 4, J = 5, K = 2;
  const auto a = random_doubles(B * I * J, 1), b = random_doubles(B * J * K, 2);
  // bij,bjk->bik and the same product written to a transposed output, kbi.
  for (const std::string out : {"bik", "kbi"}) {
    auto y = run_text1(
        header(12) +
            "g (double[3,4,5] A, double[3,5,2] C) => (double Y) {"
            " Y = Einsum<equation = \"bij, bjk -> " +
            out + "\">(A, C) }",
        {{"A", make_tensor<double>({B, I, J}, a)}, {"C", make_tensor<double>({B, J, K}, b)}});
    ASSERT_OK(y);
    std::vector<double> want(B * I * K);
    for (int64_t bb = 0; bb < B; ++bb) {
      for (int64_t i = 0; i < I; ++i) {
        for (int64_t k = 0; k < K; ++k) {
          double s = 0;
          for (int64_t j = 0; j < J; ++j) s += a[(bb * I + i) * J + j] * b[(bb * J + j) * K + k];
          const int64_t at = out == "bik" ? (bb * I + i) * K + k : (k * B + bb) * I + i;
          want[at] = s;
        }
      }
    }
    expect_near(values_of<double>(*y), want);
  }
}

TEST(Einsum, FloatMatmulAndInnerProductTakeTheProductPath) {
  const auto a = random_floats(6, 3), b = random_floats(6, 4);
  auto y = run_text1(header(12) +
                         "g (float[2,3] A, float[3,2] C) => (float Y) {"
                         " Y = Einsum<equation = \"ij,jk\">(A, C) }",
                     {{"A", float_tensor({2, 3}, a)}, {"C", float_tensor({3, 2}, b)}});
  ASSERT_OK(y);
  ASSERT_EQ(y->dims(), (Dims{2, 2}));
  const auto out = values_of<float>(*y);
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t k = 0; k < 2; ++k) {
      float s = 0;
      for (int64_t j = 0; j < 3; ++j) s += a[i * 3 + j] * b[j * 2 + k];
      EXPECT_NEAR(out[i * 2 + k], s, 1e-6);
    }
  }
  y = run_text1(header(12) +
                    "g (float[6] A, float[6] C) => (float Y) {"
                    " Y = Einsum<equation = \"i,i\">(A, C) }",
                {{"A", float_tensor({6}, a)}, {"C", float_tensor({6}, b)}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), Dims{});
  double s = 0;
  for (int i = 0; i < 6; ++i) s += a[i] * b[i];
  EXPECT_NEAR(values_of<float>(*y)[0], s, 1e-6);
}

TEST(Einsum, EllipsisBroadcastsBatchDims) {
  // A [2,1,2,3], C [3,3,2]: ellipsis dims [2,1] and [3] broadcast to [2,3].
  const auto a = random_doubles(12, 5), c = random_doubles(18, 6);
  auto y = run_text1(
      header(12) +
          "g (double[2,1,2,3] A, double[3,3,2] C) => (double Y) {"
          " Y = Einsum<equation = \"...ij,...jk->...ik\">(A, C) }",
      {{"A", make_tensor<double>({2, 1, 2, 3}, a)}, {"C", make_tensor<double>({3, 3, 2}, c)}});
  ASSERT_OK(y);
  ASSERT_EQ(y->dims(), (Dims{2, 3, 2, 2}));
  std::vector<double> want;
  for (int64_t p = 0; p < 2; ++p) {
    for (int64_t q = 0; q < 3; ++q) {
      for (int64_t i = 0; i < 2; ++i) {
        for (int64_t k = 0; k < 2; ++k) {
          double s = 0;
          for (int64_t j = 0; j < 3; ++j) s += a[(p * 2 + i) * 3 + j] * c[(q * 3 + j) * 2 + k];
          want.push_back(s);
        }
      }
    }
  }
  expect_near(values_of<double>(*y), want);
}

TEST(Einsum, DiagonalsTracesReductionsAndImplicitOutputs) {
  const auto x = random_doubles(3 * 4 * 4, 7);
  struct Case {
    std::string eq;
    Dims dims;
    std::function<std::vector<double>()> want;
  };
  const std::vector<Case> cases = {
      {"...ii->...i",
       {3, 4},
       [&] {
         std::vector<double> w;
         for (int b = 0; b < 3; ++b) {
           for (int i = 0; i < 4; ++i) w.push_back(x[(b * 4 + i) * 4 + i]);
         }
         return w;
       }},
      {"bii",
       {3},  // implicit: i repeated, so only b remains: batched trace
       [&] {
         std::vector<double> w(3, 0.0);
         for (int b = 0; b < 3; ++b) {
           for (int i = 0; i < 4; ++i) w[b] += x[(b * 4 + i) * 4 + i];
         }
         return w;
       }},
      {"bij->j",
       {4},
       [&] {
         std::vector<double> w(4, 0.0);
         for (int b = 0; b < 3; ++b) {
           for (int i = 0; i < 4; ++i) {
             for (int j = 0; j < 4; ++j) w[j] += x[(b * 4 + i) * 4 + j];
           }
         }
         return w;
       }},
      {"bij->", {}, [&] { return std::vector<double>{std::accumulate(x.begin(), x.end(), 0.0)}; }},
      {"cba",
       {4, 4, 3},  // implicit output sorts the labels: abc, a transpose
       [&] {
         std::vector<double> w;
         for (int a = 0; a < 4; ++a) {
           for (int b = 0; b < 4; ++b) {
             for (int c = 0; c < 3; ++c) w.push_back(x[(c * 4 + b) * 4 + a]);
           }
         }
         return w;
       }},
  };
  for (const Case& c : cases) {
    auto y = run_text1(header(12) +
                           "g (double[3,4,4] X) => (double Y) {"
                           " Y = Einsum<equation = \"" +
                           c.eq + "\">(X) }",
                       {{"X", make_tensor<double>({3, 4, 4}, x)}});
    ASSERT_OK(y);
    EXPECT_EQ(y->dims(), c.dims) << c.eq;
    expect_near(values_of<double>(*y), c.want());
  }
}

TEST(Einsum, ThreeOperandsAndIntegersUseTheGeneralPath) {
  const std::vector<int64_t> a{1, -2, 3}, b{4, 5}, c{-1, 2, 7, 0};
  auto y = run_text1(header(12) +
                         "g (int64[3] A, int64[2] B, int64[2,2] C) => (int64 Y) {"
                         " Y = Einsum<equation = \"i,j,jk->ik\">(A, B, C) }",
                     {{"A", make_tensor<int64_t>({3}, a)},
                      {"B", make_tensor<int64_t>({2}, b)},
                      {"C", make_tensor<int64_t>({2, 2}, c)}});
  ASSERT_OK(y);
  std::vector<int64_t> want;
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 2; ++k) {
      int64_t s = 0;
      for (int j = 0; j < 2; ++j) s += a[i] * b[j] * c[j * 2 + k];
      want.push_back(s);
    }
  }
  EXPECT_EQ(values_of<int64_t>(*y), want);
}

TEST(Einsum, ResultsDoNotDependOnTheThreadCount) {
  // Batched products (GEMM path, the batch label kept or contracted) and a contraction with a
  // label summed inside one operand (general path).
  const auto a = random_floats(16 * 24 * 20, 8), c = random_floats(16 * 20 * 12, 9);
  for (const std::string eq : {"bij,bjk->bik", "bij,bjk->ik", "bij,bjk->k"}) {
    const std::string text = header(12) +
                             "g (float[16,24,20] A, float[16,20,12] C) => (float Y) {"
                             " Y = Einsum<equation = \"" +
                             eq + "\">(A, C) }";
    const std::vector<exec::NamedTensor> in{{"A", float_tensor({16, 24, 20}, a)},
                                            {"C", float_tensor({16, 20, 12}, c)}};
    auto y1 = run_text1(text, in, 1);
    auto y2 = run_text1(text, in, 2);
    ASSERT_OK(y1);
    ASSERT_OK(y2);
    EXPECT_EQ(values_of<float>(*y1), values_of<float>(*y2)) << eq;
  }
}

TEST(Einsum, EmptyContractionGivesZeros) {
  auto y = run_text1(header(12) +
                         "g (float[2,0] A, float[0,3] C) => (float Y) {"
                         " Y = Einsum<equation = \"ij,jk->ik\">(A, C) }",
                     {{"A", float_tensor({2, 0}, {})}, {"C", float_tensor({0, 3}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{2, 3}));
  EXPECT_EQ(values_of<float>(*y), std::vector<float>(6, 0.0f));
}

TEST(Einsum, RefusesBadEquationsAndShapes) {
  auto plan = [](const std::string& eq) {
    return plan_status(header(12) +
                       "g (float[2,2] A, float[2,2] C) => (float Y) {"
                       " Y = Einsum<equation = \"" +
                       eq + "\">(A, C) }");
  };
  EXPECT_TRUE(has_text(plan("ij,j1->i"), "unexpected character '1'"));
  EXPECT_TRUE(has_text(plan("ij,jk->iz"), "output label 'z' is not in any input"));
  EXPECT_TRUE(has_text(plan("ij,jk->ii"), "output label 'i' is repeated"));
  EXPECT_TRUE(has_text(plan("ij->i"), "1 input terms for 2 inputs"));
  EXPECT_TRUE(has_text(plan("......ij,jk"), "two ellipses"));
  auto y = run_text1(header(12) +
                         "g (float[2,3] A, float[2,2] C) => (float Y) {"
                         " Y = Einsum<equation = \"ij,jk->ik\">(A, C) }",
                     {{"A", float_tensor({2, 3}, std::vector<float>(6, 1))},
                      {"C", float_tensor({2, 2}, std::vector<float>(4, 1))}});
  EXPECT_TRUE(has_text(y, "label of size 2 in input 1 was 3"));
  y = run_text1(header(12) +
                    "g (float[2,3] A) => (float Y) {"
                    " Y = Einsum<equation = \"ijk->i\">(A) }",
                {{"A", float_tensor({2, 3}, std::vector<float>(6, 1))}});
  EXPECT_TRUE(has_text(y, "does not match term"));
}

// ---------------------------------------------------------------------------------------------
// Det

/// det by the Leibniz formula: sum over permutations of sign * prod a[i][p(i)].
double leibniz(const std::vector<double>& a, int n) {
  std::vector<int> p(n);
  std::iota(p.begin(), p.end(), 0);
  double det = 0;
  do {
    int inversions = 0;
    for (int i = 0; i < n; ++i) {
      for (int j = i + 1; j < n; ++j) inversions += p[i] > p[j];
    }
    double prod = inversions % 2 ? -1.0 : 1.0;
    for (int i = 0; i < n; ++i) prod *= a[i * n + p[i]];
    det += prod;
  } while (std::next_permutation(p.begin(), p.end()));
  return det;
}

TEST(Det, BatchedDoubleAndFloatMatchLeibniz) {
  const int n = 4;
  auto x = random_doubles(2 * 3 * n * n, 11);
  // Make batch (1, 2) singular: row 3 = row 0 + row 1.
  double* m = x.data() + (1 * 3 + 2) * n * n;
  for (int j = 0; j < n; ++j) m[3 * n + j] = m[j] + m[n + j];
  auto y = run_text1(header(11) + "g (double[2,3,4,4] X) => (double Y) { Y = Det(X) }",
                     {{"X", make_tensor<double>({2, 3, n, n}, x)}});
  ASSERT_OK(y);
  ASSERT_EQ(y->dims(), (Dims{2, 3}));
  const auto out = values_of<double>(*y);
  for (int b = 0; b < 6; ++b) {
    const std::vector<double> mat(x.begin() + b * n * n, x.begin() + (b + 1) * n * n);
    EXPECT_NEAR(out[b], leibniz(mat, n), 1e-12) << b;
  }
  EXPECT_NEAR(out[5], 0.0, 1e-12);
  const auto f = random_floats(9, 12);
  auto yf = run_text1(header(11) + "g (float[3,3] X) => (float Y) { Y = Det(X) }",
                      {{"X", float_tensor({3, 3}, f)}});
  ASSERT_OK(yf);
  EXPECT_EQ(yf->dims(), Dims{});
  EXPECT_NEAR(values_of<float>(*yf)[0], leibniz({f.begin(), f.end()}, 3), 1e-5);
}

TEST(Det, EmptyBatchesAndEmptyMatrices) {
  auto y = run_text1(header(11) + "g (float[0,2,2] X) => (float Y) { Y = Det(X) }",
                     {{"X", float_tensor({0, 2, 2}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{0}));
  y = run_text1(header(11) + "g (float[2,0,0] X) => (float Y) { Y = Det(X) }",
                {{"X", float_tensor({2, 0, 0}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{1, 1}));
}

TEST(Det, RefusesNonSquareAndIntegerInputs) {
  auto y = run_text1(header(11) + "g (float[2,3] X) => (float Y) { Y = Det(X) }",
                     {{"X", float_tensor({2, 3}, std::vector<float>(6, 1))}});
  EXPECT_TRUE(has_text(y, "not a batch of square matrices"));
  EXPECT_TRUE(has_text(plan_status(header(11) + "g (int32[2,2] X) => (int32 Y) { Y = Det(X) }"),
                       "expected float or double"));
}

}  // namespace
}  // namespace compressor
