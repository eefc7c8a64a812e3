// Gemm and MatMul kernels: attributes, broadcasting, 1-D operands, integer types, empty
// tensors, thread-count independence and error messages, against loops written from the spec.
#include <gtest/gtest.h>

#include "compressor/exec/executor.h"
#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

// Row-major [rows, cols] element (r, c), optionally transposed storage.
float at(const std::vector<float>& v, int64_t cols, int64_t r, int64_t c) {
  return v[r * cols + c];
}

TEST(Gemm, AllAttributesWithRowBias) {
  const int64_t m = 3, k = 5, n = 4;
  const auto a = random_floats(k * m, 1);  // stored [K, M] (transA)
  const auto b = random_floats(n * k, 2);  // stored [N, K] (transB)
  const auto c = random_floats(n, 3);      // [N] broadcast over rows
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[5, 3] A, float[4, 5] B, float[4] C) => (float[3, 4] Y) {
      Y = Gemm <alpha = 0.25, beta = 0.35, transA = 1, transB = 1> (A, B, C)
    })",
                    {{"A", float_tensor({k, m}, a)},
                     {"B", float_tensor({n, k}, b)},
                     {"C", float_tensor({n}, c)}});
  ASSERT_OK(y);
  const auto& out = (*y)[0];
  ASSERT_EQ(out.dims(), (ir::Dims{m, n}));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) s += at(a, m, p, i) * at(b, k, j, p);
      EXPECT_NEAR(out.span<float>()[i * n + j], 0.25 * s + 0.35 * c[j], 1e-5);
    }
  }
}

TEST(Gemm, ColumnBiasAndNoBias) {
  const auto a = random_floats(6, 4), b = random_floats(6, 5), c = random_floats(2, 6);
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3] A, float[3, 2] B, float[2, 1] C) => (float[2, 2] Y, float[2, 2] Z) {
      Y = Gemm (A, B, C)
      Z = Gemm (A, B)
    })";
  auto y = run_text(text, {{"A", float_tensor({2, 3}, a)},
                           {"B", float_tensor({3, 2}, b)},
                           {"C", float_tensor({2, 1}, c)}});
  ASSERT_OK(y);
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 2; ++j) {
      double s = 0;
      for (int64_t p = 0; p < 3; ++p) s += a[i * 3 + p] * b[p * 2 + j];
      EXPECT_NEAR((*y)[0].span<float>()[i * 2 + j], s + c[i], 1e-5);
      EXPECT_NEAR((*y)[1].span<float>()[i * 2 + j], s, 1e-5);
    }
  }
}

TEST(Gemm, BadBiasShapeNamesNode) {
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3] A, float[3, 2] B, float[3] C) => (float[2, 2] Y) { Y = Gemm (A, B, C) })",
                    {{"A", float_tensor({2, 3}, random_floats(6, 1))},
                     {"B", float_tensor({3, 2}, random_floats(6, 2))},
                     {"C", float_tensor({3}, random_floats(3, 3))}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("Gemm"), std::string::npos) << y.status().message();
  EXPECT_NE(y.status().message().find("does not broadcast to [2, 2]"), std::string::npos)
      << y.status().message();
}

TEST(MatMul, UnsupportedDtypeRefusedAtPlanTime) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float16[2, 2] A, float16[2, 2] B) => (float16[2, 2] Y) { Y = MatMul (A, B) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find(
                "input 0 has unsupported data type float16; expected float, double, int32, int64"),
            std::string::npos)
      << ex.status().message();
}

TEST(MatMul, OneDimensionalOperands) {
  const auto v = random_floats(3, 7), mat = random_floats(6, 8);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] V, float[3, 2] M, float[2, 3] N) => (float[2] A, float[2] B, float Dot) {
      A = MatMul (V, M)
      B = MatMul (N, V)
      Dot = MatMul (V, V)
    })",
                    {{"V", float_tensor({3}, v)},
                     {"M", float_tensor({3, 2}, mat)},
                     {"N", float_tensor({2, 3}, mat)}});
  ASSERT_OK(y);
  ASSERT_EQ((*y)[0].dims(), ir::Dims{2});
  ASSERT_EQ((*y)[1].dims(), ir::Dims{2});
  ASSERT_EQ((*y)[2].dims(), ir::Dims{});
  for (int j = 0; j < 2; ++j) {
    double s = 0, t = 0;
    for (int p = 0; p < 3; ++p) {
      s += v[p] * mat[p * 2 + j];
      t += mat[j * 3 + p] * v[p];
    }
    EXPECT_NEAR((*y)[0].span<float>()[j], s, 1e-5);
    EXPECT_NEAR((*y)[1].span<float>()[j], t, 1e-5);
  }
  EXPECT_NEAR((*y)[2].span<float>()[0], v[0] * v[0] + v[1] * v[1] + v[2] * v[2], 1e-5);
}

TEST(MatMul, BatchBroadcast) {
  // [2, 1, 3, 4] x [5, 4, 2] -> [2, 5, 3, 2]
  const auto a = random_floats(2 * 3 * 4, 9), b = random_floats(5 * 4 * 2, 10);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 1, 3, 4] A, float[5, 4, 2] B) => (float[2, 5, 3, 2] Y) { Y = MatMul (A, B) })",
                    {{"A", float_tensor({2, 1, 3, 4}, a)}, {"B", float_tensor({5, 4, 2}, b)}});
  ASSERT_OK(y);
  const auto& out = (*y)[0];
  ASSERT_EQ(out.dims(), (ir::Dims{2, 5, 3, 2}));
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 5; ++j) {
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 2; ++c) {
          double s = 0;
          for (int p = 0; p < 4; ++p) s += a[(i * 3 + r) * 4 + p] * b[(j * 4 + p) * 2 + c];
          EXPECT_NEAR(out.span<float>()[((i * 5 + j) * 3 + r) * 2 + c], s, 1e-5);
        }
      }
    }
  }
}

TEST(MatMul, Int64AndEmpty) {
  const std::vector<int64_t> a{1, 2, 3, 4, 5, 6}, b{7, 8, 9, 10, 11, 12};
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int64[2, 3] A, int64[3, 2] B, float[0, 3] E, float[3, 4] F) => (int64[2, 2] Y, float[0, 4] Z) {
      Y = MatMul (A, B)
      Z = MatMul (E, F)
    })",
                    {{"A", ir::Tensor::from_values<int64_t>({2, 3}, a)},
                     {"B", ir::Tensor::from_values<int64_t>({3, 2}, b)},
                     {"E", float_tensor({0, 3}, {})},
                     {"F", float_tensor({3, 4}, random_floats(12, 1))}});
  ASSERT_OK(y);
  const std::vector<int64_t> want{58, 64, 139, 154};
  EXPECT_EQ(std::vector<int64_t>((*y)[0].span<int64_t>().begin(), (*y)[0].span<int64_t>().end()),
            want);
  EXPECT_EQ((*y)[1].dims(), (ir::Dims{0, 4}));
}

TEST(MatMul, InnerMismatchNamesShapes) {
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3] A, float[4, 2] B) => (float[2, 2] Y) { Y = MatMul (A, B) })",
                    {{"A", float_tensor({2, 3}, random_floats(6, 1))},
                     {"B", float_tensor({4, 2}, random_floats(8, 2))}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("inner dimensions differ: A [2, 3], B [4, 2]"),
            std::string::npos)
      << y.status().message();
}

TEST(MatMul, LargeProductSameWithOneAndTwoThreads) {
  // Folded rows split in tiles, and a broadcast batch split over batches.
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[4, 100, 64] A, float[64, 96] B, float[4, 64, 96] C) => (float[4, 100, 96] Y, float[4, 100, 96] Z) {
      Y = MatMul (A, B)
      Z = MatMul (A, C)
    })";
  const auto a = random_floats(4 * 100 * 64, 11), b = random_floats(64 * 96, 12);
  const auto c = random_floats(4 * 64 * 96, 13);
  const std::vector<exec::NamedTensor> in{{"A", float_tensor({4, 100, 64}, a)},
                                          {"B", float_tensor({64, 96}, b)},
                                          {"C", float_tensor({4, 64, 96}, c)}};
  auto one = run_text(text, in, 1);
  auto two = run_text(text, in, 2);
  ASSERT_OK(one);
  ASSERT_OK(two);
  EXPECT_TRUE((*one)[0].bitwise_equal((*two)[0]));
  EXPECT_TRUE((*one)[1].bitwise_equal((*two)[1]));
  for (int r : {0, 137, 399}) {
    for (int col : {0, 50, 95}) {
      double s = 0;
      for (int p = 0; p < 64; ++p) s += a[r * 64 + p] * b[p * 96 + col];
      EXPECT_NEAR((*one)[0].span<float>()[r * 96 + col], s, 1e-4);
    }
  }
}

}  // namespace
}  // namespace compressor
