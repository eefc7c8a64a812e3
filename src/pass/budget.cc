#include "compressor/pass/budget.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "compressor/core/format.h"
#include "compressor/core/logging.h"
#include "compressor/eval/drift.h"
#include "compressor/eval/model_info.h"
#include "compressor/pass/pipeline.h"

namespace compressor::pass {

const char* budget_metric_name(BudgetTarget::Metric metric) {
  return metric == BudgetTarget::Metric::kMacs ? "macs_ratio" : "params_ratio";
}

StatusOr<BudgetTarget> parse_budget_target(std::string_view text, std::string_view option) {
  const std::string given(text);
  const std::string prefix = std::string(option) + " '" + given + "': ";
  const size_t eq = given.find('=');
  if (eq == std::string::npos) {
    return invalid_argument(prefix + "expected params_ratio=X or macs_ratio=X");
  }
  BudgetTarget t;
  const std::string key = given.substr(0, eq), value = given.substr(eq + 1);
  if (key == "params_ratio") {
    t.metric = BudgetTarget::Metric::kParams;
  } else if (key == "macs_ratio") {
    t.metric = BudgetTarget::Metric::kMacs;
  } else {
    return invalid_argument(prefix + "unknown target '" + key +
                            "' (expected params_ratio or macs_ratio)");
  }
  char* end = nullptr;
  t.ratio = value.empty() ? NAN : std::strtod(value.c_str(), &end);
  if (value.empty() || end != value.c_str() + value.size() || !(t.ratio > 0.0 && t.ratio < 1.0)) {
    return invalid_argument(prefix + "the ratio must be a number in (0, 1)");
  }
  return t;
}

PassOptions budget_pass_options(const PassOptions& options, const BudgetResult& result) {
  PassOptions o = options;
  // Groups the search did not choose stay whole: a pass with one `ratio` for all groups gets 0
  // (a pass without one, like factorize-svd, leaves layers not named in group_ratios alone).
  const PassInfo* info = PassRegistry::builtin().find(result.pass);
  const bool has_ratio =
      info == nullptr || std::any_of(info->options.begin(), info->options.end(),
                                     [](const PassOptionInfo& o) { return o.name == "ratio"; });
  if (has_ratio) o["ratio"] = "0";
  o.erase("group_ratios");
  if (!result.group_ratios.empty() || !has_ratio) o["group_ratios"] = result.group_ratios;
  return o;
}

namespace {

using Clock = std::chrono::steady_clock;

/// How bad a ranking value is (lower is better); unmeasured counts as the worst.
double badness(std::optional<double> v, bool higher) {
  if (!v || std::isnan(*v)) return INFINITY;
  return higher ? -*v : *v;
}

}  // namespace

StatusOr<BudgetResult> search_budget(const ir::Model& before, const std::string& pass_name,
                                     const PassOptions& options, const BudgetTarget& target,
                                     eval::DriftMeter& meter,
                                     const std::vector<eval::Gate>& drift_gates,
                                     const BudgetOptions& budget, PassContext& ctx,
                                     const PassRegistry& registry) {
  const auto start = Clock::now();
  if (options.count("group_ratios")) {
    return invalid_argument("the budget search chooses '" + pass_name +
                            "' option group_ratios itself; do not give it");
  }
  BudgetResult out;
  out.pass = pass_name;
  out.metric = budget_metric_name(target.metric);
  out.target = target.ratio;

  // The ranking metric.
  eval::Gate ranking;
  if (!drift_gates.empty()) {
    ranking = drift_gates.front();
  } else {
    if (meter.output_names().empty()) return invalid_argument("the model has no outputs");
    ranking.output = meter.output_names().front();
    ranking.metric = "cosine";
    ranking.expr = ranking.output + ".cosine";
  }
  out.ranking = ranking.expr;
  out.ranking_metric = ranking.metric;
  const bool higher = eval::higher_is_better(ranking.metric);
  auto value_of =
      [&](const std::vector<eval::OutputDrift>& drift) -> StatusOr<std::optional<double>> {
    eval::GateInputs inputs;
    inputs.drift = &drift;
    COMPRESSOR_ASSIGN_OR_RETURN(eval::GateResult r, eval::evaluate_gate(ranking, inputs));
    return r.value;
  };
  COMPRESSOR_ASSIGN_OR_RETURN(out.value_before, value_of(meter.current()));

  // The quantity the target is about.
  auto count = [&](const ir::Model& m) -> StatusOr<uint64_t> {
    if (target.metric == BudgetTarget::Metric::kParams) return parameter_count(m);
    COMPRESSOR_ASSIGN_OR_RETURN(eval::MacsSummary macs, eval::estimate_macs(m, ctx.dims()));
    return macs.total;
  };
  COMPRESSOR_ASSIGN_OR_RETURN(out.before, count(before));
  out.after = out.before;
  if (out.before == 0) {
    return invalid_argument(
        "a " + out.metric + " target needs a model with " +
        (target.metric == BudgetTarget::Metric::kParams
             ? "parameters"
             : "MACs it can estimate (Conv, Gemm or MatMul with known shapes)"));
  }
  const double goal = target.ratio * static_cast<double>(out.before);

  // The pass on `before` with only the groups in `ratios` pruned, and what it leaves.
  struct Trial {
    ir::Model model;
    uint64_t total = 0;
  };
  auto apply = [&](const std::string& ratios) -> StatusOr<Trial> {
    BudgetResult chosen;
    chosen.pass = pass_name;
    chosen.group_ratios = ratios;
    COMPRESSOR_ASSIGN_OR_RETURN(auto p,
                                registry.create(pass_name, budget_pass_options(options, chosen)));
    Trial t{before, 0};
    auto result = p->run(t.model, ctx);
    if (!result.ok()) return result.status().with_context("pass '" + pass_name + "' (budget)");
    ++out.applications;
    COMPRESSOR_ASSIGN_OR_RETURN(t.total, count(t.model));
    return t;
  };

  COMPRESSOR_ASSIGN_OR_RETURN(auto probe, registry.create(pass_name, options));
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<ChannelGroupInfo> groups, probe->channel_groups(before));

  // (a) Every group alone at every ratio of the grid.
  for (const auto& info : groups) {
    if (info.producers.empty()) continue;
    BudgetGroup g;
    g.producers = info.producers;
    g.channels = info.channels;
    uint64_t last_saved = 0;
    for (double r : budget.grid) {
      if (!(r > 0.0 && r < 1.0)) return invalid_argument("budget grid ratios must be in (0, 1)");
      COMPRESSOR_ASSIGN_OR_RETURN(Trial t, apply(g.producers.front() + "=" + format_value(r)));
      const uint64_t saved = out.before > t.total ? out.before - t.total : 0;
      if (saved <= last_saved) continue;  // removes no more than the ratio before
      last_saved = saved;
      COMPRESSOR_ASSIGN_OR_RETURN(eval::DriftMeter::Measurement m, meter.measure(t.model));
      ++out.evaluations;
      COMPRESSOR_ASSIGN_OR_RETURN(std::optional<double> v, value_of(m.cumulative));
      g.candidates.push_back({r, v, saved});
    }
    COMPRESSOR_LOG_INFO("budget: group {} ({} channels): {} ratios measured", g.producers.front(),
                        g.channels, g.candidates.size());
    out.groups.push_back(std::move(g));
  }

  // (b) Greedy: the step with the smallest drift increase per unit saved, until the target.
  const double base = badness(out.value_before, higher);
  std::vector<int> at(out.groups.size(), -1);  // chosen candidate per group
  auto ratios_text = [&] {
    std::string text;
    for (size_t i = 0; i < out.groups.size(); ++i) {
      if (at[i] < 0) continue;
      const BudgetGroup& g = out.groups[i];
      text += (text.empty() ? "" : "|") + g.producers.front() + "=" +
              format_value(g.candidates[static_cast<size_t>(at[i])].ratio);
    }
    return text;
  };
  while (static_cast<double>(out.after) > goal) {
    int best = -1;
    double best_cost = INFINITY;
    uint64_t best_gain = 0;
    for (size_t i = 0; i < out.groups.size(); ++i) {
      const BudgetGroup& g = out.groups[i];
      const size_t next = static_cast<size_t>(at[i] + 1);
      if (next >= g.candidates.size()) continue;
      const BudgetCandidate* prev = at[i] < 0 ? nullptr : &g.candidates[next - 1];
      const double from = prev ? badness(prev->value, higher) : base;
      const double to = badness(g.candidates[next].value, higher);
      const double increase = std::isinf(to) ? INFINITY : std::max(0.0, to - from);
      const uint64_t gain = g.candidates[next].saved - (prev ? prev->saved : 0);
      const double cost = increase / static_cast<double>(gain);
      if (best < 0 || cost < best_cost || (cost == best_cost && gain > best_gain)) {
        best = static_cast<int>(i);
        best_cost = cost;
        best_gain = gain;
      }
    }
    if (best < 0) break;  // every group at its largest ratio
    ++at[static_cast<size_t>(best)];
    // Savings of groups do not add up exactly (a layer between two groups loses rows and
    // columns), so the total is counted on the combination.
    COMPRESSOR_ASSIGN_OR_RETURN(Trial t, apply(ratios_text()));
    out.after = t.total;
  }
  out.reached = static_cast<double>(out.after) <= goal;
  out.achieved = static_cast<double>(out.after) / static_cast<double>(out.before);
  for (size_t i = 0; i < out.groups.size(); ++i) {
    if (at[i] < 0) continue;
    const BudgetCandidate& c = out.groups[i].candidates[static_cast<size_t>(at[i])];
    out.groups[i].ratio = c.ratio;
    out.groups[i].value = c.value;
  }
  out.group_ratios = ratios_text();
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  COMPRESSOR_LOG_INFO("budget: {} {} of the model before the pass (target {}), {} evaluations",
                      out.metric, format_value(out.achieved), format_value(out.target),
                      out.evaluations);
  return out;
}

}  // namespace compressor::pass
