// prune-unstructured: zero counts per layer and per row, N:M groups checked group by group for
// Gemm, MatMul and Conv (channels at each kernel tap), global scope, per-layer overrides,
// skip_first_last, SparseGPT's views and Grams against the core, Wanda's choice recomputed from |w|
// times the input channel norms (given a table and calibrated through the pipeline), skips, shared
// weights, bad options and determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "compressor/exec/executor.h"
#include "compressor/io/samples.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/pipeline.h"
#include "passes/layer_pass_testing.h"
#include "passes/prune/sparsegpt.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

constexpr const char* kPass = "prune-unstructured";

size_t zeros_in(const std::vector<float>& v) {
  return static_cast<size_t>(std::count(v.begin(), v.end(), 0.0f));
}

// The definition: order positions by (score, position); the first k are zeroed in `w` at
// index(position).
template <typename Index>
void zero_lowest_by_definition(std::vector<float>& w, const std::vector<double>& score, size_t k,
                               Index index) {
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return score[a] < score[b]; });
  for (size_t i = 0; i < k; ++i) w[index(order[i])] = 0.0f;
}

// Conv [8, 4, 3, 3], Gemm B [10, 32] (transB) and MatMul B [32, 16], random weights.
struct ThreeLayers {
  std::vector<float> conv_w = random_floats(8 * 4 * 3 * 3, 11);
  std::vector<float> fc_w = random_floats(10 * 32, 12);
  std::vector<float> mm_w = random_floats(32 * 16, 13);

  std::string text() const {
    return R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[1, 4, 6, 6] X, float[2, 32] A) => (float[1, 8, 4, 4] Y, float[2, 10] F,
                                                   float[2, 16] M)
      <float[8, 4, 3, 3] CW = )" +
           float_literal(conv_w) + ", float[10, 32] FW = " + float_literal(fc_w) +
           ", float[32, 16] MW = " + float_literal(mm_w) + R"(>
      {
        Y = Conv <kernel_shape = [3, 3]> (X, CW)
        F = Gemm <transB = 1> (A, FW)
        M = MatMul(A, MW)
      })";
  }
};

ir::Model load(const std::string& text) {
  auto m = model_from_text(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : ir::Model();
}

std::vector<double> magnitudes(const std::vector<float>& w) {
  std::vector<double> s(w.size());
  for (size_t i = 0; i < w.size(); ++i) s[i] = std::fabs(w[i]);
  return s;
}

TEST(PruneUnstructured, MagnitudeZeroesExactlyTheSmallestOfEveryLayer) {
  ThreeLayers layers;
  for (double sparsity : {0.1, 0.5, 0.77}) {
    SCOPED_TRACE(sparsity);
    ir::Model model = load(layers.text());
    auto r = run_pass(model, kPass, {{"sparsity", std::to_string(sparsity)}});
    ASSERT_OK(r);
    EXPECT_TRUE(r->skipped.empty());
    EXPECT_EQ(r->nodes_changed, 3u);
    const std::pair<const char*, const std::vector<float>*> weights[] = {
        {"CW", &layers.conv_w}, {"FW", &layers.fc_w}, {"MW", &layers.mm_w}};
    for (const auto& [name, original] : weights) {
      const size_t k = static_cast<size_t>(std::floor(sparsity * double(original->size())));
      std::vector<float> want = *original;
      zero_lowest_by_definition(want, magnitudes(*original), k, [](size_t i) { return i; });
      const auto after = float_values(model.graph, name);
      EXPECT_EQ(zeros_in(after), k) << name;
      EXPECT_EQ(after, want) << name;
    }
    if (sparsity == 0.5) {
      ASSERT_EQ(r->changes.size(), 3u);
      EXPECT_EQ(r->changes[0].node, "Y");
      EXPECT_EQ(r->changes[0].detail, "sparsity 50.0%, magnitude");
      ASSERT_EQ(r->notes.size(), 1u);
      EXPECT_EQ(r->notes[0], "zeroed 560 of 1,120 weights in 3 layers (50.0%)");
    }
  }
}

// Gemm B [16, 6] (transB = 0: K = 16), MatMul B [16, 8], Conv [8, 8, 3, 3] and two layers the
// pattern cannot apply to: Gemm with K = 10, Conv with 6 input channels.
struct NmModel {
  std::vector<float> gemm_w = random_floats(16 * 6, 21);
  std::vector<float> mm_w = random_floats(16 * 8, 22);
  std::vector<float> conv_w = random_floats(8 * 8 * 3 * 3, 23);
  std::vector<float> odd_gemm_w = random_floats(10 * 4, 24);
  std::vector<float> odd_conv_w = random_floats(4 * 6 * 3 * 3, 25);

  std::string text() const {
    return R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[2, 16] A, float[1, 8, 5, 5] X, float[2, 10] B, float[1, 6, 5, 5] Z)
        => (float[2, 6] G, float[2, 8] M, float[1, 8, 3, 3] C, float[2, 4] OG, float[1, 4, 3, 3] OC)
      <float[16, 6] GW = )" +
           float_literal(gemm_w) + ", float[16, 8] MW = " + float_literal(mm_w) +
           ", float[8, 8, 3, 3] CW = " + float_literal(conv_w) +
           ", float[10, 4] OGW = " + float_literal(odd_gemm_w) +
           ", float[4, 6, 3, 3] OCW = " + float_literal(odd_conv_w) + R"(>
      {
        G = Gemm(A, GW)
        M = MatMul(A, MW)
        C = Conv <kernel_shape = [3, 3]> (X, CW)
        OG = Gemm(B, OGW)
        OC = Conv <kernel_shape = [3, 3]> (Z, OCW)
      })";
  }
};

// Checks one group of M weights (values `group`, originals `original`): exactly N nonzero, and
// the kept ones are the N largest |w| (ties: the higher index is kept).
void expect_group_kept_largest(const std::vector<float>& group, const std::vector<float>& original,
                               size_t n, const std::string& where) {
  const size_t m = group.size();
  EXPECT_EQ(m - zeros_in(group), n) << where;
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::fabs(original[a]) < std::fabs(original[b]);
  });
  for (size_t i = 0; i < m; ++i) {
    const size_t at = order[i];
    EXPECT_EQ(group[at], i < m - n ? 0.0f : original[at]) << where << " element " << at;
  }
}

TEST(PruneUnstructured, TwoFourGroupsRunAlongTheReductionAxis) {
  NmModel nm;
  ir::Model model = load(nm.text());
  auto r = run_pass(model, kPass, {{"pattern", "2:4"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 3u);
  ASSERT_EQ(r->changes.size(), 3u);
  EXPECT_EQ(r->changes[0].detail, "sparsity 50.0%, 2:4, magnitude");
  ASSERT_EQ(r->skipped.size(), 2u);
  EXPECT_EQ(r->skipped[0].node, "OG");
  EXPECT_EQ(r->skipped[0].reason, "reduction length 10 is not a multiple of 4 (pattern 2:4)");
  EXPECT_EQ(r->skipped[1].node, "OC");
  EXPECT_EQ(r->skipped[1].reason,
            "input channels per group 6 is not a multiple of 4 (pattern 2:4)");
  EXPECT_EQ(float_values(model.graph, "OGW"), nm.odd_gemm_w);
  EXPECT_EQ(float_values(model.graph, "OCW"), nm.odd_conv_w);

  // Gemm and MatMul: B [K, N], groups of 4 consecutive k in every column n.
  for (const auto& [name, original, cols] :
       {std::tuple{"GW", &nm.gemm_w, size_t{6}}, std::tuple{"MW", &nm.mm_w, size_t{8}}}) {
    const auto after = float_values(model.graph, name);
    for (size_t n = 0; n < cols; ++n) {
      for (size_t k0 = 0; k0 < 16; k0 += 4) {
        std::vector<float> got, was;
        for (size_t k = k0; k < k0 + 4; ++k) {
          got.push_back(after[k * cols + n]);
          was.push_back((*original)[k * cols + n]);
        }
        expect_group_kept_largest(
            got, was, 2,
            std::string(name) + " n " + std::to_string(n) + " k0 " + std::to_string(k0));
      }
    }
  }
  // Conv [O, C, 3, 3]: groups of 4 consecutive input channels at each tap of each output.
  const auto after = float_values(model.graph, "CW");
  for (size_t o = 0; o < 8; ++o) {
    for (size_t t = 0; t < 9; ++t) {
      for (size_t c0 = 0; c0 < 8; c0 += 4) {
        std::vector<float> got, was;
        for (size_t c = c0; c < c0 + 4; ++c) {
          got.push_back(after[(o * 8 + c) * 9 + t]);
          was.push_back(nm.conv_w[(o * 8 + c) * 9 + t]);
        }
        expect_group_kept_largest(got, was, 2,
                                  "CW o " + std::to_string(o) + " tap " + std::to_string(t));
      }
    }
  }
  // Also 1:4 on the same Gemm, and a sparsity stated alongside that agrees with the pattern.
  ir::Model one = load(nm.text());
  ASSERT_OK(run_pass(one, kPass, {{"pattern", "1:4"}, {"sparsity", "0.75"}, {"nodes", "G"}}));
  const auto g = float_values(one.graph, "GW");
  for (size_t n = 0; n < 6; ++n) {
    for (size_t k0 = 0; k0 < 16; k0 += 4) {
      std::vector<float> got, was;
      for (size_t k = k0; k < k0 + 4; ++k) {
        got.push_back(g[k * 6 + n]);
        was.push_back(nm.gemm_w[k * 6 + n]);
      }
      expect_group_kept_largest(got, was, 1, "1:4 n " + std::to_string(n));
    }
  }
}

TEST(PruneUnstructured, ConvTransposeGroupsRunAlongItsInputChannels) {
  // ConvTranspose weight [C = 8, O = 3, 2, 2]: groups of 4 consecutive c at each (o, tap).
  const auto w = random_floats(8 * 3 * 2 * 2, 27);
  ir::Model model = load(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 8, 3, 3] X) => (float[1, 3, 4, 4] Y)
    <float[8, 3, 2, 2] W = )" +
                         float_literal(w) + R"(>
    { Y = ConvTranspose <kernel_shape = [2, 2]> (X, W) })");
  ASSERT_OK(run_pass(model, kPass, {{"pattern", "2:4"}}));
  const auto after = float_values(model.graph, "W");
  for (size_t o = 0; o < 3; ++o) {
    for (size_t t = 0; t < 4; ++t) {
      for (size_t c0 = 0; c0 < 8; c0 += 4) {
        std::vector<float> got, was;
        for (size_t c = c0; c < c0 + 4; ++c) {
          got.push_back(after[(c * 3 + o) * 4 + t]);
          was.push_back(w[(c * 3 + o) * 4 + t]);
        }
        expect_group_kept_largest(got, was, 2, "o " + std::to_string(o));
      }
    }
  }
  // With group = 2, weight [8, 2, 2, 2]: each group's 4 input channels form one N:M group at
  // each (output o of the group, tap).
  const auto wg = random_floats(8 * 2 * 2 * 2, 28);
  ir::Model grouped = load(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 8, 3, 3] X) => (float[1, 4, 4, 4] Y)
    <float[8, 2, 2, 2] W = )" +
                           float_literal(wg) + R"(>
    { Y = ConvTranspose <kernel_shape = [2, 2], group = 2> (X, W) })");
  ASSERT_OK(run_pass(grouped, kPass, {{"pattern", "1:4"}}));
  const auto after_g = float_values(grouped.graph, "W");
  for (size_t g = 0; g < 2; ++g) {
    for (size_t o = 0; o < 2; ++o) {
      for (size_t t = 0; t < 4; ++t) {
        std::vector<float> got, was;
        for (size_t c = g * 4; c < g * 4 + 4; ++c) {
          got.push_back(after_g[(c * 2 + o) * 4 + t]);
          was.push_back(wg[(c * 2 + o) * 4 + t]);
        }
        expect_group_kept_largest(got, was, 1, "group " + std::to_string(g));
      }
    }
  }
}

// Two MatMuls whose weights differ in scale by 10x.
std::string two_scales_model(const std::vector<float>& big, const std::vector<float>& small) {
  return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 16] A) => (float[2, 8] P, float[2, 8] Q)
    <float[16, 8] BIG = )" +
         float_literal(big) + ", float[16, 8] SMALL = " + float_literal(small) + R"(>
    {
      P = MatMul(A, BIG)
      Q = MatMul(A, SMALL)
    })";
}

TEST(PruneUnstructured, GlobalScopeSharesOneThreshold) {
  const auto big = random_floats(128, 31, -1.0f, 1.0f);
  const auto small = random_floats(128, 32, -0.2f, 0.2f);
  ir::Model model = load(two_scales_model(big, small));
  auto r = run_pass(model, kPass, {{"scope", "global"}, {"sparsity", "0.5"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  const auto b = float_values(model.graph, "BIG"), s = float_values(model.graph, "SMALL");
  EXPECT_EQ(zeros_in(b) + zeros_in(s), 128u);
  EXPECT_LT(zeros_in(b), 64u);
  EXPECT_GT(zeros_in(s), 64u);
  // The definition over both layers at once.
  std::vector<float> all = big;
  all.insert(all.end(), small.begin(), small.end());
  std::vector<float> want = all;
  zero_lowest_by_definition(want, magnitudes(all), 128, [](size_t i) { return i; });
  EXPECT_EQ(b, std::vector<float>(want.begin(), want.begin() + 128));
  EXPECT_EQ(s, std::vector<float>(want.begin() + 128, want.end()));
  ASSERT_EQ(r->changes.size(), 2u);
  EXPECT_NE(r->changes[1].detail.find("global threshold"), std::string::npos);
}

TEST(PruneUnstructured, LayerSparsityOverridesAndUnmatchedPatternIsAnError) {
  ThreeLayers layers;
  ir::Model model = load(layers.text());
  // F by name; Y by a regex; the regex "[FM]" would match F too, but the first match wins.
  auto r =
      run_pass(model, kPass, {{"sparsity", "0.5"}, {"layer_sparsity", "F=0.25|Y=0.75|[FM]=0.1"}});
  ASSERT_OK(r);
  EXPECT_EQ(zeros_in(float_values(model.graph, "CW")), 216u);  // floor(0.75 * 288)
  EXPECT_EQ(zeros_in(float_values(model.graph, "FW")), 80u);   // floor(0.25 * 320)
  EXPECT_EQ(zeros_in(float_values(model.graph, "MW")), 51u);   // floor(0.1 * 512)

  ir::Model other = load(layers.text());
  auto refused = run_pass(other, kPass, {{"layer_sparsity", "F=0.25|fc.*=0.5"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "prune-unstructured: option 'layer_sparsity': 'fc.*' matches no layer the pass can "
            "prune (a node name or a regular expression on the whole name)");
  EXPECT_EQ(save_to_bytes(other), save_to_bytes(load(layers.text())));

  // With global scope, overridden layers keep their value and leave the pool.
  ir::Model global = load(layers.text());
  ASSERT_OK(run_pass(global, kPass,
                     {{"scope", "global"}, {"sparsity", "0.5"}, {"layer_sparsity", "Y=0.25"}}));
  EXPECT_EQ(zeros_in(float_values(global.graph, "CW")), 72u);
  EXPECT_EQ(zeros_in(float_values(global.graph, "FW")) + zeros_in(float_values(global.graph, "MW")),
            416u);  // floor(0.5 * 832)
}

TEST(PruneUnstructured, SkipFirstLastKeepsThemDense) {
  ThreeLayers layers;
  ir::Model model = load(layers.text());
  auto r = run_pass(model, kPass, {{"skip_first_last", "true"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  ASSERT_EQ(r->skipped.size(), 2u);
  EXPECT_EQ(r->skipped[0].node, "Y");
  EXPECT_EQ(r->skipped[0].reason, "first weight layer in graph order (skip_first_last)");
  EXPECT_EQ(r->skipped[1].node, "M");
  EXPECT_EQ(r->skipped[1].reason, "last weight layer in graph order (skip_first_last)");
  EXPECT_EQ(float_values(model.graph, "CW"), layers.conv_w);
  EXPECT_EQ(float_values(model.graph, "MW"), layers.mm_w);
  EXPECT_EQ(zeros_in(float_values(model.graph, "FW")), 160u);
}

// MatMul X [2, 4] x W [4, 3] with a table giving X's channels very different norms.
constexpr float kWandaW[] = {0.9f, -0.8f, 0.7f,     // k = 0
                             0.1f, 0.2f,  -0.15f,   // k = 1
                             0.5f, -0.6f, 0.4f,     // k = 2
                             0.3f, 0.35f, -0.25f};  // k = 3
const std::vector<double> kMeanSquare = {0.0001, 4.0, 0.01, 1.0};

std::string wanda_model() {
  return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 4] X) => (float[2, 3] Y)
    <float[4, 3] W = )" +
         float_literal(std::vector<float>(std::begin(kWandaW), std::end(kWandaW))) + R"(>
    { Y = MatMul(X, W) })";
}

pass::CalibrationTable wanda_table(const std::string& tensor, int64_t axis,
                                   const std::vector<double>& mean_square) {
  pass::CalibrationTable table;
  table.method = "minmax";
  table.samples = 1;
  pass::ChannelStats stats;
  stats.axis = axis;
  stats.mean = std::vector<double>(mean_square.size(), 0.0);
  stats.abs_max = stats.abs_mean = mean_square;
  stats.mean_square = mean_square;
  table.channels[tensor] = stats;
  return table;
}

// Per output column n of W [K, N]: zero the floor(s * K) lowest |w| * sqrt(ms[k]).
std::vector<float> wanda_by_definition(const std::vector<float>& w, size_t k_dim, size_t n_dim,
                                       const std::vector<double>& ms, double sparsity) {
  std::vector<float> out = w;
  const size_t k = static_cast<size_t>(std::floor(sparsity * double(k_dim)));
  for (size_t n = 0; n < n_dim; ++n) {
    std::vector<double> score(k_dim);
    for (size_t j = 0; j < k_dim; ++j) score[j] = std::fabs(w[j * n_dim + n]) * std::sqrt(ms[j]);
    zero_lowest_by_definition(out, score, k, [&](size_t j) { return j * n_dim + n; });
  }
  return out;
}

TEST(PruneUnstructured, WandaWeighsMagnitudeByTheInputNorm) {
  const std::vector<float> w(std::begin(kWandaW), std::end(kWandaW));
  ir::Model model = load(wanda_model());
  auto p = make_pass(kPass, {{"method", "wanda"}});
  ASSERT_OK(p);
  const auto requests = (*p)->channel_statistics(model);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].tensor, "X");
  EXPECT_EQ(requests[0].axis, -1);
  EXPECT_TRUE(requests[0].optional);

  auto r =
      run_pass_calibrated(model, kPass, wanda_table("X", 1, kMeanSquare), {{"method", "wanda"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].detail, "sparsity 50.0%, wanda");
  const auto got = float_values(model.graph, "W");
  EXPECT_EQ(got, wanda_by_definition(w, 4, 3, kMeanSquare, 0.5));
  // Wanda keeps rows 1 and 3 (large inputs) although row 0 holds the largest weights.
  for (size_t n = 0; n < 3; ++n) {
    EXPECT_EQ(got[0 * 3 + n], 0.0f);
    EXPECT_NE(got[1 * 3 + n], 0.0f);
    EXPECT_NE(got[3 * 3 + n], 0.0f);
  }
  // Magnitude disagrees: it keeps row 0.
  ir::Model mag = load(wanda_model());
  ASSERT_OK(run_pass(mag, kPass, {{"method", "magnitude"}}));
  for (size_t n = 0; n < 3; ++n) EXPECT_NE(float_values(mag.graph, "W")[n], 0.0f);

  // Without statistics, the layer is skipped with the reason.
  ir::Model none = load(wanda_model());
  auto skipped = run_pass_calibrated(none, kPass, pass::CalibrationTable{}, {{"method", "wanda"}});
  ASSERT_OK(skipped);
  EXPECT_EQ(skipped->nodes_changed, 0u);
  ASSERT_EQ(skipped->skipped.size(), 1u);
  EXPECT_EQ(skipped->skipped[0].reason,
            "no per-channel statistics for input 'X' (wanda needs calibration over sample data "
            "of a float32 input)");
  EXPECT_EQ(float_values(none.graph, "W"), w);
  // Statistics with the wrong channel count are not used either.
  ir::Model wrong = load(wanda_model());
  auto mismatch =
      run_pass_calibrated(wrong, kPass, wanda_table("X", 1, {1, 1, 1}), {{"method", "wanda"}});
  ASSERT_OK(mismatch);
  EXPECT_EQ(mismatch->nodes_changed, 0u);
  ASSERT_EQ(mismatch->skipped.size(), 1u);
  EXPECT_NE(mismatch->skipped[0].reason.find("3 channels"), std::string::npos);
}

TEST(PruneUnstructured, WandaGemmTransAndGroupedConvUseTheRightChannel) {
  // Gemm transA = 1: A is [K = 4, 2], channels on axis 0; B transB = 1 [3, 4].
  const auto gb = random_floats(12, 41);
  // Conv group 2: input 4 channels, weight [4, 2, 1, 2] (output o reads channels 2 * (o / 2) + c).
  const auto cw = random_floats(16, 42);
  ir::Model model = load(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4, 2] A, float[1, 4, 3, 3] X) => (float[2, 3] G, float[1, 4, 3, 2] C)
    <float[3, 4] GB = )" +
                         float_literal(gb) + ", float[4, 2, 1, 2] CW = " + float_literal(cw) +
                         R"(>
    {
      G = Gemm <transA = 1, transB = 1> (A, GB)
      C = Conv <kernel_shape = [1, 2], group = 2> (X, CW)
    })");
  auto p = make_pass(kPass, {{"method", "wanda"}});
  ASSERT_OK(p);
  const auto requests = (*p)->channel_statistics(model);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].tensor, "A");
  EXPECT_EQ(requests[0].axis, 0);
  EXPECT_EQ(requests[1].tensor, "X");
  EXPECT_EQ(requests[1].axis, 1);

  const std::vector<double> a_ms = {9.0, 0.01, 1.0, 0.25};
  const std::vector<double> x_ms = {0.01, 16.0, 1.0, 0.0001};
  pass::CalibrationTable table = wanda_table("A", 0, a_ms);
  table.channels["X"] = wanda_table("X", 1, x_ms).channels["X"];
  auto r = run_pass_calibrated(model, kPass, table, {{"method", "wanda"}, {"sparsity", "0.5"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);

  // Gemm: rows n of GB [3, 4], channel k.
  std::vector<float> want_g = gb;
  for (size_t n = 0; n < 3; ++n) {
    std::vector<double> score(4);
    for (size_t k = 0; k < 4; ++k) score[k] = std::fabs(gb[n * 4 + k]) * std::sqrt(a_ms[k]);
    zero_lowest_by_definition(want_g, score, 2, [&](size_t k) { return n * 4 + k; });
  }
  EXPECT_EQ(float_values(model.graph, "GB"), want_g);
  // Conv: row o has columns (c, t), c in 0..1, t in 0..1; input channel 2 * (o / 2) + c.
  std::vector<float> want_c = cw;
  for (size_t o = 0; o < 4; ++o) {
    std::vector<double> score(4);
    for (size_t col = 0; col < 4; ++col) {
      score[col] = std::fabs(cw[o * 4 + col]) * std::sqrt(x_ms[2 * (o / 2) + col / 2]);
    }
    zero_lowest_by_definition(want_c, score, 2, [&](size_t col) { return o * 4 + col; });
  }
  EXPECT_EQ(float_values(model.graph, "CW"), want_c);
}

TEST(PruneUnstructured, WandaCalibratesThroughThePipeline) {
  // Y = MatMul(X * c, W): c spreads the input norms over two orders of magnitude.
  const size_t k = 8, n = 4;
  const auto w = random_floats(k * n, 51);
  const std::vector<float> c = {0.05f, 3.0f, 1.0f, 0.2f, 5.0f, 0.5f, 0.01f, 2.0f};
  ir::Model original = load(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 8] X) => (float[3, 4] Y)
    <float[8] c = )" + float_literal(c) +
                            ", float[8, 4] W = " + float_literal(w) + R"(>
    {
      H = Mul(X, c)
      Y = MatMul(H, W)
    })");
  io::SampleOptions so;
  so.count = 5;
  so.seed = 9;
  so.random_range = std::make_pair(-1.0, 1.0);
  auto samples = io::SampleSet::open(original, so);
  ASSERT_OK(samples);

  // mean x² of H per channel, from the samples themselves.
  std::vector<double> ms(k, 0.0);
  size_t rows = 0;
  for (size_t i = 0; i < samples->size(); ++i) {
    auto s = samples->get(i);
    ASSERT_OK(s);
    const auto x = (*s)[0].tensor.span<float>();
    for (size_t e = 0; e < x.size(); ++e) {
      const double h = double(x[e] * c[e % k]);
      ms[e % k] += h * h;
    }
    rows += x.size() / k;
  }
  for (double& v : ms) v /= double(rows);

  auto run = [&](ir::Model& m) -> StatusOr<std::vector<pass::PassRecord>> {
    COMPRESSOR_ASSIGN_OR_RETURN(pass::PassPipeline pipeline,
                                pass::PassPipeline::parse("prune-unstructured{method=wanda}"));
    pipeline.set_calibration_samples(&*samples, {});
    pass::PassContext ctx;
    return pipeline.run(m, ctx);
  };
  ir::Model a = original, b = original;
  auto records = run(a);
  ASSERT_OK(records);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].result.nodes_changed, 1u);
  EXPECT_EQ(float_values(a.graph, "W"), wanda_by_definition(w, k, n, ms, 0.5));
  ASSERT_OK(run(b));
  EXPECT_EQ(save_to_bytes(a, true), save_to_bytes(b, true));

  // Without samples or a table the pipeline refuses.
  ir::Model d = original;
  auto pipeline = pass::PassPipeline::parse("prune-unstructured{method=wanda}");
  ASSERT_OK(pipeline);
  pass::PassContext ctx;
  EXPECT_FALSE(pipeline->run(d, ctx).ok());
}

TEST(PruneUnstructured, SharedWeightIsCopiedWhenAnotherReaderStaysDense) {
  const auto w = random_floats(16, 61);
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4] A, float[1, 4] B) => (float[1, 4] P, float[1, 4] Q)
    <float[4, 4] W = )" + float_literal(w) +
                           R"(>
    {
      P = MatMul(A, W)
      Q = MatMul(B, W)
    })";
  ir::Model model = load(text);
  auto r = run_pass(model, kPass, {{"exclude", "P"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_EQ(float_values(model.graph, "W"), w);
  const ir::Node* q = nullptr;
  for (const auto& node : model.graph.nodes()) {
    if (node->outputs[0] == "Q") q = node.get();
  }
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->inputs[1], "W_pruned");
  EXPECT_EQ(zeros_in(float_values(model.graph, "W_pruned")), 8u);

  // Both readers pruned alike: pruned once, in place.
  ir::Model both = load(text);
  auto r2 = run_pass(both, kPass);
  ASSERT_OK(r2);
  EXPECT_EQ(r2->nodes_changed, 2u);
  EXPECT_EQ(both.graph.initializers().size(), 1u);
  EXPECT_EQ(zeros_in(float_values(both.graph, "W")), 8u);
}

TEST(PruneUnstructured, LayerWithNothingToZeroIsSkippedAndLeftOutOfTheTotals) {
  // floor(0.3 * 3) = 0 for S; floor(0.3 * 4) = 1 for W.
  ir::Model model = load(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3] A, float[1, 2] B) => (float[1, 1] P, float[1, 2] Q)
    <float[3, 1] S = {0.1, 0.2, 0.3}, float[2, 2] W = {0.4, -0.1, 0.2, 0.3}>
    {
      P = MatMul(A, S)
      Q = MatMul(B, W)
    })");
  auto r = run_pass(model, kPass, {{"sparsity", "0.3"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].node, "P");
  EXPECT_EQ(r->skipped[0].reason,
            "no weight to zero at sparsity 30.0% (0.0% of its weights are zero already)");
  EXPECT_EQ(float_values(model.graph, "W"), (std::vector<float>{0.4f, 0, 0.2f, 0.3f}));
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0], "zeroed 1 of 4 weights in 1 layer (25.0%)");
}

TEST(PruneUnstructured, NanIsKeptAndTiesGoToTheLowerIndex) {
  ir::Model model = load(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 8] A) => (float[1, 1] M)
    <float[8, 1] W = {1, -1, 1, 0.5, -0.5, 0.5, 0, 2}>
    { M = MatMul(A, W) })");
  model.graph.find_initializer("W")->tensor.mutable_span<float>()[7] = NAN;
  ASSERT_OK(run_pass(model, kPass, {{"sparsity", "0.625"}}));
  const auto w = float_values(model.graph, "W");
  EXPECT_EQ(std::vector<float>(w.begin(), w.begin() + 7),
            (std::vector<float>{0, -1, 1, 0, 0, 0, 0}));
  EXPECT_TRUE(std::isnan(w[7]));
}

TEST(PruneUnstructured, BadOptionsNameThePassAndOption) {
  const std::pair<pass::PassOptions, const char*> cases[] = {
      {{{"method", "sparsegpt2"}}, "option 'method' must be magnitude, wanda or sparsegpt"},
      {{{"sparsity", "1"}}, "option 'sparsity' must be in [0, 1)"},
      {{{"sparsity", "-0.1"}}, "option 'sparsity' must be in [0, 1)"},
      {{{"sparsity", "half"}}, "option 'sparsity' must be a number"},
      {{{"scope", "model"}}, "option 'scope' must be layer or global"},
      {{{"pattern", "4:2"}}, "option 'pattern' needs 1 <= N < M <= 64"},
      {{{"pattern", "0:4"}}, "option 'pattern' needs 1 <= N < M <= 64"},
      {{{"pattern", "2:128"}}, "option 'pattern' needs 1 <= N < M <= 64"},
      {{{"pattern", "2-4"}}, "option 'pattern' must be N:M"},
      {{{"pattern", "2:4"}, {"sparsity", "0.3"}}, "option 'sparsity' '0.3' contradicts pattern"},
      {{{"pattern", "2:4"}, {"scope", "global"}}, "option 'scope' global cannot be combined"},
      {{{"pattern", "2:4"}, {"layer_sparsity", "F=0.5"}},
       "option 'layer_sparsity' cannot be combined"},
      {{{"layer_sparsity", "F"}}, "option 'layer_sparsity' entry 'F' is not PATTERN=VALUE"},
      {{{"layer_sparsity", "F=1.5"}}, "option 'layer_sparsity' value of 'F' must be in [0, 1)"},
      {{{"layer_sparsity", "(F=0.5"}}, "option 'layer_sparsity' '(F' is not a valid regular"},
      {{{"skip_first_last", "maybe"}}, "option 'skip_first_last' must be true or false"},
      {{{"include", "("}}, "--include '(' is not a valid regular expression"},
      {{{"typo", "1"}}, "typo"},
  };
  for (const auto& [options, want] : cases) {
    auto p = make_pass(kPass, options);
    ASSERT_FALSE(p.ok()) << want;
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument) << want;
    const std::string message = p.status().message();
    EXPECT_NE(message.find("prune-unstructured"), std::string::npos) << message;
    EXPECT_NE(message.find(want), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_OK(make_pass(kPass, {{"pattern", "2:4"}, {"sparsity", "0.5"}}));
}

TEST(PruneUnstructured, SameInputGivesTheSameBytes) {
  ThreeLayers layers;
  for (const pass::PassOptions& options :
       {pass::PassOptions{{"scope", "global"}, {"sparsity", "0.6"}},
        pass::PassOptions{{"pattern", "2:4"}}, pass::PassOptions{{"sparsity", "0.3"}}}) {
    ir::Model a = load(layers.text()), b = load(layers.text());
    ASSERT_OK(run_pass(a, kPass, options));
    ASSERT_OK(run_pass(b, kPass, options));
    EXPECT_EQ(save_to_bytes(a, true), save_to_bytes(b, true));
  }
  ir::Model a = load(wanda_model()), b = load(wanda_model());
  const auto table = wanda_table("X", 1, kMeanSquare);
  ASSERT_OK(run_pass_calibrated(a, kPass, table, {{"method", "wanda"}, {"scope", "global"}}));
  ASSERT_OK(run_pass_calibrated(b, kPass, table, {{"method", "wanda"}, {"scope", "global"}}));
  EXPECT_EQ(save_to_bytes(a, true), save_to_bytes(b, true));
}

// ---------------------------------------------------------------------------------------------
// SparseGPT: the pass hands every layer's [outputs, reduction] view and its input Gram to the
// SparseGPT core, in the same column order.

// A fixed 1x1 Conv mixes the random inputs into strongly correlated channels (M), then Conv
// [8, 4, 3, 3] (pads 1) and Gemm B [128, 6] (transB = 0, so the view is its transpose): the two
// layers SparseGPT prunes (nodes=Y|F) reduce over correlated inputs, where its update pays.
struct SparseGptModel {
  std::vector<float> conv_w = random_floats(8 * 4 * 3 * 3, 61);
  std::vector<float> fc_w = random_floats(128 * 6, 62);
  std::string text() const {
    const std::vector<float> mix = {1.0f, 0.1f, 0.0f, 0.0f, 0.9f, 0.2f, 0.1f, 0.0f,
                                    0.8f, 0.0f, 0.3f, 0.1f, 0.7f, 0.1f, 0.1f, 0.3f};
    return R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[1, 4, 4, 4] X) => (float[1, 6] F, float[1, 8, 4, 4] Y)
      <float[4, 4, 1, 1] MIX = )" +
           float_literal(mix) + ", float[8, 4, 3, 3] CW = " + float_literal(conv_w) +
           ", float[128, 6] FW = " + float_literal(fc_w) + R"(>
      {
        M = Conv <kernel_shape = [1, 1]> (X, MIX)
        Y = Conv <kernel_shape = [3, 3], pads = [1, 1, 1, 1]> (M, CW)
        Z = Flatten(Y)
        F = Gemm(Z, FW)
      })";
  }
};

io::SampleSet sparsegpt_samples(const ir::Model& model) { return random_samples(model, 6, 21); }

TEST(PruneUnstructured, SparseGptGivesEachLayerItsViewAndGram) {
  const SparseGptModel m;
  const ir::Model original = load(m.text());
  const io::SampleSet samples = sparsegpt_samples(original);
  ir::Model pruned = original;
  auto records =
      run_with_samples(pruned, "prune-unstructured{method=sparsegpt,nodes=Y|F}", samples);
  ASSERT_OK(records);
  EXPECT_EQ((*records)[0].result.nodes_changed, 2u);

  // The expected weights: the core on the views, with Grams calibrated independently of the pass.
  auto table = pass::calibrate(original, samples, {}, {}, {}, {{"Y"}, {"F"}});
  ASSERT_OK(table);
  std::vector<float> conv = m.conv_w;
  ASSERT_OK(passes::sparsegpt_prune(conv.data(), 8, 36, table->find_gram("Y")->group(0), {}));
  std::vector<float> fc_view(6 * 128);  // [N = 6, K = 128]
  for (size_t k = 0; k < 128; ++k) {
    for (size_t n = 0; n < 6; ++n) fc_view[n * 128 + k] = m.fc_w[k * 6 + n];
  }
  ASSERT_OK(passes::sparsegpt_prune(fc_view.data(), 6, 128, table->find_gram("F")->group(0), {}));
  std::vector<float> fc(128 * 6);
  for (size_t k = 0; k < 128; ++k) {
    for (size_t n = 0; n < 6; ++n) fc[k * 6 + n] = fc_view[n * 128 + k];
  }
  EXPECT_EQ(float_values(pruned.graph, "CW"), conv);
  EXPECT_EQ(float_values(pruned.graph, "FW"), fc);
  // Half of every layer is zero; the survivors moved (SparseGPT's update).
  EXPECT_EQ(zeros_in(conv), conv.size() / 2);
  EXPECT_EQ(zeros_in(fc), fc.size() / 2);
  size_t moved = 0;
  for (size_t i = 0; i < conv.size(); ++i) moved += conv[i] != 0.0f && conv[i] != m.conv_w[i];
  EXPECT_GT(moved, 0u);
  // On the samples it was fitted on, its output error is below magnitude pruning's.
  ir::Model magnitude = original;
  ASSERT_OK(run_with_samples(magnitude, "prune-unstructured{nodes=Y|F}", samples));
  EXPECT_LT(output_error(original, pruned, samples, 0),
            output_error(original, magnitude, samples, 0));
}

TEST(PruneUnstructured, SparseGptTwoFourOnConvKeepsTheTapGroups) {
  const SparseGptModel m;
  const ir::Model original = load(m.text());
  const io::SampleSet samples = sparsegpt_samples(original);
  ir::Model pruned = original;
  ASSERT_OK(run_with_samples(pruned, "prune-unstructured{method=sparsegpt,pattern=2:4,nodes=Y}",
                             samples));
  // Conv weight [8, 4, 3, 3]: at each (output, tap), at most 2 of the 4 input channels nonzero.
  const auto w = float_values(pruned.graph, "CW");
  for (size_t o = 0; o < 8; ++o) {
    for (size_t t = 0; t < 9; ++t) {
      size_t nonzero = 0;
      for (size_t c = 0; c < 4; ++c) nonzero += w[(o * 4 + c) * 9 + t] != 0.0f;
      EXPECT_EQ(nonzero, 2u) << "output " << o << " tap " << t;
    }
  }
  ir::Model magnitude = original;
  ASSERT_OK(run_with_samples(magnitude, "prune-unstructured{pattern=2:4,nodes=Y}", samples));
  EXPECT_LT(output_error(original, pruned, samples, 1),
            output_error(original, magnitude, samples, 1));
}

TEST(PruneUnstructured, SparseGptSkipsWhatItCannotTakeAndNeedsSamples) {
  ir::Model model = load(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 3, 3] X) => (float[1, 2, 5, 5] Y)
    <float[4, 2, 3, 3] W = )" +
                         float_literal(random_floats(72, 71)) +
                         R"(>
    {
      Y = ConvTranspose <kernel_shape = [3, 3]> (X, W)
    })");
  const io::SampleSet samples = sparsegpt_samples(model);
  auto records = run_with_samples(model, "prune-unstructured{method=sparsegpt}", samples);
  ASSERT_OK(records);
  ASSERT_EQ((*records)[0].result.skipped.size(), 1u);
  EXPECT_NE((*records)[0].result.skipped[0].reason.find("ConvTranspose"), std::string::npos);
  EXPECT_EQ((*records)[0].result.nodes_changed, 0u);

  // A Gram is never in a saved table: without samples the pipeline says the pass needs them.
  const SparseGptModel m;
  ir::Model dense = load(m.text());
  auto pipeline = pass::PassPipeline::parse("prune-unstructured{method=sparsegpt}");
  ASSERT_OK(pipeline);
  pass::PassContext ctx;
  auto r = pipeline->run(dense, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("prune-unstructured"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace compressor
