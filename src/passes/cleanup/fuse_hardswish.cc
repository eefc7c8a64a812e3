// fuse-hardswish: HardSwish written out as four elementwise nodes,
//   y = Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)      (or the last step as Mul by 1/6),
// as paddle2onnx and PyTorch exports before opset 14 write it, becomes
//   y = Mul(x, HardSigmoid<alpha = 1/6, beta = 0.5>(x)),
// two nodes (available from opset 6) that read and write each activation half as often. ONNX
// Runtime runs neither form as one kernel; on the PP-OCR models the float latency drops 5-22%, and
// in static QDQ the chain needs fewer Q/DQ pairs. The result differs from the
// original by float rounding only: clip(x/6 + 0.5, 0, 1) against clip(x + 3, 0, 6)/6.
//
// Every operand of the chain must be a float32 scalar constant with exactly the value above, the
// Add and the Mul must read the same x, and the intermediate values must have no other readers.
//
// A scalar Mul by c after such a HardSwish moves into the scalar affine in front of it, as
// PP-LCNetV3's learnable affine blocks put one on each side (PP-OCRv4 det and rec):
//   y = c * (u * HardSigmoid<a, b>(u)), u = k * x + d   becomes
//   y = u' * HardSigmoid<a / c, b>(u'), u' = (c k) * x + (c d),
// one node fewer, equal in real arithmetic (float rounding aside) for any c other than 0; u may
// also be k * x alone. u must be read by the HardSigmoid and the Mul only, and the other
// intermediates by the next node only. Nothing that static quantization puts a Q/DQ pair on
// changes: u, the HardSwish and the Mul before the Add all stay between float ops.
#include <algorithm>
#include <cmath>

#include "../pass_util.h"

namespace compressor::passes {
namespace {

/// The value of a one-element float32 constant input, or NaN.
float scalar_constant(const ir::Graph& graph, const std::string& value) {
  const ir::Initializer* init = constant_input(graph, value);
  if (init == nullptr || init->tensor.dtype() != ir::DType::kFloat || init->tensor.numel() != 1) {
    return std::nanf("");
  }
  return init->tensor.span<float>()[0];
}

/// The one-element float32 constant input of a two-input node and the slot of the other input,
/// or slot -1.
std::pair<float, int> scalar_operand(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.size() != 2) return {0.0f, -1};
  for (int k = 0; k < 2; ++k) {
    const float v = scalar_constant(graph, node.inputs[static_cast<size_t>(k)]);
    if (std::isfinite(v)) return {v, 1 - k};
  }
  return {0.0f, -1};
}

/// The node writing `value` when it is a default-domain `op_type` with one output; else null.
const ir::Node* producer(const ir::Graph& graph, const ir::UseDefIndex& index,
                         const std::string& value, std::string_view op_type) {
  auto it = index.producer.find(value);
  if (it == index.producer.end()) return nullptr;
  const ir::Node& node = graph.node(it->second);
  if (!node.in_default_domain() || node.op_type != op_type || node.outputs.size() != 1) {
    return nullptr;
  }
  return &node;
}

/// The nodes of one written-out HardSwish before its root (the Div or Mul by 1/6), and its x.
struct Chain {
  const ir::Node* add = nullptr;
  const ir::Node* clip = nullptr;
  const ir::Node* mul = nullptr;
  std::string x;
};

class FuseHardSwish : public pass::RewriteRule {
 public:
  explicit FuseHardSwish(int64_t opset) : opset_(opset) {}
  std::string_view name() const override { return "fuse-hardswish"; }
  std::vector<std::string> root_op_types() const override { return {"Div", "Mul"}; }

  pass::Match match(const ir::Graph& graph, const ir::UseDefIndex& index,
                    const ir::Node& root) const override {
    Chain chain;
    if (!find(graph, index, root, chain)) return pass::Match::no();
    for (const ir::Node* n : {chain.add, chain.clip, chain.mul}) {
      if (index.escapes(n->outputs[0]) || !has_single_use(index, n->outputs[0])) {
        return pass::Match::skip("HardSwish written out: " + n->label() + " output '" +
                                 n->outputs[0] + "' has other readers");
      }
    }
    if (opset_ < 6) return pass::Match::skip("HardSwish written out: HardSigmoid needs opset 6");
    return pass::Match::yes();
  }

  Status rewrite(ir::Graph& graph, const ir::UseDefIndex& index, ir::Node& root) const override {
    Chain chain;
    if (!find(graph, index, root, chain)) return internal_error("fuse-hardswish: chain changed");
    const std::string base = root.name.empty() ? root.outputs[0] : root.name;
    ir::Node sigmoid;
    sigmoid.name = base + "_hardsigmoid";
    sigmoid.op_type = "HardSigmoid";
    sigmoid.inputs = {chain.x};
    sigmoid.outputs = {graph.unique_name(root.outputs[0] + "_hardsigmoid")};
    sigmoid.set_attribute(ir::Attribute::make_float("alpha", 1.0f / 6.0f));
    sigmoid.set_attribute(ir::Attribute::make_float("beta", 0.5f));
    ir::Node product;
    product.name = base + "_hardswish";
    product.op_type = "Mul";
    product.inputs = {chain.x, sigmoid.outputs[0]};
    product.outputs = {root.outputs[0]};
    // Where the Add was: x is defined before it, and every reader of y comes after the root.
    const size_t at = index.producer.at(chain.add->outputs[0]);
    const ir::Node* gone[] = {chain.add, chain.clip, chain.mul, &root};
    graph.insert_node(at, std::move(product));
    graph.insert_node(at, std::move(sigmoid));
    graph.remove_nodes_if([&](const ir::Node& n) { return std::ranges::count(gone, &n) > 0; });
    return ok_status();
  }

 private:
  // The chain ending at `root` (Div by 6 or Mul by 1/6), if there is one.
  bool find(const ir::Graph& graph, const ir::UseDefIndex& index, const ir::Node& root,
            Chain& chain) const {
    if (root.inputs.size() != 2 || root.outputs.size() != 1) return false;
    std::string product;
    if (root.op_type == "Div") {
      if (scalar_constant(graph, root.inputs[1]) != 6.0f) return false;
      product = root.inputs[0];
    } else {
      for (int k = 0; k < 2 && product.empty(); ++k) {
        if (scalar_constant(graph, root.inputs[k]) == 1.0f / 6.0f) product = root.inputs[1 - k];
      }
      if (product.empty()) return false;
    }
    chain.mul = producer(graph, index, product, "Mul");
    if (chain.mul == nullptr || chain.mul->inputs.size() != 2) return false;
    for (int k = 0; k < 2; ++k) {
      chain.clip = producer(graph, index, chain.mul->inputs[k], "Clip");
      if (chain.clip == nullptr || !clips_to_0_6(graph, *chain.clip)) continue;
      chain.add = producer(graph, index, chain.clip->inputs[0], "Add");
      if (chain.add == nullptr || chain.add->inputs.size() != 2) continue;
      chain.x = chain.mul->inputs[1 - k];
      const auto& a = chain.add->inputs;
      if ((a[0] == chain.x && scalar_constant(graph, a[1]) == 3.0f) ||
          (a[1] == chain.x && scalar_constant(graph, a[0]) == 3.0f)) {
        return true;
      }
    }
    return false;
  }

  // Clip to [0, 6]: as inputs from opset 11, as attributes before.
  bool clips_to_0_6(const ir::Graph& graph, const ir::Node& clip) const {
    if (clip.inputs.empty()) return false;
    if (opset_ >= 11) {
      return clip.inputs.size() == 3 && scalar_constant(graph, clip.inputs[1]) == 0.0f &&
             scalar_constant(graph, clip.inputs[2]) == 6.0f;
    }
    return clip.inputs.size() == 1 && clip.attribute("min") != nullptr &&
           clip.attribute("max") != nullptr && clip.attr_float("min", 1) == 0.0f &&
           clip.attr_float("max", 0) == 6.0f;
  }

  int64_t opset_;
};

/// The nodes around a scalar Mul after a HardSwish (see the top of the file).
struct ScaledHardSwish {
  const ir::Node* product = nullptr;  ///< u * HardSigmoid(u)
  const ir::Node* sigmoid = nullptr;
  const ir::Node* shift = nullptr;  ///< u = Add(k x, d), or null when u = Mul(x, k)
  const ir::Node* scale = nullptr;  ///< Mul(x, k)
  float c = 0;
};

class ScaleIntoHardSwish : public pass::RewriteRule {
 public:
  explicit ScaleIntoHardSwish(int64_t opset) : opset_(opset) {}
  std::string_view name() const override { return "fuse-hardswish"; }
  std::vector<std::string> root_op_types() const override { return {"Mul"}; }

  pass::Match match(const ir::Graph& graph, const ir::UseDefIndex& index,
                    const ir::Node& root) const override {
    ScaledHardSwish chain;
    return find(graph, index, root, chain) ? pass::Match::yes() : pass::Match::no();
  }

  Status rewrite(ir::Graph& graph, const ir::UseDefIndex& index, ir::Node& root) const override {
    ScaledHardSwish chain;
    if (!find(graph, index, root, chain)) return internal_error("fuse-hardswish: chain changed");
    const double c = chain.c;
    // The constants are scaled in double and rounded to float once.
    auto scale_constant = [&](const ir::Node* node) {
      ir::Node& n = graph.node(index.producer.at(node->outputs[0]));
      const auto [v, other] = scalar_operand(graph, n);
      const size_t slot = static_cast<size_t>(1 - other);
      const ir::Initializer* init = constant_input(graph, n.inputs[slot]);
      const float scaled = static_cast<float>(static_cast<double>(v) * c);
      replace_constant_input(graph, index, n, slot,
                             ir::Tensor::from_values<float>(init->tensor.dims(), {&scaled, 1}),
                             n.inputs[slot] + "_scaled");
    };
    scale_constant(chain.scale);
    if (chain.shift != nullptr) scale_constant(chain.shift);
    ir::Node& sigmoid = graph.node(index.producer.at(chain.sigmoid->outputs[0]));
    const double alpha = sigmoid.attr_float("alpha", 0.2f);
    sigmoid.set_attribute(ir::Attribute::make_float("alpha", static_cast<float>(alpha / c)));
    sigmoid.set_attribute(ir::Attribute::make_float("beta", sigmoid.attr_float("beta", 0.5f)));
    graph.node(index.producer.at(chain.product->outputs[0])).outputs[0] = root.outputs[0];
    const ir::Node* gone = &root;
    graph.remove_nodes_if([&](const ir::Node& n) { return &n == gone; });
    return ok_status();
  }

 private:
  bool find(const ir::Graph& graph, const ir::UseDefIndex& index, const ir::Node& root,
            ScaledHardSwish& chain) const {
    if (opset_ < 7 || root.outputs.size() != 1) return false;  // broadcasting Mul/Add: opset 7
    const auto [c, y_slot] = scalar_operand(graph, root);
    if (y_slot < 0 || c == 0.0f) return false;
    chain.c = c;
    const std::string& y = root.inputs[static_cast<size_t>(y_slot)];
    chain.product = producer(graph, index, y, "Mul");
    if (chain.product == nullptr || chain.product->inputs.size() != 2 || index.escapes(y) ||
        !has_single_use(index, y)) {
      return false;
    }
    std::string u;
    for (size_t k = 0; k < 2 && chain.sigmoid == nullptr; ++k) {
      const ir::Node* s = producer(graph, index, chain.product->inputs[k], "HardSigmoid");
      if (s != nullptr && s->inputs.size() == 1 && s->inputs[0] == chain.product->inputs[1 - k]) {
        chain.sigmoid = s;
        u = s->inputs[0];
      }
    }
    if (chain.sigmoid == nullptr || index.escapes(chain.sigmoid->outputs[0]) ||
        !has_single_use(index, chain.sigmoid->outputs[0]) || index.escapes(u) ||
        index.consumer_count(u) != 2) {
      return false;
    }
    // u = Add(Mul(x, k), d) or u = Mul(x, k), with one-element float32 constants.
    std::string v = u;
    chain.shift = producer(graph, index, u, "Add");
    if (chain.shift != nullptr) {
      const auto [d, v_slot] = scalar_operand(graph, *chain.shift);
      if (v_slot < 0) return false;
      v = chain.shift->inputs[static_cast<size_t>(v_slot)];
      if (index.escapes(v) || !has_single_use(index, v)) return false;
    }
    chain.scale = producer(graph, index, v, "Mul");
    if (chain.scale == nullptr) return false;
    const auto [k, x_slot] = scalar_operand(graph, *chain.scale);
    if (x_slot < 0) return false;
    // Every new constant must stay a finite float, and the new alpha nonzero.
    const double d = chain.shift != nullptr ? scalar_operand(graph, *chain.shift).first : 0.0;
    const auto alpha = static_cast<float>(chain.sigmoid->attr_float("alpha", 0.2f) / double{c});
    return std::isfinite(static_cast<float>(k * double{c})) &&
           std::isfinite(static_cast<float>(d * c)) && std::isfinite(alpha) && alpha != 0.0f;
  }

  int64_t opset_;
};

}  // namespace

const pass::PassInfo& fuse_hardswish_info() {
  static const pass::PassInfo info{
      "fuse-hardswish",
      "Writes a HardSwish spelled out as Add 3, Clip 0..6, Mul and Div 6 as HardSigmoid and Mul "
      "(half the passes over each activation), and moves a scalar Mul after a HardSwish into the "
      "scalar Mul/Add before it (one node fewer).",
      {}};
  return info;
}

StatusOr<std::unique_ptr<pass::Pass>> create_fuse_hardswish(const pass::PassOptions&) {
  return std::unique_ptr<pass::Pass>(new RulePass(fuse_hardswish_info(), [](const ir::Model& m) {
    std::vector<std::unique_ptr<pass::RewriteRule>> rules;
    rules.push_back(std::make_unique<FuseHardSwish>(m.opset_version("")));
    rules.push_back(std::make_unique<ScaleIntoHardSwish>(m.opset_version("")));
    return rules;
  }));
}

}  // namespace compressor::passes
