// eliminate-identity: removes Identity nodes and inference-mode Dropout by rewiring readers.
#include "../pass_util.h"

namespace compressor::passes {
namespace {

class ForwardInput : public pass::RewriteRule {
 public:
  explicit ForwardInput(int64_t opset) : opset_(opset) {}
  std::string_view name() const override { return "forward-input"; }
  std::vector<std::string> root_op_types() const override { return {"Identity", "Dropout"}; }

  pass::Match match(const ir::Graph& graph, const ir::UseDefIndex& index,
                    const ir::Node& node) const override {
    if (node.inputs.empty() || node.inputs[0].empty() || node.outputs.empty()) {
      return pass::Match::no();
    }
    if (node.op_type == "Dropout") {
      if (auto why = dropout_blocker(graph, index, node); !why.empty()) {
        return pass::Match::skip(why);
      }
    } else if (node.outputs.size() != 1) {
      return pass::Match::no();
    }
    const std::string& x = node.inputs[0];
    const std::string& y = node.outputs[0];
    if (graph.is_graph_output(y)) {
      // The output name must survive, so the producer of x has to be renamed to y.
      if (!index.producer.count(x) || graph.is_graph_output(x)) {
        return pass::Match::skip("forwards '" + x + "' to graph output '" + y +
                                 "' and the output name must be kept");
      }
      if (index.subgraph_reads.count(x)) {
        return pass::Match::skip("its input is read inside a subgraph and feeds a graph output");
      }
    }
    return pass::Match::yes();
  }

  Status rewrite(ir::Graph& graph, const ir::UseDefIndex&, ir::Node& node) const override {
    const std::string x = node.inputs[0];
    const std::string y = node.outputs[0];
    graph.remove_node(&node);
    if (graph.is_graph_output(y)) {
      // Rename x to y at its producer and for every other reader.
      for (const auto& n : graph.nodes()) {
        for (auto& o : n->outputs) {
          if (o == x) o = y;
        }
      }
      graph.replace_all_uses(x, y);
    } else {
      graph.replace_all_uses(y, x);
    }
    return ok_status();
  }

 private:
  // Why this Dropout is not a plain identity, or "" when it is.
  std::string dropout_blocker(const ir::Graph& graph, const ir::UseDefIndex& index,
                              const ir::Node& node) const {
    if (opset_ < 7 && node.attr_int("is_test", 0) == 0)
      return "Dropout in training mode (is_test=0)";
    if (node.outputs.size() > 1 && !node.outputs[1].empty()) {
      const std::string& mask = node.outputs[1];
      if (index.consumer_count(mask) > 0 || index.escapes(mask)) return "its mask output is used";
    }
    if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
      const ir::Initializer* mode = constant_input(graph, node.inputs[2]);
      if (mode == nullptr || mode->tensor.dtype() != ir::DType::kBool ||
          mode->tensor.nbytes() != 1) {
        return "training_mode is not a constant false";
      }
      if (mode->tensor.span<uint8_t>()[0] != 0) return "Dropout in training mode";
    }
    return {};
  }
  int64_t opset_;
};

}  // namespace

const pass::PassInfo& eliminate_identity_info() {
  static const pass::PassInfo info{
      "eliminate-identity", "Removes Identity and inference-mode Dropout nodes.", {}};
  return info;
}

StatusOr<std::unique_ptr<pass::Pass>> create_eliminate_identity(const pass::PassOptions&) {
  return std::unique_ptr<pass::Pass>(
      new RulePass(eliminate_identity_info(), [](const ir::Model& m) {
        std::vector<std::unique_ptr<pass::RewriteRule>> rules;
        rules.push_back(std::make_unique<ForwardInput>(m.opset_version("")));
        return rules;
      }));
}

}  // namespace compressor::passes
