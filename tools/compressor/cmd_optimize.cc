// `compressor optimize MODEL -o OUT`: runs the cleanup passes (or --passes) and prints what
// changed.
#include <cstdio>

#include "commands.h"
#include "compressor/io/onnx_io.h"
#include "compressor/pass/pipeline.h"
#include "options.h"

namespace compressor::cli {
namespace {

struct OptimizeOptions {
  std::string model;
  OutputOptions output;
  std::string passes;
  std::string dump_after;
};

Status run_optimize(const OptimizeOptions& opts) {
  const std::string spec = opts.passes.empty() ? pass::cleanup_pipeline_spec() : opts.passes;
  COMPRESSOR_ASSIGN_OR_RETURN(pass::PassPipeline pipeline, pass::PassPipeline::parse(spec));
  COMPRESSOR_RETURN_IF_ERROR(check_output_path(opts.model, opts.output));
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model model, io::load_model(opts.model));
  pipeline.add_instrumentation(std::make_unique<pass::VerifyInstrumentation>());
  if (!opts.dump_after.empty()) {
    pipeline.add_instrumentation(std::make_unique<pass::DumpInstrumentation>(opts.dump_after));
  }
  pass::PassContext ctx;
  auto records = pipeline.run(model, ctx);
  if (!records.ok()) return records.status().with_context(opts.model);
  pass::stamp_metadata(model, pipeline.spec());
  COMPRESSOR_ASSIGN_OR_RETURN(io::SaveResult saved, save_output(model, opts.model, opts.output));
  print_pass_table(*records);
  std::printf("wrote %s (%llu bytes%s)\n", opts.output.path.c_str(),
              static_cast<unsigned long long>(saved.model_bytes + saved.external_bytes),
              saved.external_path.empty() ? "" : (", data in " + saved.external_path).c_str());
  return ok_status();
}

}  // namespace

void setup_optimize_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<OptimizeOptions>();
  CLI::App* cmd = app.add_subcommand("optimize", "Run the cleanup passes and write the model");
  cmd->add_option("model", opts->model, "Input .onnx model")->required();
  add_output_options(*cmd, opts->output);
  cmd->add_option("--passes", opts->passes,
                  "Comma-separated passes to run instead of the cleanup set, e.g. "
                  "'fold-batchnorm,eliminate-dead-nodes'");
  cmd->add_option("--dump-after", opts->dump_after,
                  "Folder to save the model into after every pass (NN-<pass>.onnx)");
  cmd->callback([opts, &run] { run = [opts] { return run_optimize(*opts); }; });
}

}  // namespace compressor::cli
