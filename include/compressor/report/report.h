// The run report: what a command did to a model, the drift it measured and the gates' verdicts,
// as JSON with stable keys (written with --report) and as a readable table on stdout.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/eval/drift.h"
#include "compressor/eval/gates.h"
#include "compressor/pass/budget.h"
#include "compressor/pass/fallback.h"
#include "compressor/pass/pipeline.h"

namespace compressor::report {

/// A model file as the report describes it. Sizes are on-disk bytes, external data included.
struct ModelFile {
  std::string path;
  std::string sha256;  ///< Of the .onnx file.
  uint64_t bytes = 0;
  /// The same files compressed as `zip` does by default (deflate, zlib level 6), summed: what a
  /// download or an archive of the model costs. Zeros compress well even when stored dense.
  uint64_t zip_bytes = 0;
  uint64_t params = 0;
  uint64_t macs = 0;  ///< Estimated multiply-accumulates per run; flops are twice this.
  bool macs_known = false;
};

/// Fills a ModelFile for the model at `path` (size with external data, hash, parameter and
/// MAC counts with the symbolic dimensions bound to `dims`).
StatusOr<ModelFile> describe_model_file(const std::string& path, const ir::Model& model,
                                        const std::map<std::string, int64_t>& dims);

/// One layer's row of a per-layer sensitivity run.
struct LayerSensitivity {
  std::string node;
  std::string op_type;
  /// The ranking metric's worst value over outputs with only this layer changed.
  std::optional<double> score;
  std::vector<eval::OutputDrift> drift;
  uint64_t params_before = 0;
  uint64_t params_after = 0;
  std::string skipped;  ///< Why the pass left the layer alone, if it did.
};

struct Report {
  std::string command;                 ///< "optimize", "eval", "sensitivity", ...
  ModelFile model;                     ///< The input (for eval: the reference).
  std::optional<ModelFile> candidate;  ///< eval only.
  std::optional<ModelFile> output;     ///< The written model.
  /// The samples drift was measured on ("8 random samples (seed 0; ...)"); empty when drift
  /// was not measured, with the reason in `drift_note`.
  std::string samples;
  size_t sample_count = 0;
  std::string drift_note;
  /// How activation ranges were calibrated ("minmax on 100 samples from ..."), if they were.
  std::string calibration;
  std::string on_exceed;  ///< "fail" or "revert" for pipelines.
  std::vector<pass::PassRecord> passes;
  /// Drift of the final model (or the candidate) against the original (or the reference).
  std::vector<eval::OutputDrift> drift;
  /// sensitivity only: the pass applied, its options, the ranking metric, and the rows,
  /// most damaging first.
  std::string sensitivity_pass;
  std::string sensitivity_metric;
  std::vector<LayerSensitivity> sensitivity;
  /// quantize --auto-fallback: the search for layers to return to float, when one ran.
  std::optional<pass::FallbackResult> fallback;
  /// prune --target: the search for per-group ratios, when one ran.
  std::optional<pass::BudgetResult> budget;
  std::vector<eval::GateResult> gates;
  std::vector<std::string> notes;
  int exit_code = 0;
};

/// The JSON report (keys in a fixed order; infinite and NaN values are written as null).
std::string to_json(const Report& report);

/// "kept", "reverted" or "stopped", as the JSON and HTML reports name a pass's verdict.
const char* verdict_name(pass::PassRecord::Verdict v);

/// The same content as readable text.
std::string to_text(const Report& report);

/// Writes the JSON report atomically.
Status write_json(const Report& report, const std::string& path);

/// The metrics any of the rows measured, in eval::metric_names() order (a drift table's columns).
std::vector<std::string> measured_metrics(const std::vector<eval::OutputDrift>& drift);

/// A table of drift rows: one line per output, a column per metric any row measured.
std::string drift_table(const std::vector<eval::OutputDrift>& drift, const std::string& indent);

}  // namespace compressor::report
