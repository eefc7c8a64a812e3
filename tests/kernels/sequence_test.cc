// Sequences and optionals: construction, positions (negative ones, and out-of-range ones refused
// with the allowed range), insert/erase, split and concat round trips, optionals holding a
// tensor, a sequence or nothing, SequenceMap, Identity of values, and the executor's handling
// of values (run vs run_values, tensor kernels refusing sequences, outer-scope reads kept alive).
//
// ONNX 1.12's text parser cannot spell seq(...) or optional(...) types, so the test models
// declare sequence and optional values with the tensor type of their elements. The executor
// does not check declared graph types: a value's kind is what flows in at run time.
#include <gtest/gtest.h>

#include <numeric>

#include "compressor/exec/executor.h"
#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Value;

ir::Tensor int64_scalar(int64_t v) { return make_tensor<int64_t>({}, {v}); }

/// Sequence [A, B, C] of float[2] tensors, then SequenceAt(S, P) and SequenceLength(S).
constexpr const char* kAt = R"(
  <ir_version: 8, opset_import: ["" : 15]>
  g (float[2] A, float[2] B, float[2] C, int64 P) => (float[2] Y, int64 N) {
    S = SequenceConstruct(A, B, C)
    Y = SequenceAt(S, P)
    N = SequenceLength(S)
  })";

TEST(SequenceAt, NegativePositionsCountFromTheEnd) {
  const std::vector<std::vector<float>> v{{1, 2}, {3, 4}, {5, 6}};
  for (int64_t p = -3; p <= 2; ++p) {
    auto r = run_text(kAt, {{"A", float_tensor({2}, v[0])},
                            {"B", float_tensor({2}, v[1])},
                            {"C", float_tensor({2}, v[2])},
                            {"P", int64_scalar(p)}});
    ASSERT_OK(r);
    const size_t want = static_cast<size_t>(p < 0 ? p + 3 : p);
    EXPECT_EQ(values_of<float>((*r)[0]), v[want]) << "position " << p;
    EXPECT_EQ(values_of<int64_t>((*r)[1]), (std::vector<int64_t>{3}));
  }
}

TEST(SequenceAt, OutOfRangePositionIsRefusedWithTheAllowedRange) {
  for (int64_t p : {3, -4}) {
    auto r = run_text(kAt, {{"A", float_tensor({2}, {1, 2})},
                            {"B", float_tensor({2}, {3, 4})},
                            {"C", float_tensor({2}, {5, 6})},
                            {"P", int64_scalar(p)}});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("position " + std::to_string(p) +
                                        " is out of range for a sequence of 3 tensors "
                                        "(allowed -3..2)"),
              std::string::npos)
        << r.status().message();
  }
}

Value float_sequence(const std::vector<std::vector<float>>& elements) {
  std::vector<ir::Tensor> ts;
  for (const auto& e : elements) ts.push_back(float_tensor({static_cast<int64_t>(e.size())}, e));
  return Value::sequence(ir::DType::kFloat, std::move(ts));
}

std::vector<std::vector<float>> float_elements(const Value& v) {
  std::vector<std::vector<float>> out;
  for (const auto& t : v.elements()) out.push_back(values_of<float>(t));
  return out;
}

constexpr const char* kInsert = R"(
  <ir_version: 8, opset_import: ["" : 15]>
  g (float[N] S, float[1] X, int64 P) => (float[N] R) {
    R = SequenceInsert(S, X, P)
  })";

TEST(SequenceInsert, InsertsAtFrontBackAndNegativePositions) {
  const std::vector<std::vector<float>> base{{1}, {2}, {3}};
  for (int64_t p = -3; p <= 3; ++p) {
    auto r = run_text_values(
        kInsert,
        {{"S", float_sequence(base)}, {"X", float_tensor({1}, {9})}, {"P", int64_scalar(p)}});
    ASSERT_OK(r);
    auto want = base;
    want.insert(want.begin() + (p < 0 ? p + 3 : p), std::vector<float>{9});
    ASSERT_TRUE((*r)[0].is_sequence());
    EXPECT_EQ(float_elements((*r)[0]), want) << "position " << p;
  }
  auto bad = run_text_values(
      kInsert,
      {{"S", float_sequence(base)}, {"X", float_tensor({1}, {9})}, {"P", int64_scalar(4)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("allowed -3..3"), std::string::npos)
      << bad.status().message();
}

TEST(SequenceInsert, WithoutPositionAppendsAndRefusesOtherElementTypes) {
  constexpr const char* kAppend = R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[N] S, float[1] X) => (float[N] R) { R = SequenceInsert(S, X) })";
  auto r =
      run_text_values(kAppend, {{"S", float_sequence({{1}, {2}})}, {"X", float_tensor({1}, {7})}});
  ASSERT_OK(r);
  EXPECT_EQ(float_elements((*r)[0]), (std::vector<std::vector<float>>{{1}, {2}, {7}}));
  auto bad = run_text_values(kAppend, {{"S", float_sequence({{1}})}, {"X", int64_scalar(7)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("int64 tensor cannot join a sequence of float"),
            std::string::npos)
      << bad.status().message();
}

TEST(SequenceErase, RemovesTheLastByDefaultOrThePosition) {
  const std::vector<std::vector<float>> base{{1}, {2}, {3}};
  auto last = run_text_values(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[N] S) => (float[N] R) { R = SequenceErase(S) })",
                              {{"S", float_sequence(base)}});
  ASSERT_OK(last);
  EXPECT_EQ(float_elements((*last)[0]), (std::vector<std::vector<float>>{{1}, {2}}));
  constexpr const char* kAt = R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[N] S, int64 P) => (float[N] R) { R = SequenceErase(S, P) })";
  for (int64_t p = -3; p <= 2; ++p) {
    auto r = run_text_values(kAt, {{"S", float_sequence(base)}, {"P", int64_scalar(p)}});
    ASSERT_OK(r);
    auto want = base;
    want.erase(want.begin() + (p < 0 ? p + 3 : p));
    EXPECT_EQ(float_elements((*r)[0]), want) << "position " << p;
  }
  auto bad = run_text_values(kAt, {{"S", float_sequence(base)}, {"P", int64_scalar(3)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("out of range"), std::string::npos);
  auto empty =
      run_text_values(kAt, {{"S", Value::sequence(ir::DType::kFloat, {})}, {"P", int64_scalar(0)}});
  ASSERT_FALSE(empty.ok());
}

TEST(SequenceEmpty, HasTheAttributeElementTypeAndNoElements) {
  auto r = run_text_values(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[1] X) => (int64[N] S, int64 N) {
      S = SequenceEmpty<dtype = 7>()
      N = SequenceLength(S)
    })",
                           {{"X", float_tensor({1}, {0})}});
  ASSERT_OK(r);
  ASSERT_TRUE((*r)[0].is_sequence());
  EXPECT_TRUE((*r)[0].elements().empty());
  EXPECT_EQ((*r)[0].elem_type(), ir::DType::kInt64);
  EXPECT_EQ(values_of<int64_t>((*r)[1].tensor()), (std::vector<int64_t>{0}));
}

// X is [2, 5] holding 0..9; the test cuts it by hand to check SplitToSequence, then joins the
// parts back with ConcatFromSequence.
std::vector<float> iota(size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

/// Columns [from, from + len) of a [rows, cols] row-major matrix.
std::vector<float> columns(const std::vector<float>& m, int64_t rows, int64_t cols, int64_t from,
                           int64_t len) {
  std::vector<float> out;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = from; c < from + len; ++c) out.push_back(m[r * cols + c]);
  }
  return out;
}

TEST(SplitToSequence, ScalarSplitLeavesAShorterLastPartAndConcatJoinsThemBack) {
  const auto x = iota(10);
  auto r = run_text_values(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2, 5] X, int64 K) => (float[2, N] S, float[2, 5] Y) {
      S = SplitToSequence<axis = -1>(X, K)
      Y = ConcatFromSequence<axis = -1>(S)
    })",
                           {{"X", float_tensor({2, 5}, x)}, {"K", int64_scalar(2)}});
  ASSERT_OK(r);
  const auto& parts = (*r)[0].elements();
  ASSERT_EQ(parts.size(), 3u);
  const int64_t lens[] = {2, 2, 1};
  int64_t from = 0;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(parts[i].dims(), (ir::Dims{2, lens[i]}));
    EXPECT_EQ(values_of<float>(parts[i]), columns(x, 2, 5, from, lens[i]));
    from += lens[i];
  }
  EXPECT_EQ((*r)[1].tensor().dims(), (ir::Dims{2, 5}));
  EXPECT_EQ(values_of<float>((*r)[1].tensor()), x);
}

TEST(SplitToSequence, LengthsMustAddUpToTheAxis) {
  constexpr const char* kText = R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2, 5] X, int64[2] L) => (float[2, N] S) { S = SplitToSequence<axis = 1>(X, L) })";
  auto ok = run_text_values(
      kText, {{"X", float_tensor({2, 5}, iota(10))}, {"L", make_tensor<int64_t>({2}, {1, 4})}});
  ASSERT_OK(ok);
  EXPECT_EQ(values_of<float>((*ok)[0].elements()[1]), columns(iota(10), 2, 5, 1, 4));
  auto bad = run_text_values(
      kText, {{"X", float_tensor({2, 5}, iota(10))}, {"L", make_tensor<int64_t>({2}, {1, 3})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("split lengths add up to 4, axis 1 has 5"),
            std::string::npos)
      << bad.status().message();
}

TEST(SplitToSequence, WithoutSplitKeepdimsZeroDropsTheAxisAndNewAxisStacksItBack) {
  const auto x = iota(10);
  auto r = run_text_values(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2, 5] X) => (float[N] S, float[5, 2] Y) {
      S = SplitToSequence<axis = 0, keepdims = 0>(X)
      Y = ConcatFromSequence<axis = 1, new_axis = 1>(S)
    })",
                           {{"X", float_tensor({2, 5}, x)}});
  ASSERT_OK(r);
  const auto& parts = (*r)[0].elements();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1].dims(), (ir::Dims{5}));
  EXPECT_EQ(values_of<float>(parts[1]), std::vector<float>(x.begin() + 5, x.end()));
  // Stacking the two rows along a new last axis is the transpose.
  std::vector<float> t;
  for (int c = 0; c < 5; ++c) {
    for (int r2 = 0; r2 < 2; ++r2) t.push_back(x[r2 * 5 + c]);
  }
  EXPECT_EQ((*r)[1].tensor().dims(), (ir::Dims{5, 2}));
  EXPECT_EQ(values_of<float>((*r)[1].tensor()), t);
}

TEST(ConcatFromSequence, MismatchedPartsAndEmptySequencesAreRefused) {
  constexpr const char* kText = R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[N] S) => (float[M] Y) { Y = ConcatFromSequence<axis = 0, new_axis = 1>(S) })";
  auto bad = run_text_values(kText, {{"S", float_sequence({{1, 2}, {3}})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("stacked parts must agree in shape"), std::string::npos)
      << bad.status().message();
  auto empty = run_text_values(kText, {{"S", Value::sequence(ir::DType::kFloat, {})}});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("empty sequence"), std::string::npos);
  EXPECT_NE(plan_status(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[N] S) => (float[M] Y) { Y = ConcatFromSequence(S) })")
                .message()
                .find("'axis' is required"),
            std::string::npos);
}

constexpr const char* kOptional = R"(
  <ir_version: 8, opset_import: ["" : 15]>
  g (float[2] O) => (bool H, float[2] Y) {
    H = OptionalHasElement(O)
    Y = OptionalGetElement(O)
  })";

TEST(Optional, HoldingATensorGivesItBack) {
  auto r = run_text_values(kOptional, {{"O", Value::optional_of(float_tensor({2}, {4, 5}))}});
  ASSERT_OK(r);
  EXPECT_EQ(values_of<uint8_t>((*r)[0].tensor()), (std::vector<uint8_t>{1}));
  ASSERT_TRUE((*r)[1].is_tensor());
  EXPECT_EQ(values_of<float>((*r)[1].tensor()), (std::vector<float>{4, 5}));
}

TEST(Optional, EmptyHasNoElementAndGettingItFails) {
  auto r = run_text_values(kOptional, {{"O", Value::empty_optional()}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the optional input is empty"), std::string::npos)
      << r.status().message();
  auto h = run_text_values(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2] O) => (bool H) { H = OptionalHasElement(O) })",
                           {{"O", Value::empty_optional()}});
  ASSERT_OK(h);
  EXPECT_EQ(values_of<uint8_t>((*h)[0].tensor()), (std::vector<uint8_t>{0}));
}

TEST(Optional, WrapsASequenceAndIdentityPassesOptionalsThrough) {
  auto r = run_text_values(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[2] A) => (float[2] O, float[2] S) {
      T = SequenceConstruct(A, A)
      P = Optional(T)
      O = Identity(P)
      S = OptionalGetElement(O)
    })",
                           {{"A", float_tensor({2}, {1, 2})}});
  ASSERT_OK(r);
  ASSERT_TRUE((*r)[0].is_optional());
  EXPECT_EQ((*r)[0].kind(), Value::Kind::kSequence);
  ASSERT_TRUE((*r)[1].is_sequence());
  EXPECT_EQ(float_elements((*r)[1]), (std::vector<std::vector<float>>{{1, 2}, {1, 2}}));
  // Without input, Optional needs its type attribute.
  EXPECT_NE(plan_status(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[2] A) => (float[2] O) { O = Optional() })")
                .message()
                .find("'type' attribute"),
            std::string::npos);
}

TEST(SequenceMap, AddsATensorToEveryElementAndChecksLengths) {
  constexpr const char* kText = R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[2] S, float[2] T, float[2] B) => (float[2] R, float[2] U) {
      R, U = SequenceMap(S, T, B) <body = b (float[2] s, float[2] t, float[2] b) =>
                                                (float[2] r, float[2] u) {
        r = Add(s, b)
        u = Add(s, t)
      }>
    })";
  const std::vector<std::vector<float>> s{{1, 2}, {3, 4}, {5, 6}}, t{{10, 20}, {30, 40}, {50, 60}};
  const std::vector<float> b{100, 200};
  auto r = run_text_values(
      kText, {{"S", float_sequence(s)}, {"T", float_sequence(t)}, {"B", float_tensor({2}, b)}});
  ASSERT_OK(r);
  std::vector<std::vector<float>> want_r, want_u;
  for (size_t i = 0; i < s.size(); ++i) {
    want_r.push_back({s[i][0] + b[0], s[i][1] + b[1]});
    want_u.push_back({s[i][0] + t[i][0], s[i][1] + t[i][1]});
  }
  EXPECT_EQ(float_elements((*r)[0]), want_r);
  EXPECT_EQ(float_elements((*r)[1]), want_u);
  auto bad = run_text_values(
      kText,
      {{"S", float_sequence(s)}, {"T", float_sequence({{1, 2}})}, {"B", float_tensor({2}, b)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sequence of 1 tensors, input_sequence has 3"),
            std::string::npos)
      << bad.status().message();
}

TEST(SequenceExecutor, RunRefusesSequenceOutputsAndTensorKernelsRefuseSequences) {
  constexpr const char* kOut = R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2] A) => (float[2] S) { S = SequenceConstruct(A) })";
  auto r = run_text(kOut, {{"A", float_tensor({2}, {1, 2})}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("output 'S' is a sequence, not a tensor"), std::string::npos)
      << r.status().message();
  auto relu = run_text_values(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2] A) => (float[2] Y) {
      S = SequenceConstruct(A)
      Y = Relu(S)
    })",
                              {{"A", float_tensor({2}, {1, 2})}});
  ASSERT_FALSE(relu.ok());
  EXPECT_NE(relu.status().message().find("input 'S' is a sequence, the op takes tensors"),
            std::string::npos)
      << relu.status().message();
}

TEST(SequenceExecutor, CaptureSeesTensorsAndSequenceReadByABodyStaysAlive) {
  // S's last direct reader is SequenceLength; the Loop body still reads it (SequenceAt(S, i)),
  // so it must survive until the Loop has run. Run twice: nothing carries over between runs.
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2] A, float[2] B, bool C) => (float[2] Y) {
      S = SequenceConstruct(A, B)
      N = SequenceLength(S)
      Y = Loop(N, C, A) <body = b (int64 i, bool c, float[2] acc) => (bool c, float[2] next) {
        e = SequenceAt(S, i)
        next = Add(acc, e)
      }>
    })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m, {.threads = 1});
  ASSERT_OK(ex);
  for (int run = 0; run < 2; ++run) {
    const std::vector<float> a{1, 2}, b{10, 20};
    std::vector<std::string> seen;
    bool c = true;
    auto r = (*ex)->run({{"A", float_tensor({2}, a)},
                         {"B", float_tensor({2}, b)},
                         {"C", ir::Tensor::from_values<bool>({}, std::span<const bool>(&c, 1))}},
                        [&](const std::string& name, const ir::Tensor&) { seen.push_back(name); });
    ASSERT_OK(r);
    // Y = A + (A + B): the loop adds every element of [A, B] to A.
    EXPECT_EQ(values_of<float>((*r)[0]),
              (std::vector<float>{a[0] + a[0] + b[0], a[1] + a[1] + b[1]}));
    EXPECT_EQ(seen, (std::vector<std::string>{"N", "Y"}));  // S is a sequence: not captured
  }
}

}  // namespace
}  // namespace compressor
