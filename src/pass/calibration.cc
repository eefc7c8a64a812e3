// Calibration: streaming statistics of float tensors (exact extremes and a power-of-two
// histogram that widens by exact bin merges), the four ways to pick a range from them, the JSON
// table that carries the ranges, and the run over samples that fills it.
//
// The histogram. Bins cover [-R, R] with R a power of two; with H = bins / 2 and w = R / H, the
// magnitude bin of x is k = ceil(|x| / w) - 1 (bin k holds |x| in (k w, (k+1) w], and 0 sits in
// k = 0); x >= 0 goes to bin H + k, x < 0 to bin H - 1 - k, so folding bin H + k with H - 1 - k
// gives the histogram of |x|. |x| / R is exact (R is a power of two, x a float) and so is its
// product with H (a 24-bit mantissa times an integer below 2^21), so the index is computed
// exactly. When a value exceeds R, R doubles (as often as needed) and magnitude bin k becomes
// k >> s after s doublings: ceil(t / 2) = ceil(ceil(t) / 2) for any real t, so a merged bin
// holds exactly the values that would have fallen in it had R been that large from the start.
// R always ends as the smallest power of two >= max |x| over everything observed, so the
// histogram depends only on the multiset of values, not on their order or batching.
#include "compressor/pass/calibration.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>

#include "compressor/core/progress.h"
#include "compressor/exec/executor.h"
#include "compressor/exec/thread_pool.h"
#include "compressor/io/files.h"
#include "layer_gram.h"

namespace compressor::pass {
namespace {

constexpr size_t kMinBins = 128;
constexpr size_t kMaxBins = size_t{1} << 20;  // keeps the bin index exact (see above)
constexpr double kEntropyMaxClipped = 0.01;   // entropy: the most of the values an edge may clip
constexpr int kEntropyRounds = 4;             // entropy: at most this many (edge, levels) rounds
constexpr double kSmoothing = 1e-4;           // KL smoothing mass (see entropy_divergences)
constexpr const char* kFormat = "compressor-calibration";
constexpr int kVersion = 1;

struct MethodName {
  CalibrationMethod method;
  std::string_view name;
};
constexpr std::array kMethods = {
    MethodName{CalibrationMethod::kMinMax, "minmax"},
    MethodName{CalibrationMethod::kPercentile, "percentile"},
    MethodName{CalibrationMethod::kEntropy, "entropy"},
    MethodName{CalibrationMethod::kMse, "mse"},
};
static_assert(kMethods.size() == static_cast<size_t>(CalibrationMethod::kMse) + 1);

/// The smallest power of two >= m, for a finite m > 0.
double pow2_ceil(double m) {
  int e = 0;
  const double f = std::frexp(m, &e);  // m = f * 2^e with f in [0.5, 1)
  return f == 0.5 ? m : std::ldexp(1.0, e);
}

/// Percentile threshold: the |x| below which `percentile` percent of the values lie, read from
/// the |x| histogram (`mag`, in bin widths) by linear interpolation inside the bin that crosses
/// the target count.
double percentile_threshold(const std::vector<double>& mag, double percentile) {
  double total = 0;
  for (double v : mag) total += v;
  const double target =
      std::clamp(std::isnan(percentile) ? 100.0 : percentile, 0.0, 100.0) / 100.0 * total;
  double cum = 0;
  for (size_t k = 0; k < mag.size(); ++k) {
    if (mag[k] > 0 && cum + mag[k] >= target) {
      return static_cast<double>(k) + std::min(1.0, (target - cum) / mag[k]);
    }
    cum += mag[k];
  }
  return static_cast<double>(mag.size());
}

}  // namespace

size_t levels_within(double neg, double pos, double t) {
  const double span = std::min(std::max(neg, 0.0), t) + std::min(std::max(pos, 0.0), t);
  if (!(t > 0) || !(span > 0)) return 128;
  return static_cast<size_t>(std::clamp(std::nearbyint(255.0 * t / span), 128.0, 255.0));
}

/// The entropy method (TensorRT's calibrator, as MXNet and ONNX Runtime implement it), on the
/// |x| histogram `mag` (in bin widths). For every candidate edge i from `levels` bins up to all
/// of them: P is mag[0, i) with the counts beyond i (the clipped outliers) added to its last bin;
/// Q is mag[0, i) merged into `levels` equal groups (the last group takes the remainder), each
/// group's count spread evenly back over the bins of the group where P is nonzero. Both get
/// a small mass eps = 1e-4 * sum / i on their zero entries, taken proportionally from the others,
/// and the edge with the smallest KL(P || Q) wins (the smallest on ties).
///
/// A candidate costs O(1), not a pass over the bins. Where P is zero, Q is zero
/// too, both smoothed entries are 1e-4 / i of their sums, and the term vanishes. Elsewhere the
/// smoothing scales P by a = 1 - 1e-4 Zp / i and Q by b = 1 - 1e-4 Zq / i (Zp, Zq: zero
/// counts), Q's sum is mag[0, i)'s and P's is the total T, so with q_g = S_g / n_g (the group's
/// sum over its nonzero count)
///   KL = a / T * (sum p log p - sum_g P_g log q_g + T' log(a T_q / (b T))),
/// where P_g is P's mass in group g and T' the mass with both nonzero. sum p log p comes from
/// prefix sums of mag log mag, the group sums and nonzero counts from prefix sums too, and
/// candidates of the same group width share all groups but the last.
std::vector<double> entropy_divergences(std::vector<double> mag, size_t levels) {
  const size_t half = mag.size();
  levels = std::clamp<size_t>(levels, 1, std::max<size_t>(half, 1));
  // The exact zeros of a Relu output pile up in the first bin; left there, that spike dominates
  // the divergence and drives the threshold down to the smallest candidate. Like TensorRT's
  // calibrator, give the first bin its neighbour's count.
  if (half > 1) mag[0] = mag[1];
  const auto xlogx = [](double x) { return x > 0 ? x * std::log(x) : 0.0; };
  // sum[k], nonzero[k], plogp[k]: over mag[0, k). suffix[i]: the sum of mag[i, half), summed
  // from the top so that the clipped mass of a long empty tail is exactly zero.
  std::vector<double> sum(half + 1, 0.0), plogp(half + 1, 0.0), suffix(half + 1, 0.0);
  std::vector<uint32_t> nonzero(half + 1, 0);
  for (size_t k = 0; k < half; ++k) {
    sum[k + 1] = sum[k] + mag[k];
    plogp[k + 1] = plogp[k] + xlogx(mag[k]);
    nonzero[k + 1] = nonzero[k] + (mag[k] != 0 ? 1 : 0);
  }
  for (size_t k = half; k-- > 0;) suffix[k] = suffix[k + 1] + mag[k];
  const double total = suffix[0];
  std::vector<double> out(half >= levels ? half - levels + 1 : 0,
                          std::numeric_limits<double>::infinity());
  if (total <= 0) return out;
  std::vector<double> log_count(half + 1, 0.0);  // log n for the nonzero counts
  for (size_t n = 1; n <= half; ++n) log_count[n] = std::log(static_cast<double>(n));

  // The candidates with the same group width w = i / levels share every group but the last
  // ([j w, (j + 1) w) for j < levels - 1), where P equals mag: their part of
  // sum_g P_g log q_g = S_g (log S_g - log n_g) and their nonzero count are summed once per
  // width; each candidate adds its last group.
  size_t shared_width = 0;
  double shared_cross = 0;
  size_t shared_nonzero = 0;
  for (size_t i = levels; i <= half; ++i) {
    const double q_total = sum[i];
    if (q_total <= 0) continue;  // all mass clipped: no usable Q
    const size_t width = i / levels;
    if (width != shared_width) {
      shared_width = width;
      shared_cross = 0;
      shared_nonzero = 0;
      for (size_t j = 0; j + 1 < levels; ++j) {
        const size_t start = j * width, stop = start + width;
        const size_t n = nonzero[stop] - nonzero[start];
        if (n == 0) continue;
        const double g = sum[stop] - sum[start];
        shared_nonzero += n;
        shared_cross += g * (std::log(g) - log_count[n]);
      }
    }
    // The last group, where P's last bin also holds the clipped mass.
    const double clipped = suffix[i];
    const double last = mag[i - 1] + clipped;
    const size_t start = (levels - 1) * width;
    const double g = sum[i] - sum[start];
    const size_t n = nonzero[i] - nonzero[start] + (last != 0 ? 1 : 0) - (mag[i - 1] != 0 ? 1 : 0);
    const size_t p_nonzero = shared_nonzero + n;
    double cross = shared_cross;  // sum over entries with P and Q nonzero of p log q
    double lone_p = 0;            // P's mass where Q is zero
    if (n != 0 && g <= 0) {
      lone_p = last;  // the clipped mass alone: Q gets only the smoothing mass there
    } else if (n != 0) {
      cross += (g + clipped) * (std::log(g) - log_count[n]);
    }
    const double zeros_p = static_cast<double>(i - p_nonzero);
    const double zeros_q = zeros_p + (lone_p > 0 ? 1 : 0);
    const double di = static_cast<double>(i);
    const double a = 1 - kSmoothing * zeros_p / di;
    const double b = 1 - kSmoothing * zeros_q / di;
    const double plogp_all = plogp[i - 1] - plogp[0] + xlogx(last);
    const double both = total - lone_p;
    double kl = plogp_all - xlogx(lone_p) - cross + both * std::log(a * q_total / (b * total));
    if (lone_p > 0) kl += lone_p * std::log(a * lone_p * di / (kSmoothing * total));
    out[i - levels] = kl * a / total;
  }
  return out;
}

namespace {

/// The entropy edge for `levels`: the candidate of smallest divergence (the smallest edge on
/// ties) among those that clip at most kEntropyMaxClipped of the values, or all bins when no
/// candidate has one. The method treats what it clips as outliers; for a tensor far from zero
/// (an SE block's gate in [0.15, 0.35]) the divergence is smallest where every value is clipped
/// into one spike, which would turn the gate into a constant.
size_t entropy_edge(const std::vector<double>& mag, size_t levels) {
  const std::vector<double> kl = entropy_divergences(mag, levels);
  // beyond[i]: the mass from bin i up, summed from the top.
  std::vector<double> beyond(mag.size() + 1, 0.0);
  for (size_t k = mag.size(); k-- > 0;) beyond[k] = beyond[k + 1] + mag[k];
  const double cap = kEntropyMaxClipped * beyond[0];
  size_t best = mag.size();
  double best_kl = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < kl.size(); ++k) {
    const size_t edge = mag.size() - kl.size() + 1 + k;
    if (beyond[edge] > cap) continue;
    if (kl[k] < best_kl) {
      best_kl = kl[k];
      best = edge;
    }
  }
  return best;
}

/// The entropy threshold of a tensor whose values reach -neg and pos (in bin widths), over its
/// |x| histogram `mag`. The levels Q gets are the quantization steps that fall in [0, t] (see
/// levels_within), which depend on t; starting from the levels of the whole range, the edge and
/// its levels are recomputed until they agree (two or three rounds; at most kEntropyRounds).
double entropy_threshold(const std::vector<double>& mag, double neg, double pos) {
  const double top = static_cast<double>(mag.size());
  size_t levels = levels_within(neg, pos, top);
  size_t edge = mag.size();
  for (int round = 0; round < kEntropyRounds; ++round) {
    edge = entropy_edge(mag, levels);
    const size_t next = levels_within(neg, pos, static_cast<double>(edge));
    if (next == levels) break;
    levels = next;
  }
  return static_cast<double>(edge);
}

/// The mass of an |x| histogram below a point and its first two moments, with the values of
/// each bin spread uniformly over it: F0(b) = ∫ density, F1(b) = ∫ x density, F2(b) =
/// ∫ x^2 density over [0, b]. Whole bins come from prefix sums, the bin b cuts through from
/// its share, so that each costs O(1).
class BinMoments {
 public:
  explicit BinMoments(const std::vector<double>& mag)
      : mag_(mag), f0_(mag.size() + 1, 0.0), f1_(mag.size() + 1, 0.0), f2_(mag.size() + 1, 0.0) {
    for (size_t k = 0; k < mag.size(); ++k) {
      const double x = static_cast<double>(k);
      f0_[k + 1] = f0_[k] + mag[k];
      f1_[k + 1] = f1_[k] + mag[k] * (x + 0.5);              // ∫ over [k, k + 1] of x
      f2_[k + 1] = f2_[k] + mag[k] * (x * x + x + 1.0 / 3);  // of x^2
    }
    all_ = below(static_cast<double>(mag.size()));
  }
  size_t size() const { return mag_.size(); }
  struct Moments {
    double f0, f1, f2;
  };
  /// The moments over [0, b], 0 <= b <= size().
  Moments below(double b) const {
    const Cut c = cut(b);
    return {f0_[c.k] + c.m * c.d, f1_[c.k] + c.m * c.d * (c.x + 0.5 * c.d),
            f2_[c.k] + c.m * c.d * (c.x * c.x + c.x * c.d + c.d * c.d / 3)};
  }
  /// The moments over every bin.
  const Moments& all() const { return all_; }
  struct Mass {
    double f0, f1;
  };
  /// F0 and F1 of below(b).
  Mass mass_below(double b) const {
    const Cut c = cut(b);
    return {f0_[c.k] + c.m * c.d, f1_[c.k] + c.m * c.d * (c.x + 0.5 * c.d)};
  }

 private:
  // Where b cuts the histogram: bin k (its left edge x), its mass m, and the part d in [0, 1]
  // of it below b.
  struct Cut {
    size_t k;
    double x, m, d;
  };
  Cut cut(double b) const {
    // b >= 0: the signed conversion is one instruction where the unsigned one is not.
    const auto k = static_cast<size_t>(std::min(static_cast<int64_t>(b), last_));
    const double x = static_cast<double>(k);
    return {k, x, mag_[k], b - x};
  }

  const std::vector<double>& mag_;
  const int64_t last_ = static_cast<int64_t>(mag_.size()) - 1;
  std::vector<double> f0_, f1_, f2_;
  Moments all_{};
};

/// The part of mse_of from the values beyond the edge t, which all become t; `at_t` holds the
/// moments below t. It grows as t shrinks: the search below stops on it.
double clip_error(const BinMoments& m, size_t t, const BinMoments::Moments& at_t) {
  const double dt = static_cast<double>(t);
  const BinMoments::Moments& all = m.all();
  const double n = all.f0 - at_t.f0;
  return n > 0 ? (all.f2 - at_t.f2) - 2 * dt * (all.f1 - at_t.f1) + dt * dt * n : 0.0;
}

/// Expected squared error, over the |x| histogram (in bin widths), of 8-bit quantization with L
/// `levels` in [0, t] clipped at the bin edge t: step s = t / L, |x| <= t rounds to the nearest
/// multiple of s, |x| > t becomes t. Values are taken as uniform inside their bin. The values
/// of cell j (those that round to c_j = j s, between the edges h_{j-1} and h_j = (j + 1/2) s;
/// the last cell ends at t, beyond which everything becomes c_L = t) contribute
/// ∫ (x - c_j)^2 = ΔF2 - 2 c_j ΔF1 + c_j^2 ΔF0 over the cell. Summed by parts over the cells,
/// with c_{j+1} - c_j = s and c_{j+1}^2 - c_j^2 = (2j + 1) s^2, that is
///   F2(∞) - 2 t F1(∞) + t^2 F0(∞) + 2 s Σ_{j<L} F1(h_j) - s^2 Σ_{j<L} (2j + 1) F0(h_j),
/// so each of the L inner edges needs F0 and F1 only.
double mse_of(const BinMoments& m, size_t t, size_t levels) {
  const double dt = static_cast<double>(t);
  const double s = dt / static_cast<double>(levels);
  const auto edges = static_cast<int>(levels);
  double f1_sum = 0, f0_sum = 0;
  for (int j = 0; j < edges; ++j) {
    const BinMoments::Mass h = m.mass_below((j + 0.5) * s);
    f1_sum += h.f1;
    f0_sum += (2 * j + 1) * h.f0;
  }
  const BinMoments::Moments& all = m.all();
  return (all.f2 - 2 * dt * all.f1 + dt * dt * all.f0) + 2 * s * f1_sum - s * s * f0_sum;
}

size_t last_nonzero(const std::vector<double>& mag) {
  size_t last = 0;
  for (size_t k = 0; k < mag.size(); ++k) last = mag[k] > 0 ? k : last;
  return last;
}

}  // namespace

std::vector<double> mse_errors(const std::vector<double>& mag, double neg, double pos) {
  const BinMoments moments(mag);
  // Edges past the bin of the largest |x| are no candidates: the range is clipped to the
  // largest |x| anyway.
  const size_t last = last_nonzero(mag);
  std::vector<double> out(mag.size(), std::numeric_limits<double>::infinity());
  for (size_t t = 1; t <= last + 1; ++t) {
    out[t - 1] = mse_of(moments, t, levels_within(neg, pos, static_cast<double>(t)));
  }
  return out;
}

namespace {

/// MSE threshold: the bin edge t (1 to all bins) that minimises mse_of (the smallest on ties).
/// The edges are tried from the top down: the error clipping alone causes only grows as the
/// edge comes down, so once it passes the best error so far no smaller edge can win.
double mse_threshold(const std::vector<double>& mag, double neg, double pos) {
  const BinMoments moments(mag);
  double best_err = std::numeric_limits<double>::infinity();
  size_t best = mag.size();
  for (size_t t = last_nonzero(mag) + 1; t >= 1; --t) {
    const double tail = clip_error(moments, t, moments.below(static_cast<double>(t)));
    if (tail > best_err * (1 + 1e-9)) break;
    const double err = mse_of(moments, t, levels_within(neg, pos, static_cast<double>(t)));
    if (err <= best_err) {  // downwards, so ties go to the smaller edge
      best_err = err;
      best = t;
    }
  }
  return static_cast<double>(best);
}

using Json = nlohmann::ordered_json;

}  // namespace

std::string_view calibration_method_name(CalibrationMethod method) {
  for (const auto& m : kMethods) {
    if (m.method == method) return m.name;
  }
  return "unknown";
}

StatusOr<CalibrationMethod> parse_calibration_method(std::string_view name) {
  for (const auto& m : kMethods) {
    if (m.name == name) return m.method;
  }
  return invalid_argument("unknown calibration method '" + std::string(name) +
                          "' (expected one of: minmax, percentile, entropy, mse)");
}

Status validate_calibration_options(const CalibrationOptions& options) {
  if (!(options.percentile > 0 && options.percentile <= 100)) {
    std::ostringstream os;
    os << "calibration option 'percentile' must be in (0, 100], got " << options.percentile;
    return invalid_argument(os.str());
  }
  if (options.bins < kMinBins || options.bins > kMaxBins || options.bins % 2 != 0) {
    return invalid_argument("calibration option 'bins' must be an even number from " +
                            std::to_string(kMinBins) + " to " + std::to_string(kMaxBins) +
                            ", got " + std::to_string(options.bins));
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// TensorStats

// An odd or out-of-range bin count (calibrate validates it first) is rounded to the nearest
// usable one rather than breaking the index arithmetic.
TensorStats::TensorStats(size_t bins)
    : bins_(bins == 0 ? 0 : std::clamp<size_t>(bins + bins % 2, 2, kMaxBins)),
      histogram_(bins_, 0) {}

namespace {

constexpr size_t kBlock = 256;  // values binned at a time (see TensorStats::observe)
static_assert(kBlock % 8 == 0, "scan_block counts a full block in lanes of 8");

/// The signed bin of x relative to the middle of the histogram: k = ceil(|x| * scale) - 1
/// clamped at 0 for x >= 0, -1 - k (its bitwise complement) for x < 0. `scale` is H / R, a
/// power of two, so the product is exact; ceil(a) - 1 is the truncation of a, less one when a
/// is whole. Branch-free, so that a block of exact zeros (Relu) costs what any block does.
inline int32_t signed_bin(float x, float scale) {
  const float a = std::fabs(x) * scale;
  const auto f = static_cast<int32_t>(a);
  int32_t k = f - (static_cast<float>(f) == a ? 1 : 0);
  k = k < 0 ? 0 : k;
  return k ^ -static_cast<int32_t>(x < 0);
}

/// The same in double, for any scale (a range below 2^-90, where H / R is not a float).
inline std::ptrdiff_t signed_bin_wide(float x, double scale) {
  const double a = std::fabs(static_cast<double>(x)) * scale;
  const auto f = static_cast<std::ptrdiff_t>(a);
  const std::ptrdiff_t k = static_cast<double>(f) < a ? f : (f == 0 ? 0 : f - 1);
  return x >= 0 ? k : -1 - k;
}

/// The extremes of a block of at most kBlock values and whether all are finite, in independent
/// lanes that the compiler turns into vector instructions. With a value that is not finite the
/// extremes are meaningless (the caller takes the slow path). With kBin, the same pass also
/// writes each value's signed bin at `scale` (see signed_bin), which is only meaningful when
/// the extremes stay within the range `scale` was computed for. `Count` is a compile-time
/// constant for a full block, where that makes the loops vector code.
struct BlockScan {
  float lo;
  float hi;
  bool finite;
};

template <bool kBin, typename Count>
inline BlockScan scan_block(const float* v, Count n, float scale = 0, int32_t* bin = nullptr) {
  constexpr size_t kLanes = 8;
  std::array<float, kLanes> lo, hi;
  lo.fill(std::numeric_limits<float>::infinity());
  hi.fill(-std::numeric_limits<float>::infinity());
  uint32_t bad = 0;
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t l = 0; l < kLanes; ++l) {
      const float x = v[i + l];
      lo[l] = x < lo[l] ? x : lo[l];
      hi[l] = x > hi[l] ? x : hi[l];
      bad += std::fabs(x) <= std::numeric_limits<float>::max() ? 0u : 1u;  // NaN: false
      if constexpr (kBin) bin[i + l] = signed_bin(x, scale);
    }
  }
  BlockScan out{lo[0], hi[0], true};
  for (size_t l = 1; l < kLanes; ++l) {
    out.lo = std::min(out.lo, lo[l]);
    out.hi = std::max(out.hi, hi[l]);
  }
  if constexpr (std::is_integral_v<Count>) {  // a constant count is a whole number of lanes
    for (; i < n; ++i) {
      const float x = v[i];
      out.lo = std::min(out.lo, x);
      out.hi = std::max(out.hi, x);
      bad += std::isfinite(x) ? 0u : 1u;
      if constexpr (kBin) bin[i] = signed_bin(x, scale);
    }
  }
  out.finite = bad == 0;
  return out;
}

}  // namespace

void TensorStats::widen(double amax) {
  if (!(amax > 0)) return;
  const double r = pow2_ceil(amax);
  if (half_width_ == 0) {
    half_width_ = r;  // bins so far hold only zeros, which stay in magnitude bin 0
    return;
  }
  if (r <= half_width_) return;
  // Merge in place: magnitude bin k moves to k >> shift <= k, and every target below k was
  // emptied before anything was added to it.
  const size_t half = bins_ / 2;
  const int shift = std::min(std::ilogb(r) - std::ilogb(half_width_), 62);
  for (size_t k = 0; k < half; ++k) {
    const size_t to = k >> shift;
    const uint64_t pos = histogram_[half + k], neg = histogram_[half - 1 - k];
    histogram_[half + k] = 0;
    histogram_[half - 1 - k] = 0;
    histogram_[half + to] += pos;
    histogram_[half - 1 - to] += neg;
  }
  half_width_ = r;
}

void TensorStats::add_extremes(double lo, double hi, uint64_t n) {
  min_ = count_ == 0 ? lo : std::min(min_, lo);
  max_ = count_ == 0 ? hi : std::max(max_, hi);
  count_ += n;
}

uint64_t TensorStats::observe(std::span<const float> values) {
  // One pass, a block at a time: the block's extremes and its bins at the current R, computed
  // together (vectorized), then counted; when the block widens R, its bins are computed again
  // at the new R (so the result is the same as for any other batching). A large batch counts into
  // two 32-bit copies of the histogram, alternating, so that runs of equal values (the zeros of a
  // Relu) do not wait on one counter; the copies are added in before R widens and at the end.
  const size_t half = bins_ / 2;
  const size_t size = values.size();
  const bool copies = bins_ > 0 && size >= 4 * bins_ && size <= (size_t{1} << 31);
  // The copies are all zeros between calls: flush() clears what it adds in.
  thread_local std::vector<uint32_t> scratch;
  if (copies && scratch.size() != 2 * bins_) scratch.assign(2 * bins_, 0);
  const auto flush = [&] {
    if (!copies) return;
    const size_t bins = bins_;
    uint64_t* const to = histogram_.data();
    uint32_t* const first = scratch.data();
    const uint32_t* const second = first + bins;
    for (size_t b = 0; b < bins; ++b) to[b] += uint64_t{first[b]} + second[b];
    std::fill(first, first + 2 * bins, 0u);
  };
  std::array<int32_t, kBlock> bin;
  uint64_t infinite = 0;
  for (size_t i = 0; i < size; i += kBlock) {
    const float* v = values.data() + i;
    const size_t n = std::min(kBlock, size - i);
    // Once R is set, a full block is scanned and binned in one pass (binned again if R widens).
    const double current = half_width_ > 0 ? static_cast<double>(half) / half_width_ : 0;
    bool binned = n == kBlock && bins_ > 0 && half_width_ > 0 && current < 0x1p100;
    const BlockScan scan = binned ? scan_block<true>(v, std::integral_constant<size_t, kBlock>(),
                                                     static_cast<float>(current), bin.data())
                                  : scan_block<false>(v, n);
    if (!scan.finite) {
      // Rare: skip the values that are not finite (counted with the NaNs), one value at a time.
      for (size_t j = 0; j < n; ++j) {
        if (!std::isfinite(v[j])) {
          ++nan_count_;
          infinite += std::isinf(v[j]) ? 1 : 0;
          continue;
        }
        add_extremes(v[j], v[j], 1);
        if (bins_ == 0) continue;
        const double a = std::fabs(static_cast<double>(v[j]));
        if (a > half_width_) {
          flush();
          widen(a);
        }
        if (half_width_ == 0) {
          ++histogram_[half];
        } else {
          ++histogram_[half + signed_bin_wide(v[j], static_cast<double>(half) / half_width_)];
        }
      }
      continue;
    }
    add_extremes(scan.lo, scan.hi, n);
    if (bins_ == 0) continue;  // extremes only
    const double amax = std::max(-static_cast<double>(scan.lo), static_cast<double>(scan.hi));
    if (amax > half_width_) {
      flush();
      widen(amax);
      binned = false;
    }
    if (half_width_ == 0) {  // all zeros so far
      histogram_[half] += n;
      continue;
    }
    const double scale = static_cast<double>(half) / half_width_;
    if (scale >= 0x1p100) {
      for (size_t j = 0; j < n; ++j) ++histogram_[half + signed_bin_wide(v[j], scale)];
      continue;
    }
    const auto fscale = static_cast<float>(scale);
    if (!binned && n == kBlock) {
      for (size_t j = 0; j < kBlock; ++j) bin[j] = signed_bin(v[j], fscale);
    } else if (!binned) {
      for (size_t j = 0; j < n; ++j) bin[j] = signed_bin(v[j], fscale);
    }
    if (copies) {
      uint32_t* const mid0 = scratch.data() + half;
      uint32_t* const mid1 = scratch.data() + bins_ + half;
      size_t j = 0;
      for (; j + 2 <= n; j += 2) {
        ++mid0[bin[j]];
        ++mid1[bin[j + 1]];
      }
      if (j < n) ++mid0[bin[j]];
    } else {
      uint64_t* const mid = histogram_.data() + half;
      for (size_t j = 0; j < n; ++j) ++mid[bin[j]];
    }
  }
  flush();
  return infinite;
}

TensorRange TensorStats::range(const CalibrationOptions& options) const {
  TensorRange out;
  if (count_ == 0) return out;
  double lo = min_, hi = max_;
  if (options.method != CalibrationMethod::kMinMax && half_width_ > 0 && bins_ > 0) {
    // The |x| histogram, in units of one bin width w = R / H.
    const size_t half = bins_ / 2;
    std::vector<double> mag(half);
    for (size_t k = 0; k < half; ++k) {
      mag[k] = static_cast<double>(histogram_[half + k] + histogram_[half - 1 - k]);
    }
    // How far the values reach on each side, in bin widths.
    const double neg = -min_ / (half_width_ / static_cast<double>(half));
    const double pos = max_ / (half_width_ / static_cast<double>(half));
    double bins_t = 0;
    switch (options.method) {
      case CalibrationMethod::kPercentile:
        bins_t = percentile_threshold(mag, options.percentile);
        break;
      case CalibrationMethod::kEntropy:
        bins_t = entropy_threshold(mag, neg, pos);
        break;
      case CalibrationMethod::kMse:
        bins_t = mse_threshold(mag, neg, pos);
        break;
      case CalibrationMethod::kMinMax:
        break;
    }
    const double t = bins_t * (half_width_ / static_cast<double>(half));
    lo = std::max(lo, -t);
    hi = std::min(hi, t);
  }
  out.min = std::min(lo, 0.0);
  out.max = std::max(hi, 0.0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// CalibrationTable

const TensorRange* CalibrationTable::find(const std::string& name) const {
  auto it = ranges.find(name);
  return it == ranges.end() ? nullptr : &it->second;
}

const ChannelStats* CalibrationTable::find_channels(const std::string& name) const {
  auto it = channels.find(name);
  return it == channels.end() ? nullptr : &it->second;
}

const LayerGram* CalibrationTable::find_gram(const std::string& layer) const {
  auto it = grams.find(layer);
  return it == grams.end() ? nullptr : &it->second;
}

void CalibrationTable::merge(const CalibrationTable& other) {
  method = other.method;
  samples = other.samples;
  for (const auto& [name, range] : other.ranges) ranges[name] = range;
  for (const auto& [name, stats] : other.channels) channels[name] = stats;
  for (const auto& [layer, gram] : other.grams) grams[layer] = gram;
}

std::string CalibrationTable::to_json() const {
  // nlohmann writes doubles in the shortest form that reads back to the same bits.
  Json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["method"] = method;
  j["samples"] = samples;
  Json r = Json::object();
  for (const auto& [name, range] : ranges) r[name] = Json::array({range.min, range.max});
  j["ranges"] = std::move(r);
  if (!channels.empty()) {
    Json c = Json::object();
    for (const auto& [name, stats] : channels) {
      c[name] = Json{{"axis", stats.axis},
                     {"mean", stats.mean},
                     {"abs_max", stats.abs_max},
                     {"abs_mean", stats.abs_mean},
                     {"mean_square", stats.mean_square}};
    }
    j["channels"] = std::move(c);
  }
  return j.dump(2) + "\n";
}

StatusOr<CalibrationTable> CalibrationTable::from_json(std::string_view text,
                                                       const std::string& label) {
  auto bad = [&](const std::string& what) {
    return invalid_model(label + ": " + what + " (expected a compressor calibration table)");
  };
  Json j;
  try {
    j = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {  // syntax errors and numbers out of range
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep where and why.
    std::string why = e.what();
    if (const size_t tag = why.find("] "); tag != std::string::npos) why.erase(0, tag + 2);
    return bad("not valid JSON: " + why);
  }
  if (!j.is_object()) return bad("the top level is not a JSON object");
  auto key = [&](const char* name) -> const Json* {
    auto it = j.find(name);
    return it == j.end() ? nullptr : &*it;
  };
  const Json* format = key("format");
  if (format == nullptr || !format->is_string() || format->get<std::string>() != kFormat) {
    return bad(std::string("key 'format' must be \"") + kFormat + "\"");
  }
  const Json* version = key("version");
  if (version == nullptr || !version->is_number_integer()) {
    return bad("key 'version' must be an integer");
  }
  if (version->get<int64_t>() != kVersion) {
    return invalid_model(
        label + ": key 'version': version " + std::to_string(version->get<int64_t>()) +
        " is not supported (this build reads version " + std::to_string(kVersion) + ")");
  }
  CalibrationTable table;
  const Json* method = key("method");
  if (method == nullptr || !method->is_string()) return bad("key 'method' must be a string");
  table.method = method->get<std::string>();
  auto parsed = parse_calibration_method(table.method);
  if (!parsed.ok()) return invalid_model(label + ": key 'method': " + parsed.status().message());
  const Json* samples = key("samples");
  if (samples == nullptr || !samples->is_number_unsigned()) {
    return bad("key 'samples' must be a non-negative integer");
  }
  table.samples = samples->get<uint64_t>();
  const Json* ranges = key("ranges");
  if (ranges == nullptr || !ranges->is_object()) return bad("key 'ranges' must be an object");
  for (const auto& [name, value] : ranges->items()) {
    const std::string where = label + ": key 'ranges." + name + "'";
    if (!value.is_array() || value.size() != 2 || !value[0].is_number() || !value[1].is_number()) {
      return invalid_model(where + " must be [min, max], two numbers");
    }
    TensorRange r{value[0].get<double>(), value[1].get<double>()};
    if (!std::isfinite(r.min) || !std::isfinite(r.max)) {
      return invalid_model(where + ": the range is not finite");
    }
    if (r.min > r.max) {
      std::ostringstream os;
      os << where << ": min " << r.min << " is greater than max " << r.max;
      return invalid_model(os.str());
    }
    if (!(r.min <= 0 && 0 <= r.max)) {
      std::ostringstream os;
      os << where << ": [" << r.min << ", " << r.max
         << "] is not a range containing 0 (min <= 0 <= max)";
      return invalid_model(os.str());
    }
    table.ranges[name] = r;
  }
  if (const Json* channels = key("channels")) {
    if (!channels->is_object()) return bad("key 'channels' must be an object");
    for (const auto& [name, value] : channels->items()) {
      const std::string where = label + ": key 'channels." + name + "'";
      auto at = [&](const std::string& field) {
        return label + ": key 'channels." + name + "." + field + "'";
      };
      // abs_mean and mean_square came later: a table without them reads with them empty.
      auto numbers = [&](const char* field, std::vector<double>& out,
                         bool optional = false) -> Status {
        auto it = value.find(field);
        if (optional && it == value.end()) return ok_status();
        if (it == value.end() || !it->is_array()) {
          return invalid_model(at(field) + " must be an array of numbers");
        }
        for (const auto& x : *it) {
          if (!x.is_number() || !std::isfinite(x.get<double>())) {
            return invalid_model(at(field) + " must hold finite numbers");
          }
          out.push_back(x.get<double>());
        }
        return ok_status();
      };
      if (!value.is_object()) return invalid_model(where + " must be an object");
      ChannelStats stats;
      auto axis = value.find("axis");
      if (axis == value.end() || !axis->is_number_unsigned()) {
        return invalid_model(at("axis") + " must be a non-negative integer");
      }
      stats.axis = axis->get<int64_t>();
      COMPRESSOR_RETURN_IF_ERROR(numbers("mean", stats.mean));
      COMPRESSOR_RETURN_IF_ERROR(numbers("abs_max", stats.abs_max));
      COMPRESSOR_RETURN_IF_ERROR(numbers("abs_mean", stats.abs_mean, true));
      COMPRESSOR_RETURN_IF_ERROR(numbers("mean_square", stats.mean_square, true));
      const std::pair<const char*, const std::vector<double>*> magnitudes[] = {
          {"abs_max", &stats.abs_max},
          {"abs_mean", &stats.abs_mean},
          {"mean_square", &stats.mean_square}};
      for (const auto& [field, v] : magnitudes) {
        if (v->empty() && v != &stats.abs_max) continue;  // an optional field left out
        if (v->size() != stats.mean.size()) {
          return invalid_model(where + ": 'mean' and '" + field + "' have different lengths");
        }
        for (double m : *v) {
          if (m < 0) return invalid_model(at(field) + " holds a negative number");
        }
      }
      table.channels[name] = std::move(stats);
    }
  }
  return table;
}

Status CalibrationTable::save(const std::string& path) const {
  return io::write_file_atomic(path, to_json());
}

StatusOr<CalibrationTable> CalibrationTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + std::strerror(errno));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return io_error(path + ": cannot read");
  return from_json(bytes.str(), path);
}

// ---------------------------------------------------------------------------------------------
// calibrate

namespace {

struct ChannelTracked;

/// The statistics of one requested tensor; `seen` once a float32 value has been observed;
/// `channels` its per-channel sums when they are asked for too.
struct Tracked {
  explicit Tracked(size_t bins) : stats(bins) {}
  TensorStats stats;
  bool seen = false;
  ChannelTracked* channels = nullptr;
};

/// Per-channel running sums of one tensor (ChannelRequest).
struct ChannelTracked {
  int64_t axis = 1;  ///< As requested; resolved against the rank of the first value seen.
  int64_t resolved = -1;
  std::vector<double> sum;
  std::vector<double> abs_sum;
  std::vector<double> square_sum;
  std::vector<double> abs_max;
  uint64_t per_channel = 0;  ///< Values added to each channel.
  bool range_only = false;   ///< Not asked for by `tensors`: its histogram is not kept.

  /// Adds one value of the tensor; an axis outside its rank or a channel count that changes
  /// between samples is an error naming the tensor.
  Status observe(const std::string& name, const ir::Tensor& value) {
    const auto& dims = value.dims();
    const int64_t rank = static_cast<int64_t>(dims.size());
    const int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) {
      return invalid_argument("calibration tensor '" + name + "': channel axis " +
                              std::to_string(axis) + " is outside its rank " +
                              std::to_string(rank));
    }
    const size_t channels = static_cast<size_t>(dims[static_cast<size_t>(a)]);
    if (resolved < 0) {
      resolved = a;
      sum.assign(channels, 0.0);
      abs_sum.assign(channels, 0.0);
      square_sum.assign(channels, 0.0);
      abs_max.assign(channels, 0.0);
    } else if (a != resolved || channels != sum.size()) {
      return invalid_argument("calibration tensor '" + name + "' changes its channel count (" +
                              std::to_string(sum.size()) + " then " + std::to_string(channels) +
                              ") between samples");
    }
    if (channels == 0) return ok_status();
    size_t inner = 1;
    for (size_t d = static_cast<size_t>(a) + 1; d < dims.size(); ++d) {
      inner *= static_cast<size_t>(dims[d]);
    }
    const auto values = value.span<float>();
    const size_t outer = values.size() / (channels * std::max<size_t>(inner, 1));
    per_channel += outer * inner;
    for (size_t o = 0; o < outer; ++o) {
      for (size_t c = 0; c < channels; ++c) {
        const float* p = values.data() + (o * channels + c) * inner;
        double s = 0, a = 0, q = 0;
        float m = 0;
        for (size_t k = 0; k < inner; ++k) {
          if (std::isnan(p[k])) continue;
          const double x = p[k];
          s += x;
          a += std::fabs(x);
          q += x * x;
          m = std::max(m, std::fabs(p[k]));
        }
        sum[c] += s;
        abs_sum[c] += a;
        square_sum[c] += q;
        abs_max[c] = std::max(abs_max[c], static_cast<double>(m));
      }
    }
    return ok_status();
  }

  ChannelStats result() const {
    ChannelStats out;
    out.axis = resolved;
    out.abs_max = abs_max;
    const double n = static_cast<double>(per_channel);
    out.mean.resize(sum.size());
    out.abs_mean.resize(sum.size());
    out.mean_square.resize(sum.size());
    for (size_t c = 0; c < sum.size(); ++c) {
      out.mean[c] = per_channel == 0 ? 0.0 : sum[c] / n;
      out.abs_mean[c] = per_channel == 0 ? 0.0 : abs_sum[c] / n;
      out.mean_square[c] = per_channel == 0 ? 0.0 : square_sum[c] / n;
    }
    return out;
  }
};

/// Runs the statistics of captured values in the order they were captured, either inline or
/// on a thread of its own while the executor computes the next values. Captured tensors share
/// their bytes with the executor's (no copy); a value waits in the queue until its statistics
/// are taken, and the queue holds at most kMaxPendingBytes, beyond which capturing waits. One
/// thread in capture order adds values exactly as the inline run does, so the statistics (and
/// the table) are the same bits either way. The first failure stops the statistics; later
/// values are dropped.
class StatsPipeline {
 public:
  /// Takes the statistics of one value of the tensor `name` into `tracked`.
  using Work = std::function<Status(size_t sample, const std::string& name, Tracked& tracked,
                                    const ir::Tensor&)>;

  StatsPipeline(Work work, bool threaded) : work_(std::move(work)) {
    if (threaded) worker_ = std::thread([this] { loop(); });
  }
  ~StatsPipeline() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      queue_.clear();  // an early return: what is left is not needed
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
  }
  StatsPipeline(const StatsPipeline&) = delete;
  StatsPipeline& operator=(const StatsPipeline&) = delete;

  /// `name` and `tracked` must outlive the pipeline.
  void push(size_t sample, const std::string& name, Tracked& tracked, const ir::Tensor& value) {
    const size_t seq = pushed_++;
    if (!worker_.joinable()) {
      if (failure_.ok()) record(seq, work_(sample, name, tracked, value));
      return;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!failure_.ok()) return;
    room_.wait(lock, [&] { return pending_bytes_ < kMaxPendingBytes || queue_.empty(); });
    pending_bytes_ += value.nbytes();
    queue_.push_back({seq, sample, &name, &tracked, value});
    lock.unlock();
    wake_.notify_one();
  }

  /// Whether the statistics have failed so far (they may still fail for values in the queue).
  bool failed() {
    std::lock_guard<std::mutex> lock(mu_);
    return !failure_.ok();
  }

  /// How many values have been pushed (by the capturing thread, which alone may call this).
  size_t pushed() const { return pushed_; }

  /// Waits until every pushed value has been taken; the first failure, if it concerns a value
  /// pushed before the first `before` (else OK).
  Status drain(size_t before = std::numeric_limits<size_t>::max()) {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return queue_.empty() && !busy_; });
    return !failure_.ok() && failed_seq_ < before ? failure_ : ok_status();
  }

 private:
  static constexpr size_t kMaxPendingBytes = size_t{64} << 20;
  struct Item {
    size_t seq;
    size_t sample;
    const std::string* name;
    Tracked* tracked;
    ir::Tensor value;
  };

  void record(size_t seq, Status status) {
    if (status.ok() || !failure_.ok()) return;
    failure_ = std::move(status);
    failed_seq_ = seq;
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopped, nothing left
      Item item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      const bool failed = !failure_.ok();
      lock.unlock();
      Status status =
          failed ? ok_status() : work_(item.sample, *item.name, *item.tracked, item.value);
      const size_t bytes = item.value.nbytes();
      item.value = ir::Tensor();  // the bytes go back to the executor before the next wait
      lock.lock();
      record(item.seq, std::move(status));
      if (!failure_.ok()) queue_.clear();
      pending_bytes_ = queue_.empty() ? 0 : pending_bytes_ - bytes;
      busy_ = false;
      room_.notify_all();
    }
  }

  Work work_;
  std::mutex mu_;
  std::condition_variable wake_;  // the worker: a value arrived, or stop
  std::condition_variable room_;  // capturing and drain: the queue shrank
  std::deque<Item> queue_;
  size_t pending_bytes_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  Status failure_;
  size_t failed_seq_ = 0;
  size_t pushed_ = 0;
  std::thread worker_;
};

}  // namespace

StatusOr<CalibrationTable> calibrate(const ir::Model& model, const io::SampleSet& samples,
                                     const std::vector<std::string>& tensors,
                                     const CalibrationOptions& options,
                                     const std::vector<ChannelRequest>& channels,
                                     const std::vector<GramRequest>& grams) {
  COMPRESSOR_RETURN_IF_ERROR(validate_calibration_options(options));
  const ir::Graph& graph = model.graph;
  std::set<std::string> node_outputs;
  for (const auto& node : graph.nodes()) {
    for (const auto& out : node->outputs) {
      if (!out.empty()) node_outputs.insert(out);
    }
  }
  std::set<std::string> fed;
  for (const ir::ValueInfo* in : io::user_inputs(model)) fed.insert(in->name());
  std::set<std::string> outputs;
  for (const auto& out : graph.outputs) outputs.insert(out.name());

  // Each name comes from exactly one place: a constant, the feed, or a node (captured).
  std::map<std::string, Tracked> tracked;
  std::map<std::string, ChannelTracked> channel_tracked;
  for (const auto& request : channels) {
    ChannelTracked& c = channel_tracked[request.tensor];
    c.axis = request.axis;
  }
  // A tensor asked for per channel only still goes through `tracked` (for where it comes from
  // and the infinity check) but gets no range.
  std::vector<std::string> names = tensors;
  for (const auto& [name, c] : channel_tracked) {
    if (std::find(tensors.begin(), tensors.end(), name) == tensors.end()) {
      names.push_back(name);
      channel_tracked[name].range_only = true;
    }
  }
  std::vector<std::string> captured;
  for (const auto& name : names) {
    if (tracked.count(name)) continue;
    const ir::Initializer* init = graph.find_initializer(name);
    if (init == nullptr && !fed.count(name) && !node_outputs.count(name)) {
      return invalid_argument("calibration tensor '" + name +
                              "' is not an input, initializer or node output of the main graph");
    }
    // Min-max needs only the extremes: no histogram.
    Tracked& t =
        tracked
            .emplace(name, Tracked(options.method == CalibrationMethod::kMinMax ? 0 : options.bins))
            .first->second;
    if (init != nullptr) {
      if (init->tensor.dtype() != ir::DType::kFloat) continue;
      if (t.stats.observe(init->tensor.span<float>()) > 0) {
        return invalid_model("calibration tensor '" + name + "' (initializer) holds an infinity");
      }
      t.seen = true;
      if (auto c = channel_tracked.find(name); c != channel_tracked.end()) {
        COMPRESSOR_RETURN_IF_ERROR(c->second.observe(name, init->tensor));
      }
    } else if (node_outputs.count(name)) {
      captured.push_back(name);
    }
  }

  // Layer-input Grams, by layer; `gram_inputs` lists the accumulators each value feeds.
  std::map<std::string, GramAccumulator> gram_tracked;
  for (const auto& request : grams) {
    if (gram_tracked.count(request.layer)) continue;
    COMPRESSOR_ASSIGN_OR_RETURN(auto acc, GramAccumulator::create(graph, request.layer));
    gram_tracked.emplace(request.layer, std::move(acc));
  }
  std::map<std::string, std::vector<GramAccumulator*>> gram_inputs;
  std::vector<GramAccumulator*> constant_grams;  // layers whose input is an initializer
  for (auto& [layer, acc] : gram_tracked) {
    const std::string& input = acc.input();
    if (graph.find_initializer(input) != nullptr) {
      constant_grams.push_back(&acc);
      continue;
    }
    if (!fed.count(input) && !node_outputs.count(input)) {
      return invalid_argument("Gram statistics for layer '" + layer + "': its input '" + input +
                              "' is not an input or node output of the main graph");
    }
    if (node_outputs.count(input) &&
        std::find(captured.begin(), captured.end(), input) == captured.end()) {
      captured.push_back(input);
    }
    gram_inputs[input].push_back(&acc);
  }

  COMPRESSOR_ASSIGN_OR_RETURN(
      auto executor,
      exec::Executor::create(model, {.threads = options.threads, .integer_qdq_units = false}));
  for (auto& [name, t] : tracked) {
    if (auto c = channel_tracked.find(name); c != channel_tracked.end()) t.channels = &c->second;
  }
  // The statistics of a value: its histogram and extremes, and its per-channel sums.
  auto take_stats = [&](size_t sample, const std::string& name, Tracked& t,
                        const ir::Tensor& value) {
    if (t.stats.observe(value.span<float>()) > 0) {
      return invalid_model("calibration tensor '" + name + "' holds an infinity in sample " +
                           std::to_string(sample));
    }
    t.seen = true;
    return t.channels != nullptr ? t.channels->observe(name, value) : ok_status();
  };
  // With more than one thread the histograms are filled beside the executor: binning a value
  // costs a third to half of what computing it costs in the cheap layers of a small model
  // (depthwise convolutions, elementwise activations). Min-max alone is cheaper than the hand-off.
  StatsPipeline stats(take_stats, exec::resolve_threads(options.threads) > 1 &&
                                      options.method != CalibrationMethod::kMinMax);
  const size_t count = samples.size();
  Progress progress("calibration", count);
  // The error is the one the run would have stopped at with the statistics taken inline: a
  // failure of the statistics wins over a later one (`before`: values pushed until then).
  const auto earliest = [&](size_t before, Status later) {
    Status first = stats.drain(before);
    return first.ok() ? later : first;
  };
  for (size_t i = 0; i < count; ++i) {
    Status failure;  // the Gram statistics, taken as values are captured
    size_t failure_at = 0;
    const size_t sample_start = stats.pushed();
    auto take = [&](const std::string& name, const ir::Tensor& value) {
      if (!failure.ok()) return;
      if (auto g = gram_inputs.find(name); g != gram_inputs.end()) {
        for (GramAccumulator* acc : g->second) {
          failure = acc->observe(value, i);
          if (!failure.ok()) {
            failure_at = stats.pushed();
            return;
          }
        }
      }
      if (value.dtype() != ir::DType::kFloat) return;
      if (auto t = tracked.find(name); t != tracked.end())
        stats.push(i, t->first, t->second, value);
    };
    for (GramAccumulator* acc : constant_grams) {
      COMPRESSOR_RETURN_IF_ERROR(acc->observe(graph.find_initializer(acc->input())->tensor, i));
    }
    auto sample = samples.get(i);
    if (!sample.ok()) return earliest(stats.pushed(), sample.status());
    std::vector<exec::NamedValue> feed;
    feed.reserve(sample->size());
    for (auto& t : *sample) {
      take(t.name, t.tensor);  // the executor captures values nodes produce, not graph inputs
      feed.push_back({t.name, ir::Value(std::move(t.tensor))});
    }
    if (!failure.ok()) return earliest(failure_at, failure);
    // An empty capture list would capture everything; without node outputs, no hook at all.
    auto outputs =
        executor->run_values(feed, captured.empty() ? exec::CaptureHook() : take, captured);
    if (!outputs.ok()) {
      // A failing run wins over a failure of the statistics of its own sample, as it did when
      // they were taken inline (the hook only recorded theirs).
      return earliest(sample_start,
                      outputs.status().with_context("calibration sample " + std::to_string(i)));
    }
    if (!failure.ok()) return earliest(failure_at, failure);
    if (stats.failed()) return stats.drain();  // no sample after a failure runs
    progress.advance();
  }
  COMPRESSOR_RETURN_IF_ERROR(stats.drain());
  progress.finish();

  CalibrationTable table;
  table.method = std::string(calibration_method_name(options.method));
  table.samples = count;
  // The ranges. The clipping methods search every candidate threshold of each histogram, so
  // they run in parallel; min-max is only the extremes.
  std::vector<std::pair<const std::string*, const TensorStats*>> ranged;
  for (const auto& [name, t] : tracked) {
    if (!t.seen) continue;
    auto c = channel_tracked.find(name);
    if (c != channel_tracked.end()) table.channels[name] = c->second.result();
    if (c == channel_tracked.end() || !c->second.range_only) ranged.emplace_back(&name, &t.stats);
  }
  std::vector<TensorRange> found(ranged.size());
  auto range_of = [&](int64_t begin, int64_t end) {
    for (auto i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) {
      // A model output keeps its full range: clipping it changes the answer itself (the top
      // logit is usually the outlier), not just the noise inside the network.
      CalibrationOptions o = options;
      if (outputs.count(*ranged[i].first)) o.method = CalibrationMethod::kMinMax;
      found[i] = ranged[i].second->range(o);
    }
  };
  const auto n = static_cast<int64_t>(ranged.size());
  if (options.method == CalibrationMethod::kMinMax || n < 2) {
    range_of(0, n);
  } else {
    exec::ThreadPool pool(
        std::min<int>(exec::resolve_threads(options.threads), static_cast<int>(n)));
    pool.parallel_for(n, 1, range_of);
  }
  for (size_t i = 0; i < ranged.size(); ++i) table.ranges[*ranged[i].first] = found[i];
  for (const auto& [layer, acc] : gram_tracked) table.grams[layer] = acc.result();
  return table;
}

}  // namespace compressor::pass
