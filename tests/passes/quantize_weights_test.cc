// quantize-weights: int8 weights behind DequantizeLinear. The dequantized values are recomputed
// here from the stored int8 values, scales and zero points and compared with the original
// weights; axis and per-channel/per-tensor choice per op and opset; sharing; the executor runs
// the result close to the float model.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <map>

#include "compressor/core/format.h"
#include "compressor/exec/executor.h"
#include "passes/layer_pass_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

std::vector<int8_t> int8_values(const ir::Tensor& t) {
  auto s = t.span<int8_t>();
  return {s.begin(), s.end()};
}

// What a DequantizeLinear in front of a layer computes, recomputed from its initializers.
struct Dequantized {
  const ir::Node* dq = nullptr;
  std::vector<int8_t> q;
  std::vector<float> scale;
  std::vector<int8_t> zero_point;
  ir::Dims scale_dims;
  int64_t axis = -1;              ///< -1 for one scale per tensor.
  std::vector<float> values;      ///< (q - zero point) * scale, per element.
  std::vector<float> half_steps;  ///< scale / 2 of each element's channel.
};

Dequantized dequantized_input(const ir::Graph& graph, const std::string& value,
                              const ir::Dims& weight_dims) {
  Dequantized d;
  for (const auto& n : graph.nodes()) {
    if (n->outputs.size() == 1 && n->outputs[0] == value) d.dq = n.get();
  }
  if (d.dq == nullptr || d.dq->op_type != "DequantizeLinear" ||
      (d.dq->inputs.size() != 2 && d.dq->inputs.size() != 3)) {
    ADD_FAILURE() << "'" << value << "' is not the output of a 2- or 3-input DequantizeLinear";
    return d;
  }
  const ir::Initializer* q = graph.find_initializer(d.dq->inputs[0]);
  const ir::Initializer* s = graph.find_initializer(d.dq->inputs[1]);
  // Without x_zero_point, DequantizeLinear subtracts 0.
  const ir::Initializer* z =
      d.dq->inputs.size() == 3 ? graph.find_initializer(d.dq->inputs[2]) : nullptr;
  if (!q || !s || (d.dq->inputs.size() == 3 && !z) || q->tensor.dtype() != ir::DType::kInt8 ||
      s->tensor.dtype() != ir::DType::kFloat || (z && z->tensor.dtype() != ir::DType::kInt8)) {
    ADD_FAILURE() << "DequantizeLinear inputs are not int8/float/int8 initializers";
    return d;
  }
  EXPECT_EQ(q->tensor.dims(), weight_dims);
  if (z) {
    EXPECT_EQ(s->tensor.dims(), z->tensor.dims());
  }
  d.q = int8_values(q->tensor);
  d.scale = float_values(graph, s->name);
  d.zero_point = z ? int8_values(z->tensor) : std::vector<int8_t>(size_t(s->tensor.numel()), 0);
  d.scale_dims = s->tensor.dims();
  const int64_t rank = static_cast<int64_t>(weight_dims.size());
  if (s->tensor.rank() == 1) {
    d.axis = d.dq->attr_int("axis", 1);
    if (d.axis < 0) d.axis += rank;
  } else {
    EXPECT_EQ(d.dq->attribute("axis"), nullptr) << "per-tensor DequantizeLinear has an axis";
  }
  int64_t inner = 1;
  for (int64_t k = d.axis + 1; d.axis >= 0 && k < rank; ++k) inner *= weight_dims[k];
  const int64_t channels = d.axis >= 0 ? weight_dims[d.axis] : 1;
  EXPECT_EQ(static_cast<int64_t>(d.scale.size()), channels);
  for (size_t i = 0; i < d.q.size(); ++i) {
    const size_t c = d.axis >= 0 ? static_cast<size_t>((int64_t(i) / inner) % channels) : 0;
    d.values.push_back(static_cast<float>((int32_t(d.q[i]) - d.zero_point[c]) * d.scale[c]));
    d.half_steps.push_back(d.scale[c] / 2);
  }
  return d;
}

// Every dequantized element is within half a quantization step of the original weight.
void expect_within_half_step(const Dequantized& d, const std::vector<float>& original) {
  ASSERT_EQ(d.values.size(), original.size());
  for (size_t i = 0; i < original.size(); ++i) {
    ASSERT_LE(std::fabs(double(d.values[i]) - original[i]), d.half_steps[i] * (1 + 1e-5))
        << "element " << i << ": " << original[i] << " dequantizes to " << d.values[i];
  }
}

// max |w| over each index of `axis` (the whole tensor for -1).
std::vector<float> abs_max_per(const std::vector<float>& w, const ir::Dims& dims, int64_t axis) {
  int64_t inner = 1, channels = axis >= 0 ? dims[axis] : 1;
  for (int64_t k = axis + 1; axis >= 0 && k < int64_t(dims.size()); ++k) inner *= dims[k];
  std::vector<float> m(static_cast<size_t>(channels), 0.0f);
  for (size_t i = 0; i < w.size(); ++i) {
    const size_t c = axis >= 0 ? static_cast<size_t>((int64_t(i) / inner) % channels) : 0;
    m[c] = std::max(m[c], std::fabs(w[i]));
  }
  return m;
}

size_t index_of(const ir::Graph& graph, const ir::Node* node) {
  for (size_t i = 0; i < graph.node_count(); ++i) {
    if (&graph.node(i) == node) return i;
  }
  return graph.node_count();
}

TEST(QuantizeWeights, PerChannelSymmetricConv) {
  const auto w = random_floats(4 * 3 * 3 * 3, 1);
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3, 5, 5] X) => (float[1, 4, 3, 3] Y)
    <float[4, 3, 3, 3] W = )" + float_literal(w) +
                               R"(>
    { Y = Conv(X, W) })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "quantize-weights");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_TRUE(r->skipped.empty());
  ASSERT_EQ(model->graph.node_count(), 2u);
  const ir::Node& dq = model->graph.node(0);
  const ir::Node& conv = model->graph.node(1);
  EXPECT_EQ(dq.op_type, "DequantizeLinear");
  EXPECT_EQ(dq.name, "W_dequantize");
  // Symmetric: the zero point is 0 everywhere, DequantizeLinear's default, so it is left out.
  EXPECT_EQ(dq.inputs, (std::vector<std::string>{"W_quantized", "W_scale"}));
  EXPECT_EQ(model->graph.find_initializer("W_zero_point"), nullptr);
  EXPECT_EQ(conv.inputs[1], "W_dequantized");
  EXPECT_EQ(model->graph.find_initializer("W"), nullptr) << "the float weight is removed";

  const Dequantized d = dequantized_input(model->graph, conv.inputs[1], {4, 3, 3, 3});
  EXPECT_EQ(d.axis, 0);
  EXPECT_EQ(d.scale_dims, (ir::Dims{4}));
  const auto amax = abs_max_per(w, {4, 3, 3, 3}, 0);
  for (size_t c = 0; c < 4; ++c) EXPECT_FLOAT_EQ(d.scale[c], amax[c] / 127.0f);
  EXPECT_EQ(d.zero_point, std::vector<int8_t>(4, 0));
  for (int8_t v : d.q) EXPECT_GE(v, -127);
  expect_within_half_step(d, w);
  // The largest magnitude of every channel maps to +-127.
  for (size_t c = 0; c < 4; ++c) {
    bool hit = false;
    for (size_t i = c * 27; i < (c + 1) * 27; ++i) hit = hit || std::abs(int(d.q[i])) == 127;
    EXPECT_TRUE(hit) << "channel " << c;
  }
  ASSERT_EQ(r->notes.size(), 1u);
  // 108 int8 values + 4 float32 scales; no zero points.
  EXPECT_EQ(r->notes[0], "1 weight to int8 (per channel, symmetric), 432 B -> 124 B");
  EXPECT_FALSE(save_to_bytes(*model, /*check=*/true).empty());
}

// One layer of each kind, opset 13: the axis each one gets.
const char* kEveryLayout = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[1, 2, 5, 5] X, float[2, 4] A, float[3, 2, 4] A3)
    => (float[1, 3, 3, 3] C, float[1, 3, 6, 6] T1, float[1, 2, 6, 6] T2, float[2, 5] G0,
        float[2, 5] G1, float[2, 5] M2, float[3, 2, 5] M3)
  <float[3, 2, 3, 3] WC = @WC, float[2, 3, 2, 2] WT1 = @WT1, float[2, 1, 2, 2] WT2 = @WT2,
   float[4, 5] WG0 = @WG0, float[5, 4] WG1 = @WG1, float[4, 5] WM2 = @WM2,
   float[3, 4, 5] WM3 = @WM3>
  {
    C = Conv(X, WC)
    T1 = ConvTranspose(X, WT1)
    T2 = ConvTranspose <group = 2> (X, WT2)
    G0 = Gemm(A, WG0)
    G1 = Gemm <transB = 1> (A, WG1)
    M2 = MatMul(A, WM2)
    M3 = MatMul(A3, WM3)
  })";

struct LayoutCase {
  const char* weight;
  const char* output;
  ir::Dims dims;
  int64_t axis;  // at opset 13 with per_channel
};
const LayoutCase kLayouts[] = {
    {"WC", "C", {3, 2, 3, 3}, 0}, {"WT1", "T1", {2, 3, 2, 2}, 1}, {"WT2", "T2", {2, 1, 2, 2}, -1},
    {"WG0", "G0", {4, 5}, 1},     {"WG1", "G1", {5, 4}, 0},       {"WM2", "M2", {4, 5}, 1},
    {"WM3", "M3", {3, 4, 5}, -1},
};

std::string every_layout_text(int64_t opset, std::map<std::string, std::vector<float>>* weights) {
  std::string text = kEveryLayout;
  text.replace(text.find("\"\" : 13"), 7, "\"\" : " + std::to_string(opset));
  uint64_t seed = 100;
  for (const auto& c : kLayouts) {
    const auto w = random_floats(static_cast<size_t>(ir::element_count(c.dims)), ++seed);
    (*weights)[c.weight] = w;
    text.replace(text.find(std::string("@") + c.weight), std::string(c.weight).size() + 1,
                 float_literal(w));
  }
  return text;
}

const ir::Node* node_writing(const ir::Graph& graph, const std::string& output) {
  for (const auto& n : graph.nodes()) {
    if (!n->outputs.empty() && n->outputs[0] == output) return n.get();
  }
  ADD_FAILURE() << "no node writes '" << output << "'";
  return nullptr;
}

TEST(QuantizeWeights, ChannelAxisPerOp) {
  std::map<std::string, std::vector<float>> weights;
  auto model = model_from_text(every_layout_text(13, &weights));
  ASSERT_OK(model);
  auto pass = make_pass("quantize-weights");
  ASSERT_OK(pass);
  EXPECT_EQ((*pass)->eligible_nodes(*model),
            (std::vector<std::string>{"C", "T1", "T2", "G0", "G1", "M2", "M3"}));
  auto r = run_pass(*model, "quantize-weights");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 7u);
  for (const auto& c : kLayouts) {
    SCOPED_TRACE(c.weight);
    const ir::Node* layer = node_writing(model->graph, c.output);
    ASSERT_NE(layer, nullptr);
    const Dequantized d = dequantized_input(model->graph, layer->inputs[1], c.dims);
    ASSERT_NE(d.dq, nullptr);
    EXPECT_EQ(d.axis, c.axis);
    EXPECT_EQ(index_of(model->graph, d.dq) + 1, index_of(model->graph, layer))
        << "DequantizeLinear right before its layer";
    const auto amax = abs_max_per(weights[c.weight], c.dims, c.axis);
    ASSERT_EQ(d.scale.size(), amax.size());
    for (size_t k = 0; k < amax.size(); ++k) EXPECT_FLOAT_EQ(d.scale[k], amax[k] / 127.0f);
    expect_within_half_step(d, weights[c.weight]);
  }
  ASSERT_GE(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("7 weights to int8 (5 per channel, 2 per tensor, symmetric)"),
            std::string::npos)
      << r->notes[0];
  EXPECT_FALSE(save_to_bytes(*model, true).empty());
}

TEST(QuantizeWeights, BeforeOpset13EveryWeightIsPerTensorWithANote) {
  std::map<std::string, std::vector<float>> weights;
  auto model = model_from_text(every_layout_text(11, &weights));
  ASSERT_OK(model);
  auto r = run_pass(*model, "quantize-weights");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 7u);
  EXPECT_EQ(model->opset_version(""), 11) << "the opset is kept";
  for (const auto& c : kLayouts) {
    SCOPED_TRACE(c.weight);
    const ir::Node* layer = node_writing(model->graph, c.output);
    ASSERT_NE(layer, nullptr);
    const Dequantized d = dequantized_input(model->graph, layer->inputs[1], c.dims);
    EXPECT_EQ(d.axis, -1);
    EXPECT_EQ(d.scale_dims, ir::Dims{});
    expect_within_half_step(d, weights[c.weight]);
  }
  ASSERT_EQ(r->notes.size(), 2u);
  EXPECT_NE(r->notes[0].find("(per tensor, symmetric)"), std::string::npos) << r->notes[0];
  EXPECT_EQ(r->notes[1],
            "per-channel scales need opset 13 (the model imports opset 11); weights were "
            "quantized per tensor");
  EXPECT_FALSE(save_to_bytes(*model, true).empty());

  // Asking for per tensor at opset 13 gives the same layout without the note.
  weights.clear();
  auto m13 = model_from_text(every_layout_text(13, &weights));
  ASSERT_OK(m13);
  auto r13 = run_pass(*m13, "quantize-weights", {{"per_channel", "false"}});
  ASSERT_OK(r13);
  EXPECT_EQ(r13->notes.size(), 1u);
  for (const auto& n : m13->graph.nodes()) {
    if (n->op_type == "DequantizeLinear") {
      EXPECT_EQ(n->attribute("axis"), nullptr);
    }
  }
}

TEST(QuantizeWeights, BeforeOpset10EveryLayerIsSkipped) {
  auto model = model_from_text(R"(<ir_version: 4, opset_import: ["" : 9]>
    g (float[1, 1, 3, 3] X, float[2, 2] A) => (float[1, 1, 3, 3] Y, float[2, 2] M)
    <float[1, 1, 1, 1] W = {0.5}, float[2, 2] B = {1, 2, 3, 4}>
    {
      Y = Conv(X, W)
      M = MatMul(A, B)
    })");
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto pass = make_pass("quantize-weights");
  ASSERT_OK(pass);
  EXPECT_TRUE((*pass)->eligible_nodes(*model).empty());
  auto r = run_pass(*model, "quantize-weights");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 2u);
  EXPECT_EQ(r->skipped[0].node, "Y");
  EXPECT_EQ(r->skipped[0].reason, "DequantizeLinear needs opset 10; the model imports opset 9");
  EXPECT_EQ(r->skipped[1].node, "M");
  EXPECT_EQ(save_to_bytes(*model), before);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("no layer quantized"), std::string::npos);
}

TEST(QuantizeWeights, AsymmetricUsesTheFullRangeWithZeroRepresentable) {
  // Row 0 all positive (zero point -128), row 1 mixed, row 2 all negative (zero point 127).
  auto w = random_floats(3 * 8, 7, 0.2f, 1.5f);
  for (size_t i = 8; i < 16; ++i) w[i] -= 1.0f;
  for (size_t i = 16; i < 24; ++i) w[i] = -w[i];
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 8] A) => (float[2, 3] Y)
    <float[3, 8] W = )" + float_literal(w) +
                               R"(>
    { Y = Gemm <transB = 1> (A, W) })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "quantize-weights", {{"symmetric", "false"}});
  ASSERT_OK(r);
  const Dequantized d = dequantized_input(model->graph, model->graph.node(1).inputs[1], {3, 8});
  ASSERT_EQ(d.axis, 0);
  for (size_t c = 0; c < 3; ++c) {
    float lo = 0, hi = 0;
    for (size_t i = c * 8; i < c * 8 + 8; ++i) lo = std::min(lo, w[i]), hi = std::max(hi, w[i]);
    const float scale = static_cast<float>((double(hi) - lo) / 255.0);
    EXPECT_FLOAT_EQ(d.scale[c], scale) << c;
    EXPECT_EQ(int(d.zero_point[c]),
              int(std::clamp(std::nearbyint(-128.0 - lo / scale), -128.0, 127.0)))
        << c;
  }
  EXPECT_EQ(d.zero_point[0], -128);
  EXPECT_EQ(d.zero_point[2], 127);
  expect_within_half_step(d, w);
  EXPECT_EQ(*std::max_element(d.q.begin(), d.q.begin() + 8), 127) << "positive row reaches 127";
  EXPECT_EQ(*std::min_element(d.q.begin() + 16, d.q.end()), -128) << "negative row reaches -128";
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("(per channel, asymmetric)"), std::string::npos) << r->notes[0];

  // Per tensor too.
  auto m2 = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 8] A) => (float[2, 3] Y)
    <float[3, 8] W = )" + float_literal(w) +
                            R"(>
    { Y = Gemm <transB = 1> (A, W) })");
  ASSERT_OK(m2);
  ASSERT_OK(run_pass(*m2, "quantize-weights", {{"symmetric", "false"}, {"per_channel", "0"}}));
  const Dequantized d2 = dequantized_input(m2->graph, m2->graph.node(1).inputs[1], {3, 8});
  EXPECT_EQ(d2.axis, -1);
  expect_within_half_step(d2, w);
}

TEST(QuantizeWeights, ZeroRangeGetsScaleOne) {
  for (const char* symmetric : {"true", "false"}) {
    SCOPED_TRACE(symmetric);
    auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
      g (float[1, 2] A) => (float[1, 2] M)
      <float[2, 2] W = {0, 0.5, 0, -0.25}>
      { M = MatMul(A, W) })");
    ASSERT_OK(model);
    ASSERT_OK(run_pass(*model, "quantize-weights", {{"symmetric", symmetric}}));
    const Dequantized d = dequantized_input(model->graph, model->graph.node(1).inputs[1], {2, 2});
    ASSERT_EQ(d.axis, 1);
    EXPECT_EQ(d.scale[0], 1.0f) << "column 0 is all zero";
    EXPECT_EQ(d.zero_point[0], 0);
    EXPECT_EQ(d.values[0], 0.0f);
    EXPECT_EQ(d.values[2], 0.0f);
    expect_within_half_step(d, {0, 0.5f, 0, -0.25f});
  }
}

TEST(QuantizeWeights, SharedWeightIsQuantizedOnceAndOnlyForSelectedLayers) {
  const auto w = random_floats(16, 9);
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4] A) => (float[1, 4] Z)
    <float[4, 4] W = )" + float_literal(w) +
                           R"(>
    {
      P = Gemm(A, W)
      R = Relu(P)
      Z = MatMul(R, W)
    })";
  {
    auto model = model_from_text(text);
    ASSERT_OK(model);
    auto r = run_pass(*model, "quantize-weights");
    ASSERT_OK(r);
    EXPECT_EQ(r->nodes_changed, 2u);
    EXPECT_EQ(count_ops(model->graph, "DequantizeLinear"), 1u);
    EXPECT_EQ(model->graph.node(0).op_type, "DequantizeLinear");
    EXPECT_EQ(node_writing(model->graph, "P")->inputs[1], "W_dequantized");
    EXPECT_EQ(node_writing(model->graph, "Z")->inputs[1], "W_dequantized");
    EXPECT_EQ(model->graph.find_initializer("W"), nullptr);
    EXPECT_EQ(r->notes[0], "1 weight to int8 (per channel, symmetric), 64 B -> 32 B");
  }
  {
    auto model = model_from_text(text);
    ASSERT_OK(model);
    auto r = run_pass(*model, "quantize-weights", {{"nodes", "Z"}});
    ASSERT_OK(r);
    EXPECT_EQ(r->nodes_changed, 1u);
    EXPECT_EQ(node_writing(model->graph, "P")->inputs[1], "W") << "P keeps the float weight";
    EXPECT_EQ(float_values(model->graph, "W"), w);
    const ir::Node* z = node_writing(model->graph, "Z");
    EXPECT_EQ(z->inputs[1], "W_dequantized");
    EXPECT_EQ(model->graph.node(2).op_type, "DequantizeLinear") << "inserted right before Z";
    ASSERT_EQ(r->notes.size(), 1u);
    EXPECT_EQ(r->notes[0], "1 weight to int8 (per channel, symmetric), 64 B -> 96 B")
        << "the float weight P reads still counts";
    expect_within_half_step(dequantized_input(model->graph, z->inputs[1], {4, 4}), w);
  }
  {
    // Gemm with transB reads the same weight along another axis: a second quantized copy.
    std::string t2 = text;
    t2.replace(t2.find("Gemm(A, W)"), 10, "Gemm <transB = 1> (A, W)");
    auto model = model_from_text(t2);
    ASSERT_OK(model);
    auto r = run_pass(*model, "quantize-weights");
    ASSERT_OK(r);
    EXPECT_EQ(count_ops(model->graph, "DequantizeLinear"), 2u);
    const ir::Node* p = node_writing(model->graph, "P");
    const ir::Node* z = node_writing(model->graph, "Z");
    EXPECT_EQ(p->inputs[1], "W_dequantized");
    EXPECT_EQ(z->inputs[1], "W_dequantized_1");
    EXPECT_EQ(dequantized_input(model->graph, p->inputs[1], {4, 4}).axis, 0);
    EXPECT_EQ(dequantized_input(model->graph, z->inputs[1], {4, 4}).axis, 1);
    EXPECT_NE(model->graph.find_initializer("W_quantized_1"), nullptr);
    EXPECT_EQ(model->graph.find_initializer("W"), nullptr);
  }
}

TEST(QuantizeWeights, NewNamesAvoidExistingOnes) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2] A) => (float[1, 2] W_scale)
    <float[2, 2] W = {1, 2, 3, 4}>
    {
      M = MatMul(A, W)
      W_scale = Relu(M)
    })");
  ASSERT_OK(model);
  ASSERT_OK(run_pass(*model, "quantize-weights"));
  EXPECT_EQ(model->graph.node(0).inputs[1], "W_scale_1");
}

TEST(QuantizeWeights, OnlyMatMulInputBAndFiniteWeightsQualify) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 2] B) => (float[2, 2] P, float[2, 2] Q)
    <float[2, 2] WA = {1, 2, 3, 4}, float[2, 2] WB = {1, 2, 3, 4}>
    {
      P = MatMul(WA, B)
      Q = MatMul(B, WB)
    })");
  ASSERT_OK(model);
  model->graph.find_initializer("WB")->tensor.mutable_span<float>()[2] = INFINITY;
  const std::string before = save_to_bytes(*model);
  auto r = run_pass(*model, "quantize-weights");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 2u);
  EXPECT_EQ(r->skipped[0].node, "P");
  EXPECT_NE(r->skipped[0].reason.find("input B 'B' is a graph input"), std::string::npos)
      << r->skipped[0].reason;
  EXPECT_EQ(r->skipped[1].reason, "weight 'WB' has non-finite values");
  EXPECT_EQ(save_to_bytes(*model), before);
}

TEST(QuantizeWeights, NodesOptionLeavesOtherLayersAlone) {
  std::map<std::string, std::vector<float>> weights;
  auto original = model_from_text(every_layout_text(13, &weights));
  ASSERT_OK(original);
  ir::Model model = *original;
  auto r = run_pass(model, "quantize-weights", {{"nodes", "G1|C"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  EXPECT_EQ(count_ops(model.graph, "DequantizeLinear"), 2u);
  for (const auto& c : kLayouts) {
    const ir::Node* layer = node_writing(model.graph, c.output);
    ASSERT_NE(layer, nullptr);
    const bool selected = std::string(c.output) == "G1" || std::string(c.output) == "C";
    EXPECT_EQ(layer->inputs[1] == c.weight, !selected) << c.output;
    if (!selected) {
      EXPECT_TRUE(model.graph.find_initializer(c.weight)->tensor.bitwise_equal(
          original->graph.find_initializer(c.weight)->tensor));
    }
  }
}

TEST(QuantizeWeights, BadOptionsAreInvalidArguments) {
  for (const char* option : {"per_channel", "symmetric"}) {
    auto p = make_pass("quantize-weights", {{option, "yes"}});
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(std::string("'") + option + "'"), std::string::npos)
        << p.status().message();
  }
  std::map<std::string, std::vector<float>> weights;
  auto model = model_from_text(every_layout_text(13, &weights));
  ASSERT_OK(model);
  auto r = run_pass(*model, "quantize-weights", {{"nodes", "C|missing"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "quantize-weights: option 'nodes': 'missing' is not an eligible layer; eligible: 'C', "
            "'T1', 'T2', 'G0', 'G1' and 2 more");
}

TEST(QuantizeWeights, ExecutorOutputStaysCloseToTheFloatModel) {
  const auto w1 = random_floats(32 * 16, 21), b1 = random_floats(32, 22);
  const auto w2 = random_floats(32 * 10, 23);
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[4, 16] X) => (float[4, 10] Y)
    <float[32, 16] W1 = )" +
                           float_literal(w1) + ", float[32] B1 = " + float_literal(b1) +
                           ", float[32, 10] W2 = " + float_literal(w2) + R"(>
    {
      H = Gemm <transB = 1> (X, W1, B1)
      R = Relu(H)
      Y = MatMul(R, W2)
    })";
  auto float_model = model_from_text(text);
  ASSERT_OK(float_model);
  const std::vector<exec::NamedTensor> in{{"X", float_tensor({4, 16}, random_floats(64, 24))}};
  const auto expected = run_float_output(*float_model, in);
  for (const char* symmetric : {"true", "false"}) {
    for (const char* per_channel : {"true", "false"}) {
      SCOPED_TRACE(std::string("symmetric=") + symmetric + " per_channel=" + per_channel);
      ir::Model q = *float_model;
      ASSERT_OK(run_pass(q, "quantize-weights",
                         {{"symmetric", symmetric}, {"per_channel", per_channel}}));
      const auto actual = run_float_output(q, in);
      ASSERT_EQ(actual.size(), expected.size());
      EXPECT_LT(max_rel_diff(expected, actual), 0.02);
      EXPECT_GT(max_rel_diff(expected, actual), 0.0) << "weights really changed";
    }
  }
}

// A depthwise 3x3 Conv of `channels` channels (9 weights each); with `tiny_channel`, channel 0's
// weights are below 2^-14 * 127 in magnitude, so its scale is no normal float16 number.
std::string depthwise_text(int64_t channels, const std::vector<float>& w) {
  const std::string c = std::to_string(channels);
  return R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, )" +
         c + ", 5, 5] X) => (float[1, " + c + ", 3, 3] Y)\n    <float[" + c +
         ", 1, 3, 3] W = " + float_literal(w) + ">\n    { Y = Conv <group = " + c + "> (X, W) }";
}

// The float16 values of a float16 tensor, as floats.
std::vector<float> half_values(const ir::Tensor& t) {
  const auto* h = reinterpret_cast<const Eigen::half*>(t.data());
  std::vector<float> out(size_t(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(h[i]);
  return out;
}

TEST(QuantizeWeights, ScalesOfWideLayersAreFloat16BehindACast) {
  const auto w = random_floats(64 * 9, 41);
  auto model = model_from_text(depthwise_text(64, w));
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "quantize-weights");
  ASSERT_OK(r);
  const ir::Graph& g = model->graph;
  ASSERT_EQ(g.node_count(), 3u);
  const ir::Node& cast = g.node(0);
  const ir::Node& dq = g.node(1);
  EXPECT_EQ(cast.op_type, "Cast");
  EXPECT_EQ(cast.attr_int("to", 0), int64_t(ir::DType::kFloat));
  EXPECT_EQ(dq.op_type, "DequantizeLinear");
  ASSERT_EQ(cast.outputs, (std::vector<std::string>{dq.inputs[1]}));
  EXPECT_EQ(g.find_initializer(dq.inputs[1]), nullptr) << "no float32 copy of the scales";
  const ir::Initializer* half = g.find_initializer(cast.inputs[0]);
  ASSERT_NE(half, nullptr);
  ASSERT_EQ(half->tensor.dtype(), ir::DType::kFloat16);
  ASSERT_EQ(half->tensor.dims(), (ir::Dims{64}));

  // Each scale is the least float16 value at or above max|w| / 127, and the weights are
  // quantized with it: within half a step, and no channel's largest value clips.
  const std::vector<float> scale = half_values(half->tensor);
  const auto amax = abs_max_per(w, {64, 1, 3, 3}, 0);
  const auto q = int8_values(g.find_initializer(dq.inputs[0])->tensor);
  for (size_t c = 0; c < 64; ++c) {
    const float exact = amax[c] / 127.0f;
    EXPECT_GE(scale[c], exact) << "channel " << c;
    EXPECT_LE(scale[c], exact * (1.0f + 1.0f / 1024.0f)) << "one float16 step at most";
    for (size_t i = c * 9; i < (c + 1) * 9; ++i) {
      EXPECT_LE(std::fabs(q[i] * scale[c] - w[i]), scale[c] / 2 * (1 + 1e-5)) << "element " << i;
      EXPECT_EQ(q[i], int8_t(std::nearbyint(double(w[i]) / scale[c])));
    }
  }
  // 576 int8 values and 64 float16 scales.
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0],
            "1 weight to int8 (per channel, symmetric), " + human_bytes(64 * 9 * 4) + " -> 704 B");
  EXPECT_FALSE(save_to_bytes(*model, /*check=*/true).empty());
  const std::vector<exec::NamedTensor> in{
      {"X", float_tensor({1, 64, 5, 5}, random_floats(64 * 25, 42))}};
  EXPECT_LT(max_rel_diff(run_float_output(original, in), run_float_output(*model, in)), 0.02);

  // float16_scales=false keeps the float32 scales the DequantizeLinear reads directly.
  ir::Model kept = original;
  ASSERT_OK(run_pass(kept, "quantize-weights", {{"float16_scales", "false"}}));
  EXPECT_EQ(count_ops(kept.graph, "Cast"), 0u);
  const ir::Initializer* s32 = kept.graph.find_initializer(kept.graph.node(0).inputs[1]);
  ASSERT_NE(s32, nullptr);
  EXPECT_EQ(s32->tensor.dtype(), ir::DType::kFloat);
  const auto s = s32->tensor.span<float>();
  for (size_t c = 0; c < 64; ++c) EXPECT_FLOAT_EQ(s[c], amax[c] / 127.0f);
}

TEST(QuantizeWeights, NarrowLayersAndTinyScalesKeepFloat32Scales) {
  // 63 channels: the Cast would cost about what float16 saves.
  auto narrow = model_from_text(depthwise_text(63, random_floats(63 * 9, 43)));
  ASSERT_OK(narrow);
  ASSERT_OK(run_pass(*narrow, "quantize-weights"));
  EXPECT_EQ(count_ops(narrow->graph, "Cast"), 0u);
  // 64 channels, one of them with weights so small that its scale is below float16's normal
  // range: the whole tensor keeps float32 scales.
  auto w = random_floats(64 * 9, 44);
  for (size_t i = 0; i < 9; ++i) w[i] *= 1e-4f;
  auto tiny = model_from_text(depthwise_text(64, w));
  ASSERT_OK(tiny);
  ASSERT_OK(run_pass(*tiny, "quantize-weights"));
  EXPECT_EQ(count_ops(tiny->graph, "Cast"), 0u);
  const ir::Initializer* s = tiny->graph.find_initializer(tiny->graph.node(0).inputs[1]);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->tensor.dtype(), ir::DType::kFloat);
  EXPECT_FLOAT_EQ(s->tensor.span<float>()[0], abs_max_per(w, {64, 1, 3, 3}, 0)[0] / 127.0f);
}

TEST(QuantizeWeights, DemoCnnShrinksAboutFourTimesAndStillRuns) {
  auto model = io::load_model(demo_model("tiny_cnn"));
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "quantize-weights");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 5u);
  const double ratio =
      double(save_to_bytes(*model, true).size()) / double(save_to_bytes(original).size());
  EXPECT_LT(ratio, 0.35) << "biases and the graph stay as they were";
  EXPECT_GT(ratio, 0.25);
  const std::vector<exec::NamedTensor> in{
      {"input", float_tensor({2, 1, 8, 8}, random_floats(128, 31))}};
  EXPECT_LT(max_rel_diff(run_float_output(original, in), run_float_output(*model, in)), 0.05);
}

}  // namespace
}  // namespace compressor
