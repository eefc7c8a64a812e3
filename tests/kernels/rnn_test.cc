// Kernels of the 'rnn' family: RNN, GRU and LSTM. Expected values are computed here from the
// ONNX equations with scalar (hidden size 1) cells.
#include <gtest/gtest.h>

#include <cmath>

#include "compressor/exec/executor.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

double sig(double v) { return 1 / (1 + std::exp(-v)); }

TEST(RNN, ForwardTanhCellWithBias) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 14]>
    g (float[2, 1, 1] X) => (float[2, 1, 1, 1] Y, float[1, 1, 1] H)
    <float[1, 1, 1] w = {0.5}, float[1, 1, 1] r = {-1}, float[1, 2] b = {0.1, 0.2}>
    { Y, H = RNN<hidden_size = 1>(X, w, r, b) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  auto y = (*ex)->run({{"X", float_tensor({2, 1, 1}, {0.7f, -1.2f})}});
  ASSERT_OK(y);
  const double h1 = std::tanh(0.5 * 0.7 + 0.3);
  const double h2 = std::tanh(0.5 * -1.2 - h1 + 0.3);
  EXPECT_NEAR((*y)[0].span<float>()[0], h1, 1e-6);
  EXPECT_NEAR((*y)[0].span<float>()[1], h2, 1e-6);
  EXPECT_NEAR((*y)[1].span<float>()[0], h2, 1e-6);
}

TEST(GRU, ReverseLinearBeforeResetWithSequenceLens) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 14]>
    g (float[2, 2, 1] X) => (float[2, 1, 2, 1] Y, float[1, 2, 1] H)
    <float[1, 3, 1] w = {0.5, -0.3, 0.8}, float[1, 3, 1] r = {0.2, 0.4, -0.6},
     float[1, 6] b = {0.1, -0.1, 0.05, 0.02, 0.03, -0.2}, int32[2] lens = {2, 1},
     float[1, 2, 1] h0 = {0.3, -0.4}>
    { Y, H = GRU<hidden_size = 1, direction = "reverse", linear_before_reset = 1>(
          X, w, r, b, lens, h0) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  const std::vector<float> x{0.9f, -0.5f, 0.25f, 0.6f};  // [t][b]
  auto y = (*ex)->run({{"X", float_tensor({2, 2, 1}, x)}});
  ASSERT_OK(y);
  auto cell = [](double xt, double h) {
    const double z = sig(0.5 * xt + 0.2 * h + 0.1 + 0.02);
    const double r = sig(-0.3 * xt + 0.4 * h - 0.1 + 0.03);
    const double ht = std::tanh(0.8 * xt + r * (-0.6 * h - 0.2) + 0.05);
    return (1 - z) * ht + z * h;
  };
  // Batch 0 runs t = 1 then t = 0; batch 1 has length 1 and runs t = 0 only.
  const double b0_t1 = cell(x[2], 0.3), b0_t0 = cell(x[0], b0_t1);
  const double b1_t0 = cell(x[1], -0.4);
  const auto got = (*y)[0].span<float>();  // [t][dir][b]
  EXPECT_NEAR(got[0], b0_t0, 1e-6);
  EXPECT_NEAR(got[1], b1_t0, 1e-6);
  EXPECT_NEAR(got[2], b0_t1, 1e-6);
  EXPECT_EQ(got[3], 0.0f);
  EXPECT_NEAR((*y)[1].span<float>()[0], b0_t0, 1e-6);
  EXPECT_NEAR((*y)[1].span<float>()[1], b1_t0, 1e-6);
}

TEST(LSTM, ForwardCellMatchesEquations) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 14]>
    g (float[1, 1, 1] X) => (float[1, 1, 1, 1] Y, float[1, 1, 1] H, float[1, 1, 1] C)
    <float[1, 4, 1] w = {0.5, -0.3, 0.8, 0.2}, float[1, 4, 1] r = {0.1, 0.4, -0.6, 0.3},
     float[1, 1, 1] h0 = {0.25}, float[1, 1, 1] c0 = {-0.5}>
    { Y, H, C = LSTM<hidden_size = 1>(X, w, r, , , h0, c0) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  auto y = (*ex)->run({{"X", float_tensor({1, 1, 1}, {0.7f})}});
  ASSERT_OK(y);
  const double x = 0.7, h = 0.25, c = -0.5;
  const double i = sig(0.5 * x + 0.1 * h), o = sig(-0.3 * x + 0.4 * h);
  const double f = sig(0.8 * x - 0.6 * h), g = std::tanh(0.2 * x + 0.3 * h);
  const double cn = f * c + i * g, hn = o * std::tanh(cn);
  EXPECT_NEAR((*y)[0].span<float>()[0], hn, 1e-6);
  EXPECT_NEAR((*y)[1].span<float>()[0], hn, 1e-6);
  EXPECT_NEAR((*y)[2].span<float>()[0], cn, 1e-6);
}

TEST(LSTM, RefusesNonDefaultActivations) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 14]>
    g (float[1, 1, 1] X, float[1, 4, 1] W, float[1, 4, 1] R) => (float[1, 1, 1, 1] Y)
    { Y = LSTM<hidden_size = 1, activations = ["Relu", "Tanh", "Tanh"]>(X, W, R) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("non-default activations are not supported"),
            std::string::npos)
      << ex.status().message();
}

}  // namespace
}  // namespace compressor
