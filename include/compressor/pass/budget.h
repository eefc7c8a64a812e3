// Budget-driven structured pruning: instead of one ratio for every channel group, choose a ratio
// per group so that the model's parameters (or MACs) reach a target at the smallest drift. Each
// group is measured alone at a small grid of ratios; a greedy allocation then takes the cheapest
// step (drift increase per unit saved) until the target is reached. The sibling of the
// accuracy-driven fallback search (fallback.h): it re-creates the pass with options and measures
// with the same drift meter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/eval/compare.h"
#include "compressor/eval/gates.h"
#include "compressor/ir/model.h"
#include "compressor/pass/pass.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/registry.h"

namespace compressor::pass {

/// What the search aims at: the parameters (initializer and Constant-node elements) or the
/// estimated MACs of the model after the pass, as a fraction of the model just before the pass.
struct BudgetTarget {
  enum class Metric { kParams, kMacs };
  Metric metric = Metric::kParams;
  double ratio = 0.5;
};

/// "params_ratio" or "macs_ratio".
const char* budget_metric_name(BudgetTarget::Metric metric);

/// Parses "params_ratio=X" or "macs_ratio=X" with X in (0, 1); errors quote `text` and name
/// `option`.
StatusOr<BudgetTarget> parse_budget_target(std::string_view text,
                                           std::string_view option = "--target");

struct BudgetOptions {
  /// Ratios tried per group, ascending, each in (0, 1). Ratios that remove no more channels of
  /// a group than the one before (min_channels, round_to, small groups) are dropped for it.
  std::vector<double> grid = {0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875};
};

/// One ratio of one group, measured with only that group pruned.
struct BudgetCandidate {
  double ratio = 0;
  std::optional<double> value;  ///< The ranking metric.
  uint64_t saved = 0;           ///< Parameters (or MACs) saved against the model before the pass.
};

/// One channel group: its candidates and the ratio chosen for it.
struct BudgetGroup {
  std::vector<std::string> producers;  ///< Node labels; the first names the group.
  int64_t channels = 0;
  std::vector<BudgetCandidate> candidates;  ///< Ascending ratio.
  double ratio = 0;                         ///< Chosen; 0 leaves the group whole.
  /// The ranking metric with only this group pruned at the chosen ratio (none when 0).
  std::optional<double> value;
};

/// What the search did, for the report.
struct BudgetResult {
  std::string pass;     ///< The pass searched over.
  std::string metric;   ///< "params_ratio" or "macs_ratio".
  double target = 0;    ///< Against the model before the pass.
  uint64_t before = 0;  ///< Parameters (or MACs) of the model before the pass.
  uint64_t after = 0;   ///< ... with the chosen ratios applied.
  double achieved = 1;  ///< after / before.
  bool reached = false;
  /// How groups are ranked: the first drift gate ("cosine>=0.99"), else "<output>.cosine" of
  /// the first output; `ranking_metric` is its metric, `value_before` its value before the pass.
  std::string ranking;
  std::string ranking_metric;
  std::optional<double> value_before;
  std::vector<BudgetGroup> groups;  ///< In graph order.
  /// The pass option that applies the chosen ratios ("conv1=0.25|conv3=0.5"; empty: none).
  std::string group_ratios;
  size_t evaluations = 0;   ///< Drift measurements (one model run over the samples each).
  size_t applications = 0;  ///< Pass applications, measured or only counted.
  double seconds = 0;
};

/// Searches ratios per channel group for the pass `pass_name` (one that lists channel_groups,
/// like prune-channels) with `options` (its `ratio` is ignored: groups not chosen stay whole;
/// `group_ratios` must not be given) on `before`, the model just before the pass. `meter` must
/// have accepted `before` (its drift is the starting point); `drift_gates` give the ranking
/// metric (the first one's; without any, cosine of the first output). The search leaves the
/// meter's accepted state alone and does not change `before`; apply the result with
/// budget_pass_options. A target that cannot be reached is not an error: `reached` is false and
/// every step that saved something is taken.
StatusOr<BudgetResult> search_budget(const ir::Model& before, const std::string& pass_name,
                                     const PassOptions& options, const BudgetTarget& target,
                                     eval::DriftMeter& meter,
                                     const std::vector<eval::Gate>& drift_gates,
                                     const BudgetOptions& budget, PassContext& ctx,
                                     const PassRegistry& registry = PassRegistry::builtin());

/// `options` with the chosen ratios: `group_ratios` from `result`, and `ratio` 0 for passes that
/// have one (prune-channels). A pass without `ratio` (factorize-svd) always gets group_ratios,
/// empty when nothing was chosen, and leaves every layer it does not name alone.
PassOptions budget_pass_options(const PassOptions& options, const BudgetResult& result);

}  // namespace compressor::pass
