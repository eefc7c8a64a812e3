// Gate expressions ("[output.]metric OP number"): parsing and evaluation against measured drift
// and model-level ratios.
#include "compressor/eval/gates.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace compressor::eval {
namespace {

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_model_metric(std::string_view name) { return contains(model_metric_names(), name); }

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string prefix(std::string_view expr) { return "--gate '" + std::string(expr) + "': "; }

/// A parse error: quotes the expression and lists every metric a gate accepts.
Status parse_error(std::string_view expr, const std::string& reason) {
  return invalid_argument(prefix(expr) + reason + " (valid: " + join(gate_metric_names()) + ")");
}

bool is_operator_char(char c) { return c == '<' || c == '>' || c == '=' || c == '!'; }

bool compare(double value, Gate::Op op, double bound) {
  switch (op) {
    case Gate::Op::kGe:
      return value >= bound;
    case Gate::Op::kGt:
      return value > bound;
    case Gate::Op::kLe:
      return value <= bound;
    case Gate::Op::kLt:
      return value < bound;
  }
  return false;
}

constexpr const char* kClassScoreRule = "rank 1-3 float with a last axis of 2 or more";

/// Why `metric` was not measured for any of `outs` (`named_output` when the gate names one).
std::string why_unmeasured(const std::string& metric, const std::vector<const OutputDrift*>& outs,
                           const std::string& named_output) {
  const bool any_class = std::any_of(outs.begin(), outs.end(), [](const OutputDrift* o) {
    return o->metrics.top1_agreement.has_value();
  });
  if (!any_class) {
    const std::string who = named_output.empty() ? "no output of the model holds"
                                                 : "output '" + named_output + "' holds no";
    return who + " class scores (" + kClassScoreRule + ")";
  }
  if (metric == "top5_agreement") {
    return named_output.empty() ? "no class-score output has more than 5 classes"
                                : "output '" + named_output + "' has 5 classes or fewer";
  }
  return metric +
         " needs --labels (a class index per sample) and an output with one row of class scores "
         "per sample";
}

}  // namespace

const std::vector<std::string>& model_metric_names() {
  static const std::vector<std::string> names = {"size_ratio", "params_ratio", "macs_ratio",
                                                 "zip_ratio"};
  return names;
}

std::vector<std::string> gate_metric_names() {
  std::vector<std::string> names = metric_names();
  const auto& model = model_metric_names();
  names.insert(names.end(), model.begin(), model.end());
  return names;
}

StatusOr<Gate> parse_gate(std::string_view text) {
  Gate gate;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) gate.expr += c;
  }
  const std::string& expr = gate.expr;

  const size_t op_pos = expr.find_first_of("<>=!");
  if (op_pos == std::string::npos) {
    return parse_error(expr, "expected [output.]metric followed by >=, >, <= or < and a number");
  }
  size_t op_len = 1;
  const char c0 = expr[op_pos];
  const char c1 = op_pos + 1 < expr.size() ? expr[op_pos + 1] : '\0';
  if (c0 == '=' || c0 == '!') {
    const std::string op = c1 == '=' ? std::string(1, c0) + "=" : std::string(1, c0);
    return parse_error(expr, "operator '" + op + "' is not supported; use >=, >, <= or <");
  }
  if (c1 == '=') op_len = 2;
  gate.op = c0 == '>' ? (op_len == 2 ? Gate::Op::kGe : Gate::Op::kGt)
                      : (op_len == 2 ? Gate::Op::kLe : Gate::Op::kLt);
  const size_t rhs_pos = op_pos + op_len;
  if (rhs_pos < expr.size() && is_operator_char(expr[rhs_pos])) {
    return parse_error(expr, "malformed comparison operator; use >=, >, <= or <");
  }

  const std::string lhs = expr.substr(0, op_pos);
  const std::string rhs = expr.substr(rhs_pos);
  if (lhs.empty()) return parse_error(expr, "missing metric before the comparison");
  if (rhs.empty()) return parse_error(expr, "missing number after the comparison");

  // The metric is what follows the last '.', when that is a metric name; output names may
  // contain dots.
  const std::vector<std::string> names = gate_metric_names();
  const size_t dot = lhs.rfind('.');
  if (dot != std::string::npos && contains(names, std::string_view(lhs).substr(dot + 1))) {
    gate.output = lhs.substr(0, dot);
    gate.metric = lhs.substr(dot + 1);
    if (gate.output.empty()) return parse_error(expr, "empty output name before '.'");
  } else if (contains(names, lhs)) {
    gate.metric = lhs;
  } else {
    const std::string unknown = dot == std::string::npos ? lhs : lhs.substr(dot + 1);
    return parse_error(expr, "unknown metric '" + unknown + "'");
  }
  if (!gate.output.empty() && is_model_metric(gate.metric)) {
    return parse_error(expr, "'" + gate.metric +
                                 "' is a model metric and takes no output name (drop '" +
                                 gate.output + ".')");
  }

  // from_chars takes no leading '+'; allow one.
  const char* first = rhs.data();
  const char* last = rhs.data() + rhs.size();
  if (*first == '+' && first + 1 < last && first[1] != '-' && first[1] != '+') ++first;
  double bound = 0;
  const auto [ptr, ec] = std::from_chars(first, last, bound);
  if (ec == std::errc::result_out_of_range) {
    return parse_error(expr, "bound '" + rhs + "' is out of range");
  }
  if (ec != std::errc() || ptr != last) {
    return parse_error(expr, "bound '" + rhs + "' is not a number");
  }
  if (!std::isfinite(bound)) {
    return parse_error(expr, "bound '" + rhs + "' must be a finite number");
  }
  gate.bound = bound;
  return gate;
}

bool needs_drift(const Gate& gate) { return !is_model_metric(gate.metric); }

StatusOr<GateResult> evaluate_gate(const Gate& gate, const GateInputs& inputs) {
  GateResult result;
  result.expr = gate.expr;

  if (!needs_drift(gate)) {
    const auto it = inputs.model_metrics.find(gate.metric);
    if (it == inputs.model_metrics.end()) {
      return invalid_argument(prefix(gate.expr) + gate.metric + " was not measured");
    }
    result.value = it->second;
    result.ok = compare(it->second, gate.op, gate.bound);
    return result;
  }

  if (inputs.drift == nullptr) {
    return invalid_argument(prefix(gate.expr) + gate.metric +
                            " needs sample data to measure drift");
  }
  const std::vector<OutputDrift>& drift = *inputs.drift;
  std::vector<const OutputDrift*> outs;
  if (!gate.output.empty()) {
    const auto it = std::find_if(drift.begin(), drift.end(),
                                 [&](const OutputDrift& o) { return o.output == gate.output; });
    if (it == drift.end()) {
      std::vector<std::string> have;
      for (const OutputDrift& o : drift) have.push_back(o.output);
      return invalid_argument(prefix(gate.expr) + "the model has no output '" + gate.output +
                              "' (outputs: " + (have.empty() ? "none" : join(have)) + ")");
    }
    outs.push_back(&*it);
  } else {
    for (const OutputDrift& o : drift) outs.push_back(&o);
    if (outs.empty()) {
      return invalid_argument(prefix(gate.expr) + "no output drift was measured");
    }
  }

  // The worst value over the outputs that measured the metric; NaN is the worst of all.
  const bool higher = higher_is_better(gate.metric);
  for (const OutputDrift* o : outs) {
    const std::optional<double> v = o->metrics.get(gate.metric);
    if (!v) continue;
    bool worse = false;
    if (!result.value) {
      worse = true;
    } else if (std::isnan(*result.value)) {
      worse = false;
    } else if (std::isnan(*v)) {
      worse = true;
    } else {
      worse = higher ? *v < *result.value : *v > *result.value;
    }
    if (worse) {
      result.value = v;
      result.output = o->output;
    }
  }
  if (!result.value) {
    return invalid_argument(prefix(gate.expr) + why_unmeasured(gate.metric, outs, gate.output));
  }
  result.ok = compare(*result.value, gate.op, gate.bound);
  return result;
}

}  // namespace compressor::eval
