// `compressor optimize MODEL -o OUT`: runs the cleanup passes and fold-conv-affine (or --passes),
// measures drift after every pass, holds it to the gates and reports what changed.
#include "commands.h"
#include "compressor/pass/pipeline.h"
#include "pipeline_command.h"
#include "recipe.h"

namespace compressor::cli {
namespace {

struct OptimizeOptions {
  PipelineCommand cmd;
  std::string passes;
  bool print_recipe = false;
};

Status run_optimize(const OptimizeOptions& opts) {
  Recipe recipe = recipe_of(opts.cmd);
  COMPRESSOR_RETURN_IF_ERROR(
      append_steps(recipe, opts.passes.empty() ? pass::optimize_pipeline_spec() : opts.passes));
  return finish_recipe(recipe, opts.print_recipe);
}

}  // namespace

void setup_optimize_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<OptimizeOptions>();
  opts->cmd.command = "optimize";
  CLI::App* cmd = app.add_subcommand(
      "optimize",
      "Run the cleanup passes and fold-conv-affine (or --passes) and write the model, with drift "
      "per pass");
  cmd->add_option("model", opts->cmd.model, "Input .onnx model")->required();
  add_output_options(*cmd, opts->cmd.output);
  cmd->add_option("--passes", opts->passes,
                  "Comma-separated passes to run instead of the default set, e.g. "
                  "'fold-batchnorm,prune-magnitude{sparsity=0.5}'");
  cmd->add_option("--dump-after", opts->cmd.dump_after,
                  "Folder to save the model into after every pass (NN-<pass>.onnx)");
  add_data_options(*cmd, opts->cmd.data, /*with_no_drift=*/true);
  add_gate_options(*cmd, opts->cmd.gates, /*with_on_exceed=*/true);
  add_print_recipe_flag(*cmd, opts->print_recipe);
  cmd->callback([opts, &run] { run = [opts] { return run_optimize(*opts); }; });
}

}  // namespace compressor::cli
