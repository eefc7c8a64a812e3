// quantize-static: QDQ placement and parameters recomputed here from the calibrated ranges (taken
// from a float run of each model), int32 biases with scale s_x * s_w, the executor's output close
// to the float model's, QLinear ops for format=qoperator, skips and errors.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <map>

#include "compressor/exec/executor.h"
#include "compressor/io/test_data.h"
#include "compressor/pass/pass_context.h"
#include "passes/layer_pass_testing.h"
#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

using Inputs = std::vector<exec::NamedTensor>;

ir::Tensor float_input(ir::Dims dims, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return float_tensor(dims, random_floats(size_t(ir::element_count(dims)), seed, lo, hi));
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i)
    ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb);
}

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

// Asymmetric int8 parameters of [lo, hi] from the definition: [min(lo,0), max(hi,0)] onto
// [-128, 127].
std::pair<float, int> int8_asymmetric(double lo, double hi) {
  lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  const float scale = static_cast<float>((hi - lo) / 255.0);
  const int zp = int(std::clamp(std::nearbyint(-128.0 - lo / scale), -128.0, 127.0));
  return {scale, zp};
}

const ir::Node* producer_of(const ir::Graph& graph, const std::string& value) {
  for (const auto& n : graph.nodes()) {
    for (const auto& o : n->outputs) {
      if (o == value) return n.get();
    }
  }
  return nullptr;
}

std::vector<const ir::Node*> readers_of(const ir::Graph& graph, const std::string& value) {
  std::vector<const ir::Node*> r;
  for (const auto& n : graph.nodes()) {
    if (std::find(n->inputs.begin(), n->inputs.end(), value) != n->inputs.end()) {
      r.push_back(n.get());
    }
  }
  return r;
}

float scalar_float(const ir::Graph& graph, const std::string& name) {
  const auto v = float_values(graph, name);
  EXPECT_EQ(v.size(), 1u) << name;
  return v.empty() ? 0.0f : v[0];
}

int scalar_int(const ir::Graph& graph, const std::string& name) {
  const ir::Initializer* init = graph.find_initializer(name);
  if (init == nullptr) {
    ADD_FAILURE() << "no initializer '" << name << "'";
    return 0;
  }
  if (init->tensor.dtype() == ir::DType::kInt8) return init->tensor.span<int8_t>()[0];
  if (init->tensor.dtype() == ir::DType::kUInt8) return init->tensor.span<uint8_t>()[0];
  ADD_FAILURE() << name << " is not int8/uint8";
  return 0;
}

// A table for every tensor the pass asks for, from float runs on `samples`.
pass::CalibrationTable table_for(const ir::Model& model, const std::vector<Inputs>& samples,
                                 const pass::PassOptions& options = {}) {
  auto p = make_pass("quantize-static", options);
  EXPECT_TRUE(p.ok());
  auto table = minmax_calibration(model, samples, (*p)->calibration_tensors(model));
  EXPECT_TRUE(table.ok()) << table.status().message();
  return table.ok() ? *table : pass::CalibrationTable{};
}

std::string conv_model(int64_t opset, const std::vector<float>& w, const std::vector<float>& b) {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + R"(]>
    g (float[1, 3, 6, 6] X) => (float[1, 4, 4, 4] Y)
    <float[4, 3, 3, 3] W = )" +
         float_literal(w) + ", float[4] B = " + float_literal(b) + R"(>
    { Y = Conv(X, W, B) })";
}

TEST(QuantizeStatic, ConvGetsQdqPairsAndInt32Bias) {
  const auto w = random_floats(4 * 27, 1, -0.5f, 0.5f);
  const auto b = random_floats(4, 2, -0.2f, 0.2f);
  auto model = model_from_text(conv_model(13, w, b));
  ASSERT_OK(model);
  const ir::Model original = *model;
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 3; ++s) samples.push_back({{"X", float_input({1, 3, 6, 6}, 10 + s)}});
  auto p = make_pass("quantize-static");
  ASSERT_OK(p);
  EXPECT_EQ((*p)->calibration_tensors(*model), (std::vector<std::string>{"X", "Y"}));
  EXPECT_EQ((*p)->eligible_nodes(*model), (std::vector<std::string>{"Y"}));
  const pass::CalibrationTable table = table_for(*model, samples);

  auto r = run_pass_calibrated(*model, "quantize-static", table);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_TRUE(r->skipped.empty());
  const ir::Graph& g = model->graph;
  EXPECT_EQ(count_ops(g, "QuantizeLinear"), 2u);
  EXPECT_EQ(count_ops(g, "DequantizeLinear"), 4u);
  const ir::Node* conv = nullptr;
  for (const auto& n : g.nodes()) {
    if (n->op_type == "Conv") conv = n.get();
  }
  ASSERT_NE(conv, nullptr);
  ASSERT_EQ(conv->inputs.size(), 3u);
  EXPECT_EQ(conv->inputs[0], "X_dequantized");
  EXPECT_EQ(conv->outputs[0], "Y_float");
  EXPECT_EQ(g.find_initializer("W"), nullptr);
  EXPECT_EQ(g.find_initializer("B"), nullptr);

  // Input: Q(X) -> DQ with the parameters of X's range.
  const ir::Node* x_dq = producer_of(g, conv->inputs[0]);
  ASSERT_NE(x_dq, nullptr);
  EXPECT_EQ(x_dq->op_type, "DequantizeLinear");
  const ir::Node* x_q = producer_of(g, x_dq->inputs[0]);
  ASSERT_NE(x_q, nullptr);
  EXPECT_EQ(x_q->op_type, "QuantizeLinear");
  EXPECT_EQ(x_q->inputs[0], "X");
  const auto [sx, zx] = int8_asymmetric(table.ranges.at("X").min, table.ranges.at("X").max);
  EXPECT_FLOAT_EQ(scalar_float(g, x_q->inputs[1]), sx);
  EXPECT_EQ(scalar_int(g, x_q->inputs[2]), zx);
  EXPECT_EQ(x_dq->inputs[1], x_q->inputs[1]);

  // Output: Conv -> Y_float -> Q -> DQ -> Y (the graph output keeps its name).
  const auto y_readers = readers_of(g, "Y_float");
  ASSERT_EQ(y_readers.size(), 1u);
  EXPECT_EQ(y_readers[0]->op_type, "QuantizeLinear");
  const ir::Node* y_dq = producer_of(g, "Y");
  ASSERT_NE(y_dq, nullptr);
  EXPECT_EQ(y_dq->op_type, "DequantizeLinear");
  const auto [sy, zy] = int8_asymmetric(table.ranges.at("Y").min, table.ranges.at("Y").max);
  EXPECT_FLOAT_EQ(scalar_float(g, y_readers[0]->inputs[1]), sy);
  EXPECT_EQ(scalar_int(g, y_readers[0]->inputs[2]), zy);

  // Weight: symmetric int8 per output channel (axis 0).
  const ir::Node* w_dq = producer_of(g, conv->inputs[1]);
  ASSERT_NE(w_dq, nullptr);
  EXPECT_EQ(w_dq->attr_int("axis", -1), 0);
  const auto sw = float_values(g, w_dq->inputs[1]);
  ASSERT_EQ(sw.size(), 4u);
  for (size_t c = 0; c < 4; ++c) {
    float m = 0;
    for (size_t i = c * 27; i < (c + 1) * 27; ++i) m = std::max(m, std::fabs(w[i]));
    EXPECT_FLOAT_EQ(sw[c], m / 127.0f);
  }
  EXPECT_EQ(g.find_initializer(w_dq->inputs[0])->tensor.dtype(), ir::DType::kInt8);
  // Symmetric: no zero point (DequantizeLinear's default 0 of int8).
  EXPECT_EQ(w_dq->inputs.size(), 2u);

  // Bias: int32, scale s_x * s_w per channel, no zero point (0 by default), axis 0.
  const ir::Node* b_dq = producer_of(g, conv->inputs[2]);
  ASSERT_NE(b_dq, nullptr);
  EXPECT_EQ(b_dq->op_type, "DequantizeLinear");
  EXPECT_EQ(b_dq->attr_int("axis", -1), 0);
  ASSERT_EQ(b_dq->inputs.size(), 2u);
  const ir::Initializer* bq = g.find_initializer(b_dq->inputs[0]);
  ASSERT_TRUE(bq);
  ASSERT_EQ(bq->tensor.dtype(), ir::DType::kInt32);
  const auto bs = float_values(g, b_dq->inputs[1]);
  ASSERT_EQ(bs.size(), 4u);
  for (size_t c = 0; c < 4; ++c) {
    EXPECT_EQ(bs[c], sx * sw[c]) << c;
    EXPECT_EQ(bq->tensor.span<int32_t>()[c], int32_t(std::nearbyint(double(b[c]) / bs[c])));
  }

  // Ledger.
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "Y");
  EXPECT_EQ(r->changes[0].detail.rfind("int8 QDQ, weight per channel (scales ", 0), 0u)
      << r->changes[0].detail;

  // Numerics: within a few output steps of the float model.
  for (uint64_t s = 0; s < 3; ++s) {
    const Inputs in = {{"X", float_input({1, 3, 6, 6}, 20 + s)}};
    const auto ref = run_float_output(original, in), got = run_float_output(*model, in);
    ASSERT_EQ(ref.size(), got.size());
    EXPECT_GT(cosine(ref, got), 0.999);
    EXPECT_LT(max_abs(ref, got), 4 * sy);
  }
  EXPECT_EQ(save_to_bytes(*model, true), save_to_bytes(*model, true));
}

TEST(QuantizeStatic, WideLayerScalesAreFloat16BehindACast) {
  // 64 output channels: per-channel weight scales stored as float16 in QDQ.
  const auto w = random_floats(64 * 27, 51, -0.5f, 0.5f);
  const auto b = random_floats(64, 52, -0.2f, 0.2f);
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3, 6, 6] X) => (float[1, 64, 4, 4] Y)
    <float[64, 3, 3, 3] W = )" +
                               float_literal(w) + ", float[64] B = " + float_literal(b) + R"(>
    { Y = Conv(X, W, B) })");
  ASSERT_OK(model);
  const ir::Model original = *model;
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 3; ++s) samples.push_back({{"X", float_input({1, 3, 6, 6}, 60 + s)}});
  const pass::CalibrationTable table = table_for(*model, samples);
  ASSERT_OK(run_pass_calibrated(*model, "quantize-static", table));
  const ir::Graph& g = model->graph;
  EXPECT_EQ(count_ops(g, "Cast"), 1u);
  const ir::Node* conv = producer_of(g, "Y_float");
  ASSERT_NE(conv, nullptr);
  const ir::Node* w_dq = producer_of(g, conv->inputs[1]);
  ASSERT_NE(w_dq, nullptr);
  const ir::Node* cast = producer_of(g, w_dq->inputs[1]);
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(cast->op_type, "Cast");
  auto position = [&](const ir::Node* n) {
    size_t i = 0;
    while (i < g.node_count() && &g.node(i) != n) ++i;
    return i;
  };
  EXPECT_LT(position(cast), position(w_dq)) << "the Cast comes before the DequantizeLinear";
  const ir::Initializer* half = g.find_initializer(cast->inputs[0]);
  ASSERT_NE(half, nullptr);
  ASSERT_EQ(half->tensor.dtype(), ir::DType::kFloat16);
  const auto* h = reinterpret_cast<const Eigen::half*>(half->tensor.data());
  // The bias scale is x scale times the float16 weight scale, as the Cast computes it.
  const ir::Node* b_dq = producer_of(g, conv->inputs[2]);
  ASSERT_NE(b_dq, nullptr);
  const auto bs = float_values(g, b_dq->inputs[1]);
  ASSERT_EQ(bs.size(), 64u);
  const float sx = scalar_float(g, producer_of(g, conv->inputs[0])->inputs[1]);
  for (size_t c = 0; c < 64; ++c) {
    float m = 0;
    for (size_t i = c * 27; i < (c + 1) * 27; ++i) m = std::max(m, std::fabs(w[i]));
    const float sw = static_cast<float>(h[c]);
    EXPECT_GE(sw, m / 127.0f) << c;
    EXPECT_LE(sw, m / 127.0f * (1.0f + 1.0f / 1024.0f)) << c;
    EXPECT_EQ(bs[c], sx * sw) << c;
  }
  EXPECT_FALSE(save_to_bytes(*model, /*check=*/true).empty());
  for (uint64_t s = 0; s < 2; ++s) {
    const Inputs in = {{"X", float_input({1, 3, 6, 6}, 70 + s)}};
    EXPECT_GT(cosine(run_float_output(original, in), run_float_output(*model, in)), 0.999);
  }

  // The QLinearConv reads the same Cast, and a scalar weight zero point of 0.
  ir::Model qop = original;
  ASSERT_OK(run_pass_calibrated(qop, "quantize-static", table, {{"format", "qoperator"}}));
  const ir::Node* qconv = producer_of(qop.graph, "Y_quantized");
  ASSERT_NE(qconv, nullptr);
  ASSERT_EQ(qconv->op_type, "QLinearConv");
  const ir::Node* qcast = producer_of(qop.graph, qconv->inputs[4]);
  ASSERT_NE(qcast, nullptr);
  EXPECT_EQ(qcast->op_type, "Cast");
  const ir::Initializer* wz = qop.graph.find_initializer(qconv->inputs[5]);
  ASSERT_NE(wz, nullptr);
  EXPECT_EQ(wz->tensor.rank(), 0);
  EXPECT_EQ(wz->tensor.span<int8_t>()[0], 0);
  EXPECT_FALSE(save_to_bytes(qop, /*check=*/true).empty());
  for (uint64_t s = 0; s < 2; ++s) {
    const Inputs in = {{"X", float_input({1, 3, 6, 6}, 70 + s)}};
    EXPECT_EQ(run_float_output(qop, in), run_float_output(*model, in)) << "QOperator = QDQ";
  }

  // float16_scales=false keeps float32 scales.
  ir::Model kept = original;
  ASSERT_OK(run_pass_calibrated(kept, "quantize-static", table, {{"float16_scales", "false"}}));
  EXPECT_EQ(count_ops(kept.graph, "Cast"), 0u);
}

TEST(QuantizeStatic, SameInputGivesSameBytes) {
  const auto w = random_floats(4 * 27, 3), b = random_floats(4, 4);
  std::string bytes[2];
  for (auto& out : bytes) {
    auto model = model_from_text(conv_model(13, w, b));
    ASSERT_OK(model);
    const auto table = table_for(*model, {{{"X", float_input({1, 3, 6, 6}, 5)}}});
    ASSERT_OK(run_pass_calibrated(*model, "quantize-static", table));
    out = save_to_bytes(*model, true);
  }
  EXPECT_FALSE(bytes[0].empty());
  EXPECT_EQ(bytes[0], bytes[1]);
}

// Conv -> Relu -> MaxPool -> Conv -> Flatten -> Gemm: the Relu joins the first Conv, MaxPool and
// Flatten run quantized with their input's parameters, one QDQ pair per tensor.
std::string chain_model() {
  const auto w1 = random_floats(4 * 2 * 9, 31, -0.5f, 0.5f);
  const auto w2 = random_floats(3 * 4 * 9, 32, -0.5f, 0.5f);
  const auto wg = random_floats(12 * 5, 33, -0.5f, 0.5f);
  const auto bg = random_floats(5, 34, -0.5f, 0.5f);
  return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 8, 8] X) => (float[1, 5] Y)
    <float[4, 2, 3, 3] W1 = )" +
         float_literal(w1) + ", float[3, 4, 3, 3] W2 = " + float_literal(w2) +
         ", float[12, 5] WG = " + float_literal(wg) + ", float[5] BG = " + float_literal(bg) +
         R"(>
    {
      C1 = Conv <pads = [1, 1, 1, 1]> (X, W1)
      R1 = Relu(C1)
      P = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (R1)
      C2 = Conv(P, W2)
      F = Flatten(C2)
      Y = Gemm(F, WG, BG)
    })";
}

TEST(QuantizeStatic, ReluJoinsTheConvAndDataMovementSharesParameters) {
  auto model = model_from_text(chain_model());
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto p = make_pass("quantize-static");
  ASSERT_OK(p);
  EXPECT_EQ((*p)->calibration_tensors(*model),
            (std::vector<std::string>{"X", "R1", "C2", "Y", "P", "F"}))
      << "C1 is internal to Conv+Relu; P and F use the ranges of R1 and C2 (their own are "
         "listed for runs restricted to one layer)";
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 4; ++s) samples.push_back({{"X", float_input({1, 2, 8, 8}, 40 + s)}});
  const auto table = table_for(*model, samples);
  auto r = run_pass_calibrated(*model, "quantize-static", table);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 3u);
  const ir::Graph& g = model->graph;
  // Tensors with a pair: X, R1, P, C2, F, Y.
  EXPECT_EQ(count_ops(g, "QuantizeLinear"), 6u);
  // No pair on C1: the Relu reads the Conv directly.
  const ir::Node* relu = producer_of(g, "R1_float");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->op_type, "Relu");
  EXPECT_EQ(producer_of(g, relu->inputs[0])->op_type, "Conv");
  // R1's pair: zero point -128 (its range starts at 0), so ONNX Runtime can drop the Relu.
  const ir::Node* r1_q = readers_of(g, "R1_float")[0];
  EXPECT_EQ(scalar_int(g, r1_q->inputs[2]), -128);
  // MaxPool reads R1 (dequantized) and its output pair has the same parameters.
  const ir::Node* pool = producer_of(g, "P_float");
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->inputs[0], "R1");
  const ir::Node* p_q = readers_of(g, "P_float")[0];
  EXPECT_EQ(scalar_float(g, p_q->inputs[1]), scalar_float(g, r1_q->inputs[1]));
  EXPECT_EQ(scalar_int(g, p_q->inputs[2]), scalar_int(g, r1_q->inputs[2]));
  const ir::Node* f_q = readers_of(g, "F_float")[0];
  const ir::Node* c2_q = readers_of(g, "C2_float")[0];
  EXPECT_EQ(scalar_float(g, f_q->inputs[1]), scalar_float(g, c2_q->inputs[1]));
  // Gemm: per-channel weight on axis 1, int32 C with scale s_F * s_w.
  const ir::Node* gemm = producer_of(g, "Y_float");
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->inputs[0], "F");
  const ir::Node* w_dq = producer_of(g, gemm->inputs[1]);
  EXPECT_EQ(w_dq->attr_int("axis", -1), 1);
  const ir::Node* c_dq = producer_of(g, gemm->inputs[2]);
  ASSERT_EQ(c_dq->op_type, "DequantizeLinear");
  const auto sw = float_values(g, w_dq->inputs[1]);
  const auto sc = float_values(g, c_dq->inputs[1]);
  const float sf = scalar_float(g, f_q->inputs[1]);
  ASSERT_EQ(sc.size(), 5u);
  for (size_t c = 0; c < 5; ++c) EXPECT_EQ(sc[c], sf * sw[c]);
  ASSERT_EQ(r->changes.size(), 3u);
  EXPECT_NE(r->changes[0].detail.find("(after Relu)"), std::string::npos) << r->changes[0].detail;
  EXPECT_EQ(r->notes.size(), 1u);

  const float sy = scalar_float(g, readers_of(g, "Y_float")[0]->inputs[1]);
  for (uint64_t s = 0; s < 3; ++s) {
    const Inputs in = samples[s];
    const auto ref = run_float_output(original, in), got = run_float_output(*model, in);
    EXPECT_GT(cosine(ref, got), 0.999);
    EXPECT_LT(max_abs(ref, got), 6 * sy);
  }
}

// Two MatMuls: one with a constant weight, one of two activations.
const char* kMatMuls = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[3, 4] A, float[5, 2] B) => (float[3, 2] Y)
  <float[4, 5] W = @W>
  {
    H = MatMul(A, W)
    Y = MatMul(H, B)
  })";

std::string matmul_model() {
  std::string text = kMatMuls;
  text.replace(text.find("@W"), 2, float_literal(random_floats(20, 61)));
  return text;
}

std::vector<Inputs> matmul_samples(uint64_t seed, size_t n) {
  std::vector<Inputs> s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(
        {{"A", float_input({3, 4}, seed + 2 * i)}, {"B", float_input({5, 2}, seed + 2 * i + 1)}});
  }
  return s;
}

TEST(QuantizeStatic, ActivationTimesActivationMatMulQuantizesBothInputs) {
  auto model = model_from_text(matmul_model());
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto p = make_pass("quantize-static");
  ASSERT_OK(p);
  EXPECT_EQ((*p)->eligible_nodes(*model), (std::vector<std::string>{"H", "Y"}));
  EXPECT_EQ((*p)->calibration_tensors(*model), (std::vector<std::string>{"A", "H", "B", "Y"}));
  const auto table = table_for(*model, matmul_samples(70, 4));
  auto r = run_pass_calibrated(*model, "quantize-static", table);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  const ir::Graph& g = model->graph;
  const ir::Node* y = producer_of(g, "Y_float");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->inputs[0], "H") << "H's pair is shared: the first MatMul writes H_float";
  EXPECT_EQ(y->inputs[1], "B_dequantized");
  EXPECT_EQ(count_ops(g, "QuantizeLinear"), 4u);
  EXPECT_NE(r->changes[1].detail.find("activation x activation"), std::string::npos);
  const float sy = scalar_float(g, readers_of(g, "Y_float")[0]->inputs[1]);
  for (const auto& in : matmul_samples(70, 4)) {
    const auto ref = run_float_output(original, in), got = run_float_output(*model, in);
    EXPECT_GT(cosine(ref, got), 0.999);
    EXPECT_LT(max_abs(ref, got), 8 * sy);
  }
}

TEST(QuantizeStatic, QOperatorMakesQLinearOpsThatMatchQdq) {
  for (const bool conv : {true, false}) {
    SCOPED_TRACE(conv ? "conv" : "matmul");
    std::vector<Inputs> samples;
    std::string text;
    if (conv) {
      text = conv_model(13, random_floats(108, 81, -0.5f, 0.5f), random_floats(4, 82));
      for (uint64_t s = 0; s < 3; ++s)
        samples.push_back({{"X", float_input({1, 3, 6, 6}, 83 + s)}});
    } else {
      text = matmul_model();
      samples = matmul_samples(84, 3);
    }
    auto qdq = model_from_text(text), qop = model_from_text(text);
    ASSERT_OK(qdq);
    ASSERT_OK(qop);
    const auto table = table_for(*qdq, samples);
    ASSERT_OK(run_pass_calibrated(*qdq, "quantize-static", table));
    auto r = run_pass_calibrated(*qop, "quantize-static", table, {{"format", "qoperator"}});
    ASSERT_OK(r);
    const ir::Graph& g = qop->graph;
    if (conv) {
      EXPECT_EQ(count_ops(g, "QLinearConv"), 1u);
      EXPECT_EQ(count_ops(g, "Conv"), 0u);
      const ir::Node* c = producer_of(g, "Y_quantized");
      ASSERT_NE(c, nullptr);
      ASSERT_EQ(c->inputs.size(), 9u);
      EXPECT_EQ(g.find_initializer(c->inputs[8])->tensor.dtype(), ir::DType::kInt32);
      // QLinearConv's weight zero point is a required input (unlike DequantizeLinear's).
      ASSERT_NE(g.find_initializer(c->inputs[5]), nullptr);
      EXPECT_EQ(g.find_initializer(c->inputs[5])->tensor.dtype(), ir::DType::kInt8);
      EXPECT_EQ(count_ops(g, "DequantizeLinear"), 1u) << "only the output's";
      EXPECT_EQ(r->changes[0].detail.rfind("int8 QLinearConv, weight per channel", 0), 0u)
          << r->changes[0].detail;
    } else {
      EXPECT_EQ(count_ops(g, "QLinearMatMul"), 2u);
      EXPECT_EQ(count_ops(g, "MatMul"), 0u);
    }
    EXPECT_EQ(count_ops(g, "QuantizeLinear"), conv ? 1u : 2u) << "graph inputs only";
    for (const auto& in : samples) {
      const auto a = run_float_output(*qdq, in), b = run_float_output(*qop, in);
      ASSERT_EQ(a.size(), b.size());
      // Each may round an accumulator differently by one output step.
      const float sy = scalar_float(g, producer_of(g, "Y")->inputs[1]);
      EXPECT_LE(max_abs(a, b), 1.01 * sy);
    }
  }
}

TEST(QuantizeStatic, GemmStaysQdqInQOperatorFormat) {
  auto model = model_from_text(chain_model());
  ASSERT_OK(model);
  std::vector<Inputs> samples = {{{"X", float_input({1, 2, 8, 8}, 91)}}};
  const auto table = table_for(*model, samples, {{"format", "qoperator"}});
  auto r = run_pass_calibrated(*model, "quantize-static", table, {{"format", "qoperator"}});
  ASSERT_OK(r);
  EXPECT_EQ(count_ops(model->graph, "QLinearConv"), 2u);
  EXPECT_EQ(count_ops(model->graph, "Gemm"), 1u);
  ASSERT_EQ(r->changes.size(), 3u);
  EXPECT_NE(r->changes[2].detail.find("stays QDQ: ONNX has no QLinearGemm"), std::string::npos)
      << r->changes[2].detail;
  EXPECT_EQ(count_ops(model->graph, "Relu"), 1u) << "the Relu stays, after the output's DQ";
}

TEST(QuantizeStatic, Uint8ActivationsAndSymmetric) {
  auto model = model_from_text(conv_model(13, random_floats(108, 5), random_floats(4, 6)));
  ASSERT_OK(model);
  const ir::Model original = *model;
  const Inputs in = {{"X", float_input({1, 3, 6, 6}, 7, -0.5f, 1.0f)}};
  const auto table = table_for(*model, {in});
  ir::Model sym = *model;
  ASSERT_OK(run_pass_calibrated(*model, "quantize-static", table, {{"activation_type", "uint8"}}));
  const ir::Graph& g = model->graph;
  const ir::Node* xq = readers_of(g, "X")[0];
  ASSERT_EQ(xq->op_type, "QuantizeLinear");
  const ir::Initializer* zp = g.find_initializer(xq->inputs[2]);
  ASSERT_EQ(zp->tensor.dtype(), ir::DType::kUInt8);
  const auto& rx = table.ranges.at("X");
  const float scale = float((rx.max - rx.min) / 255.0);
  EXPECT_FLOAT_EQ(scalar_float(g, xq->inputs[1]), scale);
  EXPECT_EQ(scalar_int(g, xq->inputs[2]), int(std::nearbyint(-rx.min / scale)));
  EXPECT_GT(cosine(run_float_output(original, in), run_float_output(*model, in)), 0.999);

  ASSERT_OK(run_pass_calibrated(sym, "quantize-static", table, {{"activation_symmetric", "true"}}));
  const ir::Node* sq = readers_of(sym.graph, "X")[0];
  EXPECT_EQ(scalar_int(sym.graph, sq->inputs[2]), 0);
  EXPECT_FLOAT_EQ(scalar_float(sym.graph, sq->inputs[1]), float(std::max(-rx.min, rx.max) / 127.0));
}

TEST(QuantizeStatic, MissingCalibrationIsAnErrorNamingTheTensor) {
  auto model = model_from_text(conv_model(13, random_floats(108, 8), random_floats(4, 9)));
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto p = make_pass("quantize-static");
  ASSERT_OK(p);
  pass::PassContext ctx;
  auto r = (*p)->run(*model, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no calibration range for tensor 'X'"), std::string::npos)
      << r.status().message();

  pass::CalibrationTable table;
  table.ranges["X"] = {-1.0, 1.0};
  ctx.set_calibration(&table);
  r = (*p)->run(*model, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "quantize-static: no calibration range for tensor 'Y' (run with sample data or "
            "--calibration-table that has it)");
  EXPECT_EQ(save_to_bytes(*model), before) << "nothing changed on error";

  table.ranges["Y"] = {1.0, -1.0};
  r = (*p)->run(*model, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "quantize-static: calibration range of tensor 'Y' is [1, -1]; it must be finite with "
            "min <= max");
  table.ranges["Y"] = {0.0, INFINITY};
  EXPECT_FALSE((*p)->run(*model, ctx).ok());
  EXPECT_EQ(save_to_bytes(*model), before);
}

TEST(QuantizeStatic, BeforeOpset10EveryLayerIsSkipped) {
  auto model = model_from_text(R"(<ir_version: 4, opset_import: ["" : 9]>
    g (float[1, 1, 3, 3] X, float[2, 2] A, float[2, 2] B) => (float[1, 1, 3, 3] Y, float[2, 2] M,
                                                              float[2, 2] N)
    <float[1, 1, 1, 1] W = {0.5}, float[2, 2] V = {1, 2, 3, 4}>
    {
      Y = Conv(X, W)
      M = MatMul(A, V)
      N = MatMul(A, B)
    })");
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto p = make_pass("quantize-static");
  ASSERT_OK(p);
  EXPECT_TRUE((*p)->eligible_nodes(*model).empty());
  EXPECT_TRUE((*p)->calibration_tensors(*model).empty());
  pass::PassContext ctx;
  auto r = (*p)->run(*model, ctx);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 3u);
  for (const auto& s : r->skipped) {
    EXPECT_EQ(s.reason, "QuantizeLinear needs opset 10; the model imports opset 9") << s.node;
  }
  EXPECT_EQ(save_to_bytes(*model), before);
  ASSERT_EQ(r->notes.size(), 1u);
}

TEST(QuantizeStatic, BeforeOpset13WeightsArePerTensorWithANote) {
  const auto w = random_floats(108, 11), b = random_floats(4, 12);
  auto model = model_from_text(conv_model(11, w, b));
  ASSERT_OK(model);
  const ir::Model original = *model;
  const Inputs in = {{"X", float_input({1, 3, 6, 6}, 13)}};
  const auto table = table_for(*model, {in});
  auto r = run_pass_calibrated(*model, "quantize-static", table);
  ASSERT_OK(r);
  for (const auto& n : model->graph.nodes()) {
    EXPECT_EQ(n->attribute("axis"), nullptr) << n->name;
  }
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("per-channel scales need opset 13"), std::string::npos);
  EXPECT_NE(r->changes[0].detail.find("weight per tensor"), std::string::npos);
  EXPECT_GT(cosine(run_float_output(original, in), run_float_output(*model, in)), 0.999);
}

TEST(QuantizeStatic, NodesRestrictsToTheListedLayers) {
  auto model = model_from_text(chain_model());
  ASSERT_OK(model);
  const ir::Model original = *model;
  const pass::PassOptions options = {{"nodes", "C2"}};
  auto p = make_pass("quantize-static", options);
  ASSERT_OK(p);
  EXPECT_EQ((*p)->calibration_tensors(*model), (std::vector<std::string>{"P", "C2"}));
  const auto table = table_for(*model, {{{"X", float_input({1, 2, 8, 8}, 14)}}}, options);
  auto r = run_pass_calibrated(*model, "quantize-static", table, options);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_TRUE(r->skipped.empty());
  EXPECT_EQ(count_ops(model->graph, "QuantizeLinear"), 2u);
  EXPECT_EQ(producer_of(model->graph, "P")->op_type, "MaxPool") << "MaxPool untouched";
  EXPECT_EQ(readers_of(model->graph, "C2").size(), 1u);
  EXPECT_EQ(readers_of(model->graph, "C2")[0]->op_type, "Flatten");
  EXPECT_EQ(producer_of(model->graph, "C2")->op_type, "DequantizeLinear");

  // The first Conv alone: its Relu stays outside, and the Conv's output uses the Relu's range.
  ir::Model first = original;
  const pass::PassOptions o1 = {{"nodes", "C1"}};
  auto p1 = make_pass("quantize-static", o1);
  ASSERT_OK(p1);
  EXPECT_EQ((*p1)->calibration_tensors(first), (std::vector<std::string>{"X", "R1"}));
  const auto t1 = table_for(first, {{{"X", float_input({1, 2, 8, 8}, 15)}}}, o1);
  ASSERT_OK(run_pass_calibrated(first, "quantize-static", t1, o1));
  const ir::Node* q = readers_of(first.graph, "C1_float")[0];
  EXPECT_EQ(scalar_int(first.graph, q->inputs[2]), -128);
  EXPECT_EQ(producer_of(first.graph, "R1")->op_type, "Relu");
}

TEST(QuantizeStatic, WeightThatIsNotConstantIsSkippedNotApplied) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 3, 3] X, float[1, 1, 1, 1] V, int32[2, 2] I, int32[2, 2] J)
      => (float[1, 1, 3, 3] Y, int32[2, 2] K, float[2, 2] G)
    <float[2, 2] C = {1, 2, 3, 4}, float[2, 2] D = {1, 0, 0, 1}>
    {
      Y = Conv(X, V)
      K = MatMul(I, J)
      G = Gemm(C, D)
    })");
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  pass::PassContext ctx;
  auto p = make_pass("quantize-static");
  ASSERT_OK(p);
  auto r = (*p)->run(*model, ctx);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 3u);
  EXPECT_NE(r->skipped[0].reason.find("graph input"), std::string::npos) << r->skipped[0].reason;
  EXPECT_EQ(r->skipped[1].reason, "input A 'I' is int32, not float32");
  EXPECT_EQ(r->skipped[2].node, "G");
  EXPECT_EQ(r->skipped[2].reason, "input 'C' is a constant initializer, not an activation");
  EXPECT_EQ(save_to_bytes(*model), before);
}

// Conv -> Add(skip) with a residual input, ConvTranspose with a bias, and an intermediate value
// that is also a graph output.
std::string residual_model() {
  const auto w1 = random_floats(3 * 3 * 9, 101, -0.4f, 0.4f);
  const auto wt = random_floats(3 * 2 * 4, 102, -0.4f, 0.4f);
  const auto bt = random_floats(2, 103, -0.3f, 0.3f);
  return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3, 5, 5] X) => (float[1, 3, 5, 5] S, float[1, 2, 6, 6] T)
    <float[3, 3, 3, 3] W1 = )" +
         float_literal(w1) + ", float[3, 2, 2, 2] WT = " + float_literal(wt) +
         ", float[2] BT = " + float_literal(bt) + R"(>
    {
      C = Conv <pads = [1, 1, 1, 1]> (X, W1)
      S = Add(C, X)
      T = ConvTranspose(S, WT, BT)
    })";
}

TEST(QuantizeStatic, ResidualAddAndConvTransposeRunQuantized) {
  auto model = model_from_text(residual_model());
  ASSERT_OK(model);
  const ir::Model original = *model;
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 3; ++s) samples.push_back({{"X", float_input({1, 3, 5, 5}, 110 + s)}});
  auto p = make_pass("quantize-static");
  ASSERT_OK(p);
  EXPECT_EQ((*p)->calibration_tensors(*model), (std::vector<std::string>{"X", "C", "S", "T"}));
  const auto table = table_for(*model, samples);
  auto r = run_pass_calibrated(*model, "quantize-static", table);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  const ir::Graph& g = model->graph;
  // The Add reads X and C through their pairs and writes S through its own (S is also a graph
  // output, still produced under its name).
  const ir::Node* add = producer_of(g, "S_float");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->op_type, "Add");
  EXPECT_EQ(add->inputs, (std::vector<std::string>{"C", "X_dequantized"}));
  EXPECT_EQ(producer_of(g, "S")->op_type, "DequantizeLinear");
  EXPECT_EQ(count_ops(g, "QuantizeLinear"), 4u) << "X, C, S, T: one pair each";
  const auto& rs = table.ranges.at("S");
  EXPECT_FLOAT_EQ(scalar_float(g, readers_of(g, "S_float")[0]->inputs[1]),
                  int8_asymmetric(rs.min, rs.max).first);
  // ConvTranspose: weight per channel on axis 1, bias scale s_S * s_w.
  const ir::Node* ct = producer_of(g, "T_float");
  ASSERT_NE(ct, nullptr);
  EXPECT_EQ(ct->inputs[0], "S");
  const ir::Node* w_dq = producer_of(g, ct->inputs[1]);
  EXPECT_EQ(w_dq->attr_int("axis", -1), 1);
  const auto sw = float_values(g, w_dq->inputs[1]);
  const auto sb = float_values(g, producer_of(g, ct->inputs[2])->inputs[1]);
  const float ss = int8_asymmetric(rs.min, rs.max).first;
  ASSERT_EQ(sw.size(), 2u);
  ASSERT_EQ(sb.size(), 2u);
  for (size_t c = 0; c < 2; ++c) EXPECT_EQ(sb[c], ss * sw[c]);
  // The Add and the Conv read X, and S is a graph output the ConvTranspose reads too.
  ASSERT_EQ(r->notes.size(), 2u);
  EXPECT_EQ(r->notes[0], "1 op(s) between quantized layers run quantized too");
  EXPECT_EQ(r->notes[1].rfind("2 of 2 quantized layers read or write an int8 tensor", 0), 0u)
      << r->notes[1];

  for (size_t out = 0; out < 2; ++out) {
    for (const auto& in : samples) {
      const auto ref = run_float_output(original, in, out), got = run_float_output(*model, in, out);
      EXPECT_GT(cosine(ref, got), 0.999) << out;
    }
  }
}

// HardSwish as x * HardSigmoid(x) and SiLU as x * Sigmoid(x) between two convolutions: the gate
// stays float (no Q/DQ pair rounds it) and so does the Mul, whose output is quantized for the
// next convolution. A Mul whose gate comes from another tensor (squeeze-excitation) still runs
// quantized.
std::string gated_model() {
  const auto w1 = random_floats(4 * 3 * 9, 121, -0.4f, 0.4f);
  const auto w2 = random_floats(4 * 4 * 9, 122, -0.4f, 0.4f);
  const auto w3 = random_floats(4 * 4 * 9, 123, -0.4f, 0.4f);
  return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3, 6, 6] X) => (float[1, 4, 6, 6] Y)
    <float[4, 3, 3, 3] W1 = )" +
         float_literal(w1) + ", float[4, 4, 3, 3] W2 = " + float_literal(w2) +
         ", float[4, 4, 3, 3] W3 = " + float_literal(w3) + R"(>
    {
      A = Conv <pads = [1, 1, 1, 1]> (X, W1)
      HA = HardSigmoid <alpha = 0.1666667, beta = 0.5> (A)
      H = Mul(A, HA)
      B = Conv <pads = [1, 1, 1, 1]> (H, W2)
      SB = Sigmoid(B)
      S = Mul(SB, B)
      C = Conv <pads = [1, 1, 1, 1]> (S, W3)
      G = Sigmoid(A)
      Y = Mul(C, G)
    })";
}

TEST(QuantizeStatic, SelfGatedMulsStayFloatOthersRunQuantized) {
  auto model = model_from_text(gated_model());
  ASSERT_OK(model);
  const ir::Model original = *model;
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 3; ++s) samples.push_back({{"X", float_input({1, 3, 6, 6}, 130 + s)}});
  auto p = make_pass("quantize-static");
  ASSERT_OK(p);
  // No range for the gates HA and SB: nothing quantizes them.
  const auto wanted = (*p)->calibration_tensors(*model);
  EXPECT_EQ(std::count(wanted.begin(), wanted.end(), "HA"), 0);
  EXPECT_EQ(std::count(wanted.begin(), wanted.end(), "SB"), 0);
  EXPECT_EQ(std::count(wanted.begin(), wanted.end(), "G"), 1) << "the gate of Y = C * G";
  const auto table = table_for(*model, samples);
  auto r = run_pass_calibrated(*model, "quantize-static", table);
  ASSERT_OK(r);
  const ir::Graph& g = model->graph;
  for (const char* gated : {"H", "S"}) {
    const ir::Node* mul = producer_of(g, gated);
    ASSERT_NE(mul, nullptr) << gated;
    EXPECT_EQ(mul->op_type, "Mul") << gated << " is written by the float Mul itself";
    // x is the convolution's output as every reader sees it; the gate comes straight from its
    // op, not through a pair.
    size_t gates = 0;
    for (const auto& in : mul->inputs) {
      const ir::Node* from = producer_of(g, in);
      ASSERT_NE(from, nullptr);
      if (from->op_type == "HardSigmoid" || from->op_type == "Sigmoid") ++gates;
    }
    EXPECT_EQ(gates, 1u) << gated;
    // Its output is quantized once, for the next convolution.
    const auto readers = readers_of(g, gated);
    ASSERT_EQ(readers.size(), 1u) << gated;
    EXPECT_EQ(readers[0]->op_type, "QuantizeLinear") << gated;
  }
  // Y = C * G runs quantized: both inputs through pairs, its output through its own.
  const ir::Node* y = producer_of(g, "Y_float");
  ASSERT_NE(y, nullptr);
  EXPECT_EQ(y->op_type, "Mul");
  for (const auto& in : y->inputs) EXPECT_EQ(producer_of(g, in)->op_type, "DequantizeLinear");
  EXPECT_NE(
      std::find_if(r->notes.begin(), r->notes.end(),
                   [](const std::string& n) { return n.rfind("2 HardSwish/SiLU Mul(s)", 0) == 0; }),
      r->notes.end());
  for (const auto& in : samples) {
    EXPECT_GT(cosine(run_float_output(original, in, 0), run_float_output(*model, in, 0)), 0.99);
  }
}

// Two inputs of one range added into twice that range: input scale / output scale would be
// exactly 1/2, and every odd sum of the integer inputs a tie of the output's rounding, decided
// by float rounding order (ONNX Runtime's QLinearAdd and a float evaluation disagree on a third of
// such values in PP-OCRv4 det). The output range is widened by 2^-10 instead.
TEST(QuantizeStatic, RequantizationRatiosStayOffExactHalves) {
  auto model = model_from_text(residual_model());
  ASSERT_OK(model);
  pass::CalibrationTable table;
  table.ranges["X"] = {-1.0, 1.0};
  table.ranges["C"] = {-1.0, 1.0};
  table.ranges["S"] = {-2.0, 2.0};
  table.ranges["T"] = {-1.5, 1.5};
  auto r = run_pass_calibrated(*model, "quantize-static", table);
  ASSERT_OK(r);
  const ir::Graph& g = model->graph;
  const float s_in = scalar_float(g, producer_of(g, "C")->inputs[1]);
  const float s_out = scalar_float(g, readers_of(g, "S_float")[0]->inputs[1]);
  EXPECT_EQ(s_in, int8_asymmetric(-1.0, 1.0).first);
  const double ratio = double(s_in) / double(s_out);
  EXPECT_NE(std::ldexp(ratio, 10), std::floor(std::ldexp(ratio, 10))) << ratio;
  EXPECT_NEAR(s_out / int8_asymmetric(-2.0, 2.0).first, 1.0 + std::ldexp(1.0, -10), 1e-6);
  EXPECT_NE(
      std::find_if(r->notes.begin(), r->notes.end(),
                   [](const std::string& n) { return n.find("widened") != std::string::npos; }),
      r->notes.end());
}

// reduce_range narrows the weights to 7 bits, which keeps ONNX Runtime's u8 x s8 pair sums
// within int16; activations keep all 8 bits.
TEST(QuantizeStatic, ReduceRangeNarrowsWeightsOnly) {
  const auto w = random_floats(108, 21);
  auto model = model_from_text(conv_model(13, w, random_floats(4, 22)));
  ASSERT_OK(model);
  const Inputs in = {{"X", float_input({1, 3, 6, 6}, 23)}};
  const auto table = table_for(*model, {in});
  ASSERT_OK(run_pass_calibrated(*model, "quantize-static", table,
                                {{"activation_type", "uint8"}, {"reduce_range", "true"}}));
  const ir::Graph& g = model->graph;
  const ir::Node* xq = readers_of(g, "X")[0];
  const auto& rx = table.ranges.at("X");
  const float scale = float((std::max(rx.max, 0.0) - std::min(rx.min, 0.0)) / 255.0);
  EXPECT_FLOAT_EQ(scalar_float(g, xq->inputs[1]), scale);
  const ir::Node* conv = producer_of(g, "Y_float");
  const auto sw = float_values(g, producer_of(g, conv->inputs[1])->inputs[1]);
  const ir::Initializer* wq = g.find_initializer(producer_of(g, conv->inputs[1])->inputs[0]);
  for (int8_t v : wq->tensor.span<int8_t>()) {
    EXPECT_GE(v, -63);
    EXPECT_LE(v, 63);
  }
  ASSERT_EQ(sw.size(), 4u);
  for (size_t c = 0; c < 4; ++c) {
    float m = 0;
    for (size_t i = c * 27; i < (c + 1) * 27; ++i) m = std::max(m, std::fabs(w[i]));
    EXPECT_FLOAT_EQ(sw[c], m / 63.0f) << c;
  }
}

// weight_symmetric=false maps a per-tensor weight's [min, max] onto [-128, 127] with its own zero
// point, which the weight's DequantizeLinear then reads; the model stays close to float.
TEST(QuantizeStatic, AsymmetricWeightsGetTheirOwnZeroPoint) {
  const auto w = random_floats(108, 31, -0.2f, 1.0f);  // mostly positive: zero point far from 0
  auto model = model_from_text(conv_model(13, w, random_floats(4, 32)));
  ASSERT_OK(model);
  const ir::Model original = *model;
  const Inputs in = {{"X", float_input({1, 3, 6, 6}, 33)}};
  const auto table = table_for(*model, {in});
  auto r = run_pass_calibrated(*model, "quantize-static", table,
                               {{"per_channel", "false"}, {"weight_symmetric", "false"}});
  ASSERT_OK(r);
  const ir::Graph& g = model->graph;
  const ir::Node* conv = producer_of(g, "Y_float");
  ASSERT_NE(conv, nullptr);
  const ir::Node* dq = producer_of(g, conv->inputs[1]);
  ASSERT_EQ(dq->op_type, "DequantizeLinear");
  ASSERT_EQ(dq->inputs.size(), 3u) << "a nonzero weight zero point is written out";
  const auto [lo, hi] = std::minmax_element(w.begin(), w.end());
  const auto [scale, zp] = int8_asymmetric(*lo, *hi);
  EXPECT_FLOAT_EQ(scalar_float(g, dq->inputs[1]), scale);
  EXPECT_EQ(scalar_int(g, dq->inputs[2]), zp);
  ASSERT_LT(zp, -64);
  const auto q = g.find_initializer(dq->inputs[0])->tensor.span<int8_t>();
  ASSERT_EQ(q.size(), w.size());
  int8_t qmin = 127, qmax = -128;
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_NEAR((q[i] - zp) * scale, w[i], scale / 2 + 1e-7) << i;
    qmin = std::min(qmin, q[i]), qmax = std::max(qmax, q[i]);
  }
  EXPECT_EQ(qmin, -128) << "the whole range is used";
  EXPECT_EQ(qmax, 127);
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_NE(r->changes[0].detail.find("weight per tensor asymmetric (scale "), std::string::npos)
      << r->changes[0].detail;
  EXPECT_NE(r->changes[0].detail.find(", zero point " + std::to_string(zp) + ")"),
            std::string::npos)
      << r->changes[0].detail;

  EXPECT_GT(cosine(run_float_output(original, in), run_float_output(*model, in)), 0.999);
}

// With int8 activations the report names the layers ONNX Runtime's CPU provider on x86 runs in
// float: those that read or write a tensor several nodes read (it converts an int8 Q/DQ pair to
// uint8, which its fused kernels need, only where one node reads the value).
TEST(QuantizeStatic, NoteCountsLayersOnInt8TensorsSeveralNodesRead) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 4, 4] X) => (float[1, 2, 4, 4] P, float[1, 2, 4, 4] Q, float[1, 2, 4, 4] R)
    <float[2, 2, 1, 1] WA = {0.5, -0.25, 0.75, 1.0}, float[2, 2, 1, 1] WB = {1.0, 0.5, -0.5, 0.25},
     float[2, 2, 1, 1] WC = {-1.0, 0.5, 0.25, 0.75}, float[2, 2, 1, 1] WD = {0.3, 0.6, -0.2, 0.9}>
    {
      Y = Conv(X, WA)
      P = Conv(Y, WB)
      Q = Conv(Y, WC)
      R = Conv(X, WD)
    })";
  for (const char* type : {"int8", "uint8"}) {
    SCOPED_TRACE(type);
    auto model = model_from_text(text);
    ASSERT_OK(model);
    // X feeds A and D, Y feeds B and C: every layer is on a shared tensor.
    const Inputs in = {{"X", float_input({1, 2, 4, 4}, 41)}};
    const auto table = table_for(*model, {in});
    auto r = run_pass_calibrated(*model, "quantize-static", table, {{"activation_type", type}});
    ASSERT_OK(r);
    ASSERT_EQ(r->nodes_changed, 4u);
    const std::string note =
        "4 of 4 quantized layers read or write an int8 tensor that several nodes read";
    const bool noted = std::any_of(r->notes.begin(), r->notes.end(),
                                   [&](const std::string& n) { return n.rfind(note, 0) == 0; });
    EXPECT_EQ(noted, std::string(type) == "int8");
  }
  // A chain: no tensor has two readers, no note.
  auto chain = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 4, 4] X) => (float[1, 2, 4, 4] P)
    <float[2, 2, 1, 1] WA = {0.5, -0.25, 0.75, 1.0}, float[2, 2, 1, 1] WB = {1.0, 0.5, -0.5, 0.25}>
    {
      Y = Conv(X, WA)
      P = Conv(Y, WB)
    })");
  ASSERT_OK(chain);
  const auto table = table_for(*chain, {{{"X", float_input({1, 2, 4, 4}, 42)}}});
  auto r = run_pass_calibrated(*chain, "quantize-static", table);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  for (const std::string& n : r->notes) EXPECT_EQ(n.find("several nodes read"), std::string::npos);
}

TEST(QuantizeStatic, MatMulOfUncalibratedTensorsIsSkipped) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 2] A, float[2, 2] B) => (float[2, 2] Y, int32[2, 2] K)
    {
      Y = MatMul(A, B)
      I = Cast <to = 6> (A)
      J = Cast <to = 6> (B)
      K = MatMul(I, J)
    })");
  ASSERT_OK(model);
  const Inputs in = {{"A", float_input({2, 2}, 120, 0.0f, 3.0f)},
                     {"B", float_input({2, 2}, 121, 0.0f, 3.0f)}};
  const auto table = table_for(*model, {in});
  EXPECT_EQ(table.ranges.count("I"), 0u) << "int32 tensors are not calibrated";
  auto r = run_pass_calibrated(*model, "quantize-static", table);
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].node, "K");
  EXPECT_EQ(r->skipped[0].reason,
            "input 'I' has no calibration range (only float32 tensors are calibrated)");
  EXPECT_EQ(producer_of(model->graph, "K")->op_type, "MatMul");
  EXPECT_EQ(producer_of(model->graph, "K")->inputs, (std::vector<std::string>{"I", "J"}));
}

TEST(QuantizeStatic, BadOptionsAreRefused) {
  EXPECT_FALSE(make_pass("quantize-static", {{"format", "qlinear"}}).ok());
  EXPECT_FALSE(make_pass("quantize-static", {{"activation_type", "int4"}}).ok());
  EXPECT_FALSE(make_pass("quantize-static", {{"reduce_range", "maybe"}}).ok());
  EXPECT_FALSE(make_pass("quantize-static", {{"weight_symmetric", "maybe"}}).ok());
  // ONNX Runtime's QLinearConv takes one weight zero point for all channels.
  const auto per_channel = make_pass("quantize-static", {{"weight_symmetric", "false"}});
  ASSERT_FALSE(per_channel.ok());
  EXPECT_NE(per_channel.status().message().find("needs per_channel=false"), std::string::npos);
}

// The demo models, calibrated on their sample inputs, stay close to float.
TEST(QuantizeStatic, DemoModelsStayCloseToFloat) {
  for (const char* name : {"tiny_cnn", "tiny_mlp", "tiny_transformer"}) {
    SCOPED_TRACE(name);
    auto model = io::load_model(demo_model(name));
    ASSERT_OK(model);
    const std::string dir = demo_model(name).substr(0, demo_model(name).rfind('/'));
    auto input = io::read_tensor_pb(dir + "/test_data_set_0/input_0.pb");
    ASSERT_OK(input);
    const Inputs in = {{"input", input->tensor}};
    const ir::Model original = *model;
    const auto table = table_for(*model, {in});
    auto r = run_pass_calibrated(*model, "quantize-static", table);
    ASSERT_OK(r);
    EXPECT_GT(r->nodes_changed, 0u);
    EXPECT_EQ(r->changes.size(), r->nodes_changed);
    const auto ref = run_float_output(original, in), got = run_float_output(*model, in);
    ASSERT_EQ(ref.size(), got.size());
    EXPECT_GT(cosine(ref, got), 0.999);  // measured: 0.9998 on each model
    // Top-1 agrees on the 8 samples (10 logits each).
    size_t agree = 0;
    for (size_t s = 0; s < ref.size() / 10; ++s) {
      auto a = std::max_element(ref.begin() + s * 10, ref.begin() + s * 10 + 10);
      auto b = std::max_element(got.begin() + s * 10, got.begin() + s * 10 + 10);
      agree += (a - ref.begin()) == (b - got.begin());
    }
    EXPECT_GE(agree, ref.size() / 10 - 1);
  }
}

// The Conv's int32 bias and its scale as the graph stores them.
struct StoredBias {
  std::vector<int32_t> values;
  std::vector<float> scale;
  std::vector<float> weight_scale;
  float input_scale = 0;
};

StoredBias stored_bias(const ir::Graph& g) {
  StoredBias r;
  const ir::Node* conv = producer_of(g, "Y_float");
  if (conv == nullptr || conv->inputs.size() < 3) return r;
  const ir::Node* b_dq = producer_of(g, conv->inputs[2]);
  const ir::Node* w_dq = producer_of(g, conv->inputs[1]);
  const ir::Node* x_dq = producer_of(g, conv->inputs[0]);
  if (b_dq == nullptr || w_dq == nullptr || x_dq == nullptr) return r;
  const ir::Initializer* bq = g.find_initializer(b_dq->inputs[0]);
  if (bq == nullptr || bq->tensor.dtype() != ir::DType::kInt32) return r;
  const auto v = bq->tensor.span<int32_t>();
  r.values.assign(v.begin(), v.end());
  r.scale = float_values(g, b_dq->inputs[1]);
  r.weight_scale = float_values(g, w_dq->inputs[1]);
  r.input_scale = scalar_float(g, x_dq->inputs[1]);
  return r;
}

TEST(QuantizeStatic, WeightScaleRisesSoTheInt32BiasFits) {
  // Weights so small next to the bias that bias / (input scale x weight scale) would pass 2^30.
  // Left float, ONNX Runtime rounds such a bias to int32 itself; instead the weight scales rise
  // until the bias fits in 2^29 steps, and the bias is stored as int32 at input x weight scale.
  auto w = random_floats(4 * 27, 4, -1e-6f, 1e-6f);
  const std::vector<float> b = {100.0f, -50.0f, 0.5f, 3.0f};
  auto model = model_from_text(conv_model(13, w, b));
  ASSERT_OK(model);
  const ir::Model original = *model;
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 3; ++s) samples.push_back({{"X", float_input({1, 3, 6, 6}, 20 + s)}});
  for (const char* format : {"qdq", "qoperator"}) {
    ir::Model m = original;
    auto r = run_pass_calibrated(m, "quantize-static", table_for(m, samples), {{"format", format}});
    ASSERT_OK(r);
    ASSERT_EQ(r->changes.size(), 1u);
    const std::string& detail = r->changes[0].detail;
    EXPECT_NE(detail.find("4 weight scale(s) raised"), std::string::npos) << detail;
    EXPECT_NE(detail.find("int32 bias"), std::string::npos) << detail;
    EXPECT_EQ(detail.find("bias left float"), std::string::npos) << detail;
    const Inputs in = {{"X", float_input({1, 3, 6, 6}, 99)}};
    EXPECT_GT(cosine(run_float_output(original, in), run_float_output(m, in)), 0.9999) << format;
    if (std::string(format) != "qdq") continue;
    const StoredBias sb = stored_bias(m.graph);
    ASSERT_EQ(sb.values.size(), 4u);
    ASSERT_EQ(sb.weight_scale.size(), 4u);
    for (size_t c = 0; c < 4; ++c) {
      // The floor: |b| / (s_x * s_w) <= 2^29, and s_w no smaller than max|w| / 127 would give.
      const double steps = std::fabs(double(b[c])) / (double(sb.input_scale) * sb.weight_scale[c]);
      EXPECT_LE(steps, 536870912.0) << c;
      EXPECT_GT(steps, 536870912.0 * 0.999) << c << ": raised no further than needed";
      EXPECT_FLOAT_EQ(sb.scale[c], sb.input_scale * sb.weight_scale[c]) << c;
      EXPECT_EQ(sb.values[c], int32_t(std::nearbyint(double(b[c]) / double(sb.scale[c])))) << c;
    }
  }
}

TEST(QuantizeStatic, OnlyTheNearZeroChannelGetsItsScaleRaised) {
  // A folded batch norm with a vanishing gamma leaves one output channel with weights near 1e-15
  // and a real bias; per channel, only that channel's scale changes.
  auto w = random_floats(4 * 27, 5, -0.5f, 0.5f);
  for (size_t i = 27; i < 54; ++i) w[i] *= 1e-14f;
  const std::vector<float> b = {0.1f, 0.3f, -0.2f, 0.05f};
  auto model = model_from_text(conv_model(13, w, b));
  ASSERT_OK(model);
  const ir::Model original = *model;
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 3; ++s) samples.push_back({{"X", float_input({1, 3, 6, 6}, 30 + s)}});
  auto r = run_pass_calibrated(*model, "quantize-static", table_for(*model, samples));
  ASSERT_OK(r);
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_NE(r->changes[0].detail.find("1 weight scale(s) raised"), std::string::npos)
      << r->changes[0].detail;
  const StoredBias sb = stored_bias(model->graph);
  ASSERT_EQ(sb.weight_scale.size(), 4u);
  for (size_t c = 0; c < 4; ++c) {
    float m = 0;
    for (size_t i = c * 27; i < (c + 1) * 27; ++i) m = std::max(m, std::fabs(w[i]));
    if (c == 1) {
      EXPECT_GT(sb.weight_scale[c], m / 127.0f * 1000.0f);
      EXPECT_NEAR(std::fabs(double(b[c])) / (double(sb.input_scale) * sb.weight_scale[c]),
                  536870912.0, 536870912.0 * 1e-3);
    } else {
      EXPECT_FLOAT_EQ(sb.weight_scale[c], m / 127.0f) << c;
    }
    EXPECT_EQ(sb.values[c], int32_t(std::nearbyint(double(b[c]) / double(sb.scale[c])))) << c;
  }
  // The near-zero channel's output is its bias, one rounding of Y away from the float model's;
  // the others are as close as int8 gets (same bound as a plain Conv above).
  const float sy = scalar_float(model->graph, readers_of(model->graph, "Y_float")[0]->inputs[1]);
  // (On a calibration sample: nothing saturates.)
  const auto ref = run_float_output(original, samples[0]),
             got = run_float_output(*model, samples[0]);
  ASSERT_EQ(got.size(), 64u);
  for (size_t i = 16; i < 32; ++i) EXPECT_LE(std::fabs(got[i] - ref[i]), sy / 2 + 1e-6f) << i;
  EXPECT_GT(cosine(ref, got), 0.999);
  EXPECT_LT(max_abs(ref, got), 4 * sy);
}

TEST(QuantizeStatic, BiasBeyondInt32HeadroomOfASharedWeightStaysFloat) {
  // Two Convs share W and B; the second reads an input 10^4 times smaller. The weight scale is
  // chosen (and floored) for the first, so the second's bias would pass 2^30 steps: it stays
  // float, with the reason in the ledger.
  auto w = random_floats(4 * 27, 6, -1e-6f, 1e-6f);
  const std::vector<float> b = {100.0f, -50.0f, 0.5f, 3.0f};
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3, 6, 6] X, float[1, 3, 6, 6] Z) => (float[1, 4, 4, 4] Y, float[1, 4, 4, 4] V)
    <float[4, 3, 3, 3] W = )" + float_literal(w) +
                               ", float[4] B = " + float_literal(b) + R"(>
    { Y = Conv(X, W, B)
      V = Conv(Z, W, B) })");
  ASSERT_OK(model);
  const ir::Model original = *model;
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 3; ++s) {
    samples.push_back({{"X", float_input({1, 3, 6, 6}, 40 + s)},
                       {"Z", float_input({1, 3, 6, 6}, 50 + s, -1e-4f, 1e-4f)}});
  }
  auto r = run_pass_calibrated(*model, "quantize-static", table_for(*model, samples));
  ASSERT_OK(r);
  ASSERT_EQ(r->changes.size(), 2u);
  EXPECT_NE(r->changes[0].detail.find("int32 bias"), std::string::npos) << r->changes[0].detail;
  EXPECT_NE(r->changes[1].detail.find("bias left float"), std::string::npos)
      << r->changes[1].detail;
  const Inputs in = {{"X", float_input({1, 3, 6, 6}, 97)},
                     {"Z", float_input({1, 3, 6, 6}, 96, -1e-4f, 1e-4f)}};
  for (size_t o = 0; o < 2; ++o) {
    EXPECT_GT(cosine(run_float_output(original, in, o), run_float_output(*model, in, o)), 0.9999)
        << o;
  }
}

TEST(QuantizeStatic, SoftmaxOutputScaleIsTheReciprocalOfAnInteger) {
  // ONNX Runtime's fused QLinearSoftmax multiplies probabilities by floor(1 / output scale): the
  // scale is 1 / N (N integer, checked on the float32 value as that kernel computes it), N at
  // most the calibrated 1 / scale and small enough that probability 1 fits above the zero point.
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 6, 8] A, float[2, 8, 6] B, float[2, 6, 5] C) => (float[2, 6, 5] Y)
    { S = MatMul(A, B)
      P = Softmax<axis = -1>(S)
      Y = MatMul(P, C) })");
  ASSERT_OK(model);
  const ir::Model original = *model;
  std::vector<Inputs> samples;
  for (uint64_t s = 0; s < 3; ++s) {
    samples.push_back({{"A", float_input({2, 6, 8}, 60 + s)},
                       {"B", float_input({2, 8, 6}, 70 + s)},
                       {"C", float_input({2, 6, 5}, 80 + s)}});
  }
  for (const char* reduce : {"false", "true"}) {
    ir::Model m = original;
    const auto table = table_for(m, samples);
    ASSERT_OK(run_pass_calibrated(m, "quantize-static", table, {{"reduce_range", reduce}}));
    const ir::Graph& g = m.graph;
    const auto readers = readers_of(g, "P");
    ASSERT_EQ(readers.size(), 1u) << reduce;
    ASSERT_EQ(readers[0]->op_type, "QuantizeLinear") << reduce;
    const float s = scalar_float(g, readers[0]->inputs[1]);
    const int zp = scalar_int(g, readers[0]->inputs[2]);
    EXPECT_EQ(zp, -128) << reduce;  // reduce_range narrows the weights only
    // The calibrated scale (float32, as stored), and N = min(floor(1 / it), 127 - zero point).
    const float calibrated = float(table.ranges.at("P").max / 255.0);
    const double n = std::min(std::floor(1.0 / double(calibrated)), 127.0 - zp);
    EXPECT_EQ(std::floor(1.0f / s), float(n)) << reduce << ": scale " << s;
    EXPECT_NEAR(double(s) * n, 1.0, 1e-6) << reduce << ": scale " << s;
    const Inputs in = {{"A", float_input({2, 6, 8}, 91)},
                       {"B", float_input({2, 8, 6}, 92)},
                       {"C", float_input({2, 6, 5}, 93)}};
    EXPECT_GT(cosine(run_float_output(original, in), run_float_output(m, in)), 0.999) << reduce;
  }
}

// Layers inside If/Loop bodies are not rewritten; every layer pass lists them in its ledger with
// that reason instead of dropping them silently.
TEST(LayerPasses, LayersInsideSubgraphsAreSkippedWithTheReason) {
  const auto w = random_floats(4 * 4, 3, -0.5f, 0.5f);
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4] X, bool C) => (float[1, 4] Z)
    <float[4, 4] W = )" + float_literal(w) +
                           R"(>
    {
      Y = MatMul(X, W)
      Z = If(C) <then_branch = t () => (float[1, 4] A) { A = MatMul(Y, W) },
                 else_branch = e () => (float[1, 4] B) { B = Relu(Y) }>
    })";
  for (const std::string name :
       {"quantize-static", "quantize-weights", "quantize-dynamic", "prune-magnitude"}) {
    auto model = model_from_text(text);
    ASSERT_OK(model);
    StatusOr<pass::PassResult> r = pass::PassResult();
    if (name == "quantize-static") {
      std::vector<Inputs> samples = {{{"X", float_input({1, 4}, 5)}, {"C", bool_tensor({}, {1})}}};
      r = run_pass_calibrated(*model, name, table_for(*model, samples));
    } else {
      r = run_pass(
          *model, name,
          name == "prune-magnitude" ? pass::PassOptions{{"sparsity", "0.5"}} : pass::PassOptions{});
    }
    ASSERT_OK(r);
    EXPECT_EQ(r->nodes_changed, 1u) << name;  // the MatMul of the main graph
    bool listed = false;
    for (const auto& s : r->skipped) {
      listed = listed ||
               (s.node == "A" && s.reason.find("'then_branch' body of If") != std::string::npos);
    }
    EXPECT_TRUE(listed) << name << ": the MatMul in the then-branch is not in the ledger";
  }
}

}  // namespace
}  // namespace compressor
