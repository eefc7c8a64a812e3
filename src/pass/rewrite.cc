// The rewrite driver: sweep, match, rewrite, re-index, until a fixpoint.
#include "compressor/pass/rewrite.h"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace compressor::pass {

StatusOr<PassResult> apply_rules(ir::Graph& graph,
                                 std::span<const std::unique_ptr<RewriteRule>> rules) {
  PassResult result;
  std::set<std::pair<std::string, std::string>> reported;  // (node, reason)
  constexpr int kMaxSweeps = 64;
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    bool changed = false;
    ir::UseDefIndex index = graph.index();
    // Snapshot of node identities; rewrites may remove nodes, so liveness is rechecked.
    std::vector<const ir::Node*> order;
    for (const auto& n : graph.nodes()) order.push_back(n.get());
    std::unordered_set<const ir::Node*> live(order.begin(), order.end());
    for (const ir::Node* candidate : order) {
      if (!live.count(candidate)) continue;
      for (const auto& rule : rules) {
        if (!candidate->in_default_domain()) break;
        auto roots = rule->root_op_types();
        if (std::find(roots.begin(), roots.end(), candidate->op_type) == roots.end()) continue;
        Match m = rule->match(graph, index, *candidate);
        if (m.kind == Match::Kind::kNo) continue;
        if (m.kind == Match::Kind::kSkip) {
          const std::string who = candidate->name.empty() ? candidate->op_type : candidate->name;
          if (reported.insert({who, m.reason}).second) result.skipped.push_back({who, m.reason});
          continue;
        }
        // The rewrite may delete the candidate, so its label is taken first.
        const std::string where = std::string(rule->name()) + " at " + candidate->label();
        COMPRESSOR_RETURN_IF_ERROR(
            rule->rewrite(graph, index, const_cast<ir::Node&>(*candidate)).with_context(where));
        ++result.nodes_changed;
        changed = true;
        live.clear();
        for (const auto& n : graph.nodes()) live.insert(n.get());
        index = graph.index();
        break;
      }
    }
    if (!changed) break;
  }
  // A skip that was later resolved by another rewrite should not be reported.
  std::set<std::string> names;
  for (const auto& n : graph.nodes()) names.insert(n->name.empty() ? n->op_type : n->name);
  std::erase_if(result.skipped, [&](const SkippedNode& s) { return !names.count(s.node); });
  return result;
}

}  // namespace compressor::pass
