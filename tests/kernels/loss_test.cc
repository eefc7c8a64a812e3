// Loss kernels: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss against a loop written from
// the ONNX definition (reductions, weights, ignore_index, N-d inputs, log_prob), float16 and
// double inputs, int32 targets, out-of-range targets and plan-time refusals.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <cmath>
#include <optional>

#include "testing/kernel_testing.h"

namespace compressor {
namespace {
using namespace testing;
using ir::Dims;
using ir::Tensor;

struct Reference {
  std::vector<double> loss;  ///< [N, d...] for "none", one value otherwise.
  std::vector<double> logp;  ///< [N, C, d...] (SoftmaxCrossEntropyLoss only).
};

// loss[n, d] = -logp[n, c, d] * w[c] (0 when c == ignore_index); mean divides by the summed
// weights of the entries that are not ignored.
Reference reference(const std::vector<float>& x, const Dims& dims, const std::vector<int64_t>& t,
                    const std::vector<float>& w, std::optional<int64_t> ii,
                    const std::string& reduction, bool softmax) {
  const int64_t N = dims[0], C = dims[1];
  int64_t D = 1;
  for (size_t k = 2; k < dims.size(); ++k) D *= dims[k];
  Reference r;
  r.logp.assign(x.begin(), x.end());
  if (softmax) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t d = 0; d < D; ++d) {
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += std::exp(double(x[(n * C + c) * D + d]));
        for (int64_t c = 0; c < C; ++c) {
          r.logp[(n * C + c) * D + d] = double(x[(n * C + c) * D + d]) - std::log(s);
        }
      }
    }
  }
  double sum = 0, wsum = 0;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t d = 0; d < D; ++d) {
      const int64_t c = t[n * D + d];
      double l = 0, wc = 0;
      if (!(ii && c == *ii)) {
        wc = w.empty() ? 1.0 : w[c];
        l = -r.logp[(n * C + c) * D + d] * wc;
      }
      r.loss.push_back(l);
      sum += l;
      wsum += wc;
    }
  }
  if (reduction == "sum") r.loss = {sum};
  if (reduction == "mean") r.loss = {sum / wsum};
  return r;
}

std::string dims_text(const Dims& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s;
}

struct Case {
  std::string op;
  Dims dims;
  std::string reduction;
  std::optional<int64_t> ii;
  bool weighted;
};

void check_case(const Case& k, int threads = 1) {
  const bool sce = k.op == "SoftmaxCrossEntropyLoss";
  Dims tdims = k.dims;
  tdims.erase(tdims.begin() + 1);
  const int64_t C = k.dims[1];
  const std::vector<float> x = random_floats(ir::element_count(k.dims), 11, -2.0f, 2.0f);
  std::vector<int64_t> t(ir::element_count(tdims));
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int64_t>((i * 7 + 3) % C);
  if (k.ii) {
    for (size_t i = 0; i < t.size(); i += 3) t[i] = *k.ii;  // every third entry is ignored
  }
  std::vector<float> w;
  if (k.weighted) {
    for (int64_t c = 0; c < C; ++c) w.push_back(0.5f + 0.25f * static_cast<float>(c));
  }
  const std::string attrs = "reduction = \"" + k.reduction + "\"" +
                            (k.ii ? ", ignore_index = " + std::to_string(*k.ii) : "");
  const bool scalar = k.reduction != "none";
  const std::string text =
      "<ir_version: 8, opset_import: [\"\" : 13]>\n"
      "g (float[" +
      dims_text(k.dims) + "] X, int64[" + dims_text(tdims) + "] T" +
      (k.weighted ? ", float[" + std::to_string(C) + "] W" : "") + ") => (float" +
      (scalar ? "" : "[" + dims_text(tdims) + "]") + " L" + (sce ? ", float LP" : "") + ") {\n  L" +
      (sce ? ", LP" : "") + " = " + k.op + "<" + attrs + ">(X, T" + (k.weighted ? ", W" : "") +
      ")\n}";
  std::vector<exec::NamedTensor> in{{"X", make_tensor<float>(k.dims, x)},
                                    {"T", make_tensor<int64_t>(tdims, t)}};
  if (k.weighted) in.push_back({"W", make_tensor<float>({C}, w)});
  auto out = run_text(text, in, threads);
  ASSERT_OK(out);
  const Reference want = reference(x, k.dims, t, w, k.ii, k.reduction, sce);
  const Tensor& loss = (*out)[0];
  EXPECT_EQ(loss.dims(), scalar ? Dims{} : tdims);
  auto got = values_of<float>(loss);
  ASSERT_EQ(got.size(), want.loss.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want.loss[i], 1e-5 * std::max(1.0, std::abs(want.loss[i])))
        << k.op << " " << k.reduction << " at " << i;
  }
  if (sce) {
    ASSERT_EQ((*out)[1].dims(), k.dims);
    auto lp = values_of<float>((*out)[1]);
    for (size_t i = 0; i < lp.size(); ++i) EXPECT_NEAR(lp[i], want.logp[i], 1e-5) << i;
  }
}

TEST(Loss, MatchesDefinitionForEveryReductionWeightAndIgnoreIndex) {
  for (const char* op : {"NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"}) {
    for (const char* red : {"none", "sum", "mean"}) {
      for (bool weighted : {false, true}) {
        for (std::optional<int64_t> ii :
             {std::optional<int64_t>(), std::optional<int64_t>(1), std::optional<int64_t>(-3)}) {
          check_case({op, {3, 4}, red, ii, weighted});
          check_case({op, {2, 5, 3, 2}, red, ii, weighted});
        }
      }
    }
  }
}

TEST(Loss, ThreadCountDoesNotChangeResults) {
  check_case({"SoftmaxCrossEntropyLoss", {4, 3, 40, 50}, "mean", 2, true}, 2);
  check_case({"NegativeLogLikelihoodLoss", {4, 3, 40, 50}, "none", {}, false}, 2);
}

TEST(Loss, WeightedMeanDividesBySummedWeightsOfKeptLabels) {
  // input[n, c] = -(n + 1) * (c + 1): loss = (n + 1) * (c + 1) * w[c].
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[3,3] X, int32[3] T, float[3] W) => (float L) {
      L = NegativeLogLikelihoodLoss<reduction = "mean", ignore_index = 2>(X, T, W)
    })";
  std::vector<float> x;
  for (int n = 0; n < 3; ++n) {
    for (int c = 0; c < 3; ++c) x.push_back(-float((n + 1) * (c + 1)));
  }
  const std::vector<float> w{0.5f, 2.0f, 4.0f};
  auto y = run_text1(text, {{"X", make_tensor<float>({3, 3}, x)},
                            {"T", make_tensor<int32_t>({3}, {0, 1, 2})},
                            {"W", make_tensor<float>({3}, w)}});
  ASSERT_OK(y);
  // n=0, c=0: 1 * 1 * 0.5; n=1, c=1: 2 * 2 * 2; n=2 ignored.
  const double want = (1.0 * 1 * w[0] + 2.0 * 2 * w[1]) / (w[0] + w[1]);
  EXPECT_NEAR(values_of<float>(*y)[0], want, 1e-6);
}

TEST(Loss, DoubleAndFloat16Inputs) {
  const std::vector<double> xd{0.1, -0.7, 1.3, 0.4, 2.0, -1.0};
  const std::string dtext = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (double[2,3] X, int64[2] T) => (double L) {
      L = SoftmaxCrossEntropyLoss<reduction = "sum">(X, T)
    })";
  auto yd = run_text1(
      dtext, {{"X", make_tensor<double>({2, 3}, xd)}, {"T", make_tensor<int64_t>({2}, {2, 0})}});
  ASSERT_OK(yd);
  auto lse = [&](int n) {
    return std::log(std::exp(xd[n * 3]) + std::exp(xd[n * 3 + 1]) + std::exp(xd[n * 3 + 2]));
  };
  const double want = (lse(0) - xd[2]) + (lse(1) - xd[3]);
  ASSERT_EQ(yd->dtype(), ir::DType::kDouble);
  EXPECT_NEAR(values_of<double>(*yd)[0], want, 1e-12);

  std::vector<Eigen::half> xh;
  for (double v : xd) xh.push_back(Eigen::half(static_cast<float>(v)));
  Tensor th = Tensor::zeros(ir::DType::kFloat16, {2, 3});
  std::memcpy(th.mutable_data(), xh.data(), xh.size() * sizeof(Eigen::half));
  const std::string htext = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float16[2,3] X, int64[2] T) => (float16[2] L) {
      L = NegativeLogLikelihoodLoss<reduction = "none">(X, T)
    })";
  auto yh = run_text1(htext, {{"X", th}, {"T", make_tensor<int64_t>({2}, {1, 2})}});
  ASSERT_OK(yh);
  ASSERT_EQ(yh->dtype(), ir::DType::kFloat16);
  const auto* h = reinterpret_cast<const Eigen::half*>(yh->data());
  EXPECT_EQ(static_cast<float>(h[0]), -static_cast<float>(xh[1]));
  EXPECT_EQ(static_cast<float>(h[1]), -static_cast<float>(xh[5]));
}

TEST(Loss, OutOfRangeTargetIsRefusedUnlessIgnored) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] X, int64[2] T) => (float L) {
      L = NegativeLogLikelihoodLoss<reduction = "sum", ignore_index = -1>(X, T)
    })";
  const auto x = make_tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  for (int64_t bad : {3, 100, -2}) {
    auto y = run_text1(text, {{"X", x}, {"T", make_tensor<int64_t>({2}, {0, bad})}});
    ASSERT_FALSE(y.ok()) << bad;
    EXPECT_NE(y.status().message().find("out of range"), std::string::npos) << y.status().message();
  }
  // -1 is ignore_index: no read, loss 0.
  auto ok = run_text1(text, {{"X", x}, {"T", make_tensor<int64_t>({2}, {2, -1})}});
  ASSERT_OK(ok);
  EXPECT_FLOAT_EQ(values_of<float>(*ok)[0], -3.0f);
}

TEST(Loss, ShapeMismatchesAreRunTimeErrors) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[2,3] X, int64[3] T, float[2] W) => (float L) {
      L = NegativeLogLikelihoodLoss(X, T, W)
    })";
  auto y = run_text1(text, {{"X", make_tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6})},
                            {"T", make_tensor<int64_t>({3}, {0, 1, 2})},
                            {"W", make_tensor<float>({2}, {1, 1})}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("target shape"), std::string::npos);
  auto z = run_text1(text, {{"X", make_tensor<float>({2, 3}, {1, 2, 3, 4, 5, 6})},
                            {"T", make_tensor<int64_t>({2}, {0, 1})},
                            {"W", make_tensor<float>({2}, {1, 1})}});
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.status().message().find("weight must have shape [3]"), std::string::npos);
}

TEST(Loss, EmptyBatch) {
  const std::string text = R"(<ir_version: 8, opset_import: ["" : 13]>
    g (float[0,3,2] X, int64[0,2] T) => (float[0,2] L, float S) {
      L = NegativeLogLikelihoodLoss<reduction = "none">(X, T)
      S = NegativeLogLikelihoodLoss<reduction = "sum">(X, T)
    })";
  auto out = run_text(
      text, {{"X", make_tensor<float>({0, 3, 2}, {})}, {"T", make_tensor<int64_t>({0, 2}, {})}});
  ASSERT_OK(out);
  EXPECT_EQ((*out)[0].dims(), (Dims{0, 2}));
  EXPECT_EQ(values_of<float>((*out)[1]), std::vector<float>{0.0f});
}

TEST(Loss, PlanTimeRefusals) {
  auto plan = [](const std::string& types, const std::string& attrs) {
    return plan_status("<ir_version: 8, opset_import: [\"\" : 13]>\ng (" + types +
                       ") => (float L) {\n L = SoftmaxCrossEntropyLoss<" + attrs + ">(X, T)\n}");
  };
  Status s = plan("float[2,3] X, int64[2] T", "reduction = \"avg\"");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("reduction"), std::string::npos);
  s = plan("int32[2,3] X, int64[2] T", "reduction = \"sum\"");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unsupported data type int32"), std::string::npos);
  s = plan("float[2,3] X, float[2] T", "reduction = \"sum\"");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("target must be int32 or int64"), std::string::npos);
  EXPECT_OK(plan("float[2,3] X, int32[2] T", "reduction = \"none\""));
}

}  // namespace
}  // namespace compressor
