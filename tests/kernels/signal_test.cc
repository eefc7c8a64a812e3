// Kernels of the 'signal' family: DFT, STFT, the cosine windows and MelWeightMatrix. Expected
// spectra are the naive O(n^2) DFT sums computed here, for power-of-two, short and long other
// lengths (the three transform paths); windows come from their cosine-sum formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>

#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Tensor;
using Complex = std::complex<double>;

/// sum_j x[j] exp(-+2 pi i j k / n) over the first min(len, n) values (zero-padded to n).
std::vector<Complex> naive_dft(const std::vector<Complex>& x, int64_t n, bool inverse) {
  std::vector<Complex> out(static_cast<size_t>(n));
  const double sign = inverse ? 1.0 : -1.0;
  for (int64_t k = 0; k < n; ++k) {
    Complex acc(0);
    for (int64_t j = 0; j < std::min<int64_t>(n, x.size()); ++j) {
      acc += x[j] * std::polar(1.0, sign * 2 * std::numbers::pi * double(j * k % n) / double(n));
    }
    out[k] = inverse ? acc / double(n) : acc;
  }
  return out;
}

std::vector<double> test_signal(int64_t n, int seed) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = std::sin(0.37 * double(i * seed) + 0.1) + 0.01 * double(i % 7);
  return v;
}

std::string dft_model(const std::string& attrs, int64_t len, int64_t comps, bool with_length) {
  const std::string t = "double[1, " + std::to_string(len) + ", " + std::to_string(comps) + "] x";
  return R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g ()" +
         t + (with_length ? ", int64 n" : "") +
         R"() => (double[A, B, 2] y)
    { y = DFT)" +
         (attrs.empty() ? "" : "<" + attrs + ">") + "(x" + (with_length ? ", n" : "") + ") }";
}

void expect_spectrum(const Tensor& y, const std::vector<Complex>& want, double tol) {
  const auto got = values_of<double>(y);
  ASSERT_EQ(got.size(), 2 * want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_NEAR(got[2 * k], want[k].real(), tol) << "bin " << k;
    EXPECT_NEAR(got[2 * k + 1], want[k].imag(), tol) << "bin " << k;
  }
}

TEST(DFT, RealInputMatchesTheNaiveSumOnEveryPath) {
  // 1 (trivial), 8 and 256 (radix 2), 12 (direct sum), 100 and 131 (chirp convolution).
  for (int64_t n : {1, 8, 12, 100, 131, 256}) {
    const auto sig = test_signal(n, 3);
    auto y = run_text1(dft_model("", n, 1, false), {{"x", make_tensor<double>({1, n, 1}, sig)}});
    ASSERT_OK(y);
    EXPECT_EQ(y->dims(), (ir::Dims{1, n, 2}));
    std::vector<Complex> x(sig.begin(), sig.end());
    expect_spectrum(*y, naive_dft(x, n, false), 1e-9 * double(n));
  }
}

TEST(DFT, ResultsDoNotDependOnTheThreadCount) {
  const int64_t n = 100;
  std::vector<float> v(static_cast<size_t>(8 * n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.1f * float(i));
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[8, 100, 1] x) => (float[8, 100, 2] y)
    { y = DFT(x) })";
  auto one = run_text1(text, {{"x", make_tensor<float>({8, n, 1}, v)}}, 1);
  auto four = run_text1(text, {{"x", make_tensor<float>({8, n, 1}, v)}}, 4);
  ASSERT_OK(one);
  ASSERT_OK(four);
  EXPECT_TRUE(one->bitwise_equal(*four));
}

TEST(DFT, ComplexInverseAndOnesided) {
  const int64_t n = 90;
  const auto re = test_signal(n, 5), im = test_signal(n, 2);
  std::vector<double> inter;
  std::vector<Complex> x;
  for (int64_t i = 0; i < n; ++i) {
    inter.push_back(re[i]);
    inter.push_back(im[i]);
    x.emplace_back(re[i], im[i]);
  }
  auto y = run_text1(dft_model("inverse = 1", n, 2, false),
                     {{"x", make_tensor<double>({1, n, 2}, inter)}});
  ASSERT_OK(y);
  expect_spectrum(*y, naive_dft(x, n, true), 1e-10);
  // onesided on a real input keeps bins 0 .. n/2.
  y = run_text1(dft_model("onesided = 1", n, 1, false),
                {{"x", make_tensor<double>({1, n, 1}, re)}});
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (ir::Dims{1, n / 2 + 1, 2}));
  auto full = naive_dft(std::vector<Complex>(re.begin(), re.end()), n, false);
  full.resize(n / 2 + 1);
  expect_spectrum(*y, full, 1e-9);
}

TEST(DFT, DftLengthPadsOrTruncates) {
  const int64_t len = 10;
  const auto sig = test_signal(len, 7);
  const std::vector<Complex> x(sig.begin(), sig.end());
  for (int64_t n : {6, 16, 70}) {
    auto y = run_text1(dft_model("", len, 1, true), {{"x", make_tensor<double>({1, len, 1}, sig)},
                                                     {"n", make_tensor<int64_t>({}, {n})}});
    ASSERT_OK(y);
    EXPECT_EQ(y->dims(), (ir::Dims{1, n, 2}));
    expect_spectrum(*y, naive_dft(x, n, false), 1e-9);
  }
}

TEST(DFT, TransformsAlongTheChosenAxis) {
  // [1, 3, 4, 1] float: axis 1 transforms the columns (length 3), axis 2 (= -1) the rows.
  std::vector<float> v(12);
  for (int i = 0; i < 12; ++i) v[i] = float(i * i % 5) - 1.5f;
  for (int axis : {1, 2, -1}) {
    auto y = run_text1(R"(
      <ir_version: 8, opset_import: ["" : 17]>
      g (float[1, 3, 4, 1] x) => (float[1, 3, 4, 2] y)
      { y = DFT<axis = )" + std::to_string(axis) +
                           R"(>(x) })",
                       {{"x", make_tensor<float>({1, 3, 4, 1}, v)}});
    ASSERT_OK(y);
    const auto got = values_of<float>(*y);
    const bool rows = axis != 1;
    for (int line = 0; line < (rows ? 3 : 4); ++line) {
      std::vector<Complex> x;
      for (int j = 0; j < (rows ? 4 : 3); ++j)
        x.emplace_back(v[rows ? line * 4 + j : j * 4 + line]);
      const auto want = naive_dft(x, static_cast<int64_t>(x.size()), false);
      for (size_t k = 0; k < want.size(); ++k) {
        const size_t at = rows ? line * 4 + k : k * 4 + line;
        EXPECT_NEAR(got[2 * at], want[k].real(), 1e-5) << axis << " " << line << " " << k;
        EXPECT_NEAR(got[2 * at + 1], want[k].imag(), 1e-5) << axis << " " << line << " " << k;
      }
    }
  }
}

TEST(DFT, RefusalsAtPlanAndRunTime) {
  Status s = plan_status(dft_model("inverse = 1, onesided = 1", 4, 2, false));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("onesided inverse DFT is not supported"), std::string::npos)
      << s.message();
  auto y = run_text1(dft_model("onesided = 1", 4, 2, false),
                     {{"x", make_tensor<double>({1, 4, 2}, std::vector<double>(8, 1.0))}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("onesided output needs a real input"), std::string::npos);
  y = run_text1(dft_model("axis = 2", 4, 1, false),
                {{"x", make_tensor<double>({1, 4, 1}, std::vector<double>(4, 1.0))}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("axis 2 is out of range"), std::string::npos)
      << y.status().message();
}

// ---------------------------------------------------------------------------------------------
// STFT

TEST(STFT, FramesAreWindowedDftsOfTheSignal) {
  const int64_t len = 50, frame = 12, step = 7;
  const auto sig = test_signal(len, 4);
  std::vector<float> sigf(sig.begin(), sig.end()), window(frame);
  for (int64_t i = 0; i < frame; ++i) window[i] = 0.5f + 0.4f * std::cos(0.3f * float(i));
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (float[2, 50, 1] x, int64 step, float[12] w) => (float[2, F, B, 2] y)
    { y = STFT(x, step, w) })",
                     {{"x", make_tensor<float>({2, len, 1},
                                               [&] {
                                                 auto two = sigf;
                                                 for (float v : sigf) two.push_back(-2 * v);
                                                 return two;
                                               }())},
                      {"step", make_tensor<int64_t>({}, {step})},
                      {"w", make_tensor<float>({frame}, window)}});
  ASSERT_OK(y);
  const int64_t frames = (len - frame) / step + 1, bins = frame / 2 + 1;
  ASSERT_EQ(y->dims(), (ir::Dims{2, frames, bins, 2}));
  const auto got = values_of<float>(*y);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      std::vector<Complex> x;
      for (int64_t j = 0; j < frame; ++j) {
        x.emplace_back(double(sigf[f * step + j]) * (b == 0 ? 1 : -2) * window[j]);
      }
      const auto want = naive_dft(x, frame, false);
      for (int64_t k = 0; k < bins; ++k) {
        const size_t at = static_cast<size_t>(((b * frames + f) * bins + k) * 2);
        EXPECT_NEAR(got[at], want[k].real(), 1e-4) << b << " " << f << " " << k;
        EXPECT_NEAR(got[at + 1], want[k].imag(), 1e-4) << b << " " << f << " " << k;
      }
    }
  }
}

TEST(STFT, FrameLengthWithoutWindowAndTwoSidedOutput) {
  const auto sig = test_signal(20, 6);
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (double[1, 20, 1] x, int64 step, int64 len) => (double[1, F, B, 2] y)
    { y = STFT<onesided = 0>(x, step, , len) })",
                     {{"x", make_tensor<double>({1, 20, 1}, sig)},
                      {"step", make_tensor<int64_t>({}, {5})},
                      {"len", make_tensor<int64_t>({}, {8})}});
  ASSERT_OK(y);
  ASSERT_EQ(y->dims(), (ir::Dims{1, 3, 8, 2}));
  const auto got = values_of<double>(*y);
  for (int64_t f = 0; f < 3; ++f) {
    const auto want =
        naive_dft(std::vector<Complex>(sig.begin() + f * 5, sig.begin() + f * 5 + 8), 8, false);
    for (int64_t k = 0; k < 8; ++k) {
      EXPECT_NEAR(got[(f * 8 + k) * 2], want[k].real(), 1e-10);
      EXPECT_NEAR(got[(f * 8 + k) * 2 + 1], want[k].imag(), 1e-10);
    }
  }
  // A window whose length differs from frame_length is refused.
  auto bad = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (double[1, 20, 1] x, int64 step, double[6] w, int64 len) => (double[1, F, B, 2] y)
    { y = STFT(x, step, w, len) })",
                       {{"x", make_tensor<double>({1, 20, 1}, sig)},
                        {"step", make_tensor<int64_t>({}, {5})},
                        {"w", make_tensor<double>({6}, std::vector<double>(6, 1.0))},
                        {"len", make_tensor<int64_t>({}, {8})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("differs from the window length"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Windows and MelWeightMatrix

std::vector<double> run_window(const std::string& op, const std::string& attrs, int64_t size) {
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (int64 size) => (double[N] y)
    { y = )" + op + "<" + attrs +
                         R"(>(size) })",
                     {{"size", make_tensor<int64_t>({}, {size})}});
  EXPECT_OK(y);
  return y.ok() ? values_of<double>(*y) : std::vector<double>{};
}

TEST(Windows, CosineSumsPeriodicAndSymmetric) {
  const double pi = std::numbers::pi;
  struct Case {
    const char* op;
    double a0, a1, a2;
  };
  for (const Case& c :
       {Case{"HannWindow", 0.5, 0.5, 0}, Case{"HammingWindow", 25.0 / 46, 21.0 / 46, 0},
        Case{"BlackmanWindow", 0.42, 0.5, 0.08}}) {
    for (int periodic = 0; periodic < 2; ++periodic) {
      const int64_t size = 11;
      const auto got =
          run_window(c.op, "output_datatype = 11, periodic = " + std::to_string(periodic), size);
      ASSERT_EQ(got.size(), 11u) << c.op;
      const double denom = periodic ? size : size - 1;
      for (int64_t i = 0; i < size; ++i) {
        const double want =
            c.a0 - c.a1 * std::cos(2 * pi * i / denom) + c.a2 * std::cos(4 * pi * i / denom);
        EXPECT_NEAR(got[i], want, 1e-12) << c.op << " periodic " << periodic << " " << i;
      }
      if (!periodic) {
        EXPECT_NEAR(got.front(), got.back(), 1e-12) << c.op;  // symmetric
      }
    }
  }
  EXPECT_TRUE(run_window("HannWindow", "output_datatype = 11", 0).empty());
}

TEST(Windows, RefuseIntegerOutputType) {
  Status s = plan_status(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (int64 size) => (int32[N] y)
    { y = HannWindow<output_datatype = 6>(size) })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("output_datatype 6 is not supported"), std::string::npos)
      << s.message();
}

TEST(MelWeightMatrix, EdgesPastTheSpectrumAndInfiniteUpperEdge) {
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (int64 nb, int64 dl, int64 sr, float lo, float hi) => (float[S, M] y)
    { y = MelWeightMatrix(nb, dl, sr, lo, hi) })";
  auto run = [&](float hi) {
    return run_text1(text, {{"nb", make_tensor<int64_t>({}, {3})},
                            {"dl", make_tensor<int64_t>({}, {8})},
                            {"sr", make_tensor<int64_t>({}, {100})},
                            {"lo", make_tensor<float>({}, {0.0f})},
                            {"hi", make_tensor<float>({}, {hi})}});
  };
  // An upper edge far above the sample rate puts most band edges past the last bin.
  auto y = run(3e38f);
  ASSERT_OK(y);
  EXPECT_EQ(y->dims(), (ir::Dims{5, 3}));
  auto bad = run(INFINITY);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("upper_edge_hertz"), std::string::npos);
}

TEST(MelWeightMatrix, TrianglesBetweenMelSpacedBinEdges) {
  const int64_t bins = 5, dft = 64, rate = 16000;
  const float lo = 100, hi = 7000;
  auto y = run_text1(R"(
    <ir_version: 8, opset_import: ["" : 17]>
    g (int64 nb, int64 dl, int64 sr, float lo, float hi) => (float[S, M] y)
    { y = MelWeightMatrix(nb, dl, sr, lo, hi) })",
                     {{"nb", make_tensor<int64_t>({}, {bins})},
                      {"dl", make_tensor<int64_t>({}, {dft})},
                      {"sr", make_tensor<int64_t>({}, {rate})},
                      {"lo", make_tensor<float>({}, {lo})},
                      {"hi", make_tensor<float>({}, {hi})}});
  ASSERT_OK(y);
  const int64_t spectrum = dft / 2 + 1;
  ASSERT_EQ(y->dims(), (ir::Dims{spectrum, bins}));
  const auto got = values_of<float>(*y);
  // Edges: bins + 2 points equally spaced in mel(f) = 2595 log10(1 + f / 700) between the
  // edge frequencies (step = range / (bins + 2)), as DFT bin numbers floor((dft + 1) f / rate).
  auto mel = [](double f) { return 2595 * std::log10(1 + f / 700); };
  const double step = (mel(hi) - mel(lo)) / (bins + 2);
  std::vector<int64_t> edge;
  for (int64_t i = 0; i < bins + 2; ++i) {
    const double f = 700 * (std::pow(10, (mel(lo) + i * step) / 2595) - 1);
    edge.push_back(int64_t(std::floor((dft + 1) * f / rate)));
  }
  for (int64_t m = 0; m < bins; ++m) {
    for (int64_t s = 0; s < spectrum; ++s) {
      double want = 0;
      if (s >= edge[m] && s <= edge[m + 1]) {
        want = edge[m + 1] == edge[m] ? 1.0 : double(s - edge[m]) / double(edge[m + 1] - edge[m]);
      }
      if (s >= edge[m + 1] && s < edge[m + 2]) {
        want = double(edge[m + 2] - s) / double(edge[m + 2] - edge[m + 1]);
      }
      EXPECT_NEAR(got[s * bins + m], want, 1e-6) << "bin " << s << " band " << m;
    }
    EXPECT_FLOAT_EQ(got[edge[m + 1] * bins + m], 1.0f) << "peak of band " << m;
  }
}

}  // namespace
}  // namespace compressor
