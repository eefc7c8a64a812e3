// constants-to-initializers: weights held in Constant nodes become initializers, so that the
// compression passes (which look for constant weights) see them. Exporters such as paddle2onnx
// put every weight in a Constant node.
#include <onnx/onnx_pb.h>

#include "../pass_util.h"
#include "compressor/io/onnx_io.h"

namespace compressor::passes {
namespace {

StatusOr<ir::Tensor> constant_value(const ir::Node& node) {
  for (const ir::Attribute& a : node.attributes) {
    const std::string& n = a.name();
    using T = ir::Attribute::Type;
    if (n == "value" && a.type() == T::kTensor) {
      onnx::TensorProto copy = a.proto().t();
      return io::tensor_from_proto(std::move(copy), node.label() + " value");
    }
    if (n == "value_float") return ir::Tensor::from_values<float>({}, std::vector<float>{a.f()});
    if (n == "value_floats") {
      auto v = a.floats();
      return ir::Tensor::from_values<float>({static_cast<int64_t>(v.size())}, v);
    }
    if (n == "value_int") return ir::Tensor::from_values<int64_t>({}, std::vector<int64_t>{a.i()});
    if (n == "value_ints") {
      auto v = a.ints();
      return ir::Tensor::from_values<int64_t>({static_cast<int64_t>(v.size())}, v);
    }
    if (n == "value_string") return ir::Tensor::from_strings({}, {a.s()});
    if (n == "value_strings") {
      std::vector<std::string> v(a.proto().strings().begin(), a.proto().strings().end());
      return ir::Tensor::from_strings({static_cast<int64_t>(v.size())}, std::move(v));
    }
  }
  return unsupported("no dense value attribute");
}

class ConstantToInitializer : public pass::RewriteRule {
 public:
  explicit ConstantToInitializer(int64_t ir_version) : ir_version_(ir_version) {}
  std::string_view name() const override { return "constant-to-initializer"; }
  std::vector<std::string> root_op_types() const override { return {"Constant"}; }

  pass::Match match(const ir::Graph& graph, const ir::UseDefIndex&,
                    const ir::Node& node) const override {
    if (node.outputs.size() != 1 || node.outputs[0].empty()) return pass::Match::no();
    if (node.attribute("sparse_value")) {
      return pass::Match::skip("sparse constant kept as a node");
    }
    if (graph.is_graph_output(node.outputs[0])) {
      return pass::Match::skip("its value is a graph output; kept as a node");
    }
    return pass::Match::yes();
  }

  Status rewrite(ir::Graph& graph, const ir::UseDefIndex&, ir::Node& node) const override {
    COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor value, constant_value(node));
    const std::string out = node.outputs[0];
    graph.set_initializer({out, std::move(value), nullptr});
    // Before IR version 4 every initializer must also be declared as a graph input.
    if (ir_version_ < 4) {
      const ir::Tensor& t = graph.find_initializer(out)->tensor;
      std::vector<ir::Dim> shape;
      for (int64_t d : t.dims()) shape.push_back({d, {}});
      graph.inputs.push_back(ir::ValueInfo::make_tensor(out, t.dtype(), shape));
    }
    graph.remove_node(&node);
    return ok_status();
  }

 private:
  int64_t ir_version_;
};

}  // namespace

const pass::PassInfo& constants_to_initializers_info() {
  static const pass::PassInfo info{
      "constants-to-initializers", "Moves the values of Constant nodes into initializers.", {}};
  return info;
}

StatusOr<std::unique_ptr<pass::Pass>> create_constants_to_initializers(const pass::PassOptions&) {
  return std::unique_ptr<pass::Pass>(
      new RulePass(constants_to_initializers_info(), [](const ir::Model& model) {
        std::vector<std::unique_ptr<pass::RewriteRule>> rules;
        rules.push_back(std::make_unique<ConstantToInitializer>(model.ir_version()));
        return rules;
      }));
}

}  // namespace compressor::passes
