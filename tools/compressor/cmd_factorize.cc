// `compressor factorize MODEL -o OUT`: low-rank SVD factorization of Gemm, MatMul and Conv
// layers. Each layer with a constant weight becomes two thinner layers where that saves
// parameters; ranks come from --rank, --rank-ratio, --energy, or a params/MACs budget searched
// on the drift samples. --data-aware fits the factors to the layer's outputs on calibration
// samples. Runs the cleanup passes first and measures drift after every pass like every
// pipeline command.
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

/// The rank ratio used when no rank policy is given: a quarter of min(m, n) saves half of a
/// square layer's parameters.
constexpr double kDefaultRankRatio = 0.25;

struct FactorizeOptions {
  PipelineCommand cmd;
  std::optional<int64_t> rank;
  std::optional<double> rank_ratio;
  std::optional<double> energy;
  std::string target;  ///< --target params_ratio=X|macs_ratio=X
  size_t round_to = 1;
  std::string conv = "channel";
  bool data_aware = false;
  std::string svd = "auto";
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::string calibration_data;
  size_t calibration_samples = 0;
  bool print_recipe = false;
};

/// factorize-svd's options from the command line; usage errors name the option.
StatusOr<pass::PassOptions> factorize_options(const FactorizeOptions& opts) {
  const int policies = int(opts.rank.has_value()) + int(opts.rank_ratio.has_value()) +
                       int(opts.energy.has_value()) + int(!opts.target.empty());
  if (policies > 1) {
    return invalid_argument("--rank, --rank-ratio, --energy and --target exclude each other");
  }
  pass::PassOptions options;
  if (!opts.include.empty()) options["include"] = join_lines(opts.include);
  if (!opts.exclude.empty()) options["exclude"] = join_lines(opts.exclude);
  if (opts.rank) {
    if (*opts.rank < 1) return invalid_argument("--rank must be at least 1");
    options["rank"] = std::to_string(*opts.rank);
  } else if (opts.energy) {
    if (!(*opts.energy > 0.0 && *opts.energy <= 1.0)) {
      return invalid_argument("--energy must be in (0, 1]");
    }
    options["energy"] = format_value(*opts.energy);
  } else if (!opts.target.empty()) {
    if (opts.cmd.data.no_drift) {
      return invalid_argument(
          "--target needs drift samples (--data or random --samples); drop --no-drift");
    }
    COMPRESSOR_RETURN_IF_ERROR(pass::parse_budget_target(opts.target, "--target").status());
  } else {
    const double ratio = opts.rank_ratio.value_or(kDefaultRankRatio);
    if (!(ratio > 0.0 && ratio <= 1.0)) return invalid_argument("--rank-ratio must be in (0, 1]");
    options["rank_ratio"] = format_value(ratio);
  }
  options["round_to"] = std::to_string(opts.round_to);
  options["conv"] = opts.conv;
  options["svd"] = opts.svd;
  if (opts.data_aware) options["data_aware"] = "true";
  return options;
}

Status run_factorize(const FactorizeOptions& opts) {
  COMPRESSOR_ASSIGN_OR_RETURN(pass::PassOptions options, factorize_options(opts));
  if (!opts.data_aware && (!opts.calibration_data.empty() || opts.calibration_samples > 0)) {
    return invalid_argument("--calibration-data and --calibration-samples apply to --data-aware");
  }
  // BatchNormalization is folded first, so a Conv's factors carry it.
  Recipe recipe = recipe_of(opts.cmd);
  COMPRESSOR_RETURN_IF_ERROR(append_steps(recipe, pass::cleanup_pipeline_spec()));
  recipe.steps.push_back({"factorize-svd", options, opts.target, {}});
  recipe.steps.push_back({"eliminate-dead-nodes", {}, {}, {}});
  if (opts.data_aware) {
    COMPRESSOR_ASSIGN_OR_RETURN(
        recipe.calibration,
        calibration_of(opts.cmd.data, opts.calibration_data, opts.calibration_samples));
  }
  return finish_recipe(recipe, opts.print_recipe);
}

}  // namespace

void setup_factorize_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<FactorizeOptions>();
  opts->cmd.command = "factorize";
  CLI::App* cmd = app.add_subcommand(
      "factorize",
      "Low-rank SVD factorization of Gemm, MatMul and Conv layers (each becomes two thinner "
      "layers where that saves parameters), with drift measured after every pass");
  cmd->add_option("model", opts->cmd.model, "Input .onnx model")->required();
  add_output_options(*cmd, opts->cmd.output);
  cmd->add_option("--rank", opts->rank, "Singular values kept in every layer");
  cmd->add_option("--rank-ratio", opts->rank_ratio,
                  "Keep ceil(F * min(m, n)) singular values of every layer, F in (0, 1] "
                  "(default 0.25 when no other rank option is given)");
  cmd->add_option("--energy", opts->energy,
                  "Keep the fewest singular values holding this fraction of each layer's "
                  "spectral energy (sum of squared singular values), in (0, 1]");
  cmd->add_option("--target", opts->target,
                  "Instead of one rank rule: params_ratio=X or macs_ratio=X, X in (0, 1), of the "
                  "model before factorization; per-layer ranks are chosen from the drift each "
                  "layer causes alone on the drift samples (the first drift --gate's metric, else "
                  "cosine), least drift per unit saved first");
  cmd->add_option("--round-to", opts->round_to, "Round every rank to a multiple of this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--conv", opts->conv,
                  "How k x k Conv layers split: channel (k x k Conv with r filters, then 1x1), "
                  "spatial (k x 1, then 1 x k), auto (per layer, the one with less weight error "
                  "at equal parameters, or fewer parameters at equal energy); 1x1 Convs are "
                  "always split like Gemm")
      ->check(CLI::IsMember({"channel", "spatial", "auto"}))
      ->capture_default_str();
  cmd->add_flag("--data-aware", opts->data_aware,
                "Fit the factors to each layer's outputs on calibration samples (whitening by "
                "the Cholesky factor of the input Gram matrix) rather than to its weights");
  cmd->add_option("--svd", opts->svd,
                  "exact (Eigen BDCSVD), randomized (a sketch with power iterations: 16x faster "
                  "on a 4096x4096 layer at rank 256), or auto (randomized for layers whose "
                  "smaller side is at least 2048 when the rank is known and small enough to "
                  "gain, else exact)")
      ->check(CLI::IsMember({"auto", "exact", "randomized"}))
      ->capture_default_str();
  cmd->add_option("--include", opts->include,
                  "Factorize only layers matching: a node name, an op type, or a regex on the "
                  "name (repeatable)");
  cmd->add_option("--exclude", opts->exclude,
                  "Leave layers matching as they are: a node name, an op type, or a regex on the "
                  "name (repeatable)");
  cmd->add_option("--calibration-data", opts->calibration_data,
                  "With --data-aware: sample folder for the input statistics (default: the "
                  "--data samples)");
  cmd->add_option("--calibration-samples", opts->calibration_samples,
                  "With --data-aware: random samples for the input statistics, seeded apart from "
                  "the drift samples, when no --calibration-data")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dump-after", opts->cmd.dump_after,
                  "Folder to save the model into after every pass (NN-<pass>.onnx)");
  add_data_options(*cmd, opts->cmd.data, /*with_no_drift=*/true);
  add_gate_options(*cmd, opts->cmd.gates, /*with_on_exceed=*/true);
  add_print_recipe_flag(*cmd, opts->print_recipe);
  cmd->callback([opts, &run] { run = [opts] { return run_factorize(*opts); }; });
}

}  // namespace compressor::cli
