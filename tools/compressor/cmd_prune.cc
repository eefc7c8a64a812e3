// `compressor prune MODEL -o OUT`: pruning on the ONNX graph itself. Unstructured (magnitude,
// Wanda, SparseGPT) and N:M pruning zero weights in place; structured pruning removes whole
// channels and the matching input slices of every consumer, so tensors really shrink. Runs the
// cleanup passes first, calibrates on samples when the criterion needs activations, and
// measures drift after every pass like every pipeline command.
#include <optional>

#include "commands.h"
#include "compressor/core/format.h"
#include "compressor/pass/budget.h"
#include "compressor/pass/pipeline.h"
#include "compressor/pass/registry.h"
#include "pipeline_command.h"
#include "recipe.h"

namespace compressor::cli {
namespace {

struct PruneOptions {
  PipelineCommand cmd;
  // Unstructured and N:M.
  std::string method = "magnitude";
  std::optional<double> sparsity;
  std::string pattern;
  std::string scope = "layer";
  std::vector<std::string> layer_sparsity;
  bool skip_first_last = false;
  bool sparse_storage = false;
  // Structured.
  std::string structured;
  std::optional<double> ratio;
  std::string target;  ///< --target params_ratio=X|macs_ratio=X
  std::string criterion = "l1";
  size_t round_to = 1;
  bool reconstruct = false;
  // Both.
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::string calibration_data;
  size_t calibration_samples = 0;
  bool print_recipe = false;
};

/// The pruning pass and its options, from the command line; usage errors name the option.
StatusOr<std::pair<std::string, pass::PassOptions>> pruning_pass(const PruneOptions& opts) {
  pass::PassOptions options;
  if (!opts.include.empty()) options["include"] = join_lines(opts.include);
  if (!opts.exclude.empty()) options["exclude"] = join_lines(opts.exclude);
  if (!opts.structured.empty()) {
    for (const auto& [given, name] : {std::pair{opts.sparsity.has_value(), "--sparsity"},
                                      {!opts.pattern.empty(), "--pattern"},
                                      {!opts.layer_sparsity.empty(), "--layer-sparsity"},
                                      {opts.sparse_storage, "--sparse-storage"}}) {
      if (given) {
        return invalid_argument(std::string(name) +
                                " applies to unstructured pruning, not --structured");
      }
    }
    if (opts.method != "magnitude") {
      return invalid_argument(
          "--method applies to unstructured pruning; --structured ranks "
          "channels by --criterion");
    }
    if (!opts.target.empty()) {
      if (opts.ratio) return invalid_argument("--ratio and --target exclude each other");
      if (opts.cmd.data.no_drift) {
        return invalid_argument(
            "--target needs drift samples (--data or random --samples); drop --no-drift");
      }
      COMPRESSOR_RETURN_IF_ERROR(pass::parse_budget_target(opts.target, "--target").status());
    } else {
      options["ratio"] = format_value(opts.ratio.value_or(0.3));
    }
    options["criterion"] = opts.criterion;
    options["round_to"] = std::to_string(opts.round_to);
    if (opts.reconstruct) options["reconstruct"] = "true";
    return std::pair{std::string("prune-channels"), options};
  }
  if (opts.ratio) return invalid_argument("--ratio applies to --structured channels");
  if (opts.reconstruct) return invalid_argument("--reconstruct applies to --structured channels");
  if (!opts.target.empty()) return invalid_argument("--target applies to --structured channels");
  if (opts.criterion != "l1" || opts.round_to != 1) {
    return invalid_argument("--criterion and --round-to apply to --structured channels");
  }
  options["method"] = opts.method;
  options["scope"] = opts.scope;
  if (opts.sparsity) options["sparsity"] = format_value(*opts.sparsity);
  if (!opts.pattern.empty()) options["pattern"] = opts.pattern;
  if (!opts.layer_sparsity.empty()) {
    std::string joined;
    for (const auto& entry : opts.layer_sparsity) joined += (joined.empty() ? "" : "|") + entry;
    options["layer_sparsity"] = joined;
  }
  if (opts.skip_first_last) options["skip_first_last"] = "true";
  return std::pair{std::string("prune-unstructured"), options};
}

/// Whether the pass ranks weights or channels by activations on samples, or re-fits layers on
/// them.
bool needs_samples(const PruneOptions& opts) {
  if (!opts.structured.empty()) return opts.criterion == "activation" || opts.reconstruct;
  return opts.method != "magnitude";
}

Status run_prune(const PruneOptions& opts) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto chosen, pruning_pass(opts));
  auto& [name, options] = chosen;
  const bool calibrates = needs_samples(opts);
  if (!calibrates && (!opts.calibration_data.empty() || opts.calibration_samples > 0)) {
    return invalid_argument(
        "--calibration-data and --calibration-samples apply to --method wanda|sparsegpt, "
        "--criterion activation and --reconstruct only");
  }
  // Unstructured pruning works on the weights as they will be deployed: BatchNormalization
  // folded first, so the zeros survive. Structured pruning keeps BatchNormalization until its
  // channels are chosen (the bn_scale criterion reads it) and folds it afterwards.
  Recipe recipe = recipe_of(opts.cmd);
  const RecipeStep pruner{name, options, opts.target, {}};
  if (opts.structured.empty()) {
    COMPRESSOR_RETURN_IF_ERROR(append_steps(recipe, pass::cleanup_pipeline_spec()));
    recipe.steps.push_back(pruner);
    if (opts.sparse_storage) recipe.steps.push_back({"store-sparse", {}, {}, {}});
  } else {
    COMPRESSOR_RETURN_IF_ERROR(
        append_steps(recipe, "constants-to-initializers,eliminate-identity,eliminate-dead-nodes"));
    recipe.steps.push_back(pruner);
    COMPRESSOR_RETURN_IF_ERROR(
        append_steps(recipe, "fold-batchnorm,merge-duplicate-initializers,eliminate-dead-nodes"));
  }
  if (calibrates) {
    COMPRESSOR_ASSIGN_OR_RETURN(
        recipe.calibration,
        calibration_of(opts.cmd.data, opts.calibration_data, opts.calibration_samples));
  }
  return finish_recipe(recipe, opts.print_recipe);
}

}  // namespace

void setup_prune_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<PruneOptions>();
  opts->cmd.command = "prune";
  CLI::App* cmd = app.add_subcommand(
      "prune",
      "Pruning on the ONNX graph: unstructured, N:M, or whole channels (tensors really shrink), "
      "with drift measured after every pass");
  cmd->add_option("model", opts->cmd.model, "Input .onnx model")->required();
  add_output_options(*cmd, opts->cmd.output);
  cmd->add_option("--method", opts->method,
                  "Unstructured criterion: magnitude (|w|), wanda (|w| x input-channel norm on "
                  "samples), sparsegpt (second-order one-shot pruning with weight update on "
                  "samples)")
      ->check(CLI::IsMember({"magnitude", "wanda", "sparsegpt"}))
      ->capture_default_str();
  cmd->add_option("--sparsity", opts->sparsity,
                  "Fraction of weights set to zero, in [0, 1) (default 0.5)");
  cmd->add_option("--pattern", opts->pattern,
                  "Semi-structured N:M sparsity along the reduction axis, e.g. 2:4 (at most N "
                  "nonzero weights in every M)");
  cmd->add_option("--scope", opts->scope,
                  "layer: every layer at --sparsity; global: one threshold over all layers")
      ->check(CLI::IsMember({"layer", "global"}))
      ->capture_default_str();
  cmd->add_option("--layer-sparsity", opts->layer_sparsity,
                  "Per-layer sparsity, PATTERN=VALUE with PATTERN a node name or a regex over "
                  "it (repeatable; the first match wins)");
  cmd->add_flag("--skip-first-last", opts->skip_first_last,
                "Leave the first and the last weight layer dense");
  cmd->add_flag("--sparse-storage", opts->sparse_storage,
                "Store pruned weights as ONNX sparse initializers where that makes the file "
                "smaller");
  cmd->add_option("--structured", opts->structured,
                  "Remove whole output channels (Conv) and hidden units (Gemm/MatMul), with every "
                  "coupled layer")
      ->check(CLI::IsMember({"channels"}));
  cmd->add_option("--ratio", opts->ratio,
                  "Fraction of channels removed from each channel group (default 0.3)");
  cmd->add_option("--target", opts->target,
                  "Instead of one --ratio: params_ratio=X or macs_ratio=X, X in (0, 1), of the "
                  "model before pruning; ratios per channel group are chosen from the drift each "
                  "group causes alone on the drift samples (the first drift --gate's metric, else "
                  "cosine), least drift per unit saved first");
  cmd->add_option("--criterion", opts->criterion,
                  "How channels are ranked: l1, l2 (weight norms), bn_scale (|gamma| of the "
                  "following BatchNormalization), activation (mean |x| on samples)")
      ->check(CLI::IsMember({"l1", "l2", "bn_scale", "activation"}))
      ->capture_default_str();
  cmd->add_option("--round-to", opts->round_to,
                  "Keep a multiple of this many channels in every group")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--reconstruct", opts->reconstruct,
                "With --structured: re-fit the layers that lose input channels by least squares "
                "on calibration samples, so their outputs stay close to the original");
  cmd->add_option("--include", opts->include,
                  "Prune only layers matching: a node name, an op type, or a regex on the name "
                  "(repeatable)");
  cmd->add_option("--exclude", opts->exclude,
                  "Leave layers matching as they are: a node name, an op type, or a regex on the "
                  "name (repeatable)");
  cmd->add_option("--calibration-data", opts->calibration_data,
                  "Sample folder for the activation statistics (default: the --data samples)");
  cmd->add_option("--calibration-samples", opts->calibration_samples,
                  "Random samples for the activation statistics, seeded apart from the drift "
                  "samples, when no --calibration-data")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dump-after", opts->cmd.dump_after,
                  "Folder to save the model into after every pass (NN-<pass>.onnx)");
  add_data_options(*cmd, opts->cmd.data, /*with_no_drift=*/true);
  add_gate_options(*cmd, opts->cmd.gates, /*with_on_exceed=*/true);
  add_print_recipe_flag(*cmd, opts->print_recipe);
  cmd->callback([opts, &run] { run = [opts] { return run_prune(*opts); }; });
}

}  // namespace compressor::cli
