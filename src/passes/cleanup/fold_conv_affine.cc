// fold-conv-affine: folds a per-channel constant Mul, Add, Sub or Div into the Conv or
// ConvTranspose that feeds it, when the weights are constant and the intermediate has no other
// reader (a BatchNormalization exported as Mul + Add, as paddle2onnx writes PP-OCR models).
//
// Conv(x) * s = Conv'(x) with W'[m] = W[m] * s[m] and B'[m] = B[m] * s[m]; Conv(x) + a has
// B'[m] = B[m] + a[m] (Sub: - a[m]). Div by s is folded only when every s[m] is a power of two,
// where multiplying by 1/s is exact. The constant must broadcast per output channel without
// growing the output: every dimension is 1 except the channel axis (axis 1 of the output), which
// is 1 or the channel count; a length-C vector aligns with the last output axis, so it is not per
// channel. Chains fold one node at a time (the folded layer writes the node's output, so the next
// Mul or Add finds it as producer). Folding is computed in double precision.
//
// With shifts=false only the scales (Mul, Div) fold and every Add and Sub stays, as `compressor
// quantize` runs it: a scale moves the QuantizeLinear on the layer's output to the scaled output,
// where a scalar scale leaves the rounding grid as it was (scale and zero point scale with it),
// while a shift moves the grid against the values by a fraction of a step.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

#include "../pass_util.h"
#include "../weight_layers.h"

namespace compressor::passes {
namespace {

bool is_float32(const ir::Initializer* init) {
  return init != nullptr && init->tensor.dtype() == ir::DType::kFloat;
}

double max_abs(std::span<const float> values) {
  double m = 0;
  for (float v : values) m = std::max(m, std::fabs(double(v)));
  return m;
}

bool is_power_of_two(float v) {
  if (!std::isfinite(v) || v == 0.0f) return false;
  int exponent = 0;
  return std::fabs(std::frexp(v, &exponent)) == 0.5f;
}

class FoldConvAffine : public pass::RewriteRule {
 public:
  FoldConvAffine(int64_t opset, bool shifts) : opset_(opset), shifts_(shifts) {}
  std::string_view name() const override { return "fold-conv-affine"; }
  std::vector<std::string> root_op_types() const override { return {"Mul", "Add", "Sub", "Div"}; }

  pass::Match match(const ir::Graph& graph, const ir::UseDefIndex& index,
                    const ir::Node& op) const override {
    if (op.inputs.size() != 2 || op.outputs.size() != 1) return pass::Match::no();
    if (!shifts_ && (op.op_type == "Add" || op.op_type == "Sub")) return pass::Match::no();
    const int slot = layer_slot(graph, index, op);
    if (slot < 0) return pass::Match::no();
    const std::string& operand = op.inputs[1 - slot];
    // A residual Add or a Mul by another activation is not an affine step.
    const ir::Initializer* constant = constant_input(graph, operand);
    if (constant == nullptr) return pass::Match::no();
    const ir::Node& prod = graph.node(index.producer.at(op.inputs[slot]));
    if (slot == 1 && (op.op_type == "Sub" || op.op_type == "Div")) {
      return pass::Match::skip(op.op_type + " reads the " + prod.op_type +
                               " output as its second input");
    }
    if (opset_ < 7) return pass::Match::skip(op.op_type + " before opset 7 (legacy broadcasting)");
    if (index.escapes(op.inputs[slot])) {
      return pass::Match::skip(prod.op_type + " output '" + op.inputs[slot] +
                               "' is a graph output or read by a subgraph");
    }
    if (!has_single_use(index, op.inputs[slot])) {
      return pass::Match::skip(prod.op_type + " output '" + op.inputs[slot] +
                               "' has other readers than the " + op.op_type);
    }
    if (!is_float32(constant)) {
      return pass::Match::skip(op.op_type + " operand '" + operand +
                               "' is not a float32 initializer");
    }
    if (prod.inputs.size() < 2 || !is_float32(constant_input(graph, prod.inputs[1]))) {
      return pass::Match::skip(prod.op_type + " weight is not a constant float32 initializer");
    }
    if (prod.inputs.size() > 2 && !prod.inputs[2].empty() &&
        !is_float32(constant_input(graph, prod.inputs[2]))) {
      return pass::Match::skip(prod.op_type + " bias is not a constant float32 initializer");
    }
    const ir::Tensor& w = graph.find_initializer(prod.inputs[1])->tensor;
    if (w.rank() < 3) return pass::Match::skip(prod.op_type + " weight has rank below 3");
    const int64_t group = prod.attr_int("group", 1);
    if (group < 1 || (prod.op_type == "ConvTranspose" && w.dims()[0] % group != 0)) {
      return pass::Match::skip(prod.op_type + " group does not divide its input channels");
    }
    const int64_t channels = layer_output_channels(prod, w);
    if (prod.inputs.size() > 2 && !prod.inputs[2].empty() &&
        graph.find_initializer(prod.inputs[2])->tensor.numel() != channels) {
      return pass::Match::skip(prod.op_type + " bias length differs from its output channels");
    }
    // Multidirectional broadcasting aligns the constant's dims with the output's last dims.
    const ir::Tensor& c = constant->tensor;
    const int64_t rank = w.rank();
    if (c.rank() > rank) {
      return pass::Match::skip(op.op_type + " operand '" + operand + "' has more dims than the " +
                               prod.op_type + " output");
    }
    for (int64_t k = 0; k < c.rank(); ++k) {
      const int64_t axis = rank - c.rank() + k;
      const int64_t d = c.dims()[k];
      if (d == 1 || (axis == 1 && d == channels)) continue;
      return pass::Match::skip(op.op_type + " operand '" + operand +
                               "' is not per output channel (dim " + std::to_string(k) + " is " +
                               std::to_string(d) + ")");
    }
    const auto values = c.span<float>();
    for (float v : values) {
      if (!std::isfinite(v)) {
        return pass::Match::skip(op.op_type + " operand '" + operand + "' is not finite");
      }
      if (op.op_type == "Div" && !is_power_of_two(v)) {
        return pass::Match::skip("Div by '" + operand +
                                 "' is not by powers of two (the reciprocal would round)");
      }
    }
    // The folded weights and bias must stay finite float32 values.
    double factor = 0, shift = 0;
    for (float v : values) {
      const double a = std::fabs(double(v));
      factor = std::max(factor, op.op_type == "Div" ? 1.0 / a : a);
      shift = std::max(shift, a);
    }
    const bool scales = op.op_type == "Mul" || op.op_type == "Div";
    double largest = 0;
    if (prod.inputs.size() > 2 && !prod.inputs[2].empty()) {
      largest = max_abs(graph.find_initializer(prod.inputs[2])->tensor.span<float>());
    }
    largest = scales ? std::max(largest, max_abs(w.span<float>())) * factor : largest + shift;
    if (!(largest <= std::numeric_limits<float>::max())) {
      return pass::Match::skip("folding " + op.op_type + " by '" + operand +
                               "' would overflow float32");
    }
    return pass::Match::yes();
  }

  Status rewrite(ir::Graph& graph, const ir::UseDefIndex& index, ir::Node& op) const override {
    const int slot = layer_slot(graph, index, op);
    ir::Node& prod = graph.node(index.producer.at(op.inputs[slot]));
    const auto constant = graph.find_initializer(op.inputs[1 - slot])->tensor.span<float>();
    ir::Tensor w = graph.find_initializer(prod.inputs[1])->tensor;
    const int64_t channels = layer_output_channels(prod, w);
    const auto at = [&](int64_t m) { return double(constant[constant.size() == 1 ? 0 : m]); };

    std::vector<double> bias(static_cast<size_t>(channels), 0.0);
    const bool has_bias = prod.inputs.size() > 2 && !prod.inputs[2].empty();
    if (has_bias) {
      auto b = graph.find_initializer(prod.inputs[2])->tensor.span<float>();
      for (int64_t m = 0; m < channels; ++m) bias[m] = b[m];
    }

    if (op.op_type == "Mul" || op.op_type == "Div") {
      std::vector<double> s(static_cast<size_t>(channels));
      for (int64_t m = 0; m < channels; ++m) s[m] = op.op_type == "Mul" ? at(m) : 1.0 / at(m);
      scale_output_channels(prod, w, s);
      for (int64_t m = 0; m < channels; ++m) bias[m] *= s[m];
      replace_constant_input(graph, index, prod, 1, std::move(w), prod.inputs[1] + "_affinefolded");
    } else {
      const double sign = op.op_type == "Add" ? 1.0 : -1.0;
      for (int64_t m = 0; m < channels; ++m) bias[m] += sign * at(m);
    }
    // A Mul or Div of a bias-free layer keeps it bias-free.
    if (has_bias || op.op_type == "Add" || op.op_type == "Sub") {
      std::vector<float> folded(bias.begin(), bias.end());
      replace_constant_input(
          graph, index, prod, 2, ir::Tensor::from_values<float>({channels}, folded),
          (prod.name.empty() ? prod.outputs[0] : prod.name) + "_bias_affinefolded");
    }

    // The layer now writes the folded node's output directly.
    prod.outputs[0] = op.outputs[0];
    graph.remove_node(&op);
    return ok_status();
  }

 private:
  // Which input of `op` a Conv or ConvTranspose writes (the first such), or -1.
  static int layer_slot(const ir::Graph& graph, const ir::UseDefIndex& index, const ir::Node& op) {
    for (int slot = 0; slot < 2; ++slot) {
      if (op.inputs[slot].empty()) continue;
      auto it = index.producer.find(op.inputs[slot]);
      if (it == index.producer.end()) continue;
      const ir::Node& prod = graph.node(it->second);
      if (prod.in_default_domain() && (prod.op_type == "Conv" || prod.op_type == "ConvTranspose") &&
          !prod.outputs.empty() && prod.outputs[0] == op.inputs[slot]) {
        return slot;
      }
    }
    return -1;
  }

  int64_t opset_;
  bool shifts_;
};

}  // namespace

const pass::PassInfo& fold_conv_affine_info() {
  static const pass::PassInfo info{
      "fold-conv-affine",
      "Folds a per-channel constant Mul, Add, Sub or Div (e.g. a BatchNormalization exported as "
      "Mul + Add) into a preceding Conv or ConvTranspose.",
      {{"shifts", "true", "Fold Add and Sub too; false folds the scales (Mul, Div) only."}}};
  return info;
}

StatusOr<std::unique_ptr<pass::Pass>> create_fold_conv_affine(const pass::PassOptions& options) {
  bool shifts = true;
  if (auto it = options.find("shifts"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(shifts,
                                parse_bool_option("fold-conv-affine", "shifts", it->second));
  }
  return std::unique_ptr<pass::Pass>(
      new RulePass(fold_conv_affine_info(), [shifts](const ir::Model& m) {
        std::vector<std::unique_ptr<pass::RewriteRule>> rules;
        rules.push_back(std::make_unique<FoldConvAffine>(m.opset_version(""), shifts));
        return rules;
      }));
}

}  // namespace compressor::passes
