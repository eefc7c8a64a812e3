#include "pipeline_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "compressor/core/format.h"
#include "compressor/core/logging.h"
#include "compressor/eval/compare.h"
#include "compressor/io/onnx_io.h"
#include "compressor/report/html.h"

namespace compressor::cli {

std::map<std::string, double> model_ratios(const report::ModelFile& in,
                                           const report::ModelFile& out) {
  auto ratio = [](uint64_t a, uint64_t b) {
    if (a == 0) return b == 0 ? 1.0 : std::numeric_limits<double>::infinity();
    return static_cast<double>(b) / static_cast<double>(a);
  };
  return {{"size_ratio", ratio(in.bytes, out.bytes)},
          {"zip_ratio", ratio(in.zip_bytes, out.zip_bytes)},
          {"params_ratio", ratio(in.params, out.params)},
          {"macs_ratio", ratio(in.macs, out.macs)}};
}

Status emit_report(const report::Report& report, const std::string& json_path,
                   const std::string& html_path) {
  const std::string text = report::to_text(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (!json_path.empty()) {
    COMPRESSOR_RETURN_IF_ERROR(report::write_json(report, json_path));
    std::printf("report written to %s\n", json_path.c_str());
  }
  if (!html_path.empty()) {
    COMPRESSOR_RETURN_IF_ERROR(report::write_html(report, html_path));
    std::printf("HTML report written to %s\n", html_path.c_str());
  }
  return ok_status();
}

namespace {

/// Keeps a copy of the model as it is before the named pass (tensors are shared until written).
class SnapshotInstrumentation : public pass::PassInstrumentation {
 public:
  SnapshotInstrumentation(std::string pass_name, std::optional<ir::Model>& into)
      : pass_(std::move(pass_name)), into_(into) {}
  Status before_pass(const pass::Pass& pass, const ir::Model& model) override {
    if (pass.name() == pass_) into_ = model;
    return ok_status();
  }
  Status after_pass(const pass::Pass&, const ir::Model&, pass::PassRecord&) override {
    return ok_status();
  }

 private:
  std::string pass_;
  std::optional<ir::Model>& into_;
};

/// The pass with its group ratios chosen by the budget search on the model it is given.
class BudgetPass : public pass::Pass {
 public:
  BudgetPass(std::unique_ptr<pass::Pass> inner, pass::PassOptions options, BudgetSpec spec)
      : inner_(std::move(inner)), options_(std::move(options)), spec_(std::move(spec)) {}
  const pass::PassInfo& info() const override { return inner_->info(); }
  std::vector<std::string> calibration_tensors(const ir::Model& model) const override {
    return inner_->calibration_tensors(model);
  }
  std::vector<pass::ChannelRequest> channel_statistics(const ir::Model& model) const override {
    return inner_->channel_statistics(model);
  }
  std::vector<pass::GramRequest> gram_statistics(const ir::Model& model) const override {
    return inner_->gram_statistics(model);
  }
  StatusOr<std::vector<pass::ChannelGroupInfo>> channel_groups(
      const ir::Model& model) const override {
    return inner_->channel_groups(model);
  }

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override {
    BudgetRun& st = *spec_.run;
    if (st.meter == nullptr) return invalid_argument("--target needs drift measured on samples");
    COMPRESSOR_ASSIGN_OR_RETURN(pass::BudgetResult found,
                                pass::search_budget(model, spec_.pass, options_, spec_.target,
                                                    *st.meter, st.drift_gates, spec_.search, ctx));
    st.applied = pass::budget_pass_options(options_, found);
    COMPRESSOR_ASSIGN_OR_RETURN(auto chosen,
                                pass::PassRegistry::builtin().create(spec_.pass, st.applied));
    COMPRESSOR_ASSIGN_OR_RETURN(pass::PassResult result, chosen->run(model, ctx));
    result.notes.push_back("budget " + found.metric + "=" + format_value(found.target) + ": " +
                           format_value(found.achieved) + " of the model before the pass" +
                           (found.reached ? "" : " (target not reachable)") + ", group ratios " +
                           (found.group_ratios.empty() ? "none" : "'" + found.group_ratios + "'") +
                           "; " + std::to_string(found.evaluations) + " evaluations in " +
                           format_value(found.seconds) + "s");
    st.result = std::move(found);
    return result;
  }

 private:
  std::unique_ptr<pass::Pass> inner_;
  pass::PassOptions options_;
  BudgetSpec spec_;
};

}  // namespace

StatusOr<std::unique_ptr<pass::Pass>> make_budget_pass(const pass::PassOptions& options,
                                                       const BudgetSpec& spec) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto inner, pass::PassRegistry::builtin().create(spec.pass, options));
  return std::unique_ptr<pass::Pass>(new BudgetPass(std::move(inner), options, spec));
}

Status run_pipeline_command(const PipelineCommand& cmd, pass::PassPipeline pipeline) {
  // Usage errors first.
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<eval::Gate> gates, parse_gates(cmd.gates));
  COMPRESSOR_ASSIGN_OR_RETURN(io::SampleOptions sample_opts, sample_options(cmd.data));
  std::vector<eval::Gate> drift_gates;
  for (const auto& g : gates) {
    if (eval::needs_drift(g)) drift_gates.push_back(g);
  }
  if (cmd.fallback && drift_gates.empty()) {
    return invalid_argument(
        "--auto-fallback needs a drift --gate to meet (e.g. --gate 'cosine>=0.999')");
  }
  if (cmd.budget && cmd.data.no_drift) {
    return invalid_argument(
        "--target needs drift samples (--data or random --samples); drop --no-drift");
  }
  if (cmd.data.no_drift && !drift_gates.empty()) {
    return invalid_argument("--gate '" + drift_gates.front().expr +
                            "' needs drift measured; drop --no-drift");
  }
  COMPRESSOR_RETURN_IF_ERROR(check_output_path(cmd.model, cmd.output));
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model model, io::load_model(cmd.model));

  report::Report rep;
  rep.command = cmd.command;
  rep.on_exceed = cmd.gates.on_exceed;
  COMPRESSOR_ASSIGN_OR_RETURN(rep.model,
                              report::describe_model_file(cmd.model, model, sample_opts.dims));

  // The original's outputs on the samples, computed once.
  std::optional<io::SampleSet> samples;
  std::unique_ptr<eval::DriftMeter> meter;
  if (cmd.data.no_drift) {
    rep.drift_note = "--no-drift";
  } else {
    auto opened = io::SampleSet::open(model, sample_opts);
    if (opened.ok()) {
      samples = std::move(opened).value();
      eval::CompareOptions compare;
      compare.executor.threads = cmd.data.threads;
      auto created = eval::DriftMeter::create(model, *samples, compare);
      if (created.ok()) {
        meter = std::move(created).value();
      } else if (data_given(cmd.data) || !drift_gates.empty() || cmd.budget) {
        return created.status().with_context(cmd.model + ": measuring drift");
      } else {
        rep.drift_note = created.status().message();
      }
    } else if (data_given(cmd.data) || !drift_gates.empty() || cmd.budget ||
               opened.status().code() == ErrorCode::kInvalidArgument) {
      return opened.status().with_context(cmd.model);
    } else {
      rep.drift_note = opened.status().message();
    }
  }
  if (meter) {
    rep.samples = samples->describe();
    rep.sample_count = samples->size();
    for (const auto& d : samples->unbound_dims()) {
      rep.notes.push_back("dim " + d + " is unbound, taken as 1 (bind with --dim NAME=VALUE)");
    }
    // A drift gate the model cannot answer (no class scores, no labels) is a usage error now,
    // not after the work.
    eval::GateInputs probe;
    probe.drift = &meter->current();
    for (const auto& g : drift_gates) {
      COMPRESSOR_RETURN_IF_ERROR(eval::evaluate_gate(g, probe).status());
    }
  }

  // Calibration: a saved table and/or samples (their own set, or the drift samples).
  std::optional<io::SampleSet> own_calibration_samples;
  std::string calibration_text;
  bool calibration_shares_samples = false;
  if (cmd.calibration) {
    const CalibrationSpec& spec = *cmd.calibration;
    if (!spec.table_path.empty()) {
      COMPRESSOR_ASSIGN_OR_RETURN(pass::CalibrationTable table,
                                  pass::CalibrationTable::load(spec.table_path));
      pipeline.set_calibration_table(std::move(table));
      calibration_text = "table " + spec.table_path;
    }
    // With a table, samples only give the Gram statistics tables do not store.
    const bool optional_samples = spec.implicit || !spec.table_path.empty();
    const io::SampleSet* calibration_samples = nullptr;
    if (spec.separate || !samples) {
      auto opened = io::SampleSet::open(model, spec.samples);
      if (opened.ok()) {
        own_calibration_samples = std::move(opened).value();
        calibration_samples = &*own_calibration_samples;
      } else if (!optional_samples) {
        return opened.status().with_context(cmd.model + ": calibration samples");
      }
    } else {
      calibration_samples = &*samples;
      calibration_shares_samples = meter != nullptr;
    }
    if (calibration_samples != nullptr) {
      pipeline.set_calibration_samples(calibration_samples, spec.options);
      if (calibration_text.empty()) {
        calibration_text = std::string(pass::calibration_method_name(spec.options.method)) +
                           " on " + calibration_samples->describe();
      }
    }
  }

  pipeline.add_instrumentation(std::make_unique<pass::VerifyInstrumentation>());
  std::optional<ir::Model> before_fallback_pass;
  if (meter) {
    auto drift = std::make_unique<pass::DriftInstrumentation>(
        *meter, drift_gates,
        cmd.gates.on_exceed == "revert" ? pass::OnExceed::kRevert : pass::OnExceed::kFail);
    if (cmd.fallback) {
      drift->defer(cmd.fallback->pass);
      pipeline.add_instrumentation(
          std::make_unique<SnapshotInstrumentation>(cmd.fallback->pass, before_fallback_pass));
    }
    pipeline.add_instrumentation(std::move(drift));
  }
  if (!cmd.dump_after.empty()) {
    pipeline.add_instrumentation(std::make_unique<pass::DumpInstrumentation>(cmd.dump_after));
  }
  if (cmd.budget) {
    cmd.budget->run->meter = meter.get();
    cmd.budget->run->drift_gates = drift_gates;
  }
  pass::PassContext ctx(cmd.data.seed);
  ctx.set_dims(sample_opts.dims);
  auto records = pipeline.run(model, ctx);
  if (!records.ok()) return records.status().with_context(cmd.model);
  rep.passes = std::move(records).value();
  if (pipeline.calibration_table() != nullptr ||
      std::any_of(rep.passes.begin(), rep.passes.end(),
                  [](const pass::PassRecord& r) { return r.calibrated_tensors > 0; })) {
    rep.calibration = calibration_text;
    if (calibration_shares_samples && cmd.calibration->table_path.empty()) {
      rep.notes.push_back(
          "calibration and drift used the same samples; give --calibration-data (or "
          "--calibration-samples) for drift measured on samples the ranges were not fitted to");
    }
  }
  if (cmd.fallback && !rep.passes.empty() && rep.passes.back().name == cmd.fallback->pass &&
      before_fallback_pass) {
    pass::PassRecord& last = rep.passes.back();
    if (last.exceeded.empty()) {
      rep.notes.push_back("--auto-fallback: the gates passed with every layer changed");
    } else {
      auto found =
          pass::search_fallback(*before_fallback_pass, cmd.fallback->pass, cmd.fallback->options,
                                pipeline.calibration_table(), *meter, drift_gates,
                                cmd.fallback->search, ctx, model, last);
      if (!found.ok()) return found.status().with_context(cmd.model);
      rep.fallback = std::move(found).value();
    }
    before_fallback_pass.reset();
  }
  std::optional<std::string> unreached;
  if (cmd.budget && cmd.budget->run->result) {
    const BudgetRun& st = *cmd.budget->run;
    for (auto& r : rep.passes) {
      if (r.name == cmd.budget->pass) r.options = options_text(st.applied);
    }
    rep.budget = st.result;
    if (!st.result->reached) {
      unreached = "--target " + st.result->metric + "=" + format_value(st.result->target) +
                  " cannot be reached: every prunable channel group at its largest ratio leaves " +
                  format_value(st.result->achieved) + " of the model before the pass";
      rep.notes.push_back(*unreached);
    }
    cmd.budget->run->meter = nullptr;
  }
  bool stopped = false;
  std::string applied;
  for (const auto& r : rep.passes) {
    stopped = stopped || r.verdict == pass::PassRecord::Verdict::kStop;
    if (r.verdict == pass::PassRecord::Verdict::kRevert) continue;
    if (!applied.empty()) applied += ',';
    applied += r.name + (r.options.empty() ? "" : "{" + r.options + "}");
  }
  if (stopped && rep.passes.size() < pipeline.size()) {
    rep.notes.push_back("stopped after pass '" + rep.passes.back().name + "': drift past a gate (" +
                        std::to_string(pipeline.size() - rep.passes.size()) +
                        " pass(es) not run; --on-exceed revert undoes such a pass instead)");
  }
  if (meter) rep.drift = meter->current();
  if (cmd.calibration && !cmd.calibration->save_path.empty()) {
    if (const pass::CalibrationTable* table = pipeline.calibration_table()) {
      COMPRESSOR_RETURN_IF_ERROR(table->save(cmd.calibration->save_path));
      rep.notes.push_back("calibration table saved to " + cmd.calibration->save_path);
    }
  }

  // The output is written even when a gate fails.
  pass::stamp_metadata(model, applied);
  COMPRESSOR_ASSIGN_OR_RETURN(io::SaveResult saved, save_output(model, cmd.model, cmd.output));
  COMPRESSOR_ASSIGN_OR_RETURN(
      report::ModelFile out, report::describe_model_file(cmd.output.path, model, sample_opts.dims));
  rep.output = out;

  COMPRESSOR_ASSIGN_OR_RETURN(
      rep.gates, evaluate_gates(gates, meter ? &rep.drift : nullptr, model_ratios(rep.model, out)));
  Status verdict = gate_status(rep.gates);
  if (verdict.ok() && stopped) {
    verdict = Status(ErrorCode::kGateFailed, "gate failed after pass '" + rep.passes.back().name +
                                                 "': " + rep.passes.back().exceeded.front().expr);
  }
  if (verdict.ok() && unreached) verdict = Status(ErrorCode::kGateFailed, *unreached);
  rep.exit_code = verdict.ok() ? 0 : 3;
  COMPRESSOR_RETURN_IF_ERROR(emit_report(rep, cmd.gates.report, cmd.gates.report_html));
  std::printf("wrote %s (%llu bytes%s)\n", cmd.output.path.c_str(),
              static_cast<unsigned long long>(saved.model_bytes + saved.external_bytes),
              saved.external_path.empty() ? "" : (", data in " + saved.external_path).c_str());
  return verdict;
}

StatusOr<CalibrationSpec> calibration_spec(const DataOptions& data,
                                           const std::string& calibration_data,
                                           size_t calibration_samples) {
  CalibrationSpec spec;
  COMPRESSOR_ASSIGN_OR_RETURN(spec.samples, sample_options(data));
  if (!calibration_data.empty() && !std::filesystem::is_directory(calibration_data)) {
    return invalid_argument("--calibration-data: " + calibration_data + ": no such folder");
  }
  if (!calibration_data.empty() || calibration_samples > 0) {
    spec.samples.data_dir = calibration_data;
    spec.samples.count = calibration_samples;
    spec.samples.labels_path.clear();
    spec.separate = true;
    if (calibration_data.empty()) spec.samples.seed = data.seed ^ 0x9e3779b97f4a7c15ULL;
  }
  spec.options.threads = data.threads;
  return spec;
}

std::string join_lines(const std::vector<std::string>& patterns) {
  std::string out;
  for (const auto& p : patterns) out += (out.empty() ? "" : "\n") + p;
  return out;
}

std::string options_text(const pass::PassOptions& options) {
  std::string out;
  for (const auto& [k, v] : options) {
    std::string shown = v;
    for (auto& c : shown) c = c == '\n' ? ';' : c;
    out += (out.empty() ? "" : ",") + k + "=" + shown;
  }
  return out;
}

}  // namespace compressor::cli
