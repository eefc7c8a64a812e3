// Kernels of the 'normalization' family: BatchNormalization (inference and training mode),
// InstanceNormalization, LayerNormalization, MeanVarianceNormalization, LRN, Softmax, LogSoftmax,
// Hardmax, Dropout. Expected values are computed here from
// each op's definition.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "compressor/exec/executor.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

std::vector<float> values_of(const ir::Tensor& t) {
  return {t.span<float>().begin(), t.span<float>().end()};
}

// Runs a one-node model on X and returns every output.
StatusOr<std::vector<ir::Tensor>> run_model(const std::string& text, const ir::Tensor& x) {
  auto m = model_from_text(text);
  if (!m.ok()) return m.status();
  auto ex = exec::Executor::create(*m, {.threads = 2});
  if (!ex.ok()) return ex.status();
  return (*ex)->run({{"X", x}});
}

Status plan_error(const std::string& text) {
  auto m = model_from_text(text);
  if (!m.ok()) return m.status();
  auto ex = exec::Executor::create(*m);
  return ex.ok() ? Status() : ex.status();
}

TEST(BatchNormalization, MatchesDefinitionPerChannel) {
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2, 2, 3] X) => (float[2, 2, 3] Y)
    <float[2] s = {1.5, -2}, float[2] b = {0.25, 1}, float[2] m = {0.5, -1}, float[2] v = {4, 0.25}>
    { Y = BatchNormalization<epsilon = 0.01>(X, s, b, m, v) })",
                     float_tensor({2, 2, 3}, random_floats(12, 1)));
  ASSERT_OK(y);
  const auto x = random_floats(12, 1);
  const float s[] = {1.5f, -2}, b[] = {0.25f, 1}, m[] = {0.5f, -1}, v[] = {4, 0.25f};
  const auto got = values_of((*y)[0]);
  for (int i = 0; i < 12; ++i) {
    const int c = (i / 3) % 2;
    EXPECT_NEAR(got[i], (x[i] - m[c]) / std::sqrt(v[c] + 0.01f) * s[c] + b[c], 1e-5) << i;
  }
}

TEST(BatchNormalization, TrainingModeUsesBatchStatisticsAndUpdatesRunningOnes) {
  const auto x = random_floats(3 * 2 * 4, 7, -2, 3);
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[3, 2, 4] X) => (float[3, 2, 4] Y, float[2] RM, float[2] RV)
    <float[2] s = {1.5, -2}, float[2] b = {0.25, 1}, float[2] m = {0.5, -1}, float[2] v = {4, 0.25}>
    { Y, RM, RV = BatchNormalization<epsilon = 0.01, momentum = 0.8, training_mode = 1>(X, s, b, m, v) })",
                     float_tensor({3, 2, 4}, x));
  ASSERT_OK(y);
  ASSERT_EQ(y->size(), 3u);
  const double s[] = {1.5, -2}, b[] = {0.25, 1}, m[] = {0.5, -1}, v[] = {4, 0.25};
  const auto got = values_of((*y)[0]);
  const auto rm = values_of((*y)[1]), rv = values_of((*y)[2]);
  for (int c = 0; c < 2; ++c) {
    // Batch mean and population variance over N and the spatial axis.
    double mean = 0, var = 0;
    for (int n = 0; n < 3; ++n)
      for (int k = 0; k < 4; ++k) mean += x[(n * 2 + c) * 4 + k] / 12.0;
    for (int n = 0; n < 3; ++n)
      for (int k = 0; k < 4; ++k) var += std::pow(x[(n * 2 + c) * 4 + k] - mean, 2) / 12.0;
    EXPECT_NEAR(rm[c], m[c] * 0.8 + mean * 0.2, 1e-6) << c;
    EXPECT_NEAR(rv[c], v[c] * 0.8 + var * 0.2, 1e-6) << c;
    for (int n = 0; n < 3; ++n) {
      for (int k = 0; k < 4; ++k) {
        const int i = (n * 2 + c) * 4 + k;
        EXPECT_NEAR(got[i], (x[i] - mean) / std::sqrt(var + 0.01) * s[c] + b[c], 1e-5) << i;
      }
    }
  }
}

TEST(BatchNormalization, TrainingModeWithOnlyY) {
  // Default momentum; the running statistics are not requested.
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 14]>
    g (float[2, 1] X) => (float[2, 1] Y)
    <float[1] s = {1}, float[1] b = {0}, float[1] m = {100}, float[1] v = {100}>
    { Y = BatchNormalization<training_mode = 1, epsilon = 0.0>(X, s, b, m, v) })",
                     float_tensor({2, 1}, {1, 3}));
  ASSERT_OK(y);
  // mean 2, variance 1: the given mean and var are not used.
  EXPECT_EQ(values_of((*y)[0]), (std::vector<float>{-1, 1}));
}

TEST(BatchNormalization, RefusesStatisticsOutputsWithoutTrainingMode) {
  const Status st = plan_error(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[2, 2] X, float[2] s, float[2] b, float[2] m, float[2] v) => (float[2, 2] Y, float[2] RM)
    { Y, RM = BatchNormalization(X, s, b, m, v) })");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("need training_mode=1"), std::string::npos) << st.message();
  const Status old = plan_error(R"(
    <ir_version: 8, opset_import: ["" : 9]>
    g (float[2, 2] X, float[2] s, float[2] b, float[2] m, float[2] v) => (float[2, 2] Y)
    { Y = BatchNormalization<training_mode = 1>(X, s, b, m, v) })");
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.message().find("training_mode exists from opset 14 on"), std::string::npos)
      << old.message();
}

TEST(BatchNormalization, TrainingModeRefusesAnEmptyBatchAtRunTime) {
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 15]>
    g (float[0, 2] X) => (float[0, 2] Y)
    <float[2] s = {1, 1}, float[2] b = {0, 0}, float[2] m = {0, 0}, float[2] v = {1, 1}>
    { Y = BatchNormalization<training_mode = 1>(X, s, b, m, v) })",
                     float_tensor({0, 2}, {}));
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("at least one element per channel"), std::string::npos)
      << y.status().message();
}

TEST(InstanceNormalization, NormalizesEachChannelOverSpatialDims) {
  const auto x = random_floats(2 * 3 * 4, 2, -3, 3);
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3, 4] X) => (float[2, 3, 4] Y)
    <float[3] s = {1, 2, -1}, float[3] b = {0, 0.5, 3}>
    { Y = InstanceNormalization<epsilon = 0.001>(X, s, b) })",
                     float_tensor({2, 3, 4}, x));
  ASSERT_OK(y);
  const float s[] = {1, 2, -1}, b[] = {0, 0.5f, 3};
  const auto got = values_of((*y)[0]);
  for (int nc = 0; nc < 6; ++nc) {
    double mean = 0, var = 0;
    for (int k = 0; k < 4; ++k) mean += x[nc * 4 + k] / 4.0;
    for (int k = 0; k < 4; ++k) var += (x[nc * 4 + k] - mean) * (x[nc * 4 + k] - mean) / 4.0;
    for (int k = 0; k < 4; ++k) {
      const double want = (x[nc * 4 + k] - mean) / std::sqrt(var + 0.001) * s[nc % 3] + b[nc % 3];
      EXPECT_NEAR(got[nc * 4 + k], want, 1e-5);
    }
  }
}

TEST(LayerNormalization, NegativeAxisWithMeanAndInvStdDevOutputs) {
  const auto x = random_floats(2 * 3 * 2, 3, -2, 2);
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[2, 3, 2] X) => (float[2, 3, 2] Y, float[2, 1, 1] M, float[2, 1, 1] R)
    <float[2] s = {2, -1}, float[3, 1] b = {0.5, 1, 1.5}>
    { Y, M, R = LayerNormalization<axis = -2, epsilon = 0.1>(X, s, b) })",
                     float_tensor({2, 3, 2}, x));
  ASSERT_OK(y);
  ASSERT_EQ(y->size(), 3u);
  EXPECT_EQ((*y)[1].dims(), (ir::Dims{2, 1, 1}));
  const auto got = values_of((*y)[0]);
  for (int n = 0; n < 2; ++n) {
    double mean = 0, var = 0;
    for (int k = 0; k < 6; ++k) mean += x[n * 6 + k] / 6.0;
    for (int k = 0; k < 6; ++k) var += (x[n * 6 + k] - mean) * (x[n * 6 + k] - mean) / 6.0;
    const double inv = 1 / std::sqrt(var + 0.1);
    EXPECT_NEAR((*y)[1].span<float>()[n], mean, 1e-5);
    EXPECT_NEAR((*y)[2].span<float>()[n], inv, 1e-5);
    for (int k = 0; k < 6; ++k) {
      const double s = k % 2 == 0 ? 2 : -1, b = 0.5 + 0.5 * (k / 2);
      EXPECT_NEAR(got[n * 6 + k], (x[n * 6 + k] - mean) * inv * s + b, 1e-5);
    }
  }
}

TEST(LRN, SumsSquaresOverNeighbouringChannels) {
  const auto x = random_floats(1 * 5 * 2, 4);
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 5, 2] X) => (float[1, 5, 2] Y)
    { Y = LRN<size = 3, alpha = 0.5, beta = 0.6, bias = 2.0>(X) })",
                     float_tensor({1, 5, 2}, x));
  ASSERT_OK(y);
  const auto got = values_of((*y)[0]);
  for (int c = 0; c < 5; ++c) {
    for (int k = 0; k < 2; ++k) {
      double sum = 0;
      for (int j = std::max(0, c - 1); j <= std::min(4, c + 1); ++j) {
        sum += x[j * 2 + k] * x[j * 2 + k];
      }
      EXPECT_NEAR(got[c * 2 + k], x[c * 2 + k] / std::pow(2.0 + 0.5 / 3 * sum, 0.6), 1e-6);
    }
  }
}

std::vector<double> softmax_ref(const std::vector<double>& v) {
  double m = v[0];
  for (double e : v) m = std::max(m, e);
  double s = 0;
  for (double e : v) s += std::exp(e - m);
  std::vector<double> out;
  for (double e : v) out.push_back(std::exp(e - m) / s);
  return out;
}

TEST(Softmax, Opset13NormalizesAlongOneAxis) {
  const auto x = random_floats(2 * 3 * 4, 5, -4, 4);
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3, 4] X) => (float[2, 3, 4] Y) { Y = Softmax<axis = 1>(X) })",
                     float_tensor({2, 3, 4}, x));
  ASSERT_OK(y);
  const auto got = values_of((*y)[0]);
  for (int n = 0; n < 2; ++n) {
    for (int k = 0; k < 4; ++k) {
      std::vector<double> col;
      for (int c = 0; c < 3; ++c) col.push_back(x[n * 12 + c * 4 + k]);
      const auto want = softmax_ref(col);
      for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[n * 12 + c * 4 + k], want[c], 1e-6);
    }
  }
}

TEST(Softmax, Opset11CoercesTo2D) {
  const auto x = random_floats(2 * 3 * 4, 6, -4, 4);
  auto y = run_model(R"(
    <ir_version: 7, opset_import: ["" : 11]>
    g (float[2, 3, 4] X) => (float[2, 3, 4] Y) { Y = Softmax<axis = 1>(X) })",
                     float_tensor({2, 3, 4}, x));
  ASSERT_OK(y);
  const auto got = values_of((*y)[0]);
  for (int n = 0; n < 2; ++n) {
    const auto want = softmax_ref({x.begin() + n * 12, x.begin() + n * 12 + 12});
    for (int k = 0; k < 12; ++k) EXPECT_NEAR(got[n * 12 + k], want[k], 1e-6);
  }
}

TEST(LogSoftmax, StableForLargeInputsAndNegativeAxis) {
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3] X) => (float[1, 3] Y) { Y = LogSoftmax<axis = -1>(X) })",
                     float_tensor({1, 3}, {10000, 10001, 10002}));
  ASSERT_OK(y);
  const auto want = softmax_ref({0, 1, 2});
  const auto got = values_of((*y)[0]);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], std::log(want[i]), 1e-5);
}

TEST(Softmax, EmptyTensor) {
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[0, 3] X) => (float[0, 3] Y) { Y = Softmax(X) })",
                     float_tensor({0, 3}, {}));
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (ir::Dims{0, 3}));
}

TEST(Dropout, InferenceIsIdentityWithAllTrueMask) {
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y, bool[3] M)
    <float r = {0.5}>
    { Y, M = Dropout(X, r) })",
                     float_tensor({3}, {1, -2, 3}));
  ASSERT_OK(y);
  EXPECT_EQ(values_of((*y)[0]), (std::vector<float>{1, -2, 3}));
  ASSERT_EQ((*y)[1].dtype(), ir::DType::kBool);
  for (uint8_t b : (*y)[1].span<uint8_t>()) EXPECT_EQ(b, 1);
}

TEST(Dropout, RefusesConstantTrainingModeWithNonZeroRatio) {
  const Status st = plan_error(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y)
    <float r = {0.5}, bool t = {1}>
    { Y = Dropout(X, r, t) })");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("training_mode=true with a non-zero ratio"), std::string::npos)
      << st.message();
}

// MVN reference: mean and population std over `reduced` axes of a row-major [2, 3, 2, 2] tensor.
std::vector<double> mvn_ref(const std::vector<float>& x, const std::vector<int>& dims,
                            const std::vector<bool>& reduced) {
  const int n = static_cast<int>(x.size());
  auto group = [&](int i) {
    int g = 0, rest = i;
    std::vector<int> idx(dims.size());
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      idx[d] = rest % dims[d];
      rest /= dims[d];
    }
    for (size_t d = 0; d < dims.size(); ++d) {
      if (!reduced[d]) g = g * dims[d] + idx[d];
    }
    return g;
  };
  std::map<int, double> sum, sq, count;
  for (int i = 0; i < n; ++i) {
    sum[group(i)] += x[i];
    count[group(i)] += 1;
  }
  for (int i = 0; i < n; ++i) sq[group(i)] += std::pow(x[i] - sum[group(i)] / count[group(i)], 2);
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) {
    const int g = group(i);
    out[i] = (x[i] - sum[g] / count[g]) / (std::sqrt(sq[g] / count[g]) + 1e-9);
  }
  return out;
}

TEST(MeanVarianceNormalization, DefaultAndExplicitAxes) {
  const auto x = random_floats(2 * 3 * 2 * 2, 8, -3, 3);
  struct Case {
    std::string attrs;
    std::vector<bool> reduced;
  };
  for (const Case& c :
       {Case{"", {true, false, true, true}}, Case{"<axes = [1, -1]>", {false, true, false, true}},
        Case{"<axes = [0]>", {true, false, false, false}}}) {
    auto y = run_model(R"(
      <ir_version: 8, opset_import: ["" : 13]>
      g (float[2, 3, 2, 2] X) => (float[2, 3, 2, 2] Y) { Y = MeanVarianceNormalization)" +
                           c.attrs + "(X) }",
                       float_tensor({2, 3, 2, 2}, x));
    ASSERT_OK(y);
    const auto want = mvn_ref(x, {2, 3, 2, 2}, c.reduced);
    const auto got = values_of((*y)[0]);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << c.attrs << i;
  }
}

TEST(MeanVarianceNormalization, ConstantGroupGivesZeroAndBadAxesFail) {
  auto y = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 2] X) => (float[2, 2] Y) { Y = MeanVarianceNormalization<axes = [1]>(X) })",
                     float_tensor({2, 2}, {5, 5, 1, 3}));
  ASSERT_OK(y);
  EXPECT_EQ(values_of((*y)[0])[0], 0.0f);
  EXPECT_NEAR(values_of((*y)[0])[2], -1.0, 1e-6);
  auto bad = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 2] X) => (float[2, 2] Y) { Y = MeanVarianceNormalization<axes = [0, 2]>(X) })",
                       float_tensor({2, 2}, {1, 2, 3, 4}));
  EXPECT_FALSE(bad.ok());
  auto twice = run_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 2] X) => (float[2, 2] Y) { Y = MeanVarianceNormalization<axes = [1, -1]>(X) })",
                         float_tensor({2, 2}, {1, 2, 3, 4}));
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("repeated"), std::string::npos)
      << twice.status().message();
}

TEST(Hardmax, Opset13MarksTheFirstMaximumAlongTheAxis) {
  // Ties: columns hold repeated maxima; the first one wins.
  const std::vector<float> x{1, 3, 3, 0, 2, 3, 7, 7, 5, 1, 0, 7};
  for (int axis : {0, 1, -1}) {
    auto y = run_model(R"(
      <ir_version: 8, opset_import: ["" : 13]>
      g (float[2, 2, 3] X) => (float[2, 2, 3] Y) { Y = Hardmax<axis = )" +
                           std::to_string(axis) + ">(X) }",
                       float_tensor({2, 2, 3}, x));
    ASSERT_OK(y);
    const auto got = values_of((*y)[0]);
    const int dims[] = {2, 2, 3};
    const int a = axis < 0 ? axis + 3 : axis;
    const int stride = a == 0 ? 6 : a == 1 ? 3 : 1;
    for (int i = 0; i < 12; ++i) {
      const int pos = (i / stride) % dims[a];
      const int base = i - pos * stride;
      int best = 0;
      for (int j = 1; j < dims[a]; ++j) {
        if (x[base + j * stride] > x[base + best * stride]) best = j;
      }
      EXPECT_EQ(got[i], pos == best ? 1.0f : 0.0f) << "axis " << axis << " at " << i;
    }
  }
}

TEST(Hardmax, Opset11CoercesTo2D) {
  // axis 1 of [2, 2, 3]: one maximum per batch over its 6 values.
  const std::vector<float> x{1, 3, 3, 0, 2, 3, 7, 7, 5, 1, 0, 7};
  auto y = run_model(R"(
    <ir_version: 7, opset_import: ["" : 11]>
    g (float[2, 2, 3] X) => (float[2, 2, 3] Y) { Y = Hardmax(X) })",
                     float_tensor({2, 2, 3}, x));
  ASSERT_OK(y);
  const auto got = values_of((*y)[0]);
  for (int n = 0; n < 2; ++n) {
    int best = 0;
    for (int k = 1; k < 6; ++k) {
      if (x[n * 6 + k] > x[n * 6 + best]) best = k;
    }
    for (int k = 0; k < 6; ++k) EXPECT_EQ(got[n * 6 + k], k == best ? 1.0f : 0.0f) << n << k;
  }
}

}  // namespace
}  // namespace compressor
