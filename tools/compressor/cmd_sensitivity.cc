// `compressor sensitivity MODEL --pass quantize|prune|factorize`: applies the pass to one
// eligible layer at a time and ranks the layers by the drift each one causes alone.
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "commands.h"
#include "compressor/eval/compare.h"
#include "compressor/io/onnx_io.h"
#include "compressor/pass/registry.h"
#include "pipeline_command.h"

namespace compressor::cli {
namespace {

struct SensitivityOptions {
  std::string model;
  std::string pass;
  std::string pass_options;
  std::string metric = "rel_l2";
  DataOptions data;
  std::string report;
  std::string report_html;
};

/// The pass behind each technique's short name; other names are taken as registered passes.
std::string pass_for(const std::string& name) {
  if (name == "quantize") return "quantize-weights";
  if (name == "prune") return "prune-magnitude";
  if (name == "factorize") return "factorize-svd";
  return name;
}

StatusOr<pass::PassOptions> parse_pass_options(const std::string& text) {
  pass::PassOptions options;
  size_t p = 0;
  while (p < text.size()) {
    size_t comma = text.find(',', p);
    if (comma == std::string::npos) comma = text.size();
    const std::string kv = text.substr(p, comma - p);
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return invalid_argument("--pass-options: '" + kv + "' is not of the form key=value");
    }
    options[kv.substr(0, eq)] = kv.substr(eq + 1);
    p = comma + 1;
  }
  if (options.count("nodes")) {
    return invalid_argument("--pass-options: 'nodes' is chosen per layer by this command");
  }
  return options;
}

/// The worst value of `metric` over outputs.
std::optional<double> worst(const std::vector<eval::OutputDrift>& drift,
                            const std::string& metric) {
  std::optional<double> w;
  const bool higher = eval::higher_is_better(metric);
  for (const auto& d : drift) {
    auto v = d.metrics.get(metric);
    if (!v) continue;
    if (!w || std::isnan(*v) || (higher ? *v < *w : *v > *w)) w = v;
    if (std::isnan(*w)) break;
  }
  return w;
}

Status run_sensitivity(const SensitivityOptions& opts) {
  const auto& names = eval::metric_names();
  if (std::find(names.begin(), names.end(), opts.metric) == names.end()) {
    std::string valid;
    for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
    return invalid_argument("--metric '" + opts.metric + "': unknown (valid: " + valid + ")");
  }
  const std::string pass_name = pass_for(opts.pass);
  COMPRESSOR_RETURN_IF_ERROR(check_writable_path("--report", opts.report));
  COMPRESSOR_RETURN_IF_ERROR(check_writable_path("--report-html", opts.report_html));
  COMPRESSOR_ASSIGN_OR_RETURN(pass::PassOptions base, parse_pass_options(opts.pass_options));
  // `factorize` as `compressor factorize` runs it: a quarter of each layer's rank unless a rank
  // rule is given (the pass's own default, half, saves nothing on square layers).
  if (opts.pass == "factorize" && !base.count("rank") && !base.count("rank_ratio") &&
      !base.count("energy")) {
    base["rank_ratio"] = "0.25";
  }
  const auto& registry = pass::PassRegistry::builtin();
  COMPRESSOR_ASSIGN_OR_RETURN(auto probe_pass, registry.create(pass_name, base));
  COMPRESSOR_ASSIGN_OR_RETURN(io::SampleOptions sample_opts, sample_options(opts.data));
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model original, io::load_model(opts.model));
  // Weights held in Constant nodes (paddle2onnx exports) become initializers first, so their
  // layers are eligible; that rewrite is exact, so the drift is still the pass's alone.
  ir::Model model = original;
  {
    COMPRESSOR_ASSIGN_OR_RETURN(auto to_inits, registry.create("constants-to-initializers", {}));
    pass::PassContext ctx;
    auto moved = to_inits->run(model, ctx);
    if (!moved.ok()) return moved.status().with_context(opts.model);
  }
  const std::vector<std::string> layers = probe_pass->eligible_nodes(model);
  if (layers.empty()) {
    const auto* info = registry.find(pass_name);
    bool per_layer = false;
    for (const auto& o : info->options) per_layer = per_layer || o.name == "nodes";
    if (!per_layer) {
      return invalid_argument("--pass '" + opts.pass + "': pass '" + pass_name +
                              "' does not work layer by layer (use quantize, prune or factorize)");
    }
  }

  report::Report rep;
  rep.command = "sensitivity";
  rep.sensitivity_pass =
      pass_name + (opts.pass_options.empty() ? "" : "{" + opts.pass_options + "}");
  rep.sensitivity_metric = opts.metric;
  COMPRESSOR_ASSIGN_OR_RETURN(rep.model,
                              report::describe_model_file(opts.model, original, sample_opts.dims));
  auto samples = io::SampleSet::open(original, sample_opts);
  if (!samples.ok()) return samples.status().with_context(opts.model);
  rep.samples = samples->describe();
  rep.sample_count = samples->size();
  eval::CompareOptions compare;
  compare.executor.threads = opts.data.threads;
  auto meter = eval::DriftMeter::create(original, *samples, compare);
  if (!meter.ok()) return meter.status().with_context(opts.model);

  const uint64_t params_before = pass::parameter_count(original);
  const bool progress = ::isatty(2) != 0;  // plain output when stderr is a log
  std::map<std::string, std::string> op_of;
  for (const auto& node : model.graph.nodes()) op_of[pass::node_label(*node)] = node->op_type;
  for (const auto& label : layers) {
    report::LayerSensitivity row;
    row.node = label;
    row.op_type = op_of[label];
    pass::PassOptions options = base;
    options["nodes"] = label;
    COMPRESSOR_ASSIGN_OR_RETURN(auto p, registry.create(pass_name, options));
    ir::Model candidate = model;
    pass::PassContext ctx(opts.data.seed);
    ctx.set_dims(sample_opts.dims);
    auto result = p->run(candidate, ctx);
    if (!result.ok()) return result.status().with_context("layer '" + label + "'");
    row.params_before = params_before;
    row.params_after = pass::parameter_count(candidate);
    if (result->nodes_changed == 0) {
      row.skipped =
          result->skipped.empty() ? "the pass did not change it" : result->skipped.front().reason;
    } else {
      auto m = (*meter)->measure(candidate);
      if (!m.ok()) return m.status().with_context("layer '" + label + "'");
      row.drift = std::move(m->cumulative);
      row.score = worst(row.drift, opts.metric);
    }
    if (progress)
      std::fprintf(stderr, "\r%zu/%zu layers", rep.sensitivity.size() + 1, layers.size());
    rep.sensitivity.push_back(std::move(row));
  }
  if (progress && !layers.empty()) std::fprintf(stderr, "\n");
  const bool higher = eval::higher_is_better(opts.metric);
  std::stable_sort(rep.sensitivity.begin(), rep.sensitivity.end(),
                   [&](const report::LayerSensitivity& a, const report::LayerSensitivity& b) {
                     if (a.skipped.empty() != b.skipped.empty()) return a.skipped.empty();
                     const double x = a.score.value_or(std::nan("")),
                                  y = b.score.value_or(std::nan(""));
                     if (std::isnan(x) != std::isnan(y)) return std::isnan(x);
                     return higher ? x < y : x > y;
                   });
  if (layers.empty()) {
    // Say why: the pass's own reasons for the layers it would have touched.
    ir::Model probe_model = model;
    pass::PassContext ctx;
    auto probe = probe_pass->run(probe_model, ctx);
    std::string why;
    if (probe.ok() && !probe->skipped.empty()) {
      why = ": " + probe->skipped.front().reason + " (" + std::to_string(probe->skipped.size()) +
            " layer(s) skipped)";
    }
    rep.notes.push_back("no layer of the model is eligible for " + pass_name + why);
  }
  return emit_report(rep, opts.report, opts.report_html);
}

}  // namespace

void setup_sensitivity_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<SensitivityOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sensitivity", "Apply a pass to one layer at a time and rank layers by the drift it causes");
  cmd->add_option("model", opts->model, "Input .onnx model")->required();
  cmd->add_option("--pass", opts->pass,
                  "quantize (int8 weights), prune (magnitude), factorize (SVD), or a pass name")
      ->required();
  cmd->add_option("--pass-options", opts->pass_options,
                  "KEY=VALUE,... options for the pass, e.g. 'sparsity=0.7'");
  cmd->add_option("--metric", opts->metric, "Drift metric to rank by (worst over outputs)")
      ->capture_default_str();
  add_data_options(*cmd, opts->data, /*with_no_drift=*/false);
  cmd->add_option("--report", opts->report, "Write the JSON report to this file");
  cmd->add_option("--report-html", opts->report_html,
                  "Write the report as a self-contained HTML page with charts to this file");
  cmd->callback([opts, &run] { run = [opts] { return run_sensitivity(*opts); }; });
}

}  // namespace compressor::cli
