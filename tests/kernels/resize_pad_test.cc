// Kernels of the 'resize_pad' family: Resize, Upsample and Pad. Expected values are computed
// here from each op's definition.
#include <gtest/gtest.h>

#include "compressor/exec/executor.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

std::vector<float> floats_of(const ir::Tensor& t) {
  return {t.span<float>().begin(), t.span<float>().end()};
}

StatusOr<std::vector<ir::Tensor>> run_one(const std::string& text, const ir::Tensor& x) {
  auto m = model_from_text(text);
  if (!m.ok()) return m.status();
  auto ex = exec::Executor::create(*m);
  if (!ex.ok()) return ex.status();
  return (*ex)->run({{"X", x}});
}

TEST(Resize, NearestAsymmetricFloorWithScales) {
  auto y = run_one(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X) => (float[1, 1, 4, 4] Y)
    <float[4] s = {1, 1, 2, 2}>
    { Y = Resize<mode = "nearest", coordinate_transformation_mode = "asymmetric",
                 nearest_mode = "floor">(X, , s) })",
                   float_tensor({1, 1, 2, 2}, {1, 2, 3, 4}));
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (ir::Dims{1, 1, 4, 4}));
  EXPECT_EQ(floats_of((*y)[0]),
            (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
}

TEST(Resize, LinearHalfPixelWithSizesClampsAtTheEdges) {
  auto y = run_one(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 1, 2] X) => (float[1, 1, 1, 4] Y)
    <int64[4] sz = {1, 1, 1, 4}>
    { Y = Resize<mode = "linear">(X, , , sz) })",
                   float_tensor({1, 1, 1, 2}, {0, 4}));
  ASSERT_OK(y);
  // x_in = (x_out + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
  EXPECT_EQ(floats_of((*y)[0]), (std::vector<float>{0, 1, 3, 4}));
}

TEST(Resize, LinearAlignCornersDownsample) {
  auto y = run_one(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[1, 5] X) => (float[1, 3] Y)
    <float[0] roi = {}, float[2] s = {1, 0.6}>
    { Y = Resize<mode = "linear", coordinate_transformation_mode = "align_corners">(X, roi, s) })",
                   float_tensor({1, 5}, {0, 1, 2, 3, 4}));
  ASSERT_OK(y);
  // Output length floor(5 * 0.6) = 3; x_in = x_out * 4 / (5 * 0.6 - 1) = 0, 2, 4 (up to the
  // float rounding of 0.6).
  const auto got = floats_of((*y)[0]);
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(got[i], 2.0f * i, 1e-5) << i;
}

TEST(Resize, RefusesUnsupportedModeAtPlanTime) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X, float[4] s) => (float[1, 1, 4, 4] Y)
    { Y = Resize<mode = "area">(X, , s) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("mode 'area' is not supported"), std::string::npos)
      << ex.status().message();
  m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 2, 2] X, float[4] s) => (float[1, 1, 4, 4] Y)
    { Y = Resize<coordinate_transformation_mode = "bogus">(X, , s) })");
  ASSERT_OK(m);
  ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("coordinate_transformation_mode 'bogus'"), std::string::npos)
      << ex.status().message();
}

TEST(Upsample, Opset7NearestWithScalesAttribute) {
  auto y = run_one(R"(
    <ir_version: 3, opset_import: ["" : 7]>
    g (float[1, 2] X) => (float[2, 6] Y)
    { Y = Upsample<mode = "nearest", scales = [2.0, 3.0]>(X) })",
                   float_tensor({1, 2}, {1, 2}));
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (ir::Dims{2, 6}));
  EXPECT_EQ(floats_of((*y)[0]), (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}));
}

std::vector<float> pad1d(const std::string& mode, std::vector<int64_t> pads, float value) {
  std::string text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[N] Y)
    <int64[2] p = {)" +
                     std::to_string(pads[0]) + ", " + std::to_string(pads[1]) +
                     R"(}, float v = {)" + std::to_string(value) + R"(}>
    { Y = Pad<mode = ")" +
                     mode + R"(">(X, p, v) })";
  auto y = run_one(text, float_tensor({3}, {1, 2, 3}));
  EXPECT_OK(y);
  return y.ok() ? floats_of((*y)[0]) : std::vector<float>{};
}

TEST(Pad, ConstantReflectEdgeAndNegativePads) {
  EXPECT_EQ(pad1d("constant", {2, 2}, 9), (std::vector<float>{9, 9, 1, 2, 3, 9, 9}));
  EXPECT_EQ(pad1d("reflect", {2, 2}, 0), (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(pad1d("edge", {2, 2}, 0), (std::vector<float>{1, 1, 1, 2, 3, 3, 3}));
  EXPECT_EQ(pad1d("constant", {-1, 1}, 0), (std::vector<float>{2, 3, 0}));
  EXPECT_EQ(pad1d("reflect", {-2, 0}, 0), (std::vector<float>{3}));
}

TEST(Pad, Opset2PadsAttributeOn2D) {
  auto y = run_one(R"(
    <ir_version: 3, opset_import: ["" : 2]>
    g (float[2, 2] X) => (float[3, 3] Y)
    { Y = Pad<pads = [1, 0, 0, 1], value = 7.0>(X) })",
                   float_tensor({2, 2}, {1, 2, 3, 4}));
  ASSERT_OK(y);
  EXPECT_EQ(floats_of((*y)[0]), (std::vector<float>{7, 7, 7, 1, 2, 7, 3, 4, 7}));
}

TEST(Pad, RefusesWrapMode) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X, int64[2] p) => (float[N] Y)
    { Y = Pad<mode = "wrap">(X, p) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("mode 'wrap' is not supported"), std::string::npos);
}

}  // namespace
}  // namespace compressor
