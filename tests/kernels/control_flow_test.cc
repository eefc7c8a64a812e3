// If and Loop: branch choice, loop-carried values, scan outputs, outer-scope reads from nested
// bodies, early exit by condition, and plan-time refusals. Bodies use only ops of this family
// and the quantization family (Quantize/DequantizeLinear double a value: scale 0.5 then 1).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "compressor/exec/executor.h"
#include "testing/kernel_testing.h"
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

// ---------------------------------------------------------------------------------------------
// Values through If and Loop, untyped loop-carried values, Scan. ONNX 1.12's text parser cannot
// spell seq(...) or optional(...) types, so sequences and optionals are declared with the tensor
// type of their elements; the executor takes a value's kind from what flows in.

StatusOr<std::vector<ir::Value>> run_model_values(const ir::Model& m,
                                                  const std::vector<exec::NamedValue>& inputs) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(m, {.threads = 1}));
  return ex->run_values(inputs);
}

TEST(Loop, AccumulatesASequence) {
  // Each iteration appends i * 1.5 (as float[1]) to the carried sequence; a scan output also
  // collects the sequence length seen by the body.
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (int64 M, bool C) => (float[1] SF, int64[N] LS) <float[1] k = {1.5}, int64[1] ax = {0}> {
      E = SequenceEmpty<dtype = 1>()
      SF, LS = Loop(M, C, E) <body = b (int64 i, bool c, float[1] s) =>
                                       (bool c, float[1] t, int64 n) {
        fi = Cast<to = 1>(i)
        x1 = Unsqueeze(fi, ax)
        x = Mul(x1, k)
        t = SequenceInsert(s, x)
        n = SequenceLength(s)
      }>
    })");
  ASSERT_OK(m);
  for (int64_t trips : {0, 1, 4}) {
    auto r = run_model_values(*m, {{"M", int64_scalar(trips)}, {"C", bool_scalar(true)}});
    ASSERT_OK(r);
    ASSERT_TRUE((*r)[0].is_sequence());
    ASSERT_EQ((*r)[0].elements().size(), static_cast<size_t>(trips));
    for (int64_t i = 0; i < trips; ++i) {
      EXPECT_EQ(floats((*r)[0].elements()[i]), (std::vector<float>{static_cast<float>(i) * 1.5f}));
    }
    auto ls = (*r)[1].tensor().span<int64_t>();
    std::vector<int64_t> want(trips);
    for (int64_t i = 0; i < trips; ++i) want[i] = i;  // length before the insert
    EXPECT_EQ(std::vector<int64_t>(ls.begin(), ls.end()), want);
  }
}

TEST(If, BranchesMayGiveSequencesAndOptionals) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (bool C, float[2] X) => (float[2] S, float[2] O) {
      S, O = If(C) <then_branch = t () => (float[2] a, float[2] b) {
                      a = SequenceConstruct(X, X)
                      b = Optional(X)
                    },
                    else_branch = e () => (float[2] a, float[2] b) {
                      a = SequenceConstruct(X)
                      b = Optional(X)
                    }>
    })");
  ASSERT_OK(m);
  auto x = float_tensor({2}, {3, 4});
  auto a = run_model_values(*m, {{"C", bool_scalar(true)}, {"X", x}});
  ASSERT_OK(a);
  EXPECT_EQ((*a)[0].elements().size(), 2u);
  ASSERT_TRUE((*a)[1].is_optional());
  EXPECT_EQ(floats((*a)[1].tensor()), (std::vector<float>{3, 4}));
  auto b = run_model_values(*m, {{"C", bool_scalar(false)}, {"X", x}});
  ASSERT_OK(b);
  EXPECT_EQ((*b)[0].elements().size(), 1u);
}

TEST(Loop, LoopCarriedValueWithoutDeclaredTypeTakesTheTypeThatFlowsIn) {
  // As in the Range function expansion: the body's carried input has no type at all. The same
  // plan runs with float and with int32 values.
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (int64 M, bool C, float V, float D) => (float VF, float[N] VS) {
      VF, VS = Loop(M, C, V) <body = b (int64 i, bool c, float prev) => (bool c, float cur, float r) {
        cur = Add(prev, D)
        r = Identity(prev)
      }>
    })");
  ASSERT_OK(m);
  // Clear the declared type of the body's carried input `prev`.
  const ir::Attribute* body = m->graph.node(0).attribute("body");
  ASSERT_NE(body, nullptr);
  auto proto = std::make_shared<onnx::AttributeProto>(body->proto());
  proto->mutable_g()->mutable_input(2)->clear_type();
  m->graph.node(0).set_attribute(ir::Attribute(proto));
  auto ex = exec::Executor::create(*m, {.threads = 1});
  ASSERT_OK(ex);
  auto f = (*ex)->run({{"M", int64_scalar(3)},
                       {"C", bool_scalar(true)},
                       {"V", float_tensor({}, {1})},
                       {"D", float_tensor({}, {0.5f})}});
  ASSERT_OK(f);
  EXPECT_EQ(floats((*f)[0]), (std::vector<float>{1 + 3 * 0.5f}));
  EXPECT_EQ(floats((*f)[1]), (std::vector<float>{1, 1.5f, 2}));
  auto i = (*ex)->run({{"M", int64_scalar(2)},
                       {"C", bool_scalar(true)},
                       {"V", ir::Tensor::from_values<int32_t>({}, std::vector<int32_t>{7})},
                       {"D", ir::Tensor::from_values<int32_t>({}, std::vector<int32_t>{-2})}});
  ASSERT_OK(i);
  EXPECT_EQ((*i)[0].dtype(), ir::DType::kInt32);
  EXPECT_EQ((*i)[0].span<int32_t>()[0], 7 - 2 * 2);
  EXPECT_EQ((*i)[1].dims(), (ir::Dims{2}));
}

TEST(Scan, WalksAxesAndDirectionsOfOpset9) {
  // Running sum over the columns of X [2, 3] (scan_input_axes = 1), walking backwards; the
  // partial sums are stacked along axis 1 of the output, in reverse (scan_output_directions).
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[2] S0, float[2, 3] X) => (float[2] SF, float[2, 3] P) {
      SF, P = Scan(S0, X) <num_scan_inputs = 1, scan_input_axes = [1], scan_input_directions = [1],
                           scan_output_axes = [-1], scan_output_directions = [1],
                           body = b (float[2] s, float[2] x) => (float[2] t, float[2] p) {
        t = Add(s, x)
        p = Identity(t)
      }>
    })");
  ASSERT_OK(m);
  const std::vector<float> x{1, 2, 3, 10, 20, 30}, s0{100, 200};
  auto r = exec::Executor::create(*m, {.threads = 1});
  ASSERT_OK(r);
  auto out = (*r)->run({{"S0", float_tensor({2}, s0)}, {"X", float_tensor({2, 3}, x)}});
  ASSERT_OK(out);
  // Iteration t reads column 2 - t; partial sum after reading columns c..2 is s0 + sum(x[:, c:]).
  // Output reversed: iteration t lands at column 2 - t, i.e. column c holds the sum from c on.
  std::vector<float> p(6);
  for (int row = 0; row < 2; ++row) {
    for (int c = 0; c < 3; ++c) {
      float acc = s0[row];
      for (int k = c; k < 3; ++k) acc += x[row * 3 + k];
      p[row * 3 + c] = acc;
    }
  }
  EXPECT_EQ(floats((*out)[0]), (std::vector<float>{p[0], p[3]}));
  EXPECT_EQ((*out)[1].dims(), (ir::Dims{2, 3}));
  EXPECT_EQ(floats((*out)[1]), p);
}

TEST(Scan, Opset8ScansEachBatchRowForItsSequenceLength) {
  // Batch of 2, sequence of 3 float[1] steps; row 1 stops after 2 steps and its scan output is
  // padded with zeros.
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 8]>
    g (int32[2] L, float[2, 1] S0, float[2, 3, 1] X) => (float[2, 1] SF, float[2, 3, 1] P) {
      SF, P = Scan(L, S0, X) <num_scan_inputs = 1,
                              body = b (float[1] s, float[1] x) => (float[1] t, float[1] p) {
        t = Add(s, x)
        p = Identity(t)
      }>
    })");
  ASSERT_OK(m);
  const std::vector<float> x{1, 2, 3, 10, 20, 30};
  auto ex = exec::Executor::create(*m, {.threads = 1});
  ASSERT_OK(ex);
  auto out = (*ex)->run({{"L", ir::Tensor::from_values<int32_t>({2}, std::vector<int32_t>{3, 2})},
                         {"S0", float_tensor({2, 1}, {0, 5})},
                         {"X", float_tensor({2, 3, 1}, x)}});
  ASSERT_OK(out);
  EXPECT_EQ(floats((*out)[0]), (std::vector<float>{0 + 1 + 2 + 3, 5 + 10 + 20}));
  EXPECT_EQ(floats((*out)[1]), (std::vector<float>{1, 3, 6, 15, 35, 0}));
  auto bad = (*ex)->run({{"L", ir::Tensor::from_values<int32_t>({2}, std::vector<int32_t>{4, 2})},
                         {"S0", float_tensor({2, 1}, {0, 5})},
                         {"X", float_tensor({2, 3, 1}, x)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sequence_lens[0] = 4 is outside 1..3"), std::string::npos)
      << bad.status().message();
}

TEST(Scan, ScanInputAxesMustMatchTheInputCount) {
  EXPECT_NE(plan_status(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[2] S0, float[2, 3] X) => (float[2] SF) {
      SF = Scan(S0, X) <num_scan_inputs = 1, scan_input_axes = [0, 1],
                        body = b (float[2] s, float[2] x) => (float[2] t) { t = Add(s, x) }>
    })")
                .message()
                .find("scan_input_axes has 2 values, expected 1"),
            std::string::npos);
}

}  // namespace
}  // namespace compressor
