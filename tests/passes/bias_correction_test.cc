// Bias correction in quantize-static (qdq, qoperator), quantize-weights and quantize-dynamic:
// the mean output error per channel of the quantized model against the float one (both run by
// the executor on the same samples) nearly vanishes; the bias shift equals (W_q - W) * mean
// computed here from the weight read back through its DequantizeLinear parameters and the
// table's means; new biases, skips with reasons, and no change at all without the option.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "compressor/exec/executor.h"
#include "compressor/io/samples.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/pipeline.h"
#include "compressor/pass/registry.h"
#include "passes/layer_pass_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

// Grouped Conv without padding: X [1, 4, 8, 8], W [6, 2, 3, 3] (group 2), B [6].
std::string conv_model(bool with_bias) {
  const auto w = random_floats(6 * 2 * 9, 1, -0.5f, 0.5f);
  const auto b = random_floats(6, 2, -0.2f, 0.2f);
  return std::string(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 8, 8] X) => (float[1, 6, 6, 6] Y)
    <float[6, 2, 3, 3] W = )") +
         float_literal(w) + (with_bias ? ", float[6] B = " + float_literal(b) : std::string()) +
         R"(>
    { Y = Conv <group = 2> (X, W)" +
         (with_bias ? ", B" : "") + ") }";
}

// Gemm with transB, alpha and beta: A [4, 8], B [6, 8], C [6].
std::string gemm_model(bool with_c) {
  const auto w = random_floats(6 * 8, 3, -0.5f, 0.5f);
  const auto c = random_floats(6, 4, -0.2f, 0.2f);
  return std::string(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4, 8] A) => (float[4, 6] Y)
    <float[6, 8] W = )") +
         float_literal(w) + (with_c ? ", float[6] C = " + float_literal(c) : std::string()) +
         R"(>
    { Y = Gemm <transB = 1, alpha = 0.5, beta = 2.0> (A, W)" +
         (with_c ? ", C" : "") + ") }";
}

// MatMul on a 3-D input, followed (or not) by an Add of a constant bias.
std::string matmul_model(bool with_add) {
  const auto w = random_floats(8 * 5, 5, -0.5f, 0.5f);
  const auto b = random_floats(5, 6, -0.2f, 0.2f);
  if (!with_add) {
    return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3, 8] X) => (float[2, 3, 5] Y)
    <float[8, 5] W = )" +
           float_literal(w) + R"(>
    { Y = MatMul(X, W) })";
  }
  return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3, 8] X) => (float[2, 3, 5] Y)
    <float[8, 5] W = )" +
         float_literal(w) + ", float[5] B = " + float_literal(b) + R"(>
    { H = MatMul(X, W)
      Y = Add(H, B) })";
}

// Samples with every input value in [2, 4): channel means far from zero.
io::SampleSet samples_for(const ir::Model& model, size_t count = 16) {
  io::SampleOptions o;
  o.count = count;
  o.seed = 7;
  o.random_range = std::make_pair(2.0, 4.0);
  auto s = io::SampleSet::open(model, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

// The table a pipeline would build for `pass_name` with `options` on `model`.
pass::CalibrationTable table_for(const ir::Model& model, const io::SampleSet& samples,
                                 const std::string& pass_name, const pass::PassOptions& options) {
  auto p = make_pass(pass_name, options);
  EXPECT_TRUE(p.ok()) << p.status().message();
  auto t = pass::calibrate(model, samples, (*p)->calibration_tensors(model), {},
                           (*p)->channel_statistics(model));
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? *t : pass::CalibrationTable{};
}

// Per output channel (along `axis`), the mean over samples and positions of quantized - float.
std::vector<double> mean_error(const ir::Model& original, const ir::Model& quantized,
                               const io::SampleSet& samples, int64_t axis) {
  auto ef = exec::Executor::create(original, {.threads = 1});
  auto eq = exec::Executor::create(quantized, {.threads = 1});
  EXPECT_TRUE(ef.ok() && eq.ok());
  if (!ef.ok() || !eq.ok()) return {};
  std::vector<double> sum;
  std::vector<size_t> count;
  for (size_t i = 0; i < samples.size(); ++i) {
    auto sample = samples.get(i);
    EXPECT_TRUE(sample.ok());
    std::vector<exec::NamedTensor> feed;
    for (auto& t : *sample) feed.push_back({t.name, t.tensor});
    auto yf = (*ef)->run(feed);
    auto yq = (*eq)->run(feed);
    EXPECT_TRUE(yf.ok() && yq.ok()) << (yq.ok() ? "" : yq.status().message());
    if (!yf.ok() || !yq.ok()) return {};
    const ir::Dims& dims = (*yf)[0].dims();
    const size_t a = size_t(axis < 0 ? axis + int64_t(dims.size()) : axis);
    size_t inner = 1;
    for (size_t d = a + 1; d < dims.size(); ++d) inner *= size_t(dims[d]);
    const size_t channels = size_t(dims[a]);
    sum.resize(channels, 0.0);
    count.resize(channels, 0);
    const auto f = (*yf)[0].span<float>();
    const auto q = (*yq)[0].span<float>();
    for (size_t k = 0; k < f.size(); ++k) {
      const size_t c = (k / inner) % channels;
      sum[c] += double(q[k]) - double(f[k]);
      ++count[c];
    }
  }
  for (size_t c = 0; c < sum.size(); ++c) sum[c] /= double(count[c]);
  return sum;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

struct Config {
  std::string pass;
  pass::PassOptions options;  // without bias_correction
};

std::vector<Config> all_configs() {
  return {{"quantize-static", {}},
          {"quantize-static", {{"format", "qoperator"}}},
          {"quantize-weights", {}},
          {"quantize-dynamic", {}}};
}

pass::PassOptions with_correction(pass::PassOptions o, bool on = true) {
  o["bias_correction"] = on ? "true" : "false";
  return o;
}

std::string describe(const Config& c) {
  std::string s = c.pass;
  for (const auto& [k, v] : c.options) s += " " + k + "=" + v;
  return s;
}

// Quantizes `text` with and without correction; returns the largest mean channel error of each.
struct ErrorPair {
  double plain = 0, corrected = 0;
};
ErrorPair measure(const std::string& text, const Config& c, int64_t axis,
                  pass::PassResult* result = nullptr) {
  auto model = model_from_text(text);
  EXPECT_TRUE(model.ok()) << model.status().message();
  const io::SampleSet samples = samples_for(*model, 64);
  ErrorPair out;
  for (bool on : {false, true}) {
    ir::Model m = *model;
    const auto options = with_correction(c.options, on);
    const pass::CalibrationTable table = table_for(m, samples, c.pass, options);
    auto r = run_pass_calibrated(m, c.pass, table, options);
    EXPECT_TRUE(r.ok()) << describe(c) << ": " << r.status().message();
    if (!r.ok()) return out;
    if (on && result != nullptr) *result = *r;
    (on ? out.corrected : out.plain) = max_abs(mean_error(*model, m, samples, axis));
  }
  return out;
}

TEST(BiasCorrection, MeanOutputErrorVanishesForConvGemmAndMatMulAdd) {
  struct Layer {
    const char* name;
    std::string text;
    int64_t axis;
  };
  const std::vector<Layer> layers = {{"conv", conv_model(true), 1},
                                     {"gemm", gemm_model(true), 1},
                                     {"matmul+add", matmul_model(true), -1}};
  for (const Config& c : all_configs()) {
    for (const Layer& l : layers) {
      pass::PassResult r;
      const ErrorPair e = measure(l.text, c, l.axis, &r);
      SCOPED_TRACE(describe(c) + " " + l.name);
      // Without correction the weight error shifts the mean output by 4e-3..2e-2. With it,
      // weight-only and dynamic quantization keep only the sampling difference between the
      // windows' and the whole input's mean (and, dynamic, run-time activation rounding); static
      // quantization also rounds (and, at the calibrated extremes, clips) activations.
      EXPECT_GT(e.plain, 3e-3) << e.plain;
      const double factor = c.pass == "quantize-static" ? 4 : 10;
      EXPECT_LT(e.corrected, e.plain / factor) << e.plain << " -> " << e.corrected;
      ASSERT_EQ(r.changes.size(), 1u);
      EXPECT_NE(r.changes[0].detail.find(", bias corrected (max |shift| "), std::string::npos)
          << r.changes[0].detail;
      EXPECT_NE(std::find(r.notes.begin(), r.notes.end(), "bias correction: 1 layer corrected"),
                r.notes.end());
    }
  }
}

// The weight as the DequantizeLinear reading `quantized` computes it, from its stored integers,
// scale and zero point (computed here from the definition, not by the pass's helpers).
std::vector<double> dequantized_weight(const ir::Graph& g, const std::string& dq_output) {
  for (const auto& n : g.nodes()) {
    if (n->op_type != "DequantizeLinear" || n->outputs[0] != dq_output) continue;
    const ir::Tensor& q = g.find_initializer(n->inputs[0])->tensor;
    const ir::Tensor& s = g.find_initializer(n->inputs[1])->tensor;
    // Symmetric weights go without their all-zero zero point (ONNX's default).
    const bool has_zero = n->inputs.size() > 2 && !n->inputs[2].empty();
    const ir::Tensor* z = has_zero ? &g.find_initializer(n->inputs[2])->tensor : nullptr;
    const int64_t axis = n->attr_int("axis", 1);
    size_t inner = 1;
    for (size_t d = size_t(axis) + 1; d < q.dims().size(); ++d) inner *= size_t(q.dims()[d]);
    const size_t channels = size_t(s.numel());
    std::vector<double> out(size_t(q.numel()));
    for (size_t i = 0; i < out.size(); ++i) {
      const size_t c = channels == 1 ? 0 : (i / inner) % channels;
      const double zp = z == nullptr                     ? 0.0
                        : z->dtype() == ir::DType::kInt8 ? z->span<int8_t>()[c]
                                                         : z->span<uint8_t>()[c];
      const double v = q.dtype() == ir::DType::kInt8 ? q.span<int8_t>()[i] : q.span<uint8_t>()[i];
      out[i] = float(v - zp) * s.span<float>()[c];
    }
    return out;
  }
  ADD_FAILURE() << "no DequantizeLinear writes " << dq_output;
  return {};
}

TEST(BiasCorrection, ShiftIsWeightErrorTimesMeanInput) {
  // quantize-weights on the grouped Conv: B' = B - sum (W_q - W) * mean over each group's inputs.
  auto model = model_from_text(conv_model(true));
  ASSERT_OK(model);
  const ir::Model original = *model;
  const io::SampleSet samples = samples_for(*model);
  const pass::PassOptions options = {{"bias_correction", "true"}};
  const pass::CalibrationTable table = table_for(*model, samples, "quantize-weights", options);
  const pass::ChannelStats* x = table.find_channels("X");
  ASSERT_NE(x, nullptr);
  ASSERT_EQ(x->mean.size(), 4u);
  EXPECT_GT(x->mean[0], 2.5);
  auto r = run_pass_calibrated(*model, "quantize-weights", table, options);
  ASSERT_OK(r);
  const ir::Graph& g = model->graph;
  const ir::Node* conv = nullptr;
  for (const auto& n : g.nodes()) {
    if (n->op_type == "Conv") conv = n.get();
  }
  ASSERT_NE(conv, nullptr);
  const auto wq = dequantized_weight(g, conv->inputs[1]);
  const auto w = float_values(original.graph, "W");
  const auto b = float_values(original.graph, "B");
  const auto b2 = float_values(g, conv->inputs[2]);
  ASSERT_EQ(wq.size(), w.size());
  ASSERT_EQ(b2.size(), 6u);
  double largest = 0;
  for (size_t o = 0; o < 6; ++o) {
    double e = 0;
    for (size_t c = 0; c < 2; ++c) {
      for (size_t k = 0; k < 9; ++k) {
        const size_t i = (o * 2 + c) * 9 + k;
        e += (wq[i] - double(w[i])) * x->mean[(o / 3) * 2 + c];
      }
    }
    EXPECT_NEAR(double(b2[o]), double(b[o]) - e, 1e-6) << o;
    largest = std::max(largest, std::fabs(e));
  }
  EXPECT_GT(largest, 1e-3);

  // quantize-static on the Gemm: C' = C - (alpha / beta) (W_q - W)^T mean, stored as int32 with
  // scale s_A * s_W.
  auto gemm = model_from_text(gemm_model(true));
  ASSERT_OK(gemm);
  const ir::Model gemm_original = *gemm;
  const io::SampleSet gemm_samples = samples_for(*gemm);
  const pass::CalibrationTable gt = table_for(*gemm, gemm_samples, "quantize-static", options);
  const pass::ChannelStats* a = gt.find_channels("A");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->mean.size(), 8u);
  ASSERT_OK(run_pass_calibrated(*gemm, "quantize-static", gt, options));
  const ir::Node* node = nullptr;
  for (const auto& n : gemm->graph.nodes()) {
    if (n->op_type == "Gemm") node = n.get();
  }
  ASSERT_NE(node, nullptr);
  const auto gw = dequantized_weight(gemm->graph, node->inputs[1]);
  std::vector<double> c_dq;
  for (const auto& n : gemm->graph.nodes()) {
    if (n->op_type == "DequantizeLinear" && n->outputs[0] == node->inputs[2]) {
      const ir::Tensor& q = gemm->graph.find_initializer(n->inputs[0])->tensor;
      const ir::Tensor& s = gemm->graph.find_initializer(n->inputs[1])->tensor;
      ASSERT_EQ(q.dtype(), ir::DType::kInt32);
      for (size_t i = 0; i < size_t(q.numel()); ++i) {
        const float scale = s.numel() == 1 ? s.span<float>()[0] : s.span<float>()[i];
        c_dq.push_back(double(q.span<int32_t>()[i]) * scale);
        // The int32 rounding is at most half a step.
        EXPECT_LE(scale, 1e-3);
      }
    }
  }
  ASSERT_EQ(c_dq.size(), 6u);
  const auto w0 = float_values(gemm_original.graph, "W");
  const auto c0 = float_values(gemm_original.graph, "C");
  for (size_t n = 0; n < 6; ++n) {
    double e = 0;
    for (size_t k = 0; k < 8; ++k) e += (gw[n * 8 + k] - double(w0[n * 8 + k])) * a->mean[k];
    EXPECT_NEAR(c_dq[n], double(c0[n]) - 0.5 / 2.0 * e, 1e-3) << n;
  }
}

TEST(BiasCorrection, DynamicUsesTheStoredWeightError) {
  // MatMul + Add through quantize-dynamic (uint8 weights, zero point 128): the Add's constant
  // becomes B - (W_q - W)^T mean; the activation's run-time quantization plays no part.
  auto model = model_from_text(matmul_model(true));
  ASSERT_OK(model);
  const ir::Model original = *model;
  const io::SampleSet samples = samples_for(*model);
  const pass::PassOptions options = {{"bias_correction", "true"}};
  const pass::CalibrationTable table = table_for(*model, samples, "quantize-dynamic", options);
  const pass::ChannelStats* x = table.find_channels("X");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->axis, 2);
  auto r = run_pass_calibrated(*model, "quantize-dynamic", table, options);
  ASSERT_OK(r);
  const ir::Graph& g = model->graph;
  const ir::Node* integer = nullptr;
  const ir::Node* add = nullptr;
  for (const auto& n : g.nodes()) {
    if (n->op_type == "MatMulInteger") integer = n.get();
    if (n->op_type == "Add" && n->outputs[0] == "Y") add = n.get();
  }
  ASSERT_NE(integer, nullptr);
  ASSERT_NE(add, nullptr);
  const ir::Tensor& q = g.find_initializer(integer->inputs[1])->tensor;
  const ir::Tensor& zp = g.find_initializer(integer->inputs[3])->tensor;
  ASSERT_EQ(q.dtype(), ir::DType::kUInt8);
  // The per-column scale is the second input of the Mul computing the output scale.
  std::vector<float> scale;
  for (const auto& n : g.nodes()) {
    if (n->op_type == "Mul" && g.find_initializer(n->inputs[1]) != nullptr &&
        n->inputs[0] != n->inputs[1]) {
      scale = float_values(g, n->inputs[1]);
    }
  }
  ASSERT_EQ(scale.size(), 5u);
  const auto w = float_values(original.graph, "W");
  const auto b = float_values(original.graph, "B");
  const std::string bias = add->inputs[0] == "H" ? add->inputs[1] : add->inputs[0];
  const auto b2 = float_values(g, bias);
  ASSERT_EQ(b2.size(), 5u);
  for (size_t n = 0; n < 5; ++n) {
    double e = 0;
    for (size_t k = 0; k < 8; ++k) {
      const double wq =
          float(double(q.span<uint8_t>()[k * 5 + n]) - double(zp.span<uint8_t>()[0])) * scale[n];
      e += (wq - double(w[k * 5 + n])) * x->mean[k];
    }
    EXPECT_NEAR(double(b2[n]), double(b[n]) - e, 1e-6) << n;
  }
}

TEST(BiasCorrection, ConvWithoutBiasGetsOneAndBareMatMulIsSkipped) {
  for (const Config& c : all_configs()) {
    SCOPED_TRACE(describe(c));
    auto model = model_from_text(conv_model(false));
    ASSERT_OK(model);
    const ir::Model original = *model;
    const io::SampleSet samples = samples_for(*model);
    const auto options = with_correction(c.options);
    const pass::CalibrationTable table = table_for(*model, samples, c.pass, options);
    auto r = run_pass_calibrated(*model, c.pass, table, options);
    ASSERT_OK(r);
    ASSERT_EQ(r->changes.size(), 1u);
    EXPECT_NE(r->changes[0].detail.find(", bias corrected"), std::string::npos);
    // The Conv (or its integer replacement's Add) now has a bias, and the mean error is gone.
    const ir::Node* conv = nullptr;
    for (const auto& n : model->graph.nodes()) {
      if (n->op_type == "Conv" || n->op_type == "QLinearConv") conv = n.get();
    }
    if (c.pass == "quantize-dynamic") {
      EXPECT_EQ(count_ops(model->graph, "Add"), 1u);
    } else {
      ASSERT_NE(conv, nullptr);
      EXPECT_EQ(conv->inputs.size(), conv->op_type == "Conv" ? 3u : 9u);
    }
    EXPECT_LT(max_abs(mean_error(original, *model, samples, 1)), 3e-3);
  }

  for (const Config& c : all_configs()) {
    SCOPED_TRACE(describe(c));
    auto model = model_from_text(matmul_model(false));
    ASSERT_OK(model);
    const io::SampleSet samples = samples_for(*model);
    const auto options = with_correction(c.options);
    auto p = make_pass(c.pass, options);
    ASSERT_OK(p);
    EXPECT_TRUE((*p)->channel_statistics(*model).empty());  // nothing to measure for it
    const pass::CalibrationTable table = table_for(*model, samples, c.pass, options);
    auto r = run_pass_calibrated(*model, c.pass, table, options);
    ASSERT_OK(r);
    ASSERT_EQ(r->changes.size(), 1u);
    EXPECT_NE(r->changes[0].detail.find(", bias not corrected: MatMul has no bias"),
              std::string::npos)
        << r->changes[0].detail;
    EXPECT_EQ(count_ops(model->graph, "Add"), 0u);
    EXPECT_NE(std::find(r->notes.begin(), r->notes.end(),
                        "bias correction: 0 layers corrected, 1 not (1 MatMul without a constant "
                        "bias Add)"),
              r->notes.end());
  }
}

TEST(BiasCorrection, OffLeavesTheOutputByteIdentical) {
  for (const Config& c : all_configs()) {
    for (const std::string& text : {conv_model(true), conv_model(false), gemm_model(false),
                                    matmul_model(true), matmul_model(false)}) {
      SCOPED_TRACE(describe(c));
      auto model = model_from_text(text);
      ASSERT_OK(model);
      const io::SampleSet samples = samples_for(*model, 4);
      const pass::CalibrationTable table = table_for(*model, samples, c.pass, c.options);
      EXPECT_TRUE(table.channels.empty());
      ir::Model plain = *model, off = *model;
      auto r1 = run_pass_calibrated(plain, c.pass, table, c.options);
      auto r2 = run_pass_calibrated(off, c.pass, table, with_correction(c.options, false));
      ASSERT_OK(r1);
      ASSERT_OK(r2);
      EXPECT_EQ(save_to_bytes(plain), save_to_bytes(off));
      EXPECT_EQ(r1->notes, r2->notes);
      ASSERT_EQ(r1->changes.size(), r2->changes.size());
      for (size_t i = 0; i < r1->changes.size(); ++i) {
        EXPECT_EQ(r1->changes[i].detail, r2->changes[i].detail);
      }
    }
  }
}

TEST(BiasCorrection, MissingStatisticsAreNotedNotFatal) {
  for (const Config& c : all_configs()) {
    SCOPED_TRACE(describe(c));
    auto model = model_from_text(conv_model(true));
    ASSERT_OK(model);
    const io::SampleSet samples = samples_for(*model, 4);
    // A table made without the option (no per-channel statistics), used with it.
    const pass::CalibrationTable table = table_for(*model, samples, c.pass, c.options);
    ASSERT_TRUE(table.channels.empty());
    const auto options = with_correction(c.options);
    auto r = run_pass_calibrated(*model, c.pass, table, options);
    ASSERT_OK(r);
    ASSERT_EQ(r->changes.size(), 1u);
    EXPECT_NE(r->changes[0].detail.find(
                  ", bias not corrected: no per-channel statistics of input 'X' in the "
                  "calibration table"),
              std::string::npos)
        << r->changes[0].detail;
    EXPECT_NE(std::find(r->notes.begin(), r->notes.end(),
                        "bias correction: 0 layers corrected, 1 not (1 no input statistics in "
                        "the calibration table)"),
              r->notes.end());

    // Through a pipeline given that table: the pass runs (the statistics are optional).
    auto again = model_from_text(conv_model(true));
    ASSERT_OK(again);
    auto p = make_pass(c.pass, options);
    ASSERT_OK(p);
    pass::PassPipeline pipeline;
    pipeline.add(std::move(p).value(), "bias_correction=true");
    pipeline.set_calibration_table(table);
    pass::PassContext ctx;
    auto records = pipeline.run(*again, ctx);
    ASSERT_OK(records);
    ASSERT_EQ(records->size(), 1u);
    EXPECT_EQ((*records)[0].result.nodes_changed, 1u);
  }
}

TEST(BiasCorrection, PipelineCalibratesTheStatisticsItself) {
  // quantize-weights needs no ranges; with the option the pipeline gathers the input means.
  auto model = model_from_text(gemm_model(false));
  ASSERT_OK(model);
  const ir::Model original = *model;
  const io::SampleSet samples = samples_for(*model);
  auto p = make_pass("quantize-weights", {{"bias_correction", "true"}});
  ASSERT_OK(p);
  const auto requests = (*p)->channel_statistics(*model);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].tensor, "A");
  EXPECT_EQ(requests[0].axis, 1);
  pass::PassPipeline pipeline;
  pipeline.add(std::move(p).value(), "bias_correction=true");
  pipeline.set_calibration_samples(&samples, {});
  pass::PassContext ctx;
  auto records = pipeline.run(*model, ctx);
  ASSERT_OK(records);
  ASSERT_NE(pipeline.calibration_table(), nullptr);
  EXPECT_NE(pipeline.calibration_table()->find_channels("A"), nullptr);
  // The Gemm had no C: it gets one, scaled for beta = 2.
  const ir::Node* gemm = nullptr;
  for (const auto& n : model->graph.nodes()) {
    if (n->op_type == "Gemm") gemm = n.get();
  }
  ASSERT_NE(gemm, nullptr);
  ASSERT_EQ(gemm->inputs.size(), 3u);
  EXPECT_EQ(float_values(model->graph, gemm->inputs[2]).size(), 6u);
  EXPECT_LT(max_abs(mean_error(original, *model, samples, 1)), 1e-4);
}

TEST(BiasCorrection, BadOptionValueNamesTheOption) {
  for (const char* name : {"quantize-static", "quantize-weights", "quantize-dynamic"}) {
    auto p = make_pass(name, {{"bias_correction", "maybe"}});
    ASSERT_FALSE(p.ok()) << name;
    EXPECT_NE(p.status().message().find("bias_correction"), std::string::npos)
        << p.status().message();
  }
}

}  // namespace
}  // namespace compressor
