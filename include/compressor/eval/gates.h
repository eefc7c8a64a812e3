// Gate expressions: "cosine>=0.999", "logits.top1_agreement>=0.99", "size_ratio<=0.3".
// A gate holds a metric to a bound; drift metrics are taken as the worst over outputs unless
// the expression names one output.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/eval/drift.h"

namespace compressor::eval {

/// The model-level metrics a gate may use besides the drift metrics: size_ratio (on-disk
/// bytes out/in, external data included), params_ratio, macs_ratio, zip_ratio (deflate-compressed
/// bytes out/in, as `zip` would store the files).
const std::vector<std::string>& model_metric_names();

/// Every name a gate accepts: the drift metrics, then the model metrics.
std::vector<std::string> gate_metric_names();

struct Gate {
  enum class Op { kGe, kGt, kLe, kLt };
  std::string expr;    ///< As given, whitespace removed.
  std::string output;  ///< Empty: the worst over all outputs (drift metrics only).
  std::string metric;
  Op op = Op::kGe;
  double bound = 0;
};

/// Parses "[output.]metric OP number" with OP one of >=, >, <=, <. Malformed expressions,
/// unknown metrics and a model metric with an output prefix are kInvalidArgument errors whose
/// message quotes the expression and lists the valid metric names. The output prefix is
/// everything before the last '.' when what follows it is a metric name (output names may
/// contain dots).
StatusOr<Gate> parse_gate(std::string_view expr);

/// A gate's verdict.
struct GateResult {
  std::string expr;
  std::optional<double> value;  ///< nullopt when the metric was not measured.
  std::string output;           ///< The output the value comes from (the worst), if any.
  bool ok = false;
};

/// What gates are evaluated against.
struct GateInputs {
  const std::vector<OutputDrift>* drift = nullptr;  ///< null when drift was not measured.
  std::map<std::string, double> model_metrics;      ///< size_ratio, params_ratio, macs_ratio.
};

/// Evaluates one gate. A gate naming an output the model does not have, or a metric that was
/// not measured for any output (top1_agreement without class-score outputs, accuracy_drop
/// without labels) is a kInvalidArgument error that says why.
StatusOr<GateResult> evaluate_gate(const Gate& gate, const GateInputs& inputs);

/// True when the gate needs drift measured (any drift metric).
bool needs_drift(const Gate& gate);

}  // namespace compressor::eval
