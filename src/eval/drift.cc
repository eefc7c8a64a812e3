// Drift metrics between a reference and a candidate model's outputs, streamed over samples in
// double precision. Each tensor is read through one converter chosen per call (dtype switch
// once), in fixed-size blocks of doubles, so no tensor is copied and reference and candidate
// may have different dtypes without a template per dtype pair.
#include "compressor/eval/drift.h"

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <type_traits>

namespace compressor::eval {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr size_t kBlock = 1024;

/// Converts elements [begin, begin + count) of a tensor's bytes to double.
using BlockReader = void (*)(const std::byte* data, size_t begin, size_t count, double* out);

template <typename T>
void read_block(const std::byte* data, size_t begin, size_t count, double* out) {
  const T* p = reinterpret_cast<const T*>(data) + begin;
  for (size_t i = 0; i < count; ++i) {
    if constexpr (std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>) {
      out[i] = static_cast<double>(static_cast<float>(p[i]));
    } else {
      out[i] = static_cast<double>(p[i]);
    }
  }
}

// Bools are read as bytes: any nonzero byte is true (a byte other than 0/1 loaded as a C++ bool
// would be undefined behaviour).
void read_bool_block(const std::byte* data, size_t begin, size_t count, double* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(data) + begin;
  for (size_t i = 0; i < count; ++i) out[i] = p[i] != 0 ? 1.0 : 0.0;
}

BlockReader reader_for(ir::DType dtype) {
  using ir::DType;
  switch (dtype) {
    case DType::kFloat:
      return &read_block<float>;
    case DType::kDouble:
      return &read_block<double>;
    case DType::kFloat16:
      return &read_block<Eigen::half>;
    case DType::kBFloat16:
      return &read_block<Eigen::bfloat16>;
    case DType::kInt8:
      return &read_block<int8_t>;
    case DType::kUInt8:
      return &read_block<uint8_t>;
    case DType::kInt16:
      return &read_block<int16_t>;
    case DType::kUInt16:
      return &read_block<uint16_t>;
    case DType::kInt32:
      return &read_block<int32_t>;
    case DType::kUInt32:
      return &read_block<uint32_t>;
    case DType::kInt64:
      return &read_block<int64_t>;
    case DType::kUInt64:
      return &read_block<uint64_t>;
    case DType::kBool:
      return &read_bool_block;
    default:
      return nullptr;
  }
}

bool is_float_score_dtype(ir::DType dtype) {
  return dtype == ir::DType::kFloat || dtype == ir::DType::kDouble ||
         dtype == ir::DType::kFloat16 || dtype == ir::DType::kBFloat16;
}

/// Running sums of one add() call, merged into the accumulator once the call succeeds.
struct Sums {
  double max_abs = 0;
  double sum_abs = 0;
  double sum_sq_err = 0;
  double sum_sq_ref = 0;
  double sum_sq_cand = 0;
  double dot = 0;
  uint64_t nonfinite_mismatches = 0;
};

void accumulate(const double* ref, const double* cand, size_t n, Sums& s) {
  for (size_t i = 0; i < n; ++i) {
    const double r = ref[i];
    const double c = cand[i];
    if (std::isfinite(r) && std::isfinite(c)) [[likely]] {
      const double d = std::fabs(r - c);
      s.max_abs = std::max(s.max_abs, d);
      s.sum_abs += d;
      s.sum_sq_err += d * d;
      s.sum_sq_ref += r * r;
      s.sum_sq_cand += c * c;
      s.dot += r * c;
    } else if (!(r == c || (std::isnan(r) && std::isnan(c)))) {
      // One side NaN, or different non-finite values: infinitely far apart.
      ++s.nonfinite_mismatches;
      s.max_abs = kInf;
      s.sum_abs = kInf;
      s.sum_sq_err = kInf;
    }
  }
}

/// Index of the largest score; the first wins ties and NaN never wins. -1 for an all-NaN row.
int64_t arg_max(const double* v, int64_t n) {
  int64_t best = -1;
  double best_value = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(v[i])) continue;
    if (best < 0 || v[i] > best_value) {
      best = i;
      best_value = v[i];
    }
  }
  return best;
}

/// Whether class k is among the five best of `scores`, ranked by score (descending, NaN last)
/// and then by index. Counts the classes ranked before k, stopping at five.
bool in_top5(const double* scores, int64_t n, int64_t k) {
  const double sk = scores[k];
  const bool k_nan = std::isnan(sk);
  int before = 0;
  for (int64_t j = 0; j < n && before < 5; ++j) {
    if (j == k) continue;
    const double sj = scores[j];
    bool ahead;
    if (k_nan) {
      ahead = !std::isnan(sj) || j < k;
    } else {
      ahead = sj > sk || (sj == sk && j < k);
    }
    before += ahead ? 1 : 0;
  }
  return before < 5;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

std::optional<double> DriftMetrics::get(std::string_view metric) const {
  if (metric == "max_abs") return max_abs;
  if (metric == "mean_abs") return mean_abs;
  if (metric == "rmse") return rmse;
  if (metric == "rel_l2") return rel_l2;
  if (metric == "cosine") return cosine;
  if (metric == "snr_db") return snr_db;
  if (metric == "top1_agreement") return top1_agreement;
  if (metric == "top5_agreement") return top5_agreement;
  if (metric == "reference_accuracy") return reference_accuracy;
  if (metric == "accuracy") return accuracy;
  if (metric == "accuracy_drop") return accuracy_drop;
  return std::nullopt;
}

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = {
      "max_abs",        "mean_abs",       "rmse",
      "rel_l2",         "cosine",         "snr_db",
      "top1_agreement", "top5_agreement", "reference_accuracy",
      "accuracy",       "accuracy_drop"};
  return names;
}

bool higher_is_better(std::string_view metric) {
  return metric == "cosine" || metric == "snr_db" || metric == "top1_agreement" ||
         metric == "top5_agreement" || metric == "reference_accuracy" || metric == "accuracy";
}

bool is_class_score(ir::DType dtype, const ir::Dims& dims) {
  return is_float_score_dtype(dtype) && !dims.empty() && dims.size() <= 3 && dims.back() >= 2;
}

Status DriftAccumulator::add(const std::string& output, const ir::Tensor& reference,
                             const ir::Tensor& candidate, std::optional<int64_t> label) {
  // Validate everything first: a failed add leaves the accumulator unchanged.
  const ir::Tensor* tensors[2] = {&reference, &candidate};
  const char* roles[2] = {"reference", "candidate"};
  BlockReader readers[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    const ir::DType dtype = tensors[i]->dtype();
    if (dtype == ir::DType::kString) {
      return unsupported("output " + quoted(output) +
                         ": string outputs cannot be compared numerically for drift");
    }
    readers[i] = reader_for(dtype);
    if (readers[i] == nullptr) {
      return unsupported("output " + quoted(output) + ": the " + roles[i] + " dtype " +
                         std::string(ir::dtype_name(dtype)) + " is not supported for drift");
    }
  }
  if (candidate.dims() != reference.dims()) {
    return invalid_model("output " + quoted(output) + ": candidate shape " +
                         ir::dims_to_string(candidate.dims()) + " differs from the reference " +
                         ir::dims_to_string(reference.dims()));
  }
  const int64_t numel = reference.numel();
  for (int i = 0; i < 2; ++i) {
    if (tensors[i]->nbytes() < ir::storage_bytes(tensors[i]->dtype(), numel)) {
      return invalid_model("output " + quoted(output) + ": the " + roles[i] + " tensor holds " +
                           std::to_string(tensors[i]->nbytes()) + " bytes, too few for " +
                           std::to_string(numel) + " elements");
    }
  }
  const ir::Dims& dims = reference.dims();
  const bool class_scores =
      is_class_score(reference.dtype(), dims) && is_class_score(candidate.dtype(), dims);
  const int64_t classes = class_scores ? dims.back() : 0;
  const int64_t rows = class_scores ? numel / classes : 0;
  // A label that is no class of this output (a model with several class-score outputs of
  // different widths, labelled for one of them) means the labels do not describe this output.
  const bool use_label =
      label.has_value() && class_scores && rows == 1 && *label >= 0 && *label < classes;

  // Element-wise sums, block by block.
  Sums sums;
  std::array<double, kBlock> ref_block;
  std::array<double, kBlock> cand_block;
  const size_t total = static_cast<size_t>(numel);
  for (size_t begin = 0; begin < total; begin += kBlock) {
    const size_t n = std::min(kBlock, total - begin);
    readers[0](reference.data(), begin, n, ref_block.data());
    readers[1](candidate.data(), begin, n, cand_block.data());
    accumulate(ref_block.data(), cand_block.data(), n, sums);
  }
  ++samples_;
  elements_ += total;
  max_abs_ = std::max(max_abs_, sums.max_abs);
  sum_abs_ += sums.sum_abs;
  sum_sq_err_ += sums.sum_sq_err;
  sum_sq_ref_ += sums.sum_sq_ref;
  sum_sq_cand_ += sums.sum_sq_cand;
  dot_ += sums.dot;
  nonfinite_mismatches_ += sums.nonfinite_mismatches;

  // Class scores: arg-max per row (the last axis) of both models.
  if (!class_scores) class_scores_ = false;
  if (label.has_value() && !use_label) labels_valid_ = false;
  if (!class_scores_) return ok_status();
  if (classes <= 5) top5_valid_ = false;
  std::vector<double> ref_row(static_cast<size_t>(classes));
  std::vector<double> cand_row(static_cast<size_t>(classes));
  for (int64_t row = 0; row < rows; ++row) {
    const size_t begin = static_cast<size_t>(row * classes);
    readers[0](reference.data(), begin, ref_row.size(), ref_row.data());
    readers[1](candidate.data(), begin, cand_row.size(), cand_row.data());
    const int64_t ref_arg = arg_max(ref_row.data(), classes);
    const int64_t cand_arg = arg_max(cand_row.data(), classes);
    top1_ += ref_arg == cand_arg ? 1 : 0;
    if (classes > 5) {
      const bool hit =
          ref_arg == cand_arg || (ref_arg >= 0 && in_top5(cand_row.data(), classes, ref_arg));
      top5_ += hit ? 1 : 0;
    }
    if (use_label) {
      ++labelled_;
      ref_correct_ += ref_arg == *label ? 1 : 0;
      cand_correct_ += cand_arg == *label ? 1 : 0;
    }
  }
  rows_ += static_cast<uint64_t>(rows);
  return ok_status();
}

DriftMetrics DriftAccumulator::result() const {
  DriftMetrics m;
  m.samples = samples_;
  m.elements = elements_;
  m.max_abs = max_abs_;
  if (elements_ > 0) {
    const double n = static_cast<double>(elements_);
    m.mean_abs = sum_abs_ / n;
    m.rmse = std::sqrt(sum_sq_err_ / n);
  }
  if (sum_sq_err_ == 0) {
    m.rel_l2 = 0;
  } else if (sum_sq_ref_ == 0) {
    m.rel_l2 = kInf;
  } else {
    m.rel_l2 = std::sqrt(sum_sq_err_) / std::sqrt(sum_sq_ref_);
  }
  if (nonfinite_mismatches_ > 0) {
    m.cosine = std::numeric_limits<double>::quiet_NaN();
  } else if (sum_sq_err_ == 0) {
    m.cosine = 1;  // identical outputs (also both zero): exactly 1, not 1 - rounding
  } else if (sum_sq_ref_ == 0 || sum_sq_cand_ == 0) {
    m.cosine = 0;
  } else {
    m.cosine = std::clamp(dot_ / (std::sqrt(sum_sq_ref_) * std::sqrt(sum_sq_cand_)), -1.0, 1.0);
  }
  m.snr_db = sum_sq_err_ == 0 ? kInf : 10 * std::log10(sum_sq_ref_ / sum_sq_err_);
  if (class_scores_ && rows_ > 0) {
    const double rows = static_cast<double>(rows_);
    m.top1_agreement = static_cast<double>(top1_) / rows;
    if (top5_valid_) m.top5_agreement = static_cast<double>(top5_) / rows;
    if (labels_valid_ && labelled_ > 0) {
      const double n = static_cast<double>(labelled_);
      m.reference_accuracy = static_cast<double>(ref_correct_) / n;
      m.accuracy = static_cast<double>(cand_correct_) / n;
      m.accuracy_drop = *m.reference_accuracy - *m.accuracy;
    }
  }
  return m;
}

}  // namespace compressor::eval
