// fold-batchnorm: folds an inference-mode BatchNormalization into the Conv, ConvTranspose or
// Gemm that feeds it, when every weight is a constant and the intermediate has no other reader.
//
// With s = scale / sqrt(var + eps), BN(y) = s * (y - mean) + bias, so the producer's weights are
// scaled per output channel by s and its bias becomes s * (b - mean) + bias. Folding is computed
// in double precision.
//
// A constant per-channel Add (or Sub) between a Conv or ConvTranspose and the BatchNormalization
// (a bias exported on its own, as paddle2onnx writes PP-OCR det's head) moves into the mean first:
// BN(y + a) = BN'(y) with mean' = mean - a. The BatchNormalization then reads the layer and folds
// into it.
#include <cmath>

#include "../pass_util.h"

namespace compressor::passes {
namespace {

bool is_float32(const ir::Initializer* init) {
  return init != nullptr && init->tensor.dtype() == ir::DType::kFloat;
}

// An inference-mode BatchNormalization (running statistics in, none out), where mean and variance
// are constants of the model.
bool inference_mode(const ir::UseDefIndex& index, const ir::Node& bn) {
  if (bn.attr_int("training_mode", 0) != 0) return false;
  if (bn.attribute("is_test") && bn.attr_int("is_test", 0) == 0) return false;
  if (bn.attr_int("spatial", 1) == 0) return false;
  for (size_t k = 1; k < bn.outputs.size(); ++k) {
    if (!bn.outputs[k].empty() &&
        (index.consumer_count(bn.outputs[k]) > 0 || index.escapes(bn.outputs[k]))) {
      return false;
    }
  }
  return true;
}

class FoldBatchNorm : public pass::RewriteRule {
 public:
  explicit FoldBatchNorm(int64_t opset) : opset_(opset) {}
  std::string_view name() const override { return "fold-batchnorm"; }
  std::vector<std::string> root_op_types() const override { return {"BatchNormalization"}; }

  pass::Match match(const ir::Graph& graph, const ir::UseDefIndex& index,
                    const ir::Node& bn) const override {
    if (bn.inputs.size() < 5 || bn.inputs[0].empty()) return pass::Match::no();
    auto it = index.producer.find(bn.inputs[0]);
    if (it == index.producer.end()) return pass::Match::no();
    const ir::Node& prod = graph.node(it->second);
    if (!prod.in_default_domain() ||
        (prod.op_type != "Conv" && prod.op_type != "ConvTranspose" && prod.op_type != "Gemm")) {
      return pass::Match::no();
    }
    if (bn.attr_int("training_mode", 0) != 0)
      return pass::Match::skip("BatchNormalization in training mode");
    if (bn.attribute("is_test") && bn.attr_int("is_test", 0) == 0) {
      return pass::Match::skip("BatchNormalization in training mode (is_test=0)");
    }
    if (bn.attr_int("spatial", 1) == 0)
      return pass::Match::skip("BatchNormalization with spatial=0");
    for (size_t k = 1; k < bn.outputs.size(); ++k) {
      if (!bn.outputs[k].empty() &&
          (index.consumer_count(bn.outputs[k]) > 0 || index.escapes(bn.outputs[k]))) {
        return pass::Match::skip("BatchNormalization statistics outputs are used");
      }
    }
    if (!has_single_use(index, bn.inputs[0])) {
      return pass::Match::skip(prod.op_type + " output '" + bn.inputs[0] +
                               "' has other readers than the BatchNormalization");
    }
    for (size_t k = 1; k < 5; ++k) {
      if (!is_float32(constant_input(graph, bn.inputs[k]))) {
        return pass::Match::skip("BatchNormalization parameter '" + bn.inputs[k] +
                                 "' is not a constant float32 initializer");
      }
    }
    const int64_t channels = graph.find_initializer(bn.inputs[1])->tensor.numel();
    for (size_t k = 2; k < 5; ++k) {
      if (graph.find_initializer(bn.inputs[k])->tensor.numel() != channels) {
        return pass::Match::skip("BatchNormalization parameters differ in length");
      }
    }
    if (prod.inputs.size() < 2 || !is_float32(constant_input(graph, prod.inputs[1]))) {
      return pass::Match::skip(prod.op_type + " weight is not a constant float32 initializer");
    }
    if (prod.inputs.size() > 2 && !prod.inputs[2].empty() &&
        !is_float32(constant_input(graph, prod.inputs[2]))) {
      return pass::Match::skip(prod.op_type + " bias is not a constant float32 initializer");
    }
    const ir::Tensor& w = graph.find_initializer(prod.inputs[1])->tensor;
    if (prod.op_type == "Gemm") {
      if (opset_ < 7) return pass::Match::skip("Gemm before opset 7 (no bias broadcasting)");
      if (w.rank() != 2) return pass::Match::skip("Gemm weight is not a matrix");
      const int64_t n = prod.attr_int("transB", 0) ? w.dims()[0] : w.dims()[1];
      if (n != channels)
        return pass::Match::skip("Gemm output width differs from BatchNormalization channels");
      if (prod.inputs.size() > 2 && !prod.inputs[2].empty()) {
        const ir::Tensor& c = graph.find_initializer(prod.inputs[2])->tensor;
        if (!(c.numel() == 1 || c.numel() == n) || (c.rank() == 2 && c.dims()[0] != 1)) {
          return pass::Match::skip("Gemm bias is not per output column");
        }
      }
      return pass::Match::yes();
    }
    if (w.rank() < 3) return pass::Match::skip(prod.op_type + " weight has rank below 3");
    if (layer_output_channels(prod, w) != channels) {
      return pass::Match::skip(prod.op_type + " output channels differ from BatchNormalization's");
    }
    return pass::Match::yes();
  }

  Status rewrite(ir::Graph& graph, const ir::UseDefIndex& index, ir::Node& bn) const override {
    ir::Node& prod = graph.node(index.producer.at(bn.inputs[0]));
    const auto scale = graph.find_initializer(bn.inputs[1])->tensor.span<float>();
    const auto beta = graph.find_initializer(bn.inputs[2])->tensor.span<float>();
    const auto mean = graph.find_initializer(bn.inputs[3])->tensor.span<float>();
    const auto var = graph.find_initializer(bn.inputs[4])->tensor.span<float>();
    const double eps = bn.attr_float("epsilon", 1e-5f);
    const size_t channels = scale.size();
    std::vector<double> s(channels);
    for (size_t c = 0; c < channels; ++c) s[c] = scale[c] / std::sqrt(double(var[c]) + eps);

    // Scaled weights.
    ir::Tensor w = graph.find_initializer(prod.inputs[1])->tensor;
    scale_output_channels(prod, w, s);

    // Folded bias.
    std::vector<double> bias(channels, 0.0);
    const bool has_bias = prod.inputs.size() > 2 && !prod.inputs[2].empty();
    if (has_bias) {
      auto b = graph.find_initializer(prod.inputs[2])->tensor.span<float>();
      const double beta_gemm = prod.op_type == "Gemm" ? prod.attr_float("beta", 1.0f) : 1.0;
      for (size_t c = 0; c < channels; ++c) bias[c] = beta_gemm * b[b.size() == 1 ? 0 : c];
    }
    std::vector<float> folded(channels);
    for (size_t c = 0; c < channels; ++c) {
      folded[c] = static_cast<float>((bias[c] - mean[c]) * s[c] + beta[c]);
    }
    const ir::Tensor bias_tensor =
        ir::Tensor::from_values<float>({static_cast<int64_t>(channels)}, folded);

    replace_constant_input(graph, index, prod, 1, std::move(w), prod.inputs[1] + "_bnfolded");
    replace_constant_input(graph, index, prod, 2, bias_tensor,
                           (prod.name.empty() ? prod.outputs[0] : prod.name) + "_bias_bnfolded");
    if (prod.op_type == "Gemm") prod.set_attribute(ir::Attribute::make_float("beta", 1.0f));

    // The producer now writes the BatchNormalization's output directly.
    prod.outputs[0] = bn.outputs[0];
    graph.remove_node(&bn);
    return ok_status();
  }

 private:
  int64_t opset_;
};

// Conv or ConvTranspose -> Add/Sub(constant per channel) -> BatchNormalization: the shift moves
// into the BatchNormalization's mean.
class ShiftIntoBatchNorm : public pass::RewriteRule {
 public:
  std::string_view name() const override { return "fold-batchnorm"; }
  std::vector<std::string> root_op_types() const override { return {"Add", "Sub"}; }

  pass::Match match(const ir::Graph& graph, const ir::UseDefIndex& index,
                    const ir::Node& op) const override {
    if (op.inputs.size() != 2 || op.outputs.size() != 1) return pass::Match::no();
    // The constant: either input of an Add, the second of a Sub.
    const int slot = constant_input(graph, op.inputs[1]) != nullptr                          ? 1
                     : op.op_type == "Add" && constant_input(graph, op.inputs[0]) != nullptr ? 0
                                                                                             : -1;
    if (slot < 0) return pass::Match::no();
    const std::string& x = op.inputs[1 - slot];
    auto p = index.producer.find(x);
    if (p == index.producer.end()) return pass::Match::no();
    const ir::Node& layer = graph.node(p->second);
    if (!layer.in_default_domain() ||
        (layer.op_type != "Conv" && layer.op_type != "ConvTranspose")) {
      return pass::Match::no();
    }
    if (!has_single_use(index, op.outputs[0])) return pass::Match::no();
    const ir::Node& bn = graph.node(index.consumers.at(op.outputs[0])[0]);
    if (!bn.in_default_domain() || bn.op_type != "BatchNormalization" || bn.inputs.size() < 5 ||
        bn.inputs[0] != op.outputs[0] || !inference_mode(index, bn)) {
      return pass::Match::no();
    }
    const ir::Initializer* mean = constant_input(graph, bn.inputs[3]);
    const ir::Initializer* shift = constant_input(graph, op.inputs[slot]);
    const ir::Initializer* w =
        layer.inputs.size() > 1 ? constant_input(graph, layer.inputs[1]) : nullptr;
    if (!is_float32(mean) || !is_float32(shift) || w == nullptr || w->tensor.rank() < 3) {
      return pass::Match::no();
    }
    // The shift must be one value per channel (axis 1 of the layer's output) or one value.
    const ir::Tensor& a = shift->tensor;
    const int64_t rank = w->tensor.rank(), channels = mean->tensor.numel();
    if (a.rank() > rank) return pass::Match::no();
    for (int64_t k = 0; k < a.rank(); ++k) {
      const int64_t d = a.dims()[k];
      if (d != 1 && !(rank - a.rank() + k == 1 && d == channels)) return pass::Match::no();
    }
    for (float v : a.span<float>()) {
      if (!std::isfinite(v)) return pass::Match::no();
    }
    return pass::Match::yes();
  }

  Status rewrite(ir::Graph& graph, const ir::UseDefIndex& index, ir::Node& op) const override {
    const int slot = constant_input(graph, op.inputs[1]) != nullptr ? 1 : 0;
    ir::Node& bn = graph.node(index.consumers.at(op.outputs[0])[0]);
    const auto a = graph.find_initializer(op.inputs[slot])->tensor.span<float>();
    ir::Tensor mean = graph.find_initializer(bn.inputs[3])->tensor;
    auto m = mean.mutable_span<float>();
    const double sign = op.op_type == "Add" ? 1.0 : -1.0;
    for (size_t c = 0; c < m.size(); ++c) {
      m[c] = static_cast<float>(double(m[c]) - sign * a[a.size() == 1 ? 0 : c]);
    }
    replace_constant_input(graph, index, bn, 3, std::move(mean), bn.inputs[3] + "_shifted");
    bn.inputs[0] = op.inputs[1 - slot];
    graph.remove_node(&op);
    return ok_status();
  }
};

}  // namespace

const pass::PassInfo& fold_batchnorm_info() {
  static const pass::PassInfo info{
      "fold-batchnorm",
      "Folds inference-mode BatchNormalization into a preceding Conv, ConvTranspose or Gemm "
      "(through a constant per-channel Add or Sub between them).",
      {}};
  return info;
}

StatusOr<std::unique_ptr<pass::Pass>> create_fold_batchnorm(const pass::PassOptions&) {
  return std::unique_ptr<pass::Pass>(new RulePass(fold_batchnorm_info(), [](const ir::Model& m) {
    std::vector<std::unique_ptr<pass::RewriteRule>> rules;
    rules.push_back(std::make_unique<FoldBatchNorm>(m.opset_version("")));
    rules.push_back(std::make_unique<ShiftIntoBatchNorm>());
    return rules;
  }));
}

}  // namespace compressor::passes
