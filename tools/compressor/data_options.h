// The options of every command that measures drift: sample data (--data, --samples, --seed,
// --random-range, --dim, --labels), gates (--gate, --on-exceed) and the report (--report,
// --report-html).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "compressor/eval/gates.h"
#include "compressor/io/samples.h"
#include "compressor/pass/pipeline.h"

namespace compressor::cli {

struct DataOptions {
  std::string data;
  size_t samples = 0;
  uint64_t seed = 0;
  std::string random_range;
  std::vector<std::string> dims;
  std::string labels;
  bool no_drift = false;
  int threads = 0;  ///< Executor worker threads; 0: all cores.
};

/// Adds the sample-data options and --threads; `with_no_drift` adds --no-drift too (pipelines).
void add_data_options(CLI::App& cmd, DataOptions& opts, bool with_no_drift);

/// Validates the data options (usage errors, before any work) into SampleOptions.
StatusOr<io::SampleOptions> sample_options(const DataOptions& opts);

/// True when the user asked for specific samples (then failing to run them is an error, not a
/// note).
inline bool data_given(const DataOptions& opts) {
  return !opts.data.empty() || !opts.labels.empty() || opts.samples > 0;
}

struct GateOptions {
  std::vector<std::string> gates;
  std::string on_exceed = "fail";
  std::string report;
  std::string report_html;
};

/// Adds --gate, --report and --report-html; `with_on_exceed` adds --on-exceed too (pipelines).
void add_gate_options(CLI::App& cmd, GateOptions& opts, bool with_on_exceed);

/// Fails early (a usage error naming `option`) when a file to write later (--report,
/// --report-html, --save-calibration) is a folder or its folder does not exist.
Status check_writable_path(const std::string& option, const std::string& path);

/// Parses every --gate (a malformed one is a usage error listing the metric names).
StatusOr<std::vector<eval::Gate>> parse_gates(const GateOptions& opts);

/// Evaluates every gate against the drift and the model-level ratios.
StatusOr<std::vector<eval::GateResult>> evaluate_gates(
    const std::vector<eval::Gate>& gates, const std::vector<eval::OutputDrift>* drift,
    const std::map<std::string, double>& model_metrics);

/// A status for the exit code of failed gates (3), naming them; ok when all passed.
Status gate_status(const std::vector<eval::GateResult>& results);

}  // namespace compressor::cli
