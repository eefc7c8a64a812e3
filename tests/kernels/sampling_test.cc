// Kernels of the 'sampling' family: GridSample and MaxUnpool. Expected values are computed here
// from the definitions: grid values to pixel coordinates, then bilinear, nearest or bicubic
// weights over the input; MaxUnpool scatters by linear index.
#include <gtest/gtest.h>

#include <cmath>

#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Tensor;

std::string grid_sample_model(const std::string& attrs) {
  return R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[N, C, H, W] X, float[N, Ho, Wo, 2] grid) => (float[N, C, Ho, Wo] Y)
    { Y = GridSample)" +
         (attrs.empty() ? "" : "<" + attrs + ">") + "(X, grid) }";
}

StatusOr<std::vector<float>> sample(const std::string& attrs, const Tensor& x,
                                    const std::vector<float>& points) {
  const int64_t n = static_cast<int64_t>(points.size() / 2);
  COMPRESSOR_ASSIGN_OR_RETURN(
      Tensor y, run_text1(grid_sample_model(attrs),
                          {{"X", x}, {"grid", make_tensor<float>({1, 1, n, 2}, points)}}));
  return values_of<float>(y);
}

// A 3 x 4 input with distinct values.
const std::vector<float> kPlane = {1, 2, 4, 7, 11, 16, 22, 29, 37, 46, 56, 67};
constexpr int64_t kH = 3, kW = 4;

double at(int64_t y, int64_t x) {
  if (y < 0 || y >= kH || x < 0 || x >= kW) return 0;  // zeros padding
  return kPlane[y * kW + x];
}

/// Pixel coordinate of a normalized grid value along an axis of `len`.
double unnormalize(double g, int64_t len, bool align) {
  return align ? (g + 1) / 2 * (len - 1) : ((g + 1) * len - 1) / 2;
}

double bilinear_ref(double y, double x) {
  const double y0 = std::floor(y), x0 = std::floor(x);
  const double ly = y - y0, lx = x - x0;
  const int64_t iy = int64_t(y0), ix = int64_t(x0);
  return (1 - ly) * (1 - lx) * at(iy, ix) + (1 - ly) * lx * at(iy, ix + 1) +
         ly * (1 - lx) * at(iy + 1, ix) + ly * lx * at(iy + 1, ix + 1);
}

TEST(GridSample, BilinearZerosPaddingBothCornerConventions) {
  const Tensor x = make_tensor<float>({1, 1, kH, kW}, kPlane);
  // Inside, on the edge, partly outside and fully outside the input.
  const std::vector<float> pts = {0.1f, -0.3f, -1.0f, 1.0f, 0.95f, 0.9f, -1.2f, 0.0f, 3.0f, 3.0f};
  for (int align = 0; align < 2; ++align) {
    auto got = sample("align_corners = " + std::to_string(align), x, pts);
    ASSERT_OK(got);
    for (size_t i = 0; i < pts.size() / 2; ++i) {
      const double px = unnormalize(pts[2 * i], kW, align),
                   py = unnormalize(pts[2 * i + 1], kH, align);
      EXPECT_NEAR((*got)[i], bilinear_ref(py, px), 1e-4) << "align " << align << " point " << i;
    }
  }
  // Far outside: zero.
  auto got = sample("", x, {3.0f, 3.0f});
  ASSERT_OK(got);
  EXPECT_EQ((*got)[0], 0.0f);
}

TEST(GridSample, BorderAndReflectionPaddingOfOutOfRangePoints) {
  const Tensor x = make_tensor<float>({1, 1, kH, kW}, kPlane);
  // x = -5 (far left), y = 0.2: border clamps x to pixel 0.
  const double py = unnormalize(0.2, kH, false);
  auto got = sample("padding_mode = \"border\"", x, {-5.0f, 0.2f});
  ASSERT_OK(got);
  EXPECT_NEAR((*got)[0], bilinear_ref(py, 0.0), 1e-4);
  // Reflection (align_corners = 0) reflects about -0.5 and W - 0.5 = 3.5: x = 1.5 (grid 0.0)
  // is inside; grid 1.5 gives x = 4.5, reflected to 2.5.
  got = sample("padding_mode = \"reflection\"", x, {1.5f, 0.2f});
  ASSERT_OK(got);
  EXPECT_NEAR((*got)[0], bilinear_ref(py, 2.5), 1e-4);
  // Reflection with align_corners = 1 reflects about 0 and W - 1 = 3: grid -1.5 gives x = -0.75,
  // reflected to 0.75.
  got = sample("padding_mode = \"reflection\", align_corners = 1", x, {-1.5f, 0.0f});
  ASSERT_OK(got);
  EXPECT_NEAR((*got)[0], bilinear_ref(1.0, 0.75), 1e-4);
}

TEST(GridSample, NearestRoundsHalfToEven) {
  const Tensor x = make_tensor<float>({1, 1, kH, kW}, kPlane);
  // align_corners = 1 on W = 4: grid -1/3 -> x = 1.0; grid 0 -> x = 1.5 -> 2; grid -2/3 -> 0.5 ->
  // 0.
  auto got = sample("mode = \"nearest\", align_corners = 1", x,
                    {-1.0f / 3, 0.0f, 0.0f, 0.0f, -2.0f / 3, 1.0f});
  ASSERT_OK(got);
  EXPECT_EQ(*got, (std::vector<float>{float(at(1, 1)), float(at(1, 2)), float(at(2, 0))}));
}

TEST(GridSample, BicubicMatchesTheCubicConvolutionSum) {
  const Tensor x = make_tensor<float>({1, 1, kH, kW}, kPlane);
  const std::vector<float> pts = {0.1f, -0.2f, -0.9f, 0.7f};
  auto got = sample("mode = \"bicubic\"", x, pts);
  ASSERT_OK(got);
  // Keys' cubic kernel with a = -0.75.
  auto kernel = [](double d) {
    const double a = -0.75;
    d = std::abs(d);
    if (d <= 1) return (a + 2) * d * d * d - (a + 3) * d * d + 1;
    if (d < 2) return a * d * d * d - 5 * a * d * d + 8 * a * d - 4 * a;
    return 0.0;
  };
  for (size_t i = 0; i < 2; ++i) {
    const double px = unnormalize(pts[2 * i], kW, false),
                 py = unnormalize(pts[2 * i + 1], kH, false);
    double want = 0;
    for (int64_t yy = int64_t(std::floor(py)) - 1; yy <= int64_t(std::floor(py)) + 2; ++yy) {
      for (int64_t xx = int64_t(std::floor(px)) - 1; xx <= int64_t(std::floor(px)) + 2; ++xx) {
        want += kernel(py - yy) * kernel(px - xx) * at(yy, xx);
      }
    }
    EXPECT_NEAR((*got)[i], want, 1e-4) << i;
  }
}

TEST(GridSample, EveryChannelAndBatchUsesItsOwnGrid) {
  // Two batches, two channels; batch 1's grid picks a different pixel.
  std::vector<float> xs(2 * 2 * 2 * 2);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = float(i);
  // align_corners = 1 on 2 x 2: grid -1 -> pixel 0, grid 1 -> pixel 1.
  auto y = run_text1(grid_sample_model("mode = \"nearest\", align_corners = 1"),
                     {{"X", make_tensor<float>({2, 2, 2, 2}, xs)},
                      {"grid", make_tensor<float>({2, 1, 1, 2}, {1, -1, -1, 1})}});
  ASSERT_OK(y);
  // Batch 0 reads (y 0, x 1) = offset 1; batch 1 reads (y 1, x 0) = offset 2.
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{1, 5, 10, 14}));
}

TEST(GridSample, NonFiniteGridValuesReadZeroOrTheBorder) {
  const Tensor x = make_tensor<float>({1, 1, kH, kW}, kPlane);
  const float inf = INFINITY;
  for (const char* attrs : {"", "mode = \"bicubic\"", "mode = \"nearest\""}) {
    auto got = sample(attrs, x, {NAN, 0.0f, inf, 0.0f, -inf, 1e30f});
    ASSERT_OK(got);
    EXPECT_EQ(*got, (std::vector<float>{0, 0, 0})) << attrs;
  }
  // Border padding clamps +-inf to the last and first pixels; NaN still reads zero.
  auto got =
      sample("padding_mode = \"border\", mode = \"nearest\"", x, {inf, -inf, -inf, inf, NAN, 0.0f});
  ASSERT_OK(got);
  EXPECT_EQ(*got, (std::vector<float>{float(at(0, kW - 1)), float(at(kH - 1, 0)), 0.0f}));
}

TEST(GridSample, RefusesUnsupportedAttributes) {
  for (const char* attrs : {"mode = \"area\"", "padding_mode = \"wrap\"", "align_corners = 2"}) {
    Status s = plan_status(grid_sample_model(attrs));
    EXPECT_FALSE(s.ok()) << attrs;
  }
  Status s = plan_status(grid_sample_model("mode = \"area\""));
  EXPECT_NE(s.message().find("mode 'area' is not supported"), std::string::npos) << s.message();
}

// ---------------------------------------------------------------------------------------------
// MaxUnpool

TEST(MaxUnpool, ScattersToTheInferredShape) {
  // 1-D: kernel 3, stride 2, pads (1, 0): output (3 - 1) * 2 - 1 + 3 = 6.
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[1, 2, 3] X, int64[1, 2, 3] I) => (float[1, 2, 6] Y)
    { Y = MaxUnpool<kernel_shape = [3], strides = [2], pads = [1, 0]>(X, I) })",
                     {{"X", make_tensor<float>({1, 2, 3}, {1, 2, 3, 4, 5, 6})},
                      {"I", make_tensor<int64_t>({1, 2, 3}, {0, 3, 5, 6, 7, 11})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (ir::Dims{1, 2, 6}));
  std::vector<float> want(12, 0);
  const std::vector<int64_t> idx = {0, 3, 5, 6, 7, 11};
  for (size_t i = 0; i < idx.size(); ++i) want[idx[i]] = float(i + 1);
  EXPECT_EQ(values_of<float>(*y), want);
}

TEST(MaxUnpool, OutputShapeInputSetsTheShapeIndicesAreLinearInIt) {
  // MaxPool of a 5 x 5 plane with a 2 x 2 window, stride 2, gives 2 x 2 values whose indices
  // are linear in the 5 x 5 plane; unpooling with output_shape = (1, 1, 5, 5) puts them back.
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 9]>
    g (float[1, 1, 2, 2] X, int64[1, 1, 2, 2] I, int64[4] S) => (float[1, 1, 5, 5] Y)
    { Y = MaxUnpool<kernel_shape = [2, 2], strides = [2, 2]>(X, I, S) })",
                     {{"X", make_tensor<float>({1, 1, 2, 2}, {5, 6, 7, 8})},
                      {"I", make_tensor<int64_t>({1, 1, 2, 2}, {6, 8, 16, 18})},
                      {"S", make_tensor<int64_t>({4}, {1, 1, 5, 5})}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (ir::Dims{1, 1, 5, 5}));
  std::vector<float> want(25, 0);
  want[6] = 5;
  want[8] = 6;
  want[16] = 7;
  want[18] = 8;
  EXPECT_EQ(values_of<float>(*y), want);
}

TEST(MaxUnpool, RefusesMissingKernelAndOutOfRangeIndex) {
  Status s = plan_status(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[1, 1, 2] X, int64[1, 1, 2] I) => (float[1, 1, 4] Y)
    { Y = MaxUnpool(X, I) })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("kernel_shape is required"), std::string::npos) << s.message();
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[1, 1, 2] X, int64[1, 1, 2] I) => (float[1, 1, 4] Y)
    { Y = MaxUnpool<kernel_shape = [2], strides = [2]>(X, I) })",
                     {{"X", make_tensor<float>({1, 1, 2}, {1, 2})},
                      {"I", make_tensor<int64_t>({1, 1, 2}, {1, 4})}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("index 4 is out of range"), std::string::npos)
      << y.status().message();
}

}  // namespace
}  // namespace compressor
