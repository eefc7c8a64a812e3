// Accuracy-driven fallback: when a layer-wise lossy pass (quantization) pushes drift past a gate,
// rank the layers it changed by the drift each causes alone and return the most damaging ones to
// float, one group at a time, until every drift gate passes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/eval/compare.h"
#include "compressor/eval/gates.h"
#include "compressor/ir/model.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/pipeline.h"
#include "compressor/pass/registry.h"

namespace compressor::pass {

/// One changed layer, in ranking order (most damaging first).
struct FallbackLayer {
  std::string node;
  std::string op_type;
  /// The ranking gate's value with only this layer changed.
  std::optional<double> alone;
  /// 1-based step that returned it to float; 0 when it stayed changed.
  size_t step = 0;
  /// How much closer to the bound the ranking gate's value moved in that step (positive: better);
  /// shared by the layers of one step.
  std::optional<double> saved;
};

/// One step of the search: the first `float_layers` layers of the ranking in float.
struct FallbackStep {
  size_t float_layers = 0;
  std::optional<double> value;  ///< The ranking gate's value.
  bool passed = false;          ///< Every drift gate passed.
};

/// What the search did, for the report.
struct FallbackResult {
  std::string pass;                 ///< The pass searched over.
  std::string gate;                 ///< The gate that ranks the layers (the first that failed).
  std::string metric;               ///< Its metric.
  std::optional<double> value_all;  ///< Its value with every layer changed.
  std::vector<FallbackLayer> layers;
  std::vector<FallbackStep> steps;
  bool met = false;  ///< Some step passed every drift gate.
  double seconds = 0;
};

struct FallbackOptions {
  /// Layers returned to float per step; 0 picks ceil(layers / 16), so at most 16 steps.
  size_t step = 0;
};

/// `before` is the model just before the pass, `model` the pass's result on it and `record` the
/// pass's record from a pipeline run whose drift gates failed (its `result.changes` name the
/// changed layers). The pass is re-created from `registry` with `options` plus exact-name
/// `exclude` patterns for the layers in float, given `calibration` (its ranges), and measured
/// with `meter`, whose accepted state must be `before`. On return `model` is the chosen model
/// (the first step that passes; when none does, `model` as it came), `record` describes it
/// (result, drift, delta, exceeded, verdict, after) and the meter has accepted it.
StatusOr<FallbackResult> search_fallback(
    const ir::Model& before, const std::string& pass_name, const PassOptions& options,
    const CalibrationTable* calibration, eval::DriftMeter& meter,
    const std::vector<eval::Gate>& drift_gates, const FallbackOptions& fallback, PassContext& ctx,
    ir::Model& model, PassRecord& record, const PassRegistry& registry = PassRegistry::builtin());

}  // namespace compressor::pass
