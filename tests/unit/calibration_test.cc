// Calibration: the streaming histogram (exact merges when it widens, order independence), the
// four range methods checked against their definitions on raw values, the JSON table (bit-exact
// round trip, errors naming file and key) and calibrate() against ranges the test gathers by
// running the executor itself.
#include "compressor/pass/calibration.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "compressor/exec/executor.h"
#include "testing/test_models.h"

namespace compressor::pass {
namespace {

using testing::model_from_text;
using testing::TempDir;

CalibrationOptions with_method(CalibrationMethod method) {
  CalibrationOptions o;
  o.method = method;
  return o;
}

/// The histogram of `values` over [-r, r] with `bins` bins, straight from the definition: bin
/// bins/2 + k holds x >= 0 with |x| in (k w, (k+1) w] (0 in k = 0), bin bins/2 - 1 - k holds
/// x < 0 with the same |x|; w = 2r / bins. Counted by binary search over the sorted values.
std::vector<uint64_t> reference_histogram(std::vector<float> values, double r, size_t bins) {
  const size_t half = bins / 2;
  const double w = r / static_cast<double>(half);
  std::vector<double> pos, neg;
  for (float v : values) {
    if (std::isnan(v)) continue;
    (v >= 0 ? pos : neg).push_back(std::fabs(static_cast<double>(v)));
  }
  std::sort(pos.begin(), pos.end());
  std::sort(neg.begin(), neg.end());
  std::vector<uint64_t> h(bins, 0);
  for (size_t k = 0; k < half; ++k) {
    const double lo = static_cast<double>(k) * w, hi = static_cast<double>(k + 1) * w;
    auto count = [&](const std::vector<double>& s) {
      // (lo, hi], and [0, hi] for the first bin.
      auto first = k == 0 ? s.begin() : std::upper_bound(s.begin(), s.end(), lo);
      return static_cast<uint64_t>(std::upper_bound(s.begin(), s.end(), hi) - first);
    };
    h[half + k] = count(pos);
    h[half - 1 - k] = count(neg);
  }
  return h;
}

bool is_power_of_two(double r) {
  int e = 0;
  return r > 0 && std::frexp(r, &e) == 0.5;
}

std::vector<float> laplace(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<float> exp(1.0f);
  std::bernoulli_distribution sign(0.5);
  std::vector<float> v(n);
  for (auto& x : v) x = sign(rng) ? exp(rng) : -exp(rng);
  return v;
}

/// Laplace samples with a few far outliers (up to 70 where the bulk ends near 10).
std::vector<float> laplace_with_outliers(size_t n, uint32_t seed) {
  std::vector<float> v = laplace(n, seed);
  const float outliers[] = {50, -60, 45, 70, -55};
  std::copy(std::begin(outliers), std::end(outliers), v.begin());
  return v;
}

std::vector<float> uniform(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::fabs(static_cast<double>(x)));
  return m;
}

/// Squared error of symmetric 8-bit quantization clipped at t, summed over the raw values.
double raw_quant_error(const std::vector<float>& values, double t) {
  const double s = t / 127.0;
  double err = 0;
  for (float x : values) {
    const double a = std::fabs(static_cast<double>(x));
    const double q = std::min(std::round(a / s), 127.0) * s;
    err += (a - q) * (a - q);
  }
  return err;
}

double threshold_of(const TensorRange& r) { return std::max(-r.min, r.max); }

// ---------------------------------------------------------------------------------------------
// Method names and options

TEST(CalibrationMethod, NamesRoundTrip) {
  for (auto m : {CalibrationMethod::kMinMax, CalibrationMethod::kPercentile,
                 CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    auto parsed = parse_calibration_method(calibration_method_name(m));
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_EQ(calibration_method_name(CalibrationMethod::kMse), "mse");
  auto bad = parse_calibration_method("kl");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'kl'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("minmax, percentile, entropy, mse"), std::string::npos);
}

TEST(CalibrationOptions, ValidateNamesTheField) {
  EXPECT_OK(validate_calibration_options({}));
  for (double p : {0.0, -1.0, 100.5, std::numeric_limits<double>::quiet_NaN()}) {
    CalibrationOptions o;
    o.percentile = p;
    Status s = validate_calibration_options(o);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << p;
    EXPECT_NE(s.message().find("'percentile'"), std::string::npos) << s.message();
  }
  CalibrationOptions ok100;
  ok100.percentile = 100;
  EXPECT_OK(validate_calibration_options(ok100));
  for (size_t bins : {size_t{0}, size_t{64}, size_t{127}, size_t{129}, size_t{1} << 21}) {
    CalibrationOptions o;
    o.bins = bins;
    Status s = validate_calibration_options(o);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << bins;
    EXPECT_NE(s.message().find("'bins'"), std::string::npos) << s.message();
  }
  CalibrationOptions ok130;
  ok130.bins = 130;
  EXPECT_OK(validate_calibration_options(ok130));
}

// ---------------------------------------------------------------------------------------------
// TensorStats: the histogram

TEST(TensorStats, DoublingMergesBinPairsIntoTheMiddleHalf) {
  constexpr size_t kBins = 128;
  TensorStats stats(kBins);
  // Bin edges (multiples of w = 1/64 at R = 1) and R itself, to pin down the closed side.
  const std::vector<float> first = {0.3f, -0.7f, 0.05f,  1.0f,      -1.0f,      0.0f,
                                    0.5f, 0.25f, -0.25f, 0.015625f, -0.984375f, 0.99f};
  stats.observe(first);
  ASSERT_EQ(stats.half_width(), 1.0);
  const std::vector<uint64_t> before = stats.histogram();
  EXPECT_EQ(before, reference_histogram(first, 1.0, kBins));

  stats.observe(std::vector<float>{1.5f});  // forces one doubling: R = 2
  ASSERT_EQ(stats.half_width(), 2.0);
  std::vector<uint64_t> after = stats.histogram();
  // Take the new value out (its bin by the definition, w = 1/32: 1.5 is in (47 w, 48 w]).
  ASSERT_EQ(after[kBins / 2 + 47], 1u);
  after[kBins / 2 + 47] -= 1;
  for (size_t j = 0; j < kBins; ++j) {
    if (j < kBins / 4 || j >= 3 * kBins / 4) {
      EXPECT_EQ(after[j], 0u) << "outer bin " << j;
      continue;
    }
    const size_t old = 2 * (j - kBins / 4);
    EXPECT_EQ(after[j], before[old] + before[old + 1]) << "bin " << j;
  }
}

TEST(TensorStats, MergedHistogramEqualsDirectBinning) {
  constexpr size_t kBins = 256;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> scale(-4, 4);
  std::vector<float> values(6000);
  for (auto& v : values) v = normal(rng) * std::pow(10.0f, scale(rng));
  values[17] = 0.0f;
  values[99] = -0.0f;

  // Small-to-large in small batches: many merges, often several doublings at once.
  std::vector<float> ascending = values;
  std::sort(ascending.begin(), ascending.end(),
            [](float a, float b) { return std::fabs(a) < std::fabs(b); });
  TensorStats merged(kBins);
  for (size_t i = 0; i < ascending.size(); i += 7) {
    merged.observe(
        std::span<const float>(ascending).subspan(i, std::min<size_t>(7, ascending.size() - i)));
  }
  // Everything at once: R is final from the start, no merges.
  TensorStats direct(kBins);
  direct.observe(values);
  // Shuffled, one value at a time.
  std::vector<float> shuffled = values;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  TensorStats single(kBins);
  for (float v : shuffled) single.observe(std::span<const float>(&v, 1));

  const double amax = max_abs(values);
  for (const TensorStats* s : {&merged, &direct, &single}) {
    EXPECT_TRUE(is_power_of_two(s->half_width()));
    EXPECT_GE(s->half_width(), amax);
    EXPECT_LT(s->half_width() / 2, amax);
    EXPECT_EQ(s->count(), values.size());
    EXPECT_EQ(s->min(), *std::min_element(values.begin(), values.end()));
    EXPECT_EQ(s->max(), *std::max_element(values.begin(), values.end()));
  }
  const auto reference = reference_histogram(values, direct.half_width(), kBins);
  EXPECT_EQ(direct.histogram(), reference);
  EXPECT_EQ(merged.histogram(), reference);
  EXPECT_EQ(single.histogram(), reference);
}

TEST(TensorStats, LargeGrowingBatchWithNonFiniteValuesMatchesDirectBinning) {
  // One batch large enough to be counted in the two histogram copies, whose magnitudes grow
  // along it, so that the range widens between blocks while the copies hold counts, and in the
  // blocks that hold a NaN or an infinity (counted value by value).
  constexpr size_t kBins = 256;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> values(5000);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = normal(rng) * std::pow(2.0f, static_cast<float>(i) / 250.0f);
  }
  std::fill(values.begin() + 1000, values.begin() + 1300, 0.0f);  // a run of Relu zeros
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> batch = values;
  batch.insert(batch.begin() + 4000, inf);
  batch.insert(batch.begin() + 2500, nan);
  batch.insert(batch.begin() + 300, nan);
  TensorStats stats(kBins);
  EXPECT_EQ(stats.observe(batch), 1u);  // the infinities, which calibrate refuses
  EXPECT_EQ(stats.count(), values.size());
  EXPECT_EQ(stats.nan_count(), 3u);
  EXPECT_EQ(stats.min(), *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(stats.max(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(stats.histogram(), reference_histogram(values, stats.half_width(), kBins));
}

TEST(TensorStats, TinyRangeMatchesDirectBinning) {
  // |x| around 1e-35: bins / R is beyond float, so the bins are computed in double.
  constexpr size_t kBins = 256;
  std::mt19937 rng(6);
  std::normal_distribution<float> normal;
  std::vector<float> values(3000);
  for (auto& v : values) v = normal(rng) * 1e-35f;
  TensorStats stats(kBins);
  EXPECT_EQ(stats.observe(values), 0u);
  EXPECT_LT(stats.half_width(), 0x1p-100);
  EXPECT_EQ(stats.histogram(), reference_histogram(values, stats.half_width(), kBins));
}

TEST(TensorStats, ZerosBeforeTheFirstNonzeroStayInTheMiddle) {
  TensorStats stats(128);
  stats.observe(std::vector<float>(5, 0.0f));
  EXPECT_EQ(stats.half_width(), 0.0);
  EXPECT_EQ(stats.histogram()[64], 5u);
  stats.observe(std::vector<float>{3.0f, -3.0f});
  EXPECT_EQ(stats.half_width(), 4.0);
  EXPECT_EQ(stats.histogram(), reference_histogram({0, 0, 0, 0, 0, 3.0f, -3.0f}, 4.0, 128));
}

TEST(TensorStats, MemoryDoesNotGrowWithObservations) {
  TensorStats stats(512);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> batch(1000);
  for (int round = 1; round <= 50; ++round) {
    for (auto& v : batch) v = u(rng) * static_cast<float>(round);
    stats.observe(batch);
    EXPECT_EQ(stats.count(), 1000u * round);
    EXPECT_EQ(stats.histogram().size(), 512u);
  }
}

TEST(TensorStats, NanIsIgnoredAndCounted) {
  TensorStats stats(128);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  stats.observe(std::vector<float>{nan, 2.0f, nan, -0.5f});
  EXPECT_EQ(stats.count(), 2u);
  EXPECT_EQ(stats.nan_count(), 2u);
  EXPECT_EQ(stats.min(), -0.5);
  EXPECT_EQ(stats.max(), 2.0);
  uint64_t total = 0;
  for (auto c : stats.histogram()) total += c;
  EXPECT_EQ(total, 2u);
}

// ---------------------------------------------------------------------------------------------
// TensorStats: ranges

TEST(TensorStatsRange, MinMaxIsWidenedToZero) {
  TensorStats both(128), positive(128), negative(128);
  both.observe(std::vector<float>{-3, 5, 2});
  positive.observe(std::vector<float>{2, 5});
  negative.observe(std::vector<float>{-5, -2});
  const auto o = with_method(CalibrationMethod::kMinMax);
  EXPECT_EQ(both.range(o).min, -3);
  EXPECT_EQ(both.range(o).max, 5);
  EXPECT_EQ(positive.range(o).min, 0);
  EXPECT_EQ(positive.range(o).max, 5);
  EXPECT_EQ(negative.range(o).min, -5);
  EXPECT_EQ(negative.range(o).max, 0);
}

TEST(TensorStatsRange, ZeroTensorIsZeroForEveryMethod) {
  TensorStats zeros(128), empty(128);
  zeros.observe(std::vector<float>(100, 0.0f));
  for (auto m : {CalibrationMethod::kMinMax, CalibrationMethod::kPercentile,
                 CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    for (const TensorStats* s : {&zeros, &empty}) {
      const TensorRange r = s->range(with_method(m));
      EXPECT_EQ(r.min, 0);
      EXPECT_EQ(r.max, 0);
    }
  }
}

TEST(TensorStatsRange, PercentileOfIntegers) {
  std::vector<float> values(10000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  TensorStats stats;  // 2048 bins: R = 16384, bin width 16
  stats.observe(values);
  const double w = stats.half_width() / 1024;
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto o = with_method(CalibrationMethod::kPercentile);
    o.percentile = p;
    // The p-th percentile of |x| by sorting: the value of rank ceil(p% of n).
    std::vector<float> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const double exact = sorted[static_cast<size_t>(std::ceil(p / 100 * sorted.size())) - 1];
    const TensorRange r = stats.range(o);
    EXPECT_EQ(r.min, 0);
    EXPECT_NEAR(r.max, exact, w) << p;
  }
  auto all = with_method(CalibrationMethod::kPercentile);
  all.percentile = 100;
  EXPECT_EQ(stats.range(all).max, 9999);
}

TEST(TensorStatsRange, PercentileIsSymmetricInMagnitude) {
  // -5000..4999: 90% of |x| lies below 4500.
  std::vector<float> values;
  for (int i = -5000; i < 5000; ++i) values.push_back(static_cast<float>(i));
  TensorStats stats;
  stats.observe(values);
  auto o = with_method(CalibrationMethod::kPercentile);
  o.percentile = 90;
  std::vector<double> mags;
  for (float v : values) mags.push_back(std::fabs(v));
  std::sort(mags.begin(), mags.end());
  const double exact = mags[static_cast<size_t>(std::ceil(0.9 * mags.size())) - 1];
  const double w = stats.half_width() / 1024;
  const TensorRange r = stats.range(o);
  EXPECT_NEAR(r.max, exact, w);
  EXPECT_EQ(r.min, -r.max);
}

TEST(TensorStatsRange, EntropyClipsHeavyTailsNotUniform) {
  const auto heavy = laplace(20000, 5);
  const auto outliers = laplace_with_outliers(20000, 5);
  const auto flat = uniform(20000, 6);
  TensorStats h, ho, f;
  h.observe(heavy);
  ho.observe(outliers);
  f.observe(flat);
  const auto o = with_method(CalibrationMethod::kEntropy);
  const double th = threshold_of(h.range(o));
  const double tho = threshold_of(ho.range(o));
  const double tf = threshold_of(f.range(o));
  EXPECT_LT(th, max_abs(heavy));
  EXPECT_GT(th, 0.5 * max_abs(heavy));
  EXPECT_LT(tho, 0.5 * max_abs(outliers));
  EXPECT_GE(tf, 0.95 * max_abs(flat));
  EXPECT_LE(tf, f.half_width());
}

TEST(TensorStatsRange, EntropyIsNotDrivenByTheZerosOfARelu) {
  // A Relu output: the positive half of a Laplace sample, and as many exact zeros again. The
  // zeros must not pull the threshold down: it is the one the values alone give, and most of
  // the range is kept.
  std::vector<float> positive;
  for (float v : laplace(20000, 9)) {
    if (v > 0) positive.push_back(v);
  }
  std::vector<float> relu = positive;
  relu.resize(2 * positive.size(), 0.0f);
  TensorStats p, r;
  p.observe(positive);
  r.observe(relu);
  ASSERT_EQ(p.half_width(), r.half_width());
  const auto o = with_method(CalibrationMethod::kEntropy);
  EXPECT_EQ(r.range(o).max, p.range(o).max);
  EXPECT_EQ(r.range(o).min, 0.0);
  EXPECT_GT(r.range(o).max, 0.5 * max_abs(positive));
}

TEST(TensorStatsRange, MseThresholdMinimisesRawQuantizationError) {
  const auto heavy = laplace(20000, 7);
  TensorStats h;
  h.observe(heavy);
  const double t = threshold_of(h.range(with_method(CalibrationMethod::kMse)));
  const double amax = max_abs(heavy);
  EXPECT_LT(t, amax);
  // The chosen threshold's error on the raw values is no worse than other thresholds' (the
  // histogram sees values only to within a bin, so allow 1%).
  const double chosen = raw_quant_error(heavy, t);
  for (double other : {0.5 * t, 0.75 * t, 0.9 * t, 1.1 * t, 1.25 * t, 1.5 * t, amax}) {
    EXPECT_LE(chosen, 1.01 * raw_quant_error(heavy, other)) << "t " << t << " other " << other;
  }

  // A few far outliers: clipping them costs less than the coarser step keeping them would.
  const auto outliers = laplace_with_outliers(20000, 7);
  TensorStats ho;
  ho.observe(outliers);
  const double tho = threshold_of(ho.range(with_method(CalibrationMethod::kMse)));
  EXPECT_LT(tho, max_abs(outliers));
  const double chosen_o = raw_quant_error(outliers, tho);
  for (double other : {0.25 * tho, 0.5 * tho, 0.9 * tho, max_abs(outliers)}) {
    EXPECT_LE(chosen_o, 1.01 * raw_quant_error(outliers, other)) << tho << " vs " << other;
  }

  const auto flat = uniform(20000, 8);
  TensorStats f;
  f.observe(flat);
  const double tf = threshold_of(f.range(with_method(CalibrationMethod::kMse)));
  EXPECT_GE(tf, 0.98 * max_abs(flat));
  EXPECT_LE(raw_quant_error(flat, tf), 1.01 * raw_quant_error(flat, max_abs(flat)));
}

/// The |x| histogram of `stats` in units of one bin width (the two signs folded).
std::vector<double> magnitudes(const TensorStats& stats) {
  const auto& h = stats.histogram();
  const size_t half = h.size() / 2;
  std::vector<double> mag(half);
  for (size_t k = 0; k < half; ++k) mag[k] = static_cast<double>(h[half + k] + h[half - 1 - k]);
  return mag;
}

/// KL(P || Q) of the entropy method at edge i, built entry by entry from its definition: P is
/// mag[0, i) with the clipped mass added to its last bin, Q is mag[0, i) merged into `levels`
/// groups and spread back over P's nonzero entries, both given 1e-4 of their mass on their zero
/// entries, then normalised. The first bin takes its neighbour's count (the Relu zeros).
/// Infinity when Q is empty.
double definition_kl(std::vector<double> mag, size_t i, size_t levels) {
  mag[0] = mag[1];
  std::vector<double> p(mag.begin(), mag.begin() + static_cast<std::ptrdiff_t>(i));
  for (size_t k = i; k < mag.size(); ++k) p[i - 1] += mag[k];
  std::vector<double> q(i, 0.0);
  const size_t width = i / levels;
  for (size_t j = 0; j < levels; ++j) {
    const size_t start = j * width, stop = j + 1 == levels ? i : start + width;
    double sum = 0;
    size_t nonzero = 0;
    for (size_t k = start; k < stop; ++k) {
      sum += mag[k];
      nonzero += p[k] != 0 ? 1 : 0;
    }
    for (size_t k = start; k < stop; ++k) {
      if (p[k] != 0) q[k] = sum / static_cast<double>(nonzero);
    }
  }
  auto smooth = [&](std::vector<double>& d) {
    double sum = 0;
    size_t zeros = 0;
    for (double v : d) {
      sum += v;
      zeros += v == 0 ? 1 : 0;
    }
    if (sum <= 0) return false;
    const double eps = 1e-4 * sum / static_cast<double>(d.size());
    for (double& v : d) v = v == 0 ? eps : v * (sum - eps * static_cast<double>(zeros)) / sum;
    for (double& v : d) v /= sum;
    return true;
  };
  if (!smooth(p) || !smooth(q)) return std::numeric_limits<double>::infinity();
  double kl = 0;
  for (size_t k = 0; k < i; ++k) kl += p[k] * std::log(p[k] / q[k]);
  return kl;
}

/// Squared error of quantization with `levels` steps in [0, t], clipped at edge t, over the |x|
/// histogram, each bin's values uniform over the bin: integrated piece by piece, each piece of a
/// bin against the level it rounds to.
double definition_mse(const std::vector<double>& mag, size_t t, size_t levels) {
  const double dt = static_cast<double>(t), s = dt / static_cast<double>(levels);
  auto integral = [](double lo, double hi, double c) {
    return ((hi - c) * (hi - c) * (hi - c) - (lo - c) * (lo - c) * (lo - c)) / 3.0;
  };
  double err = 0;
  for (size_t k = 0; k < mag.size(); ++k) {
    if (mag[k] == 0) continue;
    const double a = static_cast<double>(k), b = a + 1;
    if (a >= dt) {
      err += mag[k] * integral(a, b, dt);
      continue;
    }
    for (double j = std::floor(a / s + 0.5);; j += 1) {
      const double lo = std::max(a, (j - 0.5) * s), hi = std::min(b, (j + 0.5) * s);
      if (lo >= b) break;
      if (hi > lo) err += mag[k] * integral(lo, hi, j * s);
    }
  }
  return err;
}

/// Tensors whose chosen threshold lies below their largest |x| (so the edge can be read back
/// from the range): heavy tails, far outliers, a Relu output, and a few spikes with empty bins
/// between them.
std::vector<std::vector<float>> clipped_shapes() {
  std::vector<float> relu;
  for (float v : laplace(20000, 13)) relu.push_back(std::max(v, 0.0f));
  std::vector<float> spikes = laplace(4000, 17);
  for (size_t k = 0; k < spikes.size(); ++k) spikes[k] = std::round(spikes[k] * 4) / 4;
  spikes[0] = 40;
  spikes[1] = -40;  // far on both sides: 128 levels, whatever the edge
  return {laplace(20000, 11), laplace_with_outliers(20000, 12), relu, spikes};
}

TEST(TensorStatsRange, EntropyDivergencesFollowTheDefinition) {
  for (const auto& values : clipped_shapes()) {
    TensorStats stats;
    stats.observe(values);
    const std::vector<double> mag = magnitudes(stats);
    // The chosen edge t (in bins) and the levels it gives: the divergences at those levels
    // follow the definition and have their smallest value at t.
    const double w = stats.half_width() / static_cast<double>(mag.size());
    const double t = threshold_of(stats.range(with_method(CalibrationMethod::kEntropy)));
    ASSERT_LT(t, max_abs(values));
    const size_t levels = levels_within(-stats.min() / w, stats.max() / w, t / w);
    const std::vector<double> kl = entropy_divergences(mag, levels);
    ASSERT_EQ(kl.size(), mag.size() - levels + 1);
    size_t lone = 0;  // edges whose last group holds only clipped mass
    for (size_t i = levels; i <= mag.size(); ++i) {
      const double expected = definition_kl(mag, i, levels);
      EXPECT_NEAR(kl[i - levels], expected, 1e-9 * std::fabs(expected) + 1e-12) << "edge " << i;
      const size_t width = i / levels;
      double last_group = 0, beyond = 0;
      for (size_t k = (levels - 1) * width; k < i; ++k) last_group += mag[k];
      for (size_t k = i; k < mag.size(); ++k) beyond += mag[k];
      lone += last_group == 0 && beyond > 0 ? 1 : 0;
    }
    if (values.size() == 4000) {
      EXPECT_GT(lone, 0u) << "the spikes reach the lone-group case";
    }
    // The range is the edge of the smallest divergence.
    size_t best = 0;
    for (size_t k = 1; k < kl.size(); ++k) best = kl[k] < kl[best] ? k : best;
    EXPECT_EQ(t, static_cast<double>(levels + best) * w);
  }
}

// The levels of [0, t] are the 8-bit steps that fall there once the range is clipped at t.
TEST(TensorStatsRange, EntropyLevelsCountTheStepsInsideTheThreshold) {
  EXPECT_EQ(levels_within(10, 10, 5), 128u) << "as negative as positive: half the steps";
  EXPECT_EQ(levels_within(0, 10, 5), 255u) << "never negative: every step";
  EXPECT_EQ(levels_within(10, 0, 5), 255u) << "never positive: every step";
  // A HardSwish output: [-0.375, 12] clipped at 6 spans 6.375, 6 / 6.375 of 255 steps.
  EXPECT_EQ(levels_within(0.375, 12, 6), size_t(std::nearbyint(255 * 6 / 6.375)));
  EXPECT_EQ(levels_within(3, 12, 6), size_t(std::nearbyint(255 * 6 / 9.0)));
  EXPECT_EQ(levels_within(0, 0, 0), 128u) << "an all-zero tensor";
}

// A HardSwish-like tensor, almost never negative, is quantized with nearly all 256 levels over
// [-0.375, t]: its entropy threshold is the one of the same values with the negative ones
// dropped, not the tighter one 128 levels would give.
TEST(TensorStatsRange, EntropyOfAOneSidedTensorUsesTheLevelsItGets) {
  std::vector<float> hswish, positive;
  for (float v : laplace(20000, 21)) {
    const float h = v * std::clamp(v / 6.0f + 0.5f, 0.0f, 1.0f);
    hswish.push_back(h);
    if (h >= 0) positive.push_back(h);
  }
  TensorStats a, b;
  a.observe(hswish);
  b.observe(positive);
  ASSERT_LT(a.min(), 0.0);
  ASSERT_EQ(a.half_width(), b.half_width());
  const auto o = with_method(CalibrationMethod::kEntropy);
  const double ta = a.range(o).max, tb = b.range(o).max;
  ASSERT_LT(tb, max_abs(positive)) << "the threshold clips";
  EXPECT_NEAR(ta, tb, 0.05 * tb);
  // With 128 levels (what a signed tensor had before) the edge is much tighter.
  const std::vector<double> mag = magnitudes(a);
  const std::vector<double> kl = entropy_divergences(mag, 128);
  size_t best = 0;
  for (size_t k = 1; k < kl.size(); ++k) best = kl[k] < kl[best] ? k : best;
  const double w = a.half_width() / static_cast<double>(mag.size());
  EXPECT_LT(static_cast<double>(128 + best) * w, 0.9 * ta);
}

// An SE block's gate lies between 0.15 and 0.35, far from zero. KL(P || Q) is smallest where
// every value is clipped into one spike, so the entropy edge may clip at most 1% of the values.
TEST(TensorStatsRange, EntropyKeepsAGateBoundedAwayFromZero) {
  std::vector<float> gate = uniform(20000, 23);
  for (float& v : gate) v = 0.25f + 0.1f * v;  // uniform gives [-1, 1)
  TensorStats stats;
  stats.observe(gate);
  std::vector<float> sorted = gate;
  std::sort(sorted.begin(), sorted.end());
  const double p99 = sorted[size_t(0.99 * double(sorted.size()))];
  const TensorRange r = stats.range(with_method(CalibrationMethod::kEntropy));
  EXPECT_GE(r.max, p99 - stats.half_width() / 1024);
  EXPECT_EQ(r.min, 0.0);
}

TEST(TensorStatsRange, MseErrorsFollowTheDefinition) {
  for (const auto& values : clipped_shapes()) {
    TensorStats stats;
    stats.observe(values);
    const std::vector<double> mag = magnitudes(stats);
    const double w = stats.half_width() / static_cast<double>(mag.size());
    const double neg = -stats.min() / w, pos = stats.max() / w;
    const std::vector<double> err = mse_errors(mag, neg, pos);
    ASSERT_EQ(err.size(), mag.size());
    size_t last = 0;
    for (size_t k = 0; k < mag.size(); ++k) last = mag[k] > 0 ? k : last;
    for (size_t t = 1; t <= mag.size(); ++t) {
      if (t > last + 1) {
        EXPECT_EQ(err[t - 1], std::numeric_limits<double>::infinity()) << "edge " << t;
        continue;
      }
      const double expected = definition_mse(mag, t, levels_within(neg, pos, double(t)));
      EXPECT_NEAR(err[t - 1], expected, 1e-9 * expected) << "edge " << t;
    }
    size_t best = 0;
    for (size_t k = 1; k < err.size(); ++k) best = err[k] < err[best] ? k : best;
    const double t = threshold_of(stats.range(with_method(CalibrationMethod::kMse)));
    ASSERT_LT(t, max_abs(values));
    EXPECT_EQ(t, static_cast<double>(best + 1) * w);
  }
}

TEST(TensorStatsRange, ClippingMethodsStayInsideMinMax) {
  const auto heavy = laplace(5000, 9);
  TensorStats s;
  s.observe(heavy);
  for (auto m :
       {CalibrationMethod::kPercentile, CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    const TensorRange r = s.range(with_method(m));
    EXPECT_GE(r.min, s.min());
    EXPECT_LE(r.max, s.max());
    EXPECT_LT(r.min, 0);
    EXPECT_GT(r.max, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// CalibrationTable

uint64_t bits(double d) { return std::bit_cast<uint64_t>(d); }

TEST(CalibrationTable, JsonRoundTripIsBitExact) {
  CalibrationTable t;
  t.method = "entropy";
  t.samples = 12;
  t.ranges["zeta"] = {-1.0 / 3.0, 0.1};
  t.ranges["alpha"] = {-0.0, 3.0000000000000004};
  t.ranges["conv/1:0"] = {-std::numeric_limits<double>::denorm_min(), 1e300};
  t.ranges["mid"] = {-123456.78901234567, 2.0 / 7.0};
  const std::string text = t.to_json();

  auto back = CalibrationTable::from_json(text, "table.json");
  ASSERT_OK(back);
  EXPECT_EQ(back->method, "entropy");
  EXPECT_EQ(back->samples, 12u);
  ASSERT_EQ(back->ranges.size(), t.ranges.size());
  for (const auto& [name, r] : t.ranges) {
    const TensorRange* b = back->find(name);
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(bits(b->min), bits(r.min)) << name;
    EXPECT_EQ(bits(b->max), bits(r.max)) << name;
  }
  EXPECT_EQ(back->find("nope"), nullptr);
  EXPECT_EQ(back->to_json(), text);

  // Structure and sorted names.
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["format"], "compressor-calibration");
  EXPECT_EQ(j["version"], 1);
  EXPECT_LT(text.find("\"alpha\""), text.find("\"conv/1:0\""));
  EXPECT_LT(text.find("\"conv/1:0\""), text.find("\"mid\""));
  EXPECT_LT(text.find("\"mid\""), text.find("\"zeta\""));

  TempDir dir;
  ASSERT_OK(t.save(dir.file("a.json")));
  auto loaded = CalibrationTable::load(dir.file("a.json"));
  ASSERT_OK(loaded);
  ASSERT_OK(loaded->save(dir.file("b.json")));
  EXPECT_EQ(testing::read_file(dir.file("a.json")), testing::read_file(dir.file("b.json")));
}

TEST(CalibrationTable, FromJsonErrorsNameFileAndKey) {
  const std::string ok_head =
      R"({"format": "compressor-calibration", "version": 1, "method": "mse", "samples": 3, )";
  struct Case {
    std::string text;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {"{not json", "not valid JSON: parse error at line 1"},
      {"[1, 2]", "top level"},
      {R"({"format": "other", "version": 1})", "'format'"},
      {R"({"format": "compressor-calibration", "version": 2, "method": "mse", "samples": 1,
           "ranges": {}})",
       "version 2"},
      {R"({"format": "compressor-calibration", "version": "1"})", "'version'"},
      {R"({"format": "compressor-calibration", "version": 1, "method": "kl", "samples": 1,
           "ranges": {}})",
       "'method'"},
      {R"({"format": "compressor-calibration", "version": 1, "method": "mse", "samples": -1,
           "ranges": {}})",
       "'samples'"},
      {ok_head + R"("ranges": []})", "'ranges'"},
      {ok_head + R"("ranges": {"x": [1]}})", "'ranges.x'"},
      {ok_head + R"("ranges": {"x": ["a", 1]}})", "'ranges.x'"},
      {ok_head + R"("ranges": {"y": [-1, 1], "x": [2, 1]}})", "'ranges.x': min 2 is greater"},
      {ok_head + R"("ranges": {"x": [0.5, 1]}})",
       "'ranges.x': [0.5, 1] is not a range containing 0"},
      {ok_head + R"("ranges": {"x": [-1, 1e400]}})", "1e400"},
  };
  for (const auto& c : cases) {
    auto r = CalibrationTable::from_json(c.text, "calib.json");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidModel) << c.text;
    EXPECT_EQ(r.status().message().rfind("calib.json: ", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find(c.mentions), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
  }
  auto good = CalibrationTable::from_json(ok_head + R"("ranges": {"x": [-1, 0]}})", "c.json");
  ASSERT_OK(good);
  EXPECT_EQ(good->find("x")->min, -1);
}

TEST(CalibrationTable, LoadMissingFileIsNotFound) {
  TempDir dir;
  auto r = CalibrationTable::load(dir.file("missing.json"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.status().message().find("missing.json"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// calibrate

constexpr const char* kModel = R"(
  <ir_version: 8, opset_import: ["" : 13]>
  g (float[3, 4] x) => (float[3, 2] y, int64[3] idx)
  <float[4, 2] w = {0.5, -1, 2, 0.25, -0.75, 1.5, 1, -2}>
  {
    h = MatMul(x, w)
    y = Relu(h)
    idx = ArgMax<axis = 1, keepdims = 0>(h)
  })";

ir::Model load(const char* text) {
  auto m = model_from_text(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : ir::Model();
}

io::SampleSet open_samples(const ir::Model& model, size_t count) {
  io::SampleOptions o;
  o.count = count;
  o.seed = 7;
  o.random_range = std::make_pair(-3.0, 2.0);
  auto s = io::SampleSet::open(model, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

/// The oracle's view: runs `model` on every sample with the executor and shows `track` every
/// input and every value the model computes.
void see_every_value(const ir::Model& model, const io::SampleSet& samples,
                     const exec::CaptureHook& track) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  ASSERT_OK(ex);
  for (size_t i = 0; i < samples.size(); ++i) {
    auto sample = samples.get(i);
    ASSERT_OK(sample);
    std::vector<exec::NamedTensor> feed;
    for (auto& t : *sample) {
      track(t.name, t.tensor);
      feed.push_back({t.name, t.tensor});
    }
    ASSERT_OK((*ex)->run(feed, track));
  }
}

TEST(Calibrate, MinMaxMatchesValuesTheExecutorProduces) {
  const ir::Model model = load(kModel);
  const io::SampleSet samples = open_samples(model, 6);

  // The oracle: run every sample, capture everything, track extremes of each float tensor.
  std::map<std::string, std::pair<double, double>> extremes;
  auto track = [&](const std::string& name, const ir::Tensor& t) {
    if (t.dtype() != ir::DType::kFloat) return;
    for (float v : t.span<float>()) {
      auto [it, fresh] = extremes.try_emplace(name, v, v);
      it->second.first = std::min<double>(it->second.first, v);
      it->second.second = std::max<double>(it->second.second, v);
    }
  };
  see_every_value(model, samples, track);
  track("w", model.graph.find_initializer("w")->tensor);

  auto table = calibrate(model, samples, {"y", "x", "h", "w", "idx"}, {});
  ASSERT_OK(table);
  EXPECT_EQ(table->method, "minmax");
  EXPECT_EQ(table->samples, 6u);
  EXPECT_EQ(table->find("idx"), nullptr);  // int64: skipped
  ASSERT_EQ(table->ranges.size(), 4u);
  for (const char* name : {"x", "w", "h", "y"}) {
    const TensorRange* r = table->find(name);
    ASSERT_NE(r, nullptr) << name;
    EXPECT_EQ(r->min, std::min(extremes[name].first, 0.0)) << name;
    EXPECT_EQ(r->max, std::max(extremes[name].second, 0.0)) << name;
  }
  EXPECT_EQ(table->find("y")->min, 0.0);
  EXPECT_LT(table->find("x")->min, 0.0);

  // Inputs alone need no capture; threads do not change the table.
  auto inputs_only = calibrate(model, samples, {"x"}, {});
  ASSERT_OK(inputs_only);
  EXPECT_EQ(inputs_only->find("x")->min, table->find("x")->min);
  EXPECT_EQ(inputs_only->find("x")->max, table->find("x")->max);
  for (auto m :
       {CalibrationMethod::kPercentile, CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    auto one = with_method(m);
    one.threads = 1;
    auto two = one;
    two.threads = 2;
    auto a = calibrate(model, samples, {"h", "y"}, one);
    auto b = calibrate(model, samples, {"h", "y"}, two);
    ASSERT_OK(a);
    ASSERT_OK(b);
    EXPECT_EQ(a->to_json(), b->to_json());
    EXPECT_EQ(a->method, calibration_method_name(m));
    EXPECT_GE(a->find("h")->min, table->find("h")->min);
    EXPECT_LE(a->find("h")->max, table->find("h")->max);
  }
}

TEST(Calibrate, ModelOutputsKeepTheirFullRange) {
  // Clipping a model output changes the answer itself, so outputs get min-max ranges whatever
  // the method; inner tensors get the method's.
  const ir::Model model = load(kModel);
  const io::SampleSet samples = open_samples(model, 6);
  auto minmax = calibrate(model, samples, {"h", "y"}, {});
  CalibrationOptions clip = with_method(CalibrationMethod::kPercentile);
  clip.percentile = 50;
  auto percentile = calibrate(model, samples, {"h", "y"}, clip);
  ASSERT_OK(minmax);
  ASSERT_OK(percentile);
  EXPECT_EQ(percentile->find("y")->max, minmax->find("y")->max);
  EXPECT_EQ(percentile->find("y")->min, minmax->find("y")->min);
  const TensorRange* h = percentile->find("h");
  EXPECT_LT(h->max - h->min, minmax->find("h")->max - minmax->find("h")->min);
}

TEST(Calibrate, UnknownTensorIsInvalidArgument) {
  const ir::Model model = load(kModel);
  const io::SampleSet samples = open_samples(model, 2);
  auto r = calibrate(model, samples, {"h", "nope"}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'nope'"), std::string::npos) << r.status().message();
}

TEST(Calibrate, BadOptionsAreInvalidArgument) {
  const ir::Model model = load(kModel);
  const io::SampleSet samples = open_samples(model, 2);
  CalibrationOptions o;
  o.bins = 100;
  auto r = calibrate(model, samples, {"h"}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'bins'"), std::string::npos);
}

TEST(Calibrate, InfinityNamesTensorAndSample) {
  const ir::Model model = load(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[4] x) => (float[4] z, float[4] y)
    <float[1] zero = {0}>
    {
      y = Relu(x)
      z = Div(x, zero)
    })");
  io::SampleOptions o;
  o.count = 3;
  o.random_range = std::make_pair(1.0, 2.0);
  auto samples = io::SampleSet::open(model, o);
  ASSERT_OK(samples);
  // The same error whether the statistics run inline (1 thread) or beside the executor.
  for (int threads : {1, 2}) {
    CalibrationOptions options = with_method(CalibrationMethod::kPercentile);
    options.threads = threads;
    auto r = calibrate(model, *samples, {"y", "z"}, options);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidModel);
    EXPECT_NE(r.status().message().find("'z'"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("sample 0"), std::string::npos) << r.status().message();
  }
  // Only the requested tensors are checked.
  auto fine = calibrate(model, *samples, {"y"}, {});
  ASSERT_OK(fine);
  EXPECT_GE(fine->find("y")->min, 0.0);
  EXPECT_GE(fine->find("y")->max, 1.0);
}

TEST(Calibrate, ChannelStatisticsMatchTheValuesPerChannel) {
  const ir::Model model = load(kModel);
  const io::SampleSet samples = open_samples(model, 5);
  // The oracle: every value of x (rows are positions, columns channels) and of h, per channel.
  std::map<std::string, std::vector<std::vector<double>>> per_channel;
  auto track = [&](const std::string& name, const ir::Tensor& t) {
    if (name != "x" && name != "h") return;
    const auto& dims = t.dims();
    auto& cols = per_channel[name];
    cols.resize(static_cast<size_t>(dims[1]));
    const auto v = t.span<float>();
    for (size_t i = 0; i < v.size(); ++i) cols[i % cols.size()].push_back(v[i]);
  };
  see_every_value(model, samples, track);
  // x per channel only (no range asked for), h both; the axis counted from the end.
  auto table = calibrate(model, samples, {"h"}, {}, {{"x", 1}, {"h", -1}});
  ASSERT_OK(table);
  EXPECT_EQ(table->find("x"), nullptr);
  ASSERT_NE(table->find("h"), nullptr);
  for (const char* name : {"x", "h"}) {
    const ChannelStats* c = table->find_channels(name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->axis, 1) << name;
    const auto& cols = per_channel[name];
    ASSERT_EQ(c->mean.size(), cols.size()) << name;
    for (size_t k = 0; k < cols.size(); ++k) {
      double sum = 0, abs_sum = 0, square_sum = 0, m = 0;
      for (double v : cols[k]) {
        sum += v;
        abs_sum += std::fabs(v);
        square_sum += v * v;
        m = std::max(m, std::fabs(v));
      }
      const auto n = static_cast<double>(cols[k].size());
      EXPECT_NEAR(c->mean[k], sum / n, 1e-12) << name << k;
      EXPECT_NEAR(c->abs_mean[k], abs_sum / n, 1e-12) << name << k;
      EXPECT_NEAR(c->mean_square[k], square_sum / n, 1e-12) << name << k;
      EXPECT_EQ(c->abs_max[k], m) << name << k;
    }
  }
  // Statistics taken beside the executor (2 threads) are the same bits as inline (1 thread).
  for (auto method : {CalibrationMethod::kMinMax, CalibrationMethod::kPercentile}) {
    CalibrationOptions one = with_method(method), two = with_method(method);
    one.threads = 1;
    two.threads = 2;
    auto inline_table = calibrate(model, samples, {"h", "y"}, one, {{"x", 1}, {"h", -1}});
    auto beside = calibrate(model, samples, {"h", "y"}, two, {{"x", 1}, {"h", -1}});
    ASSERT_OK(inline_table);
    ASSERT_OK(beside);
    EXPECT_EQ(inline_table->to_json(), beside->to_json());
  }
  // They survive the JSON table bit-exactly, and reading them back gives the same text.
  auto back = CalibrationTable::from_json(table->to_json(), "t.json");
  ASSERT_OK(back);
  ASSERT_NE(back->find_channels("h"), nullptr);
  EXPECT_EQ(back->find_channels("h")->mean, table->find_channels("h")->mean);
  EXPECT_EQ(back->find_channels("h")->abs_max, table->find_channels("h")->abs_max);
  EXPECT_EQ(back->find_channels("h")->abs_mean, table->find_channels("h")->abs_mean);
  EXPECT_EQ(back->find_channels("h")->mean_square, table->find_channels("h")->mean_square);
  EXPECT_EQ(back->to_json(), table->to_json());
  // A table written before abs_mean and mean_square existed still reads, without them.
  auto older = CalibrationTable::from_json(
      R"({"format": "compressor-calibration", "version": 1, "method": "minmax", "samples": 1, )"
      R"("ranges": {}, "channels": {"t": {"axis": 1, "mean": [0.5], "abs_max": [1]}}})",
      "old.json");
  ASSERT_OK(older);
  EXPECT_TRUE(older->find_channels("t")->abs_mean.empty());
  EXPECT_TRUE(older->find_channels("t")->mean_square.empty());
  // A table without channels writes no "channels" key (older tables read the same).
  CalibrationTable plain;
  plain.method = "minmax";
  EXPECT_EQ(plain.to_json().find("channels"), std::string::npos);
}

TEST(Calibrate, ChannelAxisOutsideTheRankNamesTheTensor) {
  const ir::Model model = load(kModel);
  const io::SampleSet samples = open_samples(model, 2);
  auto r = calibrate(model, samples, {}, {}, {{"h", 2}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'h'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("axis 2"), std::string::npos) << r.status().message();
}

TEST(CalibrationTable, BadChannelsNameTheKey) {
  const std::string head =
      R"({"format": "compressor-calibration", "version": 1, "method": "minmax", "samples": 1, )"
      R"("ranges": {}, "channels": {"t": )";
  for (const auto& [body, key] : std::vector<std::pair<std::string, std::string>>{
           {R"({"axis": -1, "mean": [0], "abs_max": [1]})", "channels.t.axis"},
           {R"({"axis": 1, "mean": [0, 1], "abs_max": [1]})", "channels.t'"},
           {R"({"axis": 1, "mean": [0], "abs_max": [-1]})", "channels.t.abs_max"},
           {R"({"axis": 1, "mean": ["a"], "abs_max": [1]})", "channels.t.mean"},
           {R"({"axis": 1, "mean": [0], "abs_max": [1], "abs_mean": [1, 2]})", "'abs_mean'"},
           {R"({"axis": 1, "mean": [0], "abs_max": [1], "mean_square": [-1]})",
            "channels.t.mean_square"}}) {
    auto r = CalibrationTable::from_json(head + body + "}}", "c.json");
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find("c.json"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().message();
  }
}

TEST(CalibrationTable, MergeLetsTheLaterEntryWin) {
  CalibrationTable a, b;
  a.method = "minmax";
  a.samples = 3;
  a.ranges["x"] = {-1, 1};
  a.ranges["y"] = {0, 2};
  a.channels["x"] = {1, {0.5}, {1}, {0.5}, {0.25}};
  b.method = "entropy";
  b.samples = 4;
  b.ranges["y"] = {0, 3};
  b.channels["z"] = {0, {0.25}, {2}, {0.25}, {0.0625}};
  a.merge(b);
  EXPECT_EQ(a.method, "entropy");
  EXPECT_EQ(a.samples, 4u);
  EXPECT_EQ(a.find("x")->max, 1.0);
  EXPECT_EQ(a.find("y")->max, 3.0);
  ASSERT_NE(a.find_channels("x"), nullptr);
  ASSERT_NE(a.find_channels("z"), nullptr);
}

}  // namespace
}  // namespace compressor::pass
