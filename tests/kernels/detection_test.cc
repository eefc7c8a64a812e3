// Kernels of the 'detection' family: NonMaxSuppression and RoiAlign. Expected selections come
// from IoUs computed here by hand; expected RoiAlign values from bilinear samples computed here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Tensor;

constexpr const char* kNms = R"(
  <ir_version: 8, opset_import: ["" : 11]>
  g (float[1, N, 4] boxes, float[1, C, N] scores, int64[1] max_out, float[1] iou, float[1] thr)
    => (int64[K, 3] sel)
  { sel = NonMaxSuppression(boxes, scores, max_out, iou, thr) })";

StatusOr<std::vector<int64_t>> nms(const std::vector<float>& boxes,
                                   const std::vector<float>& scores, int64_t classes,
                                   int64_t max_out, float iou, float thr) {
  const int64_t n = static_cast<int64_t>(boxes.size() / 4);
  COMPRESSOR_ASSIGN_OR_RETURN(
      Tensor t, run_text1(kNms, {{"boxes", make_tensor<float>({1, n, 4}, boxes)},
                                 {"scores", make_tensor<float>({1, classes, n}, scores)},
                                 {"max_out", make_tensor<int64_t>({1}, {max_out})},
                                 {"iou", make_tensor<float>({1}, {iou})},
                                 {"thr", make_tensor<float>({1}, {thr})}}));
  if (t.rank() != 2 || t.dims()[1] != 3) return internal_error("bad output shape");
  return values_of<int64_t>(t);
}

/// IoU of two [y1, x1, y2, x2] boxes, from the definition.
double iou_of(const float* a, const float* b) {
  const double ih = std::max(0.0, double(std::min(a[2], b[2]) - std::max(a[0], b[0])));
  const double iw = std::max(0.0, double(std::min(a[3], b[3]) - std::max(a[1], b[1])));
  const double inter = ih * iw;
  const double area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / (area_a + area_b - inter);
}

TEST(NonMaxSuppression, KeepsBoxesWhoseIouStaysUnderTheThreshold) {
  // Box 1 overlaps half of box 0; box 2 overlaps box 0 a little and box 1 more.
  const std::vector<float> boxes = {0, 0, 2, 2, 0, 1, 2, 3, 0, 1.8f, 2, 3.8f};
  const double iou01 = iou_of(&boxes[0], &boxes[4]);  // 2 / 6
  const double iou02 = iou_of(&boxes[0], &boxes[8]);  // 0.4 / 7.6
  const double iou12 = iou_of(&boxes[4], &boxes[8]);  // 2.4 / 5.6
  ASSERT_NEAR(iou01, 1.0 / 3.0, 1e-6);
  // Threshold between iou02 and iou01: box 1 goes, box 2 stays.
  auto sel = nms(boxes, {0.9f, 0.8f, 0.7f}, 1, 10, float((iou01 + iou02) / 2), 0);
  ASSERT_OK(sel);
  EXPECT_EQ(*sel, (std::vector<int64_t>{0, 0, 0, 0, 0, 2}));
  // Threshold above all IoUs: everything stays, ordered by score.
  sel = nms(boxes, {0.1f, 0.8f, 0.5f}, 1, 10, float(std::max({iou01, iou02, iou12}) + 0.01), 0);
  ASSERT_OK(sel);
  EXPECT_EQ(*sel, (std::vector<int64_t>{0, 0, 1, 0, 0, 2, 0, 0, 0}));
}

TEST(NonMaxSuppression, EqualScoresSelectTheLowerIndexFirst) {
  // Disjoint boxes, equal scores: order by index. Identical boxes: only the first survives.
  auto sel = nms({0, 0, 1, 1, 5, 5, 6, 6, 9, 9, 10, 10}, {0.5f, 0.5f, 0.5f}, 1, 10, 0.5f, 0);
  ASSERT_OK(sel);
  EXPECT_EQ(*sel, (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 0, 0, 2}));
  sel = nms({0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1}, {0.5f, 0.5f, 0.5f}, 1, 10, 0.5f, 0);
  ASSERT_OK(sel);
  EXPECT_EQ(*sel, (std::vector<int64_t>{0, 0, 0}));
}

TEST(NonMaxSuppression, ScoreThresholdMaxOutputAndClasses) {
  const std::vector<float> boxes = {0, 0, 1, 1, 5, 5, 6, 6, 9, 9, 10, 10};
  // Class 0 prefers box 2, class 1 prefers box 0; scores must exceed the threshold strictly.
  auto sel = nms(boxes, {0.1f, 0.4f, 0.9f, 0.9f, 0.3f, 0.3f}, 2, 2, 0.5f, 0.3f);
  ASSERT_OK(sel);
  EXPECT_EQ(*sel, (std::vector<int64_t>{0, 0, 2, 0, 0, 1, 0, 1, 0}));
  // max_output_boxes_per_class = 0: nothing.
  sel = nms(boxes, {0.1f, 0.4f, 0.9f}, 1, 0, 0.5f, 0);
  ASSERT_OK(sel);
  EXPECT_TRUE(sel->empty());
  // Every score under the threshold: nothing.
  sel = nms(boxes, {0.1f, 0.4f, 0.9f}, 1, 5, 0.5f, 0.95f);
  ASSERT_OK(sel);
  EXPECT_TRUE(sel->empty());
}

TEST(NonMaxSuppression, ManyClassesGiveTheSameResultOnSeveralThreads) {
  const int64_t n = 40, classes = 6;
  std::vector<float> boxes, scores;
  for (int64_t i = 0; i < n; ++i) {
    const float y = float(i % 7), x = float(i % 5) * 0.7f;
    boxes.insert(boxes.end(), {y, x, y + 2.0f, x + 1.5f});
  }
  for (int64_t i = 0; i < classes * n; ++i) scores.push_back(float((i * 37) % 101) / 101.0f);
  const std::vector<exec::NamedTensor> inputs = {
      {"boxes", make_tensor<float>({1, n, 4}, boxes)},
      {"scores", make_tensor<float>({1, classes, n}, scores)},
      {"max_out", make_tensor<int64_t>({1}, {5})},
      {"iou", make_tensor<float>({1}, {0.4f})},
      {"thr", make_tensor<float>({1}, {0.1f})}};
  auto one = run_text1(kNms, inputs, 1);
  auto three = run_text1(kNms, inputs, 3);
  ASSERT_OK(one);
  ASSERT_OK(three);
  EXPECT_TRUE(one->bitwise_equal(*three));
  // Rows are grouped by class in increasing order.
  const auto v = values_of<int64_t>(*one);
  for (size_t r = 1; r < v.size() / 3; ++r) EXPECT_LE(v[3 * (r - 1) + 1], v[3 * r + 1]);
}

TEST(NonMaxSuppression, AllButOneSuppressedAndNoBoxes) {
  // Four nested boxes, each IoU with the first > 0.5.
  auto sel = nms({0, 0, 10, 10, 0, 0, 9, 9, 0, 0, 9.5f, 9.5f, 1, 1, 10, 10},
                 {0.9f, 0.8f, 0.7f, 0.6f}, 1, 10, 0.5f, 0);
  ASSERT_OK(sel);
  EXPECT_EQ(*sel, (std::vector<int64_t>{0, 0, 0}));
  // Zero boxes: an empty [0, 3] result.
  auto t = run_text1(kNms, {{"boxes", make_tensor<float>({1, 0, 4}, {})},
                            {"scores", make_tensor<float>({1, 1, 0}, {})},
                            {"max_out", make_tensor<int64_t>({1}, {3})},
                            {"iou", make_tensor<float>({1}, {0.5f})},
                            {"thr", make_tensor<float>({1}, {0.0f})}});
  ASSERT_OK(t);
  EXPECT_EQ(t->dims(), (ir::Dims{0, 3}));
}

TEST(NonMaxSuppression, CenterPointBoxesAndFlippedCornersAgree) {
  // The same three boxes as centers/sizes and as flipped corner pairs.
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 10]>
    g (float[1, 3, 4] boxes, float[1, 1, 3] scores) => (int64[K, 3] sel)
    <int64[1] m = {5}, float[1] iou = {0.3}>
    { sel = NonMaxSuppression<center_point_box = 1>(boxes, scores, m, iou) })";
  const Tensor scores = make_tensor<float>({1, 1, 3}, {0.5f, 0.9f, 0.7f});
  // [x_center, y_center, w, h]: boxes 0 and 1 overlap with IoU 3.5 / 4.5; box 2 is apart.
  auto sel = run_text1(
      text, {{"boxes", make_tensor<float>({1, 3, 4}, {1, 1, 2, 2, 1.25f, 1, 2, 2, 8, 8, 2, 2})},
             {"scores", scores}});
  ASSERT_OK(sel);
  EXPECT_EQ(values_of<int64_t>(*sel), (std::vector<int64_t>{0, 0, 1, 0, 0, 2}));
  // Corners [y1, x1, y2, x2] of the same boxes, written in reversed order.
  const std::string corners = R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[1, 3, 4] boxes, float[1, 1, 3] scores) => (int64[K, 3] sel)
    <int64[1] m = {5}, float[1] iou = {0.3}>
    { sel = NonMaxSuppression(boxes, scores, m, iou) })";
  sel = run_text1(
      corners,
      {{"boxes", make_tensor<float>({1, 3, 4}, {2, 2, 0, 0, 2, 2.25f, 0, 0.25f, 9, 9, 7, 7})},
       {"scores", scores}});
  ASSERT_OK(sel);
  EXPECT_EQ(values_of<int64_t>(*sel), (std::vector<int64_t>{0, 0, 1, 0, 0, 2}));
}

TEST(NonMaxSuppression, OmittedOptionalInputsSelectNothing) {
  auto sel = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[1, 1, 4] boxes, float[1, 1, 1] scores) => (int64[K, 3] sel)
    { sel = NonMaxSuppression(boxes, scores) })",
                       {{"boxes", make_tensor<float>({1, 1, 4}, {0, 0, 1, 1})},
                        {"scores", make_tensor<float>({1, 1, 1}, {0.5f})}});
  ASSERT_OK(sel);
  EXPECT_EQ(sel->dims(), (ir::Dims{0, 3}));
}

TEST(NonMaxSuppression, RefusesBadAttributesAndShapes) {
  Status s = plan_status(R"(
    <ir_version: 8, opset_import: ["" : 11]>
    g (float[1, 1, 4] boxes, float[1, 1, 1] scores) => (int64[K, 3] sel)
    { sel = NonMaxSuppression<center_point_box = 2>(boxes, scores) })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("center_point_box must be 0 or 1"), std::string::npos) << s.message();
  auto r = run_text1(kNms, {{"boxes", make_tensor<float>({1, 2, 4}, std::vector<float>(8, 0))},
                            {"scores", make_tensor<float>({1, 1, 3}, {0, 0, 0})},
                            {"max_out", make_tensor<int64_t>({1}, {3})},
                            {"iou", make_tensor<float>({1}, {0.5f})},
                            {"thr", make_tensor<float>({1}, {0.0f})}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("scores must have shape"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// RoiAlign

/// Bilinear value of a H x W plane at (y, x), with the RoiAlign border rules.
double bilinear(const std::vector<float>& plane, int64_t h, int64_t w, double y, double x) {
  if (y < -1 || y > h || x < -1 || x > w) return 0;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = int64_t(y), x0 = int64_t(x), y1 = y0 + 1, x1 = x0 + 1;
  if (y0 >= h - 1) y = double(y0 = y1 = h - 1);
  if (x0 >= w - 1) x = double(x0 = x1 = w - 1);
  const double ly = y - y0, lx = x - x0;
  return (1 - ly) * (1 - lx) * plane[y0 * w + x0] + (1 - ly) * lx * plane[y0 * w + x1] +
         ly * (1 - lx) * plane[y1 * w + x0] + ly * lx * plane[y1 * w + x1];
}

std::vector<float> ramp_plane(int64_t h, int64_t w) {
  std::vector<float> p(static_cast<size_t>(h * w));
  for (int64_t i = 0; i < h * w; ++i) p[i] = float((i * 7) % 11) + 0.25f * float(i);
  return p;
}

TEST(RoiAlign, AverageOfBilinearSamplesHalfPixel) {
  const int64_t h = 5, w = 6;
  const auto plane = ramp_plane(h, w);
  const std::vector<float> roi = {0.7f, 1.2f, 4.9f, 3.6f};  // x1, y1, x2, y2
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[1, 1, 5, 6] X, float[1, 4] rois, int64[1] bi) => (float[1, 1, 2, 3] Y)
    { Y = RoiAlign<output_height = 2, output_width = 3, sampling_ratio = 2,
                   spatial_scale = 1.0>(X, rois, bi) })",
                     {{"X", make_tensor<float>({1, 1, h, w}, plane)},
                      {"rois", make_tensor<float>({1, 4}, roi)},
                      {"bi", make_tensor<int64_t>({1}, {0})}});
  ASSERT_OK(y);
  ASSERT_EQ(y->dims(), (ir::Dims{1, 1, 2, 3}));
  const auto got = values_of<float>(*y);
  // half_pixel: coordinates shift by -0.5; 2 x 2 samples at the centers of each bin's quarters.
  const double x0 = roi[0] - 0.5, y0 = roi[1] - 0.5;
  const double bw = (roi[2] - roi[0]) / 3.0, bh = (roi[3] - roi[1]) / 2.0;
  for (int ph = 0; ph < 2; ++ph) {
    for (int pw = 0; pw < 3; ++pw) {
      double sum = 0;
      for (int iy = 0; iy < 2; ++iy) {
        for (int ix = 0; ix < 2; ++ix) {
          sum += bilinear(plane, h, w, y0 + ph * bh + (iy + 0.5) * bh / 2,
                          x0 + pw * bw + (ix + 0.5) * bw / 2);
        }
      }
      EXPECT_NEAR(got[ph * 3 + pw], sum / 4, 1e-5) << ph << "," << pw;
    }
  }
}

TEST(RoiAlign, AdaptiveSamplingOutputHalfPixelAndBatchIndex) {
  const int64_t h = 4, w = 4;
  const auto plane0 = ramp_plane(h, w);
  std::vector<float> plane1(plane0.size());
  for (size_t i = 0; i < plane1.size(); ++i) plane1[i] = 3.0f - plane0[i];
  std::vector<float> x = plane0;
  x.insert(x.end(), plane1.begin(), plane1.end());
  // The RoI is 2.7 wide and 2.6 high once scaled by 0.5; over 1 x 2 bins the adaptive grid is
  // ceil(2.6 / 1) = 3 by ceil(2.7 / 2) = 2 samples. output_half_pixel means no shift.
  const std::vector<float> roi = {0.6f, 1.0f, 6.0f, 6.2f};
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[2, 1, 4, 4] X, float[1, 4] rois, int64[1] bi) => (float[1, 1, 1, 2] Y)
    { Y = RoiAlign<output_height = 1, output_width = 2, spatial_scale = 0.5,
                   coordinate_transformation_mode = "output_half_pixel">(X, rois, bi) })",
                     {{"X", make_tensor<float>({2, 1, h, w}, x)},
                      {"rois", make_tensor<float>({1, 4}, roi)},
                      {"bi", make_tensor<int64_t>({1}, {1})}});
  ASSERT_OK(y);
  const auto got = values_of<float>(*y);
  const double sx = roi[0] * 0.5, sy = roi[1] * 0.5;
  const double rw = (roi[2] - roi[0]) * 0.5, rh = (roi[3] - roi[1]) * 0.5;
  const int gh = int(std::ceil(rh / 1)), gw = int(std::ceil(rw / 2));
  ASSERT_EQ(gh, 3);
  ASSERT_EQ(gw, 2);
  for (int pw = 0; pw < 2; ++pw) {
    double sum = 0;
    for (int iy = 0; iy < gh; ++iy) {
      for (int ix = 0; ix < gw; ++ix) {
        sum += bilinear(plane1, h, w, sy + (iy + 0.5) * rh / gh,
                        sx + pw * rw / 2 + (ix + 0.5) * (rw / 2) / gw);
      }
    }
    EXPECT_NEAR(got[pw], sum / (gh * gw), 1e-5) << pw;
  }
}

TEST(RoiAlign, MaxModeTakesTheLargestWeightedCorner) {
  // One sample per bin at (0.5, 0.5) of a 2 x 2 plane: every corner weight is 1/4.
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[1, 1, 2, 2] X, float[1, 4] rois, int64[1] bi) => (float[1, 1, 1, 1] Y)
    { Y = RoiAlign<mode = "max", sampling_ratio = 1,
                   coordinate_transformation_mode = "output_half_pixel">(X, rois, bi) })",
                     {{"X", make_tensor<float>({1, 1, 2, 2}, {1, 2, 3, 8})},
                      {"rois", make_tensor<float>({1, 4}, {0, 0, 1, 1})},
                      {"bi", make_tensor<int64_t>({1}, {0})}});
  ASSERT_OK(y);
  EXPECT_FLOAT_EQ(values_of<float>(*y)[0], 8.0f / 4);
}

TEST(RoiAlign, NonFiniteRoiReadsZeroAndHugeAdaptiveGridIsRefused) {
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[1, 1, 2, 2] X, float[1, 4] rois, int64[1] bi) => (float[1, 1, 1, 1] Y)
    { Y = RoiAlign<sampling_ratio = 2>(X, rois, bi) })";
  auto y = run_text1(text, {{"X", make_tensor<float>({1, 1, 2, 2}, {1, 2, 3, 4})},
                            {"rois", make_tensor<float>({1, 4}, {NAN, 0, 1, 1})},
                            {"bi", make_tensor<int64_t>({1}, {0})}});
  ASSERT_OK(y);
  EXPECT_EQ(values_of<float>(*y)[0], 0.0f);
  // sampling_ratio 0 on a RoI of 1e9 pixels would take ~1e18 samples.
  y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[1, 1, 2, 2] X, float[1, 4] rois, int64[1] bi) => (float[1, 1, 1, 1] Y)
    { Y = RoiAlign(X, rois, bi) })",
                {{"X", make_tensor<float>({1, 1, 2, 2}, {1, 2, 3, 4})},
                 {"rois", make_tensor<float>({1, 4}, {0, 0, 1e9f, 1e9f})},
                 {"bi", make_tensor<int64_t>({1}, {0})}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("needs more than 2^26 samples"), std::string::npos)
      << y.status().message();
}

TEST(RoiAlign, RefusesBadModeAndBatchIndex) {
  Status s = plan_status(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[1, 1, 2, 2] X, float[1, 4] rois, int64[1] bi) => (float[1, 1, 1, 1] Y)
    { Y = RoiAlign<mode = "median">(X, rois, bi) })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("mode 'median' is not supported"), std::string::npos) << s.message();
  s = plan_status(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[1, 1, 2, 2] X, float[1, 4] rois, int64[1] bi) => (float[1, 1, 1, 1] Y)
    { Y = RoiAlign<coordinate_transformation_mode = "asymmetric">(X, rois, bi) })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("coordinate_transformation_mode 'asymmetric'"), std::string::npos);
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 16]>
    g (float[1, 1, 2, 2] X, float[1, 4] rois, int64[1] bi) => (float[1, 1, 1, 1] Y)
    { Y = RoiAlign(X, rois, bi) })",
                     {{"X", make_tensor<float>({1, 1, 2, 2}, {1, 2, 3, 4})},
                      {"rois", make_tensor<float>({1, 4}, {0, 0, 1, 1})},
                      {"bi", make_tensor<int64_t>({1}, {3})}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("batch index 3 is out of range"), std::string::npos);
}

}  // namespace
}  // namespace compressor
