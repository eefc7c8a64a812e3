// RewriteRule and its driver, for passes made of local pattern rewrites.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/graph.h"
#include "compressor/pass/pass.h"

namespace compressor::pass {

/// The verdict of `RewriteRule::match` for one root node.
struct Match {
  enum class Kind { kNo, kYes, kSkip };
  Kind kind = Kind::kNo;
  std::string reason;  ///< Why a candidate was skipped (kSkip only).

  static Match no() { return {}; }
  static Match yes() { return {Kind::kYes, {}}; }
  static Match skip(std::string why) { return {Kind::kSkip, std::move(why)}; }
};

/// A local rewrite anchored at one node: `match` only reads, `rewrite` edits.
class RewriteRule {
 public:
  virtual ~RewriteRule() = default;
  virtual std::string_view name() const = 0;
  /// Op types (default domain) the rule is anchored at.
  virtual std::vector<std::string> root_op_types() const = 0;
  virtual Match match(const ir::Graph& graph, const ir::UseDefIndex& index,
                      const ir::Node& node) const = 0;
  /// Applies the rewrite; may add, change and remove nodes (including `node`).
  virtual Status rewrite(ir::Graph& graph, const ir::UseDefIndex& index, ir::Node& node) const = 0;
};

/// Applies the rules to every matching node of the graph, repeating until nothing changes.
/// Skipped candidates are reported once each.
StatusOr<PassResult> apply_rules(ir::Graph& graph,
                                 std::span<const std::unique_ptr<RewriteRule>> rules);

}  // namespace compressor::pass
