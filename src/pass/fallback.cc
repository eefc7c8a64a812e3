#include "compressor/pass/fallback.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "compressor/core/format.h"
#include "compressor/core/logging.h"

namespace compressor::pass {
namespace {

/// A pattern for the pass's `exclude` option that matches exactly `label`: the label with every
/// regular-expression metacharacter escaped (so it neither equals an op type nor matches any
/// other label).
std::string exact_pattern(const std::string& label) {
  static const std::string special = R"(\^$.|?*+()[]{}-)";
  std::string out;
  for (char c : label) {
    if (special.find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

struct Trial {
  ir::Model model;
  PassResult result;
  eval::DriftMeter::Measurement measured;
};

}  // namespace

StatusOr<FallbackResult> search_fallback(
    const ir::Model& before, const std::string& pass_name, const PassOptions& options,
    const CalibrationTable* calibration, eval::DriftMeter& meter,
    const std::vector<eval::Gate>& drift_gates, const FallbackOptions& fallback, PassContext& ctx,
    ir::Model& model, PassRecord& record, const PassRegistry& registry) {
  const auto start = std::chrono::steady_clock::now();
  if (drift_gates.empty()) return invalid_argument("the fallback search needs a drift gate");
  FallbackResult out;
  out.pass = pass_name;

  // The gate that ranks the layers: the first one the pass broke.
  const eval::Gate* ranking = &drift_gates.front();
  if (!record.exceeded.empty()) {
    for (const auto& g : drift_gates) {
      if (g.expr == record.exceeded.front().expr) {
        ranking = &g;
        break;
      }
    }
  }
  out.gate = ranking->expr;
  out.metric = ranking->metric;
  const bool higher = eval::higher_is_better(ranking->metric);
  struct Verdict {
    std::optional<double> value;
    bool passed = true;
  };
  auto judge = [&](const std::vector<eval::OutputDrift>& drift) -> StatusOr<Verdict> {
    eval::GateInputs inputs;
    inputs.drift = &drift;
    Verdict v;
    for (const auto& g : drift_gates) {
      COMPRESSOR_ASSIGN_OR_RETURN(eval::GateResult r, eval::evaluate_gate(g, inputs));
      v.passed = v.passed && r.ok;
      if (&g == ranking) v.value = r.value;
    }
    return v;
  };
  // How much better `after` is than `before` for the ranking gate (positive: closer to passing).
  auto gain = [&](std::optional<double> from, std::optional<double> to) -> std::optional<double> {
    if (!from || !to) return std::nullopt;
    return higher ? *to - *from : *from - *to;
  };
  {
    COMPRESSOR_ASSIGN_OR_RETURN(Verdict all, judge(record.drift));
    out.value_all = all.value;
  }

  // The pass on `before` with `floated` left alone (excluded by exact-name patterns).
  auto apply = [&](const std::vector<std::string>& floated) -> StatusOr<Trial> {
    PassOptions o = options;
    std::string exclude = o.count("exclude") ? o["exclude"] : std::string();
    for (const auto& label : floated) {
      exclude += (exclude.empty() ? "" : "\n") + exact_pattern(label);
    }
    if (!exclude.empty()) o["exclude"] = exclude;
    COMPRESSOR_ASSIGN_OR_RETURN(auto p, registry.create(pass_name, o));
    Trial t{before, {}, {}};
    ctx.set_calibration(calibration);
    auto result = p->run(t.model, ctx);
    ctx.set_calibration(nullptr);
    if (!result.ok()) return result.status().with_context("pass '" + pass_name + "' (fallback)");
    t.result = std::move(result).value();
    COMPRESSOR_ASSIGN_OR_RETURN(t.measured, meter.measure(t.model));
    return t;
  };

  // Rank: each changed layer's gate value when it alone is left in float (leave one out), best
  // value first: that layer costs the most.
  std::map<std::string, std::string> op_of;
  for (const auto& node : before.graph.nodes()) op_of[node_label(*node)] = node->op_type;
  for (const auto& change : record.result.changes) {
    FallbackLayer layer;
    layer.node = change.node;
    layer.op_type = op_of.count(change.node) ? op_of[change.node] : std::string();
    COMPRESSOR_ASSIGN_OR_RETURN(Trial t, apply({change.node}));
    COMPRESSOR_ASSIGN_OR_RETURN(Verdict v, judge(t.measured.cumulative));
    layer.alone = v.value;
    out.layers.push_back(std::move(layer));
    COMPRESSOR_LOG_INFO("fallback: ranked {}/{} layers", out.layers.size(),
                        record.result.changes.size());
  }
  std::stable_sort(out.layers.begin(), out.layers.end(),
                   [&](const FallbackLayer& a, const FallbackLayer& b) {
                     const double x = a.alone.value_or(higher ? -INFINITY : INFINITY);
                     const double y = b.alone.value_or(higher ? -INFINITY : INFINITY);
                     return higher ? x > y : x < y;
                   });

  // Return groups to float until every drift gate passes.
  const size_t n = out.layers.size();
  const size_t step = fallback.step > 0 ? fallback.step : std::max<size_t>(1, (n + 15) / 16);
  std::optional<double> previous = out.value_all;
  std::optional<Trial> chosen;  // the step that passed; empty when it was every layer in float
  for (size_t k = std::min(step, n); n > 0; k = std::min(k + step, n)) {
    std::vector<std::string> floated;
    for (size_t i = 0; i < k; ++i) floated.push_back(out.layers[i].node);
    FallbackStep s;
    s.float_layers = k;
    std::optional<Trial> trial;
    Verdict v;
    if (k == n) {
      // Every layer in float: the model as it was before the pass.
      COMPRESSOR_ASSIGN_OR_RETURN(v, judge(meter.current()));
    } else {
      COMPRESSOR_ASSIGN_OR_RETURN(trial, apply(floated));
      COMPRESSOR_ASSIGN_OR_RETURN(v, judge(trial->measured.cumulative));
    }
    s.value = v.value;
    s.passed = v.passed;
    const size_t number = out.steps.size() + 1;
    const size_t first = out.steps.empty() ? 0 : out.steps.back().float_layers;
    for (size_t i = first; i < k; ++i) {
      out.layers[i].step = number;
      out.layers[i].saved = gain(previous, v.value);
    }
    previous = v.value;
    out.steps.push_back(s);
    COMPRESSOR_LOG_INFO("fallback: {} of {} layers in float, {} = {}", k, n, out.metric,
                        v.value ? *v.value : NAN);
    if (v.passed) {
      out.met = true;
      chosen = std::move(trial);
      break;
    }
    if (k == n) break;
  }

  // The ledger: layers returned to float say so instead of "excluded".
  std::map<std::string, const FallbackLayer*> floated_layer;
  for (const auto& l : out.layers) {
    if (l.step > 0) floated_layer[l.node] = &l;
  }
  auto floated_reason = [&](const FallbackLayer& l) {
    std::string why = "returned to float for accuracy (fallback step " + std::to_string(l.step);
    if (l.alone) why += "; " + out.metric + " with only it in float: " + format_value(*l.alone);
    return why + ")";
  };

  if (!out.met) {
    // No step met the gates: the model stays as the pass left it (every layer changed), and
    // the meter takes it as the current model again.
    COMPRESSOR_RETURN_IF_ERROR(meter.measure(model).status());
    meter.accept();
    record.verdict = PassRecord::Verdict::kStop;
  } else if (!chosen) {
    model = before;
    PassResult none;
    none.skipped = record.result.skipped;
    for (const auto& l : out.layers) none.skipped.push_back({l.node, floated_reason(l)});
    none.notes.push_back("every layer the pass changed had to return to float to meet the gates");
    record.result = std::move(none);
    record.drift = meter.current();
    record.delta = zero_delta(meter.current());
  } else {
    model = std::move(chosen->model);
    record.result = std::move(chosen->result);
    for (auto& skipped : record.result.skipped) {
      if (auto it = floated_layer.find(skipped.node); it != floated_layer.end()) {
        skipped.reason = floated_reason(*it->second);
      }
    }
    record.drift = std::move(chosen->measured.cumulative);
    record.delta = std::move(chosen->measured.delta);
    meter.accept();
  }
  if (out.met) {
    record.exceeded.clear();  // the step passed every drift gate
    record.verdict = PassRecord::Verdict::kKeep;
  }
  record.after = model_stats(model, ctx.dims());
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace compressor::pass
