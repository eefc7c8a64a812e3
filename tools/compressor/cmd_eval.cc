// `compressor eval REFERENCE CANDIDATE`: runs both models on the same samples and reports the
// candidate's drift per output, holds it to the gates, and exits 3 when one fails.
#include "commands.h"
#include "compressor/eval/compare.h"
#include "compressor/io/onnx_io.h"
#include "pipeline_command.h"

namespace compressor::cli {
namespace {

struct EvalOptions {
  std::string reference;
  std::string candidate;
  DataOptions data;
  GateOptions gates;
};

Status run_eval(const EvalOptions& opts) {
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<eval::Gate> gates, parse_gates(opts.gates));
  COMPRESSOR_ASSIGN_OR_RETURN(io::SampleOptions sample_opts, sample_options(opts.data));
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model reference, io::load_model(opts.reference));
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model candidate, io::load_model(opts.candidate));
  report::Report rep;
  rep.command = "eval";
  COMPRESSOR_ASSIGN_OR_RETURN(
      rep.model, report::describe_model_file(opts.reference, reference, sample_opts.dims));
  COMPRESSOR_ASSIGN_OR_RETURN(
      rep.candidate, report::describe_model_file(opts.candidate, candidate, sample_opts.dims));
  auto samples = io::SampleSet::open(reference, sample_opts);
  if (!samples.ok()) return samples.status().with_context(opts.reference);
  rep.samples = samples->describe();
  rep.sample_count = samples->size();
  for (const auto& d : samples->unbound_dims()) {
    rep.notes.push_back("dim " + d + " is unbound, taken as 1 (bind with --dim NAME=VALUE)");
  }
  eval::CompareOptions compare;
  compare.executor.threads = opts.data.threads;
  COMPRESSOR_ASSIGN_OR_RETURN(rep.drift,
                              eval::compare_models(reference, candidate, *samples, compare));
  COMPRESSOR_ASSIGN_OR_RETURN(
      rep.gates, evaluate_gates(gates, &rep.drift, model_ratios(rep.model, *rep.candidate)));
  Status verdict = gate_status(rep.gates);
  rep.exit_code = verdict.ok() ? 0 : 3;
  COMPRESSOR_RETURN_IF_ERROR(emit_report(rep, opts.gates.report, opts.gates.report_html));
  return verdict;
}

}  // namespace

void setup_eval_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Run two models on the same samples and report the candidate's drift per output");
  cmd->add_option("reference", opts->reference, "Reference .onnx model")->required();
  cmd->add_option("candidate", opts->candidate, "Candidate .onnx model")->required();
  add_data_options(*cmd, opts->data, /*with_no_drift=*/false);
  add_gate_options(*cmd, opts->gates, /*with_on_exceed=*/false);
  cmd->callback([opts, &run] { run = [opts] { return run_eval(*opts); }; });
}

}  // namespace compressor::cli
