// fold-batchnorm: Conv/ConvTranspose/Gemm + BatchNormalization fold exactly (up to rounding);
// every precondition has a case where folding must not happen.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

std::string literal(const std::vector<float>& v) {
  std::ostringstream out;
  out.precision(9);
  out << '{';
  for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
  out << '}';
  return out.str();
}

struct BnParams {
  std::vector<float> scale, bias, mean, var;
};

BnParams random_bn(size_t channels, uint64_t seed) {
  BnParams p;
  p.scale = random_floats(channels, seed, 0.5f, 1.5f);
  p.bias = random_floats(channels, seed + 1);
  p.mean = random_floats(channels, seed + 2);
  p.var = random_floats(channels, seed + 3, 0.1f, 2.0f);
  return p;
}

std::string bn_initializers(const BnParams& p) {
  const size_t c = p.scale.size();
  std::ostringstream s;
  s << "float[" << c << "] s = " << literal(p.scale) << ", float[" << c
    << "] b = " << literal(p.bias) << ", float[" << c << "] mu = " << literal(p.mean) << ", float["
    << c << "] v = " << literal(p.var);
  return s.str();
}

// y[n, c, ...] = BN(x) over channel axis 1 with `inner` elements per channel and sample.
std::vector<float> apply_bn(std::vector<float> y, const BnParams& p, int64_t channels,
                            int64_t inner, float eps) {
  for (size_t i = 0; i < y.size(); ++i) {
    const size_t c = (i / inner) % channels;
    y[i] = static_cast<float>((y[i] - p.mean[c]) / std::sqrt(double(p.var[c]) + eps) * p.scale[c] +
                              p.bias[c]);
  }
  return y;
}

TEST(FoldBatchNorm, GroupedStridedConvWithinTolerance) {
  const int64_t m = 4, cg = 1, k = 3;
  auto w = random_floats(m * cg * k * k, 1);
  auto bias = random_floats(m, 2);
  BnParams bn = random_bn(m, 3);
  std::ostringstream text;
  text << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 7, 7] X) => (float[1, 4, 4, 4] Y)
    <float[4, 1, 3, 3] W = )"
       << literal(w) << ", float[4] B = " << literal(bias) << ", " << bn_initializers(bn) << R"(>
    {
      C = Conv <group = 2, strides = [2, 2], pads = [1, 1, 1, 1]> (X, W, B)
      Y = BatchNormalization <epsilon = 0.001> (C, s, b, mu, v)
    })";
  auto model = model_from_text(text.str());
  ASSERT_OK(model);
  const ir::Tensor w_before = model->graph.find_initializer("W")->tensor;

  auto r = run_pass(*model, "fold-batchnorm");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  ASSERT_EQ(model->graph.node_count(), 1u);
  const ir::Node& conv = model->graph.node(0);
  EXPECT_EQ(conv.outputs[0], "Y");

  auto x = random_floats(1 * 2 * 7 * 7, 4);
  ir::Dims yd;
  auto conv_out =
      conv2d_reference(x, {1, 2, 7, 7}, w_before, bias, 2, {2, 2}, {1, 1, 1, 1}, {1, 1}, &yd);
  auto expected = apply_bn(conv_out, bn, m, yd[2] * yd[3], 0.001f);
  const auto wf = model->graph.find_initializer(conv.inputs[1])->tensor;
  auto bf = model->graph.find_initializer(conv.inputs[2])->tensor.span<float>();
  auto actual = conv2d_reference(x, {1, 2, 7, 7}, wf, {bf.begin(), bf.end()}, 2, {2, 2},
                                 {1, 1, 1, 1}, {1, 1}, &yd);
  EXPECT_LT(max_rel_diff(expected, actual), 1e-5);
}

TEST(FoldBatchNorm, ConvWithoutBiasGainsOne) {
  auto w = random_floats(3 * 2 * 1 * 1, 5);
  BnParams bn = random_bn(3, 6);
  std::ostringstream text;
  text << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 3, 3] X) => (float[1, 3, 3, 3] Y)
    <float[3, 2, 1, 1] W = )"
       << literal(w) << ", " << bn_initializers(bn) << R"(>
    {
      C = Conv(X, W)
      Y = BatchNormalization(C, s, b, mu, v)
    })";
  auto model = model_from_text(text.str());
  ASSERT_OK(model);
  const ir::Tensor w_before = model->graph.find_initializer("W")->tensor;
  ASSERT_OK(run_pass(*model, "fold-batchnorm"));
  const ir::Node& conv = model->graph.node(0);
  ASSERT_EQ(conv.inputs.size(), 3u);
  auto x = random_floats(18, 7);
  ir::Dims yd;
  auto expected = apply_bn(
      conv2d_reference(x, {1, 2, 3, 3}, w_before, {}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, &yd), bn, 3,
      9, 1e-5f);
  auto bf = model->graph.find_initializer(conv.inputs[2])->tensor.span<float>();
  auto actual =
      conv2d_reference(x, {1, 2, 3, 3}, model->graph.find_initializer(conv.inputs[1])->tensor,
                       {bf.begin(), bf.end()}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, &yd);
  EXPECT_LT(max_rel_diff(expected, actual), 1e-5);
}

TEST(FoldBatchNorm, GemmWithTransBAlphaBetaWithinTolerance) {
  const int64_t kk = 3, n = 4;
  auto w = random_floats(n * kk, 8);  // transB: W is [N, K]
  auto c = random_floats(n, 9);
  BnParams bn = random_bn(n, 10);
  std::ostringstream text;
  text << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3] X) => (float[2, 4] Y)
    <float[4, 3] W = )"
       << literal(w) << ", float[4] C = " << literal(c) << ", " << bn_initializers(bn) << R"(>
    {
      G = Gemm <transB = 1, alpha = 0.5, beta = 2.0> (X, W, C)
      Y = BatchNormalization(G, s, b, mu, v)
    })";
  auto model = model_from_text(text.str());
  ASSERT_OK(model);
  ASSERT_OK(run_pass(*model, "fold-batchnorm"));
  ASSERT_EQ(model->graph.node_count(), 1u);
  const ir::Node& gemm = model->graph.node(0);
  EXPECT_FLOAT_EQ(gemm.attr_float("beta", 0), 1.0f);
  auto wf = model->graph.find_initializer(gemm.inputs[1])->tensor.span<float>();
  auto cf = model->graph.find_initializer(gemm.inputs[2])->tensor.span<float>();
  auto x = random_floats(2 * kk, 11);
  std::vector<float> expected(2 * n), actual(2 * n);
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double e = 2.0 * c[j], a = cf[j];
      for (int64_t t = 0; t < kk; ++t) {
        e += 0.5 * x[i * kk + t] * w[j * kk + t];
        a += 0.5 * x[i * kk + t] * wf[j * kk + t];
      }
      expected[i * n + j] = static_cast<float>(e);
      actual[i * n + j] = static_cast<float>(a);
    }
  }
  expected = apply_bn(expected, bn, n, 1, 1e-5f);
  EXPECT_LT(max_rel_diff(expected, actual), 1e-5);
}

TEST(FoldBatchNorm, GroupedConvTransposeScalesItsOutputChannels) {
  // W is [C=4, M/group=3, 2, 2] with group 2, so output channels are 6.
  auto w = random_floats(4 * 3 * 2 * 2, 12);
  BnParams bn = random_bn(6, 13);
  std::ostringstream text;
  text << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 3, 3] X) => (float[1, 6, 4, 4] Y)
    <float[4, 3, 2, 2] W = )"
       << literal(w) << ", " << bn_initializers(bn) << R"(>
    {
      C = ConvTranspose <group = 2> (X, W)
      Y = BatchNormalization(C, s, b, mu, v)
    })";
  auto model = model_from_text(text.str());
  ASSERT_OK(model);
  ASSERT_OK(run_pass(*model, "fold-batchnorm"));
  const ir::Node& ct = model->graph.node(0);
  auto wf = model->graph.find_initializer(ct.inputs[1])->tensor.span<float>();
  auto bf = model->graph.find_initializer(ct.inputs[2])->tensor.span<float>();
  for (int64_t cin = 0; cin < 4; ++cin) {
    for (int64_t j = 0; j < 3; ++j) {
      const int64_t out_channel = (cin / 2) * 3 + j;
      const double s = bn.scale[out_channel] / std::sqrt(double(bn.var[out_channel]) + 1e-5);
      for (int64_t k = 0; k < 4; ++k) {
        const size_t i = static_cast<size_t>((cin * 3 + j) * 4 + k);
        EXPECT_NEAR(wf[i], w[i] * s, 1e-6);
      }
    }
  }
  for (int64_t o = 0; o < 6; ++o) {
    const double s = bn.scale[o] / std::sqrt(double(bn.var[o]) + 1e-5);
    EXPECT_NEAR(bf[o], -bn.mean[o] * s + bn.bias[o], 1e-6);
  }
}

constexpr const char* kTwoReaders = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y, float[1, 1, 2, 2] C)
    <float[1, 1, 1, 1] W = {2.0}, float[1] s = {1.0}, float[1] b = {0.0}, float[1] mu = {0.0},
     float[1] v = {1.0}>
    {
      C = Conv(X, W)
      Y = BatchNormalization(C, s, b, mu, v)
    })";

TEST(FoldBatchNorm, ConvOutputWithOtherReadersNotApplied) {
  auto model = model_from_text(kTwoReaders);
  ASSERT_OK(model);
  auto r = run_pass(*model, "fold-batchnorm");
  ASSERT_OK(r);
  EXPECT_EQ(count_ops(model->graph, "BatchNormalization"), 1u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("other readers"), std::string::npos);
}

TEST(FoldBatchNorm, NonConstantScaleNotApplied) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X, float[1] s) => (float[1, 1, 2, 2] Y)
    <float[1, 1, 1, 1] W = {2.0}, float[1] b = {0.0}, float[1] mu = {0.0}, float[1] v = {1.0}>
    {
      C = Conv(X, W)
      Y = BatchNormalization(C, s, b, mu, v)
    })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "fold-batchnorm");
  ASSERT_OK(r);
  EXPECT_EQ(count_ops(model->graph, "BatchNormalization"), 1u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("not a constant"), std::string::npos);
}

TEST(FoldBatchNorm, TrainingModeNotApplied) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 15]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y)
    <float[1, 1, 1, 1] W = {2.0}, float[1] s = {1.0}, float[1] b = {0.0}, float[1] mu = {0.0},
     float[1] v = {1.0}>
    {
      C = Conv(X, W)
      Y, rm, rv = BatchNormalization <training_mode = 1> (C, s, b, mu, v)
    })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "fold-batchnorm");
  ASSERT_OK(r);
  EXPECT_EQ(count_ops(model->graph, "BatchNormalization"), 1u);
}

// ConvTranspose (4 -> 3 channels) -> `shift` -> BatchNormalization (-> Relu), as PP-OCR det's head.
std::string shifted_bn_model(const std::string& shift, const std::string& shift_init,
                             const BnParams& p, bool relu = true) {
  std::ostringstream text;
  text << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 3, 3] X) => (float[1, 3, 6, 6] Y)
    <float[4, 3, 2, 2] W = )"
       << literal(random_floats(4 * 3 * 4, 61)) << ", " << shift_init << ", " << bn_initializers(p)
       << R"(>
    {
      C = ConvTranspose <strides = [2, 2]> (X, W)
      )"
       << shift << R"(
      )"
       << (relu ? "N = BatchNormalization(A, s, b, mu, v)\n      Y = Relu(N)"
                : "Y = BatchNormalization(A, s, b, mu, v)")
       << R"(
    })";
  return text.str();
}

TEST(FoldBatchNorm, ShiftBetweenLayerAndBatchNormMovesIntoTheMeanThenFolds) {
  const BnParams p = random_bn(3, 71);
  const std::string per_channel = "float[3, 1, 1] a = " + literal({0.5f, -1.25f, 2.0f});
  for (const auto& [shift, init] :
       {std::pair<std::string, std::string>{"A = Add(C, a)", per_channel},
        {"A = Add(a, C)", per_channel},
        {"A = Sub(C, a)", per_channel},
        {"A = Add(C, a)", "float a = {0.75}"}}) {
    SCOPED_TRACE(shift + " with " + init);
    auto model = model_from_text(shifted_bn_model(shift, init, p));
    ASSERT_OK(model);
    const ir::Model before = *model;
    auto r = run_pass(*model, "fold-batchnorm");
    ASSERT_OK(r);
    EXPECT_EQ(r->nodes_changed, 2u) << "the shift, then the BatchNormalization";
    ASSERT_EQ(model->graph.node_count(), 2u);
    EXPECT_EQ(model->graph.node(0).op_type, "ConvTranspose");
    EXPECT_EQ(model->graph.node(1).op_type, "Relu");
    const auto x = random_floats(36, 72, -2.0f, 2.0f);
    const auto expected = run_float_output(before, {{"X", float_tensor({1, 4, 3, 3}, x)}});
    const auto actual = run_float_output(*model, {{"X", float_tensor({1, 4, 3, 3}, x)}});
    EXPECT_LT(max_rel_diff(expected, actual), 1e-5);
  }
}

TEST(FoldBatchNorm, ShiftStaysWhereItIsNotPerChannelOrNotBeforeABatchNorm) {
  const BnParams p = random_bn(3, 73);
  // A shift along the width, a Sub from the constant, a shift the Relu reads instead of a
  // BatchNormalization: nothing moves.
  for (const auto& [shift, init] :
       {std::pair<std::string, std::string>{"A = Add(C, a)",
                                            "float[6] a = " + literal(random_floats(6, 74))},
        {"A = Sub(a, C)", "float[3, 1, 1] a = {0.5, -1.25, 2.0}"}}) {
    auto model = model_from_text(shifted_bn_model(shift, init, p));
    ASSERT_OK(model);
    ASSERT_OK(run_pass(*model, "fold-batchnorm"));
    EXPECT_EQ(count_ops(model->graph, "BatchNormalization"), 1u) << shift << " " << init;
    EXPECT_EQ(model->graph.node_count(), 4u) << shift << " " << init;
  }
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 3, 3] X) => (float[1, 3, 6, 6] Y)
    <float[4, 3, 2, 2] W = )" + literal(random_floats(48, 75)) +
                               R"(, float[3, 1, 1] a = {0.5, -1.25, 2.0}>
    {
      C = ConvTranspose <strides = [2, 2]> (X, W)
      A = Add(C, a)
      Y = Relu(A)
    })");
  ASSERT_OK(model);
  ASSERT_OK(run_pass(*model, "fold-batchnorm"));
  EXPECT_EQ(model->graph.node_count(), 3u);
}

TEST(FoldBatchNorm, SharedWeightIsCopiedNotChangedInPlace) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y, float[1, 1, 2, 2] Z)
    <float[1, 1, 1, 1] W = {2.0}, float[1] s = {3.0}, float[1] b = {0.0}, float[1] mu = {0.0},
     float[1] v = {1.0}>
    {
      C = Conv(X, W)
      Y = BatchNormalization <epsilon = 0.0> (C, s, b, mu, v)
      Z = Conv(X, W)
    })");
  ASSERT_OK(model);
  ASSERT_OK(run_pass(*model, "fold-batchnorm"));
  EXPECT_EQ(model->graph.find_initializer("W")->tensor.span<float>()[0], 2.0f);
  const ir::Node& folded = model->graph.node(0);
  EXPECT_NE(folded.inputs[1], "W");
  EXPECT_FLOAT_EQ(model->graph.find_initializer(folded.inputs[1])->tensor.span<float>()[0], 6.0f);
  EXPECT_EQ(model->graph.node(1).inputs[1], "W");
}

}  // namespace
}  // namespace compressor
