// QDQ Conv and MatMul node units: which ones the executor runs as one integer QLinearConv or
// QLinearMatMul, and that it then computes exactly what that op computes.
#include "exec/qdq_units.h"

#include <gtest/gtest.h>

#include <Eigen/Core>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "compressor/exec/executor.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

constexpr float kXs = 0.1f, kYs = 0.07f;
const std::vector<float> kWs = {0.2f, 0.05f, 0.3f};

std::string exact(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

struct UnitOptions {
  bool relu = false;
  int y_zero_point = 128;
  bool bias_off = false;        // bias scale one float step away from x scale x weight scale
  bool conv_output = false;     // the Conv's float output is also a graph output
  std::vector<float> ws = kWs;  // weight scales
};

std::string list(const std::vector<float>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + exact(v[i]);
  return s;
}

// The bias scales x scale x weight scale, as float32 computes them, optionally one step off.
std::string bias_scales(const UnitOptions& o) {
  std::vector<float> v;
  for (size_t c = 0; c < o.ws.size(); ++c) {
    v.push_back(kXs * o.ws[c]);
    if (o.bias_off && c == 1) v.back() = std::nextafter(v.back(), 1.0f);
  }
  return list(v);
}

// DequantizeLinear(XQ) -> Conv(., DequantizeLinear(W), DequantizeLinear(B)) [-> Relu] ->
// QuantizeLinear, weights per output channel.
std::string unit_model(const UnitOptions& o) {
  std::string text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 2, 4, 4] XQ) => (uint8[1, 3, 4, 4] YQ)" +
                     std::string(o.conv_output ? ", float[1, 3, 4, 4] Y" : "") + R"()
    <float XS = {)" + exact(kXs) +
                     R"(}, uint8 XZ = {3}, int8[3, 2, 1, 1] W = {1, -2, 3, -4, 5, -6},
     float[3] WS = {)" +
                     list(o.ws) + R"(}, int32[3] B = {7, -9, 11}, float[3] BS = {)" +
                     bias_scales(o) + R"(}, float YS = {)" + exact(kYs) + R"(}, uint8 YZ = {)" +
                     std::to_string(o.y_zero_point) + R"(}> {
      X = DequantizeLinear(XQ, XS, XZ)
      Wd = DequantizeLinear <axis = 0> (W, WS)
      Bd = DequantizeLinear <axis = 0> (B, BS)
      Y = Conv(X, Wd, Bd)
  )";
  text += o.relu ? "    R = Relu(Y)\n    YQ = QuantizeLinear(R, YS, YZ)\n"
                 : "    YQ = QuantizeLinear(Y, YS, YZ)\n";
  return text + "}";
}

// The same unit written as the QLinearConv itself (a Relu before a zero point of 0 clips nothing
// the QuantizeLinear does not).
std::string qlinear_model(int y_zero_point, const std::vector<float>& ws = kWs) {
  return R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 2, 4, 4] XQ) => (uint8[1, 3, 4, 4] YQ)
    <float XS = {)" +
         exact(kXs) + R"(}, uint8 XZ = {3}, int8[3, 2, 1, 1] W = {1, -2, 3, -4, 5, -6},
     float[3] WS = {)" +
         list(ws) + R"(}, int8[3] WZ = {0, 0, 0}, int32[3] B = {7, -9, 11}, float YS = {)" +
         exact(kYs) + R"(}, uint8 YZ = {)" + std::to_string(y_zero_point) + R"(}> {
      YQ = QLinearConv(XQ, XS, XZ, W, WS, WZ, YS, YZ, B)
    })";
}

ir::Tensor input() {
  std::vector<uint8_t> v(32);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>((i * 37 + 11) % 251);
  return ir::Tensor::from_values<uint8_t>({1, 2, 4, 4}, std::span<const uint8_t>(v));
}

std::vector<uint8_t> run(const ir::Model& m, bool integer_units) {
  auto ex = exec::Executor::create(m, {.threads = 1, .integer_qdq_units = integer_units});
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  auto out = (*ex)->run({{"XQ", input()}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  auto s = (*out)[0].span<uint8_t>();
  return {s.begin(), s.end()};
}

std::vector<uint8_t> run(const std::string& text, bool integer_units) {
  auto m = model_from_text(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? run(*m, integer_units) : std::vector<uint8_t>{};
}

// `m` with its weight scales WS stored as float16 (WSH) and read through a Cast to float32, as
// quantize-static stores the scales of wide layers. The scales must be float16 values.
ir::Model with_half_scales(ir::Model m) {
  const ir::Tensor ws = m.graph.find_initializer("WS")->tensor;
  ir::Tensor half = ir::Tensor::uninitialized(ir::DType::kFloat16, ws.dims());
  auto* h = reinterpret_cast<Eigen::half*>(half.mutable_data());
  for (size_t c = 0; c < size_t(ws.numel()); ++c) h[c] = Eigen::half(ws.span<float>()[c]);
  m.graph.remove_initializers_if([](const ir::Initializer& i) { return i.name == "WS"; });
  m.graph.set_initializer({"WSH", std::move(half), nullptr});
  ir::Node cast;
  cast.name = "WS_cast";
  cast.op_type = "Cast";
  cast.inputs = {"WSH"};
  cast.outputs = {"WS"};
  cast.set_attribute(ir::Attribute::make_int("to", int64_t(ir::DType::kFloat)));
  m.graph.insert_node(0, std::move(cast));
  return m;
}

std::vector<std::string> op_types(const ir::Graph& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.nodes()) ops.push_back(n->op_type);
  return ops;
}

TEST(QdqUnits, ConvUnitBecomesOneQLinearConvWithItsResults) {
  auto m = model_from_text(unit_model({}));
  ASSERT_OK(m);
  ir::Graph g = m->graph;
  EXPECT_EQ(exec::fuse_qdq_units(g), 1u);
  // The DequantizeLinear nodes nothing reads any more go too.
  EXPECT_EQ(op_types(g), std::vector<std::string>{"QLinearConv"});
  EXPECT_EQ(run(unit_model({}), true), run(qlinear_model(128), false));
}

TEST(QdqUnits, ReluJoinsWhenTheZeroPointIsTheTypeMinimum) {
  const UnitOptions relu{.relu = true, .y_zero_point = 0};
  auto m = model_from_text(unit_model(relu));
  ASSERT_OK(m);
  ir::Graph g = m->graph;
  EXPECT_EQ(exec::fuse_qdq_units(g), 1u);
  EXPECT_EQ(run(unit_model(relu), true), run(qlinear_model(0), false));
}

TEST(QdqUnits, Float16ScalesBehindACastAreFoldedAndTheUnitFuses) {
  const UnitOptions o{.ws = {0.25f, 0.0625f, 0.3125f}};  // float16 values
  auto m = model_from_text(unit_model(o));
  ASSERT_OK(m);
  const ir::Model half = with_half_scales(*m);
  ir::Graph g = half.graph;
  EXPECT_EQ(exec::fuse_qdq_units(g), 1u);
  EXPECT_EQ(op_types(g), std::vector<std::string>{"QLinearConv"});
  EXPECT_EQ(run(half, true), run(qlinear_model(128, o.ws), false));
  // In float, the Cast computes the same scales.
  EXPECT_EQ(run(half, false), run(*m, false));
}

TEST(QdqUnits, UnitsThatWouldComputeSomethingElseStay) {
  // A Relu above the zero point's floor clips what the QuantizeLinear keeps; a bias scale other
  // than x scale x weight scale does not add to the integer sums as it is; a Conv output read
  // elsewhere must be computed in float.
  for (const UnitOptions& o : {UnitOptions{.relu = true, .y_zero_point = 3},
                               UnitOptions{.bias_off = true}, UnitOptions{.conv_output = true}}) {
    auto m = model_from_text(unit_model(o));
    ASSERT_OK(m);
    ir::Graph g = m->graph;
    EXPECT_EQ(exec::fuse_qdq_units(g), 0u) << unit_model(o);
    EXPECT_EQ(g.node_count(), m->graph.node_count());
  }
}

// DequantizeLinear(XQ) -> MatMul(., B) -> QuantizeLinear, where B is DequantizeLinear of constant
// int8 weights per column without a zero point ("weights") or the same dequantized activation
// ("activation"); the MatMul's output is also a graph output with `matmul_output`.
std::string matmul_unit_model(const std::string& b, bool matmul_output = false) {
  return R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 2, 4, 4] XQ) => (uint8 YQ)" +
         std::string(matmul_output ? ", float Y" : "") + R"()
    <float XS = {)" +
         exact(kXs) +
         R"(}, uint8 XZ = {3}, int8[4, 3] W = {1, -2, 3, -4, 5, -6, 7, -8, 9, 10, 0, -127},
     float[3] WS = {)" +
         exact(kWs[0]) + ", " + exact(kWs[1]) + ", " + exact(kWs[2]) + R"(}, float YS = {)" +
         exact(kYs) + R"(}, uint8 YZ = {128}> {
      X = DequantizeLinear(XQ, XS, XZ)
      Wd = DequantizeLinear <axis = 1> (W, WS)
      Y = MatMul(X, )" +
         (b == "weights" ? "Wd" : "X") + R"()
      YQ = QuantizeLinear(Y, YS, YZ)
    })";
}

// The same units written as the QLinearMatMul itself.
std::string qlinear_matmul_model(const std::string& b) {
  const std::string b_inputs = b == "weights" ? "W, WS, WZ" : "XQ, XS, XZ";
  return R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 2, 4, 4] XQ) => (uint8 YQ)
    <float XS = {)" +
         exact(kXs) +
         R"(}, uint8 XZ = {3}, int8[4, 3] W = {1, -2, 3, -4, 5, -6, 7, -8, 9, 10, 0, -127},
     float[3] WS = {)" +
         exact(kWs[0]) + ", " + exact(kWs[1]) + ", " + exact(kWs[2]) +
         R"(}, int8[3] WZ = {0, 0, 0}, float YS = {)" + exact(kYs) + R"(}, uint8 YZ = {128}> {
      YQ = QLinearMatMul(XQ, XS, XZ, )" +
         b_inputs + R"(, YS, YZ)
    })";
}

TEST(QdqUnits, MatMulUnitsBecomeOneQLinearMatMulWithItsResults) {
  for (const std::string b : {"weights", "activation"}) {
    auto m = model_from_text(matmul_unit_model(b));
    ASSERT_OK(m);
    ir::Graph g = m->graph;
    EXPECT_EQ(exec::fuse_qdq_units(g), 1u) << b;
    // The unit's DequantizeLinear nodes go when nothing reads them any more; the weights' one
    // nothing read in the "activation" model is not the unit's and stays.
    const std::vector<std::string> left =
        b == "weights" ? std::vector<std::string>{"QLinearMatMul"}
                       : std::vector<std::string>{"DequantizeLinear", "QLinearMatMul"};
    EXPECT_EQ(op_types(g), left) << b;
    EXPECT_EQ(run(matmul_unit_model(b), true), run(qlinear_matmul_model(b), false)) << b;
  }
  // A MatMul output read elsewhere must be computed in float.
  auto m = model_from_text(matmul_unit_model("weights", true));
  ASSERT_OK(m);
  ir::Graph g = m->graph;
  EXPECT_EQ(exec::fuse_qdq_units(g), 0u);
}

}  // namespace
}  // namespace compressor
