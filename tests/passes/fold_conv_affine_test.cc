// fold-conv-affine: a Conv or ConvTranspose followed by per-channel constant Mul, Add, Sub or Div
// folds into one layer that computes what the original graph did (both run through the
// executor), and every precondition has a case where nothing is folded.
#include <gtest/gtest.h>

#include <sstream>

#include "compressor/exec/executor.h"
#include "passes/layer_pass_testing.h"
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

std::vector<float> run_model(const ir::Model& model, const std::vector<float>& x,
                             const ir::Dims& dims) {
  return run_float_output(model, {{"X", float_tensor(dims, x)}});
}

// Runs the pass on the model of `text`, expects `folded` nodes changed and `nodes_after` nodes
// left, and compares the outputs with the original model's on a few random inputs.
ir::Model expect_folds(const std::string& text, const ir::Dims& x_dims, size_t folded,
                       size_t nodes_after, const pass::PassOptions& options = {}) {
  auto model = model_from_text(text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (!model.ok()) return {};
  const ir::Model before = *model;
  auto r = run_pass(*model, "fold-conv-affine", options);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return {};
  EXPECT_EQ(r->nodes_changed, folded);
  EXPECT_TRUE(r->skipped.empty()) << r->skipped[0].reason;
  EXPECT_EQ(model->graph.node_count(), nodes_after);
  for (uint64_t seed = 100; seed < 103; ++seed) {
    const auto x = random_floats(size_t(ir::element_count(x_dims)), seed, -2.0f, 2.0f);
    const auto expected = run_model(before, x, x_dims);
    const auto actual = run_model(*model, x, x_dims);
    EXPECT_FALSE(expected.empty());
    EXPECT_LT(max_rel_diff(expected, actual), 1e-5) << "seed " << seed;
  }
  return std::move(*model);
}

// A 3x3 Conv (2 -> 4 channels, with bias) then `tail`, which reads C and writes Y.
std::string conv_then(const std::string& tail, const std::string& constants,
                      const std::string& conv_attrs = "") {
  std::ostringstream text;
  text << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 5, 5] X) => (float[1, 4, 5, 5] Y)
    <float[4, 2, 3, 3] W = )"
       << literal(random_floats(4 * 2 * 9, 1)) << ", float[4] B = " << literal(random_floats(4, 2))
       << ", " << constants << R"(>
    {
      C = Conv )"
       << conv_attrs << R"((X, W, B)
      )"
       << tail << R"(
    })";
  return text.str();
}

const std::string kScale = literal({0.5f, -1.75f, 3.0f, 0.01f});
const std::string kShift = literal({0.25f, -2.0f, 1.5f, 7.0f});

TEST(FoldConvAffine, MulByChannelScale) {
  ir::Model m = expect_folds(
      conv_then("Y = Mul(C, s)", "float[1, 4, 1, 1] s = " + kScale, "<pads = [1, 1, 1, 1]>"),
      {1, 2, 5, 5}, 1, 1);
  ASSERT_EQ(m.graph.node_count(), 1u);
  EXPECT_EQ(m.graph.node(0).op_type, "Conv");
  EXPECT_EQ(m.graph.node(0).outputs[0], "Y");
}

TEST(FoldConvAffine, AddWithConstantFirst) {
  expect_folds(conv_then("Y = Add(a, C)", "float[4, 1, 1] a = " + kShift, "<pads = [1, 1, 1, 1]>"),
               {1, 2, 5, 5}, 1, 1);
}

TEST(FoldConvAffine, MulAddChainFoldsIntoOneConv) {
  ir::Model m =
      expect_folds(conv_then("M = Mul(C, s)\n A = Add(M, a)\n Y = HardSigmoid(A)",
                             "float[4, 1, 1] s = " + kScale + ", float[1, 4, 1, 1] a = " + kShift,
                             "<pads = [1, 1, 1, 1]>"),
                   {1, 2, 5, 5}, 2, 2);
  ASSERT_EQ(m.graph.node_count(), 2u);
  EXPECT_EQ(m.graph.node(0).outputs[0], "A");
  EXPECT_EQ(m.graph.node(1).inputs[0], "A");
}

TEST(FoldConvAffine, SubAndScalarMul) {
  expect_folds(
      conv_then("S = Sub(C, a)\n Y = Mul(S, k)",
                "float[1, 4, 1, 1] a = " + kShift + ", float k = {-0.3}", "<pads = [1, 1, 1, 1]>"),
      {1, 2, 5, 5}, 2, 1);
}

TEST(FoldConvAffine, DivByPowersOfTwo) {
  expect_folds(conv_then("Y = Div(C, s)", "float[4, 1, 1] s = {0.5, -2.0, 0.25, 8.0}",
                         "<pads = [1, 1, 1, 1]>"),
               {1, 2, 5, 5}, 1, 1);
}

TEST(FoldConvAffine, WithoutShiftsOnlyTheScalesFold) {
  // Mul then Add: the Mul folds, the Add stays and reads the Conv.
  const pass::PassOptions scales_only{{"shifts", "false"}};
  ir::Model m = expect_folds(
      conv_then("M = Mul(C, k)\n Y = Add(M, a)",
                "float k = {-0.3}, float[1, 4, 1, 1] a = " + kShift, "<pads = [1, 1, 1, 1]>"),
      {1, 2, 5, 5}, 1, 2, scales_only);
  ASSERT_EQ(m.graph.node_count(), 2u);
  EXPECT_EQ(m.graph.node(0).op_type, "Conv");
  EXPECT_EQ(m.graph.node(0).outputs[0], "M");
  EXPECT_EQ(m.graph.node(1).op_type, "Add");
  // Sub first: it stays, and the Div after it reads no Conv.
  expect_folds(
      conv_then("S = Sub(C, a)\n Y = Div(S, d)",
                "float[1, 4, 1, 1] a = " + kShift + ", float d = {2.0}", "<pads = [1, 1, 1, 1]>"),
      {1, 2, 5, 5}, 0, 3, scales_only);
  auto bad = make_pass("fold-conv-affine", {{"shifts", "sometimes"}});
  EXPECT_FALSE(bad.ok());
}

TEST(FoldConvAffine, GroupedStridedConvChain) {
  std::ostringstream text;
  text << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 7, 7] X) => (float[1, 4, 4, 4] Y)
    <float[4, 1, 3, 3] W = )"
       << literal(random_floats(4 * 9, 3)) << ", float[4] B = " << literal(random_floats(4, 4))
       << ", float[1, 4, 1, 1] s = " << kScale << ", float[1, 4, 1, 1] a = " << kShift << R"(>
    {
      C = Conv <group = 4, strides = [2, 2], pads = [1, 1, 1, 1]> (X, W, B)
      M = Mul(s, C)
      Y = Add(M, a)
    })";
  expect_folds(text.str(), {1, 4, 7, 7}, 2, 1);
}

TEST(FoldConvAffine, ConvWithoutBiasGainsOneOnlyForAdd) {
  const std::string w = literal(random_floats(4 * 2, 5));
  const std::string mul_only = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 3, 3] X) => (float[1, 4, 3, 3] Y)
    <float[4, 2, 1, 1] W = )" + w +
                               ", float[4, 1, 1] s = " + kScale + R"(>
    {
      C = Conv(X, W)
      Y = Mul(C, s)
    })";
  ir::Model m = expect_folds(mul_only, {1, 2, 3, 3}, 1, 1);
  EXPECT_EQ(m.graph.node(0).inputs.size(), 2u);

  const std::string add = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 3, 3] X) => (float[1, 4, 3, 3] Y)
    <float[4, 2, 1, 1] W = )" +
                          w + ", float[4, 1, 1] s = " + kScale +
                          ", float[1, 4, 1, 1] a = " + kShift + R"(>
    {
      C = Conv(X, W)
      M = Mul(C, s)
      Y = Add(M, a)
    })";
  m = expect_folds(add, {1, 2, 3, 3}, 2, 1);
  const ir::Node& conv = m.graph.node(0);
  ASSERT_EQ(conv.inputs.size(), 3u);
  const auto b = m.graph.find_initializer(conv.inputs[2])->tensor;
  EXPECT_EQ(b.dims(), ir::Dims{4});
}

TEST(FoldConvAffine, GroupedConvTransposeChain) {
  // W is [C=4, M/group=3, 2, 2] with group 2: 6 output channels.
  std::ostringstream text;
  text << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 3, 3] X) => (float[1, 6, 4, 4] Y)
    <float[4, 3, 2, 2] W = )"
       << literal(random_floats(4 * 3 * 4, 6))
       << ", float[6, 1, 1] s = " << literal(random_floats(6, 7, 0.5f, 2.0f))
       << ", float[1, 6, 1, 1] a = " << literal(random_floats(6, 8)) << R"(>
    {
      C = ConvTranspose <group = 2> (X, W)
      M = Mul(C, s)
      Y = Add(M, a)
    })";
  expect_folds(text.str(), {1, 4, 3, 3}, 2, 1);
}

TEST(FoldConvAffine, IntermediateValueInfoDropped) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 2, 2, 2] Y)
    <float[1, 2, 2, 2] C, float[2, 1, 1, 1] W = {2.0, 3.0}, float[2, 1, 1] s = {4.0, 5.0}>
    {
      C = Conv(X, W)
      Y = Mul(C, s)
    })");
  ASSERT_OK(model);
  ASSERT_EQ(model->graph.value_info.size(), 1u);
  ASSERT_OK(run_pass(*model, "fold-conv-affine"));
  EXPECT_TRUE(model->graph.value_info.empty());
  const auto w =
      model->graph.find_initializer(model->graph.node(0).inputs[1])->tensor.span<float>();
  EXPECT_EQ(w[0], 8.0f);
  EXPECT_EQ(w[1], 15.0f);
}

// Runs the pass and expects the model unchanged, with one skip whose reason contains `reason`
// (no skip when `reason` is empty).
void expect_not_folded(const std::string& text, const std::string& reason) {
  auto model = model_from_text(text);
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto r = run_pass(*model, "fold-conv-affine");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  EXPECT_EQ(save_to_bytes(*model), before);
  if (reason.empty()) {
    EXPECT_TRUE(r->skipped.empty()) << r->skipped[0].reason;
  } else {
    ASSERT_EQ(r->skipped.size(), 1u);
    EXPECT_NE(r->skipped[0].reason.find(reason), std::string::npos) << r->skipped[0].reason;
  }
}

TEST(FoldConvAffine, VectorAlignedWithWidthNotApplied) {
  // A [4] constant against [1, 4, 4, 4] scales along the last axis (width), not the channels.
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 4, 4] X) => (float[1, 4, 4, 4] Y)
    <float[4, 1, 1, 1] W = {1.0, 2.0, 3.0, 4.0}, float[4] s = {1.0, 2.0, 3.0, 4.0}>
    {
      C = Conv(X, W)
      Y = Mul(C, s)
    })",
                    "not per output channel");
}

TEST(FoldConvAffine, SpatialOrBatchConstantNotApplied) {
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 1, 2, 2] X) => (float[2, 2, 2, 2] Y)
    <float[2, 1, 1, 1] W = {1.0, 2.0}, float[2, 1, 1, 1] a = {1.0, 2.0}>
    {
      C = Conv(X, W)
      Y = Add(C, a)
    })",
                    "not per output channel");
  // A constant with more dims than the output would grow it.
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2, 2] Y)
    <float[2, 1, 1, 1] W = {1.0, 2.0}, float[1, 1, 1, 1, 1] a = {1.0}>
    {
      C = Conv(X, W)
      Y = Add(C, a)
    })",
                    "more dims");
}

TEST(FoldConvAffine, ConvOutputWithTwoReadersNotApplied) {
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y, float[1, 1, 2, 2] Z)
    <float[1, 1, 1, 1] W = {2.0}, float[1] s = {3.0}>
    {
      C = Conv(X, W)
      Y = Mul(C, s)
      Z = Relu(C)
    })",
                    "other readers");
}

TEST(FoldConvAffine, ConvOutputThatIsGraphOutputNotApplied) {
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y, float[1, 1, 2, 2] C)
    <float[1, 1, 1, 1] W = {2.0}, float[1] s = {3.0}>
    {
      C = Conv(X, W)
      Y = Mul(C, s)
    })",
                    "graph output");
}

TEST(FoldConvAffine, NonConstantOperandIsNoCandidate) {
  // A residual Add, and a scale that is a graph input overriding an initializer.
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X, float[1] s) => (float[1, 1, 2, 2] Y)
    <float[1, 1, 1, 1] W = {2.0}, float[1] s = {3.0}>
    {
      C = Conv(X, W)
      M = Mul(C, s)
      Y = Add(M, X)
    })",
                    "");
}

TEST(FoldConvAffine, DivByNonPowerOfTwoAndReversedSubNotApplied) {
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 2, 2, 2] Y)
    <float[2, 1, 1, 1] W = {2.0, 1.0}, float[2, 1, 1] s = {2.0, 3.0}>
    {
      C = Conv(X, W)
      Y = Div(C, s)
    })",
                    "powers of two");
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y)
    <float[1, 1, 1, 1] W = {2.0}, float[1] a = {3.0}>
    {
      C = Conv(X, W)
      Y = Sub(a, C)
    })",
                    "second input");
}

TEST(FoldConvAffine, OverflowingFoldNotApplied) {
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y)
    <float[1, 1, 1, 1] W = {3e38}, float[1] s = {10.0}>
    {
      C = Conv(X, W)
      Y = Mul(C, s)
    })",
                    "overflow");
  expect_not_folded(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y)
    <float[1, 1, 1, 1] W = {1.0}, float[1] B = {3e38}, float[1] a = {3e38}>
    {
      C = Conv(X, W, B)
      Y = Add(C, a)
    })",
                    "overflow");
}

TEST(FoldConvAffine, SharedInitializersCopiedNotChangedInPlace) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 2, 2] Y, float[1, 1, 2, 2] Z)
    <float[1, 1, 1, 1] W = {2.0}, float[1] B = {1.0}, float[1] s = {3.0}, float[1] a = {0.5}>
    {
      C = Conv(X, W, B)
      M = Mul(C, s)
      Y = Add(M, a)
      Z = Conv(X, W, B)
    })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "fold-conv-affine");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  ASSERT_EQ(model->graph.node_count(), 2u);
  EXPECT_EQ(model->graph.find_initializer("W")->tensor.span<float>()[0], 2.0f);
  EXPECT_EQ(model->graph.find_initializer("B")->tensor.span<float>()[0], 1.0f);
  const ir::Node& folded = model->graph.node(0);
  EXPECT_NE(folded.inputs[1], "W");
  EXPECT_NE(folded.inputs[2], "B");
  EXPECT_EQ(model->graph.find_initializer(folded.inputs[1])->tensor.span<float>()[0], 6.0f);
  EXPECT_EQ(model->graph.find_initializer(folded.inputs[2])->tensor.span<float>()[0], 3.5f);
  EXPECT_EQ(model->graph.node(1).inputs[1], "W");
  EXPECT_EQ(model->graph.node(1).inputs[2], "B");
}

}  // namespace
}  // namespace compressor
