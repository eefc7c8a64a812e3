// Shape and data-movement kernels: hand cases computed from the op definitions, edge cases
// (negative axes and steps, clamping, empty tensors, strings) and plan-time refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "compressor/exec/executor.h"
#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Dims;
using ir::Tensor;

std::vector<float> iota_floats(int64_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  auto s = t.span<T>();
  return {s.begin(), s.end()};
}

Tensor ints(Dims dims, std::vector<int64_t> v) {
  return Tensor::from_values<int64_t>(std::move(dims), v);
}

TEST(ShapeOps, TransposeMatchesDefinitionForEveryPermutationOf3D) {
  const Dims d{2, 3, 4};
  std::vector<int64_t> perm{0, 1, 2};
  do {
    const std::string text =
        "<ir_version: 8, opset_import: [\"\" : 13]>\n"
        "g (float[2,3,4] X) => (float Y) { Y = Transpose<perm = [" +
        std::to_string(perm[0]) + "," + std::to_string(perm[1]) + "," + std::to_string(perm[2]) +
        "]>(X) }";
    auto y = run_text(text, {{"X", float_tensor(d, iota_floats(24))}});
    ASSERT_OK(y);
    const Dims od{d[perm[0]], d[perm[1]], d[perm[2]]};
    EXPECT_EQ((*y)[0].dims(), od);
    auto out = values<float>((*y)[0]);
    for (int64_t i = 0; i < od[0]; ++i) {
      for (int64_t j = 0; j < od[1]; ++j) {
        for (int64_t k = 0; k < od[2]; ++k) {
          int64_t idx[3];
          idx[perm[0]] = i;
          idx[perm[1]] = j;
          idx[perm[2]] = k;
          const float want = static_cast<float>(idx[0] * 12 + idx[1] * 4 + idx[2]);
          EXPECT_EQ(out[(i * od[1] + j) * od[2] + k], want);
        }
      }
    }
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(ShapeOps, TransposeDefaultReversesAndLargeMatrixIsTiledCorrectly) {
  const int64_t rows = 67, cols = 129;
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[67,129] X) => (float Y) { Y = Transpose(X) })",
                    {{"X", float_tensor({rows, cols}, iota_floats(rows * cols))}}, 2);
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (Dims{cols, rows}));
  auto out = values<float>((*y)[0]);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < rows; ++j) ASSERT_EQ(out[i * rows + j], j * cols + i);
  }
}

TEST(ShapeOps, TransposeMovesStrings) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (string[2,3] X) => (string Y) { Y = Transpose(X) })",
                    {{"X", Tensor::from_strings({2, 3}, {"a", "b", "c", "d", "e", "f"})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].strings(), (std::vector<std::string>{"a", "d", "b", "e", "c", "f"}));
}

TEST(ShapeOps, ReshapeCopiesZeroInfersMinusOneAndHonoursAllowzero) {
  auto y =
      run_text(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,3,4] X, int64[3] S) => (float Y) { Y = Reshape(X, S) })",
               {{"X", float_tensor({2, 3, 4}, iota_floats(24))}, {"S", ints({3}, {0, -1, 2})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (Dims{2, 6, 2}));
  EXPECT_EQ(values<float>((*y)[0]), iota_floats(24));

  auto z = run_text(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[0,3] X, int64[2] S) => (float Y) { Y = Reshape<allowzero = 1>(X, S) })",
                    {{"X", float_tensor({0, 3}, {})}, {"S", ints({2}, {3, 0})}});
  ASSERT_OK(z);
  EXPECT_EQ((*z)[0].dims(), (Dims{3, 0}));
}

TEST(ShapeOps, SliceWithNegativeStepsAndClampedBounds) {
  // X[4, 5]; rows 10..-inf step -2 (clamped to 3, 1), cols -1..-100 step -3 (4, 1).
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4,5] X, int64[2] B, int64[2] E, int64[2] A, int64[2] P) => (float Y) {
      Y = Slice(X, B, E, A, P) })",
                    {{"X", float_tensor({4, 5}, iota_floats(20))},
                     {"B", ints({2}, {10, -1})},
                     {"E", ints({2}, {INT64_MIN, -100})},
                     {"A", ints({2}, {0, -1})},
                     {"P", ints({2}, {-2, -3})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (Dims{2, 2}));
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{3 * 5 + 4, 3 * 5 + 1, 5 + 4, 5 + 1}));
}

TEST(ShapeOps, SliceOpset9ReadsAttributesAndCanBeEmpty) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 9]>
    g (float[3,4] X) => (float Y) { Y = Slice<starts = [1, 3], ends = [3, 2]>(X) })",
                    {{"X", float_tensor({3, 4}, iota_floats(12))}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (Dims{2, 0}));
}

TEST(ShapeOps, ConcatNegativeAxisWithEmptyInput) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,1] A, float[2,0] B, float[2,2] C) => (float Y) { Y = Concat<axis = -1>(A, B, C) })",
                    {{"A", float_tensor({2, 1}, {1, 2})},
                     {"B", float_tensor({2, 0}, {})},
                     {"C", float_tensor({2, 2}, {3, 4, 5, 6})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (Dims{2, 3}));
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{1, 3, 4, 2, 5, 6}));
}

TEST(ShapeOps, SplitNumOutputsLeavesTheRemainderLast) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 18]>
    g (float[7] X) => (float A, float B, float C) { A, B, C = Split<num_outputs = 3>(X) })",
                    {{"X", float_tensor({7}, iota_floats(7))}});
  ASSERT_OK(y);
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(values<float>((*y)[1]), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(values<float>((*y)[2]), (std::vector<float>{6}));
}

TEST(ShapeOps, SplitAttributeBeforeOpset13AlongAxis1) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 11]>
    g (float[2,3] X) => (float A, float B) { A, B = Split<axis = 1, split = [1, 2]>(X) })",
                    {{"X", float_tensor({2, 3}, iota_floats(6))}});
  ASSERT_OK(y);
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{0, 3}));
  EXPECT_EQ(values<float>((*y)[1]), (std::vector<float>{1, 2, 4, 5}));
}

TEST(ShapeOps, GatherNegativeIndicesAndOutOfRangeError) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,2] X, int64[2] I) => (float Y) { Y = Gather<axis = 0>(X, I) })";
  auto y = run_text(text, {{"X", float_tensor({3, 2}, iota_floats(6))}, {"I", ints({2}, {-1, 0})}});
  ASSERT_OK(y);
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{4, 5, 0, 1}));
  auto bad =
      run_text(text, {{"X", float_tensor({3, 2}, iota_floats(6))}, {"I", ints({2}, {3, 0})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("index 3 is out of range"), std::string::npos)
      << bad.status().message();
}

TEST(ShapeOps, GatherElementsAlongAxis1) {
  auto y =
      run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,2] X, int64[2,2] I) => (float Y) { Y = GatherElements<axis = 1>(X, I) })",
               {{"X", float_tensor({2, 2}, {1, 2, 3, 4})}, {"I", ints({2, 2}, {0, 0, 1, -2})}});
  ASSERT_OK(y);
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{1, 1, 4, 3}));
}

TEST(ShapeOps, ExpandAndTileBroadcastBool) {
  Tensor x = Tensor::zeros(ir::DType::kBool, {2, 1});
  x.mutable_data()[0] = std::byte{1};
  auto z = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (bool[2,1] X, int64[3] S, int64[2] R) => (bool E, bool T) {
      E = Expand(X, S)
      T = Tile(X, R) })",
                    {{"X", x}, {"S", ints({3}, {2, 1, 3})}, {"R", ints({2}, {2, 2})}});
  ASSERT_OK(z);
  EXPECT_EQ((*z)[0].dims(), (Dims{2, 2, 3}));
  EXPECT_EQ(values<uint8_t>((*z)[0]), (std::vector<uint8_t>{1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ((*z)[1].dims(), (Dims{4, 2}));
  EXPECT_EQ(values<uint8_t>((*z)[1]), (std::vector<uint8_t>{1, 1, 0, 0, 1, 1, 0, 0}));
}

TEST(ShapeOps, SqueezeUnsqueezeAttributeBefore13InputFrom13) {
  auto a = run_text(R"(<ir_version: 8, opset_import: ["" : 11]>
    g (float[1,3,1] X) => (float Y, float Z) {
      Y = Squeeze<axes = [-1]>(X)
      Z = Unsqueeze<axes = [0, 4]>(X) })",
                    {{"X", float_tensor({1, 3, 1}, {1, 2, 3})}});
  ASSERT_OK(a);
  EXPECT_EQ((*a)[0].dims(), (Dims{1, 3}));
  EXPECT_EQ((*a)[1].dims(), (Dims{1, 1, 3, 1, 1}));
  auto b = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,3,1] X, int64[1] A) => (float Y, float Z) {
      Y = Squeeze(X)
      Z = Unsqueeze(X, A) })",
                    {{"X", float_tensor({1, 3, 1}, {1, 2, 3})}, {"A", ints({1}, {-2})}});
  ASSERT_OK(b);
  EXPECT_EQ((*b)[0].dims(), (Dims{3}));
  EXPECT_EQ((*b)[1].dims(), (Dims{1, 3, 1, 1}));
}

TEST(ShapeOps, CastTruncatesTowardZeroAndMapsToBool) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4] X) => (int32 I, bool B) {
      I = Cast<to = 6>(X)
      B = Cast<to = 9>(X) })",
                    {{"X", float_tensor({4}, {-1.7f, 0.0f, 2.9f, -0.0f})}});
  ASSERT_OK(y);
  EXPECT_EQ(values<int32_t>((*y)[0]), (std::vector<int32_t>{-1, 0, 2, 0}));
  EXPECT_EQ(values<uint8_t>((*y)[1]), (std::vector<uint8_t>{1, 0, 1, 0}));
}

TEST(ShapeOps, CastToBFloat16KeepsTheUpper16BitsAndBackIsExact) {
  // The float32 bit pattern's upper half, as ONNX 1.12's Cast conformance data expects (no
  // rounding to nearest); NaN stays a NaN even when its payload is only in the dropped bits.
  auto upper = [](float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return static_cast<uint16_t>(bits >> 16);
  };
  float payload_nan;
  const uint32_t nan_bits = 0x7F800001;
  std::memcpy(&payload_nan, &nan_bits, 4);
  const std::vector<float> x{0.48033667f, -0.81910545f, 1.0f, 3.0e38f, -INFINITY, payload_nan};
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[6] X) => (bfloat16[6] B, float[6] F) {
      B = Cast<to = 16>(X)
      F = Cast<to = 1>(B) })",
                    {{"X", float_tensor({6}, x)}});
  ASSERT_OK(y);
  ASSERT_EQ((*y)[0].dtype(), ir::DType::kBFloat16);
  const auto b = values<uint16_t>((*y)[0]);
  const auto f = values<float>((*y)[1]);
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    EXPECT_EQ(b[i], upper(x[i])) << i;
    // Back to float: the same upper half, zero lower half.
    const uint32_t bits = uint32_t{b[i]} << 16;
    float want;
    std::memcpy(&want, &bits, 4);
    EXPECT_EQ(f[i], want) << i;
  }
  EXPECT_EQ(b[5] & 0x7F80, 0x7F80);
  EXPECT_NE(b[5] & 0x007F, 0);
  EXPECT_TRUE(std::isnan(f[5]));
}

TEST(ShapeOps, CastToStringAndBackRoundTrips) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (string S, float F) {
      S = Cast<to = 8>(X)
      F = Cast<to = 1>(S) })",
                    {{"X", float_tensor({3}, {0.1f, -2.5f, 1e-7f})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].strings(), (std::vector<std::string>{"0.1", "-2.5", "1e-07"}));
  EXPECT_EQ(values<float>((*y)[1]), (std::vector<float>{0.1f, -2.5f, 1e-7f}));
}

TEST(ShapeOps, CastToComplexIsRefusedAtPlanTime) {
  auto m = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4] X) => (complex64 Y) { Y = Cast<to = 14>(X) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("cast to complex64 is not supported"), std::string::npos)
      << ex.status().message();
}

TEST(ShapeOps, DepthToSpaceUnknownModeIsRefusedAtPlanTime) {
  auto m = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,4,1,1] X) => (float Y) { Y = DepthToSpace<blocksize = 2, mode = "XYZ">(X) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("unsupported mode 'XYZ'"), std::string::npos)
      << ex.status().message();
}

TEST(ShapeOps, DepthToSpaceInvertsSpaceToDepthInDcrMode) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1,2,4,6] X) => (float Y, float D) {
      D = SpaceToDepth<blocksize = 2>(X)
      Y = DepthToSpace<blocksize = 2>(D) })",
                    {{"X", float_tensor({1, 2, 4, 6}, iota_floats(48))}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[1].dims(), (Dims{1, 8, 2, 3}));
  EXPECT_EQ(values<float>((*y)[0]), iota_floats(48));
  // SpaceToDepth: out[0, (bh*2 + bw)*2 + c, h, w] = X[0, c, h*2 + bh, w*2 + bw].
  auto d = values<float>((*y)[1]);
  EXPECT_EQ(d[((1 * 2 + 0) * 2 + 1) * 6 + 1 * 3 + 2], 1 * 24 + 3 * 6 + 4);
}

TEST(ShapeOps, ShapeStartEndAndSize) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 15]>
    g (float[2,3,4] X) => (int64 S, int64 N) {
      S = Shape<start = -2>(X)
      N = Size(X) })",
                    {{"X", float_tensor({2, 3, 4}, iota_floats(24))}});
  ASSERT_OK(y);
  EXPECT_EQ(values<int64_t>((*y)[0]), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(values<int64_t>((*y)[1]), (std::vector<int64_t>{24}));
}

TEST(ShapeOps, ConstantRangeTriluNonZero) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[3,3] X) => (float C, int64 R, float U, int64 N) {
      C = Constant<value_floats = [1.5, 2.5]>()
      s = Constant<value_int = 5>()
      l = Constant<value_int = -1>()
      d = Constant<value_int = -2>()
      R = Range(s, l, d)
      one = Constant<value_int = 1>()
      U = Trilu<upper = 0>(X, one)
      N = NonZero(U) })",
                    {{"X", float_tensor({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})}});
  ASSERT_OK(y);
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{1.5f, 2.5f}));
  EXPECT_EQ(values<int64_t>((*y)[1]), (std::vector<int64_t>{5, 3, 1}));
  EXPECT_EQ(values<float>((*y)[2]), (std::vector<float>{1, 2, 0, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ((*y)[3].dims(), (Dims{2, 8}));
}

}  // namespace
}  // namespace compressor
