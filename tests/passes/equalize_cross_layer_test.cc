// equalize-cross-layer: the rewritten model computes what the original did (both run through the
// executor), the per-channel weight ranges of each pair end up equal and their spread shrinks
// (ranges recomputed here from the weights, with an independent grouped-channel mapping), and
// every precondition has a case where the pair is left alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "compressor/exec/executor.h"
#include "passes/layer_pass_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

// w with row (axis 0) i multiplied by f[i].
std::vector<float> scale_rows(std::vector<float> w, const std::vector<float>& f) {
  const size_t inner = w.size() / f.size();
  for (size_t i = 0; i < w.size(); ++i) w[i] *= f[i / inner];
  return w;
}

// max |w| over output channel (axis 0) i.
std::vector<double> out_ranges(const std::vector<float>& w, int64_t channels) {
  std::vector<double> r(static_cast<size_t>(channels), 0.0);
  const size_t inner = w.size() / r.size();
  for (size_t i = 0; i < w.size(); ++i)
    r[i / inner] = std::max(r[i / inner], double(std::fabs(w[i])));
  return r;
}

// max |w| over every weight of a Conv [n, c/group, kh, kw] that reads input channel ch.
std::vector<double> in_ranges(const std::vector<float>& w, const ir::Dims& dims, int64_t group) {
  const int64_t n = dims[0], cpg = dims[1], k = dims[2] * dims[3];
  std::vector<double> r(static_cast<size_t>(cpg * group), 0.0);
  for (int64_t o = 0; o < n; ++o) {
    const int64_t g = o / (n / group);
    for (int64_t c = 0; c < cpg; ++c) {
      const int64_t ch = g * cpg + c;
      for (int64_t j = 0; j < k; ++j) {
        r[ch] = std::max(r[ch], double(std::fabs(w[(o * cpg + c) * k + j])));
      }
    }
  }
  return r;
}

double spread(const std::vector<double>& r) {
  return *std::max_element(r.begin(), r.end()) / *std::min_element(r.begin(), r.end());
}

void expect_equal_ranges(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 1e-5 * std::max(a[i], b[i])) << "channel " << i;
  }
}

// Every element of row i of `weight` and element i of `bias` changed by the same factor.
void expect_bias_follows_rows(const ir::Model& before, const ir::Model& after,
                              const std::string& weight, const std::string& bias) {
  const auto w0 = float_values(before.graph, weight), w1 = float_values(after.graph, weight);
  const auto b0 = float_values(before.graph, bias), b1 = float_values(after.graph, bias);
  ASSERT_EQ(b0.size(), b1.size());
  const size_t inner = w0.size() / b0.size();
  for (size_t i = 0; i < w0.size(); ++i) {
    const double factor = double(b1[i / inner]) / b0[i / inner];
    EXPECT_NEAR(w1[i], w0[i] * factor, 1e-6 * std::fabs(w0[i] * factor) + 1e-30)
        << weight << " element " << i;
  }
}

std::vector<float> run_model(const ir::Model& model, const std::vector<float>& x,
                             const ir::Dims& dims, const std::string& input) {
  return run_float_output(model, {{input, float_tensor(dims, x)}});
}

// Outputs of `a` and `b` on a few seeded random inputs agree to `tol` (relative).
void expect_same_outputs(const ir::Model& a, const ir::Model& b, const ir::Dims& dims,
                         double tol = 1e-5, const std::string& input = "X") {
  for (uint64_t seed = 100; seed < 103; ++seed) {
    const auto x = random_floats(size_t(ir::element_count(dims)), seed, -2.0f, 2.0f);
    const auto ya = run_model(a, x, dims, input);
    const auto yb = run_model(b, x, dims, input);
    ASSERT_FALSE(ya.empty());
    ASSERT_EQ(ya.size(), yb.size());
    EXPECT_LT(max_rel_diff(ya, yb), tol) << "seed " << seed;
  }
}

// Channel scales far apart, as folded BatchNorms of depthwise-separable nets leave them.
const std::vector<float> kUnbalanced = {100.0f, 0.01f, 3.0f, 0.2f, 40.0f, 0.05f, 1.0f, 7.0f};
const std::vector<float> kUnbalancedDw = {0.1f, 20.0f, 1.0f, 5.0f, 0.02f, 30.0f, 2.0f, 0.5f};

// conv (3 -> 8, 3x3) -> Relu -> depthwise conv (8, 3x3) -> Relu -> 1x1 conv (8 -> 4).
std::string separable_model() {
  const auto w1 = scale_rows(random_floats(8 * 3 * 9, 1), kUnbalanced);
  const auto b1 = scale_rows(random_floats(8, 2), kUnbalanced);
  const auto w2 = scale_rows(random_floats(8 * 9, 3), kUnbalancedDw);
  const auto b2 = random_floats(8, 4);
  const auto w3 = random_floats(4 * 8, 5);
  const auto b3 = random_floats(4, 6);
  std::ostringstream s;
  s << R"(<ir_version: 8, opset_import: ["" : 13]>
sep (float[1, 3, 6, 6] X) => (float[1, 4, 6, 6] Y)
<float[8, 3, 3, 3] W1 = )"
    << float_literal(w1) << ", float[8] B1 = " << float_literal(b1)
    << ", float[8, 1, 3, 3] W2 = " << float_literal(w2) << ", float[8] B2 = " << float_literal(b2)
    << ", float[4, 8, 1, 1] W3 = " << float_literal(w3) << ", float[4] B3 = " << float_literal(b3)
    << R"(>
{
  A = Conv <pads = [1, 1, 1, 1]> (X, W1, B1)
  RA = Relu(A)
  D = Conv <pads = [1, 1, 1, 1], group = 8> (RA, W2, B2)
  RD = Relu(D)
  Y = Conv(RD, W3, B3)
})";
  return s.str();
}

TEST(EqualizeCrossLayer, SeparableChainIsExactAndBalanced) {
  auto original = model_from_text(separable_model());
  ASSERT_OK(original);
  ir::Model m = *original;
  auto r = run_pass(m, "equalize-cross-layer");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 3u);
  EXPECT_TRUE(r->skipped.empty());
  ASSERT_EQ(r->changes.size(), 2u);
  EXPECT_EQ(r->changes[0].node, "A -> D");
  EXPECT_EQ(r->changes[1].node, "D -> Y");
  EXPECT_NE(r->changes[0].detail.find("8 channels, range ratio max/min"), std::string::npos)
      << r->changes[0].detail;
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("converged"), std::string::npos) << r->notes[0];

  expect_same_outputs(*original, m, {1, 3, 6, 6});

  const auto w1 = float_values(m.graph, "W1"), w2 = float_values(m.graph, "W2"),
             w3 = float_values(m.graph, "W3");
  const double before = spread(out_ranges(float_values(original->graph, "W1"), 8));
  const double after = spread(out_ranges(w1, 8));
  EXPECT_GT(before, 1000.0);
  EXPECT_LT(after, before / 100) << before << " -> " << after;
  // Each pair's ranges meet: conv1 rows = depthwise channels = pointwise input columns.
  expect_equal_ranges(out_ranges(w1, 8), in_ranges(w2, {8, 1, 3, 3}, 8));
  expect_equal_ranges(out_ranges(w2, 8), in_ranges(w3, {4, 8, 1, 1}, 1));
  // The first conv's bias moves with its rows (the depthwise bias follows only its output
  // scaling, which the exact outputs check); the last layer's output channels keep their scale.
  expect_bias_follows_rows(*original, m, "W1", "B1");
  EXPECT_EQ(float_values(m.graph, "B3"), float_values(original->graph, "B3"));
}

// conv (3 -> 8) -> act -> conv2 (8 -> 8) with group `group`; no activation when `act` is empty.
std::string pair_model(const std::string& act, int64_t group) {
  const int64_t cpg = 8 / group;
  const auto w1 = scale_rows(random_floats(8 * 3 * 9, 11), kUnbalanced);
  const auto b1 = scale_rows(random_floats(8, 12), kUnbalanced);
  const auto w2 = random_floats(size_t(8 * cpg * 9), 13);
  const auto slope = random_floats(8, 14, 0.05f, 0.5f);
  std::ostringstream s;
  s << R"(<ir_version: 8, opset_import: ["" : 13]>
pair (float[1, 3, 5, 5] X) => (float[1, 8, 3, 3] Y)
<float[8, 3, 3, 3] W1 = )"
    << float_literal(w1) << ", float[8] B1 = " << float_literal(b1) << ", float[8, " << cpg
    << ", 3, 3] W2 = " << float_literal(w2) << ", float[8, 1, 1] S = " << float_literal(slope)
    << ", float lo = {0.0}, float hi = {6.0}"
    << R"(>
{
  A = Conv <pads = [1, 1, 1, 1]> (X, W1, B1)
)";
  if (act == "PRelu") {
    s << "  R = PRelu(A, S)\n";
  } else if (act == "LeakyRelu") {
    s << "  R = LeakyRelu <alpha = 0.1> (A)\n";
  } else if (act == "Clip") {
    s << "  R = Clip(A, lo, hi)\n";
  } else if (!act.empty()) {
    s << "  R = " << act << "(A)\n";
  }
  s << "  Y = Conv <group = " << group << "> (" << (act.empty() ? "A" : "R") << ", W2)\n}";
  return s.str();
}

TEST(EqualizeCrossLayer, GroupedConvAndEveryHomogeneousActivationAreExact) {
  for (const char* act : {"", "Relu", "LeakyRelu", "PRelu"}) {
    for (int64_t group : {1, 2, 4}) {
      SCOPED_TRACE(std::string("activation '") + act + "', group " + std::to_string(group));
      auto original = model_from_text(pair_model(act, group));
      ASSERT_OK(original);
      ir::Model m = *original;
      auto r = run_pass(m, "equalize-cross-layer");
      ASSERT_OK(r);
      EXPECT_EQ(r->nodes_changed, 2u);
      ASSERT_EQ(r->changes.size(), 1u);
      EXPECT_EQ(r->changes[0].node, "A -> Y");
      expect_same_outputs(*original, m, {1, 3, 5, 5});
      const auto w1 = float_values(m.graph, "W1");
      expect_equal_ranges(out_ranges(w1, 8),
                          in_ranges(float_values(m.graph, "W2"), {8, 8 / group, 3, 3}, group));
      // One pair is balanced in one step: both ranges become sqrt(r1 * r2) of the originals.
      const auto r1 = out_ranges(float_values(original->graph, "W1"), 8);
      const auto r2 = in_ranges(float_values(original->graph, "W2"), {8, 8 / group, 3, 3}, group);
      std::vector<double> mean(8);
      for (size_t i = 0; i < 8; ++i) mean[i] = std::sqrt(r1[i] * r2[i]);
      expect_equal_ranges(out_ranges(w1, 8), mean);
      EXPECT_LT(spread(out_ranges(w1, 8)), spread(r1) / 50);
      expect_bias_follows_rows(*original, m, "W1", "B1");
      // PRelu(x / s) = PRelu(x) / s: the slope is kept.
      EXPECT_EQ(float_values(m.graph, "S"), float_values(original->graph, "S"));
    }
  }
}

// Leaves the model byte-identical and reports the pair with a reason containing `expected`.
void expect_skipped(const std::string& text, const std::string& pair, const std::string& expected,
                    const pass::PassOptions& options = {}) {
  auto original = model_from_text(text);
  ASSERT_OK(original);
  ir::Model m = *original;
  auto r = run_pass(m, "equalize-cross-layer", options);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  EXPECT_TRUE(r->changes.empty());
  EXPECT_EQ(save_to_bytes(m), save_to_bytes(*original));
  const auto it = std::find_if(r->skipped.begin(), r->skipped.end(),
                               [&](const pass::SkippedNode& s) { return s.node == pair; });
  ASSERT_NE(it, r->skipped.end()) << "'" << pair << "' not reported as skipped";
  EXPECT_NE(it->reason.find(expected), std::string::npos) << it->reason;
}

TEST(EqualizeCrossLayer, Relu6BetweenIsSkipped) {
  expect_skipped(pair_model("Clip", 1), "A -> Y", "Clip node producing 'R'");
  expect_skipped(pair_model("HardSigmoid", 2), "A -> Y",
                 "HardSigmoid node producing 'R' between them is not");
  expect_skipped(pair_model("Sigmoid", 1), "A -> Y", "Sigmoid");
}

TEST(EqualizeCrossLayer, UnfoldedBatchNormalizationIsSkippedWithAHint) {
  std::string text = pair_model("Relu", 1);
  text.replace(text.find("  R = Relu(A)\n"), 14,
               "  N = BatchNormalization(A, S8, S8, Z8, S8)\n  R = Relu(N)\n");
  text.replace(text.find(", float lo"), 0,
               ", float[8] S8 = {1, 1, 1, 1, 1, 1, 1, 1}, float[8] Z8 = {0, 0, 0, 0, 0, 0, 0, 0}");
  expect_skipped(text, "A -> Y", "fold-batchnorm");
}

TEST(EqualizeCrossLayer, OtherReadersOfTheIntermediateAreSkipped) {
  std::string text = pair_model("Relu", 1);
  // conv1's output is also a graph output.
  std::string as_output = text;
  as_output.replace(as_output.find("float[1, 8, 3, 3] Y)"), 20,
                    "float[1, 8, 3, 3] Y, float[1, 8, 5, 5] A)");
  expect_skipped(as_output, "A -> Y", "'A' is also a graph output");
  // conv1's output has a second reader.
  std::string second = text;
  second.replace(second.find("float[1, 8, 3, 3] Y)"), 20,
                 "float[1, 8, 3, 3] Y, float[1, 8, 5, 5] E)");
  second.replace(second.find("  R = Relu(A)\n"), 0, "  E = Sigmoid(A)\n");
  expect_skipped(second, "A -> Y", "'A' has 2 readers");
  // The activation's output has a second reader.
  std::string act_reader = text;
  act_reader.replace(act_reader.find("float[1, 8, 3, 3] Y)"), 20,
                     "float[1, 8, 3, 3] Y, float[1, 8, 5, 5] R)");
  expect_skipped(act_reader, "A -> Y", "'R' is also a graph output");
}

TEST(EqualizeCrossLayer, SharedWeightIsSkipped) {
  std::string text = pair_model("Relu", 1);
  text.replace(text.find("float[1, 8, 3, 3] Y)"), 20, "float[1, 8, 3, 3] Y, float[1, 8, 3, 3] V)");
  text.replace(text.find("\n}"), 0, "\n  V = Conv(X, W1, B1)");
  expect_skipped(text, "A -> Y", "weight 'W1' is shared with other nodes");
}

// The demo CNN after fold-batchnorm: conv -> Relu -> conv twice (the second pair inside a
// residual block); before folding, both pairs are reported with the hint.
TEST(EqualizeCrossLayer, DemoCnnAfterFoldingBatchNorm) {
  auto original = io::load_model(demo_model("tiny_cnn"));
  ASSERT_OK(original);
  ir::Model unfolded = *original;
  auto skipped = run_pass(unfolded, "equalize-cross-layer");
  ASSERT_OK(skipped);
  EXPECT_EQ(skipped->nodes_changed, 0u);
  ASSERT_EQ(skipped->skipped.size(), 2u);
  EXPECT_NE(skipped->skipped[0].reason.find("fold-batchnorm"), std::string::npos);

  ir::Model folded = *original;
  ASSERT_OK(run_pass(folded, "fold-batchnorm"));
  ir::Model m = folded;
  auto r = run_pass(m, "equalize-cross-layer");
  ASSERT_OK(r);
  EXPECT_EQ(r->changes.size(), 2u);
  EXPECT_EQ(r->nodes_changed, 4u);
  expect_same_outputs(folded, m, {2, 1, 8, 8}, 1e-5, "input");
}

TEST(EqualizeCrossLayer, DeterministicAndIdempotentOnBalancedWeights) {
  auto original = model_from_text(separable_model());
  ASSERT_OK(original);
  ir::Model a = *original, b = *original;
  ASSERT_OK(run_pass(a, "equalize-cross-layer"));
  ASSERT_OK(run_pass(b, "equalize-cross-layer"));
  for (const char* w : {"W1", "B1", "W2", "W3"}) {
    EXPECT_TRUE(
        a.graph.find_initializer(w)->tensor.bitwise_equal(b.graph.find_initializer(w)->tensor))
        << w;
  }
  EXPECT_EQ(save_to_bytes(a), save_to_bytes(b));
  // A second run finds the ranges already balanced: scales stay within 1e-5 of 1.
  const auto w1 = float_values(a.graph, "W1");
  auto again = run_pass(a, "equalize-cross-layer");
  ASSERT_OK(again);
  const auto w1_again = float_values(a.graph, "W1");
  for (size_t i = 0; i < w1.size(); ++i) {
    EXPECT_NEAR(w1_again[i], w1[i], 1e-5 * std::fabs(w1[i])) << i;
  }
}

TEST(EqualizeCrossLayer, NodesOptionRestrictsToChainsStartingThere) {
  auto original = model_from_text(separable_model());
  ASSERT_OK(original);
  ir::Model m = *original;
  auto r = run_pass(m, "equalize-cross-layer", {{"nodes", "D"}});
  ASSERT_OK(r);
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "D -> Y");
  EXPECT_EQ(float_values(m.graph, "W1"), float_values(original->graph, "W1"));
  expect_equal_ranges(out_ranges(float_values(m.graph, "W2"), 8),
                      in_ranges(float_values(m.graph, "W3"), {4, 8, 1, 1}, 1));
  expect_same_outputs(*original, m, {1, 3, 6, 6});

  ir::Model bad = *original;
  auto refused = run_pass(bad, "equalize-cross-layer", {{"nodes", "Y"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("'Y'"), std::string::npos);
  for (const char* n : {"0", "1.5", "x"}) {
    auto p = make_pass("equalize-cross-layer", {{"iterations", n}});
    ASSERT_FALSE(p.ok()) << n;
    EXPECT_NE(p.status().message().find("iterations"), std::string::npos);
  }
}

TEST(EqualizeCrossLayer, OneIterationBalancesTheLastPairOnly) {
  auto original = model_from_text(separable_model());
  ASSERT_OK(original);
  ir::Model m = *original;
  auto r = run_pass(m, "equalize-cross-layer", {{"iterations", "1"}});
  ASSERT_OK(r);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("iteration limit"), std::string::npos) << r->notes[0];
  expect_same_outputs(*original, m, {1, 3, 6, 6});
  expect_equal_ranges(out_ranges(float_values(m.graph, "W2"), 8),
                      in_ranges(float_values(m.graph, "W3"), {4, 8, 1, 1}, 1));
}

}  // namespace
}  // namespace compressor
