// Shared pass helpers.
#include "pass_util.h"

#include <set>

namespace compressor::passes {

StatusOr<pass::PassResult> RulePass::run(ir::Model& model, pass::PassContext&) {
  auto rules = make_rules_(model);
  COMPRESSOR_ASSIGN_OR_RETURN(pass::PassResult result, pass::apply_rules(model.graph, rules));
  prune_value_info(model.graph);
  return result;
}

void prune_value_info(ir::Graph& graph) {
  std::set<std::string> defined = graph.defined_values();
  std::erase_if(graph.value_info, [&](const ir::ValueInfo& v) { return !defined.count(v.name()); });
}

const ir::Initializer* constant_input(const ir::Graph& graph, const std::string& value) {
  if (value.empty() || graph.is_graph_input(value)) return nullptr;
  return graph.find_initializer(value);
}

bool has_single_use(const ir::UseDefIndex& index, const std::string& value) {
  return index.consumer_count(value) == 1 && !index.escapes(value);
}

void replace_constant_input(ir::Graph& graph, const ir::UseDefIndex& index, ir::Node& node,
                            size_t slot, ir::Tensor tensor, const std::string& name_hint) {
  if (node.inputs.size() <= slot) node.inputs.resize(slot + 1);
  const std::string& current = node.inputs[slot];
  const ir::Initializer* init = current.empty() ? nullptr : graph.find_initializer(current);
  if (init != nullptr && has_single_use(index, current) && !graph.is_graph_input(current)) {
    ir::Initializer updated = *init;
    updated.tensor = std::move(tensor);
    graph.set_initializer(std::move(updated));
    return;
  }
  std::string name = graph.unique_name(name_hint);
  graph.set_initializer({name, std::move(tensor), nullptr});
  node.inputs[slot] = name;
}

}  // namespace compressor::passes
