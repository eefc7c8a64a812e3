// fuse-hardswish: a HardSwish written out as Add 3, Clip 0..6, Mul and Div 6 (or Mul by 1/6)
// becomes HardSigmoid + Mul that computes what the original did (both run through the
// executor); chains that differ in any constant or share an intermediate stay as they are. A
// scalar Mul after a HardSwish moves into the scalar Mul/Add before it.
#include <gtest/gtest.h>

#include <string>

#include "compressor/exec/executor.h"
#include "passes/layer_pass_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

const ir::Dims kDims = {2, 3, 4, 5};

std::vector<float> run_model(const ir::Model& model, const std::vector<float>& x) {
  return run_float_output(model, {{"X", float_tensor(kDims, x)}});
}

std::string model_text(const std::string& body, int opset = 13,
                       const std::string& outputs = "float[2, 3, 4, 5] Y") {
  return R"(<ir_version: 8, opset_import: ["" : )" + std::to_string(opset) + R"(]>
    g (float[2, 3, 4, 5] X) => ()" +
         outputs + R"()
    <float three = {3}, float zero = {0}, float six = {6}, float[1] sixth = {0.16666667},
     float[1, 1, 1, 1] six4 = {6}, float other = {2.5}, float[1] k = {0.9}, float[1] d = {0.3},
     float[1, 1, 1, 1] c = {1.7}, float neg = {-0.6}, float big = {3e38}>
    {
)" + body +
         R"(
    })";
}

// Runs the pass; expects `fused` chains rewritten, `nodes_after` nodes left, and the outputs of
// the original on inputs over [-5, 5] (both sides of the clip) within float rounding.
ir::Model expect_fuses(const std::string& text, size_t fused, size_t nodes_after) {
  auto model = model_from_text(text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (!model.ok()) return {};
  const ir::Model before = *model;
  auto r = run_pass(*model, "fuse-hardswish");
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return {};
  EXPECT_EQ(r->nodes_changed, fused);
  EXPECT_EQ(model->graph.node_count(), nodes_after);
  for (uint64_t seed = 1; seed < 4; ++seed) {
    const auto x = random_floats(size_t(ir::element_count(kDims)), seed, -5.0f, 5.0f);
    const auto expected = run_model(before, x);
    const auto actual = run_model(*model, x);
    EXPECT_EQ(expected.size(), actual.size());
    if (expected.size() != actual.size()) break;
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_NEAR(actual[i], expected[i], 1e-6f * (1 + std::fabs(expected[i]))) << i;
    }
  }
  return std::move(*model);
}

TEST(FuseHardSwish, DivBySixBecomesHardSigmoidAndMul) {
  const ir::Model m = expect_fuses(model_text(R"(
      A = Add(X, three)
      C = Clip(A, zero, six)
      M = Mul(X, C)
      Y = Div(M, six))"),
                                   1, 2);
  const auto& nodes = m.graph.nodes();
  EXPECT_EQ(nodes[0]->op_type, "HardSigmoid");
  EXPECT_FLOAT_EQ(nodes[0]->attr_float("alpha", 0), 1.0f / 6.0f);
  EXPECT_FLOAT_EQ(nodes[0]->attr_float("beta", 0), 0.5f);
  EXPECT_EQ(nodes[0]->inputs[0], "X");
  EXPECT_EQ(nodes[1]->op_type, "Mul");
  EXPECT_EQ(nodes[1]->outputs[0], "Y");
}

TEST(FuseHardSwish, OperandOrderAndMulByASixth) {
  // Add(3, x), Mul(clip, x), Mul by a one-element 1/6, and a Div by a [1, 1, 1, 1] six.
  expect_fuses(model_text(R"(
      A = Add(three, X)
      C = Clip(A, zero, six)
      M = Mul(C, X)
      Y = Mul(sixth, M))"),
               1, 2);
  expect_fuses(model_text(R"(
      A = Add(X, three)
      C = Clip(A, zero, six)
      M = Mul(X, C)
      H = Div(M, six4)
      B = Add(H, three)
      D = Clip(B, zero, six)
      N = Mul(H, D)
      Y = Div(N, six))"),
               2, 4);
}

TEST(FuseHardSwish, ClipWithAttributesBeforeOpset11) {
  expect_fuses(model_text(R"(
      A = Add(X, three)
      C = Clip<min = 0.0, max = 6.0>(A)
      M = Mul(X, C)
      Y = Div(M, six))",
                          9),
               1, 2);
}

TEST(FuseHardSwish, OtherChainsStayAsTheyAre) {
  for (const char* body : {
           // Add 2.5, not 3.
           "A = Add(X, other)\n C = Clip(A, zero, six)\n M = Mul(X, C)\n Y = Div(M, six)",
           // Clip to [0, 3].
           "A = Add(X, three)\n C = Clip(A, zero, three)\n M = Mul(X, C)\n Y = Div(M, six)",
           // The Mul reads another value than the Add.
           "A = Add(X, three)\n C = Clip(A, zero, six)\n M = Mul(C, C)\n Y = Div(M, six)",
           // Div by 3.
           "A = Add(X, three)\n C = Clip(A, zero, six)\n M = Mul(X, C)\n Y = Div(M, three)",
       }) {
    auto model = model_from_text(model_text(body));
    ASSERT_TRUE(model.ok()) << model.status().message();
    auto r = run_pass(*model, "fuse-hardswish");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->nodes_changed, 0u) << body;
    EXPECT_TRUE(r->skipped.empty()) << body;
    EXPECT_EQ(model->graph.node_count(), 4u) << body;
  }
}

TEST(FuseHardSwish, SharedIntermediateIsSkippedWithTheReason) {
  auto model = model_from_text(model_text(R"(
      A = Add(X, three)
      C = Clip(A, zero, six)
      M = Mul(X, C)
      Y = Div(M, six))",
                                          13, "float[2, 3, 4, 5] Y, float[2, 3, 4, 5] C"));
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto r = run_pass(*model, "fuse-hardswish");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("'C' has other readers"), std::string::npos)
      << r->skipped[0].reason;
  EXPECT_EQ(model->graph.node_count(), 4u);
}

// PP-LCNetV3's blocks: a scalar affine on each side of a HardSwish. The Mul after it moves into
// the Mul and Add before it and HardSigmoid's alpha is divided by it: one node fewer.
TEST(FuseHardSwish, ScaleAfterTheHardSwishMovesIntoTheAffineBefore) {
  const ir::Model m = expect_fuses(model_text(R"(
      U0 = Mul(X, k)
      U = Add(U0, d)
      G = HardSigmoid<alpha = 0.16666667, beta = 0.5>(U)
      H = Mul(U, G)
      H2 = Mul(c, H)
      Y = Add(H2, d))"),
                                   1, 5);
  const ir::Graph& g = m.graph;
  const auto& nodes = g.nodes();
  EXPECT_EQ(nodes[0]->op_type, "Mul");
  EXPECT_FLOAT_EQ(float_values(g, nodes[0]->inputs[1])[0], 0.9f * 1.7f);
  EXPECT_EQ(nodes[1]->op_type, "Add");
  EXPECT_FLOAT_EQ(float_values(g, nodes[1]->inputs[1])[0], 0.3f * 1.7f);
  EXPECT_EQ(g.find_initializer(nodes[1]->inputs[1])->tensor.dims(), (ir::Dims{1}));
  EXPECT_EQ(nodes[2]->op_type, "HardSigmoid");
  EXPECT_FLOAT_EQ(nodes[2]->attr_float("alpha", 0), (1.0f / 6.0f) / 1.7f);
  EXPECT_FLOAT_EQ(nodes[2]->attr_float("beta", 0), 0.5f);
  EXPECT_EQ(nodes[3]->op_type, "Mul");
  EXPECT_EQ(nodes[3]->outputs[0], "H2");
  // The Add after the HardSwish still reads its shift, unscaled: d was shared, so the scaled
  // copy went under a new name.
  EXPECT_EQ(nodes[4]->inputs[1], "d");
  EXPECT_FLOAT_EQ(float_values(g, "d")[0], 0.3f);
}

TEST(FuseHardSwish, ScaleMovesIntoAMulAloneAndMayBeNegative) {
  // From the spelled-out form: both rules apply, in turn.
  expect_fuses(model_text(R"(
      U = Mul(k, X)
      A = Add(U, three)
      C = Clip(A, zero, six)
      M = Mul(U, C)
      H = Div(M, six)
      Y = Mul(H, neg))"),
               2, 3);
}

TEST(FuseHardSwish, ScaleStaysWhereTheAffineIsSharedOrMissing) {
  for (const char* body : {
           // U is also a graph output (see the outputs below).
           "U0 = Mul(X, k)\n U = Add(U0, d)\n G = HardSigmoid(U)\n H = Mul(U, G)\n Y = Mul(H, c)",
           // No Mul before the Add: c * (x + d) needs one.
           "U = Add(X, d)\n G = HardSigmoid(U)\n H = Mul(U, G)\n Y = Mul(H, c)\n Z = Identity(U)",
           // The gate is HardSigmoid of another value.
           "U = Mul(X, k)\n G = HardSigmoid(X)\n H = Mul(U, G)\n Y = Mul(H, c)\n Z = Identity(U)",
           // 6 * 3e38 is not a finite float.
           "U = Mul(X, six)\n G = HardSigmoid(U)\n H = Mul(U, G)\n Y = Mul(H, big)\n Z = "
           "Identity(X)",
           // Scaled by an activation, not a constant.
           "U = Mul(X, k)\n G = HardSigmoid(U)\n H = Mul(U, G)\n Y = Mul(H, X)\n Z = Identity(X)",
       }) {
    auto model = model_from_text(model_text(
        body, 13,
        "float[2, 3, 4, 5] Y, float[2, 3, 4, 5] " +
            std::string(std::string(body).find("Z =") != std::string::npos ? "Z" : "U")));
    ASSERT_TRUE(model.ok()) << model.status().message();
    const size_t before = model->graph.node_count();
    auto r = run_pass(*model, "fuse-hardswish");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->nodes_changed, 0u) << body;
    EXPECT_EQ(model->graph.node_count(), before) << body;
  }
}

}  // namespace
}  // namespace compressor
