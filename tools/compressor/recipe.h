// Recipes: one file (JSON or YAML) that describes a whole compression run: the model, the sample
// data, calibration, the ordered passes with their options, the gates and the report. `compressor
// run RECIPE` runs one; prune, quantize, factorize and optimize build one-pass-group recipes from
// their flags and run them the same way, and `--print-recipe` prints the recipe they built.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/pass/pass.h"
#include "data_options.h"
#include "options.h"
#include "pipeline_command.h"
#include "structured_file.h"

namespace compressor::cli {

/// One pass of a recipe.
struct RecipeStep {
  std::string pass;
  pass::PassOptions options;
  /// "params_ratio=X" or "macs_ratio=X": the pass's per-group ratios are searched on the drift
  /// samples to meet this budget (passes with a group_ratios option; one per recipe).
  std::string target;
  /// Accuracy-driven fallback over this pass's layers (the recipe's last pass); the value is the
  /// number of layers per step, 0 for the default.
  std::optional<size_t> fallback_step;
};

/// Where calibrated passes get their statistics (see CalibrationSpec).
struct RecipeCalibration {
  std::string method = "minmax";
  double percentile = 99.99;
  std::string data;    ///< Sample folder; empty: the drift samples (or `samples` random ones).
  size_t samples = 0;  ///< Random calibration samples (seeded apart from the drift samples).
  std::string table;   ///< A saved table to take ranges from.
  std::string save;    ///< Where to save the table the run used.
};

struct Recipe {
  std::string command = "run";  ///< The report's command name.
  std::string model;            ///< Empty: given on the command line.
  OutputOptions output;         ///< output.path empty: given on the command line.
  DataOptions data;
  /// Absent: passes that need calibration calibrate with minmax on the drift samples.
  std::optional<RecipeCalibration> calibration;
  std::vector<RecipeStep> steps;
  GateOptions gates;  ///< Gates, on_exceed, report paths.
  std::string dump_after;
};

/// A recipe with the model, output, data, gates and dump folder of a pipeline command's flags.
Recipe recipe_of(const PipelineCommand& cmd);

/// The calibration a command's --calibration-data / --calibration-samples ask for (minmax),
/// checked like calibration_spec checks them.
StatusOr<RecipeCalibration> calibration_of(const DataOptions& data,
                                           const std::string& calibration_data,
                                           size_t calibration_samples);

/// Appends `names` (a pass spec such as pass::cleanup_pipeline_spec()) as steps without options.
Status append_steps(Recipe& recipe, const std::string& spec);

/// The recipe as JSON, in the documented key order, leaving out what is at its default.
Json recipe_to_json(const Recipe& recipe);

/// Reads a recipe tree; `origin` (the file) prefixes every error, which names the key (e.g.
/// "passes[2].options") and lists the valid keys, passes or options. Relative paths in the tree
/// are taken from `base_dir`.
StatusOr<Recipe> recipe_from_json(const Json& tree, const std::string& origin,
                                  const std::string& base_dir);

/// Loads a recipe file (JSON, or YAML by extension); relative paths are taken from its folder.
StatusOr<Recipe> load_recipe(const std::string& path);

/// Checks the recipe against the pass registry and the rules of run_recipe without running it.
/// `origin` is the recipe file, which errors name with the key; empty for a recipe built from a
/// command's flags, whose errors are the flags' own.
Status validate_recipe(const Recipe& recipe, const std::string& origin = "");

/// Runs the recipe: the pipeline command with drift after every pass, gates, report and output.
Status run_recipe(const Recipe& recipe);

/// Adds --print-recipe to a command.
void add_print_recipe_flag(CLI::App& cmd, bool& flag);

/// Prints the recipe as JSON on stdout (after validating it).
Status print_recipe(const Recipe& recipe);

/// Validates, then prints or runs: what every pipeline command ends with.
Status finish_recipe(const Recipe& recipe, bool print);

}  // namespace compressor::cli
