#include "data_options.h"

#include <charconv>
#include <filesystem>

#include "options.h"

namespace compressor::cli {

void add_data_options(CLI::App& cmd, DataOptions& opts, bool with_no_drift) {
  cmd.add_option("--data", opts.data,
                 "Sample folder: one sub-folder per sample holding <input name>.npy or .pb, or "
                 "test_data_set_N/input_K.pb (default: seeded random samples)");
  cmd.add_option("--samples", opts.samples,
                 "Number of random samples (default 8), or the first N samples of --data")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--seed", opts.seed, "Seed for random samples (default 0)");
  cmd.add_option("--random-range", opts.random_range,
                 "LOW,HIGH: range of random sample values (default floats 0,1; integers 0,9)");
  cmd.add_option("--dim", opts.dims, "NAME=VALUE: bind a symbolic input dimension");
  cmd.add_option("--labels", opts.labels,
                 ".npy file with one class index per sample, for accuracy and accuracy_drop");
  cmd.add_option("--threads", opts.threads,
                 "Worker threads for running the models (default: all cores; results do not "
                 "depend on it)")
      ->check(CLI::NonNegativeNumber);
  if (with_no_drift) {
    cmd.add_flag("--no-drift", opts.no_drift,
                 "Do not run the model to measure drift (drift gates are then refused)");
  }
}

StatusOr<io::SampleOptions> sample_options(const DataOptions& opts) {
  io::SampleOptions s;
  s.data_dir = opts.data;
  s.count = opts.samples;
  s.seed = opts.seed;
  s.labels_path = opts.labels;
  COMPRESSOR_ASSIGN_OR_RETURN(s.dims, parse_dims(opts.dims));
  if (!opts.random_range.empty()) {
    const std::string& r = opts.random_range;
    const size_t comma = r.find(',');
    double lo = 0, hi = 0;
    bool ok = comma != std::string::npos;
    if (ok) {
      auto a = std::from_chars(r.data(), r.data() + comma, lo);
      auto b = std::from_chars(r.data() + comma + 1, r.data() + r.size(), hi);
      ok = a.ec == std::errc() && a.ptr == r.data() + comma && b.ec == std::errc() &&
           b.ptr == r.data() + r.size() && lo < hi;
    }
    if (!ok) {
      return invalid_argument("--random-range '" + r +
                              "': expected LOW,HIGH with LOW < HIGH, e.g. --random-range 0,1");
    }
    s.random_range = std::make_pair(lo, hi);
  }
  if (opts.no_drift && (!opts.data.empty() || !opts.labels.empty())) {
    return invalid_argument("--no-drift cannot be combined with --data or --labels");
  }
  return s;
}

void add_gate_options(CLI::App& cmd, GateOptions& opts, bool with_on_exceed) {
  std::string names;
  for (const auto& n : eval::gate_metric_names()) names += (names.empty() ? "" : ", ") + n;
  cmd.add_option("--gate", opts.gates,
                 "[OUTPUT.]METRIC(>=|>|<=|<)NUMBER, repeatable, e.g. 'cosine>=0.999'; a failed "
                 "gate exits 3. Metrics: " +
                     names);
  if (with_on_exceed) {
    cmd.add_option("--on-exceed", opts.on_exceed,
                   "When a pass pushes drift past a gate: fail (stop, exit 3) or revert (undo "
                   "the pass and go on)")
        ->check(CLI::IsMember({"fail", "revert"}))
        ->capture_default_str();
  }
  cmd.add_option("--report", opts.report, "Write the JSON report to this file");
  cmd.add_option("--report-html", opts.report_html,
                 "Write the report as a self-contained HTML page with charts to this file");
}

Status check_writable_path(const std::string& option, const std::string& path) {
  if (path.empty()) return ok_status();
  std::error_code ec;
  const std::filesystem::path p(path);
  if (std::filesystem::is_directory(p, ec)) {
    return invalid_argument(option + " " + path + ": is a folder, not a file");
  }
  if (!p.parent_path().empty() && !std::filesystem::is_directory(p.parent_path(), ec)) {
    return invalid_argument(option + " " + path + ": folder '" + p.parent_path().string() +
                            "' does not exist");
  }
  return ok_status();
}

StatusOr<std::vector<eval::Gate>> parse_gates(const GateOptions& opts) {
  COMPRESSOR_RETURN_IF_ERROR(check_writable_path("--report", opts.report));
  COMPRESSOR_RETURN_IF_ERROR(check_writable_path("--report-html", opts.report_html));
  std::vector<eval::Gate> gates;
  for (const auto& expr : opts.gates) {
    COMPRESSOR_ASSIGN_OR_RETURN(eval::Gate g, eval::parse_gate(expr));
    gates.push_back(std::move(g));
  }
  return gates;
}

StatusOr<std::vector<eval::GateResult>> evaluate_gates(
    const std::vector<eval::Gate>& gates, const std::vector<eval::OutputDrift>* drift,
    const std::map<std::string, double>& model_metrics) {
  eval::GateInputs inputs;
  inputs.drift = drift;
  inputs.model_metrics = model_metrics;
  std::vector<eval::GateResult> results;
  for (const auto& g : gates) {
    COMPRESSOR_ASSIGN_OR_RETURN(eval::GateResult r, eval::evaluate_gate(g, inputs));
    results.push_back(std::move(r));
  }
  return results;
}

Status gate_status(const std::vector<eval::GateResult>& results) {
  std::string failed;
  for (const auto& r : results) {
    if (!r.ok) failed += (failed.empty() ? "" : ", ") + r.expr;
  }
  if (failed.empty()) return ok_status();
  return Status(ErrorCode::kGateFailed, "gate failed: " + failed);
}

}  // namespace compressor::cli
