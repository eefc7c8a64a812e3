// prune-magnitude: exactly floor(sparsity * n) weights per layer become zero, and they are the
// smallest in magnitude (ties: lower index first); `nodes`, shared weights, skips and options.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "passes/layer_pass_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

// The definition: order elements by (|w|, index); the first k become zero, the rest are kept.
std::vector<float> pruned_by_definition(const std::vector<float>& w, size_t k) {
  std::vector<size_t> order(w.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const float ma = std::fabs(w[a]), mb = std::fabs(w[b]);
    return ma != mb ? ma < mb : a < b;
  });
  std::vector<float> out = w;
  for (size_t i = 0; i < k; ++i) out[order[i]] = 0.0f;
  return out;
}

size_t zeros_in(const std::vector<float>& v) {
  return static_cast<size_t>(std::count(v.begin(), v.end(), 0.0f));
}

// Conv [8, 3, 3, 3], Gemm B [10, 32] (transB) and MatMul B [32, 16], random weights.
struct ThreeLayers {
  std::vector<float> conv_w = random_floats(8 * 3 * 3 * 3, 11);
  std::vector<float> fc_w = random_floats(10 * 32, 12);
  std::vector<float> mm_w = random_floats(32 * 16, 13);

  std::string text() const {
    return R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[1, 3, 6, 6] X, float[2, 32] A) => (float[1, 8, 4, 4] Y, float[2, 10] F,
                                                   float[2, 16] M)
      <float[8, 3, 3, 3] CW = )" +
           float_literal(conv_w) + ", float[10, 32] FW = " + float_literal(fc_w) +
           ", float[32, 16] MW = " + float_literal(mm_w) + R"(>
      {
        Y = Conv <kernel_shape = [3, 3]> (X, CW)
        F = Gemm <transB = 1> (A, FW)
        M = MatMul(A, MW)
      })";
  }
};

TEST(PruneMagnitude, ZeroesExactlyTheSmallestWeightsOfEveryLayer) {
  ThreeLayers layers;
  for (double sparsity : {0.0, 0.1, 0.5, 0.77, 0.9}) {
    SCOPED_TRACE(sparsity);
    auto model = model_from_text(layers.text());
    ASSERT_OK(model);
    auto r = run_pass(*model, "prune-magnitude", {{"sparsity", std::to_string(sparsity)}});
    ASSERT_OK(r);
    EXPECT_TRUE(r->skipped.empty());
    const std::pair<const char*, const std::vector<float>*> weights[] = {
        {"CW", &layers.conv_w}, {"FW", &layers.fc_w}, {"MW", &layers.mm_w}};
    size_t total = 0, zeroed = 0;
    for (const auto& [name, original] : weights) {
      const size_t k = static_cast<size_t>(std::floor(sparsity * double(original->size())));
      const auto after = float_values(model->graph, name);
      EXPECT_EQ(zeros_in(after), k) << name;
      EXPECT_EQ(after, pruned_by_definition(*original, k)) << name;
      total += original->size();
      zeroed += k;
    }
    EXPECT_EQ(model->graph.initializers().size(), 3u) << "weights are pruned in place";
    if (sparsity == 0.5) {
      EXPECT_EQ(r->nodes_changed, 3u);
      ASSERT_EQ(r->notes.size(), 1u);
      EXPECT_EQ(zeroed, 108u + 160u + 256u);
      EXPECT_EQ(total, 216u + 320u + 512u);
      EXPECT_EQ(r->notes[0], "zeroed 524 of 1,048 weights in 3 layers (50.0%)");
    }
  }
}

TEST(PruneMagnitude, NoteGroupsThousands) {
  const auto w = random_floats(64 * 64, 3);
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 64] A) => (float[1, 64] M)
    <float[64, 64] W = )" + float_literal(w) +
                               R"(>
    { M = MatMul(A, W) })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "prune-magnitude", {{"sparsity", "0.25"}});
  ASSERT_OK(r);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0], "zeroed 1,024 of 4,096 weights in 1 layer (25.0%)");
}

TEST(PruneMagnitude, TiesGoToTheLowerIndexAndZerosCount) {
  // |w| order: 0 (6), 0.5 (3, 4, 5), 1 (0, 1, 2), 2 (7).
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2] A) => (float[1, 4] M)
    <float[2, 4] W = {1, -1, 1, 0.5, -0.5, 0.5, 0, 2}>
    { M = MatMul(A, W) })";
  const std::pair<const char*, std::vector<float>> cases[] = {
      {"0.125", {1, -1, 1, 0.5, -0.5, 0.5, 0, 2}},  // k = 1: the zero already there
      {"0.25", {1, -1, 1, 0, -0.5, 0.5, 0, 2}},     // k = 2: first 0.5 by index
      {"0.375", {1, -1, 1, 0, 0, 0.5, 0, 2}},      {"0.625", {0, -1, 1, 0, 0, 0, 0, 2}},
      {"0.875", {0, 0, 0, 0, 0, 0, 0, 2}},
  };
  for (const auto& [sparsity, expected] : cases) {
    SCOPED_TRACE(sparsity);
    auto model = model_from_text(text);
    ASSERT_OK(model);
    ASSERT_OK(run_pass(*model, "prune-magnitude", {{"sparsity", sparsity}}));
    EXPECT_EQ(float_values(model->graph, "W"), expected);
  }
}

TEST(PruneMagnitude, DecimalSparsityIsNotCutShortByRounding) {
  // 0.29 * 100 is 28.999999999999996 in binary; the user asked for 29 of 100.
  const auto w = random_floats(100, 21);
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 10] A) => (float[1, 10] M)
    <float[10, 10] W = )" + float_literal(w) +
                               R"(>
    { M = MatMul(A, W) })");
  ASSERT_OK(model);
  ASSERT_OK(run_pass(*model, "prune-magnitude", {{"sparsity", "0.29"}}));
  EXPECT_EQ(float_values(model->graph, "W"), pruned_by_definition(w, 29));
}

TEST(PruneMagnitude, LayerTooSmallForTheSparsityIsLeftAlone) {
  // floor(0.3 * 3) = 0 for the shared [3] weight; floor(0.3 * 4) = 1 for the other.
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3] A, float[1, 2] B) => (float[1, 1] P, float[1, 2] Q, float[3, 1] S)
    <float[3, 1] S = {0.1, 0.2, 0.3}, float[2, 2] W = {0.4, -0.1, 0.2, 0.3}>
    {
      P = MatMul(A, S)
      Q = MatMul(B, W)
    })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "prune-magnitude", {{"sparsity", "0.3"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_EQ(model->graph.initializers().size(), 2u) << "no copy of S for zero zeros";
  EXPECT_EQ(float_values(model->graph, "S"), (std::vector<float>{0.1f, 0.2f, 0.3f}));
  EXPECT_EQ(float_values(model->graph, "W"), (std::vector<float>{0.4f, 0, 0.2f, 0.3f}));
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0], "zeroed 1 of 7 weights in 1 layer (14.3%)");
}

TEST(PruneMagnitude, NanCountsAsLargest) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2] A) => (float[1, 2] M)
    <float[2, 2] W = {0.1, 0.5, -0.2, 0.3}>
    { M = MatMul(A, W) })");
  ASSERT_OK(model);
  model->graph.find_initializer("W")->tensor.mutable_span<float>()[1] = NAN;
  ASSERT_OK(run_pass(*model, "prune-magnitude", {{"sparsity", "0.75"}}));
  const auto w = float_values(model->graph, "W");
  EXPECT_EQ(w[0], 0.0f);
  EXPECT_TRUE(std::isnan(w[1]));
  EXPECT_EQ(w[2], 0.0f);
  EXPECT_EQ(w[3], 0.0f);
}

TEST(PruneMagnitude, NodesOptionLeavesOtherLayersByteIdentical) {
  ThreeLayers layers;
  auto original = model_from_text(layers.text());
  ASSERT_OK(original);
  ir::Model model = *original;
  // Unnamed nodes are labelled by their first output.
  auto r = run_pass(model, "prune-magnitude", {{"nodes", "F|M"}, {"sparsity", "0.5"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  EXPECT_TRUE(model.graph.find_initializer("CW")->tensor.bitwise_equal(
      original->graph.find_initializer("CW")->tensor));
  EXPECT_EQ(float_values(model.graph, "FW"), pruned_by_definition(layers.fc_w, 160));
  EXPECT_EQ(float_values(model.graph, "MW"), pruned_by_definition(layers.mm_w, 256));
  EXPECT_TRUE(r->skipped.empty());
}

TEST(PruneMagnitude, SharedWeightIsCopiedForTheSelectedLayerOnly) {
  const auto w = random_floats(16, 31);
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4] A, float[1, 4] B) => (float[1, 4] P, float[1, 4] Q)
    <float[4, 4] W = )" + float_literal(w) +
                           R"(>
    {
      P = MatMul(A, W)
      Q = MatMul(B, W)
    })";
  {
    auto model = model_from_text(text);
    ASSERT_OK(model);
    auto r = run_pass(*model, "prune-magnitude", {{"nodes", "Q"}});
    ASSERT_OK(r);
    EXPECT_EQ(r->nodes_changed, 1u);
    EXPECT_EQ(float_values(model->graph, "W"), w) << "P still reads the original";
    EXPECT_EQ(model->graph.node(0).inputs[1], "W");
    EXPECT_EQ(model->graph.node(1).inputs[1], "W_pruned");
    EXPECT_EQ(float_values(model->graph, "W_pruned"), pruned_by_definition(w, 8));
  }
  {
    auto model = model_from_text(text);
    ASSERT_OK(model);
    auto r = run_pass(*model, "prune-magnitude");
    ASSERT_OK(r);
    EXPECT_EQ(r->nodes_changed, 2u);
    EXPECT_EQ(model->graph.initializers().size(), 1u) << "pruned once, in place";
    EXPECT_EQ(model->graph.node(0).inputs[1], "W");
    EXPECT_EQ(model->graph.node(1).inputs[1], "W");
    EXPECT_EQ(float_values(model->graph, "W"), pruned_by_definition(w, 8));
    ASSERT_EQ(r->notes.size(), 1u);
    EXPECT_EQ(r->notes[0], "zeroed 8 of 16 weights in 2 layers (50.0%)");
  }
}

TEST(PruneMagnitude, WeightThatIsAlsoAGraphOutputIsNotChanged) {
  const auto w = random_floats(4, 41);
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2] A) => (float[1, 2] M, float[2, 2] W)
    <float[2, 2] W = )" + float_literal(w) +
                               R"(>
    { M = MatMul(A, W) })");
  ASSERT_OK(model);
  ASSERT_OK(run_pass(*model, "prune-magnitude"));
  EXPECT_EQ(float_values(model->graph, "W"), w);
  EXPECT_EQ(float_values(model->graph, model->graph.node(0).inputs[1]), pruned_by_definition(w, 2));
}

TEST(PruneMagnitude, ConstantInputAOfMatMulIsPrunedAndOthersAreSkipped) {
  const auto w = random_floats(6, 51);
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 2] B, float[2, 3] X, float[1, 1, 3, 3] I, float[1, 1, 1, 1] K,
       double[1, 1, 3, 3] DI) => (float[2, 2] P, float[2, 2] Q, float[1, 1, 3, 3] C,
                                   double[1, 1, 3, 3] D)
    <float[2, 3] W = )" + float_literal(w) +
                               R"(, double[1, 1, 1, 1] DW = {2.0}>
    {
      P = MatMul(W, B)
      Q = MatMul(X, B)
      C = Conv(I, K)
      D = Conv(DI, DW)
    })");
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "prune-magnitude");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_EQ(float_values(model->graph, "W"), pruned_by_definition(w, 3));
  ASSERT_EQ(r->skipped.size(), 3u);
  EXPECT_EQ(r->skipped[0].node, "Q");
  EXPECT_NE(r->skipped[0].reason.find("neither input"), std::string::npos) << r->skipped[0].reason;
  EXPECT_EQ(r->skipped[1].node, "C");
  EXPECT_NE(r->skipped[1].reason.find("weight 'K' is a graph input"), std::string::npos)
      << r->skipped[1].reason;
  EXPECT_EQ(r->skipped[2].node, "D");
  EXPECT_EQ(r->skipped[2].reason, "weight 'DW' is double, not float32");
  EXPECT_TRUE(model->graph.find_initializer("DW")->tensor.bitwise_equal(
      original.graph.find_initializer("DW")->tensor));

  auto pass = make_pass("prune-magnitude");
  ASSERT_OK(pass);
  EXPECT_EQ((*pass)->eligible_nodes(original), std::vector<std::string>{"P"});
}

TEST(PruneMagnitude, EligibleNodesAreLabelsInGraphOrder) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4] A) => (float[1, 4] Z)
    <float[4, 4] W1 = {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16}, float[4, 4] W2 = {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16},
     float[4, 4] W3 = {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16}>
    {
      X = MatMul(A, W1)
      R = Relu(X)
      second = Gemm(R, W2)
      Z = MatMul(second, W3)
    })");
  ASSERT_OK(model);
  model->graph.node(2).name = "fc";
  auto pass = make_pass("prune-magnitude");
  ASSERT_OK(pass);
  EXPECT_EQ((*pass)->eligible_nodes(*model), (std::vector<std::string>{"X", "fc", "Z"}));
  auto r = run_pass(*model, "prune-magnitude", {{"nodes", "fc"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
}

TEST(PruneMagnitude, BadOptionsAreInvalidArguments) {
  for (const char* bad : {"1", "1.5", "-0.1", "abc", "", "0.5x", "nan", "inf"}) {
    auto p = make_pass("prune-magnitude", {{"sparsity", bad}});
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find("'sparsity'"), std::string::npos) << p.status().message();
  }
  EXPECT_OK(make_pass("prune-magnitude", {{"sparsity", "0"}}));
  EXPECT_OK(make_pass("prune-magnitude", {{"sparsity", "0.999"}}));
  auto unknown = make_pass("prune-magnitude", {{"ratio", "0.5"}});
  EXPECT_EQ(unknown.status().code(), ErrorCode::kInvalidArgument);
}

TEST(PruneMagnitude, UnknownNodeLabelListsEligibleOnes) {
  ThreeLayers layers;
  auto model = model_from_text(layers.text());
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "prune-magnitude", {{"nodes", "F|nope"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "prune-magnitude: option 'nodes': 'nope' is not an eligible layer; eligible: 'Y', "
            "'F', 'M'");
  EXPECT_EQ(save_to_bytes(*model), save_to_bytes(original)) << "nothing changed on error";

  auto skipped = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2] A, float[2, 2] B) => (float[1, 2] M)
    { M = MatMul(A, B) })");
  ASSERT_OK(skipped);
  auto rs = run_pass(*skipped, "prune-magnitude", {{"nodes", "M"}});
  ASSERT_FALSE(rs.ok());
  EXPECT_NE(rs.status().message().find("'M' is not an eligible layer (neither input"),
            std::string::npos)
      << rs.status().message();
  EXPECT_NE(rs.status().message().find("the model has no eligible layers"), std::string::npos);
}

}  // namespace
}  // namespace compressor
