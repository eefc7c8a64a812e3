// Drift metrics: how far a candidate model's outputs are from a reference model's, per output,
// accumulated in double precision over samples without keeping them (memory does not grow with
// the sample count).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/tensor.h"

namespace compressor::eval {

/// Drift of one output over all samples seen. Edge cases: with no difference at all,
/// snr_db is +infinity; with an all-zero reference and a nonzero difference, rel_l2 is
/// +infinity; cosine of two all-zero tensors is 1, of a zero and a nonzero tensor 0.
///
/// NaN and infinity are never dropped silently. An element where both models give NaN, or the
/// same infinity, counts as equal (difference 0) and leaves the norms and the dot product alone.
/// Where only one model gives NaN, or an infinity meets a different value, the difference is
/// +infinity: max_abs, mean_abs, rmse and rel_l2 become +infinity, snr_db -infinity, and
/// cosine NaN, so every gate on them fails. In class scores a NaN never wins the arg-max; a row
/// of NaN only has no arg-max, which agrees with another such row and matches no label.
struct DriftMetrics {
  uint64_t samples = 0;
  uint64_t elements = 0;
  double max_abs = 0;   ///< max |ref - cand|
  double mean_abs = 0;  ///< mean |ref - cand|
  double rmse = 0;      ///< sqrt(mean (ref - cand)^2)
  double rel_l2 = 0;    ///< ||ref - cand|| / ||ref|| over all samples together
  double cosine = 1;    ///< <ref, cand> / (||ref|| ||cand||) over all samples together
  double snr_db = 0;    ///< 10 log10(||ref||^2 / ||ref - cand||^2)
  /// Class-score outputs only (see is_class_score): the share of rows (all axes but the last)
  /// where the candidate's arg-max equals the reference's; top5: where the reference's arg-max
  /// is among the candidate's five highest scores (only when there are more than 5 classes).
  std::optional<double> top1_agreement;
  std::optional<double> top5_agreement;
  /// With labels, class-score outputs with one row per sample: the share of samples whose
  /// arg-max equals the label, for each model, and reference_accuracy - accuracy. An output
  /// for which some label is not one of its classes gets no accuracy (the labels describe
  /// another output).
  std::optional<double> reference_accuracy;
  std::optional<double> accuracy;
  std::optional<double> accuracy_drop;

  /// The value of a metric by its name (see metric_names); nullopt when not measured.
  std::optional<double> get(std::string_view metric) const;
};

/// The metric names, in report order: max_abs, mean_abs, rmse, rel_l2, cosine, snr_db,
/// top1_agreement, top5_agreement, reference_accuracy, accuracy, accuracy_drop.
const std::vector<std::string>& metric_names();

/// True for metrics where a larger value means less drift (cosine, snr_db, agreements,
/// accuracies); the worst over outputs is then the minimum, otherwise the maximum.
bool higher_is_better(std::string_view metric);

/// Whether an output of these dims and dtype is read as class scores: a floating-point tensor
/// of rank 1 to 3 whose last axis has at least 2 entries (logits [N, C], per-step scores
/// [N, T, C]); rank-4 and larger tensors are feature maps.
bool is_class_score(ir::DType dtype, const ir::Dims& dims);

/// Accumulates the drift of one output over samples.
class DriftAccumulator {
 public:
  /// Adds one sample's output of both models. They must have the same dims, and numeric or
  /// bool dtypes (they may differ, e.g. float vs double); `label`, when given, is the sample's
  /// class index. Errors name `output`.
  Status add(const std::string& output, const ir::Tensor& reference, const ir::Tensor& candidate,
             std::optional<int64_t> label = std::nullopt);
  DriftMetrics result() const;

 private:
  uint64_t samples_ = 0;
  uint64_t elements_ = 0;
  double max_abs_ = 0;
  double sum_abs_ = 0;
  double sum_sq_err_ = 0;
  double sum_sq_ref_ = 0;
  double sum_sq_cand_ = 0;
  double dot_ = 0;
  bool class_scores_ = true;  ///< Every sample so far was a class-score tensor.
  uint64_t rows_ = 0;
  uint64_t top1_ = 0;
  uint64_t top5_ = 0;
  bool top5_valid_ = true;
  bool labels_valid_ = true;
  uint64_t labelled_ = 0;
  uint64_t ref_correct_ = 0;
  uint64_t cand_correct_ = 0;
  /// Elements where one model gave NaN or an infinity and the other a different value.
  uint64_t nonfinite_mismatches_ = 0;
};

/// Drift of every output of a model, in output order.
struct OutputDrift {
  std::string output;
  DriftMetrics metrics;
};

}  // namespace compressor::eval
