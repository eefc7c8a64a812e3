// Conv, ConvTranspose and pooling kernels against loops written from the ONNX definitions:
// groups, depthwise, 1x1, strides, pads, dilations, auto_pad, 1-D/3-D, Indices, ceil_mode,
// count_include_pad, errors, and thread-count independence.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

#include "compressor/exec/executor.h"
#include "testing/kernel_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

std::vector<float> values(const ir::Tensor& t) {
  return {t.span<float>().begin(), t.span<float>().end()};
}

// Spatial sizes and window parameters padded to 3 axes (leading unit axes).
struct Win {
  std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, pe{0, 0, 0};
  std::array<int64_t, 3> out() const {
    std::array<int64_t, 3> o{};
    for (int a = 0; a < 3; ++a) o[a] = (in[a] + pb[a] + pe[a] - (k[a] - 1) * d[a] - 1) / s[a] + 1;
    return o;
  }
};

// Direct convolution from the definition: y[n, m, o] = b[m] + sum_{c in group, k} w * x.
std::vector<float> naive_conv(const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& b, int64_t n, int64_t c, int64_t m,
                              int64_t group, const Win& g) {
  const auto o = g.out();
  const int64_t cg = c / group, mg = m / group;
  std::vector<float> y(n * m * o[0] * o[1] * o[2]);
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t mi = 0; mi < m; ++mi)
      for (int64_t od = 0; od < o[0]; ++od)
        for (int64_t oh = 0; oh < o[1]; ++oh)
          for (int64_t ow = 0; ow < o[2]; ++ow) {
            double s = b.empty() ? 0 : b[mi];
            for (int64_t ci = 0; ci < cg; ++ci)
              for (int64_t kd = 0; kd < g.k[0]; ++kd)
                for (int64_t kh = 0; kh < g.k[1]; ++kh)
                  for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                    const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
                    const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
                    const int64_t iw = ow * g.s[2] - g.pb[2] + kw * g.d[2];
                    if (id < 0 || ih < 0 || iw < 0 || id >= g.in[0] || ih >= g.in[1] ||
                        iw >= g.in[2])
                      continue;
                    const int64_t xc = ni * c + (mi / mg) * cg + ci;
                    s += double(x[((xc * g.in[0] + id) * g.in[1] + ih) * g.in[2] + iw]) *
                         w[(((mi * cg + ci) * g.k[0] + kd) * g.k[1] + kh) * g.k[2] + kw];
                  }
            y[(((ni * m + mi) * o[0] + od) * o[1] + oh) * o[2] + ow] = static_cast<float>(s);
          }
  return y;
}

void expect_near_all(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol) << "element " << i;
  }
}

TEST(Conv, GroupedStridedPaddedDilated2D) {
  Win g;
  g.in = {1, 9, 8};
  g.k = {1, 3, 2};
  g.s = {1, 2, 1};
  g.d = {1, 1, 2};
  g.pb = {0, 1, 2};
  g.pe = {0, 2, 0};
  const auto x = random_floats(2 * 4 * 9 * 8, 1), w = random_floats(6 * 2 * 3 * 2, 2);
  const auto b = random_floats(6, 3);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 4, 9, 8] X, float[6, 2, 3, 2] W, float[6] B) => (float[2, 6, 5, 8] Y) {
      Y = Conv <group = 2, strides = [2, 1], dilations = [1, 2], pads = [1, 2, 2, 0]> (X, W, B)
    })",
                    {{"X", float_tensor({2, 4, 9, 8}, x)},
                     {"W", float_tensor({6, 2, 3, 2}, w)},
                     {"B", float_tensor({6}, b)}});
  ASSERT_OK(y);
  const auto o = g.out();
  EXPECT_EQ((*y)[0].dims(), (ir::Dims{2, 6, o[1], o[2]}));
  expect_near_all(values((*y)[0]), naive_conv(x, w, b, 2, 4, 6, 2, g), 1e-5);
}

TEST(Conv, DepthwiseAndMultiplier) {
  Win g;
  g.in = {1, 7, 7};
  g.k = {1, 3, 3};
  g.s = {1, 2, 2};
  g.pb = {0, 1, 1};
  g.pe = {0, 1, 1};
  const auto x = random_floats(1 * 3 * 49, 4), w = random_floats(3 * 9, 5), b = random_floats(3, 6);
  const auto w2 = random_floats(6 * 9, 7);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 3, 7, 7] X, float[3, 1, 3, 3] W, float[3] B, float[6, 1, 3, 3] W2) => (float[1, 3, 4, 4] Y, float[1, 6, 4, 4] Z) {
      Y = Conv <group = 3, strides = [2, 2], pads = [1, 1, 1, 1]> (X, W, B)
      Z = Conv <group = 3, strides = [2, 2], pads = [1, 1, 1, 1]> (X, W2)
    })",
                    {{"X", float_tensor({1, 3, 7, 7}, x)},
                     {"W", float_tensor({3, 1, 3, 3}, w)},
                     {"B", float_tensor({3}, b)},
                     {"W2", float_tensor({6, 1, 3, 3}, w2)}});
  ASSERT_OK(y);
  expect_near_all(values((*y)[0]), naive_conv(x, w, b, 1, 3, 3, 3, g), 1e-5);
  expect_near_all(values((*y)[1]), naive_conv(x, w2, {}, 1, 3, 6, 3, g), 1e-5);
}

// The depthwise path reads strided rows through per-stride phases: every stride, dilation and
// asymmetric padding must land on the same taps as the definition.
TEST(Conv, DepthwiseStridesDilationsAndPadsMatchTheDefinition) {
  struct Case {
    int64_t s, d, pb, pe;
  };
  for (const Case& k : {Case{1, 1, 1, 1}, Case{2, 1, 0, 1}, Case{3, 1, 2, 0}, Case{2, 2, 2, 2},
                        Case{3, 2, 1, 3}, Case{4, 1, 0, 0}}) {
    Win g;
    g.in = {1, 9, 11};
    g.k = {1, 3, 3};
    g.s = {1, k.s, k.s};
    g.d = {1, k.d, k.d};
    g.pb = {0, k.pb, k.pb};
    g.pe = {0, k.pe, k.pe};
    const auto o = g.out();
    const auto x = random_floats(2 * 4 * 99, 11), w = random_floats(4 * 9, 12),
               b = random_floats(4, 13);
    const std::string attrs = "group = 4, strides = [" + std::to_string(k.s) + ", " +
                              std::to_string(k.s) + "], dilations = [" + std::to_string(k.d) +
                              ", " + std::to_string(k.d) + "], pads = [" + std::to_string(k.pb) +
                              ", " + std::to_string(k.pb) + ", " + std::to_string(k.pe) + ", " +
                              std::to_string(k.pe) + "]";
    auto y = run_text(R"(
      <ir_version: 8, opset_import: ["" : 13]>
      g (float[2, 4, 9, 11] X, float[4, 1, 3, 3] W, float[4] B) => (float[2, 4, ?, ?] Y) {
        Y = Conv <)" + attrs +
                          R"(> (X, W, B)
      })",
                      {{"X", float_tensor({2, 4, 9, 11}, x)},
                       {"W", float_tensor({4, 1, 3, 3}, w)},
                       {"B", float_tensor({4}, b)}});
    ASSERT_OK(y);
    EXPECT_EQ((*y)[0].dims(), (ir::Dims{2, 4, o[1], o[2]})) << attrs;
    expect_near_all(values((*y)[0]), naive_conv(x, w, b, 2, 4, 4, 4, g), 1e-5);
  }
}

TEST(Conv, PointwiseWithBias) {
  Win g;
  g.in = {1, 5, 6};
  const auto x = random_floats(2 * 8 * 30, 8), w = random_floats(4 * 8, 9),
             b = random_floats(4, 10);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 8, 5, 6] X, float[4, 8, 1, 1] W, float[4] B) => (float[2, 4, 5, 6] Y) {
      Y = Conv (X, W, B)
    })",
                    {{"X", float_tensor({2, 8, 5, 6}, x)},
                     {"W", float_tensor({4, 8, 1, 1}, w)},
                     {"B", float_tensor({4}, b)}});
  ASSERT_OK(y);
  expect_near_all(values((*y)[0]), naive_conv(x, w, b, 2, 8, 4, 1, g), 1e-5);
}

TEST(Conv, OneAndThreeDimensional) {
  Win g1;
  g1.in = {1, 1, 11};
  g1.k = {1, 1, 3};
  g1.s = {1, 1, 2};
  g1.pb = {0, 0, 1};
  g1.pe = {0, 0, 1};
  Win g3;
  g3.in = {4, 5, 6};
  g3.k = {2, 3, 3};
  g3.d = {2, 1, 1};
  g3.pb = {1, 1, 1};
  g3.pe = {0, 1, 1};
  const auto x1 = random_floats(2 * 3 * 11, 11), w1 = random_floats(4 * 3 * 3, 12);
  const auto x3 = random_floats(2 * 120, 13), w3 = random_floats(3 * 2 * 18, 14);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3, 11] X1, float[4, 3, 3] W1, float[1, 2, 4, 5, 6] X3, float[3, 2, 2, 3, 3] W3) => (float[2, 4, 6] Y1, float[1, 3, 3, 5, 6] Y3) {
      Y1 = Conv <strides = [2], pads = [1, 1]> (X1, W1)
      Y3 = Conv <dilations = [2, 1, 1], pads = [1, 1, 1, 0, 1, 1]> (X3, W3)
    })",
                    {{"X1", float_tensor({2, 3, 11}, x1)},
                     {"W1", float_tensor({4, 3, 3}, w1)},
                     {"X3", float_tensor({1, 2, 4, 5, 6}, x3)},
                     {"W3", float_tensor({3, 2, 2, 3, 3}, w3)}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (ir::Dims{2, 4, 6}));
  EXPECT_EQ((*y)[1].dims(), (ir::Dims{1, 3, 3, 5, 6}));
  expect_near_all(values((*y)[0]), naive_conv(x1, w1, {}, 2, 3, 4, 1, g1), 1e-5);
  expect_near_all(values((*y)[1]), naive_conv(x3, w3, {}, 1, 2, 3, 1, g3), 1e-5);
}

TEST(Conv, AutoPadSameLowerPadsAtTheStart) {
  // in 6, k 3, stride 2: out 3, total pad 1 -> SAME_LOWER puts it at the start.
  Win g;
  g.in = {1, 6, 6};
  g.k = {1, 3, 3};
  g.s = {1, 2, 2};
  g.pb = {0, 1, 1};
  const auto x = random_floats(36, 15), w = random_floats(9, 16);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 6, 6] X, float[1, 1, 3, 3] W) => (float[1, 1, 3, 3] Y) {
      Y = Conv <auto_pad = "SAME_LOWER", strides = [2, 2]> (X, W)
    })",
                    {{"X", float_tensor({1, 1, 6, 6}, x)}, {"W", float_tensor({1, 1, 3, 3}, w)}});
  ASSERT_OK(y);
  expect_near_all(values((*y)[0]), naive_conv(x, w, {}, 1, 1, 1, 1, g), 1e-5);
}

TEST(Conv, UnknownAutoPadRefusedAtPlanTime) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 6, 6] X, float[1, 1, 3, 3] W) => (float[1, 1, 6, 6] Y) {
      Y = Conv <auto_pad = "SAME"> (X, W)
    })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find(
                "auto_pad 'SAME' is not supported (expected NOTSET, VALID, SAME_UPPER or "
                "SAME_LOWER)"),
            std::string::npos)
      << ex.status().message();
  EXPECT_NE(ex.status().message().find("Conv"), std::string::npos);
}

TEST(Conv, GroupMismatchIsAnError) {
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 5, 5] X, float[2, 4, 3, 3] W) => (float[1, 2, 3, 3] Y) {
      Y = Conv <group = 2> (X, W)
    })",
                    {{"X", float_tensor({1, 4, 5, 5}, random_floats(100, 1))},
                     {"W", float_tensor({2, 4, 3, 3}, random_floats(72, 2))}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("do not match group 2"), std::string::npos)
      << y.status().message();
}

TEST(Conv, EmptyBatch) {
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[0, 2, 5, 5] X, float[3, 2, 3, 3] W) => (float[0, 3, 3, 3] Y) { Y = Conv (X, W) })",
                    {{"X", float_tensor({0, 2, 5, 5}, {})},
                     {"W", float_tensor({3, 2, 3, 3}, random_floats(54, 2))}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (ir::Dims{0, 3, 3, 3}));
}

TEST(Conv, SameResultWithOneAndTwoThreads) {
  const char* text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 64, 56, 56] X, float[64, 64, 3, 3] W, float[64] B) => (float[1, 64, 56, 56] Y) {
      Y = Conv <pads = [1, 1, 1, 1]> (X, W, B)
    })";
  const auto x = random_floats(64 * 56 * 56, 21), w = random_floats(64 * 64 * 9, 22);
  const std::vector<exec::NamedTensor> in{{"X", float_tensor({1, 64, 56, 56}, x)},
                                          {"W", float_tensor({64, 64, 3, 3}, w)},
                                          {"B", float_tensor({64}, random_floats(64, 23))}};
  auto one = run_text(text, in, 1);
  auto two = run_text(text, in, 2);
  ASSERT_OK(one);
  ASSERT_OK(two);
  EXPECT_TRUE((*one)[0].bitwise_equal((*two)[0]));
}

// ConvTranspose from the definition: every input element scatters w * x into the output.
TEST(ConvTranspose, GroupsStridesPadsOutputPadding) {
  const int64_t n = 2, c = 4, mg = 3, group = 2, h = 4, wd = 3, kh = 3, kw = 2;
  const int64_t sh = 2, sw = 3, dh = 1, dw = 2, pt = 1, pl = 0, pbt = 2, pr = 1, oph = 1, opw = 0;
  const int64_t oh = sh * (h - 1) + oph + (kh - 1) * dh + 1 - pt - pbt;
  const int64_t ow = sw * (wd - 1) + opw + (kw - 1) * dw + 1 - pl - pr;
  const auto x = random_floats(n * c * h * wd, 31), w = random_floats(c * mg * kh * kw, 32);
  const auto b = random_floats(mg * group, 33);
  std::vector<float> want(n * mg * group * oh * ow);
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t m = 0; m < mg * group; ++m)
      for (int64_t i = 0; i < oh * ow; ++i) want[(ni * mg * group + m) * oh * ow + i] = b[m];
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t mi = 0; mi < mg; ++mi)
        for (int64_t ih = 0; ih < h; ++ih)
          for (int64_t iw = 0; iw < wd; ++iw)
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t e = 0; e < kw; ++e) {
                const int64_t yh = ih * sh - pt + a * dh, yw = iw * sw - pl + e * dw;
                if (yh < 0 || yw < 0 || yh >= oh || yw >= ow) continue;
                const int64_t m = (ci / (c / group)) * mg + mi;
                want[((ni * mg * group + m) * oh + yh) * ow + yw] +=
                    x[((ni * c + ci) * h + ih) * wd + iw] * w[((ci * mg + mi) * kh + a) * kw + e];
              }
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 4, 4, 3] X, float[4, 3, 3, 2] W, float[6] B) => (float[2, 6, 7, 8] Y) {
      Y = ConvTranspose <group = 2, strides = [2, 3], dilations = [1, 2], pads = [1, 0, 2, 1], output_padding = [1, 0]> (X, W, B)
    })",
                    {{"X", float_tensor({n, c, h, wd}, x)},
                     {"W", float_tensor({c, mg, kh, kw}, w)},
                     {"B", float_tensor({mg * group}, b)}});
  ASSERT_OK(y);
  EXPECT_EQ((*y)[0].dims(), (ir::Dims{n, mg * group, oh, ow}));
  expect_near_all(values((*y)[0]), want, 1e-5);
}

TEST(ConvTranspose, OutputShapeSetsPads) {
  // in 3, k 3, stride 2: full output 7; output_shape 6 -> one pad, which the spec puts at
  // the start unless auto_pad is SAME_UPPER.
  const auto x = random_floats(3, 41), w = random_floats(3, 42);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 3] X, float[1, 1, 3] W) => (float[1, 1, 6] Y) {
      Y = ConvTranspose <strides = [2], output_shape = [6]> (X, W)
    })",
                    {{"X", float_tensor({1, 1, 3}, x)}, {"W", float_tensor({1, 1, 3}, w)}});
  ASSERT_OK(y);
  std::vector<float> full(7, 0.0f);
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) full[i * 2 + k] += x[i] * w[k];
  expect_near_all(values((*y)[0]), std::vector<float>(full.begin() + 1, full.end()), 1e-6);
}

TEST(MaxPool, PadsDilationsAndIndices) {
  // 1x2x5x5, kernel 2x2, stride 2, dilation 2, pads 1 on every side.
  std::vector<float> x(2 * 25);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * i) * 10.0f;
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 5, 5] X) => (float[1, 2, 3, 3] Y, int64[1, 2, 3, 3] I) {
      Y, I = MaxPool <kernel_shape = [2, 2], strides = [2, 2], dilations = [2, 2], pads = [1, 1, 1, 1]> (X)
    })",
                    {{"X", float_tensor({1, 2, 5, 5}, x)}});
  ASSERT_OK(y);
  ASSERT_EQ((*y)[0].dims(), (ir::Dims{1, 2, 3, 3}));
  for (int c = 0; c < 2; ++c) {
    for (int oh = 0; oh < 3; ++oh) {
      for (int ow = 0; ow < 3; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int64_t at = -1;
        for (int a = 0; a < 2; ++a) {
          for (int e = 0; e < 2; ++e) {
            const int ih = oh * 2 - 1 + a * 2, iw = ow * 2 - 1 + e * 2;
            if (ih < 0 || iw < 0 || ih >= 5 || iw >= 5) continue;
            const int64_t idx = c * 25 + ih * 5 + iw;
            if (x[idx] > best) {
              best = x[idx];
              at = idx;
            }
          }
        }
        const int o = (c * 3 + oh) * 3 + ow;
        EXPECT_EQ((*y)[0].span<float>()[o], best);
        EXPECT_EQ((*y)[1].span<int64_t>()[o], at);
      }
    }
  }
}

TEST(MaxPool, CeilModeAndColumnMajorIndices) {
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = static_cast<float>((i * 7) % 16);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 4, 4] X) => (float[1, 1, 2, 2] Y, int64[1, 1, 2, 2] I) {
      Y, I = MaxPool <kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1, storage_order = 1> (X)
    })",
                    {{"X", float_tensor({1, 1, 4, 4}, x)}});
  ASSERT_OK(y);
  ASSERT_EQ((*y)[0].dims(), (ir::Dims{1, 1, 2, 2}));
  for (int oh = 0; oh < 2; ++oh) {
    for (int ow = 0; ow < 2; ++ow) {
      float best = -1;
      int64_t at = -1;
      for (int ih = oh * 2; ih < std::min(4, oh * 2 + 3); ++ih) {
        for (int iw = ow * 2; iw < std::min(4, ow * 2 + 3); ++iw) {
          if (x[ih * 4 + iw] > best) {
            best = x[ih * 4 + iw];
            at = iw * 4 + ih;
          }
        }
      }
      EXPECT_EQ((*y)[0].span<float>()[oh * 2 + ow], best);
      EXPECT_EQ((*y)[1].span<int64_t>()[oh * 2 + ow], at);
    }
  }
}

TEST(MaxPool, MissingKernelShapeRefused) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 4, 4] X) => (float[1, 1, 4, 4] Y) { Y = MaxPool (X) })");
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("kernel_shape is required"), std::string::npos)
      << ex.status().message();
}

TEST(AveragePool, CountIncludePadAndThreeD) {
  // 1-D view of the divisor rule: in 4, k 3, stride 1, pads 1 -> windows at the borders have
  // 2 real elements out of 3.
  const std::vector<float> x{1, 2, 3, 4};
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 1, 4] X, float[1, 1, 2, 2, 2] Z) => (float[1, 1, 4] A, float[1, 1, 4] B, float[1, 1, 1, 1, 1] C) {
      A = AveragePool <kernel_shape = [3], pads = [1, 1]> (X)
      B = AveragePool <kernel_shape = [3], pads = [1, 1], count_include_pad = 1> (X)
      C = AveragePool <kernel_shape = [2, 2, 2]> (Z)
    })",
                    {{"X", float_tensor({1, 1, 4}, x)},
                     {"Z", float_tensor({1, 1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}});
  ASSERT_OK(y);
  expect_near_all(values((*y)[0]), {1.5f, 2.0f, 3.0f, 3.5f}, 1e-6);
  expect_near_all(values((*y)[1]), {1.0f, 2.0f, 3.0f, 7.0f / 3.0f}, 1e-6);
  expect_near_all(values((*y)[2]), {4.5f}, 1e-6);
}

TEST(GlobalPool, AverageAndMax) {
  const auto x = random_floats(2 * 3 * 4 * 5, 51);
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3, 4, 5] X) => (float[2, 3, 1, 1] A, float[2, 3, 1, 1] M) {
      A = GlobalAveragePool (X)
      M = GlobalMaxPool (X)
    })",
                    {{"X", float_tensor({2, 3, 4, 5}, x)}});
  ASSERT_OK(y);
  ASSERT_EQ((*y)[0].dims(), (ir::Dims{2, 3, 1, 1}));
  for (int p = 0; p < 6; ++p) {
    double s = 0;
    float mx = -1e30f;
    for (int i = 0; i < 20; ++i) {
      s += x[p * 20 + i];
      mx = std::max(mx, x[p * 20 + i]);
    }
    EXPECT_NEAR((*y)[0].span<float>()[p], s / 20, 1e-6);
    EXPECT_EQ((*y)[1].span<float>()[p], mx);
  }
}

// GlobalAveragePool sums each plane in ONNX Runtime's order (four running sums over i, i + 4,
// ..., combined as (s0 + s2) + (s1 + s3), then the tail one by one, then one division), so a
// quantized model's mean rounds to the same integer as in ONNX Runtime. Values of mixed
// magnitude make the float result depend on the order; 23 elements per plane leave a tail of 3.
TEST(ConvPool, GlobalAveragePoolSumsInOnnxRuntimesOrder) {
  std::vector<float> x(2 * 23);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(0.7f * float(i)) * (i % 3 == 0 ? 3e4f : 1.0f) + 1e-3f * float(i);
  }
  auto y = run_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 23] X) => (float[1, 2, 1] A) {
      A = GlobalAveragePool (X)
    })",
                    {{"X", float_tensor({1, 2, 23}, x)}});
  ASSERT_OK(y);
  bool order_matters = false;
  for (int p = 0; p < 2; ++p) {
    const float* v = x.data() + p * 23;
    float s[4] = {0, 0, 0, 0};
    for (int i = 0; i < 20; ++i) s[i % 4] += v[i];
    float sum = (s[0] + s[2]) + (s[1] + s[3]);
    for (int i = 20; i < 23; ++i) sum += v[i];
    EXPECT_EQ((*y)[0].span<float>()[p], sum / 23.0f) << p;
    float sequential = 0;
    for (int i = 0; i < 23; ++i) sequential += v[i];
    order_matters = order_matters || sequential / 23.0f != sum / 23.0f;
  }
  EXPECT_TRUE(order_matters) << "the values do not tell the summation orders apart";
}

}  // namespace
}  // namespace compressor
