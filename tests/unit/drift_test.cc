// Tests for eval::DriftAccumulator: metrics against their definitions computed directly here,
// closed forms, streaming over samples, dtype mixes, non-finite values, class-score agreement
// and accuracy with labels, and the errors.
#include "compressor/eval/drift.h"

#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace compressor::eval {
namespace {

using ir::DType;
using ir::Tensor;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor f32(ir::Dims dims, const std::vector<float>& v) {
  return Tensor::from_values<float>(std::move(dims), v);
}
Tensor f64(ir::Dims dims, const std::vector<double>& v) {
  return Tensor::from_values<double>(std::move(dims), v);
}
Tensor f16(ir::Dims dims, const std::vector<float>& v) {
  Tensor t = Tensor::zeros(DType::kFloat16, std::move(dims));
  auto span = t.mutable_span<Eigen::half>();
  for (size_t i = 0; i < v.size(); ++i) span[i] = Eigen::half(v[i]);
  return t;
}

// The metrics straight from their definitions, over one concatenated vector.
struct Direct {
  double max_abs, mean_abs, rmse, rel_l2, cosine, snr_db;
};
Direct direct(const std::vector<double>& r, const std::vector<double>& c) {
  double max_abs = 0, sum_abs = 0, err = 0, rr = 0, cc = 0, rc = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double d = r[i] - c[i];
    max_abs = std::max(max_abs, std::abs(d));
    sum_abs += std::abs(d);
    err += d * d;
    rr += r[i] * r[i];
    cc += c[i] * c[i];
    rc += r[i] * c[i];
  }
  const double n = static_cast<double>(r.size());
  return {max_abs,
          sum_abs / n,
          std::sqrt(err / n),
          std::sqrt(err / rr),
          rc / std::sqrt(rr * cc),
          10 * std::log10(rr / err)};
}

void expect_near_rel(double actual, double expected, const char* what) {
  EXPECT_NEAR(actual, expected, 1e-12 * std::max(1.0, std::abs(expected))) << what;
}

void expect_direct(const DriftMetrics& m, const Direct& d) {
  expect_near_rel(m.max_abs, d.max_abs, "max_abs");
  expect_near_rel(m.mean_abs, d.mean_abs, "mean_abs");
  expect_near_rel(m.rmse, d.rmse, "rmse");
  expect_near_rel(m.rel_l2, d.rel_l2, "rel_l2");
  expect_near_rel(m.cosine, d.cosine, "cosine");
  expect_near_rel(m.snr_db, d.snr_db, "snr_db");
}

TEST(Drift, StreamingOverSamplesEqualsTheMetricsOfTheConcatenation) {
  std::mt19937 rng(7);
  std::normal_distribution<double> dist(0.0, 1.0);
  std::vector<double> all_ref, all_cand;
  DriftAccumulator acc;
  for (int s = 0; s < 5; ++s) {
    std::vector<double> r(24), c(24);
    for (size_t i = 0; i < r.size(); ++i) {
      r[i] = dist(rng);
      c[i] = r[i] + 0.1 * dist(rng);
    }
    all_ref.insert(all_ref.end(), r.begin(), r.end());
    all_cand.insert(all_cand.end(), c.begin(), c.end());
    ASSERT_TRUE(acc.add("y", f64({2, 3, 4}, r), f64({2, 3, 4}, c)).ok());
  }
  const DriftMetrics m = acc.result();
  EXPECT_EQ(m.samples, 5u);
  EXPECT_EQ(m.elements, 120u);
  expect_direct(m, direct(all_ref, all_cand));
}

TEST(Drift, LargeTensorsSpanManyBlocks) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> dist(-2.0, 2.0);
  std::vector<double> r(5000), c(5000);
  for (size_t i = 0; i < r.size(); ++i) {
    r[i] = dist(rng);
    c[i] = dist(rng);
  }
  DriftAccumulator acc;
  ASSERT_TRUE(acc.add("y", f64({5000}, r), f64({5000}, c)).ok());
  expect_direct(acc.result(), direct(r, c));
}

TEST(Drift, ScaledCandidateHasClosedFormRelL2CosineAndSnr) {
  const std::vector<double> r = {1.5, -2.0, 0.25, 4.0, -3.0, 0.5};
  for (double e : {0.1, -0.03, 1e-4}) {
    std::vector<double> c(r.size());
    for (size_t i = 0; i < r.size(); ++i) c[i] = r[i] * (1 + e);
    DriftAccumulator acc;
    ASSERT_TRUE(acc.add("y", f64({2, 3}, r), f64({2, 3}, c)).ok());
    const DriftMetrics m = acc.result();
    EXPECT_NEAR(m.rel_l2, std::abs(e), 1e-12);
    EXPECT_NEAR(m.cosine, 1.0, 1e-12);
    EXPECT_NEAR(m.snr_db, -20 * std::log10(std::abs(e)), 1e-9);
  }
}

TEST(Drift, ShiftedCandidateHasEqualMaxMeanAndRms) {
  const std::vector<float> r = {1, -2, 3, 0, 5, -6, 7, 8};
  std::vector<float> c(r.size());
  for (size_t i = 0; i < r.size(); ++i) c[i] = r[i] - 0.25f;  // exact in float
  DriftAccumulator acc;
  ASSERT_TRUE(acc.add("y", f32({8}, r), f32({8}, c)).ok());
  ASSERT_TRUE(acc.add("y", f32({2, 4}, c), f32({2, 4}, r)).ok());  // difference -c
  const DriftMetrics m = acc.result();
  EXPECT_DOUBLE_EQ(m.max_abs, 0.25);
  EXPECT_DOUBLE_EQ(m.mean_abs, 0.25);
  EXPECT_DOUBLE_EQ(m.rmse, 0.25);
}

TEST(Drift, EdgeCasesOfIdenticalAndZeroTensors) {
  {
    DriftAccumulator acc;
    ASSERT_TRUE(acc.add("y", f32({3}, {1, 2, 3}), f32({3}, {1, 2, 3})).ok());
    const DriftMetrics m = acc.result();
    EXPECT_EQ(m.max_abs, 0);
    EXPECT_EQ(m.rel_l2, 0);
    EXPECT_DOUBLE_EQ(m.cosine, 1);
    EXPECT_EQ(m.snr_db, kInf);
  }
  {
    DriftAccumulator acc;  // zero reference, nonzero candidate
    ASSERT_TRUE(acc.add("y", f32({3}, {0, 0, 0}), f32({3}, {0, 1, 0})).ok());
    const DriftMetrics m = acc.result();
    EXPECT_EQ(m.rel_l2, kInf);
    EXPECT_EQ(m.cosine, 0);
    EXPECT_EQ(m.snr_db, -kInf);
  }
  {
    DriftAccumulator acc;  // nonzero reference, zero candidate
    ASSERT_TRUE(acc.add("y", f32({2}, {3, 4}), f32({2}, {0, 0})).ok());
    const DriftMetrics m = acc.result();
    EXPECT_DOUBLE_EQ(m.rel_l2, 1);
    EXPECT_EQ(m.cosine, 0);
    EXPECT_DOUBLE_EQ(m.snr_db, 0);
  }
  {
    DriftAccumulator acc;  // both zero
    ASSERT_TRUE(acc.add("y", f32({2}, {0, 0}), f32({2}, {0, 0})).ok());
    const DriftMetrics m = acc.result();
    EXPECT_EQ(m.rel_l2, 0);
    EXPECT_EQ(m.cosine, 1);
    EXPECT_EQ(m.snr_db, kInf);
  }
  {
    DriftAccumulator acc;  // opposite directions
    ASSERT_TRUE(acc.add("y", f32({2}, {1, -2}), f32({2}, {-2, 4})).ok());
    EXPECT_DOUBLE_EQ(acc.result().cosine, -1);
  }
}

TEST(Drift, NoSamplesGivesZeroDriftAndNoAgreement) {
  const DriftMetrics m = DriftAccumulator().result();
  EXPECT_EQ(m.samples, 0u);
  EXPECT_EQ(m.mean_abs, 0);
  EXPECT_EQ(m.cosine, 1);
  EXPECT_FALSE(m.top1_agreement);
  EXPECT_FALSE(m.accuracy);
}

TEST(Drift, ReadsMixedDtypesAsDouble) {
  // float vs double: the float values widen exactly.
  const std::vector<float> rf = {0.1f, -2.5f, 3.75f, 1e-3f};
  const std::vector<double> cd = {0.2, -2.0, 3.0, 0.0};
  std::vector<double> rd(rf.begin(), rf.end());
  DriftAccumulator a;
  ASSERT_TRUE(a.add("y", f32({4}, rf), f64({4}, cd)).ok());
  expect_direct(a.result(), direct(rd, cd));

  // float16 vs float: values exactly representable in half.
  DriftAccumulator b;
  ASSERT_TRUE(b.add("y", f16({2, 2}, {0.5f, -1.25f, 2048.0f, 3.0f}),
                    f32({2, 2}, {0.5f, -1.0f, 2047.0f, 3.0f}))
                  .ok());
  expect_direct(b.result(), direct({0.5, -1.25, 2048, 3}, {0.5, -1, 2047, 3}));

  // int32 vs int64, int8 vs uint64, bool vs uint8.
  const std::vector<int32_t> i32 = {-5, 7, 1 << 20};
  const std::vector<int64_t> i64 = {-4, 9, (int64_t{1} << 20) + 3};
  DriftAccumulator c;
  ASSERT_TRUE(
      c.add("y", Tensor::from_values<int32_t>({3}, i32), Tensor::from_values<int64_t>({3}, i64))
          .ok());
  expect_direct(c.result(), direct({-5, 7, 1 << 20}, {-4, 9, (1 << 20) + 3}));

  const std::vector<int8_t> i8 = {-128, 0, 127};
  const std::vector<uint64_t> u64 = {0, 1, 200};
  DriftAccumulator d;
  ASSERT_TRUE(
      d.add("y", Tensor::from_values<int8_t>({3}, i8), Tensor::from_values<uint64_t>({3}, u64))
          .ok());
  expect_direct(d.result(), direct({-128, 0, 127}, {0, 1, 200}));

  const std::vector<uint8_t> bool_bytes = {1, 0, 1, 1};
  const std::vector<uint8_t> u8 = {1, 1, 0, 1};
  Tensor bools = Tensor::zeros(DType::kBool, {4});
  std::copy(bool_bytes.begin(), bool_bytes.end(), bools.mutable_span<uint8_t>().begin());
  DriftAccumulator e;
  ASSERT_TRUE(e.add("y", bools, Tensor::from_values<uint8_t>({4}, u8)).ok());
  expect_direct(e.result(), direct({1, 0, 1, 1}, {1, 1, 0, 1}));

  // int16 / uint16 / uint32 against themselves.
  const std::vector<int16_t> i16 = {-300, 300};
  const std::vector<uint16_t> u16 = {60000, 1};
  const std::vector<uint32_t> u32 = {4000000000u, 2};
  DriftAccumulator f;
  ASSERT_TRUE(
      f.add("y", Tensor::from_values<int16_t>({2}, i16), Tensor::from_values<uint16_t>({2}, u16))
          .ok());
  ASSERT_TRUE(
      f.add("y", Tensor::from_values<uint32_t>({2}, u32), Tensor::from_values<uint32_t>({2}, u32))
          .ok());
  expect_direct(f.result(), direct({-300, 300, 4e9, 2}, {60000, 1, 4e9, 2}));
}

TEST(Drift, ShapeMismatchIsAnInvalidModelErrorNamingTheOutput) {
  DriftAccumulator acc;
  const Status st =
      acc.add("logits", f32({1, 12}, std::vector<float>(12)), f32({1, 10}, std::vector<float>(10)));
  EXPECT_EQ(st.code(), ErrorCode::kInvalidModel);
  EXPECT_EQ(st.message(),
            "output 'logits': candidate shape [1, 10] differs from the reference "
            "[1, 12]");
  // Same element count, different dims: still a mismatch.
  EXPECT_EQ(
      acc.add("y", f32({2, 3}, std::vector<float>(6)), f32({3, 2}, std::vector<float>(6))).code(),
      ErrorCode::kInvalidModel);
  EXPECT_EQ(acc.result().samples, 0u);
}

TEST(Drift, StringAndUnreadableDtypesAreUnsupported) {
  DriftAccumulator acc;
  const Tensor s = Tensor::from_strings({2}, {"a", "b"});
  const Status st = acc.add("names", s, s);
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("'names'"), std::string::npos) << st.message();

  const Tensor c = Tensor::zeros(DType::kComplex64, {2});
  const Status st2 = acc.add("z", c, c);
  EXPECT_EQ(st2.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st2.message().find("'z'"), std::string::npos) << st2.message();
  EXPECT_NE(st2.message().find("complex64"), std::string::npos) << st2.message();
}

TEST(Drift, NaNInBothModelsCountsAsEqual) {
  DriftAccumulator acc;
  ASSERT_TRUE(acc.add("y", f32({3}, {1, NAN, 3}), f64({3}, {1, kNaN, 2})).ok());
  const DriftMetrics m = acc.result();
  // The NaN element has difference 0 and leaves the norms alone: same as comparing {1, 3}
  // with {1, 2}, but averaged over 3 elements.
  const Direct d = direct({1, 3}, {1, 2});
  EXPECT_DOUBLE_EQ(m.max_abs, 1);
  EXPECT_DOUBLE_EQ(m.mean_abs, 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(1.0 / 3));
  expect_near_rel(m.rel_l2, d.rel_l2, "rel_l2");
  expect_near_rel(m.cosine, d.cosine, "cosine");
  expect_near_rel(m.snr_db, d.snr_db, "snr_db");
}

TEST(Drift, SameInfinityInBothModelsCountsAsEqual) {
  DriftAccumulator acc;
  ASSERT_TRUE(acc.add("y", f32({2}, {INFINITY, 2}), f32({2}, {INFINITY, 2})).ok());
  const DriftMetrics m = acc.result();
  EXPECT_EQ(m.max_abs, 0);
  EXPECT_EQ(m.rel_l2, 0);
  EXPECT_DOUBLE_EQ(m.cosine, 1);
  EXPECT_EQ(m.snr_db, kInf);
}

TEST(Drift, NaNInOneModelIsInfiniteDrift) {
  for (bool nan_in_candidate : {true, false}) {
    DriftAccumulator acc;
    const Tensor finite = f32({3}, {1, 2, 3});
    const Tensor with_nan = f32({3}, {1, NAN, 3});
    ASSERT_TRUE(nan_in_candidate ? acc.add("y", finite, with_nan).ok()
                                 : acc.add("y", with_nan, finite).ok());
    ASSERT_TRUE(acc.add("y", finite, finite).ok());  // later clean samples do not hide it
    const DriftMetrics m = acc.result();
    EXPECT_EQ(m.max_abs, kInf);
    EXPECT_EQ(m.mean_abs, kInf);
    EXPECT_EQ(m.rmse, kInf);
    EXPECT_EQ(m.rel_l2, kInf);
    EXPECT_EQ(m.snr_db, -kInf);
    EXPECT_TRUE(std::isnan(m.cosine));
  }
  // Opposite infinities and infinity against a number are infinitely far apart too.
  DriftAccumulator acc;
  ASSERT_TRUE(acc.add("y", f32({2}, {INFINITY, 1}), f32({2}, {-INFINITY, 1})).ok());
  EXPECT_EQ(acc.result().max_abs, kInf);
  EXPECT_TRUE(std::isnan(acc.result().cosine));
}

// Reference ranking for top-5: indices sorted by score descending (NaN last), ties by index.
bool direct_in_top5(const std::vector<double>& scores, size_t k) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](size_t i) { return std::isnan(scores[i]) ? -kInf : scores[i]; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const bool na = std::isnan(scores[a]), nb = std::isnan(scores[b]);
    if (na != nb) return nb;
    return key(a) > key(b);
  });
  return std::find(order.begin(), order.begin() + 5, k) != order.begin() + 5;
}

size_t direct_arg_max(const std::vector<double>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());  // first max
}

TEST(Drift, Top1AndTop5AgreementMatchADirectRankingOnRandomScores) {
  std::mt19937 rng(11);
  std::normal_distribution<double> dist(0.0, 1.0);
  const int64_t t = 4, c = 7;
  uint64_t rows = 0, top1 = 0, top5 = 0;
  DriftAccumulator acc;
  for (int s = 0; s < 6; ++s) {
    std::vector<double> r(t * c), k(t * c);
    for (size_t i = 0; i < r.size(); ++i) {
      r[i] = dist(rng);
      k[i] = r[i] + 0.8 * dist(rng);
    }
    for (int64_t row = 0; row < t; ++row) {
      const std::vector<double> rr(r.begin() + row * c, r.begin() + (row + 1) * c);
      const std::vector<double> kr(k.begin() + row * c, k.begin() + (row + 1) * c);
      const size_t ra = direct_arg_max(rr);
      ++rows;
      top1 += ra == direct_arg_max(kr);
      top5 += direct_in_top5(kr, ra);
    }
    ASSERT_TRUE(acc.add("scores", f64({1, t, c}, r), f64({1, t, c}, k)).ok());
  }
  const DriftMetrics m = acc.result();
  ASSERT_TRUE(m.top1_agreement && m.top5_agreement);
  EXPECT_DOUBLE_EQ(*m.top1_agreement, static_cast<double>(top1) / rows);
  EXPECT_DOUBLE_EQ(*m.top5_agreement, static_cast<double>(top5) / rows);
  EXPECT_LT(top1, rows);  // the noise is large enough that the test exercises misses
  EXPECT_FALSE(m.accuracy);
}

TEST(Drift, ArgMaxTiesGoToTheFirstIndexAndNaNNeverWins) {
  DriftAccumulator acc;
  // Row 0: reference ties between 1 and 3 -> 1; candidate's max is 1 -> agree.
  // Row 1: reference NaN at 0 is skipped -> 2; candidate ties 0 and 2 -> 0: disagree.
  // Row 2: reference 3, candidate NaN at 0 skipped, max at 3 -> agree.
  ASSERT_TRUE(acc.add("y", f32({3, 4}, {0, 5, 1, 5, NAN, 1, 2, 0, 0, 0, 0, 9}),
                      f32({3, 4}, {0, 7, 1, 6, 3, 1, 3, 0, NAN, 1, 2, 3}))
                  .ok());
  const DriftMetrics m = acc.result();
  ASSERT_TRUE(m.top1_agreement);
  EXPECT_DOUBLE_EQ(*m.top1_agreement, 2.0 / 3);
  EXPECT_FALSE(m.top5_agreement);  // 4 classes: top-5 is meaningless
}

TEST(Drift, Top5CountsTiesAtTheFifthPlaceByIndex) {
  // Reference arg-max is class 5 (score 10). In the candidate, classes 0..3 score 9 and
  // classes 4, 5, 6 tie at 1: class 4 takes the fifth place, so class 5 is out; class 4 would
  // be in. A strictly greater score than the fifth is always in.
  const std::vector<float> cand = {9, 9, 9, 9, 1, 1, 1, 0};
  DriftAccumulator out;
  ASSERT_TRUE(out.add("y", f32({8}, {0, 0, 0, 0, 0, 10, 0, 0}), f32({8}, cand)).ok());
  EXPECT_DOUBLE_EQ(*out.result().top5_agreement, 0);
  EXPECT_DOUBLE_EQ(*out.result().top1_agreement, 0);
  DriftAccumulator in;
  ASSERT_TRUE(in.add("y", f32({8}, {0, 0, 0, 0, 10, 0, 0, 0}), f32({8}, cand)).ok());
  EXPECT_DOUBLE_EQ(*in.result().top5_agreement, 1);
  DriftAccumulator above;
  ASSERT_TRUE(
      above.add("y", f32({8}, {0, 0, 0, 0, 0, 0, 0, 10}), f32({8}, {9, 9, 9, 9, 1, 1, 1, 2})).ok());
  EXPECT_DOUBLE_EQ(*above.result().top5_agreement, 1);
  // A NaN score for the reference's class ranks after every number.
  DriftAccumulator nan_score;
  ASSERT_TRUE(
      nan_score.add("y", f32({6}, {0, 0, 0, 0, 0, 10}), f32({6}, {1, 2, 3, 4, 5, NAN})).ok());
  EXPECT_DOUBLE_EQ(*nan_score.result().top5_agreement, 0);
  // The direct ranking used by the random test agrees on these hand cases.
  EXPECT_FALSE(direct_in_top5({9, 9, 9, 9, 1, 1, 1, 0}, 5));
  EXPECT_TRUE(direct_in_top5({9, 9, 9, 9, 1, 1, 1, 0}, 4));
  EXPECT_TRUE(direct_in_top5({9, 9, 9, 9, 1, 1, 1, 2}, 7));
  EXPECT_FALSE(direct_in_top5({1, 2, 3, 4, 5, kNaN}, 5));
}

TEST(Drift, ClassScoreOutputsAreRank1To3FloatsWithTwoOrMoreClasses) {
  EXPECT_TRUE(is_class_score(DType::kFloat, {2}));
  EXPECT_TRUE(is_class_score(DType::kFloat, {1, 1000}));
  EXPECT_TRUE(is_class_score(DType::kDouble, {2, 5, 30}));
  EXPECT_TRUE(is_class_score(DType::kFloat16, {1, 10}));
  EXPECT_FALSE(is_class_score(DType::kFloat, {1, 1}));
  EXPECT_FALSE(is_class_score(DType::kFloat, {}));
  EXPECT_FALSE(is_class_score(DType::kFloat, {1, 3, 8, 8}));
  EXPECT_FALSE(is_class_score(DType::kInt64, {1, 10}));
  EXPECT_FALSE(is_class_score(DType::kBool, {1, 10}));
}

TEST(Drift, AgreementNeedsEverySampleToBeClassScores) {
  DriftAccumulator acc;
  ASSERT_TRUE(acc.add("y", f32({1, 3}, {1, 2, 3}), f32({1, 3}, {1, 2, 3})).ok());
  ASSERT_TRUE(acc.add("y", f32({1, 1}, {1}), f32({1, 1}, {1})).ok());  // one class only
  EXPECT_FALSE(acc.result().top1_agreement);

  DriftAccumulator features;
  ASSERT_TRUE(
      features
          .add("y", f32({1, 2, 1, 2}, {1, 2, 3, 4}), f32({1, 2, 1, 2}, {1, 2, 3, 4}), int64_t{0})
          .ok());
  EXPECT_FALSE(features.result().top1_agreement);
  EXPECT_FALSE(features.result().accuracy);

  DriftAccumulator ints;
  const std::vector<int64_t> v = {1, 2};
  ASSERT_TRUE(ints.add("y", Tensor::from_values<int64_t>({1, 2}, v),
                       Tensor::from_values<int64_t>({1, 2}, v))
                  .ok());
  EXPECT_FALSE(ints.result().top1_agreement);
}

TEST(Drift, LabelsGiveAccuracyOfBothModelsAndTheDrop) {
  struct Sample {
    std::vector<float> ref, cand;
    int64_t label;
  };
  const std::vector<Sample> samples = {
      {{0.1f, 0.7f, 0.2f}, {0.1f, 0.6f, 0.3f}, 1},  // both right
      {{0.8f, 0.1f, 0.1f}, {0.2f, 0.1f, 0.7f}, 0},  // reference right, candidate wrong
      {{0.3f, 0.3f, 0.4f}, {0.3f, 0.4f, 0.3f}, 1},  // reference wrong, candidate right
      {{0.5f, 0.2f, 0.3f}, {0.2f, 0.2f, 0.6f}, 0},  // reference right, candidate wrong
  };
  DriftAccumulator acc;
  for (const Sample& s : samples) {
    ASSERT_TRUE(acc.add("probs", f32({1, 3}, s.ref), f32({1, 3}, s.cand), s.label).ok());
  }
  ASSERT_TRUE(acc.add("probs", f32({1, 3}, {1, 0, 0}), f32({1, 3}, {1, 0, 0})).ok());  // unlabelled
  const DriftMetrics m = acc.result();
  ASSERT_TRUE(m.reference_accuracy && m.accuracy && m.accuracy_drop);
  EXPECT_DOUBLE_EQ(*m.reference_accuracy, 3.0 / 4);
  EXPECT_DOUBLE_EQ(*m.accuracy, 2.0 / 4);
  EXPECT_DOUBLE_EQ(*m.accuracy_drop, 1.0 / 4);
  EXPECT_DOUBLE_EQ(*m.top1_agreement, 2.0 / 5);
  // The 1-D form [C] is one row per sample too.
  DriftAccumulator flat;
  ASSERT_TRUE(flat.add("p", f32({3}, {0, 0, 1}), f32({3}, {0, 1, 0}), int64_t{2}).ok());
  EXPECT_DOUBLE_EQ(*flat.result().accuracy_drop, 1);
}

TEST(Drift, SeveralRowsPerSampleGetNoAccuracy) {
  DriftAccumulator acc;
  ASSERT_TRUE(
      acc.add("y", f32({2, 3}, {1, 0, 0, 0, 1, 0}), f32({2, 3}, {1, 0, 0, 0, 1, 0}), int64_t{0})
          .ok());
  const DriftMetrics m = acc.result();
  EXPECT_DOUBLE_EQ(*m.top1_agreement, 1);
  EXPECT_FALSE(m.accuracy);
  EXPECT_FALSE(m.reference_accuracy);
  EXPECT_FALSE(m.accuracy_drop);
}

TEST(Drift, LabelOutsideTheClassesMeansNoAccuracyForThatOutput) {
  for (int64_t bad : {int64_t{3}, int64_t{-1}}) {
    DriftAccumulator acc;
    ASSERT_TRUE(acc.add("logits", f32({1, 3}, {0, 1, 0}), f32({1, 3}, {0, 1, 0}), int64_t{1}).ok());
    ASSERT_TRUE(acc.add("logits", f32({1, 3}, {0, 1, 0}), f32({1, 3}, {5, 1, 0}), bad).ok());
    const DriftMetrics m = acc.result();
    EXPECT_EQ(m.samples, 2u);
    EXPECT_EQ(m.max_abs, 5);
    EXPECT_FALSE(m.accuracy) << bad;
    EXPECT_FALSE(m.accuracy_drop) << bad;
    EXPECT_DOUBLE_EQ(*m.top1_agreement, 0.5);
  }
}

TEST(DriftMetrics, GetByNameAndMetricOrder) {
  const std::vector<std::string> expected = {
      "max_abs",        "mean_abs",       "rmse",
      "rel_l2",         "cosine",         "snr_db",
      "top1_agreement", "top5_agreement", "reference_accuracy",
      "accuracy",       "accuracy_drop"};
  EXPECT_EQ(metric_names(), expected);
  DriftMetrics m;
  m.max_abs = 1;
  m.mean_abs = 2;
  m.rmse = 3;
  m.rel_l2 = 4;
  m.cosine = 5;
  m.snr_db = 6;
  m.top1_agreement = 7;
  m.accuracy_drop = 11;
  EXPECT_EQ(m.get("max_abs"), 1);
  EXPECT_EQ(m.get("mean_abs"), 2);
  EXPECT_EQ(m.get("rmse"), 3);
  EXPECT_EQ(m.get("rel_l2"), 4);
  EXPECT_EQ(m.get("cosine"), 5);
  EXPECT_EQ(m.get("snr_db"), 6);
  EXPECT_EQ(m.get("top1_agreement"), 7);
  EXPECT_FALSE(m.get("top5_agreement"));
  EXPECT_FALSE(m.get("accuracy"));
  EXPECT_EQ(m.get("accuracy_drop"), 11);
  EXPECT_FALSE(m.get("size_ratio"));
  EXPECT_FALSE(m.get("bogus"));

  for (const char* up :
       {"cosine", "snr_db", "top1_agreement", "top5_agreement", "reference_accuracy", "accuracy"}) {
    EXPECT_TRUE(higher_is_better(up)) << up;
  }
  for (const char* down : {"max_abs", "mean_abs", "rmse", "rel_l2", "accuracy_drop"}) {
    EXPECT_FALSE(higher_is_better(down)) << down;
  }
}

}  // namespace
}  // namespace compressor::eval
