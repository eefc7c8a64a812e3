// Index-driven data movement kernels (GatherND, ScatterND, ScatterElements, Scatter, Compress,
// OneHot, Unique, ReverseSequence, EyeLike): expected values computed here from each op's
// definition with naive loops; negative indices, duplicates under reductions, batch_dims, empty
// tensors, strings, and refusals of out-of-range indices and bad attributes.
#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Dims;
using ir::Tensor;

std::string header(int opset) {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\n";
}

std::vector<float> iota_floats(int64_t n, float start = 0.0f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

bool has_text(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}
template <typename T>
bool has_text(const StatusOr<T>& s, const std::string& text) {
  return has_text(s.status(), text);
}

// ---------------------------------------------------------------------------------------------
// GatherND

TEST(GatherND, TuplesOfTwoWithNegativeIndicesMatchDefinition) {
  // data [2,3,4]; indices [2,2,2] name rows data[i0, i1, :].
  const std::vector<int64_t> idx{0, 1, -1, -1, 1, 0, 0, -3};
  auto y = run_text1(header(13) +
                         "g (float[2,3,4] X, int64[2,2,2] I) => (float Y) {"
                         " Y = GatherND(X, I) }",
                     {{"X", float_tensor({2, 3, 4}, iota_floats(24))},
                      {"I", make_tensor<int64_t>({2, 2, 2}, idx)}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{2, 2, 4}));
  const auto out = values_of<float>(*y);
  for (int64_t g = 0; g < 4; ++g) {
    const int64_t i0 = (idx[g * 2] + 2) % 2, i1 = (idx[g * 2 + 1] + 3) % 3;
    for (int64_t t = 0; t < 4; ++t) EXPECT_EQ(out[g * 4 + t], (i0 * 3 + i1) * 4 + t);
  }
}

TEST(GatherND, BatchDimsIndexWithinEachBatch) {
  // batch_dims=1: out[b, j, :] = data[b, idx[b, j], :].
  const std::vector<int64_t> idx{2, 0, -1, 1};
  auto y = run_text1(header(13) +
                         "g (float[2,3,4] X, int64[2,2,1] I) => (float Y) {"
                         " Y = GatherND<batch_dims = 1>(X, I) }",
                     {{"X", float_tensor({2, 3, 4}, iota_floats(24))},
                      {"I", make_tensor<int64_t>({2, 2, 1}, idx)}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{2, 2, 4}));
  const auto out = values_of<float>(*y);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t j = 0; j < 2; ++j) {
      const int64_t row = (idx[b * 2 + j] + 3) % 3;
      for (int64_t t = 0; t < 4; ++t) {
        EXPECT_EQ(out[(b * 2 + j) * 4 + t], (b * 3 + row) * 4 + t);
      }
    }
  }
}

TEST(GatherND, FullTuplesOfStringsGiveScalars) {
  auto y = run_text1(header(13) +
                         "g (string[2,2] X, int64[3,2] I) => (string Y) {"
                         " Y = GatherND(X, I) }",
                     {{"X", Tensor::from_strings({2, 2}, {"a", "b", "c", "d"})},
                      {"I", make_tensor<int64_t>({3, 2}, {1, 1, 0, 1, -1, 0})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{3}));
  EXPECT_EQ(y->strings(), (std::vector<std::string>{"d", "b", "c"}));
}

TEST(GatherND, NoTuplesGiveAnEmptyOutput) {
  auto y = run_text1(
      header(13) +
          "g (float[2,3] X, int64[0,1] I) => (float Y) {"
          " Y = GatherND(X, I) }",
      {{"X", float_tensor({2, 3}, iota_floats(6))}, {"I", make_tensor<int64_t>({0, 1}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{0, 3}));
}

TEST(GatherND, ResultDoesNotDependOnTheThreadCount) {
  // 3000 tuples of 7-element rows: enough work to be split across threads.
  const int64_t rows = 500, tuples = 3000;
  std::vector<int64_t> idx(tuples);
  for (int64_t g = 0; g < tuples; ++g) idx[g] = (g * 37) % rows - (g % 2 ? rows : 0);
  const std::string text = header(13) +
                           "g (float[500,7] X, int64[3000,1] I) => (float Y) {"
                           " Y = GatherND(X, I) }";
  const std::vector<exec::NamedTensor> in{{"X", float_tensor({rows, 7}, iota_floats(rows * 7))},
                                          {"I", make_tensor<int64_t>({tuples, 1}, idx)}};
  auto y1 = run_text1(text, in, 1);
  auto y2 = run_text1(text, in, 2);
  ASSERT_OK(y1);
  ASSERT_OK(y2);
  const auto out = values_of<float>(*y1);
  EXPECT_EQ(out, values_of<float>(*y2));
  for (int64_t g = 0; g < tuples; ++g) {
    const int64_t r = (idx[g] + rows) % rows;
    for (int64_t t = 0; t < 7; ++t) ASSERT_EQ(out[g * 7 + t], r * 7 + t);
  }
}

TEST(GatherND, OutOfRangeIndexIsRefused) {
  const std::string text = header(13) +
                           "g (float[2,3] X, int64[1,2] I) => (float Y) {"
                           " Y = GatherND(X, I) }";
  auto y = run_text1(text, {{"X", float_tensor({2, 3}, iota_floats(6))},
                            {"I", make_tensor<int64_t>({1, 2}, {1, 3})}});
  ASSERT_FALSE(y.ok());
  EXPECT_TRUE(has_text(y, "index 3 is out of range for axis 1 of size 3")) << y.status().message();
  y = run_text1(text, {{"X", float_tensor({2, 3}, iota_floats(6))},
                       {"I", make_tensor<int64_t>({1, 2}, {-3, 0})}});
  EXPECT_TRUE(has_text(y, "index -3 is out of range for axis 0 of size 2"));
}

TEST(GatherND, BatchDimsAtOpset11AndFloatIndicesAreRefusedAtPlanTime) {
  EXPECT_TRUE(has_text(plan_status(header(11) + "g (float[2,3] X, int64[2,1] I) => (float Y) {"
                                                " Y = GatherND<batch_dims = 1>(X, I) }"),
                       "batch_dims needs opset 12"));
  EXPECT_TRUE(has_text(plan_status(header(13) + "g (float[2,3] X, float[2,1] I) => (float Y) {"
                                                " Y = GatherND(X, I) }"),
                       "indices must be int64 or int32"));
}

// ---------------------------------------------------------------------------------------------
// ScatterND

/// ScatterND reference over data [4,3] with indices [n,1] naming rows.
std::vector<float> scatter_rows(std::vector<float> data, const std::vector<int64_t>& rows,
                                const std::vector<float>& upd, const std::string& reduction) {
  for (size_t g = 0; g < rows.size(); ++g) {
    const int64_t r = (rows[g] + 4) % 4;
    for (int64_t t = 0; t < 3; ++t) {
      float& d = data[r * 3 + t];
      const float u = upd[g * 3 + t];
      d = reduction == "add" ? d + u : reduction == "mul" ? d * u : u;
    }
  }
  return data;
}

TEST(ScatterND, DuplicateRowsCombineUnderEveryReduction) {
  const std::vector<int64_t> rows{1, -1, 1};
  const auto data = iota_floats(12, 1.0f);
  const auto upd = iota_floats(9, 0.5f);
  for (const std::string red : {"none", "add", "mul"}) {
    auto y = run_text1(header(16) +
                           "g (float[4,3] X, int64[3,1] I, float[3,3] U) => (float Y) {"
                           " Y = ScatterND<reduction = \"" +
                           red + "\">(X, I, U) }",
                       {{"X", float_tensor({4, 3}, data)},
                        {"I", make_tensor<int64_t>({3, 1}, rows)},
                        {"U", float_tensor({3, 3}, upd)}});
    ASSERT_OK(y);
    EXPECT_EQ(values_of<float>(*y), scatter_rows(data, rows, upd, red)) << red;
  }
}

TEST(ScatterND, FullTuplesScatterSingleInt32Elements) {
  auto y = run_text1(header(16) +
                         "g (int32[2,3] X, int64[2,2] I, int32[2] U) => (int32 Y) {"
                         " Y = ScatterND<reduction = \"add\">(X, I, U) }",
                     {{"X", make_tensor<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6})},
                      {"I", make_tensor<int64_t>({2, 2}, {1, -1, 1, 2})},
                      {"U", make_tensor<int32_t>({2}, {10, 100})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<int32_t>(*y), (std::vector<int32_t>{1, 2, 3, 4, 5, 116}));
}

TEST(ScatterND, RefusesOutOfRangeIndexBadUpdatesAndEarlyReduction) {
  const std::string text = header(16) +
                           "g (float[4,3] X, int64[1,1] I, float[1,3] U) => (float Y) {"
                           " Y = ScatterND(X, I, U) }";
  auto y = run_text1(text, {{"X", float_tensor({4, 3}, iota_floats(12))},
                            {"I", make_tensor<int64_t>({1, 1}, {4})},
                            {"U", float_tensor({1, 3}, iota_floats(3))}});
  EXPECT_TRUE(has_text(y, "index 4 is out of range for axis 0 of size 4"));
  y = run_text1(text, {{"X", float_tensor({4, 3}, iota_floats(12))},
                       {"I", make_tensor<int64_t>({1, 1}, {0})},
                       {"U", float_tensor({1, 2}, iota_floats(2))}});
  EXPECT_TRUE(has_text(y, "updates have shape [1, 2], expected [1, 3]"));
  EXPECT_TRUE(has_text(
      plan_status(header(13) + "g (float[4,3] X, int64[1,1] I, float[1,3] U) => (float Y) {"
                               " Y = ScatterND<reduction = \"add\">(X, I, U) }"),
      "needs opset 16"));
  EXPECT_TRUE(has_text(
      plan_status(header(16) + "g (float[4,3] X, int64[1,1] I, float[1,3] U) => (float Y) {"
                               " Y = ScatterND<reduction = \"max\">(X, I, U) }"),
      "unsupported reduction 'max'"));
}

TEST(ScatterND, BoolDataMovesButDoesNotReduce) {
  const std::string body =
      "g (bool[3] X, int64[1,1] I, bool[1] U) => (bool Y) { Y = ScatterND<reduction = \"";
  auto y = run_text1(header(16) + body + "none\">(X, I, U) }",
                     {{"X", bool_tensor({3}, {0, 0, 0})},
                      {"I", make_tensor<int64_t>({1, 1}, {-2})},
                      {"U", bool_tensor({1}, {1})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<uint8_t>(*y), (std::vector<uint8_t>{0, 1, 0}));
  y = run_text1(header(16) + body + "add\">(X, I, U) }", {{"X", bool_tensor({3}, {0, 0, 0})},
                                                          {"I", make_tensor<int64_t>({1, 1}, {0})},
                                                          {"U", bool_tensor({1}, {1})}});
  EXPECT_TRUE(has_text(y, "not defined for bool"));
}

// ---------------------------------------------------------------------------------------------
// ScatterElements, Scatter

/// ScatterElements reference for 2-D data.
std::vector<float> scatter_elements_2d(std::vector<float> data, const Dims& dd,
                                       const std::vector<int64_t>& idx, const Dims& id,
                                       const std::vector<float>& upd, int64_t axis,
                                       const std::string& reduction) {
  for (int64_t i = 0; i < id[0]; ++i) {
    for (int64_t j = 0; j < id[1]; ++j) {
      int64_t t = idx[i * id[1] + j];
      if (t < 0) t += dd[axis];
      const int64_t r = axis == 0 ? t : i, c = axis == 0 ? j : t;
      float& d = data[r * dd[1] + c];
      const float u = upd[i * id[1] + j];
      d = reduction == "add" ? d + u : reduction == "mul" ? d * u : u;
    }
  }
  return data;
}

TEST(ScatterElements, BothAxesNegativeIndicesAndDuplicatesMatchDefinition) {
  const Dims dd{3, 4}, id{2, 3};
  const std::vector<int64_t> idx{0, -1, 2, 2, 0, -3};  // valid for both axes (sizes 3 and 4)
  const auto data = iota_floats(12, 1.0f);
  const auto upd = iota_floats(6, 0.25f);
  for (int64_t axis : {0, 1, -1}) {
    for (const std::string red : {"none", "add", "mul"}) {
      auto y = run_text1(header(16) +
                             "g (float[3,4] X, int64[2,3] I, float[2,3] U) => (float Y) {"
                             " Y = ScatterElements<axis = " +
                             std::to_string(axis) + ", reduction = \"" + red + "\">(X, I, U) }",
                         {{"X", float_tensor(dd, data)},
                          {"I", make_tensor<int64_t>(id, idx)},
                          {"U", float_tensor(id, upd)}});
      ASSERT_OK(y);
      // For axis -1/1, index -3 names column 1; for axis 0 it names row 0.
      EXPECT_EQ(values_of<float>(*y),
                scatter_elements_2d(data, dd, idx, id, upd, axis < 0 ? 1 : axis, red))
          << axis << " " << red;
    }
  }
}

TEST(ScatterElements, DeprecatedScatterAtOpset10MatchesScatterElements) {
  const Dims dd{3, 3}, id{2, 3};
  const std::vector<int64_t> idx{1, 0, 2, 0, 2, 1};
  const auto data = iota_floats(9);
  const auto upd = iota_floats(6, 10.0f);
  auto y = run_text1(header(10) +
                         "g (float[3,3] X, int64[2,3] I, float[2,3] U) => (float Y) {"
                         " Y = Scatter(X, I, U) }",
                     {{"X", float_tensor(dd, data)},
                      {"I", make_tensor<int64_t>(id, idx)},
                      {"U", float_tensor(id, upd)}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<float>(*y), scatter_elements_2d(data, dd, idx, id, upd, 0, "none"));
}

TEST(ScatterElements, EmptyIndicesCopyTheData) {
  auto y = run_text1(header(13) +
                         "g (float[2,2] X, int64[0,2] I, float[0,2] U) => (float Y) {"
                         " Y = ScatterElements(X, I, U) }",
                     {{"X", float_tensor({2, 2}, {1, 2, 3, 4})},
                      {"I", make_tensor<int64_t>({0, 2}, {})},
                      {"U", float_tensor({0, 2}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{1, 2, 3, 4}));
}

TEST(ScatterElements, RefusesOutOfRangeIndexAndShapeMismatch) {
  const std::string text = header(13) +
                           "g (float[2,2] X, int64[1,2] I, float[1,2] U) => (float Y) {"
                           " Y = ScatterElements<axis = 1>(X, I, U) }";
  auto y = run_text1(text, {{"X", float_tensor({2, 2}, {1, 2, 3, 4})},
                            {"I", make_tensor<int64_t>({1, 2}, {0, -3})},
                            {"U", float_tensor({1, 2}, {5, 6})}});
  EXPECT_TRUE(has_text(y, "index -3 is out of range for axis 1 of size 2"));
  y = run_text1(text, {{"X", float_tensor({2, 2}, {1, 2, 3, 4})},
                       {"I", make_tensor<int64_t>({1, 2}, {0, 1})},
                       {"U", float_tensor({2, 1}, {5, 6})}});
  EXPECT_TRUE(has_text(y, "expected the indices shape [1, 2]"));
  y = run_text1(header(13) +
                    "g (float[2,2] X, int64[3,1] I, float[3,1] U) => (float Y) {"
                    " Y = ScatterElements<axis = 1>(X, I, U) }",
                {{"X", float_tensor({2, 2}, {1, 2, 3, 4})},
                 {"I", make_tensor<int64_t>({3, 1}, {0, 0, 0})},
                 {"U", float_tensor({3, 1}, {5, 6, 7})}});
  EXPECT_TRUE(has_text(y, "exceeds data shape"));
  y = run_text1(header(13) +
                    "g (float X, int64 I, float U) => (float Y) {"
                    " Y = ScatterElements(X, I, U) }",
                {{"X", float_tensor({}, {1})},
                 {"I", make_tensor<int64_t>({}, {0})},
                 {"U", float_tensor({}, {2})}});
  EXPECT_TRUE(has_text(y, "data must have rank >= 1"));
}

// ---------------------------------------------------------------------------------------------
// Compress

TEST(Compress, EveryAxisAndFlattenedWithShortConditions) {
  const Dims d{3, 4};
  const auto data = iota_floats(12);
  const std::vector<int> cond{1, 0, 1};  // shorter than axis 1 and the flattened input
  struct Case {
    std::string attr;
    int64_t axis;  // -1 when flattened
  };
  for (const Case& c :
       {Case{"<axis = 0>", 0}, Case{"<axis = 1>", 1}, Case{"<axis = -1>", 1}, Case{"", -1}}) {
    auto y = run_text1(header(11) +
                           "g (float[3,4] X, bool[3] C) => (float Y) {"
                           " Y = Compress" +
                           c.attr + "(X, C) }",
                       {{"X", float_tensor(d, data)}, {"C", bool_tensor({3}, cond)}});
    ASSERT_OK(y);
    std::vector<float> want;
    for (int64_t i = 0; i < 3; ++i) {
      for (int64_t j = 0; j < 4; ++j) {
        const int64_t pos = c.axis == 0 ? i : c.axis == 1 ? j : i * 4 + j;
        if (pos < 3 && cond[pos]) want.push_back(data[i * 4 + j]);
      }
    }
    EXPECT_EQ(values_of<float>(*y), want) << c.attr;
  }
}

TEST(Compress, AllFalseGivesEmptyAndTrueBeyondTheAxisIsRefused) {
  const std::string text = header(11) +
                           "g (int64[2,2] X, bool[3] C) => (int64 Y) {"
                           " Y = Compress<axis = 0>(X, C) }";
  auto y = run_text1(text, {{"X", make_tensor<int64_t>({2, 2}, {1, 2, 3, 4})},
                            {"C", bool_tensor({3}, {0, 0, 0})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (Dims{0, 2}));
  y = run_text1(text, {{"X", make_tensor<int64_t>({2, 2}, {1, 2, 3, 4})},
                       {"C", bool_tensor({3}, {0, 1, 1})}});
  EXPECT_TRUE(has_text(y, "condition selects index 2 beyond the axis of size 2"));
  EXPECT_TRUE(has_text(plan_status(header(11) + "g (int64[2,2] X, int64[3] C) => (int64 Y) {"
                                                " Y = Compress<axis = 0>(X, C) }"),
                       "condition must be bool"));
}

// ---------------------------------------------------------------------------------------------
// OneHot

TEST(OneHot, EveryAxisWithNegativeAndOutOfRangeIndices) {
  const std::vector<int64_t> idx{0, -1, 3, 2, -4, 5};  // depth 4: -4 is 0, 5 is all off
  for (int64_t axis : {-1, 0, 1, 2, -3}) {
    auto y = run_text1(header(11) +
                           "g (int64[2,3] I, int32 D, int32[2] V) => (int32 Y) {"
                           " Y = OneHot<axis = " +
                           std::to_string(axis) + ">(I, D, V) }",
                       {{"I", make_tensor<int64_t>({2, 3}, idx)},
                        {"D", make_tensor<int32_t>({}, {4})},
                        {"V", make_tensor<int32_t>({2}, {-7, 9})}});
    ASSERT_OK(y);
    const int64_t a = axis < 0 ? axis + 3 : axis;
    Dims want_dims{2, 3};
    want_dims.insert(want_dims.begin() + a, 4);
    ASSERT_EQ(y->dims(), want_dims);
    const auto out = values_of<int32_t>(*y);
    for (int64_t i = 0; i < 2; ++i) {
      for (int64_t j = 0; j < 3; ++j) {
        for (int64_t d = 0; d < 4; ++d) {
          int64_t c[3] = {i, j, 0};
          // Output coordinates: depth inserted at position a.
          int64_t coord[3];
          for (int64_t k = 0, s = 0; k < 3; ++k) coord[k] = k == a ? d : c[s++];
          const int64_t flat = (coord[0] * want_dims[1] + coord[1]) * want_dims[2] + coord[2];
          int64_t v = idx[i * 3 + j];
          if (v < 0) v += 4;
          EXPECT_EQ(out[flat], v == d ? 9 : -7) << axis;
        }
      }
    }
  }
}

TEST(OneHot, FloatIndicesTruncateAndOpset9TurnsNegativesOff) {
  auto y = run_text1(header(11) +
                         "g (float[4] I, float D, string[2] V) => (string Y) {"
                         " Y = OneHot(I, D, V) }",
                     {{"I", float_tensor({4}, {1.7f, -0.5f, -1.2f, 2.0f})},
                      {"D", float_tensor({}, {3.0f})},
                      {"V", Tensor::from_strings({2}, {"off", "on"})}});
  ASSERT_OK(y);
  // 1.7 -> 1, -0.5 -> 0, -1.2 -> -1 -> 2, 2.0 -> 2.
  EXPECT_EQ(y->strings(), (std::vector<std::string>{"off", "on", "off", "on", "off", "off", "off",
                                                    "off", "on", "off", "off", "on"}));
  y = run_text1(header(9) +
                    "g (int64[2] I, int64 D, float[2] V) => (float Y) {"
                    " Y = OneHot(I, D, V) }",
                {{"I", make_tensor<int64_t>({2}, {-1, 1})},
                 {"D", make_tensor<int64_t>({}, {2})},
                 {"V", float_tensor({2}, {0, 1})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{0, 0, 0, 1}));
}

TEST(OneHot, RefusesNegativeDepthAndBadValues) {
  const std::string text = header(11) +
                           "g (int64[2] I, int64 D, float[2] V) => (float Y) {"
                           " Y = OneHot(I, D, V) }";
  auto y = run_text1(text, {{"I", make_tensor<int64_t>({2}, {0, 1})},
                            {"D", make_tensor<int64_t>({}, {-2})},
                            {"V", float_tensor({2}, {0, 1})}});
  EXPECT_TRUE(has_text(y, "depth must not be negative"));
  y = run_text1(header(11) +
                    "g (int64[2] I, int64 D, float[3] V) => (float Y) {"
                    " Y = OneHot(I, D, V) }",
                {{"I", make_tensor<int64_t>({2}, {0, 1})},
                 {"D", make_tensor<int64_t>({}, {2})},
                 {"V", float_tensor({3}, {0, 1, 2})}});
  EXPECT_TRUE(has_text(y, "exactly two elements"));
}

// ---------------------------------------------------------------------------------------------
// Unique

struct UniqueRef {
  std::vector<float> y;
  std::vector<int64_t> indices, inverse, counts;
};

/// Unique over a flat list by the definition: distinct values (sorted or in order of first
/// occurrence), index of first occurrence, inverse mapping, counts.
UniqueRef unique_reference(const std::vector<float>& x, bool sorted) {
  std::vector<float> distinct;
  for (float v : x) {
    if (std::find(distinct.begin(), distinct.end(), v) == distinct.end()) distinct.push_back(v);
  }
  if (sorted) std::sort(distinct.begin(), distinct.end());
  UniqueRef r;
  r.y = distinct;
  for (float v : distinct) {
    r.indices.push_back(std::find(x.begin(), x.end(), v) - x.begin());
    r.counts.push_back(std::count(x.begin(), x.end(), v));
  }
  for (float v : x)
    r.inverse.push_back(std::find(distinct.begin(), distinct.end(), v) - distinct.begin());
  return r;
}

TEST(Unique, FlattenedSortedAndUnsortedMatchDefinition) {
  const std::vector<float> x{2, 1, 1, 3, 4, 3, -1, 2, 0, 0, 4, 4};
  for (int sorted : {0, 1}) {
    auto y = run_text(header(11) +
                          "g (float[3,4] X) => (float Y, int64 I, int64 V, int64 C) {"
                          " Y, I, V, C = Unique<sorted = " +
                          std::to_string(sorted) + ">(X) }",
                      {{"X", float_tensor({3, 4}, x)}});
    ASSERT_OK(y);
    const UniqueRef r = unique_reference(x, sorted != 0);
    EXPECT_EQ(values_of<float>((*y)[0]), r.y);
    EXPECT_EQ(values_of<int64_t>((*y)[1]), r.indices);
    EXPECT_EQ(values_of<int64_t>((*y)[2]), r.inverse);
    EXPECT_EQ(values_of<int64_t>((*y)[3]), r.counts);
  }
}

TEST(Unique, SlicesAlongAnAxisAreComparedWhole) {
  // Columns of a [2,4] matrix: c0=(1,5) c1=(0,5) c2=(1,5) c3=(0,2). Sorted lexicographically:
  // (0,2)=c3, (0,5)=c1, (1,5)=c0.
  const std::vector<float> x{1, 0, 1, 0, 5, 5, 5, 2};
  auto y = run_text(header(11) +
                        "g (float[2,4] X) => (float Y, int64 I, int64 V, int64 C) {"
                        " Y, I, V, C = Unique<axis = -1>(X) }",
                    {{"X", float_tensor({2, 4}, x)}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (Dims{2, 3}));
  EXPECT_EQ(values_of<float>((*y)[0]), (std::vector<float>{0, 0, 1, 2, 5, 5}));
  EXPECT_EQ(values_of<int64_t>((*y)[1]), (std::vector<int64_t>{3, 1, 0}));
  EXPECT_EQ(values_of<int64_t>((*y)[2]), (std::vector<int64_t>{2, 1, 2, 0}));
  EXPECT_EQ(values_of<int64_t>((*y)[3]), (std::vector<int64_t>{1, 1, 2}));
}

TEST(Unique, StringsAndEmptyInput) {
  auto y = run_text(header(11) +
                        "g (string[4] X) => (string Y, int64 I, int64 V, int64 C) {"
                        " Y, I, V, C = Unique<sorted = 0>(X) }",
                    {{"X", Tensor::from_strings({4}, {"b", "a", "b", "c"})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].strings(), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(values_of<int64_t>((*y)[2]), (std::vector<int64_t>{0, 1, 0, 2}));
  y = run_text(header(11) +
                   "g (float[0] X) => (float Y, int64 I, int64 V, int64 C) {"
                   " Y, I, V, C = Unique(X) }",
               {{"X", float_tensor({0}, {})}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (Dims{0}));
  EXPECT_EQ((*y)[3].dims(), (Dims{0}));
}

// ---------------------------------------------------------------------------------------------
// ReverseSequence

TEST(ReverseSequence, BothLayoutsReverseEachSequencePrefix) {
  const std::vector<int64_t> lens{3, 0, 1};
  for (int batch_axis : {0, 1}) {
    const Dims d = batch_axis == 0 ? Dims{3, 4, 2} : Dims{4, 3, 2};
    const std::string dims = batch_axis == 0 ? "3,4,2" : "4,3,2";
    auto y = run_text1(
        header(10) + "g (float[" + dims +
            "] X, int64[3] L) => (float Y) {"
            " Y = ReverseSequence<batch_axis = " +
            std::to_string(batch_axis) + ", time_axis = " + std::to_string(1 - batch_axis) +
            ">(X, L) }",
        {{"X", float_tensor(d, iota_floats(24))}, {"L", make_tensor<int64_t>({3}, lens)}});
    ASSERT_OK(y);
    const auto out = values_of<float>(*y);
    auto at = [&](int64_t b, int64_t t, int64_t c) {
      return batch_axis == 0 ? (b * 4 + t) * 2 + c : (t * 3 + b) * 2 + c;
    };
    for (int64_t b = 0; b < 3; ++b) {
      for (int64_t t = 0; t < 4; ++t) {
        const int64_t from = t < lens[b] ? lens[b] - 1 - t : t;
        for (int64_t c = 0; c < 2; ++c) EXPECT_EQ(out[at(b, t, c)], at(b, from, c));
      }
    }
  }
}

TEST(ReverseSequence, RefusesLengthsOutOfRangeAndBadAxes) {
  auto y = run_text1(
      header(10) +
          "g (float[2,2] X, int64[2] L) => (float Y) {"
          " Y = ReverseSequence(X, L) }",
      {{"X", float_tensor({2, 2}, iota_floats(4))}, {"L", make_tensor<int64_t>({2}, {1, 3})}});
  EXPECT_TRUE(has_text(y, "sequence length 3 is out of range [0, 2]"));
  EXPECT_TRUE(has_text(plan_status(header(10) + "g (float[2,2] X, int64[2] L) => (float Y) {"
                                                " Y = ReverseSequence<batch_axis = 0,"
                                                " time_axis = 0>(X, L) }"),
                       "batch_axis and time_axis"));
}

// ---------------------------------------------------------------------------------------------
// EyeLike

TEST(EyeLike, OffsetsAndDtypes) {
  for (int64_t k : {-2, -1, 0, 1, 3, 5}) {
    auto y = run_text1(header(9) + "g (int32[3,4] X) => (double Y) { Y = EyeLike<k = " +
                           std::to_string(k) + ", dtype = 11>(X) }",
                       {{"X", make_tensor<int32_t>({3, 4}, std::vector<int32_t>(12, 7))}});
    ASSERT_OK(y);
    ASSERT_EQ(y->dtype(), ir::DType::kDouble);
    const auto out = values_of<double>(*y);
    for (int64_t i = 0; i < 3; ++i) {
      for (int64_t j = 0; j < 4; ++j) EXPECT_EQ(out[i * 4 + j], j - i == k ? 1.0 : 0.0) << k;
    }
  }
  auto y = run_text1(header(9) + "g (bool[2,2] X) => (bool Y) { Y = EyeLike(X) }",
                     {{"X", bool_tensor({2, 2}, {0, 0, 0, 0})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<uint8_t>(*y), (std::vector<uint8_t>{1, 0, 0, 1}));
}

TEST(EyeLike, RefusesRank3AndStringDtype) {
  auto y = run_text1(header(9) + "g (float[1,2,2] X) => (float Y) { Y = EyeLike(X) }",
                     {{"X", float_tensor({1, 2, 2}, iota_floats(4))}});
  EXPECT_TRUE(has_text(y, "input must have rank 2"));
  EXPECT_TRUE(has_text(
      plan_status(header(9) + "g (float[2,2] X) => (string Y) { Y = EyeLike<dtype = 8>(X) }"),
      "unsupported dtype string"));
}

}  // namespace
}  // namespace compressor
