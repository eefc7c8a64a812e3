// quantize-dynamic: MatMul, Gemm and Conv become DynamicQuantizeLinear + MatMulInteger /
// ConvInteger + Cast + Mul (+ Add). The structure and the stored integers, scales and zero points
// are checked against values recomputed here; the executor's output is compared with the float
// model within a bound derived from the two quantization steps: with x off by at most sx/2 and
// every weight by at most sw/2, |y_q - y| <= sum_k (sx/2 |w_k| + |x_k| sw/2 + sx sw / 4).
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <map>

#include "compressor/core/format.h"
#include "compressor/exec/executor.h"
#include "passes/layer_pass_testing.h"
#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

std::vector<std::string> op_types(const ir::Graph& graph) {
  std::vector<std::string> ops;
  for (const auto& n : graph.nodes()) ops.push_back(n->op_type);
  return ops;
}

const ir::Node* node_writing(const ir::Graph& graph, const std::string& output) {
  for (const auto& n : graph.nodes()) {
    if (!n->outputs.empty() && n->outputs[0] == output) return n.get();
  }
  ADD_FAILURE() << "no node writes '" << output << "'";
  return nullptr;
}

const ir::Tensor& init(const ir::Graph& graph, const std::string& name) {
  static const ir::Tensor kNone;
  const ir::Initializer* i = graph.find_initializer(name);
  if (i == nullptr) {
    ADD_FAILURE() << "no initializer '" << name << "'";
    return kNone;
  }
  return i->tensor;
}

// The step DynamicQuantizeLinear uses for `x`: (max(x, 0) - min(x, 0)) / 255.
double activation_step(const std::vector<float>& x) {
  double lo = 0, hi = 0;
  for (float v : x) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
  return (hi - lo) / 255.0;
}

// x [rows, k] times w [k, n]: the float product and the quantization error bound per element,
// for per-column weight steps sw (one value for per tensor).
struct Product {
  std::vector<float> y, bound;
};
Product matmul_with_bound(const std::vector<float>& x, const std::vector<float>& w, int64_t k,
                          int64_t n, const std::vector<float>& sw) {
  const int64_t rows = int64_t(x.size()) / k;
  const double sx = activation_step(x);
  Product p;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      const double s = sw.size() == 1 ? sw[0] : sw[size_t(j)];
      double acc = 0, bound = 0;
      for (int64_t i = 0; i < k; ++i) {
        const double xv = x[size_t(r * k + i)], wv = w[size_t(i * n + j)];
        acc += xv * wv;
        bound += sx / 2 * std::fabs(wv) + std::fabs(xv) * s / 2 + sx * s / 4;
      }
      p.y.push_back(float(acc));
      p.bound.push_back(float(bound));
    }
  }
  return p;
}

void expect_within(const std::vector<float>& actual, const std::vector<float>& expected,
                   const std::vector<float>& bound) {
  ASSERT_EQ(actual.size(), expected.size());
  ASSERT_EQ(bound.size(), expected.size());
  bool changed = false;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double err = std::fabs(double(actual[i]) - expected[i]);
    ASSERT_LE(err, bound[i] * 1.001 + 1e-5 * (1 + std::fabs(expected[i])))
        << "element " << i << ": " << actual[i] << " vs float " << expected[i];
    changed = changed || err > 0;
  }
  EXPECT_TRUE(changed) << "the quantized model computes exactly the float values";
}

std::vector<float> abs_max_columns(const std::vector<float>& w, int64_t k, int64_t n) {
  std::vector<float> m(size_t(n), 0.0f);
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j)
      m[size_t(j)] = std::max(m[size_t(j)], std::fabs(w[size_t(i * n + j)]));
  }
  return m;
}

std::string matmul_text(const std::vector<float>& w, int64_t opset = 13) {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + R"(]>
    g (float[2, 3, 6] A) => (float[2, 3, 4] Y)
    <float[6, 4] W = )" +
         float_literal(w) +
         R"(>
    { Y = MatMul(A, W) })";
}

TEST(QuantizeDynamic, MatMulBecomesMatMulIntegerWithPerColumnScales) {
  auto w = random_floats(6 * 4, 1);
  for (size_t i = 0; i < 6; ++i) w[i * 4 + 3] *= 0.01f;  // a column with a much smaller range
  auto model = model_from_text(matmul_text(w));
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto pass = make_pass("quantize-dynamic");
  ASSERT_OK(pass);
  EXPECT_EQ((*pass)->eligible_nodes(*model), std::vector<std::string>{"Y"});
  auto r = run_pass(*model, "quantize-dynamic", {{"weight_type", "int8"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_TRUE(r->skipped.empty());
  const ir::Graph& g = model->graph;
  ASSERT_EQ(op_types(g), (std::vector<std::string>{"DynamicQuantizeLinear", "MatMulInteger", "Cast",
                                                   "Mul", "Mul"}));
  const ir::Node& dql = g.node(0);
  EXPECT_EQ(dql.inputs, std::vector<std::string>{"A"});
  EXPECT_EQ(dql.outputs, (std::vector<std::string>{"A_quantized", "A_scale", "A_zero_point"}));
  const ir::Node& mmi = g.node(1);
  EXPECT_EQ(mmi.inputs, (std::vector<std::string>{"A_quantized", "W_quantized", "A_zero_point",
                                                  "W_zero_point"}));
  EXPECT_EQ(g.node(2).attr_int("to", 0), 1) << "Cast to float";
  EXPECT_EQ(g.node(3).inputs, (std::vector<std::string>{"A_scale", "W_scale"}));
  EXPECT_EQ(g.node(4).inputs,
            (std::vector<std::string>{g.node(2).outputs[0], g.node(3).outputs[0]}));
  EXPECT_EQ(g.node(4).outputs, std::vector<std::string>{"Y"}) << "the output name is kept";
  EXPECT_EQ(g.find_initializer("W"), nullptr) << "the float weight is removed";

  const ir::Tensor& q = init(g, "W_quantized");
  const ir::Tensor& scale = init(g, "W_scale");
  const ir::Tensor& zero = init(g, "W_zero_point");
  EXPECT_EQ(q.dtype(), ir::DType::kInt8);
  EXPECT_EQ(q.dims(), (ir::Dims{6, 4}));
  EXPECT_EQ(scale.dtype(), ir::DType::kFloat);
  EXPECT_EQ(scale.dims(), (ir::Dims{4}));
  EXPECT_EQ(zero.dtype(), ir::DType::kInt8);
  EXPECT_EQ(zero.dims(), ir::Dims{});
  EXPECT_EQ(zero.span<int8_t>()[0], 0);
  const auto amax = abs_max_columns(w, 6, 4);
  const auto s = values_of<float>(scale);
  for (size_t j = 0; j < 4; ++j) EXPECT_FLOAT_EQ(s[j], amax[j] / 127.0f) << j;
  const auto qv = q.span<int8_t>();
  for (size_t i = 0; i < qv.size(); ++i) {
    EXPECT_EQ(int(qv[i]), int(std::nearbyint(double(w[i]) / s[i % 4]))) << i;
  }

  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "Y");
  char expected[160];
  std::snprintf(expected, sizeof(expected),
                "dynamic int8: MatMulInteger, weight int8 per column (scales %.2e..%.2e)",
                double(*std::min_element(s.begin(), s.end())),
                double(*std::max_element(s.begin(), s.end())));
  EXPECT_EQ(r->changes[0].detail, expected);
  ASSERT_EQ(r->notes.size(), 2u);
  EXPECT_EQ(r->notes[0],
            "1 layer to dynamic int8 (1 MatMulInteger; weights int8, per channel), 1 "
            "DynamicQuantizeLinear, weights 96 B -> 41 B");
  EXPECT_NE(r->notes[1].find("ONNX Runtime's MatMulInteger can saturate"), std::string::npos)
      << r->notes[1];

  const auto x = random_floats(36, 2, -2.0f, 3.0f);
  const auto expect = matmul_with_bound(x, w, 6, 4, s);
  const auto actual = run_float_output(*model, {{"A", float_tensor({2, 3, 6}, x)}});
  expect_within(actual, expect.y, expect.bound);
  EXPECT_LT(max_rel_diff(run_float_output(original, {{"A", float_tensor({2, 3, 6}, x)}}), expect.y),
            1e-5);
}

TEST(QuantizeDynamic, PerTensorScalesAndUint8AndReducedRangeWeights) {
  auto w = random_floats(6 * 4, 3);
  for (size_t i = 0; i < 6; ++i) w[i * 4 + 1] = 0.0f;  // an all-zero column
  const auto x = random_floats(36, 4);
  struct Case {
    pass::PassOptions options;
    ir::DType dtype;
    int zero_point, lo, hi;  // stored zero point and integer range
    bool per_tensor;
  };
  const Case cases[] = {
      {{}, ir::DType::kUInt8, 128, 0, 255, false},  // the defaults
      {{{"per_channel", "false"}, {"weight_type", "int8"}}, ir::DType::kInt8, 0, -127, 127, true},
      {{{"per_channel", "false"}}, ir::DType::kUInt8, 128, 0, 255, true},
      {{{"weight_type", "int8"}}, ir::DType::kInt8, 0, -127, 127, false},
      {{{"reduce_range", "true"}, {"weight_type", "int8"}}, ir::DType::kInt8, 0, -63, 63, false},
      {{{"reduce_range", "1"}}, ir::DType::kUInt8, 64, 0, 127, false},
  };
  const auto amax = abs_max_columns(w, 6, 4);
  for (const Case& c : cases) {
    std::string trace;
    for (const auto& [k, v] : c.options) trace += k + "=" + v + " ";
    SCOPED_TRACE(trace);
    auto model = model_from_text(matmul_text(w));
    ASSERT_OK(model);
    auto r = run_pass(*model, "quantize-dynamic", c.options);
    ASSERT_OK(r);
    const ir::Graph& g = model->graph;
    const ir::Tensor& q = init(g, "W_quantized");
    const ir::Tensor& zero = init(g, "W_zero_point");
    ASSERT_EQ(q.dtype(), c.dtype);
    ASSERT_EQ(zero.dtype(), c.dtype);
    EXPECT_EQ(zero.dims(), ir::Dims{}) << "one zero point, whatever the scales";
    const auto s = values_of<float>(init(g, "W_scale"));
    const double levels = (c.hi - c.lo) / 2.0;
    std::vector<float> steps;
    if (c.per_tensor) {
      EXPECT_EQ(init(g, "W_scale").dims(), ir::Dims{});
      EXPECT_FLOAT_EQ(s[0], float(*std::max_element(amax.begin(), amax.end()) / levels));
    } else {
      ASSERT_EQ(s.size(), 4u);
      for (size_t j = 0; j < 4; ++j) {
        EXPECT_FLOAT_EQ(s[j], j == 1 ? 1.0f : float(amax[j] / levels)) << j;
      }
    }
    auto check = [&](auto tag) {
      using T = decltype(tag);
      EXPECT_EQ(int(zero.span<T>()[0]), c.zero_point);
      const auto v = q.span<T>();
      for (size_t i = 0; i < v.size(); ++i) {
        EXPECT_GE(int(v[i]), c.lo);
        EXPECT_LE(int(v[i]), c.hi);
        const double step = s[c.per_tensor ? 0 : i % 4];
        EXPECT_LE(std::fabs((int(v[i]) - c.zero_point) * step - w[i]), step / 2 * (1 + 1e-5)) << i;
      }
      EXPECT_EQ(int(v[1]), c.zero_point) << "the zero column stays exactly zero";
    };
    if (c.dtype == ir::DType::kInt8) {
      check(int8_t{});
    } else {
      check(uint8_t{});
    }
    ASSERT_EQ(r->changes.size(), 1u);
    EXPECT_NE(
        r->changes[0].detail.find(c.per_tensor ? "per tensor (scale " : "per column (scales "),
        std::string::npos)
        << r->changes[0].detail;
    const auto expect = matmul_with_bound(x, w, 6, 4, s);
    expect_within(run_float_output(*model, {{"A", float_tensor({2, 3, 6}, x)}}), expect.y,
                  expect.bound);
  }
}

// weight_symmetric=false maps the weight's [min, max] onto the whole type range with one zero
// point, which MatMulInteger reads.
TEST(QuantizeDynamic, AsymmetricWeightsMapTheirRangeOntoTheType) {
  const auto w = random_floats(6 * 4, 5, -0.3f, 1.0f);
  const auto x = random_floats(36, 6);
  const auto [wlo, whi] = std::minmax_element(w.begin(), w.end());
  const double lo = std::min(0.0, double(*wlo)), hi = std::max(0.0, double(*whi));
  for (const char* type : {"uint8", "int8"}) {
    SCOPED_TRACE(type);
    auto model = model_from_text(matmul_text(w));
    ASSERT_OK(model);
    auto r =
        run_pass(*model, "quantize-dynamic",
                 {{"per_channel", "false"}, {"weight_symmetric", "false"}, {"weight_type", type}});
    ASSERT_OK(r);
    const ir::Graph& g = model->graph;
    const auto ops = op_types(g);
    EXPECT_EQ(std::count(ops.begin(), ops.end(), "MatMulInteger"), 1);
    const bool is_int8 = std::string(type) == "int8";
    const double qmin = is_int8 ? -128 : 0;
    const float scale = float((hi - lo) / 255.0);
    const int zp = int(std::clamp(std::nearbyint(qmin - lo / scale), qmin, qmin + 255));
    EXPECT_FLOAT_EQ(values_of<float>(init(g, "W_scale"))[0], scale);
    const ir::Tensor& q = init(g, "W_quantized");
    const ir::Tensor& zero = init(g, "W_zero_point");
    ASSERT_EQ(zero.dims(), ir::Dims{});
    auto check = [&](auto tag) {
      using T = decltype(tag);
      EXPECT_EQ(int(zero.span<T>()[0]), zp);
      const auto v = q.span<T>();
      const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
      EXPECT_EQ(int(*mn), int(qmin)) << "the whole range is used";
      EXPECT_EQ(int(*mx), int(qmin) + 255);
      for (size_t i = 0; i < v.size(); ++i) {
        EXPECT_LE(std::fabs((int(v[i]) - zp) * scale - w[i]), scale / 2 * (1 + 1e-5)) << i;
      }
    };
    if (is_int8) {
      check(int8_t{});
    } else {
      check(uint8_t{});
    }
    ASSERT_EQ(r->changes.size(), 1u);
    EXPECT_NE(r->changes[0].detail.find("asymmetric per tensor (scale "), std::string::npos)
        << r->changes[0].detail;
    EXPECT_NE(r->changes[0].detail.find(", zero point " + std::to_string(zp) + ")"),
              std::string::npos)
        << r->changes[0].detail;
    const auto expect = matmul_with_bound(x, w, 6, 4, {scale});
    expect_within(run_float_output(*model, {{"A", float_tensor({2, 3, 6}, x)}}), expect.y,
                  expect.bound);
  }
  // ONNX Runtime's ConvInteger takes one weight zero point: per channel is refused.
  const auto per_channel = make_pass("quantize-dynamic", {{"weight_symmetric", "false"}});
  ASSERT_FALSE(per_channel.ok());
  EXPECT_NE(per_channel.status().message().find("needs per_channel=false"), std::string::npos);
}

TEST(QuantizeDynamic, GemmFoldsAlphaIntoTheScaleAndBetaIntoC) {
  // Y = 0.5 * A @ W^T + 2 * C, with W stored [N, K] (transB).
  const auto w = random_floats(5 * 8, 5), c = random_floats(5, 6);
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 8] A) => (float[3, 5] Y)
    <float[5, 8] W = )" + float_literal(w) +
                               ", float[5] C = " + float_literal(c) + R"(>
    { Y = Gemm <alpha = 0.5, beta = 2.0, transB = 1> (A, W, C) })");
  ASSERT_OK(model);
  auto r = run_pass(*model, "quantize-dynamic");
  ASSERT_OK(r);
  const ir::Graph& g = model->graph;
  ASSERT_EQ(op_types(g), (std::vector<std::string>{"DynamicQuantizeLinear", "MatMulInteger", "Cast",
                                                   "Mul", "Mul", "Add"}));
  EXPECT_EQ(g.node(1).inputs[1], "W_transposed_quantized");
  EXPECT_EQ(init(g, "W_transposed_quantized").dims(), (ir::Dims{8, 5})) << "transposed offline";
  EXPECT_EQ(g.node(3).inputs[1], "W_transposed_scale_alpha");
  // Symmetric uint8 weights: scale max|w| / 127.5 per output (row of W), times alpha. The scale
  // without alpha is read by no one and not stored.
  std::vector<float> s(5, 0.0f);
  for (size_t j = 0; j < 5; ++j) {
    for (size_t k = 0; k < 8; ++k) s[j] = std::max(s[j], std::fabs(w[j * 8 + k]));
    s[j] /= 127.5f;
  }
  const auto s_alpha = values_of<float>(init(g, "W_transposed_scale_alpha"));
  ASSERT_EQ(s_alpha.size(), 5u);
  for (size_t j = 0; j < 5; ++j) EXPECT_FLOAT_EQ(s_alpha[j], 0.5f * s[j]);
  EXPECT_EQ(g.find_initializer("W_transposed_scale"), nullptr);
  EXPECT_EQ(g.node(5).inputs[1], "C_beta");
  const auto c2 = values_of<float>(init(g, "C_beta"));
  for (size_t j = 0; j < 5; ++j) EXPECT_FLOAT_EQ(c2[j], 2 * c[j]);
  EXPECT_EQ(g.node(5).outputs[0], "Y");
  EXPECT_EQ(g.find_initializer("W"), nullptr);
  EXPECT_EQ(g.find_initializer("C"), nullptr);

  // Reference: W^T as [K, N], scaled by alpha, plus beta * C; alpha scales the bound too.
  std::vector<float> wt(40);
  for (size_t n = 0; n < 5; ++n) {
    for (size_t k = 0; k < 8; ++k) wt[k * 5 + n] = w[n * 8 + k];
  }
  const auto x = random_floats(24, 7, -1.0f, 2.0f);
  auto expect = matmul_with_bound(x, wt, 8, 5, s);
  for (size_t i = 0; i < expect.y.size(); ++i) {
    expect.y[i] = 0.5f * expect.y[i] + 2 * c[i % 5];
    expect.bound[i] *= 0.5f;
  }
  expect_within(run_float_output(*model, {{"A", float_tensor({3, 8}, x)}}), expect.y, expect.bound);
}

TEST(QuantizeDynamic, WideLayersKeepFloat16ScalesBehindACast) {
  // A Conv of 64 output channels: its per-channel scales are float16 values, stored float16 in
  // the [1, 64, 1, 1] shape the output Mul reads, behind a Cast.
  const auto w = random_floats(64 * 2 * 3 * 3, 81);
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 6, 6] X) => (float[1, 64, 4, 4] Y)
    <float[64, 2, 3, 3] W = )" +
                           float_literal(w) +
                           R"(>
    { Y = Conv(X, W) })";
  auto model = model_from_text(text);
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "quantize-dynamic");
  ASSERT_OK(r);
  const ir::Graph& g = model->graph;
  const ir::Node* cast = node_writing(g, "W_scale");
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(cast->op_type, "Cast");
  const ir::Tensor& half = init(g, cast->inputs[0]);
  ASSERT_EQ(half.dtype(), ir::DType::kFloat16);
  EXPECT_EQ(half.dims(), (ir::Dims{1, 64, 1, 1}));
  const auto* h = reinterpret_cast<const Eigen::half*>(half.data());
  for (size_t c = 0; c < 64; ++c) {
    float m = 0;
    for (size_t i = c * 18; i < (c + 1) * 18; ++i) m = std::max(m, std::fabs(w[i]));
    EXPECT_GE(float(h[c]), m / 127.5f) << c;  // symmetric uint8 weights
    EXPECT_LE(float(h[c]), m / 127.5f * (1.0f + 1.0f / 1024.0f)) << c;
  }
  // 1152 uint8 values, 64 float16 scales, one zero point.
  EXPECT_NE(r->notes[0].find("-> " + human_bytes(1152 + 64 * 2 + 1)), std::string::npos)
      << r->notes[0];
  EXPECT_FALSE(save_to_bytes(*model, /*check=*/true).empty());
  const std::vector<exec::NamedTensor> in{{"X", float_tensor({1, 2, 6, 6}, random_floats(72, 82))}};
  EXPECT_GT(cosine(run_float_output(original, in), run_float_output(*model, in)), 0.999);

  ir::Model kept = original;
  ASSERT_OK(run_pass(kept, "quantize-dynamic", {{"float16_scales", "false"}}));
  EXPECT_EQ(init(kept.graph, "W_scale").dtype(), ir::DType::kFloat);
  EXPECT_EQ(count_ops(kept.graph, "Cast"), 1u) << "only the int32 -> float Cast";

  // With alpha, a Gemm reads a float32 copy of alpha times the float16 scales; the float16 ones
  // and their Cast are left unread and go.
  const auto wg = random_floats(64 * 8, 83);
  auto gemm = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 8] A) => (float[3, 64] Y)
    <float[64, 8] W = )" + float_literal(wg) +
                              R"(>
    { Y = Gemm <alpha = 0.5, transB = 1> (A, W) })");
  ASSERT_OK(gemm);
  ASSERT_OK(run_pass(*gemm, "quantize-dynamic"));
  EXPECT_EQ(count_ops(gemm->graph, "Cast"), 1u);
  for (const auto& i : gemm->graph.initializers()) {
    EXPECT_NE(i.tensor.dtype(), ir::DType::kFloat16) << i.name;
  }
  EXPECT_FALSE(save_to_bytes(*gemm, /*check=*/true).empty());
}

TEST(QuantizeDynamic, GemmBiasVariants) {
  const auto w = random_floats(4 * 3, 8);
  const auto x = random_floats(2 * 4, 9);
  // beta = 1 with a computed C: the Add reads C as it is. beta = 0: no Add, C is dropped.
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 4] A, float[3] D) => (float[2, 3] Y, float[2, 3] Z)
    <float[4, 3] W = )" + float_literal(w) +
                               R"(, float[3] C = {1, 2, 3}>
    {
      E = Relu(D)
      Y = Gemm(A, W, E)
      Z = Gemm <beta = 0.0> (A, W, C)
    })");
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "quantize-dynamic");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  const ir::Graph& g = model->graph;
  EXPECT_EQ(count_ops(g, "DynamicQuantizeLinear"), 1u) << "both layers read A";
  EXPECT_EQ(count_ops(g, "MatMulInteger"), 2u);
  EXPECT_EQ(count_ops(g, "Add"), 1u);
  EXPECT_EQ(node_writing(g, "Y")->op_type, "Add");
  EXPECT_EQ(node_writing(g, "Y")->inputs[1], "E");
  EXPECT_EQ(node_writing(g, "Z")->op_type, "Mul");
  EXPECT_EQ(g.find_initializer("C"), nullptr) << "nothing reads C any more";
  EXPECT_NE(g.find_initializer("W_quantized"), nullptr);
  EXPECT_EQ(init(g, "W_quantized").dims(), (ir::Dims{4, 3})) << "quantized once";

  const auto d = random_floats(3, 10);
  const std::vector<exec::NamedTensor> in{{"A", float_tensor({2, 4}, x)},
                                          {"D", float_tensor({3}, d)}};
  auto ex = exec::Executor::create(*model, {.threads = 1});
  ASSERT_OK(ex);
  auto out = (*ex)->run(in);
  ASSERT_OK(out);
  auto fex = exec::Executor::create(original, {.threads = 1});
  ASSERT_OK(fex);
  auto fout = (*fex)->run(in);
  ASSERT_OK(fout);
  const auto s = values_of<float>(init(g, "W_scale"));
  auto expect = matmul_with_bound(x, w, 4, 3, s);
  EXPECT_LT(max_rel_diff(values_of<float>((*fout)[1]), expect.y), 1e-5) << "reference is right";
  expect_within(values_of<float>((*out)[1]), expect.y, expect.bound);
  for (size_t i = 0; i < expect.y.size(); ++i) expect.y[i] += std::max(0.0f, d[i % 3]);
  expect_within(values_of<float>((*out)[0]), expect.y, expect.bound);
}

struct ConvCase {
  int64_t group;
  std::vector<int64_t> strides, pads, dilations;
  bool bias;
};

TEST(QuantizeDynamic, ConvBecomesConvIntegerWithPerChannelScalesAndReshapedBias) {
  const ConvCase cases[] = {
      {1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true},
      {2, {2, 2}, {1, 1, 1, 1}, {1, 1}, true},
      {1, {1, 2}, {1, 0, 2, 1}, {2, 1}, false},
  };
  for (const ConvCase& cc : cases) {
    for (const char* per_channel : {"true", "false"}) {
      for (const char* weight_type : {"int8", "uint8"}) {
        SCOPED_TRACE("group " + std::to_string(cc.group) + " per_channel " + per_channel + " " +
                     weight_type);
        const bool int8 = std::string(weight_type) == "int8";
        const int64_t c = 4, m = 6, cg = c / cc.group;
        const ir::Dims xd{2, c, 7, 7};
        auto w = random_floats(size_t(m * cg * 9), 11);
        for (size_t i = 0; i < size_t(cg * 9); ++i) w[i] *= 0.05f;  // a small channel
        const auto b = random_floats(size_t(m), 12);
        auto ints = [](const std::vector<int64_t>& v) {
          std::string s;
          for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
          return "[" + s + "]";
        };
        const ir::Tensor wt = float_tensor({m, cg, 3, 3}, w);
        ir::Dims yd;
        const auto x = random_floats(size_t(ir::element_count(xd)), 13, -1.0f, 1.5f);
        const auto y = conv2d_reference(x, xd, wt, cc.bias ? b : std::vector<float>{}, cc.group,
                                        cc.strides, cc.pads, cc.dilations, &yd);
        std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
        g (float[2, 4, 7, 7] X) => (float)" +
                           ir::dims_to_string(yd) + R"( Y)
        <float[6, )" + std::to_string(cg) +
                           ", 3, 3] W = " + float_literal(w) +
                           ", float[6] B = " + float_literal(b) +
                           R"(>
        { Y = Conv <group = )" +
                           std::to_string(cc.group) + ", strides = " + ints(cc.strides) +
                           ", pads = " + ints(cc.pads) + ", dilations = " + ints(cc.dilations) +
                           "> (X, W" + (cc.bias ? ", B" : "") + ") }";
        auto model = model_from_text(text);
        ASSERT_OK(model);
        const std::vector<ir::Attribute> conv_attributes = model->graph.node(0).attributes;
        auto r = run_pass(*model, "quantize-dynamic",
                          {{"per_channel", per_channel}, {"weight_type", weight_type}});
        ASSERT_OK(r);
        const ir::Graph& g = model->graph;
        std::vector<std::string> ops{"DynamicQuantizeLinear", "ConvInteger", "Cast", "Mul", "Mul"};
        if (cc.bias) ops.push_back("Add");
        ASSERT_EQ(op_types(g), ops);
        const ir::Node& ci = g.node(1);
        ASSERT_EQ(ci.attributes.size(), conv_attributes.size());
        for (size_t i = 0; i < ci.attributes.size(); ++i) {
          EXPECT_EQ(ci.attributes[i].name(), conv_attributes[i].name());
          EXPECT_EQ(ci.attributes[i].ints(), conv_attributes[i].ints());
          EXPECT_EQ(ci.attributes[i].i(), conv_attributes[i].i());
        }
        const ir::Tensor& q = init(g, "W_quantized");
        EXPECT_EQ(q.dtype(), int8 ? ir::DType::kInt8 : ir::DType::kUInt8);
        EXPECT_EQ(q.dims(), (ir::Dims{m, cg, 3, 3}));
        EXPECT_EQ(init(g, "W_zero_point").dims(), ir::Dims{});
        EXPECT_EQ(r->notes.size(), 1u) << "no saturation warning for ConvInteger";
        const ir::Tensor& scale = init(g, "W_scale");
        const bool pc = std::string(per_channel) == "true";
        EXPECT_EQ(scale.dims(), pc ? (ir::Dims{1, m, 1, 1}) : ir::Dims{});
        const auto s = values_of<float>(scale);
        const size_t per = size_t(cg * 9);
        std::vector<float> amax(size_t(m), 0.0f);
        for (size_t i = 0; i < w.size(); ++i) {
          amax[i / per] = std::max(amax[i / per], std::fabs(w[i]));
        }
        const float levels = int8 ? 127.0f : 127.5f;  // symmetric: (max - min) / 2 levels
        const float amax_all = *std::max_element(amax.begin(), amax.end());
        for (size_t o = 0; o < s.size(); ++o) {
          EXPECT_FLOAT_EQ(s[o], (pc ? amax[o] : amax_all) / levels);
        }
        if (cc.bias) {
          EXPECT_EQ(g.node(5).inputs[1], "B_reshaped");
          EXPECT_EQ(init(g, "B_reshaped").dims(), (ir::Dims{1, m, 1, 1}));
          EXPECT_EQ(values_of<float>(init(g, "B_reshaped")), b);
          EXPECT_EQ(g.find_initializer("B"), nullptr);
        }
        ASSERT_EQ(r->changes.size(), 1u);
        const std::string head = "dynamic int8: ConvInteger, weight " + std::string(weight_type);
        EXPECT_EQ(r->changes[0].detail.rfind(
                      head + (pc ? " per output channel (scales " : " per tensor (scale "), 0),
                  0u)
            << r->changes[0].detail;

        // Bound: conv(|x|, sw/2) + conv(sx/2, |w|) + conv(sx/2, sw/2), padding counted as zero
        // (ConvInteger pads with the zero point, which is exact).
        const double sx = activation_step(x);
        std::vector<float> ax(x.size()), ones(x.size(), 1.0f), aw(w.size()), half_steps(w.size());
        for (size_t i = 0; i < x.size(); ++i) ax[i] = std::fabs(x[i]);
        for (size_t i = 0; i < w.size(); ++i) {
          aw[i] = std::fabs(w[i]);
          half_steps[i] = s[pc ? i / per : 0] / 2;
        }
        ir::Dims unused;
        const auto t1 = conv2d_reference(ax, xd, float_tensor({m, cg, 3, 3}, half_steps), {},
                                         cc.group, cc.strides, cc.pads, cc.dilations, &unused);
        const auto t2 = conv2d_reference(ones, xd, float_tensor({m, cg, 3, 3}, aw), {}, cc.group,
                                         cc.strides, cc.pads, cc.dilations, &unused);
        const auto t3 = conv2d_reference(ones, xd, float_tensor({m, cg, 3, 3}, half_steps), {},
                                         cc.group, cc.strides, cc.pads, cc.dilations, &unused);
        std::vector<float> bound(y.size());
        for (size_t i = 0; i < y.size(); ++i) {
          bound[i] = float(t1[i] + sx / 2 * t2[i] + sx / 2 * t3[i]);
        }
        const auto actual = run_float_output(*model, {{"X", float_tensor(xd, x)}});
        expect_within(actual, y, bound);
        EXPECT_GT(cosine(actual, y), 0.999);
      }
    }
  }
}

TEST(QuantizeDynamic, BeforeOpset11EveryLayerIsSkipped) {
  auto model = model_from_text(matmul_text(random_floats(24, 14), 10));
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto pass = make_pass("quantize-dynamic");
  ASSERT_OK(pass);
  EXPECT_TRUE((*pass)->eligible_nodes(*model).empty());
  auto r = run_pass(*model, "quantize-dynamic");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  EXPECT_TRUE(r->changes.empty());
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].node, "Y");
  EXPECT_EQ(r->skipped[0].reason,
            "DynamicQuantizeLinear needs opset 11; the model imports opset 10");
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_EQ(r->notes[0],
            "no layer quantized: DynamicQuantizeLinear needs opset 11, the model imports opset 10");
  EXPECT_EQ(save_to_bytes(*model), before);

  auto m11 = model_from_text(matmul_text(random_floats(24, 14), 11));
  ASSERT_OK(m11);
  auto r11 = run_pass(*m11, "quantize-dynamic");
  ASSERT_OK(r11);
  EXPECT_EQ(r11->nodes_changed, 1u) << "per-channel scales need no opset beyond 11";
  EXPECT_EQ(m11->opset_version(""), 11) << "the opset is kept";
  EXPECT_EQ(init(m11->graph, "W_scale").dims(), (ir::Dims{4}));
}

TEST(QuantizeDynamic, UnsupportedLayersAreSkippedUntouchedWithReasons) {
  std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 5, 5] X, float[1, 2, 5] X1, float[2, 4] A, float[4, 2] AT, float[3] D,
       float[3, 2, 4] A3, float[2] D2, float[4, 3] B)
      => (float[1, 2, 6, 6] T, float[1, 2, 3] C1, float[2, 3] G1, float[2, 3] G2,
          float[3, 2, 5] M3, float[2, 3] P, float[1, 2, 3, 3] CB)
    <float[2, 2, 2, 2] WT = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8},
     float[2, 2, 3] W1 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
     float[4, 3] WG = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
     float[3, 4, 5] W3 = @W3, float[2, 2, 3, 3] WC = @WC>
    {
      T = ConvTranspose(X, WT)
      C1 = Conv(X1, W1)
      G1 = Gemm <transA = 1> (AT, WG)
      E = Relu(D)
      G2 = Gemm <beta = 0.5> (A, WG, E)
      M3 = MatMul(A3, W3)
      P = MatMul(A, B)
      BB = Relu(D2)
      CB = Conv(X, WC, BB)
    })";
  text.replace(text.find("@W3"), 3, float_literal(random_floats(60, 15)));
  text.replace(text.find("@WC"), 3, float_literal(random_floats(36, 16)));
  auto model = model_from_text(text);
  ASSERT_OK(model);
  const std::string before = save_to_bytes(*model);
  auto r = run_pass(*model, "quantize-dynamic");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  EXPECT_EQ(save_to_bytes(*model), before) << "skipped layers are left byte-identical";
  std::map<std::string, std::string> reasons;
  for (const auto& s : r->skipped) reasons[s.node] = s.reason;
  EXPECT_EQ(reasons.size(), 7u);
  EXPECT_EQ(reasons["T"],
            "ConvTranspose has no integer operator in ONNX (ConvInteger is a forward convolution)");
  EXPECT_EQ(reasons["C1"], "only 2-D Conv is quantized dynamically (weight 'W1' is 3-D)");
  EXPECT_EQ(reasons["G1"],
            "transA = 1 is not supported (MatMulInteger cannot transpose its quantized input)");
  EXPECT_EQ(reasons["G2"],
            "C 'E' is computed by the graph and beta is not 1; only a constant C can be scaled "
            "offline");
  EXPECT_EQ(reasons["M3"],
            "input B 'W3' is 3-D; only a 2-D weight [K, N] is quantized dynamically");
  EXPECT_NE(reasons["P"].find("input B 'B' is a graph input"), std::string::npos) << reasons["P"];
  EXPECT_EQ(reasons["CB"], "bias 'BB' is computed by the graph, not a constant initializer");
}

TEST(QuantizeDynamic, NonFiniteWeightIsSkipped) {
  auto model = model_from_text(matmul_text(random_floats(24, 17)));
  ASSERT_OK(model);
  model->graph.find_initializer("W")->tensor.mutable_span<float>()[5] = NAN;
  auto r = run_pass(*model, "quantize-dynamic");
  ASSERT_OK(r);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].reason, "weight 'W' has non-finite values");
}

const char* kShared = R"(<ir_version: 8, opset_import: ["" : 13]>
  g (float[2, 4] A) => (float[2, 4] P, float[2, 4] Q, float[2, 4] Z)
  <float[4, 4] W = @W>
  {
    P = MatMul(A, W)
    Q = MatMul(A, W)
    R = Relu(P)
    Z = Gemm <transB = 1> (R, W)
  })";

std::string shared_text(const std::vector<float>& w) {
  std::string t = kShared;
  t.replace(t.find("@W"), 2, float_literal(w));
  return t;
}

TEST(QuantizeDynamic, SharedWeightsAndActivationsAreQuantizedOnce) {
  const auto w = random_floats(16, 18);
  auto model = model_from_text(shared_text(w));
  ASSERT_OK(model);
  const ir::Model original = *model;
  auto r = run_pass(*model, "quantize-dynamic");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 3u);
  const ir::Graph& g = model->graph;
  EXPECT_EQ(count_ops(g, "DynamicQuantizeLinear"), 2u) << "one for A (P and Q), one for R";
  EXPECT_EQ(g.node(0).op_type, "DynamicQuantizeLinear");
  const ir::Node* p = g.node(1).op_type == "MatMulInteger" ? &g.node(1) : nullptr;
  ASSERT_NE(p, nullptr);
  std::vector<std::string> weights;
  for (const auto& n : g.nodes()) {
    if (n->op_type == "MatMulInteger") weights.push_back(n->inputs[1]);
  }
  EXPECT_EQ(weights,
            (std::vector<std::string>{"W_quantized", "W_quantized", "W_transposed_quantized"}));
  EXPECT_EQ(g.find_initializer("W"), nullptr);
  ASSERT_EQ(r->changes.size(), 3u);
  EXPECT_EQ(r->changes[0].node, "P");
  EXPECT_EQ(r->changes[1].node, "Q");
  EXPECT_EQ(r->changes[2].node, "Z");
  const auto x = random_floats(8, 19);
  const std::vector<exec::NamedTensor> in{{"A", float_tensor({2, 4}, x)}};
  const auto expected = run_float_output(original, in);
  const auto actual = run_float_output(*model, in);
  EXPECT_GT(cosine(expected, actual), 0.999);
}

TEST(QuantizeDynamic, NodesOptionQuantizesOnlyTheSelectedLayers) {
  const auto w = random_floats(16, 20);
  auto model = model_from_text(shared_text(w));
  ASSERT_OK(model);
  auto r = run_pass(*model, "quantize-dynamic", {{"nodes", "Q"}});
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_TRUE(r->skipped.empty());
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "Q");
  const ir::Graph& g = model->graph;
  EXPECT_EQ(node_writing(g, "P")->op_type, "MatMul");
  EXPECT_EQ(node_writing(g, "P")->inputs[1], "W");
  EXPECT_EQ(node_writing(g, "Z")->op_type, "Gemm");
  EXPECT_EQ(float_values(g, "W"), w) << "the float weight stays for P and Z";
  EXPECT_EQ(count_ops(g, "MatMulInteger"), 1u);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("weights 64 B -> 97 B"), std::string::npos) << r->notes[0];

  auto bad = run_pass(*model, "quantize-dynamic", {{"nodes", "P|nope"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      bad.status().message(),
      "quantize-dynamic: option 'nodes': 'nope' is not an eligible layer; eligible: 'P', 'Z'");
}

TEST(QuantizeDynamic, BadOptionsAreInvalidArguments) {
  for (const auto& [option, value] :
       std::vector<std::pair<std::string, std::string>>{{"per_channel", "yes"},
                                                        {"reduce_range", "2"},
                                                        {"weight_type", "int4"},
                                                        {"weight_symmetric", "no"}}) {
    auto p = make_pass("quantize-dynamic", {{option, value}});
    ASSERT_FALSE(p.ok()) << option;
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find("'" + option + "'"), std::string::npos)
        << p.status().message();
  }
  auto p = make_pass("quantize-dynamic", {{"weight_type", "int4"}});
  EXPECT_EQ(p.status().message(),
            "quantize-dynamic: option 'weight_type' must be int8 or uint8, got 'int4'");
}

TEST(QuantizeDynamic, NewNamesAvoidExistingOnes) {
  auto model = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2] A) => (float[1, 2] W_scale, float[1, 2] A_quantized)
    <float[2, 2] W = {1, 2, 3, 4}>
    {
      M = MatMul(A, W)
      W_scale = Relu(M)
      A_quantized = Relu(A)
    })");
  ASSERT_OK(model);
  ASSERT_OK(run_pass(*model, "quantize-dynamic"));
  const ir::Graph& g = model->graph;
  EXPECT_EQ(g.node(0).outputs[0], "A_quantized_1");
  EXPECT_EQ(node_writing(g, "M")->op_type, "Mul");
  EXPECT_EQ(g.node(2).op_type, "Cast");
  EXPECT_EQ(g.node(3).inputs[1], "W_scale_1");
}

TEST(QuantizeDynamic, SameInputGivesTheSameBytes) {
  auto a = io::load_model(demo_model("tiny_transformer"));
  ASSERT_OK(a);
  ir::Model b = *a;
  ASSERT_OK(run_pass(*a, "quantize-dynamic"));
  ASSERT_OK(run_pass(b, "quantize-dynamic"));
  EXPECT_EQ(save_to_bytes(*a, true), save_to_bytes(b, true));
}

struct DemoCase {
  const char* name;
  ir::Dims input;
  size_t quantized, skipped, dynamic_quantize;
};

TEST(QuantizeDynamic, DemoModelsStayCloseToTheirFloatOutputs) {
  const DemoCase cases[] = {
      {"tiny_mlp", {4, 64}, 3, 0, 3},
      {"tiny_transformer", {4, 8, 8}, 8, 2, 6},  // the two attention MatMuls have no weight
      {"tiny_cnn", {4, 1, 8, 8}, 5, 0, 5},
  };
  for (const DemoCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto model = io::load_model(demo_model(c.name));
    ASSERT_OK(model);
    const ir::Model original = *model;
    auto r = run_pass(*model, "quantize-dynamic");
    ASSERT_OK(r);
    EXPECT_EQ(r->nodes_changed, c.quantized);
    EXPECT_EQ(r->changes.size(), c.quantized);
    EXPECT_EQ(r->skipped.size(), c.skipped);
    EXPECT_EQ(count_ops(model->graph, "DynamicQuantizeLinear"), c.dynamic_quantize);
    EXPECT_EQ(count_ops(model->graph, "Gemm") + count_ops(model->graph, "Conv"), 0u);
    for (const auto& change : r->changes) {
      for (const auto& node : original.graph.nodes()) {
        if (pass::node_label(*node) != change.node) continue;
        EXPECT_EQ(model->graph.find_initializer(node->inputs[1]), nullptr)
            << node->inputs[1] << ": float weight left behind";
      }
    }
    for (uint64_t seed : {41, 42}) {
      const std::vector<exec::NamedTensor> in{
          {"input", float_tensor(c.input, random_floats(size_t(ir::element_count(c.input)), seed,
                                                        0.0f, 1.0f))}};
      const auto expected = run_float_output(original, in);
      const auto actual = run_float_output(*model, in);
      ASSERT_EQ(actual.size(), expected.size());
      EXPECT_GT(cosine(expected, actual), 0.999);
      EXPECT_LT(max_rel_diff(expected, actual), 0.05);
      EXPECT_GT(max_rel_diff(expected, actual), 0.0);
    }
  }
}

}  // namespace
}  // namespace compressor
