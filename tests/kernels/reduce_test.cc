// Reduction kernels: every Reduce* against a naive reference over all axis subsets of a 3-D
// tensor (contiguous and strided layouts), keepdims/noop cases, ArgMax/ArgMin tie rules, TopK
// and CumSum, plus plan-time refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "compressor/exec/executor.h"
#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Dims;
using ir::Tensor;

template <typename T>
std::vector<T> values(const Tensor& t) {
  auto s = t.span<T>();
  return {s.begin(), s.end()};
}

Tensor ints(Dims dims, std::vector<int64_t> v) {
  return Tensor::from_values<int64_t>(std::move(dims), v);
}

struct Op {
  const char* name;
  std::function<double(const std::vector<double>&)> ref;
};

double sum_of(const std::vector<double>& v, const std::function<double(double)>& f) {
  double s = 0;
  for (double x : v) s += f(x);
  return s;
}

const std::vector<Op>& ops() {
  static const std::vector<Op> kOps = {
      {"ReduceSum", [](const auto& v) { return sum_of(v, [](double x) { return x; }); }},
      {"ReduceMean",
       [](const auto& v) { return sum_of(v, [](double x) { return x; }) / v.size(); }},
      {"ReduceMax", [](const auto& v) { return *std::max_element(v.begin(), v.end()); }},
      {"ReduceMin", [](const auto& v) { return *std::min_element(v.begin(), v.end()); }},
      {"ReduceProd",
       [](const auto& v) { return std::accumulate(v.begin(), v.end(), 1.0, std::multiplies<>()); }},
      {"ReduceL1", [](const auto& v) { return sum_of(v, [](double x) { return std::abs(x); }); }},
      {"ReduceL2",
       [](const auto& v) { return std::sqrt(sum_of(v, [](double x) { return x * x; })); }},
      {"ReduceSumSquare", [](const auto& v) { return sum_of(v, [](double x) { return x * x; }); }},
      {"ReduceLogSum",
       [](const auto& v) { return std::log(sum_of(v, [](double x) { return x; })); }},
      {"ReduceLogSumExp",
       [](const auto& v) { return std::log(sum_of(v, [](double x) { return std::exp(x); })); }},
  };
  return kOps;
}

TEST(Reduce, EveryOpMatchesReferenceOverEveryAxisSubset) {
  const Dims d{3, 4, 5};
  std::vector<float> x = random_floats(60, 7, 0.1f, 2.0f);
  for (const Op& op : ops()) {
    for (int mask = 1; mask < 8; ++mask) {
      for (int keep = 0; keep < 2; ++keep) {
        std::string axes;
        for (int k = 0; k < 3; ++k) {
          if (mask & (1 << k)) axes += (axes.empty() ? "" : ", ") + std::to_string(k - 3);
        }
        const std::string text =
            std::string("<ir_version: 8, opset_import: [\"\" : 13]>\n") +
            "g (float[3,4,5] X) => (float Y) { Y = " + op.name +
            (std::string(op.name) == "ReduceSum"
                 ? "<keepdims = " + std::to_string(keep) + ">(X, A) }"
                 : "<keepdims = " + std::to_string(keep) + ", axes = [" + axes + "]>(X) }");
        std::vector<int64_t> axis_list;
        for (int k = 0; k < 3; ++k) {
          if (mask & (1 << k)) axis_list.push_back(k);
        }
        std::vector<exec::NamedTensor> in{{"X", float_tensor(d, x)}};
        if (std::string(op.name) == "ReduceSum") {
          in.push_back({"A", ints({static_cast<int64_t>(axis_list.size())}, axis_list)});
        }
        std::string full = text;
        if (std::string(op.name) == "ReduceSum") {
          full.replace(full.find("float[3,4,5] X)"), 15,
                       "float[3,4,5] X, int64[" + std::to_string(axis_list.size()) + "] A)");
        }
        auto y = run_text(full, in);
        ASSERT_OK(y);
        Dims od;
        for (int k = 0; k < 3; ++k) {
          if (!(mask & (1 << k))) {
            od.push_back(d[k]);
          } else if (keep) {
            od.push_back(1);
          }
        }
        ASSERT_EQ((*y)[0].dims(), od) << op.name << " mask " << mask;
        auto out = values<float>((*y)[0]);
        size_t at = 0;
        for (int64_t i = 0; i < (mask & 1 ? 1 : 3); ++i) {
          for (int64_t j = 0; j < (mask & 2 ? 1 : 4); ++j) {
            for (int64_t k = 0; k < (mask & 4 ? 1 : 5); ++k) {
              std::vector<double> group;
              for (int64_t a = 0; a < 3; ++a) {
                for (int64_t b = 0; b < 4; ++b) {
                  for (int64_t c = 0; c < 5; ++c) {
                    if ((mask & 1 ? true : a == i) && (mask & 2 ? true : b == j) &&
                        (mask & 4 ? true : c == k)) {
                      group.push_back(x[(a * 4 + b) * 5 + c]);
                    }
                  }
                }
              }
              const double want = op.ref(group);
              EXPECT_NEAR(out[at], want, 1e-5 * std::max(1.0, std::abs(want)))
                  << op.name << " mask " << mask << " at " << at;
              ++at;
            }
          }
        }
      }
    }
  }
}

TEST(Reduce, DefaultAxesReduceAllAndNoopKeepsInput) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,2] X, int64[0] A) => (float Y, float Z) {
      Y = ReduceSum<keepdims = 0>(X)
      Z = ReduceSum<noop_with_empty_axes = 1>(X, A) })";
  auto y = run_text(text, {{"X", float_tensor({2, 2}, {1, 2, 3, 4})}, {"A", ints({0}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), Dims{});
  EXPECT_EQ(values<float>((*y)[0]), std::vector<float>{10});
  EXPECT_EQ(values<float>((*y)[1]), (std::vector<float>{1, 2, 3, 4}));
}

TEST(Reduce, EmptyReductionGivesIdentityValues) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,0] X) => (float S, float P, float M) {
      S = ReduceSumSquare<axes = [1]>(X)
      P = ReduceProd<axes = [1]>(X)
      M = ReduceMax<axes = [1], keepdims = 0>(X) })",
                    {{"X", float_tensor({2, 0}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{0, 0}));
  EXPECT_EQ(values<float>((*y)[1]), (std::vector<float>{1, 1}));
  EXPECT_EQ(values<float>((*y)[2]),
            (std::vector<float>(2, -std::numeric_limits<float>::infinity())));
}

TEST(Reduce, Opset18ReadsAxesInputAndRefusesAxesAttribute) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 18]>
    g (float[2,3] X, int64[1] A) => (float Y) { Y = ReduceMean<keepdims = 0>(X, A) })",
                    {{"X", float_tensor({2, 3}, {1, 2, 3, 4, 5, 6})}, {"A", ints({1}, {-1})}});
  ASSERT_OK(y);
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{2, 5}));

  auto m = model_from_text(R"(<ir_version: 8, opset_import: ["" : 18]>
    g (float[2,3] X) => (float Y) { Y = ReduceMean<axes = [0]>(X) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("axes is an input from opset 18, not an attribute"),
            std::string::npos)
      << ex.status().message();
}

TEST(Reduce, UnsupportedDtypeIsRefusedAtPlanTime) {
  auto m = model_from_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (string[2] X) => (string Y) { Y = ReduceMax(X) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("unsupported data type string"), std::string::npos)
      << ex.status().message();
}

TEST(Reduce, LargeRowsAndColumnsAgreeAcrossThreadCounts) {
  const int64_t rows = 300, cols = 257;
  auto x = random_floats(rows * cols, 3);
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[300,257] X) => (float R, float C) {
      R = ReduceLogSumExp<axes = [1]>(X)
      C = ReduceMean<axes = [0]>(X) })";
  auto one = run_text(text, {{"X", float_tensor({rows, cols}, x)}}, 1);
  auto two = run_text(text, {{"X", float_tensor({rows, cols}, x)}}, 2);
  ASSERT_OK(one);
  ASSERT_OK(two);
  EXPECT_TRUE((*one)[0].bitwise_equal((*two)[0]));
  EXPECT_TRUE((*one)[1].bitwise_equal((*two)[1]));
  double mean0 = 0;
  for (int64_t r = 0; r < rows; ++r) mean0 += x[r * cols];
  EXPECT_NEAR(values<float>((*one)[1])[0], mean0 / rows, 1e-6);
}

TEST(Reduce, ArgMaxArgMinTiesPickFirstOrLast) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] X) => (int64 A, int64 B, int64 C) {
      A = ArgMax<axis = 1>(X)
      B = ArgMax<axis = 1, select_last_index = 1, keepdims = 0>(X)
      C = ArgMin<axis = 0, keepdims = 0>(X) })",
                    {{"X", float_tensor({2, 3}, {1, 5, 5, 2, 0, 2})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (Dims{2, 1}));
  EXPECT_EQ(values<int64_t>((*y)[0]), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(values<int64_t>((*y)[1]), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(values<int64_t>((*y)[2]), (std::vector<int64_t>{0, 1, 1}));
}

TEST(Reduce, TopKLargestAndSmallestWithTies) {
  auto y = run_text(R"(<ir_version: 8, opset_import: ["" : 11]>
    g (float[2,4] X, int64[1] K) => (float V, int64 I, float W, int64 J) {
      V, I = TopK(X, K)
      W, J = TopK<largest = 0, axis = 0>(X, K) })",
                    {{"X", float_tensor({2, 4}, {3, 1, 3, 2, 0, 4, 4, 1})}, {"K", ints({1}, {2})}});
  ASSERT_OK(y);
  EXPECT_EQ(values<float>((*y)[0]), (std::vector<float>{3, 3, 4, 4}));
  EXPECT_EQ(values<int64_t>((*y)[1]), (std::vector<int64_t>{0, 2, 1, 2}));
  EXPECT_EQ(values<float>((*y)[2]), (std::vector<float>{0, 1, 3, 1, 3, 4, 4, 2}));
  EXPECT_EQ(values<int64_t>((*y)[3]), (std::vector<int64_t>{1, 0, 0, 1, 0, 1, 1, 0}));
}

TEST(Reduce, CumSumExclusiveReverseOnInt32) {
  auto y = run_text(
      R"(<ir_version: 8, opset_import: ["" : 14]>
    g (int32[2,3] X, int64 A) => (int32 Y, int32 Z) {
      Y = CumSum<exclusive = 1, reverse = 1>(X, A)
      Z = CumSum(X, A) })",
      {{"X", Tensor::from_values<int32_t>({2, 3}, std::vector<int32_t>{1, 2, 3, 4, 5, 6})},
       {"A", ints({}, {-1})}});
  ASSERT_OK(y);
  EXPECT_EQ(values<int32_t>((*y)[0]), (std::vector<int32_t>{5, 3, 0, 11, 6, 0}));
  EXPECT_EQ(values<int32_t>((*y)[1]), (std::vector<int32_t>{1, 3, 6, 4, 9, 15}));
}

}  // namespace
}  // namespace compressor
