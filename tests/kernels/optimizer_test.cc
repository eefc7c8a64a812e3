// Optimizer kernels (ai.onnx.preview.training): Adagrad, Momentum (standard, Nesterov) and Adam
// against the update rules of the ONNX definitions, over two tensors at once, plus refusals.
#include <gtest/gtest.h>

#include <cmath>

#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Dims;
using ir::Tensor;

const char* kHeader =
    "<ir_version: 8, opset_import: [\"\" : 13, \"ai.onnx.preview.training\" : 1]>\n";

struct TwoTensors {
  std::vector<float> x1{1.0f, -2.0f}, x2{0.5f, 3.0f, -1.5f};
  std::vector<float> g1{0.1f, -0.3f}, g2{0.2f, -0.05f, 0.7f};
  std::vector<float> s1{0.4f, 0.2f}, s2{0.1f, 0.0f, 0.9f};   // H (Adagrad), V (Momentum, Adam)
  std::vector<float> h1{0.3f, 0.1f}, h2{0.05f, 0.2f, 0.6f};  // Adam's H
};

std::vector<exec::NamedTensor> feed(const TwoTensors& d, float r, int64_t t, bool adam) {
  std::vector<exec::NamedTensor> in{
      {"R", make_tensor<float>({}, {r})},    {"T", make_tensor<int64_t>({}, {t})},
      {"X1", make_tensor<float>({2}, d.x1)}, {"X2", make_tensor<float>({3}, d.x2)},
      {"G1", make_tensor<float>({2}, d.g1)}, {"G2", make_tensor<float>({3}, d.g2)},
      {"S1", make_tensor<float>({2}, d.s1)}, {"S2", make_tensor<float>({3}, d.s2)},
  };
  if (adam) {
    in.push_back({"H1", make_tensor<float>({2}, d.h1)});
    in.push_back({"H2", make_tensor<float>({3}, d.h2)});
  }
  return in;
}

void expect_near(const Tensor& got, const std::vector<double>& want, const char* what) {
  auto g = values_of<float>(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], 1e-6) << what << " " << i;
}

TEST(Optimizer, AdagradUpdatesEveryTensor) {
  const std::string text = std::string(kHeader) + R"(
    g (float R, int64 T, float[2] X1, float[3] X2, float[2] G1, float[3] G2, float[2] S1,
       float[3] S2) => (float[2] X1n, float[3] X2n, float[2] H1n, float[3] H2n) {
      X1n, X2n, H1n, H2n = ai.onnx.preview.training.Adagrad<norm_coefficient = 0.01,
          decay_factor = 0.1, epsilon = 0.00001>(R, T, X1, X2, G1, G2, S1, S2)
    })";
  TwoTensors d;
  auto out = run_text(text, feed(d, 0.5f, 3, false));
  ASSERT_OK(out);
  const double nc = 0.01f, decay = 0.1f, eps = 0.00001f;
  const double r = 0.5 / (1 + 3 * decay);
  auto check = [&](const std::vector<float>& x, const std::vector<float>& g,
                   const std::vector<float>& h, const Tensor& xo, const Tensor& ho) {
    std::vector<double> xn, hn;
    for (size_t i = 0; i < x.size(); ++i) {
      const double gr = nc * x[i] + g[i];
      const double hh = h[i] + gr * gr;
      hn.push_back(hh);
      xn.push_back(x[i] - r * gr / (std::sqrt(hh) + eps));
    }
    expect_near(xo, xn, "X");
    expect_near(ho, hn, "H");
  };
  check(d.x1, d.g1, d.s1, (*out)[0], (*out)[2]);
  check(d.x2, d.g2, d.s2, (*out)[1], (*out)[3]);
}

TEST(Optimizer, MomentumStandardAndNesterov) {
  for (const char* mode : {"standard", "nesterov"}) {
    for (int64_t t : {0, 4}) {
      const std::string text = std::string(kHeader) + R"(
        g (float R, int64 T, float[2] X1, float[3] X2, float[2] G1, float[3] G2, float[2] S1,
           float[3] S2) => (float[2] X1n, float[3] X2n, float[2] V1n, float[3] V2n) {
          X1n, X2n, V1n, V2n = ai.onnx.preview.training.Momentum<norm_coefficient = 0.02,
              alpha = 0.9, beta = 0.25, mode = ")" +
                               std::string(mode) + R"(">(R, T, X1, X2, G1, G2, S1, S2)
        })";
      TwoTensors d;
      auto out = run_text(text, feed(d, 0.1f, t, false));
      ASSERT_OK(out);
      const double nc = 0.02f, alpha = 0.9f, beta = t > 0 ? double(0.25f) : 1.0;
      const bool nesterov = std::string(mode) == "nesterov";
      auto check = [&](const std::vector<float>& x, const std::vector<float>& g,
                       const std::vector<float>& v, const Tensor& xo, const Tensor& vo) {
        std::vector<double> xn, vn;
        for (size_t i = 0; i < x.size(); ++i) {
          const double gr = nc * x[i] + g[i];
          const double vv = alpha * v[i] + beta * gr;
          vn.push_back(vv);
          xn.push_back(x[i] - 0.1f * (nesterov ? gr + alpha * vv : vv));
        }
        expect_near(xo, xn, mode);
        expect_near(vo, vn, mode);
      };
      check(d.x1, d.g1, d.s1, (*out)[0], (*out)[2]);
      check(d.x2, d.g2, d.s2, (*out)[1], (*out)[3]);
    }
  }
}

TEST(Optimizer, AdamWithBiasCorrectionAndPostNorm) {
  for (int64_t t : {0, 2}) {
    const std::string text = std::string(kHeader) + R"(
      g (float R, int64 T, float[2] X1, float[3] X2, float[2] G1, float[3] G2, float[2] S1,
         float[3] S2, float[2] H1, float[3] H2)
        => (float[2] X1n, float[3] X2n, float[2] V1n, float[3] V2n, float[2] H1n, float[3] H2n) {
        X1n, X2n, V1n, V2n, H1n, H2n = ai.onnx.preview.training.Adam<alpha = 0.8, beta = 0.9,
            epsilon = 0.001, norm_coefficient = 0.05, norm_coefficient_post = 0.1>(
            R, T, X1, X2, G1, G2, S1, S2, H1, H2)
      })";
    TwoTensors d;
    auto out = run_text(text, feed(d, 0.3f, t, true));
    ASSERT_OK(out);
    const double a = 0.8f, b = 0.9f, eps = 0.001f, nc = 0.05f, post = 0.1f;
    const double r = t > 0 ? 0.3f * std::sqrt(1 - std::pow(b, t)) / (1 - std::pow(a, t)) : 0.3f;
    auto check = [&](const std::vector<float>& x, const std::vector<float>& g,
                     const std::vector<float>& v, const std::vector<float>& h, int k) {
      std::vector<double> xn, vn, hn;
      for (size_t i = 0; i < x.size(); ++i) {
        const double gr = nc * x[i] + g[i];
        const double vv = a * v[i] + (1 - a) * gr;
        const double hh = b * h[i] + (1 - b) * gr * gr;
        vn.push_back(vv);
        hn.push_back(hh);
        xn.push_back((1 - post) * (x[i] - r * vv / (std::sqrt(hh) + eps)));
      }
      expect_near((*out)[k], xn, "X");
      expect_near((*out)[2 + k], vn, "V");
      expect_near((*out)[4 + k], hn, "H");
    };
    check(d.x1, d.g1, d.s1, d.h1, 0);
    check(d.x2, d.g2, d.s2, d.h2, 1);
  }
}

TEST(Optimizer, EmptyTensorsGiveEmptyOutputs) {
  const std::string text = std::string(kHeader) + R"(
    g (float R, int64 T, float[0] X, float[0] G, float[0] H) => (float[0] Xn, float[0] Hn) {
      Xn, Hn = ai.onnx.preview.training.Adagrad(R, T, X, G, H)
    })";
  auto out = run_text(text, {{"R", make_tensor<float>({}, {0.1f})},
                             {"T", make_tensor<int64_t>({}, {0})},
                             {"X", make_tensor<float>({0}, {})},
                             {"G", make_tensor<float>({0}, {})},
                             {"H", make_tensor<float>({0}, {})}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)[0].dims(), Dims{0});
  EXPECT_EQ((*out)[1].dims(), Dims{0});
}

TEST(Optimizer, DoubleTensors) {
  const std::string text = std::string(kHeader) + R"(
    g (double R, int64 T, double[2] X, double[2] G, double[2] V) => (double[2] Xn, double[2] Vn) {
      Xn, Vn = ai.onnx.preview.training.Momentum<alpha = 0.5, beta = 0.25, norm_coefficient = 0.0,
          mode = "standard">(R, T, X, G, V)
    })";
  auto out = run_text(text, {{"R", make_tensor<double>({}, {0.1})},
                             {"T", make_tensor<int64_t>({}, {1})},
                             {"X", make_tensor<double>({2}, {1.0, 2.0})},
                             {"G", make_tensor<double>({2}, {0.4, -0.8})},
                             {"V", make_tensor<double>({2}, {0.2, 0.6})}});
  ASSERT_OK(out);
  ASSERT_EQ((*out)[0].dtype(), ir::DType::kDouble);
  const auto x = values_of<double>((*out)[0]);
  const auto v = values_of<double>((*out)[1]);
  const double v0 = 0.5 * 0.2 + 0.25 * 0.4, v1 = 0.5 * 0.6 + 0.25 * -0.8;
  EXPECT_DOUBLE_EQ(v[0], v0);
  EXPECT_DOUBLE_EQ(v[1], v1);
  EXPECT_DOUBLE_EQ(x[0], 1.0 - 0.1 * v0);
  EXPECT_DOUBLE_EQ(x[1], 2.0 - 0.1 * v1);
}

TEST(Optimizer, StateShapeMismatchIsRunTimeError) {
  const std::string text = std::string(kHeader) + R"(
    g (float R, int64 T, float[2] X, float[3] G, float[2] H) => (float[2] Xn, float[2] Hn) {
      Xn, Hn = ai.onnx.preview.training.Adagrad(R, T, X, G, H)
    })";
  auto out = run_text(text, {{"R", make_tensor<float>({}, {0.1f})},
                             {"T", make_tensor<int64_t>({}, {0})},
                             {"X", make_tensor<float>({2}, {1, 2})},
                             {"G", make_tensor<float>({3}, {1, 2, 3})},
                             {"H", make_tensor<float>({2}, {1, 2})}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("must match the optimized tensor"), std::string::npos)
      << out.status().message();
}

TEST(Optimizer, PlanTimeRefusals) {
  // Wrong number of outputs for one tensor.
  Status s = plan_status(std::string(kHeader) + R"(
    g (float R, int64 T, float[2] X, float[2] G, float[2] H) => (float[2] Xn) {
      Xn = ai.onnx.preview.training.Adagrad(R, T, X, G, H)
    })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("outputs"), std::string::npos) << s.message();
  // Inputs not a multiple of the group size.
  s = plan_status(std::string(kHeader) + R"(
    g (float R, int64 T, float[2] X, float[2] G) => (float[2] Xn, float[2] Hn) {
      Xn, Hn = ai.onnx.preview.training.Adagrad(R, T, X, G)
    })");
  ASSERT_FALSE(s.ok());
  // Momentum without its required attributes, and with an unknown mode.
  s = plan_status(std::string(kHeader) + R"(
    g (float R, int64 T, float[2] X, float[2] G, float[2] V) => (float[2] Xn, float[2] Vn) {
      Xn, Vn = ai.onnx.preview.training.Momentum<alpha = 0.9, beta = 1.0,
          norm_coefficient = 0.0>(R, T, X, G, V)
    })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'mode' is required"), std::string::npos) << s.message();
  s = plan_status(std::string(kHeader) + R"(
    g (float R, int64 T, float[2] X, float[2] G, float[2] V) => (float[2] Xn, float[2] Vn) {
      Xn, Vn = ai.onnx.preview.training.Momentum<alpha = 0.9, beta = 1.0,
          norm_coefficient = 0.0, mode = "heavy">(R, T, X, G, V)
    })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("mode must be"), std::string::npos) << s.message();
  // T must be int64.
  s = plan_status(std::string(kHeader) + R"(
    g (float R, int32 T, float[2] X, float[2] G, float[2] H) => (float[2] Xn, float[2] Hn) {
      Xn, Hn = ai.onnx.preview.training.Adagrad(R, T, X, G, H)
    })");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("T must be int64"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace compressor
