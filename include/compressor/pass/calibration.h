// Calibration: the float range of every activation a quantizer needs, gathered by running the
// model on samples through the executor's capture hook. Statistics stream (fixed-size
// histograms), so memory does not grow with the sample count. The result is a table that can be
// saved and reused, so the same table always gives the same quantized bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/io/samples.h"
#include "compressor/ir/model.h"
#include "compressor/pass/pass.h"

namespace compressor::pass {

/// How a tensor's range is chosen from its statistics.
enum class CalibrationMethod {
  kMinMax,      ///< The observed minimum and maximum.
  kPercentile,  ///< Clip |x| at the given percentile of its distribution.
  kEntropy,     ///< The clipping threshold minimising the KL divergence between the float
                ///< histogram and its 8-bit quantized form (as TensorRT and ONNX Runtime do).
  kMse,         ///< The clipping threshold minimising the mean squared quantization error.
};

/// "minmax", "percentile", "entropy", "mse".
std::string_view calibration_method_name(CalibrationMethod method);
/// Parses a method name; unknown names are kInvalidArgument listing the valid ones.
StatusOr<CalibrationMethod> parse_calibration_method(std::string_view name);

struct CalibrationOptions {
  CalibrationMethod method = CalibrationMethod::kMinMax;
  double percentile = 99.99;  ///< For kPercentile, in (0, 100].
  size_t bins = 2048;         ///< Histogram bins (the non-minmax methods).
  int threads = 0;            ///< Executor worker threads; 0: all cores.
};

/// Checks the options calibrate() would refuse (percentile outside (0, 100], bins odd, below
/// 128 or above 1048576), naming the field; lets a caller fail before loading anything.
Status validate_calibration_options(const CalibrationOptions& options);

/// The float range chosen for one tensor; min <= 0 <= max always holds (zero must be exactly
/// representable), and min < max unless the tensor was all zeros.
struct TensorRange {
  double min = 0;
  double max = 0;
};

/// Streaming statistics of one float tensor: exact min and max, and a histogram of values over
/// [-R, R] where R is a power of two that doubles (merging bin pairs, exactly) when a value
/// falls outside. Memory is fixed by the bin count.
class TensorStats {
 public:
  explicit TensorStats(size_t bins = 2048);
  /// Adds values. Values that are not finite are ignored (counted in nan_count); returns how
  /// many of them were infinite, which calibrate refuses.
  uint64_t observe(std::span<const float> values);
  uint64_t count() const { return count_; }
  uint64_t nan_count() const { return nan_count_; }
  double min() const { return min_; }
  double max() const { return max_; }
  /// R, the half-width of the histogram; 0 until the first nonzero value.
  double half_width() const { return half_width_; }
  /// The bins over [-R, R]: bin bins/2 + k holds values x >= 0 with |x| in (k w, (k+1) w] (and
  /// 0 itself, in k = 0), bin bins/2 - 1 - k the negative values with the same |x|; w = 2R/bins.
  const std::vector<uint64_t>& histogram() const { return histogram_; }
  /// The range the method picks (see CalibrationMethod), widened to include 0.
  TensorRange range(const CalibrationOptions& options) const;

 private:
  /// Widens R to the smallest power of two >= amax when that is larger, merging bins.
  void widen(double amax);
  /// Takes n finite values with these extremes into min, max and count.
  void add_extremes(double lo, double hi, uint64_t n);

  size_t bins_;
  uint64_t count_ = 0;
  uint64_t nan_count_ = 0;
  double min_ = 0;
  double max_ = 0;
  double half_width_ = 0;  ///< R; 0 until the first nonzero value.
  std::vector<uint64_t> histogram_;
};

/// The 8-bit quantization steps that fall in [0, t] for a tensor whose values reach -neg and pos
/// (t, neg, pos in one unit): 255 steps span the clipped range [max(-neg, -t), min(pos, t)], so
/// 255 t / (min(neg, t) + min(pos, t)) of them cover [0, t], rounded and kept in [128, 255]: 128
/// for a tensor as negative as positive, 255 for one never negative (a Relu output), in between
/// for one mostly on one side (a HardSwish output reaches only -0.375). The entropy method's Q
/// has that many groups, and the mse method rounds to that many steps.
size_t levels_within(double neg, double pos, double t);
/// The entropy method's divergence KL(P || Q) at every candidate edge of an |x| histogram
/// (`magnitudes`, counts per bin of one width) with Q in `levels` groups: entry k is the edge at
/// levels + k bins; infinity where Q is empty. The method picks the smallest, with the levels
/// levels_within gives at that edge (see CalibrationMethod::kEntropy).
std::vector<double> entropy_divergences(std::vector<double> magnitudes, size_t levels);
/// The mse method's expected squared error of 8-bit quantization clipped at every edge t of an
/// |x| histogram, for a tensor whose values reach -neg and pos (in bin widths), with the
/// levels_within(neg, pos, t) steps that fall in [0, t]: entry k is the edge at k + 1 bins, in
/// squared bin widths; infinity past the edge of the last nonzero bin (no candidate: the range
/// keeps to the largest |x|).
std::vector<double> mse_errors(const std::vector<double>& magnitudes, double neg, double pos);

/// Per-channel statistics of one float tensor over every sample and every position other than
/// the channel axis: what bias correction (the mean input a layer sees), SmoothQuant (the
/// largest |x| per input channel) and pruning criteria (Wanda's input norms, the mean activation
/// magnitude of a channel) need.
struct ChannelStats {
  int64_t axis = 1;                 ///< Resolved, non-negative axis of the channels.
  std::vector<double> mean;         ///< Mean value per channel.
  std::vector<double> abs_max;      ///< Largest |x| per channel.
  std::vector<double> abs_mean;     ///< Mean |x| per channel.
  std::vector<double> mean_square;  ///< Mean x² per channel.
};

/// The Gram matrix of one layer's inputs (GramRequest): H = sum of x x^T over every sample and
/// every row x the layer reduces against its weight. MatMul: the rows of A flattened over its
/// leading dimensions (size = A's last dimension). Gemm: the rows of A, or of A^T with transA.
/// Conv: the im2col rows of each group, one per output position, in the order of the weight's
/// flattening [c][kd][kh][kw] (size = C/group x kernel size, zeros where the window lies in the
/// pads); one matrix per group.
struct LayerGram {
  size_t groups = 1;
  size_t size = 0;    ///< K: the reduction length, the side of each matrix.
  uint64_t rows = 0;  ///< How many rows x were summed (per group).
  /// groups x size x size doubles, each matrix symmetric and stored in full, row-major.
  std::vector<double> data;

  const double* group(size_t g) const { return data.data() + g * size * size; }
};

/// The ranges of the calibrated tensors, by value name.
class CalibrationTable {
 public:
  std::string method;    ///< calibration_method_name of the method used.
  uint64_t samples = 0;  ///< How many samples were run.
  std::map<std::string, TensorRange> ranges;
  /// Per-channel statistics of the tensors some pass asked for (ChannelRequest), by value name.
  std::map<std::string, ChannelStats> channels;
  /// Layer-input Gram matrices some pass asked for (GramRequest), by layer label. They are
  /// held in memory only: to_json leaves them out (K x K doubles per layer is too big for the
  /// table file), so a pass that needs them needs calibration samples.
  std::map<std::string, LayerGram> grams;

  const TensorRange* find(const std::string& name) const;
  const ChannelStats* find_channels(const std::string& name) const;
  const LayerGram* find_gram(const std::string& layer) const;
  /// Adds `other`'s entries, replacing entries of the same name (a later pass's view wins);
  /// `method` and `samples` become other's.
  void merge(const CalibrationTable& other);
  /// Deterministic JSON: {"format": "compressor-calibration", "version": 1, "method",
  /// "samples", "ranges": {name: [min, max], ...}, "channels": {name: {"axis": a, "mean":
  /// [...], "abs_max": [...], "abs_mean": [...], "mean_square": [...]}, ...}} with names sorted and
  /// numbers written so they read back bit-identically; "channels" is written only when non-empty
  /// and optional on reading. `grams` are not written (see there).
  std::string to_json() const;
  /// Parses to_json's format; errors name `label` (the file) and what is wrong.
  static StatusOr<CalibrationTable> from_json(std::string_view text, const std::string& label);
  Status save(const std::string& path) const;  ///< Atomic write.
  static StatusOr<CalibrationTable> load(const std::string& path);
};

/// Runs `model` on every sample and returns the ranges of the named tensors (float32 values the
/// model computes, or its float inputs). A name the model does not produce is a kInvalidArgument
/// error naming it; a tensor holding an infinity is a kInvalidModel error naming the tensor and
/// the sample; a tensor that is not float32 is skipped (absent from the table). The tensors of
/// `channels` get per-channel statistics (CalibrationTable::channels) from the same run; an axis
/// outside a tensor's rank is a kInvalidArgument error naming the tensor. The layers of `grams`
/// get the Gram matrix of their inputs (CalibrationTable::grams); a label naming no node, a
/// node other than Conv, Gemm or MatMul, a weight that is not a float initializer, an input that
/// is not float32 or not finite are errors naming the layer. With more than one thread the
/// histogram methods take the statistics of each captured value on a thread of their own beside
/// the executor, in capture order, so the table is the same bits as with one thread. Memory: the
/// Grams themselves, one block of rows (about 2^18 doubles) at a time, and the captured values
/// waiting for their statistics (at most 64 MiB; capturing waits beyond that).
StatusOr<CalibrationTable> calibrate(const ir::Model& model, const io::SampleSet& samples,
                                     const std::vector<std::string>& tensors,
                                     const CalibrationOptions& options,
                                     const std::vector<ChannelRequest>& channels = {},
                                     const std::vector<GramRequest>& grams = {});

}  // namespace compressor::pass
