// The shared body of every command that rewrites a model with a pass pipeline (optimize now;
// prune, quantize, factorize): load, measure drift after every pass, hold it to the gates,
// save, report, and turn the outcome into the exit code.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "compressor/pass/budget.h"
#include "compressor/pass/fallback.h"
#include "compressor/pass/pipeline.h"
#include "compressor/report/report.h"
#include "data_options.h"
#include "options.h"

namespace compressor::cli {

/// Where a pipeline's calibrated passes get activation ranges from.
struct CalibrationSpec {
  io::SampleOptions samples;
  /// True when the calibration samples are not the drift samples (--calibration-data/-samples).
  bool separate = false;
  pass::CalibrationOptions options;
  std::string save_path;   ///< --save-calibration
  std::string table_path;  ///< --calibration-table: ranges from a saved table, not from samples.
  /// Not asked for by the user (a recipe without a calibration section): samples that cannot be
  /// opened only matter to a pass that needs them, which then says so.
  bool implicit = false;
};

/// Calibration on the drift samples, or on --calibration-data / --calibration-samples when given
/// (random calibration samples then get a seed of their own, apart from the drift samples).
StatusOr<CalibrationSpec> calibration_spec(const DataOptions& data,
                                           const std::string& calibration_data,
                                           size_t calibration_samples);

/// Patterns for the passes' include/exclude options: one per line.
std::string join_lines(const std::vector<std::string>& patterns);

/// How an option map reads in the report ("k=v,k=v"; pattern lists joined by ';').
std::string options_text(const pass::PassOptions& options);

/// Accuracy-driven fallback (--auto-fallback): when the named pass breaks a drift gate, layers
/// go back to float until the gates pass (pass::search_fallback).
struct FallbackSpec {
  std::string pass;           ///< The layer-wise pass searched over (the pipeline's last).
  pass::PassOptions options;  ///< Its options.
  pass::FallbackOptions search;
};

/// What a budget search left for the command (filled while the pipeline runs).
struct BudgetRun {
  eval::DriftMeter* meter = nullptr;    ///< Set by run_pipeline_command.
  std::vector<eval::Gate> drift_gates;  ///< Set by run_pipeline_command.
  std::optional<pass::BudgetResult> result;
  pass::PassOptions applied;  ///< The options the pass ran with (the chosen group_ratios).
};

/// Budget-driven structured pruning (prune --target): the pass made by make_budget_pass
/// chooses its per-group ratios with pass::search_budget on the drift samples just before it
/// runs; run_pipeline_command gives it the meter and reports the search.
struct BudgetSpec {
  std::string pass;
  pass::BudgetTarget target;
  pass::BudgetOptions search;
  std::shared_ptr<BudgetRun> run = std::make_shared<BudgetRun>();
};

/// The pass `spec.pass` with `options`, whose group ratios the budget search chooses when it
/// runs (needs the drift meter, so only inside run_pipeline_command with cmd.budget = spec).
StatusOr<std::unique_ptr<pass::Pass>> make_budget_pass(const pass::PassOptions& options,
                                                       const BudgetSpec& spec);

struct PipelineCommand {
  std::string command;  ///< "optimize", ...
  std::string model;
  OutputOptions output;
  DataOptions data;
  GateOptions gates;
  std::string dump_after;
  /// Set for commands whose passes may calibrate (quantize --mode static).
  std::optional<CalibrationSpec> calibration;
  std::optional<FallbackSpec> fallback;
  std::optional<BudgetSpec> budget;
};

/// Runs `pipeline` on the model. Usage errors (gates, data options) come before any work. A
/// failed gate still writes the model and the report, and returns kGateFailed (exit 3).
Status run_pipeline_command(const PipelineCommand& cmd, pass::PassPipeline pipeline);

/// size_ratio, zip_ratio, params_ratio and macs_ratio of `out` against `in` (a ratio of 0 to 0 is
/// 1).
std::map<std::string, double> model_ratios(const report::ModelFile& in,
                                           const report::ModelFile& out);

/// Prints the report's text on stdout and writes its JSON and its HTML page when asked.
Status emit_report(const report::Report& report, const std::string& json_path,
                   const std::string& html_path = "");

}  // namespace compressor::cli
