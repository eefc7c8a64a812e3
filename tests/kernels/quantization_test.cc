// Quantization kernels against references written from the ONNX definitions: round half to
// even, saturation, per-axis parameters, zero points per row/column/channel, grouped, padded,
// strided and dilated integer convolution, and plan-time refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "compressor/exec/executor.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

template <typename T>
ir::Tensor make(ir::Dims dims, const std::vector<T>& v) {
  return ir::Tensor::from_values<T>(std::move(dims), std::span<const T>(v));
}
template <typename T>
std::vector<T> values(const ir::Tensor& t) {
  auto s = t.span<T>();
  return {s.begin(), s.end()};
}
template <typename T>
std::vector<T> random_ints(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> d(std::numeric_limits<T>::min(),
                                       std::numeric_limits<T>::max());
  std::vector<T> out(n);
  for (auto& x : out) x = static_cast<T>(d(rng));
  return out;
}
template <typename Q>
Q ref_quantize(double v, int32_t zp) {
  const double r = std::nearbyint(v) + zp;
  return static_cast<Q>(
      std::clamp<double>(r, std::numeric_limits<Q>::min(), std::numeric_limits<Q>::max()));
}

StatusOr<std::vector<ir::Tensor>> run_model(const std::string& text,
                                            const std::vector<exec::NamedTensor>& inputs) {
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model m, model_from_text(text));
  COMPRESSOR_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(m, {.threads = 2}));
  return ex->run(inputs);
}

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturates) {
  const std::vector<float> x{0, 1, 2.5f, 3.5f, -2.5f, -3, 1000, -1000, 5.0f, 7.0f};
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (float[10] X, float S, uint8 Z) => (uint8[10] Y) { Y = QuantizeLinear(X, S, Z) })",
                     {{"X", float_tensor({10}, x)},
                      {"S", make<float>({}, {2.0f})},
                      {"Z", make<uint8_t>({}, {128})}});
  ASSERT_OK(r);
  std::vector<uint8_t> want;
  for (float v : x) want.push_back(ref_quantize<uint8_t>(v / 2.0, 128));
  EXPECT_EQ(values<uint8_t>((*r)[0]), want);
  // 2.5 / 2 = 1.25 -> 1; 1 / 2 = 0.5 -> 0 (even); 5 / 2 = 2.5 -> 2; 7 / 2 = 3.5 -> 4.
  EXPECT_EQ(want[1], 128);
  EXPECT_EQ(want[8], 130);
  EXPECT_EQ(want[9], 132);
}

TEST(QuantizeLinear, DefaultZeroPointIsUint8) {
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X, float S) => (uint8[3] Y) { Y = QuantizeLinear(X, S) })",
                     {{"X", float_tensor({3}, {-1, 0.4f, 300})}, {"S", make<float>({}, {1.0f})}});
  ASSERT_OK(r);
  EXPECT_EQ((*r)[0].dtype(), ir::DType::kUInt8);
  EXPECT_EQ(values<uint8_t>((*r)[0]), (std::vector<uint8_t>{0, 0, 255}));
}

TEST(QuantizeLinear, PerAxisInt8WithNegativeAxis) {
  std::vector<float> x(2 * 3 * 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 7.3f - 40.0f;
  const std::vector<float> s{0.5f, 1.0f, 0.25f};
  const std::vector<int8_t> z{-3, 0, 100};
  auto r = run_model(
      R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3, 2] X, float[3] S, int8[3] Z) => (int8[2, 3, 2] Y) {
      Y = QuantizeLinear <axis = -2> (X, S, Z) })",
      {{"X", float_tensor({2, 3, 2}, x)}, {"S", make<float>({3}, s)}, {"Z", make<int8_t>({3}, z)}});
  ASSERT_OK(r);
  std::vector<int8_t> want;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = (i / 2) % 3;
    want.push_back(ref_quantize<int8_t>(x[i] / s[c], z[c]));
  }
  EXPECT_EQ(values<int8_t>((*r)[0]), want);
}

TEST(QuantizeLinear, Opset10RefusesPerAxisScale) {
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (float[2, 3] X, float[3] S, uint8[3] Z) => (uint8[2, 3] Y) { Y = QuantizeLinear(X, S, Z) })",
                     {{"X", float_tensor({2, 3}, {1, 2, 3, 4, 5, 6})},
                      {"S", make<float>({3}, {1, 1, 1})},
                      {"Z", make<uint8_t>({3}, {0, 0, 0})}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("scale must be a scalar in this opset"), std::string::npos)
      << r.status().message();
}

TEST(QuantizeLinear, RefusesUnsupportedZeroPointTypeAtPlanTime) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] X) => (int32[2] Y) <float S = {1.0}, int32 Z = {0}> {
      Y = QuantizeLinear(X, S, Z) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("zero point type int32 is not supported"), std::string::npos)
      << ex.status().message();
}

TEST(DequantizeLinear, PerAxisAndInt32) {
  const auto x = random_ints<int8_t>(2 * 3 * 4, 1);
  const std::vector<float> s{0.5f, 2.0f, 0.125f};
  const std::vector<int8_t> z{1, -7, 0};
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int8[2, 3, 4] X, float[3] S, int8[3] Z, int32[3] I, float T) => (float[2, 3, 4] Y,
                                                                       float[3] W) {
      Y = DequantizeLinear(X, S, Z)
      W = DequantizeLinear(I, T)
    })",
                     {{"X", make<int8_t>({2, 3, 4}, x)},
                      {"S", make<float>({3}, s)},
                      {"Z", make<int8_t>({3}, z)},
                      {"I", make<int32_t>({3}, {-100000, 0, 7})},
                      {"T", make<float>({}, {0.5f})}});
  ASSERT_OK(r);
  std::vector<float> want;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = (i / 4) % 3;
    want.push_back(static_cast<float>(x[i] - z[c]) * s[c]);
  }
  EXPECT_EQ(values<float>((*r)[0]), want);
  EXPECT_EQ(values<float>((*r)[1]), (std::vector<float>{-50000, 0, 3.5f}));
}

// The forms quantize-static and quantize-weights write for symmetric weights and int32 biases:
// per output channel (axis 0), with no x_zero_point, which then is 0.
TEST(DequantizeLinear, PerAxisWithoutZeroPoint) {
  const auto w = random_ints<int8_t>(3 * 2 * 2, 5);
  const std::vector<float> s{0.5f, 2.0f, 0.125f};
  const std::vector<int32_t> b{-100000, 0, 7};
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int8[3, 2, 2] W, float[3] S, int32[3] B) => (float[3, 2, 2] Y, float[3] C) {
      Y = DequantizeLinear <axis = 0> (W, S)
      C = DequantizeLinear <axis = 0> (B, S)
    })",
                     {{"W", make<int8_t>({3, 2, 2}, w)},
                      {"S", make<float>({3}, s)},
                      {"B", make<int32_t>({3}, b)}});
  ASSERT_OK(r);
  std::vector<float> want;
  for (size_t i = 0; i < w.size(); ++i) want.push_back(static_cast<float>(w[i]) * s[i / 4]);
  EXPECT_EQ(values<float>((*r)[0]), want);
  EXPECT_EQ(values<float>((*r)[1]), (std::vector<float>{-50000, 0, 0.875f}));
}

TEST(DequantizeLinear, EmptyInput) {
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[0] X, float S) => (float[0] Y) { Y = DequantizeLinear(X, S) })",
                     {{"X", make<uint8_t>({0}, {})}, {"S", make<float>({}, {1.0f})}});
  ASSERT_OK(r);
  EXPECT_EQ((*r)[0].dims(), (ir::Dims{0}));
}

TEST(DynamicQuantizeLinear, ScaleZeroPointAndValues) {
  const std::vector<float> x{-1.0f, 0.0f, 2.0f, 3.5f, 1.7f};
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[5] X) => (uint8[5] Y, float S, uint8 Z) { Y, S, Z = DynamicQuantizeLinear(X) })",
                     {{"X", float_tensor({5}, x)}});
  ASSERT_OK(r);
  const float scale = (3.5f - -1.0f) / 255.0f;
  const uint8_t zp = ref_quantize<uint8_t>(1.0f / scale, 0);
  EXPECT_FLOAT_EQ((*r)[1].span<float>()[0], scale);
  EXPECT_EQ((*r)[2].span<uint8_t>()[0], zp);
  std::vector<uint8_t> want;
  for (float v : x) want.push_back(ref_quantize<uint8_t>(v / scale, zp));
  EXPECT_EQ(values<uint8_t>((*r)[0]), want);
}

TEST(MatMulInteger, BatchedWithPerColumnZeroPoints) {
  const auto a = random_ints<uint8_t>(2 * 3 * 4, 2);
  const auto b = random_ints<int8_t>(4 * 5, 3);
  const std::vector<int8_t> bz{1, -2, 3, 0, 5};
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[2, 3, 4] A, int8[4, 5] B, uint8 AZ, int8[5] BZ) => (int32[2, 3, 5] Y) {
      Y = MatMulInteger(A, B, AZ, BZ) })",
                     {{"A", make<uint8_t>({2, 3, 4}, a)},
                      {"B", make<int8_t>({4, 5}, b)},
                      {"AZ", make<uint8_t>({}, {12})},
                      {"BZ", make<int8_t>({5}, bz)}});
  ASSERT_OK(r);
  std::vector<int32_t> want;
  for (int n = 0; n < 2; ++n) {
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 5; ++j) {
        int32_t acc = 0;
        for (int k = 0; k < 4; ++k) acc += (a[(n * 3 + i) * 4 + k] - 12) * (b[k * 5 + j] - bz[j]);
        want.push_back(acc);
      }
    }
  }
  EXPECT_EQ((*r)[0].dims(), (ir::Dims{2, 3, 5}));
  EXPECT_EQ(values<int32_t>((*r)[0]), want);
}

// The integer sums go through the float GEMM while every partial sum is a whole number below
// 2^24 and through int32 beyond (K = 600 with these ranges); a constant B with its zero point is
// converted once when the kernel is made, a B fed at run time on every run. All four must give
// the int32 reference, also across the 256-column tiles the float path splits N into.
TEST(MatMulInteger, ExactSumsOnBothPathsWithConstantOrRuntimeB) {
  const int64_t M = 3, N = 300;
  for (int64_t K : {8, 600}) {
    const auto a = random_ints<uint8_t>(2 * M * K, 30 + K);
    const auto b = random_ints<int8_t>(K * N, 31 + K);
    std::vector<int8_t> bz(N);
    for (int64_t j = 0; j < N; ++j) bz[j] = static_cast<int8_t>(j % 11 - 5);
    std::vector<int32_t> want;
    for (int n = 0; n < 2; ++n) {
      for (int64_t i = 0; i < M; ++i) {
        for (int64_t j = 0; j < N; ++j) {
          int32_t acc = 0;
          for (int64_t k = 0; k < K; ++k) {
            acc += (a[(n * M + i) * K + k] - 12) * (b[k * N + j] - bz[j]);
          }
          want.push_back(acc);
        }
      }
    }
    auto list = [](const std::vector<int8_t>& v) {
      std::string out;
      for (int8_t x : v) out += (out.empty() ? "" : ", ") + std::to_string(x);
      return "{" + out + "}";
    };
    const std::string k = std::to_string(K);
    for (bool constant_b : {false, true}) {
      // B and BZ are graph inputs, or initializers the kernel sees when it is made.
      const std::string b_inputs = constant_b ? "" : ", int8[" + k + ", 300] B, int8[300] BZ";
      const std::string b_constants =
          constant_b ? "<int8[" + k + ", 300] B = " + list(b) + ", int8[300] BZ = " + list(bz) + ">"
                     : "";
      auto m = model_from_text(R"(
        <ir_version: 8, opset_import: ["" : 13]>
        g (uint8[2, 3, )" + k + "] A, uint8 AZ" +
                               b_inputs + ") => (int32 Y) " + b_constants +
                               "{ Y = MatMulInteger(A, B, AZ, BZ) }");
      ASSERT_OK(m);
      std::vector<exec::NamedTensor> inputs{{"A", make<uint8_t>({2, M, K}, a)},
                                            {"AZ", make<uint8_t>({}, {12})}};
      if (!constant_b) {
        inputs.push_back({"B", make<int8_t>({K, N}, b)});
        inputs.push_back({"BZ", make<int8_t>({N}, bz)});
      }
      auto ex = exec::Executor::create(*m, {.threads = 2});
      ASSERT_OK(ex);
      auto r = (*ex)->run(inputs);
      ASSERT_OK(r);
      EXPECT_EQ((*r)[0].dims(), (ir::Dims{2, M, N}));
      EXPECT_EQ(values<int32_t>((*r)[0]), want) << "K " << K << ", constant B " << constant_b;
    }
  }
}

TEST(MatMulInteger, PerRowZeroPointAndBadZeroPointShape) {
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int8[2, 3] A, int8[3, 2] B, int8[N] AZ) => (int32[2, 2] Y) {
      Y = MatMulInteger(A, B, AZ) })";
  const std::vector<int8_t> a{1, 2, 3, -4, -5, -6}, b{1, 0, 0, 1, 2, 2};
  auto r = run_model(text, {{"A", make<int8_t>({2, 3}, a)},
                            {"B", make<int8_t>({3, 2}, b)},
                            {"AZ", make<int8_t>({2}, {1, -1})}});
  ASSERT_OK(r);
  // Row 0: [0, 1, 2]; row 1: [-3, -4, -5].
  EXPECT_EQ(values<int32_t>((*r)[0]), (std::vector<int32_t>{4, 5, -13, -14}));
  auto bad = run_model(text, {{"A", make<int8_t>({2, 3}, a)},
                              {"B", make<int8_t>({3, 2}, b)},
                              {"AZ", make<int8_t>({3}, {1, 1, 1})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("a_zero_point of shape [3] does not fit input [2, 3]"),
            std::string::npos)
      << bad.status().message();
}

TEST(QLinearMatMul, MatchesDefinition) {
  const auto a = random_ints<uint8_t>(3 * 4, 4);
  const auto b = random_ints<uint8_t>(4 * 2, 5);
  const float as = 0.02f, bs = 0.03f, ys = 0.5f;
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (uint8[3, 4] A, float AS, uint8 AZ, uint8[4, 2] B, float BS, uint8 BZ, float YS, int8 YZ)
      => (int8[3, 2] Y) { Y = QLinearMatMul(A, AS, AZ, B, BS, BZ, YS, YZ) })",
                     {{"A", make<uint8_t>({3, 4}, a)},
                      {"AS", make<float>({}, {as})},
                      {"AZ", make<uint8_t>({}, {100})},
                      {"B", make<uint8_t>({4, 2}, b)},
                      {"BS", make<float>({}, {bs})},
                      {"BZ", make<uint8_t>({}, {130})},
                      {"YS", make<float>({}, {ys})},
                      {"YZ", make<int8_t>({}, {-5})}});
  ASSERT_OK(r);
  std::vector<int8_t> want;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 2; ++j) {
      int32_t acc = 0;
      for (int k = 0; k < 4; ++k) acc += (a[i * 4 + k] - 100) * (b[k * 2 + j] - 130);
      want.push_back(ref_quantize<int8_t>(static_cast<float>(acc) * (as * bs / ys), -5));
    }
  }
  EXPECT_EQ(values<int8_t>((*r)[0]), want);
}

// Naive grouped 2-D convolution of (x - xz) and (w - wz[m]) in int32.
std::vector<int32_t> ref_conv(const std::vector<uint8_t>& x, int32_t xz,
                              const std::vector<int8_t>& w, const std::vector<int32_t>& wz,
                              int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t KH,
                              int64_t KW, int64_t group, int64_t pad, int64_t stride, int64_t dil,
                              int64_t* oh_out, int64_t* ow_out) {
  const int64_t OH = (H + 2 * pad - ((KH - 1) * dil + 1)) / stride + 1;
  const int64_t OW = (W + 2 * pad - ((KW - 1) * dil + 1)) / stride + 1;
  *oh_out = OH;
  *ow_out = OW;
  const int64_t cg = C / group, mg = M / group;
  std::vector<int32_t> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          int32_t acc = 0;
          const int64_t g = m / mg;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const int32_t xv = x[((n * C + g * cg + c) * H + iy) * W + ix] - xz;
                const int32_t wv = w[((m * cg + c) * KH + ky) * KW + kx] - wz[m];
                acc += xv * wv;
              }
          y.push_back(acc);
        }
  return y;
}

TEST(ConvInteger, GroupedPaddedStridedDilated) {
  const int64_t N = 2, C = 4, H = 7, W = 6, M = 6, K = 3, group = 2;
  const auto x = random_ints<uint8_t>(N * C * H * W, 6);
  const auto w = random_ints<int8_t>(M * (C / group) * K * K, 7);
  const std::vector<int8_t> wz8{1, 0, -1, 2, 3, -4};
  const std::vector<int32_t> wz(wz8.begin(), wz8.end());
  for (int64_t dil : {1, 2}) {
    int64_t oh = 0, ow = 0;
    const auto want = ref_conv(x, 9, w, wz, N, C, H, W, M, K, K, group, 1, 2, dil, &oh, &ow);
    const std::string text = R"(
      <ir_version: 8, opset_import: ["" : 13]>
      g (uint8[2, 4, 7, 6] X, int8[6, 2, 3, 3] Wt, uint8 XZ, int8[6] WZ) => (int32 Y) {
        Y = ConvInteger <group = 2, pads = [1, 1, 1, 1], strides = [2, 2], dilations = [)" +
                             std::to_string(dil) + ", " + std::to_string(dil) +
                             R"(]> (X, Wt, XZ, WZ)
      })";
    auto r = run_model(text, {{"X", make<uint8_t>({N, C, H, W}, x)},
                              {"Wt", make<int8_t>({M, C / group, K, K}, w)},
                              {"XZ", make<uint8_t>({}, {9})},
                              {"WZ", make<int8_t>({6}, wz8)}});
    ASSERT_OK(r);
    EXPECT_EQ((*r)[0].dims(), (ir::Dims{N, M, oh, ow})) << "dilation " << dil;
    EXPECT_EQ(values<int32_t>((*r)[0]), want) << "dilation " << dil;
  }
}

// ConvInteger sums through the float Conv kernel while the sums stay below 2^24 (above) and in
// int32 beyond: 96 channels x 5 x 5 x max|x - x_zp| x max|w - w_zp| passes 2^24.
TEST(ConvInteger, ExactSumsPastTheFloatRange) {
  const int64_t N = 1, C = 96, H = 6, W = 6, M = 4, K = 5;
  const auto x = random_ints<uint8_t>(N * C * H * W, 40);
  const auto w = random_ints<int8_t>(M * C * K * K, 41);
  const std::vector<int32_t> wz{0, 1, -1, 2};
  int64_t oh = 0, ow = 0;
  const auto want = ref_conv(x, 3, w, wz, N, C, H, W, M, K, K, 1, 1, 1, 1, &oh, &ow);
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 96, 6, 6] X, int8[4, 96, 5, 5] Wt, uint8 XZ, int8[4] WZ) => (int32 Y) {
      Y = ConvInteger <pads = [1, 1, 1, 1]> (X, Wt, XZ, WZ) })",
                     {{"X", make<uint8_t>({N, C, H, W}, x)},
                      {"Wt", make<int8_t>({M, C, K, K}, w)},
                      {"XZ", make<uint8_t>({}, {3})},
                      {"WZ", make<int8_t>({4}, {0, 1, -1, 2})}});
  ASSERT_OK(r);
  EXPECT_EQ((*r)[0].dims(), (ir::Dims{N, M, oh, ow}));
  EXPECT_EQ(values<int32_t>((*r)[0]), want);
}

// Constant weights and zero points are converted for the float Conv kernel once, when the
// kernel is made; the sums must be those of the int32 reference.
TEST(ConvInteger, ConstantWeightsGiveTheSameSums) {
  const int64_t N = 1, C = 4, H = 5, W = 5, M = 3, K = 3;
  const auto x = random_ints<uint8_t>(N * C * H * W, 50);
  const auto w = random_ints<int8_t>(M * C * K * K, 51);
  int64_t oh = 0, ow = 0;
  const auto want = ref_conv(x, 7, w, {2, 0, -3}, N, C, H, W, M, K, K, 1, 1, 1, 1, &oh, &ow);
  std::string wt;
  for (int8_t v : w) wt += (wt.empty() ? "" : ", ") + std::to_string(v);
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 4, 5, 5] X, uint8 XZ) => (int32 Y)
    <int8[3, 4, 3, 3] Wt = {)" +
                         wt + R"(}, int8[3] WZ = {2, 0, -3}> {
      Y = ConvInteger <pads = [1, 1, 1, 1]> (X, Wt, XZ, WZ) })",
                     {{"X", make<uint8_t>({N, C, H, W}, x)}, {"XZ", make<uint8_t>({}, {7})}});
  ASSERT_OK(r);
  EXPECT_EQ((*r)[0].dims(), (ir::Dims{N, M, oh, ow}));
  EXPECT_EQ(values<int32_t>((*r)[0]), want);
}

TEST(ConvInteger, RefusesThreeDimensionalKernelAtPlanTime) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 1, 3, 3, 3] X, uint8[1, 1, 2, 2, 2] Wt) => (int32 Y) {
      Y = ConvInteger <kernel_shape = [2, 2, 2]> (X, Wt) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("only 2-D convolution is supported"), std::string::npos)
      << ex.status().message();
}

TEST(QLinearConv, PerChannelWeightScalesAndBias) {
  const int64_t N = 1, C = 2, H = 5, W = 5, M = 3, K = 3;
  const auto x = random_ints<uint8_t>(N * C * H * W, 8);
  const auto w = random_ints<int8_t>(M * C * K * K, 9);
  const std::vector<float> ws{0.01f, 0.02f, 0.005f};
  const std::vector<int32_t> bias{100, -2000, 0};
  const float xs = 0.05f, ys = 0.3f;
  int64_t oh = 0, ow = 0;
  const auto acc = ref_conv(x, 120, w, {0, 0, 0}, N, C, H, W, M, K, K, 1, 1, 1, 1, &oh, &ow);
  auto r = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 2, 5, 5] X, float XS, uint8 XZ, int8[3, 2, 3, 3] Wt, float[3] WS, int8[3] WZ,
       float YS, uint8 YZ, int32[3] B) => (uint8 Y) {
      Y = QLinearConv <pads = [1, 1, 1, 1]> (X, XS, XZ, Wt, WS, WZ, YS, YZ, B) })",
                     {{"X", make<uint8_t>({N, C, H, W}, x)},
                      {"XS", make<float>({}, {xs})},
                      {"XZ", make<uint8_t>({}, {120})},
                      {"Wt", make<int8_t>({M, C, K, K}, w)},
                      {"WS", make<float>({3}, ws)},
                      {"WZ", make<int8_t>({3}, {0, 0, 0})},
                      {"YS", make<float>({}, {ys})},
                      {"YZ", make<uint8_t>({}, {128})},
                      {"B", make<int32_t>({3}, bias)}});
  ASSERT_OK(r);
  std::vector<uint8_t> want;
  for (size_t i = 0; i < acc.size(); ++i) {
    const size_t m = i / (oh * ow);
    want.push_back(
        ref_quantize<uint8_t>(static_cast<float>(acc[i] + bias[m]) * (xs * ws[m] / ys), 128));
  }
  EXPECT_EQ(values<uint8_t>((*r)[0]), want);
}

// QLinearConv sums through the float Conv kernel while every partial sum is a whole number
// below 2^24, and in int32 beyond; both must give the exact sums. Each case is checked against
// the int32 reference: a grouped one (small sums), a depthwise one, and one whose bound
// (K * max|x - x_zp| * max|w|) passes 2^24.
TEST(QLinearConv, ExactSumsOnBothPaths) {
  struct Case {
    int64_t c, m, k, group;
    float y_scale;  // a power of two, so that y = sum * 2^-8 / y_scale rounds exactly
  };
  for (const Case& t : {Case{4, 6, 3, 2, 1.0f}, Case{8, 8, 3, 8, 1.0f}, Case{96, 4, 5, 1, 16.0f}}) {
    const int64_t N = 1, H = 6, W = 6;
    const auto x = random_ints<uint8_t>(N * t.c * H * W, 21 + t.c);
    const auto w = random_ints<int8_t>(t.m * (t.c / t.group) * t.k * t.k, 22 + t.c);
    const std::vector<int32_t> wz(t.m, 0);
    int64_t oh = 0, ow = 0;
    const auto acc = ref_conv(x, 3, w, wz, N, t.c, H, W, t.m, t.k, t.k, t.group, 1, 1, 1, &oh, &ow);
    const std::string dims = std::to_string(t.m) + ", " + std::to_string(t.c / t.group) + ", " +
                             std::to_string(t.k) + ", " + std::to_string(t.k);
    const std::string text = R"(
      <ir_version: 8, opset_import: ["" : 13]>
      g (uint8[1, )" + std::to_string(t.c) +
                             R"(, 6, 6] X, float XS, uint8 XZ, int8[)" + dims +
                             R"(] Wt, float WS, int8 WZ, float YS, uint8 YZ) => (uint8 Y) {
        Y = QLinearConv <group = )" +
                             std::to_string(t.group) +
                             R"(, pads = [1, 1, 1, 1]> (X, XS, XZ, Wt, WS, WZ, YS, YZ)
      })";
    // y = acc * 2^-8 / y_scale + 128.
    auto r = run_model(text, {{"X", make<uint8_t>({N, t.c, H, W}, x)},
                              {"XS", make<float>({}, {1.0f / 16})},
                              {"XZ", make<uint8_t>({}, {3})},
                              {"Wt", make<int8_t>({t.m, t.c / t.group, t.k, t.k}, w)},
                              {"WS", make<float>({}, {1.0f / 16})},
                              {"WZ", make<int8_t>({}, {0})},
                              {"YS", make<float>({}, {t.y_scale})},
                              {"YZ", make<uint8_t>({}, {128})}});
    ASSERT_OK(r);
    std::vector<uint8_t> want;
    for (int32_t a : acc) want.push_back(ref_quantize<uint8_t>(a / 256.0 / t.y_scale, 128));
    EXPECT_EQ(values<uint8_t>((*r)[0]), want) << "C " << t.c << ", group " << t.group;
  }
}

}  // namespace
}  // namespace compressor
