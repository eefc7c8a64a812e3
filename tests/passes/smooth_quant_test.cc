// smooth-quant: the smoothing factors recomputed here from the definition (per-channel maxima of
// values captured from the executor, maxima of the weights' rows), outputs unchanged, outliers
// flattened, Q/K/V sharing one factor folded into a LayerNormalization, a Mul where folding is
// not possible, skips, options, calibration through the pipeline, and the gain for per-tensor
// int8 quantization.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "compressor/exec/executor.h"
#include "compressor/io/samples.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/pipeline.h"
#include "passes/layer_pass_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

using Inputs = std::vector<exec::NamedTensor>;

ir::Model load(const std::string& text) {
  auto m = model_from_text(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : ir::Model();
}

io::SampleSet random_samples(const ir::Model& model, size_t count, uint64_t seed) {
  io::SampleOptions o;
  o.count = count;
  o.seed = seed;
  o.random_range = std::make_pair(-1.0, 1.0);
  auto s = io::SampleSet::open(model, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

std::vector<Inputs> feeds(const io::SampleSet& samples) {
  std::vector<Inputs> out;
  for (size_t i = 0; i < samples.size(); ++i) {
    auto s = samples.get(i);
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (!s.ok()) continue;
    Inputs in;
    for (auto& t : *s) in.push_back({t.name, t.tensor});
    out.push_back(std::move(in));
  }
  return out;
}

// Every output of `model` on every sample, concatenated per output.
std::vector<std::vector<float>> outputs(const ir::Model& model, const std::vector<Inputs>& in) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return {};
  std::vector<std::vector<float>> all;
  for (const auto& feed : in) {
    auto out = (*ex)->run(feed);
    EXPECT_TRUE(out.ok()) << out.status().message();
    if (!out.ok()) return {};
    all.resize(out->size());
    for (size_t k = 0; k < out->size(); ++k) {
      auto s = (*out)[k].span<float>();
      all[k].insert(all[k].end(), s.begin(), s.end());
    }
  }
  return all;
}

// Largest |value| per channel of the last axis of `tensor`, over every sample.
std::vector<double> channel_abs_max(const ir::Model& model, const std::vector<Inputs>& in,
                                    const std::string& tensor) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  std::vector<double> m;
  if (!ex.ok()) return m;
  auto track = [&](const std::string& name, const ir::Tensor& t) {
    if (name != tensor) return;
    const size_t k = static_cast<size_t>(t.dims().back());
    m.resize(k, 0.0);
    const auto v = t.span<float>();
    for (size_t i = 0; i < v.size(); ++i) m[i % k] = std::max(m[i % k], double(std::fabs(v[i])));
  };
  for (const auto& feed : in) {
    for (const auto& t : feed) track(t.name, t.tensor);
    EXPECT_OK((*ex)->run(feed, track, {tensor}));
  }
  EXPECT_FALSE(m.empty()) << "no values captured for " << tensor;
  return m;
}

// The node writing `output`; fails the test when there is none.
const ir::Node* writer(const ir::Graph& graph, const std::string& output) {
  for (const auto& n : graph.nodes()) {
    if (!n->outputs.empty() && n->outputs[0] == output) return n.get();
  }
  ADD_FAILURE() << "no node writes '" << output << "'";
  return nullptr;
}

double max_over_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return v.back() / median;
}

// Largest |w[j, n]| per row j of a [K, N] weight (per column of [N, K] when transposed).
std::vector<double> row_abs_max(const std::vector<float>& w, size_t cols, bool transposed) {
  const size_t k = transposed ? cols : w.size() / cols;
  std::vector<double> m(k, 0.0);
  for (size_t i = 0; i < w.size(); ++i) {
    const size_t j = transposed ? i % cols : i / cols;
    m[j] = std::max(m[j], double(std::fabs(w[i])));
  }
  return m;
}

// s_j = a_j^alpha / w_j^(1 - alpha), 1 where either maximum is 0, clamped to [1e-5, 1e5].
std::vector<double> smoothing(const std::vector<double>& a, const std::vector<double>& w,
                              double alpha) {
  std::vector<double> s(a.size(), 1.0);
  for (size_t j = 0; j < a.size(); ++j) {
    if (a[j] > 0 && w[j] > 0) {
      s[j] = std::clamp(std::pow(a[j], alpha) / std::pow(w[j], 1 - alpha), 1e-5, 1e5);
    }
  }
  return s;
}

// Checks w_new[j, n] == s_j * w_old[j, n] (column j when transposed) to float precision.
void expect_rows_scaled(const std::vector<float>& before, const std::vector<float>& after,
                        size_t cols, bool transposed, const std::vector<double>& s) {
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    const size_t j = transposed ? i % cols : i / cols;
    const double want = double(before[i]) * s[j];
    EXPECT_NEAR(after[i], want, 1e-6 * std::max(1.0, std::fabs(want))) << "element " << i;
  }
}

pass::CalibrationTable channel_table(const ir::Model& model, const io::SampleSet& samples,
                                     const pass::PassOptions& options = {}) {
  auto p = make_pass("smooth-quant", options);
  EXPECT_TRUE(p.ok()) << p.status().message();
  if (!p.ok()) return {};
  auto table = pass::calibrate(model, samples, {}, {}, (*p)->channel_statistics(model));
  EXPECT_TRUE(table.ok()) << table.status().message();
  return table.ok() ? std::move(table).value() : pass::CalibrationTable{};
}

std::vector<float> outlier_scales(size_t k) {
  std::vector<float> c(k, 1.0f);
  c[3] = 50.0f;
  c[11 % k] = -40.0f;
  return c;
}

// x -> Mul by a per-channel vector with two outlier channels -> MatMul.
std::string outlier_model(size_t k, const std::vector<float>& w) {
  const std::string ks = std::to_string(k);
  return R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2, 4, )" +
         ks + R"(] x) => (float[2, 4, 8] y)
    <float[)" +
         ks + "] c = " + float_literal(outlier_scales(k)) + ", float[" + ks +
         ", 8] w = " + float_literal(w) + R"(>
    {
      h = Mul(x, c)
      y = MatMul(h, w)
    })";
}

TEST(SmoothQuant, OutlierChannelsMoveIntoTheWeight) {
  const size_t k = 16;
  const auto w = random_floats(k * 8, 1, -0.5f, 0.5f);
  ir::Model model = load(outlier_model(k, w));
  const ir::Model original = model;
  const io::SampleSet samples = random_samples(model, 6, 3);
  const auto calib = feeds(samples);

  auto p = make_pass("smooth-quant");
  ASSERT_OK(p);
  EXPECT_EQ((*p)->eligible_nodes(model), (std::vector<std::string>{"y"}));
  const auto requests = (*p)->channel_statistics(model);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].tensor, "h");
  EXPECT_EQ(requests[0].axis, -1);

  auto r = run_pass_calibrated(model, "smooth-quant", channel_table(model, samples));
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_TRUE(r->skipped.empty());
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "h -> y");
  EXPECT_NE(r->changes[0].detail.find("16 channels, activation max/median"), std::string::npos)
      << r->changes[0].detail;
  EXPECT_NE(r->changes[0].detail.find("Mul 'h_smooth' inserted"), std::string::npos)
      << r->changes[0].detail;

  // s from the definition: per-channel maxima of h captured from the float model.
  const std::vector<double> a = channel_abs_max(original, calib, "h");
  const std::vector<double> s = smoothing(a, row_abs_max(w, 8, false), 0.5);
  const ir::Node* mm = writer(model.graph, "y");
  ASSERT_NE(mm, nullptr);
  EXPECT_EQ(mm->inputs[1], "w");  // read by this layer alone: rewritten in place
  expect_rows_scaled(w, float_values(model.graph, "w"), 8, false, s);
  EXPECT_EQ(count_ops(model.graph, "Mul"), 2u);
  EXPECT_EQ(mm->inputs[0], "h_smoothed");
  const std::vector<float> inv = float_values(model.graph, "h_smooth_scale");
  ASSERT_EQ(inv.size(), k);
  for (size_t j = 0; j < k; ++j) EXPECT_NEAR(inv[j], 1.0 / s[j], 1e-6 / s[j]) << j;

  // The same outputs, on samples the calibration did not see.
  const auto held_out = feeds(random_samples(model, 4, 99));
  EXPECT_LT(max_rel_diff(outputs(original, held_out)[0], outputs(model, held_out)[0]), 1e-5);

  // The MatMul's input is far flatter across channels.
  const double before = max_over_median(a);
  const double after = max_over_median(channel_abs_max(model, calib, mm->inputs[0]));
  EXPECT_GT(before, 20.0);
  EXPECT_LT(after, before / 4) << "before " << before;
}

// LayerNormalization -> Q, K, V projections.
std::string qkv_model(const std::vector<float>& gamma, const std::vector<float>& beta,
                      const std::vector<float>& wq, const std::vector<float>& wk,
                      const std::vector<float>& wv) {
  return R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[2, 3, 16] x) => (float[2, 3, 8] q, float[2, 3, 8] k, float[2, 3, 8] v)
    <float[16] gamma = )" +
         float_literal(gamma) + ", float[16] beta = " + float_literal(beta) +
         ", float[16, 8] wq = " + float_literal(wq) + ", float[16, 8] wk = " + float_literal(wk) +
         ", float[16, 8] wv = " + float_literal(wv) + R"(>
    {
      n = LayerNormalization<axis = -1>(x, gamma, beta)
      q = MatMul(n, wq)
      k = MatMul(n, wk)
      v = MatMul(n, wv)
    })";
}

struct Qkv {
  std::vector<float> gamma, beta, wq, wk, wv;
};

Qkv qkv_weights() {
  Qkv q;
  q.gamma = random_floats(16, 4, 0.5f, 1.5f);
  q.gamma[2] = 30.0f;
  q.gamma[9] = -20.0f;
  q.beta = random_floats(16, 5, -0.1f, 0.1f);
  q.wq = random_floats(16 * 8, 6, -0.5f, 0.5f);
  q.wk = random_floats(16 * 8, 7, -0.3f, 0.3f);
  q.wv = random_floats(16 * 8, 8, -0.8f, 0.8f);
  return q;
}

TEST(SmoothQuant, QkvShareOneFactorFoldedIntoLayerNorm) {
  const Qkv w = qkv_weights();
  ir::Model model = load(qkv_model(w.gamma, w.beta, w.wq, w.wk, w.wv));
  const ir::Model original = model;
  const io::SampleSet samples = random_samples(model, 5, 11);

  auto r = run_pass_calibrated(model, "smooth-quant", channel_table(model, samples));
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 3u);
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "n -> q,k,v");
  EXPECT_NE(r->changes[0].detail.find("folded into LayerNormalization 'n'"), std::string::npos)
      << r->changes[0].detail;
  EXPECT_EQ(count_ops(model.graph, "Mul"), 0u);
  EXPECT_EQ(model.graph.node_count(), original.graph.node_count());

  // One s over the three weights: w_j is the maximum of row j over wq, wk and wv together.
  const std::vector<double> a = channel_abs_max(original, feeds(samples), "n");
  std::vector<double> wmax = row_abs_max(w.wq, 8, false);
  for (const auto* other : {&w.wk, &w.wv}) {
    const auto m = row_abs_max(*other, 8, false);
    for (size_t j = 0; j < 16; ++j) wmax[j] = std::max(wmax[j], m[j]);
  }
  const std::vector<double> s = smoothing(a, wmax, 0.5);
  expect_rows_scaled(w.wq, float_values(model.graph, "wq"), 8, false, s);
  expect_rows_scaled(w.wk, float_values(model.graph, "wk"), 8, false, s);
  expect_rows_scaled(w.wv, float_values(model.graph, "wv"), 8, false, s);
  const auto gamma = float_values(model.graph, "gamma");
  const auto beta = float_values(model.graph, "beta");
  ASSERT_EQ(gamma.size(), 16u);
  ASSERT_EQ(beta.size(), 16u);
  for (size_t j = 0; j < 16; ++j) {
    EXPECT_NEAR(gamma[j], w.gamma[j] / s[j], 1e-6 * std::fabs(w.gamma[j] / s[j])) << j;
    EXPECT_NEAR(beta[j], w.beta[j] / s[j], 1e-6 * std::fabs(w.beta[j] / s[j]) + 1e-12) << j;
  }

  const auto held_out = feeds(random_samples(model, 3, 77));
  const auto want = outputs(original, held_out), got = outputs(model, held_out);
  ASSERT_EQ(got.size(), 3u);
  for (size_t o = 0; o < 3; ++o) EXPECT_LT(max_rel_diff(want[o], got[o]), 1e-5) << o;
  // The LayerNormalization's output is flatter, and renamed (its values changed).
  EXPECT_LT(max_over_median(channel_abs_max(model, feeds(samples), "n_smoothed")),
            max_over_median(a) / 3);
}

TEST(SmoothQuant, SharedScaleIsCopiedNotChanged) {
  // gamma is read by a second LayerNormalization: the folded copy gets a fresh name.
  const Qkv w = qkv_weights();
  std::string text = qkv_model(w.gamma, w.beta, w.wq, w.wk, w.wv);
  text.replace(text.find("float[2, 3, 8] v)"), 17, "float[2, 3, 8] v, float[2, 3, 16] m)");
  text.replace(text.rfind('}'), 1, "  m = LayerNormalization<axis = -1>(x, gamma)\n    }");
  ir::Model model = load(text);
  const ir::Model original = model;
  const io::SampleSet samples = random_samples(model, 4, 12);
  auto r = run_pass_calibrated(model, "smooth-quant", channel_table(model, samples));
  ASSERT_OK(r);
  EXPECT_EQ(float_values(model.graph, "gamma"), w.gamma);
  const ir::Node* ln = writer(model.graph, "n_smoothed");
  ASSERT_NE(ln, nullptr);
  EXPECT_EQ(ln->inputs[1], "gamma_smoothed");
  EXPECT_EQ(ln->inputs[2], "beta");  // its own: rewritten in place
  const auto held_out = feeds(random_samples(model, 3, 78));
  const auto want = outputs(original, held_out), got = outputs(model, held_out);
  for (size_t o = 0; o < want.size(); ++o) EXPECT_LT(max_rel_diff(want[o], got[o]), 1e-5) << o;
}

TEST(SmoothQuant, MixedConsumersGetAMulAndSharedWeightsAreCopied) {
  // x feeds a MatMul and an Add; w is read by two MatMuls with different inputs.
  const auto w = random_floats(16 * 8, 21, -0.5f, 0.5f);
  const auto c = random_floats(16, 22, -1.0f, 1.0f);
  ir::Model model = load(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[4, 16] x) => (float[4, 8] y1, float[4, 8] y3, float[4, 16] y2)
    <float[16, 8] w = )" +
                         float_literal(w) + ", float[16] c = " + float_literal(c) + R"(>
    {
      y1 = MatMul(x, w)
      y2 = Add(x, c)
      y3 = MatMul(y2, w)
    })");
  const ir::Model original = model;
  const io::SampleSet samples = random_samples(model, 4, 13);
  const auto calib = feeds(samples);
  auto r = run_pass_calibrated(model, "smooth-quant", channel_table(model, samples));
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  ASSERT_EQ(r->changes.size(), 2u);
  EXPECT_EQ(r->changes[0].node, "x -> y1");
  EXPECT_EQ(r->changes[1].node, "y2 -> y3");
  EXPECT_EQ(count_ops(model.graph, "Mul"), 2u);
  const ir::Node* add = writer(model.graph, "y2");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->inputs, (std::vector<std::string>{"x", "c"}));
  EXPECT_EQ(float_values(model.graph, "c"), c);
  // Each MatMul has its own copy of w scaled by its own s; the original is gone.
  EXPECT_EQ(model.graph.find_initializer("w"), nullptr);
  const ir::Node* m1 = writer(model.graph, "y1");
  const ir::Node* m3 = writer(model.graph, "y3");
  ASSERT_NE(m1, nullptr);
  ASSERT_NE(m3, nullptr);
  EXPECT_EQ(m1->inputs[1], "w_smoothed");
  EXPECT_EQ(m3->inputs[1], "w_smoothed_1");
  const auto wmax = row_abs_max(w, 8, false);
  expect_rows_scaled(w, float_values(model.graph, "w_smoothed"), 8, false,
                     smoothing(channel_abs_max(original, calib, "x"), wmax, 0.5));
  expect_rows_scaled(w, float_values(model.graph, "w_smoothed_1"), 8, false,
                     smoothing(channel_abs_max(original, calib, "y2"), wmax, 0.5));

  const auto held_out = feeds(random_samples(model, 3, 79));
  const auto want = outputs(original, held_out), got = outputs(model, held_out);
  ASSERT_EQ(got.size(), 3u);
  for (size_t o = 0; o < 3; ++o) EXPECT_LT(max_rel_diff(want[o], got[o]), 1e-5) << o;
  EXPECT_EQ(want[2], got[2]);  // the Add is untouched
}

TEST(SmoothQuant, GemmTransBAndSkips) {
  const auto wt = random_floats(8 * 16, 31, -0.5f, 0.5f);
  const auto b = random_floats(8, 32, -0.1f, 0.1f);
  const auto wa = random_floats(16 * 8, 33, -0.5f, 0.5f);
  const auto w3 = random_floats(2 * 16 * 8, 34, -0.5f, 0.5f);
  ir::Model model = load(R"(<ir_version: 8, opset_import: ["" : 17]>
    g (float[4, 16] x, float[16, 8] wi) => (float[4, 8] y1, float[4, 8] y2, float[4, 8] y4,
                                            float[2, 4, 8] y3)
    <float[8, 16] wt = )" +
                         float_literal(wt) + ", float[8] b = " + float_literal(b) +
                         ", float[16, 8] wa = " + float_literal(wa) +
                         ", float[2, 16, 8] w3 = " + float_literal(w3) + R"(>
    {
      y1 = Gemm<transB = 1, alpha = 0.5>(x, wt, b)
      y2 = MatMul(x, wi)
      xt = Transpose(x)
      y4 = Gemm<transA = 1>(xt, wa)
      y3 = MatMul(x, w3)
    })");
  const ir::Model original = model;
  auto p = make_pass("smooth-quant");
  ASSERT_OK(p);
  const auto requests = (*p)->channel_statistics(model);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].tensor, "x");
  EXPECT_EQ(requests[0].axis, 1);  // the Gemm's A

  const io::SampleSet samples = random_samples(model, 4, 14);
  auto r = run_pass_calibrated(model, "smooth-quant", channel_table(model, samples));
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  std::map<std::string, std::string> skipped;
  for (const auto& s : r->skipped) skipped[s.node] = s.reason;
  ASSERT_EQ(skipped.size(), 3u);
  EXPECT_NE(skipped["y2"].find("'wi' is a graph input"), std::string::npos) << skipped["y2"];
  EXPECT_NE(skipped["y4"].find("transA"), std::string::npos) << skipped["y4"];
  EXPECT_NE(skipped["y3"].find("not 2-D"), std::string::npos) << skipped["y3"];
  EXPECT_EQ(float_values(model.graph, "wa"), wa);
  EXPECT_EQ(float_values(model.graph, "w3"), w3);

  const auto s =
      smoothing(channel_abs_max(original, feeds(samples), "x"), row_abs_max(wt, 16, true), 0.5);
  expect_rows_scaled(wt, float_values(model.graph, "wt"), 16, true, s);
  EXPECT_EQ(float_values(model.graph, "b"), b);
  const auto held_out = feeds(random_samples(model, 3, 80));
  const auto want = outputs(original, held_out), got = outputs(model, held_out);
  for (size_t o = 0; o < want.size(); ++o) EXPECT_LT(max_rel_diff(want[o], got[o]), 1e-5) << o;

  // Without statistics every layer is skipped, saying why, and nothing changes.
  ir::Model bare = original;
  auto none = run_pass(bare, "smooth-quant");
  ASSERT_OK(none);
  EXPECT_EQ(none->nodes_changed, 0u);
  bool said = false;
  for (const auto& sk : none->skipped) {
    said = said || (sk.node == "y1" &&
                    sk.reason.find("no per-channel statistics for input 'x'") != std::string::npos);
  }
  EXPECT_TRUE(said);
  EXPECT_EQ(save_to_bytes(bare), save_to_bytes(original));
}

TEST(SmoothQuant, Options) {
  for (const char* bad : {"1.5", "-0.1", "abc", ""}) {
    auto p = make_pass("smooth-quant", {{"alpha", bad}});
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find("'alpha'"), std::string::npos) << p.status().message();
  }
  ASSERT_OK(make_pass("smooth-quant", {{"alpha", "0"}}));
  ASSERT_OK(make_pass("smooth-quant", {{"alpha", "1"}}));

  // exclude: k keeps reading n, so 1/s cannot go into the LayerNormalization: a Mul feeds q, v.
  const Qkv w = qkv_weights();
  ir::Model model = load(qkv_model(w.gamma, w.beta, w.wq, w.wk, w.wv));
  const ir::Model original = model;
  const io::SampleSet samples = random_samples(model, 4, 15);
  const auto table = channel_table(model, samples);
  auto r = run_pass_calibrated(model, "smooth-quant", table, {{"exclude", "k"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "n -> q,v");
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].node, "k");
  EXPECT_NE(r->skipped[0].reason.find("exclude"), std::string::npos);
  EXPECT_EQ(float_values(model.graph, "wk"), w.wk);
  EXPECT_EQ(float_values(model.graph, "gamma"), w.gamma);
  EXPECT_EQ(writer(model.graph, "k")->inputs[0], "n");
  EXPECT_EQ(count_ops(model.graph, "Mul"), 1u);
  const auto held_out = feeds(random_samples(model, 3, 81));
  auto want = outputs(original, held_out), got = outputs(model, held_out);
  for (size_t o = 0; o < 3; ++o) EXPECT_LT(max_rel_diff(want[o], got[o]), 1e-5) << o;

  // alpha = 1 moves everything: the smoothed input's channel maxima are all 1.
  ir::Model full = original;
  ASSERT_OK(run_pass_calibrated(full, "smooth-quant", table, {{"alpha", "1"}}));
  for (double m : channel_abs_max(full, feeds(samples), "n_smoothed")) EXPECT_NEAR(m, 1.0, 1e-5);

  // nodes: one layer alone gets a Mul; the LayerNormalization and the other layers stay.
  ir::Model one = original;
  auto r1 = run_pass_calibrated(one, "smooth-quant", table, {{"nodes", "v"}});
  ASSERT_OK(r1);
  EXPECT_EQ(r1->nodes_changed, 1u);
  EXPECT_EQ(float_values(one.graph, "gamma"), w.gamma);
  EXPECT_EQ(float_values(one.graph, "wq"), w.wq);
  EXPECT_EQ(count_ops(one.graph, "Mul"), 1u);
  want = outputs(original, held_out), got = outputs(one, held_out);
  for (size_t o = 0; o < 3; ++o) EXPECT_LT(max_rel_diff(want[o], got[o]), 1e-5) << o;
}

StatusOr<std::vector<pass::PassRecord>> run_pipeline(ir::Model& model, const std::string& spec,
                                                     const io::SampleSet* samples,
                                                     const pass::CalibrationTable* table,
                                                     pass::CalibrationTable* used = nullptr) {
  COMPRESSOR_ASSIGN_OR_RETURN(pass::PassPipeline pipeline, pass::PassPipeline::parse(spec));
  if (table != nullptr) pipeline.set_calibration_table(*table);
  if (samples != nullptr) pipeline.set_calibration_samples(samples, {});
  pass::PassContext ctx;
  auto records = pipeline.run(model, ctx);
  if (records.ok() && used != nullptr && pipeline.calibration_table() != nullptr) {
    *used = *pipeline.calibration_table();
  }
  return records;
}

TEST(SmoothQuant, PipelineCalibratesAndTheSameTableGivesTheSameBytes) {
  const size_t k = 16;
  const ir::Model original = load(outlier_model(k, random_floats(k * 8, 41, -0.5f, 0.5f)));
  const io::SampleSet samples = random_samples(original, 6, 16);

  ir::Model a = original;
  pass::CalibrationTable used;
  auto records = run_pipeline(a, "smooth-quant", &samples, nullptr, &used);
  ASSERT_OK(records);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].calibrated_tensors, 1u);
  EXPECT_EQ((*records)[0].result.nodes_changed, 1u);
  ASSERT_EQ((*records)[0].result.changes.size(), 1u);
  const pass::ChannelStats* stats = used.find_channels("h");
  ASSERT_NE(stats, nullptr);
  EXPECT_EQ(stats->axis, 2);
  EXPECT_EQ(stats->abs_max, channel_abs_max(original, feeds(samples), "h"));

  ir::Model b = original, c = original;
  ASSERT_OK(run_pipeline(b, "smooth-quant", &samples, nullptr));
  // The saved table, read back, gives the same model.
  auto reread = pass::CalibrationTable::from_json(used.to_json(), "table.json");
  ASSERT_OK(reread);
  ASSERT_OK(run_pipeline(c, "smooth-quant", nullptr, &*reread));
  EXPECT_EQ(save_to_bytes(a, true), save_to_bytes(b, true));
  EXPECT_EQ(save_to_bytes(a, true), save_to_bytes(c, true));

  // A table without the statistics is refused by the pipeline, naming the tensor.
  ir::Model d = original;
  pass::CalibrationTable empty;
  empty.method = "minmax";
  auto refused = run_pipeline(d, "smooth-quant", nullptr, &empty);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("'h'"), std::string::npos)
      << refused.status().message();
}

// Relative L2 error of `got` against `want`.
double rel_l2(const std::vector<float>& want, const std::vector<float>& got) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / den);
}

TEST(SmoothQuant, PerTensorInt8IsMoreAccurateAfterSmoothing) {
  const size_t k = 32;
  const ir::Model original = load(outlier_model(k, random_floats(k * 8, 51, -0.5f, 0.5f)));
  const io::SampleSet samples = random_samples(original, 8, 17);
  const auto held_out = feeds(random_samples(original, 8, 18));
  const auto reference = outputs(original, held_out)[0];

  ir::Model plain = original, smoothed = original;
  ASSERT_OK(run_pipeline(plain, "quantize-static{per_channel=false}", &samples, nullptr));
  ASSERT_OK(
      run_pipeline(smoothed, "smooth-quant,quantize-static{per_channel=false}", &samples, nullptr));
  EXPECT_GT(count_ops(smoothed.graph, "QuantizeLinear"), 0u);
  const double e_plain = rel_l2(reference, outputs(plain, held_out)[0]);
  const double e_smooth = rel_l2(reference, outputs(smoothed, held_out)[0]);
  EXPECT_LT(e_smooth, e_plain * 0.7) << "plain " << e_plain << ", smoothed " << e_smooth;
}

TEST(SmoothQuant, TinyTransformerKeepsItsOutputsAndIsDeterministic) {
  auto loaded = io::load_model(demo_model("tiny_transformer"));
  ASSERT_OK(loaded);
  const ir::Model original = *loaded;
  const io::SampleSet samples = random_samples(original, 4, 19);
  const auto table = channel_table(original, samples);
  ir::Model a = original, b = original;
  auto r = run_pass_calibrated(a, "smooth-quant", table);
  ASSERT_OK(r);
  EXPECT_GT(r->nodes_changed, 0u);
  ASSERT_OK(run_pass_calibrated(b, "smooth-quant", table));
  EXPECT_EQ(save_to_bytes(a, true), save_to_bytes(b, true));
  const auto held_out = feeds(random_samples(original, 3, 20));
  const auto want = outputs(original, held_out), got = outputs(a, held_out);
  ASSERT_EQ(want.size(), got.size());
  for (size_t o = 0; o < want.size(); ++o) EXPECT_LT(max_rel_diff(want[o], got[o]), 1e-4) << o;
  // Exported without LayerNormalization: 1/s folds into the decomposed norm's scale and shift.
  bool folded = false;
  for (const auto& c : r->changes) {
    folded = folded || (c.node == "/ln1/Add_1_output_0 -> /q/MatMul,/k/MatMul,/v/MatMul" &&
                        c.detail.find("folded into Mul '/ln1/Mul' and Add '/ln1/Add_1'") !=
                            std::string::npos);
  }
  EXPECT_TRUE(folded);
  EXPECT_EQ(count_ops(a.graph, "Mul"), count_ops(original.graph, "Mul") + r->changes.size() - 2);
}

}  // namespace
}  // namespace compressor
