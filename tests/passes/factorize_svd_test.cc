// factorize-svd: low-rank weights are reproduced exactly at their rank, the energy and rank
// options pick the ranks singular values known by construction call for, truncation loses
// exactly the dropped singular values (Eckart–Young), and every refusal leaves the model alone.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <Eigen/Dense>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include "compressor/exec/executor.h"
#include "compressor/pass/registry.h"
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

/// Row-major [m, k] x [k, n], accumulated in double.
std::vector<float> product(const std::vector<float>& a, const std::vector<float>& b, int64_t m,
                           int64_t k, int64_t n) {
  std::vector<float> c(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t t = 0; t < k; ++t) sum += double(a[i * k + t]) * b[t * n + j];
      c[i * n + j] = static_cast<float>(sum);
    }
  }
  return c;
}

/// An exact rank-`k` [m, n] matrix: the product of random [m, k] and [k, n] factors.
std::vector<float> rank_k_matrix(int64_t m, int64_t n, int64_t k, uint64_t seed) {
  return product(random_floats(m * k, seed), random_floats(k * n, seed + 1), m, k, n);
}

/// A [m, n] matrix with singular values `s` (descending): Q1 diag(s) Q2ᵀ, with Q1 and Q2 the
/// orthonormal factors of Householder QR decompositions of random matrices.
Eigen::MatrixXd with_singular_values(int64_t m, int64_t n, const std::vector<double>& s,
                                     uint64_t seed) {
  const int64_t p = static_cast<int64_t>(s.size());
  auto orthonormal = [p](int64_t rows, uint64_t sd) {
    auto r = random_floats(rows * p, sd);
    Eigen::MatrixXd a(rows, p);
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < p; ++j) a(i, j) = r[i * p + j];
    }
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(a);
    return Eigen::MatrixXd(qr.householderQ() * Eigen::MatrixXd::Identity(rows, p));
  };
  const Eigen::VectorXd sv = Eigen::Map<const Eigen::VectorXd>(s.data(), p);
  return orthonormal(m, seed) * sv.asDiagonal() * orthonormal(n, seed + 1).transpose();
}

std::vector<float> to_floats(const Eigen::MatrixXd& w) {
  std::vector<float> v(w.size());
  for (Eigen::Index i = 0; i < w.rows(); ++i) {
    for (Eigen::Index j = 0; j < w.cols(); ++j) v[i * w.cols() + j] = static_cast<float>(w(i, j));
  }
  return v;
}

/// Y = MatMul(X, W) with X float[batch dims..., K] and W float[K, N].
std::string matmul_text(const std::string& x_dims, int64_t k, int64_t n,
                        const std::vector<float>& w, const std::string& y_dims) {
  std::ostringstream t;
  t << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[)"
    << x_dims << "] X) => (float[" << y_dims << "] Y)\n    <float[" << k << ", " << n
    << "] W = " << literal(w) << ">\n    { Y = MatMul(X, W) }";
  return t.str();
}

/// Runs the model on one input and returns its first output.
std::vector<float> run(const ir::Model& model, const std::string& input, ir::Dims dims,
                       const std::vector<float>& x) {
  auto exec = exec::Executor::create(model);
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  if (!exec.ok()) return {};
  auto out = (*exec)->run({{input, float_tensor(std::move(dims), x)}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return {};
  auto s = (*out)[0].span<float>();
  return {s.begin(), s.end()};
}

const ir::Tensor& init(const ir::Model& model, const std::string& name) {
  const ir::Initializer* i = model.graph.find_initializer(name);
  EXPECT_NE(i, nullptr) << name;
  static const ir::Tensor empty;
  return i ? i->tensor : empty;
}

std::vector<float> floats(const ir::Tensor& t) {
  auto s = t.span<float>();
  return {s.begin(), s.end()};
}

/// The product of a factorized layer's two factors, [m, n].
std::vector<float> factor_product(const ir::Model& model, const ir::Node& first,
                                  const ir::Node& second) {
  const ir::Tensor& u = init(model, first.inputs[1]);
  const ir::Tensor& v = init(model, second.inputs[1]);
  return product(floats(u), floats(v), u.dims()[0], u.dims()[1], v.dims()[1]);
}

std::unique_ptr<pass::Pass> make_pass(const pass::PassOptions& options = {}) {
  auto p = pass::PassRegistry::builtin().create("factorize-svd", options);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? std::move(*p) : nullptr;
}

std::map<std::string, std::string> nodes_by_label(const ir::Model& m) {
  std::map<std::string, std::string> out;
  auto proto = io::to_proto(m);
  for (const auto& n : proto->graph().node()) {
    out[n.name().empty() ? n.output(0) : n.name()] = n.SerializeAsString();
  }
  return out;
}

TEST(FactorizeSvd, ExactLowRankMatMulReproducedAtItsRank) {
  const int64_t k = 24, n = 16, rank = 3;
  const auto w = rank_k_matrix(k, n, rank, 1);
  auto model = model_from_text(matmul_text("2, 5, 24", k, n, w, "2, 5, 16"));
  ASSERT_OK(model);
  const ir::Model original = *model;

  auto r = run_pass(*model, "factorize-svd", {{"rank", "3"}});  // also runs the ONNX checker
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_TRUE(r->skipped.empty());
  ASSERT_EQ(model->graph.node_count(), 2u);
  const ir::Node& first = model->graph.node(0);
  const ir::Node& second = model->graph.node(1);
  EXPECT_EQ(first.op_type, "MatMul");
  EXPECT_EQ(second.op_type, "MatMul");
  EXPECT_EQ(first.inputs[0], "X");
  EXPECT_EQ(second.inputs[0], first.outputs[0]);
  EXPECT_EQ(second.outputs[0], "Y");
  EXPECT_EQ(first.inputs[1], "Y_svd_u");
  EXPECT_EQ(second.inputs[1], "Y_svd_v");
  EXPECT_EQ(init(*model, "Y_svd_u").dims(), (ir::Dims{k, rank}));
  EXPECT_EQ(init(*model, "Y_svd_v").dims(), (ir::Dims{rank, n}));
  EXPECT_EQ(model->graph.find_initializer("W"), nullptr) << "the replaced weight is removed";
  EXPECT_OK(io::check_model(*model));

  EXPECT_LT(max_rel_diff(w, factor_product(*model, first, second)), 1e-5);
  const auto x = random_floats(2 * 5 * k, 3);
  EXPECT_LT(max_rel_diff(run(original, "X", {2, 5, k}, x), run(*model, "X", {2, 5, k}, x)), 1e-5);

  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0], "1 layer, params 384 -> 120 (rank 3 of 16)");
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "Y");
  EXPECT_NE(r->changes[0].detail.find("W 24x16, rank 3 of 16, energy kept 1.0000"),
            std::string::npos)
      << r->changes[0].detail;
}

TEST(FactorizeSvd, DefaultRankRatioIsHalfOfTheSmallerSide) {
  const auto w = random_floats(20 * 60, 4);
  auto model = model_from_text(matmul_text("4, 20", 20, 60, w, "4, 60"));
  ASSERT_OK(model);
  auto r = run_pass(*model, "factorize-svd");
  ASSERT_OK(r);
  EXPECT_EQ(init(*model, "Y_svd_u").dims(), (ir::Dims{20, 10}));
  EXPECT_EQ(r->notes[0], "1 layer, params 1,200 -> 800 (rank 10 of 20)");

  auto m2 = model_from_text(matmul_text("4, 20", 20, 60, w, "4, 60"));
  ASSERT_OK(m2);
  ASSERT_OK(run_pass(*m2, "factorize-svd", {{"rank_ratio", "0.3"}}));  // ceil(0.3 * 20) = 6
  EXPECT_EQ(init(*m2, "Y_svd_u").dims(), (ir::Dims{20, 6}));
}

TEST(FactorizeSvd, EnergyPicksTheRankTheSingularValuesCallFor) {
  const int64_t m = 30, n = 20;
  const std::vector<double> s = {9,   7,   5.5, 4,    3,    2,    1.5,   1,     0.7,   0.5,
                                 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005};
  const auto w = to_floats(with_singular_values(m, n, s, 5));
  double total = 0;
  for (double v : s) total += v * v;
  for (double energy : {0.5, 0.9, 0.99, 0.999}) {
    SCOPED_TRACE(energy);
    int64_t expected = 0;
    double kept = 0;
    while (kept < energy * total) {
      kept += s[expected] * s[expected];
      ++expected;
    }
    // Far enough from a boundary that float storage of W cannot move the answer.
    ASSERT_GT(kept - energy * total, 1e-5 * total);
    ASSERT_GT(energy * total - (kept - s[expected - 1] * s[expected - 1]), 1e-5 * total);

    auto model = model_from_text(matmul_text("3, 30", m, n, w, "3, 20"));
    ASSERT_OK(model);
    std::ostringstream e;
    e << energy;
    auto r = run_pass(*model, "factorize-svd", {{"energy", e.str()}});
    ASSERT_OK(r);
    ASSERT_EQ(r->nodes_changed, 1u);
    EXPECT_EQ(init(*model, "Y_svd_u").dims(), (ir::Dims{m, expected}));
    EXPECT_EQ(init(*model, "Y_svd_v").dims(), (ir::Dims{expected, n}));
    char fraction[32];
    std::snprintf(fraction, sizeof(fraction), "energy kept %.4f", kept / total);
    ASSERT_EQ(r->changes.size(), 1u);
    EXPECT_NE(r->changes[0].detail.find(fraction), std::string::npos) << r->changes[0].detail;
  }
}

TEST(FactorizeSvd, TruncationErrorIsTheDroppedSingularValues) {
  std::mt19937_64 gen(42);
  for (int trial = 0; trial < 12; ++trial) {
    const int64_t m = 8 + static_cast<int64_t>(gen() % 40);
    const int64_t n = 8 + static_cast<int64_t>(gen() % 40);
    const int64_t p = std::min(m, n);
    std::vector<double> s(p);
    std::uniform_real_distribution<double> dist(0.01, 5.0);
    for (auto& v : s) v = dist(gen);
    std::sort(s.rbegin(), s.rend());
    const int64_t rank = 1 + static_cast<int64_t>(gen() % ((m * n - 1) / (m + n)));  // saves
    SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n) + " rank " + std::to_string(rank));

    const auto w = to_floats(with_singular_values(m, n, s, 100 + trial));
    auto model =
        model_from_text(matmul_text("1, " + std::to_string(m), m, n, w, "1, " + std::to_string(n)));
    ASSERT_OK(model);
    auto r = run_pass(*model, "factorize-svd", {{"rank", std::to_string(rank)}});
    ASSERT_OK(r);
    ASSERT_EQ(r->nodes_changed, 1u);
    const auto approx = factor_product(*model, model->graph.node(0), model->graph.node(1));
    double error = 0, norm = 0, dropped = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      error += (double(w[i]) - approx[i]) * (double(w[i]) - approx[i]);
      norm += double(w[i]) * w[i];
    }
    for (int64_t i = rank; i < p; ++i) dropped += s[i] * s[i];
    // Float storage of W and of the factors moves singular values by about 1e-7 * ||W||.
    EXPECT_NEAR(std::sqrt(error), std::sqrt(dropped), 2e-6 * std::sqrt(norm));
  }
}

TEST(FactorizeSvd, GemmWithTransposesAlphaBetaAndBiasWithinTolerance) {
  // Y = 0.7 * Aᵀ * Bᵀ + 1.3 * C, with A stored [K, M] and B stored [N, K], B of rank 4.
  const int64_t mm = 5, k = 24, n = 18, rank = 4;
  const auto b = rank_k_matrix(n, k, rank, 6);
  const auto c = random_floats(n, 7);
  std::ostringstream t;
  t << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[24, 5] A) => (float[5, 18] Y)
    <float[18, 24] B = )"
    << literal(b) << ", float[18] C = " << literal(c) << R"(>
    { Y = Gemm <transA = 1, transB = 1, alpha = 0.7, beta = 1.3> (A, B, C) })";
  auto model = model_from_text(t.str());
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "factorize-svd", {{"rank", "4"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  ASSERT_EQ(model->graph.node_count(), 2u);
  const ir::Node& first = model->graph.node(0);
  const ir::Node& second = model->graph.node(1);
  EXPECT_EQ(first.op_type, "Gemm");
  EXPECT_EQ(first.attr_int("transA", 0), 1);
  EXPECT_EQ(first.inputs.size(), 2u);
  EXPECT_EQ(second.op_type, "Gemm");
  EXPECT_EQ(second.inputs[2], "C");
  EXPECT_FLOAT_EQ(second.attr_float("beta", 1.0f), 1.3f);
  EXPECT_EQ(second.attribute("alpha"), nullptr);
  EXPECT_EQ(second.attribute("transB"), nullptr);
  EXPECT_EQ(second.outputs[0], "Y");
  EXPECT_EQ(init(*model, first.inputs[1]).dims(), (ir::Dims{k, rank}));
  EXPECT_EQ(init(*model, second.inputs[1]).dims(), (ir::Dims{rank, n}));
  EXPECT_EQ(model->graph.find_initializer("B"), nullptr);

  // The factors hold 0.7 * Bᵀ.
  std::vector<float> expected(k * n);
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) expected[i * n + j] = 0.7f * b[j * k + i];
  }
  EXPECT_LT(max_rel_diff(expected, factor_product(*model, first, second)), 1e-5);
  const auto a = random_floats(k * mm, 8);
  EXPECT_LT(max_rel_diff(run(original, "A", {k, mm}, a), run(*model, "A", {k, mm}, a)), 1e-5);
}

TEST(FactorizeSvd, GemmWithoutBiasBecomesTwoMatMuls) {
  const int64_t k = 20, n = 24;
  const auto b = rank_k_matrix(k, n, 2, 9);
  std::ostringstream t;
  t << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 20] A) => (float[3, 24] Y)
    <float[20, 24] B = )"
    << literal(b) << R"(>
    { Y = Gemm <alpha = 2.0> (A, B) })";
  auto model = model_from_text(t.str());
  ASSERT_OK(model);
  const ir::Model original = *model;
  ASSERT_OK(run_pass(*model, "factorize-svd", {{"rank", "2"}}));
  EXPECT_EQ(count_ops(model->graph, "MatMul"), 2u);
  EXPECT_EQ(count_ops(model->graph, "Gemm"), 0u);
  EXPECT_TRUE(model->graph.node(1).attributes.empty());
  const auto a = random_floats(3 * k, 10);
  EXPECT_LT(max_rel_diff(run(original, "A", {3, k}, a), run(*model, "A", {3, k}, a)), 1e-5);
}

TEST(FactorizeSvd, DemoModelsKeepEveryLayerAtFullEnergy) {
  for (const char* name : {"tiny_mlp", "tiny_transformer"}) {
    SCOPED_TRACE(name);
    auto model = io::load_model(demo_model(name));
    ASSERT_OK(model);
    const ir::Model original = *model;
    auto r = run_pass(*model, "factorize-svd", {{"energy", "1"}});
    ASSERT_OK(r);
    EXPECT_EQ(r->nodes_changed, 0u) << "trained weights have full rank: nothing to save";
    EXPECT_EQ(save_to_bytes(*model), save_to_bytes(original));
    auto halved = run_pass(*model, "factorize-svd");
    ASSERT_OK(halved);
    EXPECT_GT(halved->nodes_changed, 0u);
  }
}

TEST(FactorizeSvd, SmallLayerWithoutSavingNotApplied) {
  // 4x3 at rank ceil(0.5 * 3) = 2: 2 * (4 + 3) = 14 >= 12.
  auto model = model_from_text(matmul_text("1, 4", 4, 3, random_floats(12, 11), "1, 3"));
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto r = run_pass(*model, "factorize-svd");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].node, "Y");
  EXPECT_EQ(r->skipped[0].reason.rfind("no saving at rank 2", 0), 0u) << r->skipped[0].reason;
  EXPECT_TRUE(r->notes.empty());
  EXPECT_EQ(save_to_bytes(*model), before);
  EXPECT_TRUE(make_pass()->eligible_nodes(*model).empty());
}

TEST(FactorizeSvd, NonConstantAndNonFloatWeightsNotApplied) {
  std::string ones = "1";
  for (int i = 1; i < 256; ++i) ones += ", 1";
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 16] X, float[16, 16] V, double[2, 16] D) => (float[2, 16] Y, double[2, 16] Z)
    <double[16, 16] Wd = {)" + ones +
                               R"(}>
    {
      Y = MatMul(X, V)
      Z = MatMul(D, Wd)
    })");
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto r = run_pass(*model, "factorize-svd");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 2u);
  EXPECT_EQ(r->skipped[0].node, "Y");
  EXPECT_NE(r->skipped[0].reason.find("not a constant initializer"), std::string::npos);
  EXPECT_EQ(r->skipped[1].node, "Z");
  EXPECT_NE(r->skipped[1].reason.find("not float32"), std::string::npos);
  EXPECT_EQ(save_to_bytes(*model), before);
}

TEST(FactorizeSvd, GemmWithTransABeforeOpset11NotApplied) {
  std::ostringstream t;
  t << R"(<ir_version: 5, opset_import: ["" : 9]>
    g (float[16, 2] A) => (float[2, 16] Y)
    <float[16, 16] B = )"
    << literal(random_floats(256, 12)) << R"(, float[16] C = )" << literal(random_floats(16, 13))
    << R"(>
    { Y = Gemm <transA = 1> (A, B, C) })";
  auto model = model_from_text(t.str());
  ASSERT_OK(model);
  auto r = run_pass(*model, "factorize-svd");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("before opset 11"), std::string::npos);
}

TEST(FactorizeSvd, SharedWeightStaysForItsOtherReader) {
  std::ostringstream t;
  t << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 16] X, float[16, 16] P) => (float[2, 16] Y, float[16, 16] Z)
    <float[16, 16] W = )"
    << literal(rank_k_matrix(16, 16, 2, 14)) << R"(>
    {
      Y = MatMul(X, W)
      Z = Add(P, W)
    })";
  auto model = model_from_text(t.str());
  ASSERT_OK(model);
  const ir::Tensor w = init(*model, "W");
  auto r = run_pass(*model, "factorize-svd", {{"rank", "2"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  ASSERT_NE(model->graph.find_initializer("W"), nullptr);
  EXPECT_TRUE(init(*model, "W").bitwise_equal(w));
  EXPECT_EQ(model->graph.node(2).op_type, "Add");
  EXPECT_EQ(model->graph.node(2).inputs[1], "W");
}

TEST(FactorizeSvd, WeightSharedByTwoFactorizedLayersIsRemoved) {
  std::ostringstream t;
  t << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 16] X) => (float[2, 16] Y, float[2, 16] Z)
    <float[16, 16] W = )"
    << literal(rank_k_matrix(16, 16, 2, 15)) << R"(>
    {
      Y = MatMul(X, W)
      Z = MatMul(Y, W)
    })";
  auto model = model_from_text(t.str());
  ASSERT_OK(model);
  auto r = run_pass(*model, "factorize-svd", {{"rank", "2"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  EXPECT_EQ(model->graph.find_initializer("W"), nullptr);
  EXPECT_EQ(model->graph.node_count(), 4u);
  EXPECT_EQ(r->notes[0], "2 layers, params 512 -> 128 (rank 2 of 16)");
}

// H1, H2 and Y save parameters at the default rank; Q reads a graph input; T's 40x1 does not
// save at any rank.
constexpr const char* kThreeLayers = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 16] X, float[40, 40] V) => (float[2, 8] Y)
    <float[16, 40] W1 = {W1}, float[40, 16] W2 = {W2}, float[16, 8] W3 = {W3},
     float[40, 1] S = {S}>
    {
      H1 = MatMul(X, W1)
      Q = MatMul(H1, V)
      T = MatMul(Q, S)
      H2 = MatMul(H1, W2)
      Y = MatMul(H2, W3)
    })";

std::string three_layers() {
  std::string text = kThreeLayers;
  auto fill = [&](const std::string& key, const std::vector<float>& v) {
    text.replace(text.find(key), key.size(), literal(v));
  };
  fill("{W1}", random_floats(640, 16));
  fill("{W2}", random_floats(640, 17));
  fill("{W3}", random_floats(128, 18));
  fill("{S}", random_floats(40, 19));
  return text;
}

TEST(FactorizeSvd, EligibleNodesInGraphOrder) {
  auto model = model_from_text(three_layers());
  ASSERT_OK(model);
  model->graph.node(3).name = "second";
  EXPECT_EQ(make_pass()->eligible_nodes(*model), (std::vector<std::string>{"H1", "second", "Y"}));
  // rank 6 saves on 16x40 (6 * 56 < 640) but not on 16x8 (6 * 24 >= 128).
  EXPECT_EQ(make_pass({{"rank", "6"}})->eligible_nodes(*model),
            (std::vector<std::string>{"H1", "second"}));
}

TEST(FactorizeSvd, NodesOptionLeavesOtherLayersByteIdentical) {
  auto model = model_from_text(three_layers());
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "factorize-svd", {{"nodes", "H2"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_TRUE(r->skipped.empty()) << "layers not asked for are not reported";
  const auto before = nodes_by_label(original);
  const auto after = nodes_by_label(*model);
  for (const char* label : {"H1", "Q", "T", "Y"}) {
    ASSERT_TRUE(after.count(label)) << label;
    EXPECT_EQ(after.at(label), before.at(label)) << label;
  }
  EXPECT_NE(after.at("H2"), before.at("H2"));
  for (const char* w : {"W1", "W3", "S"}) {
    EXPECT_TRUE(init(*model, w).bitwise_equal(init(original, w))) << w;
  }
  EXPECT_EQ(model->graph.find_initializer("W2"), nullptr);

  auto two = original;
  auto r2 = run_pass(two, "factorize-svd", {{"nodes", "H1|Y"}});
  ASSERT_OK(r2);
  EXPECT_EQ(r2->nodes_changed, 2u);
  EXPECT_NE(two.graph.find_initializer("W2"), nullptr);
}

TEST(FactorizeSvd, SameInputGivesSameBytes) {
  auto a = model_from_text(three_layers());
  ASSERT_OK(a);
  ir::Model b = *a;
  ASSERT_OK(run_pass(*a, "factorize-svd", {{"energy", "0.8"}}));
  ASSERT_OK(run_pass(b, "factorize-svd", {{"energy", "0.8"}}));
  EXPECT_EQ(save_to_bytes(*a, true), save_to_bytes(b, true));
}

Status create_status(const pass::PassOptions& options) {
  auto p = pass::PassRegistry::builtin().create("factorize-svd", options);
  return p.ok() ? ok_status() : p.status();
}

TEST(FactorizeSvd, InvalidOptionsNameTheOption) {
  const std::vector<std::pair<pass::PassOptions, std::string>> cases = {
      {{{"rank", "-1"}}, "'rank'"},
      {{{"rank", "2.5"}}, "'rank'"},
      {{{"rank", ""}}, "'rank'"},
      {{{"rank_ratio", "0"}}, "'rank_ratio'"},
      {{{"rank_ratio", "1.5"}}, "'rank_ratio'"},
      {{{"rank_ratio", "half"}}, "'rank_ratio'"},
      {{{"energy", "-0.1"}}, "'energy'"},
      {{{"energy", "1.01"}}, "'energy'"},
      {{{"energy", "nan"}}, "'energy'"},
      {{{"rank", "4"}, {"energy", "0.9"}}, "'rank' and 'energy'"},
      {{{"nodes", "a||b"}}, "'nodes'"},
      {{{"nodes", "a|"}}, "'nodes'"},
  };
  for (const auto& [options, expected] : cases) {
    Status st = create_status(options);
    SCOPED_TRACE(expected);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find(expected), std::string::npos) << st.message();
  }
  EXPECT_OK(create_status({{"rank", "0"}, {"energy", "0"}, {"rank_ratio", "1"}}));
}

TEST(FactorizeSvd, NodesOptionRefusesLabelsOfNoEligibleLayer) {
  for (const char* label : {"nope", "Q", "T"}) {  // unknown, non-constant weight, no saving
    SCOPED_TRACE(label);
    auto model = model_from_text(three_layers());
    ASSERT_OK(model);
    const std::string before = save_to_bytes(*model);
    auto r = run_pass(*model, "factorize-svd", {{"nodes", std::string("H1|") + label}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    const std::string& msg = r.status().message();
    EXPECT_NE(msg.find("'nodes'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("'") + label + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("eligible: 'H1', 'H2', 'Y'"), std::string::npos) << msg;
    EXPECT_EQ(save_to_bytes(*model), before) << "a refused option changes nothing";
  }
}

}  // namespace
}  // namespace compressor
