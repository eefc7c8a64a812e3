// factorize-svd beyond 2-D Gemm and MatMul: Conv weights of an exact channel or spatial rank are
// reproduced at that rank through every stride, pad, dilation, group and auto_pad form (the
// factorized model computes what the original does, run by the executor); conv=auto picks the
// scheme the weight is low-rank in; batched MatMul weights are factorized per slice;
// data-aware factors give a smaller output error on the calibration inputs than plain ones at
// the same rank; group_ratios (the budget's option) and round_to set the ranks they promise.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "compressor/exec/executor.h"
#include "compressor/pass/registry.h"
#include "passes/layer_pass_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

std::string dims_text(const ir::Dims& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s;
}

/// Row-major [m, k] x [k, n] in double.
std::vector<double> product(const std::vector<float>& a, const std::vector<float>& b, int64_t m,
                            int64_t k, int64_t n) {
  std::vector<double> c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t t = 0; t < k; ++t) {
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += double(a[i * k + t]) * b[t * n + j];
    }
  }
  return c;
}

/// A Conv weight [cout, cin/g, kh, kw] whose every group, read as [cout/g, cin/g·kh·kw], has rank
/// `r` (channel rank).
std::vector<float> channel_rank_weight(int64_t cout, int64_t cin_g, int64_t kh, int64_t kw,
                                       int64_t groups, int64_t r, uint64_t seed) {
  const int64_t cout_g = cout / groups, row = cin_g * kh * kw;
  std::vector<float> w(cout * row);
  for (int64_t g = 0; g < groups; ++g) {
    const auto p = product(random_floats(cout_g * r, seed + 2 * g),
                           random_floats(r * row, seed + 2 * g + 1), cout_g, r, row);
    for (int64_t i = 0; i < cout_g * row; ++i) w[g * cout_g * row + i] = float(p[i]);
  }
  return w;
}

/// A Conv weight whose every group, read as [(cin/g)·kh, (cout/g)·kw] (rows: input channel and
/// kernel row, columns: output channel and kernel column), has rank `r` (spatial rank).
std::vector<float> spatial_rank_weight(int64_t cout, int64_t cin_g, int64_t kh, int64_t kw,
                                       int64_t groups, int64_t r, uint64_t seed) {
  const int64_t cout_g = cout / groups, rows = cin_g * kh, cols = cout_g * kw;
  std::vector<float> w(cout * cin_g * kh * kw);
  for (int64_t g = 0; g < groups; ++g) {
    const auto m = product(random_floats(rows * r, seed + 2 * g),
                           random_floats(r * cols, seed + 2 * g + 1), rows, r, cols);
    for (int64_t co = 0; co < cout_g; ++co) {
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        for (int64_t y = 0; y < kh; ++y) {
          for (int64_t x = 0; x < kw; ++x) {
            w[(((g * cout_g + co) * cin_g + ci) * kh + y) * kw + x] =
                float(m[(ci * kh + y) * cols + co * kw + x]);
          }
        }
      }
    }
  }
  return w;
}

struct ConvCase {
  std::string name;
  int64_t cin = 8, cout = 12, kh = 3, kw = 3, groups = 1;
  std::string attrs;  ///< Extra Conv attributes ("strides = [2, 1], ").
  int64_t h = 9, w = 10;
};

/// Y = Conv(X, W, B) with the case's geometry; the output shape is left for inference.
std::string conv_text(const ConvCase& c, const std::vector<float>& w) {
  std::ostringstream t;
  const ir::Dims wd = {c.cout, c.cin / c.groups, c.kh, c.kw};
  t << R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, )"
    << c.cin << ", " << c.h << ", " << c.w << R"(] X) => (float[n, c, h, w] Y)
    <float[)"
    << dims_text(wd) << "] W = " << float_literal(w) << ", float[" << c.cout
    << "] B = " << float_literal(random_floats(c.cout, 99)) << R"(>
    { Y = Conv <)"
    << c.attrs << "group = " << c.groups << "> (X, W, B) }";
  return t.str();
}

std::vector<float> run(const ir::Model& model, ir::Dims dims, const std::vector<float>& x) {
  auto exec = exec::Executor::create(model);
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  if (!exec.ok()) return {};
  auto out = (*exec)->run({{"X", float_tensor(std::move(dims), x)}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return {};
  auto s = (*out)[0].span<float>();
  return {s.begin(), s.end()};
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {"plain", 8, 12, 3, 3, 1, "", 9, 10},
      {"pads_strides", 8, 12, 3, 3, 1, "pads = [1, 0, 2, 1], strides = [2, 1], ", 9, 10},
      {"dilations", 8, 12, 3, 3, 1, "dilations = [2, 1], pads = [2, 1, 2, 1], ", 9, 10},
      {"groups", 8, 12, 3, 3, 2, "strides = [1, 2], pads = [1, 1, 1, 1], ", 9, 10},
      {"same_upper", 8, 12, 3, 3, 1, "auto_pad = \"SAME_UPPER\", strides = [2, 2], ", 9, 10},
      {"valid", 8, 12, 3, 5, 1, "auto_pad = \"VALID\", ", 9, 10},
      {"wide_kernel", 6, 16, 5, 3, 2, "pads = [2, 1, 2, 1], dilations = [1, 2], ", 11, 9},
  };
  return cases;
}

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class ConvSvd : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvSvd, ChannelSvdReproducesAConvOfThatRank) {
  const ConvCase& c = GetParam();
  const int64_t r = 2;
  const auto w = channel_rank_weight(c.cout, c.cin / c.groups, c.kh, c.kw, c.groups, r, 7);
  auto model = model_from_text(conv_text(c, w));
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto result = run_pass(*model, "factorize-svd", {{"rank", std::to_string(r)}});
  ASSERT_OK(result);
  ASSERT_EQ(result->nodes_changed, 1u);
  ASSERT_EQ(model->graph.node_count(), 2u);
  const ir::Node& first = model->graph.node(0);
  const ir::Node& second = model->graph.node(1);
  EXPECT_EQ(first.op_type, "Conv");
  EXPECT_EQ(first.attr_ints("kernel_shape"), (std::vector<int64_t>{c.kh, c.kw}));
  EXPECT_EQ(first.inputs.size(), 2u) << "the bias stays on the second Conv";
  EXPECT_EQ(second.attr_ints("kernel_shape"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(second.attr_int("group", 1), c.groups);
  EXPECT_EQ(second.inputs.at(2), "B");
  EXPECT_EQ(model->graph.find_initializer(first.inputs[1])->tensor.dims(),
            (ir::Dims{c.groups * r, c.cin / c.groups, c.kh, c.kw}));
  EXPECT_EQ(model->graph.find_initializer(second.inputs[1])->tensor.dims(),
            (ir::Dims{c.cout, r, 1, 1}));

  const ir::Dims xd = {2, c.cin, c.h, c.w};
  const auto x = random_floats(2 * c.cin * c.h * c.w, 5);
  EXPECT_LT(max_rel_diff(run(original, xd, x), run(*model, xd, x)), 1e-4);
}

TEST_P(ConvSvd, SpatialSvdReproducesAConvOfThatSpatialRank) {
  const ConvCase& c = GetParam();
  const int64_t r = 3;
  const auto w = spatial_rank_weight(c.cout, c.cin / c.groups, c.kh, c.kw, c.groups, r, 11);
  auto model = model_from_text(conv_text(c, w));
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto result =
      run_pass(*model, "factorize-svd", {{"rank", std::to_string(r)}, {"conv", "spatial"}});
  ASSERT_OK(result);
  ASSERT_EQ(result->nodes_changed, 1u)
      << (result->skipped.empty() ? "" : result->skipped[0].reason);
  const ir::Node& first = model->graph.node(0);
  const ir::Node& second = model->graph.node(1);
  EXPECT_EQ(first.attr_ints("kernel_shape"), (std::vector<int64_t>{c.kh, 1}));
  EXPECT_EQ(second.attr_ints("kernel_shape"), (std::vector<int64_t>{1, c.kw}));
  EXPECT_EQ(model->graph.find_initializer(first.inputs[1])->tensor.dims(),
            (ir::Dims{c.groups * r, c.cin / c.groups, c.kh, 1}));
  EXPECT_EQ(model->graph.find_initializer(second.inputs[1])->tensor.dims(),
            (ir::Dims{c.cout, r, 1, c.kw}));
  EXPECT_NE(result->changes.at(0).detail.find("spatial SVD"), std::string::npos);

  const ir::Dims xd = {2, c.cin, c.h, c.w};
  const auto x = random_floats(2 * c.cin * c.h * c.w, 6);
  EXPECT_LT(max_rel_diff(run(original, xd, x), run(*model, xd, x)), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Geometries, ConvSvd, ::testing::ValuesIn(conv_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(FactorizeConv, AutoPicksTheSchemeTheKernelIsLowRankIn) {
  const ConvCase c{"auto", 8, 12, 3, 3, 1, "pads = [1, 1, 1, 1], ", 8, 8};
  for (const bool spatial : {false, true}) {
    SCOPED_TRACE(spatial ? "spatially low-rank" : "channel low-rank");
    const auto w = spatial ? spatial_rank_weight(c.cout, c.cin, c.kh, c.kw, 1, 2, 3)
                           : channel_rank_weight(c.cout, c.cin, c.kh, c.kw, 1, 2, 3);
    auto model = model_from_text(conv_text(c, w));
    ASSERT_OK(model);
    const ir::Model original = *model;
    auto result = run_pass(*model, "factorize-svd", {{"energy", "0.9999"}, {"conv", "auto"}});
    ASSERT_OK(result);
    ASSERT_EQ(result->changes.size(), 1u);
    const std::string& detail = result->changes[0].detail;
    EXPECT_NE(detail.find(spatial ? "spatial SVD" : "channel SVD"), std::string::npos) << detail;
    EXPECT_NE(detail.find("rank 2 of"), std::string::npos) << detail;
    const ir::Dims xd = {2, c.cin, c.h, c.w};
    const auto x = random_floats(2 * c.cin * c.h * c.w, 8);
    EXPECT_LT(max_rel_diff(run(original, xd, x), run(*model, xd, x)), 1e-4);
  }
}

TEST(FactorizeConv, PointwiseConvSplitsLikeGemmAndDepthwiseIsLeftAlone) {
  const ConvCase pointwise{"pw", 16, 24, 1, 1, 1, "", 5, 5};
  const auto w = channel_rank_weight(24, 16, 1, 1, 1, 3, 13);
  auto model = model_from_text(conv_text(pointwise, w));
  ASSERT_OK(model);
  const ir::Model original = *model;
  // conv=spatial has nothing to split in a 1x1 kernel: channel SVD is used.
  auto r = run_pass(*model, "factorize-svd", {{"rank", "3"}, {"conv", "spatial"}});
  ASSERT_OK(r);
  ASSERT_EQ(r->nodes_changed, 1u);
  EXPECT_NE(r->changes[0].detail.find("channel SVD, W 16x24, rank 3 of 16"), std::string::npos)
      << r->changes[0].detail;
  const auto x = random_floats(2 * 16 * 25, 9);
  EXPECT_LT(max_rel_diff(run(original, {2, 16, 5, 5}, x), run(*model, {2, 16, 5, 5}, x)), 1e-4);

  const ConvCase depthwise{"dw", 8, 8, 3, 3, 8, "pads = [1, 1, 1, 1], ", 6, 6};
  auto dw = model_from_text(conv_text(depthwise, random_floats(8 * 9, 14)));
  ASSERT_OK(dw);
  const std::string before = save_to_bytes(*dw);
  auto skipped = run_pass(*dw, "factorize-svd", {{"rank", "1"}});
  ASSERT_OK(skipped);
  EXPECT_EQ(skipped->nodes_changed, 0u);
  ASSERT_EQ(skipped->skipped.size(), 1u);
  EXPECT_EQ(skipped->skipped[0].reason.rfind("no saving at rank 1", 0), 0u)
      << skipped->skipped[0].reason;
  EXPECT_EQ(save_to_bytes(*dw), before);
}

TEST(FactorizeConv, ConvTransposeIsLeftWithTheReason) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 8, 4, 4] X) => (float[n, c, h, w] Y)
    <float[8, 8, 3, 3] W = )" + float_literal(random_floats(8 * 8 * 9, 15)) +
                               R"(>
    { Y = ConvTranspose(X, W) })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "factorize-svd", {{"rank", "1"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("ConvTranspose is not factorized"), std::string::npos);
}

TEST(FactorizeConv, BatchedMatMulWeightIsFactorizedPerSlice) {
  const int64_t b = 3, m = 12, n = 10, r = 2;
  std::vector<float> w;
  for (int64_t s = 0; s < b; ++s) {
    for (double v : product(random_floats(m * r, 20 + s), random_floats(r * n, 30 + s), m, r, n)) {
      w.push_back(float(v));
    }
  }
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 4, 12] X) => (float[3, 4, 10] Y)
    <float[3, 12, 10] W = )" + float_literal(w) +
                               R"(>
    { Y = MatMul(X, W) })");
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto result = run_pass(*model, "factorize-svd", {{"rank", "2"}});
  ASSERT_OK(result);
  ASSERT_EQ(result->nodes_changed, 1u);
  EXPECT_EQ(model->graph.find_initializer(model->graph.node(0).inputs[1])->tensor.dims(),
            (ir::Dims{b, m, r}));
  EXPECT_EQ(model->graph.find_initializer(model->graph.node(1).inputs[1])->tensor.dims(),
            (ir::Dims{b, r, n}));
  EXPECT_NE(result->changes[0].detail.find("x3 slices"), std::string::npos);
  const auto x = random_floats(3 * 4 * 12, 21);
  EXPECT_LT(max_rel_diff(run(original, {3, 4, 12}, x), run(*model, {3, 4, 12}, x)), 1e-4);
}

// --- Data-aware factorization -------------------------------------------------------------------

/// Inputs scaled per channel by `scale` (Mul by a constant), then the layer: the layer's inputs
/// are strongly anisotropic, where fitting the outputs rather than the weights pays.
std::string anisotropic_text(const std::string& layer, const std::vector<float>& w,
                             const std::vector<float>& scale) {
  if (layer == "matmul") {
    return R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[8, 24] X) => (float[8, 20] Y)
      <float[24] S = )" +
           float_literal(scale) + ", float[24, 20] W = " + float_literal(w) + R"(>
      { Z = Mul(X, S)
        Y = MatMul(Z, W) })";
  }
  return R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[2, 6, 7, 7] X) => (float[n, c, h, w] Y)
      <float[6, 1, 1] S = )" +
         float_literal(scale) + ", float[10, 6, 3, 3] W = " + float_literal(w) + R"(>
      { Z = Mul(X, S)
        Y = Conv <pads = [1, 1, 1, 1]> (Z, W) })";
}

TEST(FactorizeDataAware, LowersTheOutputErrorOnTheCalibrationInputs) {
  for (const char* layer : {"matmul", "conv_channel", "conv_spatial"}) {
    SCOPED_TRACE(layer);
    const bool conv = std::string(layer) != "matmul";
    const size_t channels = conv ? 6 : 24;
    std::vector<float> scale(channels);
    for (size_t i = 0; i < channels; ++i) scale[i] = std::pow(0.5f, float(i % 6)) * 4.0f;
    const auto w = random_floats(conv ? 10 * 6 * 9 : 24 * 20, 40);
    auto loaded = model_from_text(anisotropic_text(layer, w, scale));
    ASSERT_OK(loaded);
    const ir::Model original = *loaded;
    const io::SampleSet samples = random_samples(original, 8, 41);
    const std::string options =
        std::string(conv && std::string(layer) == "conv_spatial" ? "conv=spatial," : "") +
        "rank=" + (conv ? "3" : "6");

    ir::Model plain = original, aware = original;
    auto rp = run_with_samples(plain, "factorize-svd{" + options + "}", samples);
    ASSERT_OK(rp);
    auto ra = run_with_samples(aware, "factorize-svd{" + options + ",data_aware=true}", samples);
    ASSERT_OK(ra);
    ASSERT_EQ((*ra)[0].result.nodes_changed, 1u);
    EXPECT_NE((*ra)[0].result.changes.at(0).detail.find("data-aware"), std::string::npos);
    const double e_plain = output_error(original, plain, samples);
    const double e_aware = output_error(original, aware, samples);
    EXPECT_LT(e_aware, 0.8 * e_plain) << "plain " << e_plain << ", data-aware " << e_aware;
  }
}

TEST(FactorizeDataAware, WithoutGramsTheLayerIsLeftWithTheReason) {
  auto model = model_from_text(
      anisotropic_text("matmul", random_floats(24 * 20, 42), std::vector<float>(24, 1.0f)));
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto r = run_pass_calibrated(*model, "factorize-svd", pass::CalibrationTable{},
                               {{"data_aware", "true"}, {"rank", "4"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("no Gram of its input"), std::string::npos);
  EXPECT_EQ(save_to_bytes(*model), before);
}

// --- Rank options -------------------------------------------------------------------------------

/// H1 = X·A [24 -> 40], H2 = H1·B [40 -> 30], Y = H2·C [30 -> 8].
std::string three_layers() {
  return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 24] X) => (float[2, 8] Y)
    <float[24, 40] A = )" +
         float_literal(random_floats(24 * 40, 50)) +
         ", float[40, 30] B = " + float_literal(random_floats(40 * 30, 51)) +
         ", float[30, 8] C = " + float_literal(random_floats(30 * 8, 52)) + R"(>
    { H1 = MatMul(X, A)
      H2 = MatMul(H1, B)
      Y = MatMul(H2, C) })";
}

int64_t first_factor_rank(const ir::Model& model, const std::string& second_output) {
  for (const auto& node : model.graph.nodes()) {
    if (node->outputs[0] != second_output) continue;
    const ir::Tensor& t = model.graph.find_initializer(node->inputs[1])->tensor;
    return t.dims()[0];
  }
  return -1;
}

TEST(FactorizeRanks, GroupRatiosFactorizeOnlyTheNamedLayers) {
  auto model = model_from_text(three_layers());
  ASSERT_OK(model);
  // H1: p = 24, removing 0.75 keeps ceil(6) = 6; H2: p = 30, removing 0.6 keeps 12.
  auto r = run_pass(*model, "factorize-svd", {{"group_ratios", "H1=0.75|H2=0.6"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  EXPECT_EQ(first_factor_rank(*model, "H1"), 6);
  EXPECT_EQ(first_factor_rank(*model, "H2"), 12);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].node, "Y");
  EXPECT_EQ(r->skipped[0].reason, "not chosen by the budget search");

  auto none = model_from_text(three_layers());
  ASSERT_OK(none);
  const std::string before = save_to_bytes(*none);
  auto empty = run_pass(*none, "factorize-svd", {{"group_ratios", ""}});
  ASSERT_OK(empty);
  EXPECT_EQ(empty->nodes_changed, 0u) << "an empty choice leaves every layer whole";
  EXPECT_EQ(save_to_bytes(*none), before);
}

TEST(FactorizeRanks, ChannelGroupsListEveryLayerThatCanSave) {
  auto model = model_from_text(three_layers());
  ASSERT_OK(model);
  auto p = pass::PassRegistry::builtin().create("factorize-svd", {{"rank", "20"}});
  ASSERT_OK(p);
  auto groups = (*p)->channel_groups(*model);
  ASSERT_OK(groups);
  ASSERT_EQ(groups->size(), 3u) << "whatever the rank options say";
  EXPECT_EQ((*groups)[0].producers, std::vector<std::string>{"H1"});
  EXPECT_EQ((*groups)[0].channels, 24);
  EXPECT_EQ((*groups)[1].channels, 30);
  EXPECT_EQ((*groups)[2].channels, 8);
}

TEST(FactorizeRanks, RoundToGivesMultiples) {
  auto model = model_from_text(three_layers());
  ASSERT_OK(model);
  // rank_ratio 0.3: ceil(7.2) = 8 for H1 (stays 8 with round_to 4), ceil(9) = 9 -> 8 for H2.
  auto r = run_pass(*model, "factorize-svd",
                    {{"rank_ratio", "0.3"}, {"round_to", "4"}, {"nodes", "H1|H2"}});
  ASSERT_OK(r);
  EXPECT_EQ(first_factor_rank(*model, "H1"), 8);
  EXPECT_EQ(first_factor_rank(*model, "H2"), 8);
}

TEST(FactorizeRanks, InvalidNewOptionsNameTheOption) {
  for (const auto& [options, expected] : std::vector<std::pair<pass::PassOptions, std::string>>{
           {{{"conv", "diagonal"}}, "'conv'"},
           {{{"svd", "fast"}}, "'svd'"},
           {{{"round_to", "0"}}, "'round_to'"},
           {{{"group_ratios", "H1"}}, "'group_ratios'"},
           {{{"group_ratios", "H1=1.5"}}, "'group_ratios'"},
           {{{"data_aware", "maybe"}}, "data_aware"}}) {
    SCOPED_TRACE(expected);
    auto p = pass::PassRegistry::builtin().create("factorize-svd", options);
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.status().message().find(expected), std::string::npos) << p.status().message();
  }
}

}  // namespace
}  // namespace compressor

namespace compressor {
namespace {
using namespace testing;

// svd=randomized on a layer with a decaying spectrum: the ledger says the randomized SVD ran,
// and the layer's weight error is within 1% of the exact SVD's at the same rank.
TEST(FactorizeRanks, RandomizedSvdIsCloseToExact) {
  const int64_t m = 120, n = 90, r = 8;
  // W = P diag(0.7^i) Q with Gaussian-like P [m, n] and Q [n, n]: a decaying spectrum.
  const auto p = random_floats(m * n, 70), q = random_floats(n * n, 71);
  std::vector<float> w(m * n, 0.0f);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t k = 0; k < n; ++k) {
      const double scale = std::pow(0.7, double(k)) * p[i * n + k];
      for (int64_t j = 0; j < n; ++j) w[i * n + j] += float(scale * q[k * n + j]);
    }
  }
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4, 120] X) => (float[4, 90] Y)
    <float[120, 90] W = )" +
                           float_literal(w) +
                           R"(>
    { Y = MatMul(X, W) })";
  auto weight_error = [&](const char* method, std::string* detail) {
    auto model = model_from_text(text);
    EXPECT_TRUE(model.ok());
    auto result = run_pass(*model, "factorize-svd", {{"rank", std::to_string(r)}, {"svd", method}});
    EXPECT_TRUE(result.ok() && result->changes.size() == 1u);
    if (!result.ok() || result->changes.empty()) return 0.0;
    *detail = result->changes[0].detail;
    const auto a = float_values(model->graph, model->graph.node(0).inputs[1]);
    const auto b = float_values(model->graph, model->graph.node(1).inputs[1]);
    double err = 0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double v = 0;
        for (int64_t k = 0; k < r; ++k) v += double(a[i * r + k]) * b[k * n + j];
        err += (v - w[i * n + j]) * (v - w[i * n + j]);
      }
    }
    return std::sqrt(err);
  };
  std::string exact_detail, randomized_detail;
  const double exact = weight_error("exact", &exact_detail);
  const double randomized = weight_error("randomized", &randomized_detail);
  EXPECT_EQ(exact_detail.find("randomized"), std::string::npos) << exact_detail;
  EXPECT_NE(randomized_detail.find("randomized SVD"), std::string::npos) << randomized_detail;
  EXPECT_GE(randomized, exact * (1 - 1e-6));
  EXPECT_LE(randomized, exact * 1.01);
}

}  // namespace
}  // namespace compressor
