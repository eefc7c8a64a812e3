// eliminate-dead-nodes: removes nodes whose outputs nothing reads, and initializers no node,
// subgraph or graph output reads. Graph inputs are the model's interface and stay.
#include "../pass_util.h"

namespace compressor::passes {
namespace {

class EliminateDeadNodes : public pass::Pass {
 public:
  const pass::PassInfo& info() const override;

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext&) override {
    ir::Graph& graph = model.graph;
    pass::PassResult result;
    // Walk backwards from the graph outputs, keeping what they need.
    std::set<std::string> needed;
    for (const auto& o : graph.outputs) needed.insert(o.name());
    std::set<const ir::Node*> dead;
    for (auto it = graph.nodes().rbegin(); it != graph.nodes().rend(); ++it) {
      const ir::Node& n = **it;
      bool live = false;
      for (const auto& o : n.outputs) live = live || (!o.empty() && needed.count(o));
      if (!live) {
        dead.insert(&n);
        continue;
      }
      for (const auto& in : n.inputs) {
        if (!in.empty()) needed.insert(in);
      }
      if (n.has_subgraphs()) {
        for (const auto& r : ir::subgraph_outer_reads(n)) needed.insert(r);
      }
    }
    result.nodes_changed =
        graph.remove_nodes_if([&](const ir::Node& n) { return dead.count(&n) > 0; });
    const size_t removed_inits = graph.remove_initializers_if([&](const ir::Initializer& i) {
      return !needed.count(i.name) && !graph.is_graph_input(i.name);
    });
    if (result.nodes_changed > 0) {
      result.notes.push_back(std::to_string(result.nodes_changed) + " dead node(s) removed");
    }
    if (removed_inits > 0) {
      result.notes.push_back(std::to_string(removed_inits) + " unused initializer(s) removed");
    }
    result.nodes_changed += removed_inits;
    prune_value_info(graph);
    return result;
  }
};

}  // namespace

const pass::PassInfo& eliminate_dead_nodes_info() {
  static const pass::PassInfo info{
      "eliminate-dead-nodes", "Removes nodes and initializers that no output depends on.", {}};
  return info;
}

const pass::PassInfo& EliminateDeadNodes::info() const { return eliminate_dead_nodes_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_eliminate_dead_nodes(const pass::PassOptions&) {
  return std::unique_ptr<pass::Pass>(new EliminateDeadNodes());
}

}  // namespace compressor::passes
