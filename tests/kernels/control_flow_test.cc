// If and Loop: branch choice, loop-carried values, scan outputs, outer-scope reads from nested
// bodies, early exit by condition, and plan-time refusals. Bodies use only ops of this family
// and the quantization family (Quantize/DequantizeLinear double a value: scale 0.5 then 1).
#include <gtest/gtest.h>

#include "compressor/exec/executor.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

ir::Tensor bool_scalar(bool v) { return ir::Tensor::from_values<bool>({}, std::span(&v, 1)); }
ir::Tensor int64_scalar(int64_t v) {
  return ir::Tensor::from_values<int64_t>({}, std::span<const int64_t>(&v, 1));
}
std::vector<float> floats(const ir::Tensor& t) {
  auto s = t.span<float>();
  return {s.begin(), s.end()};
}

constexpr const char* kIf = R"(
  <ir_version: 8, opset_import: ["" : 13]>
  g (bool C, float[2] X, float[2] Z) => (float[2] Y) {
    Y = If(C) <then_branch = t () => (float[2] X) {}, else_branch = e () => (float[2] Z) {}>
  })";

TEST(If, PicksTheBranchByCondition) {
  auto m = model_from_text(kIf);
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  auto x = float_tensor({2}, {1, 2});
  auto z = float_tensor({2}, {7, 8});
  auto a = (*ex)->run({{"C", bool_scalar(true)}, {"X", x}, {"Z", z}});
  ASSERT_OK(a);
  EXPECT_EQ(floats((*a)[0]), (std::vector<float>{1, 2}));
  auto b = (*ex)->run({{"C", bool_scalar(false)}, {"X", x}, {"Z", z}});
  ASSERT_OK(b);
  EXPECT_EQ(floats((*b)[0]), (std::vector<float>{7, 8}));
}

TEST(If, ConditionMustBeOneElement) {
  auto m = model_from_text(kIf);
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  bool two[2] = {true, false};
  auto r = (*ex)->run({{"C", ir::Tensor::from_values<bool>({2}, std::span<const bool>(two, 2))},
                       {"X", float_tensor({2}, {1, 2})},
                       {"Z", float_tensor({2}, {1, 2})}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cond must hold one element"), std::string::npos)
      << r.status().message();
}

// v doubles each iteration; scan outputs collect v and the iteration number.

TEST(Loop, CarriesValuesAndStacksScanOutputs) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int64 M, bool C, float[2] V) => (float[2] VF, float[N, 2] VS, int64[N] IS)
    <float half = {0.5}, int8 zp = {0}, float one = {1}> {
      VF, VS, IS = Loop(M, C, V) <body = b (int64 i, bool c, float[2] v) => (bool c, float[2] w,
                                                                       float[2] w2, int64 i) {
        q = QuantizeLinear(v, half, zp)
        w = DequantizeLinear(q, one)
        w2 = DequantizeLinear(q, one)
      }>
    })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  auto r = (*ex)->run(
      {{"M", int64_scalar(3)}, {"C", bool_scalar(true)}, {"V", float_tensor({2}, {1, -2})}});
  ASSERT_OK(r);
  EXPECT_EQ(floats((*r)[0]), (std::vector<float>{8, -16}));
  EXPECT_EQ((*r)[1].dims(), (ir::Dims{3, 2}));
  EXPECT_EQ(floats((*r)[1]), (std::vector<float>{2, -4, 4, -8, 8, -16}));
  auto is = (*r)[2].span<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(is.begin(), is.end()), (std::vector<int64_t>{0, 1, 2}));

  // Zero iterations: final values are the initial ones, scan outputs are empty.
  auto z = (*ex)->run(
      {{"M", int64_scalar(0)}, {"C", bool_scalar(true)}, {"V", float_tensor({2}, {1, -2})}});
  ASSERT_OK(z);
  EXPECT_EQ(floats((*z)[0]), (std::vector<float>{1, -2}));
  EXPECT_EQ((*z)[1].dims(), (ir::Dims{0, 2}));
  EXPECT_EQ((*z)[2].dims(), (ir::Dims{0}));
}

TEST(Loop, StopsWhenTheBodyConditionIsFalse) {
  // No trip count; the body's condition output is the outer value F (false): one iteration.
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int64 M, bool C, bool F, int64 K) => (int64 KF, int64[N] IS) {
      KF, IS = Loop(M, C, K) <body = b (int64 i, bool c, int64 k) => (bool F, int64 k, int64 i) {}>
    })");
  ASSERT_OK(m);
  m->graph.node(0).inputs[0] = "";  // the text syntax has no omitted inputs
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  auto r = (*ex)->run({{"M", int64_scalar(0)},
                       {"C", bool_scalar(true)},
                       {"F", bool_scalar(false)},
                       {"K", int64_scalar(5)}});
  ASSERT_OK(r);
  EXPECT_EQ((*r)[0].span<int64_t>()[0], 5);
  EXPECT_EQ((*r)[1].dims(), (ir::Dims{1}));
  // Initial condition false: no iteration at all.
  auto n = (*ex)->run({{"M", int64_scalar(0)},
                       {"C", bool_scalar(false)},
                       {"F", bool_scalar(false)},
                       {"K", int64_scalar(5)}});
  ASSERT_OK(n);
  EXPECT_EQ((*n)[1].dims(), (ir::Dims{0}));
}

TEST(Loop, NestedIfReadsValuesOfBothEnclosingScopes) {
  // The If inside the body reads S and W from the main graph and v from the body.
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int64 M, bool C, bool S, float[2] W, float[2] V) => (float[2] VF) {
      VF = Loop(M, C, V) <body = b (int64 i, bool c, float[2] v) => (bool c, float[2] w) {
        w = If(S) <then_branch = t () => (float[2] W) {}, else_branch = e () => (float[2] v) {}>
      }>
    })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  auto w = float_tensor({2}, {5, 6});
  auto v = float_tensor({2}, {1, 2});
  auto a = (*ex)->run({{"M", int64_scalar(2)},
                       {"C", bool_scalar(true)},
                       {"S", bool_scalar(true)},
                       {"W", w},
                       {"V", v}});
  ASSERT_OK(a);
  EXPECT_EQ(floats((*a)[0]), (std::vector<float>{5, 6}));
  auto b = (*ex)->run({{"M", int64_scalar(2)},
                       {"C", bool_scalar(true)},
                       {"S", bool_scalar(false)},
                       {"W", w},
                       {"V", v}});
  ASSERT_OK(b);
  EXPECT_EQ(floats((*b)[0]), (std::vector<float>{1, 2}));
}

TEST(Loop, BodyInputCountMismatchFailsAtPlanTime) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int64 M, bool C, float[2] V) => (float[2] VF) {
      VF = Loop(M, C, V) <body = b (int64 i, bool c) => (bool c, float[2] V) {}>
    })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("body must have 3 inputs, has 2"), std::string::npos)
      << ex.status().message();
}

TEST(If, BodyWithUnsupportedOpFailsAtPlanTime) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13, "x.y" : 1]>
    g (bool C, float[2] X) => (float[2] Y) {
      Y = If(C) <then_branch = t () => (float[2] a) { a = x.y.Frob(X) },
                 else_branch = e () => (float[2] X) {}>
    })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("then_branch"), std::string::npos) << ex.status().message();
  EXPECT_NE(ex.status().message().find("Frob"), std::string::npos) << ex.status().message();
}

}  // namespace
}  // namespace compressor
