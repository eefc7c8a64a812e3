// Kernels of the 'activation' family: unary math and activations (Round, Sign, the older
// activations, trigonometric and hyperbolic functions and their inverses, Softsign,
// ThresholdedRelu, Celu, Shrink, IsInf and IsNaN) against their definitions computed here, in
// float and double, with edge cases (domain limits, infinities, NaN, empty tensors,
// integer Shrink) and plan-time refusals.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;

std::string unary_model(const std::string& op, const std::string& tx, const std::string& ty,
                        int opset, const std::string& attrs = "") {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\n g (" + tx +
         " X) => (" + ty + " Y) { Y = " + op + attrs + "(X) }";
}

struct Case {
  const char* op;
  const char* attrs;
  int opset;
  double lo, hi;  // the sampled input range, inside the op's domain
  double (*ref)(double);
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"Tan", "", 7, -1.5, 1.5, [](double v) { return std::tan(v); }},
      {"Asin", "", 7, -1, 1, [](double v) { return std::asin(v); }},
      {"Acos", "", 7, -1, 1, [](double v) { return std::acos(v); }},
      {"Atan", "", 7, -20, 20, [](double v) { return std::atan(v); }},
      {"Sinh", "", 9, -5, 5, [](double v) { return std::sinh(v); }},
      {"Cosh", "", 9, -5, 5, [](double v) { return std::cosh(v); }},
      {"Asinh", "", 9, -50, 50, [](double v) { return std::asinh(v); }},
      {"Acosh", "", 9, 1, 50, [](double v) { return std::acosh(v); }},
      {"Atanh", "", 9, -0.99, 0.99, [](double v) { return std::atanh(v); }},
      {"Softsign", "", 1, -10, 10, [](double v) { return v / (1 + std::fabs(v)); }},
      {"ThresholdedRelu", "", 10, -3, 3, [](double v) { return v > 1.0 ? v : 0.0; }},
      {"ThresholdedRelu", "<alpha = 0.5>", 10, -3, 3, [](double v) { return v > 0.5 ? v : 0.0; }},
      {"Celu", "<alpha = 2.0>", 12, -6, 6,
       [](double v) { return std::max(0.0, v) + std::min(0.0, 2.0 * (std::exp(v / 2.0) - 1)); }},
      {"Celu", "", 12, -6, 6,
       [](double v) { return std::max(0.0, v) + std::min(0.0, std::exp(v) - 1); }},
      {"Shrink", "", 9, -2, 2, [](double v) { return v < -0.5  ? v
                                                     : v > 0.5 ? v
                                                               : 0.0; }},
      {"Shrink", "<bias = 1.5, lambd = 1.0>", 9, -3, 3,
       [](double v) { return v < -1.0  ? v + 1.5
                             : v > 1.0 ? v - 1.5
                                       : 0.0; }},
  };
  return all;
}

// 41 points over [lo, hi], ends included.
std::vector<double> samples(double lo, double hi) {
  std::vector<double> v(41);
  for (size_t i = 0; i < v.size(); ++i) v[i] = lo + (hi - lo) * double(i) / double(v.size() - 1);
  return v;
}

TEST(Activation, RoundHalfToEvenAndSign) {
  auto r = run_text1(unary_model("Round", "float[6]", "float[6]", 14),
                     {{"X", make_tensor<float>({6}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f})}});
  ASSERT_OK(r);
  EXPECT_EQ(values_of<float>(*r), (std::vector<float>{0, 2, 2, -0.0f, -2, 2}));
  auto s = run_text1(unary_model("Sign", "int32[3]", "int32[3]", 14),
                     {{"X", make_tensor<int32_t>({3}, {-7, 0, 9})}});
  ASSERT_OK(s);
  EXPECT_EQ(values_of<int32_t>(*s), (std::vector<int32_t>{-1, 0, 1}));
}

TEST(Activation, OlderActivationsMatchTheirDefinitions) {
  std::vector<float> x(17);
  for (size_t i = 0; i < x.size(); ++i) x[i] = -4.0f + 0.5f * float(i);
  struct Case {
    std::string op, attrs;
    double (*ref)(double);
  };
  const std::vector<Case> cases = {
      {"LeakyRelu", "<alpha = 0.1>", [](double v) { return v >= 0 ? v : 0.1 * v; }},
      {"Elu", "<alpha = 2.0>", [](double v) { return v > 0 ? v : 2.0 * (std::exp(v) - 1); }},
      {"Selu", "",
       [](double v) {
         const double a = 1.67326319217681884765625, g = 1.05070102214813232421875;
         return v > 0 ? g * v : g * (a * std::exp(v) - a);
       }},
      {"HardSigmoid", "", [](double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); }},
      {"HardSwish", "", [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }},
      {"Softplus", "", [](double v) { return std::log(std::exp(v) + 1); }},
      {"Sigmoid", "", [](double v) { return 1 / (1 + std::exp(-v)); }},
      {"Tanh", "", [](double v) { return std::tanh(v); }},
      {"Erf", "", [](double v) { return std::erf(v); }},
      {"Relu", "", [](double v) { return std::max(v, 0.0); }},
      {"Abs", "", [](double v) { return std::fabs(v); }},
      {"Neg", "", [](double v) { return -v; }},
      {"Floor", "", [](double v) { return std::floor(v); }},
      {"Ceil", "", [](double v) { return std::ceil(v); }},
      {"Sin", "", [](double v) { return std::sin(v); }},
      {"Cos", "", [](double v) { return std::cos(v); }},
  };
  for (const auto& c : cases) {
    auto y = run_text1(unary_model(c.op, "float[17]", "float[17]", 14, c.attrs),
                       {{"X", make_tensor<float>({17}, x)}});
    ASSERT_OK(y);
    auto v = values_of<float>(*y);
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = c.ref(x[i]);
      EXPECT_NEAR(v[i], want, 1e-6 + 1e-5 * std::fabs(want)) << c.op << " at " << x[i];
    }
  }
}

TEST(Activation, FloatMatchesDefinitions) {
  for (const Case& c : cases()) {
    const auto xs = samples(c.lo, c.hi);
    std::vector<float> x(xs.begin(), xs.end());
    auto y = run_text1(unary_model(c.op, "float[41]", "float[41]", c.opset, c.attrs),
                       {{"X", make_tensor<float>({41}, x)}});
    ASSERT_OK(y);
    const auto got = values_of<float>(*y);
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = c.ref(x[i]);
      EXPECT_NEAR(got[i], want, 1e-6 + 2e-6 * std::fabs(want)) << c.op << c.attrs << " at " << x[i];
    }
  }
}

TEST(Activation, DoubleMatchesDefinitions) {
  for (const Case& c : cases()) {
    if (std::string(c.op) == "Celu") continue;  // float only
    const auto x = samples(c.lo, c.hi);
    auto y = run_text1(unary_model(c.op, "double[41]", "double[41]", c.opset, c.attrs),
                       {{"X", make_tensor<double>({41}, x)}});
    ASSERT_OK(y);
    const auto got = values_of<double>(*y);
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = c.ref(x[i]);
      EXPECT_NEAR(got[i], want, 1e-13 + 1e-13 * std::fabs(want)) << c.op << " at " << x[i];
    }
  }
}

TEST(Activation, InverseFunctionsOutsideTheirDomainGiveNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  auto asin = run_text1(unary_model("Asin", "float[2]", "float[2]", 7),
                        {{"X", make_tensor<float>({2}, {1.5f, -2})}});
  auto acosh = run_text1(unary_model("Acosh", "float[1]", "float[1]", 9),
                         {{"X", make_tensor<float>({1}, {0.5f})}});
  auto atanh = run_text1(unary_model("Atanh", "float[3]", "float[3]", 9),
                         {{"X", make_tensor<float>({3}, {1, -1, 2})}});
  ASSERT_OK(asin);
  ASSERT_OK(acosh);
  ASSERT_OK(atanh);
  for (float v : values_of<float>(*asin)) EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(std::isnan(values_of<float>(*acosh)[0]));
  const auto at = values_of<float>(*atanh);
  EXPECT_EQ(at[0], inf);
  EXPECT_EQ(at[1], -inf);
  EXPECT_TRUE(std::isnan(at[2]));
}

TEST(Activation, ShrinkOnIntegersComputesInDoubleAndSaturates) {
  const std::vector<int32_t> x{-5, -2, -1, 0, 1, 2, 5};
  auto y = run_text1(unary_model("Shrink", "int32[7]", "int32[7]", 9, "<bias = 1.5, lambd = 1.5>"),
                     {{"X", make_tensor<int32_t>({7}, x)}});
  ASSERT_OK(y);
  const auto got = values_of<int32_t>(*y);
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double want = v < -1.5 ? v + 1.5 : v > 1.5 ? v - 1.5 : 0.0;
    EXPECT_EQ(got[i], static_cast<int32_t>(std::trunc(want))) << x[i];
  }
  // An unsigned x - bias below zero saturates to 0 instead of wrapping.
  auto u = run_text1(unary_model("Shrink", "uint8[3]", "uint8[3]", 9, "<bias = 10.0, lambd = 1.0>"),
                     {{"X", make_tensor<uint8_t>({3}, {0, 5, 200})}});
  ASSERT_OK(u);
  EXPECT_EQ(values_of<uint8_t>(*u), (std::vector<uint8_t>{0, 0, 190}));
}

TEST(Activation, IsInfDetectsTheRequestedSigns) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> x{-inf, -1.5, 0, nan, 1e308, inf};
  struct Mode {
    const char* attrs;
    bool pos, neg;
  };
  for (const Mode& m : {Mode{"", true, true}, Mode{"<detect_negative = 0>", true, false},
                        Mode{"<detect_positive = 0>", false, true}}) {
    auto y = run_text1(unary_model("IsInf", "double[6]", "bool[6]", 10, m.attrs),
                       {{"X", make_tensor<double>({6}, x)}});
    ASSERT_OK(y);
    ASSERT_EQ(y->dtype(), ir::DType::kBool);
    const auto got = values_of<uint8_t>(*y);
    for (size_t i = 0; i < x.size(); ++i) {
      const bool want = std::isinf(x[i]) && (x[i] > 0 ? m.pos : m.neg);
      EXPECT_EQ(got[i] != 0, want) << m.attrs << " at " << i;
    }
  }
}

TEST(Activation, IsNaNOnFloatHalfAndBFloat16Bits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto f = run_text1(unary_model("IsNaN", "float[4]", "bool[4]", 13),
                     {{"X", make_tensor<float>({4}, {nan, inf, 0, -nan})}});
  ASSERT_OK(f);
  EXPECT_EQ(values_of<uint8_t>(*f), (std::vector<uint8_t>{1, 0, 0, 1}));
  // float16 bit patterns: NaN, +inf, -inf, 1.0, a negative NaN with a small payload.
  ir::Tensor h = make_tensor<uint16_t>({5}, {0x7E00, 0x7C00, 0xFC00, 0x3C00, 0xFC01});
  auto hh = ir::Tensor::zeros(ir::DType::kFloat16, {5});
  std::memcpy(hh.mutable_data(), h.data(), h.nbytes());
  auto yh = run_text1(unary_model("IsNaN", "float16[5]", "bool[5]", 9), {{"X", hh}});
  ASSERT_OK(yh);
  EXPECT_EQ(values_of<uint8_t>(*yh), (std::vector<uint8_t>{1, 0, 0, 0, 1}));
  // bfloat16 (opset 13): NaN, +inf, 1.0, a NaN whose payload is in the low mantissa bits.
  auto bf = ir::Tensor::zeros(ir::DType::kBFloat16, {4});
  const uint16_t bits[] = {0x7FC0, 0x7F80, 0x3F80, 0x7F81};
  std::memcpy(bf.mutable_data(), bits, sizeof(bits));
  auto yb = run_text1(unary_model("IsNaN", "bfloat16[4]", "bool[4]", 13), {{"X", bf}});
  ASSERT_OK(yb);
  EXPECT_EQ(values_of<uint8_t>(*yb), (std::vector<uint8_t>{1, 0, 0, 1}));
}

TEST(Activation, EmptyTensorsGiveEmptyOutputs) {
  for (const char* op : {"Tan", "Acosh", "Softsign", "Shrink"}) {
    auto y = run_text1(unary_model(op, "float[0,3]", "float[0,3]", 13),
                       {{"X", make_tensor<float>({0, 3}, {})}});
    ASSERT_OK(y);
    EXPECT_EQ(y->dims(), (ir::Dims{0, 3})) << op;
  }
  auto b = run_text1(unary_model("IsNaN", "float[0]", "bool[0]", 13),
                     {{"X", make_tensor<float>({0}, {})}});
  ASSERT_OK(b);
  EXPECT_EQ(b->dtype(), ir::DType::kBool);
  EXPECT_EQ(b->numel(), 0);
}

TEST(Activation, Float16IsComputedInFloat) {
  // IEEE half bit patterns of 0.5 and 2.0; Softsign in float32 then rounded to half.
  auto x = ir::Tensor::zeros(ir::DType::kFloat16, {2});
  const uint16_t bits[] = {0x3800, 0x4000};
  std::memcpy(x.mutable_data(), bits, sizeof(bits));
  auto y = run_text1(unary_model("Softsign", "float16[2]", "float16[2]", 1), {{"X", x}});
  ASSERT_OK(y);
  ASSERT_EQ(y->dtype(), ir::DType::kFloat16);
  const auto got = values_of<Eigen::half>(*y);
  EXPECT_EQ(got[0], Eigen::half(0.5f / 1.5f));
  EXPECT_EQ(got[1], Eigen::half(2.0f / 3.0f));
}

TEST(Activation, UnsupportedTypesAndAttributesAreRefusedAtPlanTime) {
  struct Refusal {
    std::string text, message;
  };
  const std::vector<Refusal> refusals = {
      {unary_model("Tan", "int32[2]", "int32[2]", 7),
       "input 0: unsupported data type int32; expected float, double, float16"},
      {unary_model("Celu", "double[2]", "double[2]", 12),
       "input 0: unsupported data type double; expected float"},
      {unary_model("Celu", "float[2]", "float[2]", 12, "<alpha = 0.0>"), "alpha must not be 0"},
      {unary_model("IsInf", "float16[2]", "bool[2]", 10),
       "input 0: unsupported data type float16; expected float, double"},
      {unary_model("IsNaN", "int64[2]", "bool[2]", 13),
       "input 0: unsupported data type int64; expected float, double, float16, bfloat16"},
      {unary_model("IsNaN", "bfloat16[2]", "bool[2]", 9),
       "input 0: unsupported data type bfloat16; expected float, double, float16"},
      {unary_model("Shrink", "bool[2]", "bool[2]", 9), "input 0: unsupported data type bool"},
      {unary_model("Softsign", "float[2]", "float[2]", 1), ""},  // a valid model plans
  };
  for (const auto& r : refusals) {
    const Status st = plan_status(r.text);
    if (r.message.empty()) {
      EXPECT_TRUE(st.ok()) << st.message();
      continue;
    }
    ASSERT_FALSE(st.ok()) << r.text;
    EXPECT_NE(st.message().find(r.message), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace compressor
