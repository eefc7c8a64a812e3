// prune-channels: for each pattern the channel groups follow, a graph in which some channels are
// zero beforehand (weights, bias and the BatchNormalization shift of those channels), pruned at a
// ratio that removes exactly them with criterion l1, must compute what the original computes;
// and for each refusal, the graph stays byte-identical and the reason is reported.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "compressor/exec/executor.h"
#include "compressor/io/samples.h"
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

// Random values of an [outer, n, inner] tensor whose slices along the middle axis listed in
// `zero` are zero.
std::vector<float> values(int64_t outer, int64_t n, int64_t inner, uint64_t seed,
                          const std::set<int64_t>& zero = {}) {
  auto v = random_floats(size_t(outer * n * inner), seed, 0.1f, 1.0f);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < n; ++c) {
      for (int64_t i = 0; i < inner; ++i) {
        if (zero.count(c)) v[size_t((o * n + c) * inner + i)] = 0.0f;
        // Mixed signs elsewhere, away from zero.
        else if ((o + c + i) % 3 == 0)
          v[size_t((o * n + c) * inner + i)] *= -1.0f;
      }
    }
  }
  return v;
}

// "float[dims] name = {...}" for an initializer.
std::string init(const std::string& name, const ir::Dims& dims, const std::vector<float>& v) {
  std::ostringstream out;
  out << "float[";
  for (size_t i = 0; i < dims.size(); ++i) out << (i ? ", " : "") << dims[i];
  out << "] " << name << " = " << literal(v);
  return out.str();
}

// A Conv weight [m, c, k, k] with output channels `zero` all zero.
std::string conv_w(const std::string& name, int64_t m, int64_t c, int64_t k, uint64_t seed,
                   const std::set<int64_t>& zero = {}) {
  return init(name, {m, c, k, k}, values(1, m, c * k * k, seed, zero));
}

std::string model_text(const std::string& signature, const std::vector<std::string>& inits,
                       const std::string& body, int opset = 13) {
  std::ostringstream out;
  out << "<ir_version: 8, opset_import: [\"\" : " << opset << "]>\n" << signature << "\n<";
  for (size_t i = 0; i < inits.size(); ++i) out << (i ? ",\n " : "") << inits[i];
  out << ">\n{\n" << body << "\n}";
  return out.str();
}

std::vector<std::vector<float>> run_all(const ir::Model& model,
                                        const std::vector<exec::NamedTensor>& inputs) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return {};
  auto out = (*ex)->run(inputs);
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return {};
  std::vector<std::vector<float>> res;
  for (const auto& t : *out) res.emplace_back(t.span<float>().begin(), t.span<float>().end());
  return res;
}

const ir::Tensor& weight(const ir::Model& m, const std::string& name) {
  const ir::Initializer* i = m.graph.find_initializer(name);
  EXPECT_NE(i, nullptr) << name;
  static const ir::Tensor empty;
  return i ? i->tensor : empty;
}

// Prunes the model of `text` with `options` and expects the outputs on random inputs of
// `x_dims` to be those of the original; returns the pruned model.
ir::Model expect_exact(const std::string& text, const ir::Dims& x_dims,
                       const pass::PassOptions& options) {
  auto model = model_from_text(text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (!model.ok()) return {};
  const ir::Model before = *model;
  auto r = run_pass(*model, "prune-channels", options);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return {};
  EXPECT_GT(r->nodes_changed, 0u);
  for (const auto& s : r->skipped) ADD_FAILURE() << "skipped " << s.node << ": " << s.reason;
  for (uint64_t seed = 10; seed < 12; ++seed) {
    const auto x = random_floats(size_t(ir::element_count(x_dims)), seed, -2.0f, 2.0f);
    const auto expected = run_all(before, {{"X", float_tensor(x_dims, x)}});
    const auto actual = run_all(*model, {{"X", float_tensor(x_dims, x)}});
    EXPECT_EQ(expected.size(), actual.size());
    for (size_t k = 0; k < std::min(expected.size(), actual.size()); ++k) {
      EXPECT_LT(max_rel_diff(expected[k], actual[k]), 1e-5) << "output " << k << " seed " << seed;
    }
  }
  return std::move(*model);
}

// Runs the pass and expects the model to stay byte-identical with a skip reason containing
// `reason`.
void expect_refused(const std::string& text, const std::string& reason,
                    const pass::PassOptions& options = {}) {
  auto model = model_from_text(text);
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto r = run_pass(*model, "prune-channels", options);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  EXPECT_EQ(save_to_bytes(*model), before) << "a refused group changed the model";
  bool found = false;
  std::string reasons;
  for (const auto& s : r->skipped) {
    found = found || s.reason.find(reason) != std::string::npos;
    reasons += "\n  " + s.node + ": " + s.reason;
  }
  EXPECT_TRUE(found) << "no skip reason mentions '" << reason << "':" << reasons;
}

TEST(PruneChannels, ConvBatchNormReluConv) {
  const std::set<int64_t> z = {1, 3};
  std::vector<float> beta = values(1, 4, 1, 3, z), mean = values(1, 4, 1, 4, z);
  const std::string text = model_text(
      "g (float[1, 2, 5, 5] X) => (float[1, 3, 5, 5] Y)",
      {conv_w("W1", 4, 2, 3, 1, z), init("B1", {4}, values(1, 4, 1, 2, z)),
       init("s", {4}, values(1, 4, 1, 5)), init("b", {4}, beta), init("mu", {4}, mean),
       init("v", {4}, random_floats(4, 6, 0.5f, 2.0f)), conv_w("W2", 3, 4, 1, 7),
       init("B2", {3}, values(1, 3, 1, 8)), "float[1, 4, 5, 5] R", "float[1, 2, 5, 5] X2"},
      R"(X2 = Identity(X)
         C = Conv <pads = [1, 1, 1, 1]> (X2, W1, B1)
         N = BatchNormalization(C, s, b, mu, v)
         R = Relu(N)
         Y = Conv(R, W2, B2))");
  ir::Model m = expect_exact(text, {1, 2, 5, 5}, {{"ratio", "0.5"}});
  EXPECT_EQ(weight(m, "W1").dims(), (ir::Dims{2, 2, 3, 3}));
  EXPECT_EQ(weight(m, "B1").dims(), (ir::Dims{2}));
  for (const char* p : {"s", "b", "mu", "v"}) EXPECT_EQ(weight(m, p).dims(), (ir::Dims{2})) << p;
  EXPECT_EQ(weight(m, "W2").dims(), (ir::Dims{3, 2, 1, 1}));
  // The declared shape of R (4 channels) is stale and dropped; X2's (no channels pruned) stays.
  std::vector<std::string> declared;
  for (const auto& vi : m.graph.value_info) declared.push_back(vi.name());
  EXPECT_EQ(declared, (std::vector<std::string>{"X2"}));
}

TEST(PruneChannels, ResidualAddSharesOneKeepSet) {
  const std::set<int64_t> z = {2};
  const std::string text =
      model_text("g (float[1, 2, 4, 4] X) => (float[1, 3, 4, 4] Y)",
                 {conv_w("WA", 4, 2, 1, 1, z), conv_w("WB", 4, 4, 3, 2, z),
                  init("BB", {4}, values(1, 4, 1, 3, z)), conv_w("WC", 3, 4, 1, 4)},
                 R"(A = Conv(X, WA)
         R = Relu(A)
         B = Conv <pads = [1, 1, 1, 1]> (R, WB, BB)
         S = Add(R, B)
         Y = Conv(S, WC))");
  ir::Model m = expect_exact(text, {1, 2, 4, 4}, {{"ratio", "0.25"}});
  EXPECT_EQ(weight(m, "WA").dims(), (ir::Dims{3, 2, 1, 1}));
  EXPECT_EQ(weight(m, "WB").dims(), (ir::Dims{3, 3, 3, 3}));
  EXPECT_EQ(weight(m, "WC").dims(), (ir::Dims{3, 3, 1, 1}));
}

TEST(PruneChannels, ConcatMapsEachInputToItsRange) {
  const std::string text = model_text(
      "g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y)",
      {conv_w("WA", 2, 2, 1, 1, {0}), conv_w("WB", 3, 2, 1, 2, {2}), conv_w("WC", 2, 7, 1, 3)},
      R"(A = Conv(X, WA)
         B = Conv(X, WB)
         C = Concat <axis = 1> (A, X, B)
         Y = Conv(C, WC))");
  ir::Model m = expect_exact(text, {1, 2, 3, 3}, {{"ratio", "0.5"}});
  EXPECT_EQ(weight(m, "WA").dims(), (ir::Dims{1, 2, 1, 1}));
  EXPECT_EQ(weight(m, "WB").dims(), (ir::Dims{2, 2, 1, 1}));
  EXPECT_EQ(weight(m, "WC").dims(), (ir::Dims{2, 5, 1, 1}));
}

TEST(PruneChannels, SplitSizesAreRewrittenPerPiece) {
  const std::string text =
      model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y, float[1, 2, 3, 3] Z)",
                 {conv_w("W", 4, 2, 1, 1, {0, 3}), "int64[2] sp = {2, 2}", conv_w("WP", 2, 2, 1, 2),
                  conv_w("WQ", 2, 2, 1, 3)},
                 R"(C = Conv(X, W)
         P, Q = Split <axis = 1> (C, sp)
         Y = Conv(P, WP)
         Z = Conv(Q, WQ))");
  ir::Model m = expect_exact(text, {1, 2, 3, 3}, {{"ratio", "0.5"}});
  EXPECT_EQ(weight(m, "W").dims(), (ir::Dims{2, 2, 1, 1}));
  auto sp = weight(m, "sp").span<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(sp.begin(), sp.end()), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(weight(m, "WP").dims(), (ir::Dims{2, 1, 1, 1}));
}

TEST(PruneChannels, DepthwiseConvFollowsItsInput) {
  const std::string text =
      model_text("g (float[1, 2, 4, 4] X) => (float[1, 3, 4, 4] Y)",
                 {conv_w("W1", 4, 2, 1, 1, {1}), init("WD", {4, 1, 3, 3}, values(1, 4, 9, 2)),
                  conv_w("W2", 3, 4, 1, 3)},
                 R"(C = Conv(X, W1)
         D = Conv <group = 4, pads = [1, 1, 1, 1]> (C, WD)
         R = Clip(D)
         Y = Conv(R, W2))");
  ir::Model m = expect_exact(text, {1, 2, 4, 4}, {{"ratio", "0.25"}});
  EXPECT_EQ(weight(m, "WD").dims(), (ir::Dims{3, 1, 3, 3}));
  EXPECT_EQ(m.graph.node(1).attr_int("group", 0), 3);
}

TEST(PruneChannels, FlattenAndReshapeIntoGemmDropBlocksOfRows) {
  for (const std::string flatten : {"F = Flatten <axis = 1> (R)", "F = Reshape(R, shp)"}) {
    SCOPED_TRACE(flatten);
    const std::string text =
        model_text("g (float[1, 2, 3, 3] X) => (float[1, 5] Y)",
                   {conv_w("W", 4, 2, 1, 1, {1}), init("B", {4}, values(1, 4, 1, 2, {1})),
                    init("G", {36, 5}, values(1, 36, 5, 3)), "int64[2] shp = {1, 36}"},
                   "C = Conv(X, W, B)\n R = Relu(C)\n " + flatten + "\n Y = Gemm(F, G)");
    ir::Model m = expect_exact(text, {1, 2, 3, 3}, {{"ratio", "0.25"}});
    EXPECT_EQ(weight(m, "G").dims(), (ir::Dims{27, 5}));
    if (flatten.find("Reshape") != std::string::npos) {
      EXPECT_EQ(weight(m, "shp").span<int64_t>()[1], 27);
    }
  }
}

TEST(PruneChannels, GlobalPoolFlattenGemmHead) {
  const std::string text =
      model_text("g (float[1, 2, 4, 4] X) => (float[1, 5] Y)",
                 {conv_w("W", 4, 2, 3, 1, {0, 2}), init("G", {5, 4}, values(1, 5, 4, 3)),
                  init("GB", {5}, values(1, 5, 1, 4))},
                 R"(C = Conv(X, W)
         P = GlobalAveragePool(C)
         F = Flatten(P)
         Y = Gemm <transB = 1> (F, G, GB))");
  ir::Model m = expect_exact(text, {1, 2, 4, 4}, {{"ratio", "0.5"}});
  EXPECT_EQ(weight(m, "G").dims(), (ir::Dims{5, 2}));
}

TEST(PruneChannels, TransformerFeedForwardHiddenUnits) {
  // W1 [4, 6] with hidden columns 1 and 4 zero (and their bias).
  std::vector<float> w1 = values(4, 6, 1, 1, {1, 4});
  const std::string text =
      model_text("g (float[2, 3, 4] X) => (float[2, 3, 4] Y)",
                 {init("W1", {4, 6}, w1), init("b1", {6}, values(1, 6, 1, 2, {1, 4})),
                  init("W2", {6, 4}, values(1, 6, 4, 3)), init("b2", {4}, values(1, 4, 1, 4))},
                 R"(H = MatMul(X, W1)
         HB = Add(H, b1)
         A = Relu(HB)
         O = MatMul(A, W2)
         Y = Add(O, b2))");
  ir::Model m = expect_exact(text, {2, 3, 4}, {{"ratio", "0.34"}});
  EXPECT_EQ(weight(m, "W1").dims(), (ir::Dims{4, 4}));
  EXPECT_EQ(weight(m, "b1").dims(), (ir::Dims{4}));
  EXPECT_EQ(weight(m, "W2").dims(), (ir::Dims{4, 4}));
}

TEST(PruneChannels, PoolResizeAndPerChannelConstants) {
  const std::string text =
      model_text("g (float[1, 2, 4, 4] X) => (float[1, 3, 4, 4] Y)",
                 {conv_w("W1", 4, 2, 1, 1, {3}), init("k", {1, 4, 1, 1}, values(1, 4, 1, 2)),
                  init("sc", {4}, {1.0f, 1.0f, 2.0f, 2.0f}), conv_w("W2", 3, 4, 1, 3)},
                 R"(C = Conv(X, W1)
         M = Mul(C, k)
         P = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (M)
         U = Resize <mode = "nearest"> (P, , sc)
         S = Sigmoid(U)
         Q = Mul(U, S)
         Y = Conv(Q, W2))");
  ir::Model m = expect_exact(text, {1, 2, 4, 4}, {{"ratio", "0.25"}});
  EXPECT_EQ(weight(m, "k").dims(), (ir::Dims{1, 3, 1, 1}));
  EXPECT_EQ(weight(m, "W2").dims(), (ir::Dims{3, 3, 1, 1}));
}

TEST(PruneChannels, SpatialPadIntoConvTranspose) {
  const std::string text =
      model_text("g (float[1, 2, 4, 4] X) => (float[1, 3, 7, 7] Y)",
                 {conv_w("W1", 4, 2, 1, 1, {0}), "int64[8] pads = {0, 0, 1, 1, 0, 0, 1, 1}",
                  init("WT", {4, 3, 2, 2}, values(1, 4, 12, 2))},
                 R"(C = Conv(X, W1)
         P = Pad(C, pads)
         Y = ConvTranspose(P, WT))");
  ir::Model m = expect_exact(text, {1, 2, 4, 4}, {{"ratio", "0.25"}});
  EXPECT_EQ(weight(m, "WT").dims(), (ir::Dims{3, 3, 2, 2}));
}

TEST(PruneChannels, FlattenOfUnknownSpatialSizeNotApplied) {
  expect_refused(model_text("g (float[1, 2, H, W] X) => (float[1, 5] Y)",
                            {conv_w("W", 4, 2, 1, 1), init("G", {36, 5}, values(1, 36, 5, 3))},
                            "C = Conv(X, W)\n F = Flatten(C)\n Y = Gemm(F, G)"),
                 "spatial size");
}

// --- refusals -------------------------------------------------------------------------------

TEST(PruneChannels, GraphOutputNotApplied) {
  expect_refused(model_text("g (float[1, 2, 3, 3] X) => (float[1, 4, 3, 3] R)",
                            {conv_w("W", 4, 2, 1, 1)}, "C = Conv(X, W)\n R = Relu(C)"),
                 "graph output 'R'");
}

TEST(PruneChannels, UnknownOperatorNotApplied) {
  expect_refused(model_text("g (float[1, 2, 3, 3] X) => (float[1, 4, 3, 3] Y)",
                            {conv_w("W", 4, 2, 1, 1), conv_w("W2", 4, 4, 1, 2)},
                            "C = Conv(X, W)\n S = Softmax <axis = 1> (C)\n Y = Conv(S, W2)"),
                 "Softmax is not understood");
}

TEST(PruneChannels, SharedInitializerNotApplied) {
  expect_refused(model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y)",
                            {conv_w("W", 2, 2, 1, 1), conv_w("W2", 2, 2, 1, 2)},
                            "C = Conv(X, W)\n D = Conv(C, W2)\n Y = Conv(D, W)"),
                 "also read elsewhere");
}

TEST(PruneChannels, GroupedConvNotApplied) {
  expect_refused(model_text("g (float[1, 2, 3, 3] X) => (float[1, 4, 3, 3] Y)",
                            {conv_w("W", 4, 2, 1, 1), conv_w("WG", 4, 2, 1, 2)},
                            "C = Conv(X, W)\n Y = Conv <group = 2> (C, WG)"),
                 "grouped Conv (group=2)");
}

TEST(PruneChannels, JoinWithUnprunedTensorNotApplied) {
  expect_refused(model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y)",
                            {conv_w("W", 2, 2, 1, 1), conv_w("W2", 2, 2, 1, 2)},
                            "C = Conv(X, W)\n S = Add(C, X)\n Y = Conv(S, W2)"),
                 "joins 'X'");
}

TEST(PruneChannels, ConcatOnOtherAxisNotApplied) {
  expect_refused(model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 6, 3] Y)",
                            {conv_w("W", 2, 2, 1, 1), conv_w("W2", 2, 2, 1, 2)},
                            "C = Conv(X, W)\n K = Concat <axis = 2> (C, C)\n Y = Conv(K, W2)"),
                 "another axis");
}

TEST(PruneChannels, BatchNormWithComputedScaleNotApplied) {
  // The BatchNormalization between the layers takes its scale from the graph input: it cannot be
  // sliced, so the group it carries stays as it is.
  expect_refused(model_text("g (float[1, 2, 3, 3] X, float[4] S) => (float[1, 2, 3, 3] Y)",
                            {conv_w("W", 4, 2, 1, 1), init("B", {4}, values(1, 4, 1, 2)),
                             init("M", {4}, values(1, 4, 1, 3)),
                             init("V", {4}, {1.0f, 1.0f, 1.0f, 1.0f}), conv_w("W2", 2, 4, 1, 2)},
                            R"(C = Conv(X, W)
         N = BatchNormalization(C, S, B, M, V)
         R = Relu(N)
         Y = Conv(R, W2))"),
                 "'S' is not a constant initializer");
}

TEST(PruneChannels, SplitPiecesJoinedTogetherNotApplied) {
  // A gated unit: the two halves of one Split are multiplied, so a channel kept in one half must
  // be kept in the other at another offset: not one keep-set.
  expect_refused(
      model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y)",
                 {conv_w("W", 4, 2, 1, 1), "int64[2] sp = {2, 2}", conv_w("W2", 2, 2, 1, 2)},
                 R"(C = Conv(X, W)
         P, Q = Split <axis = 1> (C, sp)
         G = Mul(P, Q)
         Y = Conv(G, W2))"),
      "channels come from different slices");
}

TEST(PruneChannels, ResizeToExplicitSizesNotApplied) {
  // Resize given its output sizes (channels included) cannot pass fewer channels through.
  expect_refused(
      model_text("g (float[1, 2, 2, 2] X) => (float[1, 2, 4, 4] Y)",
                 {conv_w("W", 4, 2, 1, 1), "int64[4] sz = {1, 4, 4, 4}", conv_w("W2", 2, 4, 1, 2)},
                 R"(C = Conv(X, W)
         U = Resize <mode = "nearest"> (C, , , sz)
         Y = Conv(U, W2))"),
      "explicit output sizes are not rewritten");
}

TEST(PruneChannels, FeedForwardIntoComputedWeightNotApplied) {
  // The hidden units meet a MatMul whose other side is computed, not a constant weight: its input
  // slice cannot be removed.
  expect_refused(
      model_text("g (float[2, 3, 4] X, float[6, 4] W2) => (float[2, 3, 4] Y)",
                 {init("W1", {4, 6}, values(4, 6, 1, 1)), init("b1", {6}, values(1, 6, 1, 2))},
                 R"(H = MatMul(X, W1)
         HB = Add(H, b1)
         A = Relu(HB)
         Y = MatMul(A, W2))"),
      "input B is not a constant float32 matrix");
}

TEST(PruneChannels, ExcludedProducerFixesTheResidualGroup) {
  const std::string text =
      model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y)",
                 {conv_w("WA", 2, 2, 1, 1), conv_w("WB", 2, 2, 1, 2), conv_w("WC", 2, 2, 1, 3)},
                 R"(A = Conv(X, WA)
         B = Conv(X, WB)
         S = Add(A, B)
         Y = Conv(S, WC))");
  expect_refused(text, "joins 'B'", {{"exclude", "B"}, {"ratio", "0.5"}});
}

// --- scoring and options --------------------------------------------------------------------

// The kept output channels of `pruned` W, found by matching rows of the original.
std::vector<int64_t> kept_rows(const ir::Tensor& original, const ir::Tensor& pruned) {
  const int64_t per = original.numel() / original.dims()[0];
  std::vector<int64_t> out;
  const auto o = original.span<float>(), p = pruned.span<float>();
  for (int64_t r = 0; r < pruned.dims()[0]; ++r) {
    for (int64_t c = 0; c < original.dims()[0]; ++c) {
      if (std::equal(p.begin() + r * per, p.begin() + (r + 1) * per, o.begin() + c * per)) {
        out.push_back(c);
        break;
      }
    }
  }
  return out;
}

TEST(PruneChannels, CriterionChoosesTheScore) {
  // Channel 0 has the largest weights but the smallest |gamma|; channel 2 the smallest weights.
  std::vector<float> w = values(1, 3, 2, 1);
  for (int i = 0; i < 2; ++i) {
    w[size_t(i)] *= 10.0f;
    w[size_t(4 + i)] *= 0.01f;
  }
  const std::string text =
      model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y)",
                 {init("W", {3, 2, 1, 1}, w), init("s", {3}, {0.01f, 1.0f, 2.0f}),
                  init("b", {3}, {0.0f, 0.0f, 0.0f}), init("mu", {3}, {0.0f, 0.0f, 0.0f}),
                  init("v", {3}, {1.0f, 1.0f, 1.0f}), conv_w("W2", 2, 3, 1, 2)},
                 "C = Conv(X, W)\n N = BatchNormalization(C, s, b, mu, v)\n Y = Conv(N, W2)");
  // Independent expectation: the channel with the smallest l1 norm, and the smallest |gamma|.
  int64_t min_l1 = 0;
  double best = INFINITY;
  for (int64_t c = 0; c < 3; ++c) {
    const double l1 = std::fabs(w[size_t(2 * c)]) + std::fabs(w[size_t(2 * c + 1)]);
    if (l1 < best) best = l1, min_l1 = c;
  }
  ASSERT_EQ(min_l1, 2);
  const ir::Tensor original = float_tensor({3, 2, 1, 1}, w);
  for (const auto& [criterion, removed] :
       std::vector<std::pair<std::string, int64_t>>{{"l1", 2}, {"l2", 2}, {"bn_scale", 0}}) {
    SCOPED_TRACE(criterion);
    auto m = model_from_text(text);
    ASSERT_OK(m);
    auto r = run_pass(*m, "prune-channels", {{"ratio", "0.34"}, {"criterion", criterion}});
    ASSERT_OK(r);
    std::vector<int64_t> expected;
    for (int64_t c = 0; c < 3; ++c) {
      if (c != removed) expected.push_back(c);
    }
    EXPECT_EQ(kept_rows(original, weight(*m, "W")), expected);
  }

  // activation: mean |x| per channel from the calibration table.
  pass::CalibrationTable table;
  pass::ChannelStats st;
  st.abs_mean = {3.0, 0.5, 2.0};
  table.channels["C"] = st;
  auto m = model_from_text(text);
  ASSERT_OK(m);
  auto r = run_pass_calibrated(*m, "prune-channels", table,
                               {{"ratio", "0.34"}, {"criterion", "activation"}});
  ASSERT_OK(r);
  EXPECT_EQ(kept_rows(original, weight(*m, "W")), (std::vector<int64_t>{0, 2}));

  // Without statistics, the group is left as it is.
  auto m2 = model_from_text(text);
  ASSERT_OK(m2);
  auto r2 = run_pass(*m2, "prune-channels", {{"criterion", "activation"}});
  ASSERT_OK(r2);
  ASSERT_FALSE(r2->skipped.empty());
  EXPECT_NE(r2->skipped[0].reason.find("no per-channel statistics"), std::string::npos);
}

TEST(PruneChannels, RoundToMinChannelsAndTies) {
  const std::string text =
      model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y)",
                 {init("W", {8, 2, 1, 1}, std::vector<float>(16, 0.5f)), conv_w("W2", 2, 8, 1, 2)},
                 "C = Conv(X, W)\n Y = Conv(C, W2)");
  auto kept = [&](const pass::PassOptions& o) {
    auto m = model_from_text(text);
    EXPECT_TRUE(m.ok());
    auto r = run_pass(*m, "prune-channels", o);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return weight(*m, "W").dims()[0];
  };
  EXPECT_EQ(kept({{"ratio", "0.5"}}), 4);
  EXPECT_EQ(kept({{"ratio", "0.5"}, {"round_to", "3"}}), 6);
  EXPECT_EQ(kept({{"ratio", "0.9"}, {"min_channels", "3"}}), 3);
  EXPECT_EQ(kept({{"ratio", "0.2"}}), 7);

  // Equal scores: the lower channel indices are kept, and the same input gives the same bytes.
  auto a = model_from_text(text), b = model_from_text(text);
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(run_pass(*a, "prune-channels", {{"ratio", "0.5"}}));
  ASSERT_OK(run_pass(*b, "prune-channels", {{"ratio", "0.5"}}));
  EXPECT_EQ(save_to_bytes(*a), save_to_bytes(*b));
  auto w2 = model_from_text(text);
  ASSERT_OK(w2);
  const ir::Tensor w2_before = weight(*w2, "W2");
  const auto p = weight(*a, "W2").span<float>();
  const auto o = w2_before.span<float>();
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(p[size_t(r * 4 + c)], o[size_t(r * 8 + c)]);
  }
}

TEST(PruneChannels, BadOptionsNameTheOption) {
  auto m = model_from_text(model_text("g (float[1, 2, 3, 3] X) => (float[1, 2, 3, 3] Y)",
                                      {conv_w("W", 2, 2, 1, 1)}, "Y = Conv(X, W)"));
  ASSERT_OK(m);
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"ratio", "1"}, {"round_to", "0"}, {"min_channels", "1.5"}, {"criterion", "l3"}}) {
    auto r = run_pass(*m, "prune-channels", {{key, value}});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().message();
  }
}

// The demo models: the pass runs, the result passes the checker (run_pass) and runs with the
// same output shapes, and every producer candidate appears in the ledger.
TEST(PruneChannels, DemoModelsStayValidAndRun) {
  for (const char* name : {"tiny_cnn", "tiny_mlp", "tiny_transformer"}) {
    SCOPED_TRACE(name);
    auto model = io::load_model(demo_model(name));
    ASSERT_OK(model);
    const ir::Model before = *model;
    auto r = run_pass(*model, "prune-channels");
    ASSERT_OK(r);
    EXPECT_FALSE(r->changes.empty());
    EXPECT_LT(io::initializer_bytes(model->graph), io::initializer_bytes(before.graph));
    std::mt19937_64 rng = io::sample_rng(7, 0);
    std::vector<exec::NamedTensor> sample;
    for (const ir::ValueInfo* in : io::user_inputs(before)) {
      auto t = io::random_input(*in, {}, std::nullopt, rng, nullptr);
      ASSERT_OK(t);
      sample.push_back({in->name(), std::move(*t)});
    }
    auto ex_before = exec::Executor::create(before, {.threads = 1});
    auto ex_after = exec::Executor::create(*model, {.threads = 1});
    ASSERT_OK(ex_before);
    ASSERT_OK(ex_after);
    auto out_before = (*ex_before)->run(sample);
    auto out_after = (*ex_after)->run(sample);
    ASSERT_OK(out_before);
    ASSERT_OK(out_after);
    ASSERT_EQ(out_before->size(), out_after->size());
    for (size_t k = 0; k < out_before->size(); ++k) {
      EXPECT_EQ((*out_before)[k].dims(), (*out_after)[k].dims());
    }
  }
}

}  // namespace
}  // namespace compressor
