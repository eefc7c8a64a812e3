// Elementwise kernels: broadcasting paths (same shape, scalar, strided, empty), integer
// semantics (Div truncation, Mod sign, Pow with mixed types and overflow, BitShift), comparisons
// and logic, Where, Clip across opsets, variadic ops, float16, and plan-time refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "compressor/exec/executor.h"
#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

std::vector<int> bool_values(const ir::Tensor& t) {
  auto v = values_of<uint8_t>(t);
  return {v.begin(), v.end()};
}

std::string binary_model(const std::string& op, const std::string& ta, const std::string& tb,
                         const std::string& ty, int opset = 13, const std::string& attrs = "") {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\n g (" + ta +
         " A, " + tb + " B) => (" + ty + " Y) { Y = " + op + attrs + "(A, B) }";
}

std::string unary_model(const std::string& op, const std::string& t, int opset = 14,
                        const std::string& attrs = "") {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\n g (" + t +
         " X) => (" + t + " Y) { Y = " + op + attrs + "(X) }";
}

std::vector<float> iota(size_t n, float start, float step) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
  return v;
}

TEST(Elementwise, AddBroadcastsAlongEveryPath) {
  // General strided path: [2,3,4] + [3,1].
  const auto a = iota(24, -5.0f, 0.5f);
  const std::vector<float> b{10, 20, 30};
  auto y =
      run_text1(binary_model("Add", "float[2,3,4]", "float[3,1]", "float[2,3,4]"),
                {{"A", make_tensor<float>({2, 3, 4}, a)}, {"B", make_tensor<float>({3, 1}, b)}});
  ASSERT_OK(y);
  ASSERT_EQ(y->dims(), (ir::Dims{2, 3, 4}));
  auto got = values_of<float>(*y);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(got[i * 12 + j * 4 + k], a[i * 12 + j * 4 + k] + b[j]);

  // Both operands broadcast: [3,1] - [1,4] -> [3,4].
  auto z = run_text1(binary_model("Sub", "float[3,1]", "float[1,4]", "float[3,4]"),
                     {{"A", make_tensor<float>({3, 1}, {1, 2, 3})},
                      {"B", make_tensor<float>({1, 4}, {1, 2, 3, 4})}});
  ASSERT_OK(z);
  ASSERT_EQ(z->dims(), (ir::Dims{3, 4}));
  auto zv = values_of<float>(*z);
  for (int j = 0; j < 3; ++j)
    for (int k = 0; k < 4; ++k) EXPECT_EQ(zv[j * 4 + k], float(j + 1) - float(k + 1));

  // Scalar on the left.
  auto s = run_text1(
      binary_model("Div", "float[]", "float[4]", "float[4]"),
      {{"A", make_tensor<float>({}, {12})}, {"B", make_tensor<float>({4}, {1, 2, 3, 4})}});
  ASSERT_OK(s);
  EXPECT_EQ(values_of<float>(*s), (std::vector<float>{12, 6, 4, 3}));
}

TEST(Elementwise, LargeInputsDoNotDependOnThreads) {
  const size_t n = 3 * 40000;  // several chunks in one row, and many broadcast rows
  const auto a = random_floats(n, 1);
  const auto b = random_floats(40000, 2);
  const std::string text = binary_model("Mul", "float[3,40000]", "float[40000]", "float[3,40000]");
  auto one = run_text1(
      text, {{"A", make_tensor<float>({3, 40000}, a)}, {"B", make_tensor<float>({40000}, b)}}, 1);
  auto two = run_text1(
      text, {{"A", make_tensor<float>({3, 40000}, a)}, {"B", make_tensor<float>({40000}, b)}}, 2);
  ASSERT_OK(one);
  ASSERT_OK(two);
  EXPECT_TRUE(one->bitwise_equal(*two));
  auto v = values_of<float>(*two);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(v[i], a[i] * b[i % 40000]) << i;

  auto e =
      run_text1(unary_model("Exp", "float[120000]"), {{"X", make_tensor<float>({120000}, a)}}, 2);
  ASSERT_OK(e);
  auto ev = values_of<float>(*e);
  for (size_t i = 0; i < n; ++i) ASSERT_NEAR(ev[i], std::exp(a[i]), 1e-6f * std::exp(a[i]));
}

TEST(Elementwise, EmptyTensorsBroadcast) {
  auto y =
      run_text1(binary_model("Add", "float[0,3]", "float[3]", "float[0,3]"),
                {{"A", make_tensor<float>({0, 3}, {})}, {"B", make_tensor<float>({3}, {1, 2, 3})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (ir::Dims{0, 3}));
  auto u = run_text1(unary_model("Relu", "float[0]"), {{"X", make_tensor<float>({0}, {})}});
  ASSERT_OK(u);
  EXPECT_EQ(u->numel(), 0);
}

TEST(Elementwise, ShapesThatDoNotBroadcastFailNamingThem) {
  auto y = run_text1(
      binary_model("Add", "float[2]", "float[3]", "float[2]"),
      {{"A", make_tensor<float>({2}, {1, 2})}, {"B", make_tensor<float>({3}, {1, 2, 3})}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("[2] and [3] do not broadcast"), std::string::npos)
      << y.status().message();
}

TEST(Elementwise, SwappedComparisonsNameShapesInNodeOrder) {
  auto y = run_text1(
      binary_model("Greater", "float[2]", "float[3]", "bool[2]"),
      {{"A", make_tensor<float>({2}, {1, 2})}, {"B", make_tensor<float>({3}, {1, 2, 3})}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("[2] and [3] do not broadcast"), std::string::npos)
      << y.status().message();
}

TEST(Elementwise, IntegerDivTruncatesTowardZero) {
  const std::vector<int32_t> a{7, -7, 7, -7, 5, INT32_MIN};
  const std::vector<int32_t> b{2, 2, -2, -2, 0, -1};
  auto y = run_text1(binary_model("Div", "int32[6]", "int32[6]", "int32[6]"),
                     {{"A", make_tensor<int32_t>({6}, a)}, {"B", make_tensor<int32_t>({6}, b)}});
  ASSERT_OK(y);
  auto v = values_of<int32_t>(*y);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(v[i], a[i] / b[i]);
  EXPECT_EQ(v[4], 0);  // division by zero gives 0, as numpy does
  EXPECT_EQ(v[5], INT32_MIN);
}

TEST(Elementwise, ModFollowsDivisorSignUnlessFmod) {
  const std::vector<int64_t> a{7, -7, 7, -7, 6};
  const std::vector<int64_t> b{3, 3, -3, -3, 3};
  auto m = run_text1(binary_model("Mod", "int64[5]", "int64[5]", "int64[5]"),
                     {{"A", make_tensor<int64_t>({5}, a)}, {"B", make_tensor<int64_t>({5}, b)}});
  ASSERT_OK(m);
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t r = a[i] % b[i];
    if (r != 0 && ((r < 0) != (b[i] < 0))) r += b[i];
    EXPECT_EQ(values_of<int64_t>(*m)[i], r) << i;
  }
  auto f = run_text1(binary_model("Mod", "int64[5]", "int64[5]", "int64[5]", 13, "<fmod = 1>"),
                     {{"A", make_tensor<int64_t>({5}, a)}, {"B", make_tensor<int64_t>({5}, b)}});
  ASSERT_OK(f);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(values_of<int64_t>(*f)[i], a[i] % b[i]);
  auto ff = run_text1(
      binary_model("Mod", "float[2]", "float[2]", "float[2]", 13, "<fmod = 1>"),
      {{"A", make_tensor<float>({2}, {-4.5f, 5.5f})}, {"B", make_tensor<float>({2}, {2, -2})}});
  ASSERT_OK(ff);
  EXPECT_EQ(values_of<float>(*ff),
            (std::vector<float>{std::fmod(-4.5f, 2.0f), std::fmod(5.5f, -2.0f)}));
}

TEST(Elementwise, ModRefusesBadFmod) {
  auto m =
      model_from_text(binary_model("Mod", "int64[1]", "int64[1]", "int64[1]", 13, "<fmod = 2>"));
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("fmod must be 0 or 1, got 2"), std::string::npos)
      << ex.status().message();
}

TEST(Elementwise, PowWithMixedTypes) {
  auto i = run_text1(binary_model("Pow", "int64[4]", "int64[4]", "int64[4]"),
                     {{"A", make_tensor<int64_t>({4}, {2, -3, 5, 2})},
                      {"B", make_tensor<int64_t>({4}, {10, 3, 0, -1})}});
  ASSERT_OK(i);
  EXPECT_EQ(values_of<int64_t>(*i), (std::vector<int64_t>{1024, -27, 1, 0}));
  auto f = run_text1(
      binary_model("Pow", "float[3]", "int32[]", "float[3]"),
      {{"A", make_tensor<float>({3}, {1.5f, -2, 3})}, {"B", make_tensor<int32_t>({}, {3})}});
  ASSERT_OK(f);
  auto fv = values_of<float>(*f);
  EXPECT_FLOAT_EQ(fv[0], 1.5f * 1.5f * 1.5f);
  EXPECT_FLOAT_EQ(fv[1], -8.0f);
  EXPECT_FLOAT_EQ(fv[2], 27.0f);
  auto m = run_text1(
      binary_model("Pow", "int32[2]", "float[2]", "int32[2]"),
      {{"A", make_tensor<int32_t>({2}, {4, 10})}, {"B", make_tensor<float>({2}, {0.5f, 1.5f})}});
  ASSERT_OK(m);
  EXPECT_EQ(values_of<int32_t>(*m),
            (std::vector<int32_t>{2, static_cast<int32_t>(std::pow(10.0, 1.5))}));
}

TEST(Elementwise, ComparisonsAndLogicBroadcastToBool) {
  auto lt = run_text1(
      binary_model("Less", "float[2,2]", "float[2]", "bool[2,2]"),
      {{"A", make_tensor<float>({2, 2}, {1, 5, 3, 2})}, {"B", make_tensor<float>({2}, {2, 2})}});
  ASSERT_OK(lt);
  EXPECT_EQ(lt->dtype(), ir::DType::kBool);
  EXPECT_EQ(bool_values(*lt), (std::vector<int>{1, 0, 0, 0}));
  auto ge = run_text1(
      binary_model("GreaterOrEqual", "int64[3]", "int64[]", "bool[3]"),
      {{"A", make_tensor<int64_t>({3}, {1, 2, 3})}, {"B", make_tensor<int64_t>({}, {2})}});
  ASSERT_OK(ge);
  EXPECT_EQ(bool_values(*ge), (std::vector<int>{0, 1, 1}));
  auto eq = run_text1(binary_model("Equal", "bool[2]", "bool[2]", "bool[2]"),
                      {{"A", bool_tensor({2}, {1, 0})}, {"B", bool_tensor({2}, {1, 1})}});
  ASSERT_OK(eq);
  EXPECT_EQ(bool_values(*eq), (std::vector<int>{1, 0}));
  const auto a = bool_tensor({2, 2}, {0, 0, 1, 1});
  const auto b = bool_tensor({2}, {0, 1});
  auto x =
      run_text1(binary_model("Xor", "bool[2,2]", "bool[2]", "bool[2,2]"), {{"A", a}, {"B", b}});
  auto o = run_text1(binary_model("Or", "bool[2,2]", "bool[2]", "bool[2,2]"), {{"A", a}, {"B", b}});
  auto n =
      run_text1(binary_model("And", "bool[2,2]", "bool[2]", "bool[2,2]"), {{"A", a}, {"B", b}});
  ASSERT_OK(x);
  ASSERT_OK(o);
  ASSERT_OK(n);
  EXPECT_EQ(bool_values(*x), (std::vector<int>{0, 1, 1, 0}));
  EXPECT_EQ(bool_values(*o), (std::vector<int>{0, 1, 1, 1}));
  EXPECT_EQ(bool_values(*n), (std::vector<int>{0, 0, 0, 1}));
  auto nt = run_text1(unary_model("Not", "bool[3]", 1), {{"X", bool_tensor({3}, {1, 0, 1})}});
  ASSERT_OK(nt);
  EXPECT_EQ(bool_values(*nt), (std::vector<int>{0, 1, 0}));
}

TEST(Elementwise, WhereBroadcastsAllThree) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 16]>
    g (bool[2,1] C, int64[3] X, int64[2,3] Y) => (int64[2,3] Z) { Z = Where(C, X, Y) })";
  auto z = run_text1(text, {{"C", bool_tensor({2, 1}, {1, 0})},
                            {"X", make_tensor<int64_t>({3}, {1, 2, 3})},
                            {"Y", make_tensor<int64_t>({2, 3}, {10, 20, 30, 40, 50, 60})}});
  ASSERT_OK(z);
  EXPECT_EQ(values_of<int64_t>(*z), (std::vector<int64_t>{1, 2, 3, 40, 50, 60}));
}

TEST(Elementwise, ClipBoundsFromAttributesAndInputs) {
  auto old = run_text1(unary_model("Clip", "float[4]", 6, "<min = -1.0, max = 1.5>"),
                       {{"X", make_tensor<float>({4}, {-3, 0.5f, 2, 1})}});
  ASSERT_OK(old);
  EXPECT_EQ(values_of<float>(*old), (std::vector<float>{-1, 0.5f, 1.5f, 1}));
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (int8[4] X, int8[] L) => (int8[4] Y) { Y = Clip(X, L) })";
  auto lo_only = run_text1(text, {{"X", make_tensor<int8_t>({4}, {-100, -5, 0, 127})},
                                  {"L", make_tensor<int8_t>({}, {-6})}});
  ASSERT_OK(lo_only);
  EXPECT_EQ(values_of<int8_t>(*lo_only), (std::vector<int8_t>{-6, -5, 0, 127}));
  const std::string hi_text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X, float[] H) => (float[3] Y) { Y = Clip(X, , H) })";
  auto hi_only = run_text1(
      hi_text, {{"X", make_tensor<float>({3}, {-9, 1, 9})}, {"H", make_tensor<float>({}, {2})}});
  ASSERT_OK(hi_only);
  EXPECT_EQ(values_of<float>(*hi_only), (std::vector<float>{-9, 1, 2}));
}

TEST(Elementwise, VariadicOpsBroadcastAcrossInputs) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,2] A, float[2] B, float[] C) => (float[2,2] S, float[2,2] M, float[2,2] X, float[2,2] N) {
      S = Sum(A, B, C)
      M = Mean(A, B, C)
      X = Max(A, B, C)
      N = Min(A, B, C)
    })";
  auto m = model_from_text(text);
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  const std::vector<float> a{1, 8, -3, 4}, b{2, 5};
  const float c = 3;
  auto outs = (*ex)->run({{"A", make_tensor<float>({2, 2}, a)},
                          {"B", make_tensor<float>({2}, b)},
                          {"C", make_tensor<float>({}, {c})}});
  ASSERT_OK(outs);
  for (size_t i = 0; i < 4; ++i) {
    const float x = a[i], y = b[i % 2];
    EXPECT_FLOAT_EQ(values_of<float>((*outs)[0])[i], x + y + c);
    EXPECT_FLOAT_EQ(values_of<float>((*outs)[1])[i], (x + y + c) / 3);
    EXPECT_EQ(values_of<float>((*outs)[2])[i], std::max({x, y, c}));
    EXPECT_EQ(values_of<float>((*outs)[3])[i], std::min({x, y, c}));
  }
}

TEST(Elementwise, PReluBroadcastsSlope) {
  auto y = run_text1(binary_model("PRelu", "float[2,3]", "float[3]", "float[2,3]", 16),
                     {{"A", make_tensor<float>({2, 3}, {-1, 2, -3, 4, -5, 6})},
                      {"B", make_tensor<float>({3}, {0.5f, 0.25f, 2})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{-0.5f, 2, -6, 4, -1.25f, 6}));
}

TEST(Elementwise, Float16IsComputedInFloat) {
  // IEEE half bit patterns of small exact values.
  auto to_half = [](const std::vector<uint16_t>& bits) {
    ir::Tensor t = ir::Tensor::zeros(ir::DType::kFloat16, {static_cast<int64_t>(bits.size())});
    std::memcpy(t.mutable_data(), bits.data(), bits.size() * 2);
    return t;
  };
  const uint16_t one = 0x3C00, minus_two = 0xC000, three_half = 0x4300, half = 0x3800,
                 minus_one = 0xBC00, four = 0x4400;
  auto y = run_text1(
      binary_model("Max", "float16[3]", "float16[3]", "float16[3]"),
      {{"A", to_half({one, minus_two, three_half})}, {"B", to_half({half, minus_one, four})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dtype(), ir::DType::kFloat16);
  EXPECT_TRUE(y->bitwise_equal(to_half({one, minus_one, four})));
}

TEST(Elementwise, UnsupportedTypesAreRefusedAtPlanTime) {
  auto m = model_from_text(unary_model("Sqrt", "int32[2]"));
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find(
                "input 0: unsupported data type int32; expected float, double, float16"),
            std::string::npos)
      << ex.status().message();
  auto mixed = model_from_text(binary_model("Add", "float[2]", "int64[2]", "float[2]"));
  ASSERT_OK(mixed);
  auto ex2 = exec::Executor::create(*mixed);
  ASSERT_FALSE(ex2.ok());
  EXPECT_NE(ex2.status().message().find("inputs have different data types float and int64"),
            std::string::npos)
      << ex2.status().message();
}

TEST(Elementwise, BitShiftBothDirectionsOverUnsignedTypes) {
  const std::vector<uint8_t> a{1, 0x81, 0xFF, 16, 7};
  const std::vector<uint8_t> b{3, 1, 4, 8, 0};
  for (const bool left : {true, false}) {
    const std::string attrs = left ? "<direction = \"LEFT\">" : "<direction = \"RIGHT\">";
    auto y = run_text1(binary_model("BitShift", "uint8[5]", "uint8[5]", "uint8[5]", 11, attrs),
                       {{"A", make_tensor<uint8_t>({5}, a)}, {"B", make_tensor<uint8_t>({5}, b)}});
    ASSERT_OK(y);
    const auto got = values_of<uint8_t>(*y);
    for (size_t i = 0; i < a.size(); ++i) {
      // A shift by the bit width or more gives 0.
      const unsigned want = b[i] >= 8 ? 0u : left ? unsigned(a[i]) << b[i] : unsigned(a[i]) >> b[i];
      EXPECT_EQ(got[i], uint8_t(want)) << (left ? "LEFT " : "RIGHT ") << i;
    }
  }
  // uint64 with a broadcast scalar shift, including the top bit.
  const std::vector<uint64_t> x{1, uint64_t{1} << 63, 12345};
  auto y = run_text1(
      binary_model("BitShift", "uint64[3]", "uint64[]", "uint64[3]", 11, "<direction = \"RIGHT\">"),
      {{"A", make_tensor<uint64_t>({3}, x)}, {"B", make_tensor<uint64_t>({}, {63})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<uint64_t>(*y), (std::vector<uint64_t>{x[0] >> 63, x[1] >> 63, x[2] >> 63}));
}

TEST(Elementwise, BitShiftRefusals) {
  const Status dir = plan_status(
      binary_model("BitShift", "uint8[1]", "uint8[1]", "uint8[1]", 11, "<direction = \"UP\">"));
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.message().find("direction must be \"LEFT\" or \"RIGHT\", got \"UP\""),
            std::string::npos)
      << dir.message();
  const Status missing =
      plan_status(binary_model("BitShift", "uint8[1]", "uint8[1]", "uint8[1]", 11));
  EXPECT_FALSE(missing.ok());
  const Status signed_type = plan_status(
      binary_model("BitShift", "int32[1]", "int32[1]", "int32[1]", 11, "<direction = \"LEFT\">"));
  ASSERT_FALSE(signed_type.ok());
  EXPECT_NE(signed_type.message().find(
                "unsupported data type int32; expected uint8, uint16, uint32, uint64"),
            std::string::npos)
      << signed_type.message();
}

TEST(Elementwise, PowExponentOfAnotherTypeIsReadAsDoubleOrInt64) {
  // float base, double exponent: computed in double, as numpy, and cast back.
  const std::vector<float> base{1.5f, 2.0f, 9.0f};
  const std::vector<double> e{2.5, -1.0, 0.5};
  auto fd = run_text1(binary_model("Pow", "float[3]", "double[3]", "float[3]", 15),
                      {{"A", make_tensor<float>({3}, base)}, {"B", make_tensor<double>({3}, e)}});
  ASSERT_OK(fd);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(values_of<float>(*fd)[i], static_cast<float>(std::pow(double(base[i]), e[i])));
  }
  // double base, float exponent.
  auto df = run_text1(
      binary_model("Pow", "double[2]", "float[]", "double[2]", 15),
      {{"A", make_tensor<double>({2}, {2.0, 3.0})}, {"B", make_tensor<float>({}, {1.5f})}});
  ASSERT_OK(df);
  EXPECT_DOUBLE_EQ(values_of<double>(*df)[0], std::pow(2.0, 1.5));
  EXPECT_DOUBLE_EQ(values_of<double>(*df)[1], std::pow(3.0, 1.5));
  // int32 base, uint8 exponent broadcast over rows.
  auto iu = run_text1(binary_model("Pow", "int32[2,3]", "uint8[3]", "int32[2,3]", 15),
                      {{"A", make_tensor<int32_t>({2, 3}, {2, -3, 5, 1, 7, -1})},
                       {"B", make_tensor<uint8_t>({3}, {10, 3, 0})}});
  ASSERT_OK(iu);
  EXPECT_EQ(values_of<int32_t>(*iu), (std::vector<int32_t>{1024, -27, 1, 1, 343, 1}));
  // int64 base, double exponent: numpy computes in double and casts back.
  auto id = run_text1(
      binary_model("Pow", "int64[2]", "double[2]", "int64[2]", 15),
      {{"A", make_tensor<int64_t>({2}, {9, 10})}, {"B", make_tensor<double>({2}, {0.5, 2.0})}});
  ASSERT_OK(id);
  EXPECT_EQ(values_of<int64_t>(*id), (std::vector<int64_t>{3, 100}));
}

TEST(Elementwise, IntegerPowWrapsOnOverflow) {
  // 3^21 and (-7)^13 overflow int32; the result wraps modulo 2^32 as numpy's does.
  auto wrap_pow = [](int32_t base, int e) {
    uint32_t r = 1;
    for (int i = 0; i < e; ++i) r *= static_cast<uint32_t>(base);
    return static_cast<int32_t>(r);
  };
  auto y = run_text1(
      binary_model("Pow", "int32[2]", "int32[2]", "int32[2]", 15),
      {{"A", make_tensor<int32_t>({2}, {3, -7})}, {"B", make_tensor<int32_t>({2}, {21, 13})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<int32_t>(*y), (std::vector<int32_t>{wrap_pow(3, 21), wrap_pow(-7, 13)}));
}

TEST(Elementwise, GreaterAndLessOrEqualBroadcastInOperandOrder) {
  // [2,3] against [3] and [3] against [2,3]: the swapped evaluation keeps the operand order.
  const std::vector<float> a{1, 5, 3, 2, 2, 9};
  const std::vector<float> b{2, 2, 3};
  for (const bool a_first : {true, false}) {
    for (const std::string op : {"Greater", "LessOrEqual"}) {
      const std::string ta = a_first ? "float[2,3]" : "float[3]";
      const std::string tb = a_first ? "float[3]" : "float[2,3]";
      auto y =
          run_text1(binary_model(op, ta, tb, "bool[2,3]", 16),
                    {{"A", a_first ? make_tensor<float>({2, 3}, a) : make_tensor<float>({3}, b)},
                     {"B", a_first ? make_tensor<float>({3}, b) : make_tensor<float>({2, 3}, a)}});
      ASSERT_OK(y);
      ASSERT_EQ(y->dims(), (ir::Dims{2, 3}));
      const auto got = values_of<uint8_t>(*y);
      for (size_t i = 0; i < 6; ++i) {
        const float l = a_first ? a[i] : b[i % 3], r = a_first ? b[i % 3] : a[i];
        const bool want = op == "Greater" ? l > r : l <= r;
        EXPECT_EQ(got[i] != 0, want) << op << " " << a_first << " " << i;
      }
    }
  }
}

TEST(Elementwise, DtypeSetsFollowTheSchemas) {
  // Sum and Mean are float-only; PRelu takes 32/64-bit integers but not int8.
  const std::string sum_int = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (int32[2] A, int32[2] B) => (int32[2] S) { S = Sum(A, B) })";
  const Status st = plan_status(sum_int);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unsupported data type int32; expected float, double, float16"),
            std::string::npos)
      << st.message();
  const Status prelu_i8 = plan_status(binary_model("PRelu", "int8[2]", "int8[2]", "int8[2]", 16));
  EXPECT_FALSE(prelu_i8.ok());
  auto p = run_text1(
      binary_model("PRelu", "uint32[2]", "uint32[2]", "uint32[2]", 16),
      {{"A", make_tensor<uint32_t>({2}, {3, 0})}, {"B", make_tensor<uint32_t>({2}, {5, 5})}});
  ASSERT_OK(p);
  EXPECT_EQ(values_of<uint32_t>(*p), (std::vector<uint32_t>{3, 0}));  // never negative
}

}  // namespace
}  // namespace compressor
