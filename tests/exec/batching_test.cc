// Samples stacked into batches along axis 0: which models allow it, outputs identical to
// sample-by-sample runs, fallbacks, and the per-node timing hook.
#include "compressor/exec/batching.h"

#include <gtest/gtest.h>

#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;

// Y[N, 3] = X[N, 4] W + b, then Softmax per row: every row depends only on its own sample.
constexpr const char* kRowwise = R"(
  <ir_version: 8, opset_import: ["" : 13]>
  g (float[N, 4] X) => (float[N, 3] Y)
  <float[4, 3] W = {0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9, -1.0, 1.1, 1.2},
   float[3] B = {0.5, -0.5, 0.25}>
  {
    M = MatMul(X, W)
    A = Add(M, B)
    Y = Softmax<axis = -1>(A)
  })";

std::vector<std::vector<exec::NamedTensor>> make_samples(const std::vector<int64_t>& rows) {
  std::vector<std::vector<exec::NamedTensor>> out;
  uint64_t seed = 1;
  for (int64_t r : rows) {
    out.push_back({{"X", float_tensor({r, 4}, random_floats(static_cast<size_t>(r * 4), seed++))}});
  }
  return out;
}

TEST(Batching, AxisZeroMustBeOneSymbolicDimensionEverywhere) {
  auto rowwise = model_from_text(kRowwise);
  ASSERT_OK(rowwise);
  exec::BatchAxis a = exec::batch_axis(*rowwise);
  EXPECT_TRUE(a.stackable);
  EXPECT_EQ(a.dim, "N");

  auto fixed = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 4] X) => (float[2, 4] Y) { Y = Relu(X) })");
  ASSERT_OK(fixed);
  a = exec::batch_axis(*fixed);
  EXPECT_FALSE(a.stackable);
  EXPECT_NE(a.why_not.find("input 'X'"), std::string::npos) << a.why_not;

  auto other = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[N, 4] X) => (float[M] Y) { Y = ReduceSum<keepdims = 0>(X) })");
  ASSERT_OK(other);
  a = exec::batch_axis(*other);
  EXPECT_FALSE(a.stackable);
  EXPECT_NE(a.why_not.find("output 'Y'"), std::string::npos) << a.why_not;
}

TEST(Batching, StackedRunsGiveEachSampleItsOwnOutputs) {
  auto m = model_from_text(kRowwise);
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m, {.threads = 1});
  ASSERT_OK(ex);
  // Samples of 1, 2 and 1 rows, and a batch limit that splits them into two runs.
  const auto samples = make_samples({1, 2, 1, 3, 1});
  size_t nodes_run = 0;
  auto batched =
      exec::run_samples(**ex, *m, samples, 3, [&](const ir::Node&, double) { ++nodes_run; });
  ASSERT_OK(batched);
  ASSERT_EQ(batched->size(), samples.size());
  // Two batched runs of three nodes each: samples {0, 1, 2} and {3, 4}.
  EXPECT_EQ(nodes_run, 2u * 3u);
  for (size_t s = 0; s < samples.size(); ++s) {
    auto alone = (*ex)->run(samples[s]);
    ASSERT_OK(alone);
    ASSERT_EQ((*batched)[s].size(), 1u);
    const ir::Tensor& got = (*batched)[s][0];
    EXPECT_EQ(got.dims(), (*alone)[0].dims());
    const auto g = values_of<float>(got), w = values_of<float>((*alone)[0]);
    ASSERT_EQ(g.size(), w.size());
    for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-6) << "sample " << s;
  }
}

TEST(Batching, SamplesThatDoNotStackRunOneAtATime) {
  // Axis 1 differs between the samples, so none can be stacked with its neighbour.
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[N, K] X) => (float[N, K] Y) { Y = Softmax<axis = -1>(X) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m, {.threads = 1});
  ASSERT_OK(ex);
  std::vector<std::vector<exec::NamedTensor>> samples = {{{"X", float_tensor({1, 3}, {1, 2, 3})}},
                                                         {{"X", float_tensor({1, 2}, {1, 2})}}};
  size_t runs = 0;
  auto out = exec::run_samples(**ex, *m, samples, 8, [&](const ir::Node&, double) { ++runs; });
  ASSERT_OK(out);
  EXPECT_EQ(runs, 2u);
  EXPECT_EQ((*out)[0][0].dims(), (ir::Dims{1, 3}));
  EXPECT_EQ((*out)[1][0].dims(), (ir::Dims{1, 2}));
}

TEST(Batching, OutputsThatDoNotKeepTheStackedAxisFallBackToSingleRuns) {
  // Declared as batch-major, but the output's axis 0 is a reduction over all samples: the
  // batch's output cannot be split, so every sample runs again on its own.
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[N, 2] X) => (float[N] Y) { Y = ReduceMax<axes = [0], keepdims = 1>(X) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m, {.threads = 1});
  ASSERT_OK(ex);
  std::vector<std::vector<exec::NamedTensor>> samples = {
      {{"X", float_tensor({2, 2}, {1, 2, 3, 4})}}, {{"X", float_tensor({2, 2}, {10, 20, 30, 40})}}};
  auto out = exec::run_samples(**ex, *m, samples, 2);
  ASSERT_OK(out);
  EXPECT_EQ(values_of<float>((*out)[0][0]), (std::vector<float>{3, 4}));
  EXPECT_EQ(values_of<float>((*out)[1][0]), (std::vector<float>{30, 40}));
}

}  // namespace
}  // namespace compressor
