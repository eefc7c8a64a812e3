// `compressor quantize MODEL -o OUT`: post-training int8 quantization. Runs the cleanup passes,
// moves the model to the opset the chosen form needs (ONNX's version converter), calibrates
// activation ranges on samples (static mode), quantizes, and measures drift after every pass
// like every pipeline command.
#include <optional>

#include "commands.h"
#include "compressor/core/format.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pipeline.h"
#include "compressor/pass/registry.h"
#include "pipeline_command.h"
#include "recipe.h"

namespace compressor::cli {
namespace {

struct QuantizeOptions {
  PipelineCommand cmd;
  std::string mode = "static";
  std::string format = "qdq";
  std::string calibration = "minmax";
  double percentile = 99.99;
  std::string calibration_data;
  size_t calibration_samples = 0;
  std::string calibration_table;
  std::string save_calibration;
  bool per_channel = true;
  std::string activation_type = "int8";
  bool symmetric_activations = false;
  bool asymmetric_weights = false;
  bool reduce_range = false;
  bool float16_scales = true;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool equalize = false;
  std::optional<double> smooth_quant;
  bool bias_correction = false;
  bool auto_fallback = false;
  size_t fallback_step = 0;
  bool print_recipe = false;
  // Options given on the command line, so that one the chosen mode would ignore is refused.
  bool calibration_given = false;
  bool percentile_given = false;
  bool activation_type_given = false;
};

Status run_quantize(const QuantizeOptions& opts) {
  if (!opts.calibration_table.empty() &&
      (!opts.calibration_data.empty() || opts.calibration_samples > 0)) {
    return invalid_argument(
        "--calibration-table cannot be combined with --calibration-data or --calibration-samples");
  }
  // Static ranges, SmoothQuant's per-channel maxima and bias correction's input means all come
  // from calibration.
  const bool calibrates = opts.mode == "static" || opts.smooth_quant || opts.bias_correction;
  if (!calibrates && (!opts.calibration_table.empty() || !opts.save_calibration.empty() ||
                      !opts.calibration_data.empty() || opts.calibration_samples > 0)) {
    return invalid_argument(
        "calibration options apply to --mode static, --smooth-quant and --bias-correction only");
  }
  if (opts.smooth_quant && !(*opts.smooth_quant >= 0 && *opts.smooth_quant <= 1)) {
    return invalid_argument("--smooth-quant: alpha must be in [0, 1], got " +
                            std::to_string(*opts.smooth_quant));
  }
  if (opts.mode != "static" && opts.format != "qdq") {
    return invalid_argument("--format applies to --mode static only");
  }
  // Activation options: dynamic mode quantizes activations with DynamicQuantizeLinear (uint8,
  // asymmetric, at run time), weight-only mode keeps them float.
  if (opts.mode != "static") {
    for (auto [given, name] : {std::pair{opts.activation_type_given, "--activation-type"},
                               {opts.symmetric_activations, "--symmetric-activations"},
                               {opts.calibration_given, "--calibration"}}) {
      if (given) {
        return invalid_argument(std::string(name) + " applies to --mode static only (--mode " +
                                opts.mode +
                                (opts.mode == "dynamic" ? " quantizes activations at run time)"
                                                        : " keeps activations float)"));
      }
    }
  }
  if (opts.percentile_given && opts.calibration != "percentile") {
    return invalid_argument("--percentile applies with --calibration percentile only");
  }
  if (opts.reduce_range && opts.mode == "weight-only") {
    return invalid_argument(
        "--reduce-range applies to --mode static and dynamic only (it keeps integer kernels "
        "from overflowing; weight-only weights are dequantized to float)");
  }
  if (opts.asymmetric_weights && opts.per_channel && opts.mode != "weight-only") {
    return invalid_argument("--asymmetric-weights with --mode " + opts.mode +
                            " needs --no-per-channel: ONNX Runtime's " +
                            (opts.mode == "static" ? "QLinearConv" : "ConvInteger") +
                            " takes one weight zero point for all output channels");
  }
  if (!(opts.percentile > 0 && opts.percentile <= 100)) {
    return invalid_argument("--percentile must be in (0, 100], got " +
                            std::to_string(opts.percentile));
  }
  COMPRESSOR_RETURN_IF_ERROR(check_writable_path("--save-calibration", opts.save_calibration));
  COMPRESSOR_RETURN_IF_ERROR(pass::parse_calibration_method(opts.calibration).status());

  // The pass and its options.
  std::string name;
  pass::PassOptions options;
  const auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
  if (opts.mode == "static") {
    name = "quantize-static";
    options = {{"format", opts.format},
               {"per_channel", flag(opts.per_channel)},
               {"activation_type", opts.activation_type},
               {"activation_symmetric", flag(opts.symmetric_activations)},
               {"weight_symmetric", flag(!opts.asymmetric_weights)},
               {"reduce_range", flag(opts.reduce_range)},
               {"float16_scales", flag(opts.float16_scales)}};
  } else if (opts.mode == "dynamic") {
    name = "quantize-dynamic";
    options = {{"per_channel", flag(opts.per_channel)},
               {"weight_symmetric", flag(!opts.asymmetric_weights)},
               {"reduce_range", flag(opts.reduce_range)},
               {"float16_scales", flag(opts.float16_scales)}};
  } else {
    name = "quantize-weights";
    options = {{"per_channel", flag(opts.per_channel)},
               {"symmetric", flag(!opts.asymmetric_weights)},
               {"float16_scales", flag(opts.float16_scales)}};
  }
  if (opts.bias_correction) options["bias_correction"] = "true";
  if (!opts.include.empty()) options["include"] = join_lines(opts.include);
  if (!opts.exclude.empty()) options["exclude"] = join_lines(opts.exclude);
  if (opts.fallback_step > 0 && !opts.auto_fallback) {
    return invalid_argument("--fallback-step applies with --auto-fallback only");
  }

  // Cleanup first (Constant nodes to initializers, BatchNormalization folded), the scales that
  // follow a Conv folded into it (one float op fewer per layer in the quantized model; the
  // output's rounding grid scales along, where folding a shift would move it), then the opset the
  // quantized form needs.
  Recipe recipe = recipe_of(opts.cmd);
  COMPRESSOR_RETURN_IF_ERROR(append_steps(recipe, pass::cleanup_pipeline_spec()));
  recipe.steps.push_back({"fold-conv-affine", {{"shifts", "false"}}, {}, {}});
  if (opts.equalize) recipe.steps.push_back({"equalize-cross-layer", {}, {}, {}});
  if (opts.smooth_quant) {
    // Smoothing is exact in float, so it applies to every eligible layer, quantized or not.
    recipe.steps.push_back({"smooth-quant", {{"alpha", format_value(*opts.smooth_quant)}}, {}, {}});
  }
  const int64_t opset = opts.per_channel ? 13 : opts.mode == "dynamic" ? 11 : 10;
  recipe.steps.push_back({"convert-opset", {{"opset", std::to_string(opset)}}, {}, {}});
  RecipeStep quantizer{name, options, {}, {}};
  if (opts.auto_fallback) quantizer.fallback_step = opts.fallback_step;
  recipe.steps.push_back(std::move(quantizer));

  // Calibration: a saved table, or samples (--calibration-data / --calibration-samples, else
  // the evaluation samples).
  if (calibrates) {
    COMPRESSOR_ASSIGN_OR_RETURN(
        recipe.calibration,
        calibration_of(opts.cmd.data, opts.calibration_data, opts.calibration_samples));
    recipe.calibration->method = opts.calibration;
    recipe.calibration->percentile = opts.percentile;
    recipe.calibration->table = opts.calibration_table;
    recipe.calibration->save = opts.save_calibration;
  }
  Status st = finish_recipe(recipe, opts.print_recipe);
  if (!st.ok() && opts.per_channel && st.message().find("version converter") != std::string::npos) {
    const int64_t fallback = opts.mode == "dynamic" ? 11 : 10;
    return Status(st.code(), st.message() +
                                 " (per-channel scales need opset 13; with "
                                 "--no-per-channel the model only needs opset " +
                                 std::to_string(fallback) + ")");
  }
  return st;
}

}  // namespace

void setup_quantize_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<QuantizeOptions>();
  opts->cmd.command = "quantize";
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Post-training int8 quantization, with drift measured after every pass");
  cmd->add_option("model", opts->cmd.model, "Input .onnx model")->required();
  add_output_options(*cmd, opts->cmd.output);
  cmd->add_option("--mode", opts->mode,
                  "static: int8 activations and weights from calibrated ranges; dynamic: "
                  "activations quantized at run time; weight-only: int8 weights, float activations")
      ->check(CLI::IsMember({"static", "dynamic", "weight-only"}))
      ->capture_default_str();
  cmd->add_option("--format", opts->format,
                  "qdq: QuantizeLinear/DequantizeLinear pairs (ONNX Runtime fuses them); "
                  "qoperator: QLinearConv/QLinearMatMul")
      ->check(CLI::IsMember({"qdq", "qoperator"}))
      ->capture_default_str();
  cmd->add_option("--calibration", opts->calibration,
                  "How activation ranges are chosen: minmax, percentile, entropy, mse")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}))
      ->capture_default_str();
  cmd->add_option("--percentile", opts->percentile, "Percentile for --calibration percentile")
      ->capture_default_str();
  cmd->add_option("--calibration-data", opts->calibration_data,
                  "Sample folder for calibration (default: the --data samples)");
  cmd->add_option("--calibration-samples", opts->calibration_samples,
                  "Calibration samples (random ones, seeded apart from the drift samples, when no "
                  "--calibration-data)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--calibration-table", opts->calibration_table,
                  "Reuse a saved calibration table (JSON) instead of calibrating");
  cmd->add_option("--save-calibration", opts->save_calibration,
                  "Save the calibration table (JSON) for reuse");
  cmd->add_flag("--per-channel,!--no-per-channel", opts->per_channel,
                "One weight scale per output channel (default; moves the model to opset 13)");
  cmd->add_option("--activation-type", opts->activation_type,
                  "int8 (default) or uint8 activations (static mode)")
      ->check(CLI::IsMember({"int8", "uint8"}))
      ->capture_default_str();
  cmd->add_flag("--symmetric-activations", opts->symmetric_activations,
                "Activation ranges symmetric around zero");
  cmd->add_flag("--asymmetric-weights", opts->asymmetric_weights,
                "Each weight's [min, max] onto the whole 8-bit range with a zero point; in "
                "static and dynamic mode per tensor only (--no-per-channel: ONNX Runtime's "
                "integer Conv kernels take one weight zero point for all channels)");
  cmd->add_flag("--reduce-range", opts->reduce_range,
                "7-bit weights, for CPUs without VNNI whose int8 dot products can overflow "
                "(activations keep 8 bits)");
  cmd->add_flag(
      "--float16-scales,!--float32-scales", opts->float16_scales,
      "Per-channel weight scales of 64+ channels as float16 behind a Cast (the "
      "default; ONNX Runtime folds it): smaller files where layers hold few weights per "
      "channel (depthwise convolutions). --float32-scales keeps every scale a float32 "
      "initializer, for runtimes that want DequantizeLinear scales as plain initializers");
  cmd->add_option("--include", opts->include,
                  "Quantize only layers matching: a node name, an op type, or a regex on the "
                  "name (repeatable)");
  cmd->add_option("--exclude", opts->exclude,
                  "Leave layers matching in float: a node name, an op type, or a regex on the "
                  "name (repeatable)");
  cmd->add_flag("--equalize", opts->equalize,
                "Cross-layer equalization first: rescale Conv -> Relu -> Conv pairs so their "
                "per-channel weight ranges match (exact in float; helps per-tensor int8 on "
                "depthwise-separable nets)");
  cmd->add_option("--smooth-quant", opts->smooth_quant,
                  "SmoothQuant with this alpha (e.g. 0.5) before quantizing: move activation "
                  "outliers of MatMul/Gemm inputs into the weights (calibrated per channel)");
  cmd->add_flag("--bias-correction", opts->bias_correction,
                "Shift each quantized layer's bias by its mean output error from weight "
                "rounding, measured with calibration input means");
  cmd->add_flag("--auto-fallback", opts->auto_fallback,
                "When the result breaks a drift --gate, return the layers that cost the most "
                "accuracy to float, a group at a time, until the gates pass (exit 3 if they "
                "cannot)");
  cmd->add_option("--fallback-step", opts->fallback_step,
                  "Layers returned to float per step of --auto-fallback (default: 1/16 of the "
                  "quantized layers, at least 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dump-after", opts->cmd.dump_after,
                  "Folder to save the model into after every pass (NN-<pass>.onnx)");
  add_data_options(*cmd, opts->cmd.data, /*with_no_drift=*/true);
  add_gate_options(*cmd, opts->cmd.gates, /*with_on_exceed=*/true);
  add_print_recipe_flag(*cmd, opts->print_recipe);
  cmd->callback([opts, cmd, &run] {
    opts->calibration_given = cmd->count("--calibration") > 0;
    opts->percentile_given = cmd->count("--percentile") > 0;
    opts->activation_type_given = cmd->count("--activation-type") > 0;
    run = [opts] { return run_quantize(*opts); };
  });
}

}  // namespace compressor::cli
