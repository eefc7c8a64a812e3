// Helpers shared by the built-in passes: a pass made of rewrite rules, and initializer access.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compressor/ir/graph.h"
#include "compressor/ir/model.h"
#include "compressor/pass/pass.h"
#include "compressor/pass/rewrite.h"

namespace compressor::passes {

/// A pass that applies a fixed set of rewrite rules to the main graph.
class RulePass : public pass::Pass {
 public:
  using RuleMaker =
      std::function<std::vector<std::unique_ptr<pass::RewriteRule>>(const ir::Model&)>;
  RulePass(const pass::PassInfo& info, RuleMaker make_rules)
      : info_(info), make_rules_(std::move(make_rules)) {}
  const pass::PassInfo& info() const override { return info_; }
  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override;

 private:
  const pass::PassInfo& info_;
  RuleMaker make_rules_;
};

/// Drops value_info entries of values the graph no longer defines.
void prune_value_info(ir::Graph& graph);

/// The initializer feeding `value`, or null when the value is not a constant initializer
/// (graph inputs that share an initializer's name can be overridden, so they do not count).
const ir::Initializer* constant_input(const ir::Graph& graph, const std::string& value);

/// True when `value` is read by exactly one node input, no subgraph and no graph output.
bool has_single_use(const ir::UseDefIndex& index, const std::string& value);

/// Output channels of a Conv ([M, C/group, k...]: M), ConvTranspose ([C, M/group, k...]:
/// M/group x group) or Gemm (B [K, N], or [N, K] with transB: N) with weight `w`.
int64_t layer_output_channels(const ir::Node& layer, const ir::Tensor& w);

/// Multiplies the weights of output channel m of a Conv, ConvTranspose or Gemm by s[m]
/// (s has layer_output_channels entries), rounding each product to float once.
void scale_output_channels(const ir::Node& layer, ir::Tensor& w, std::span<const double> s);

/// Stores `tensor` for the input slot `slot` of `node`: in place when no one else reads the
/// current initializer, otherwise under a fresh name.
void replace_constant_input(ir::Graph& graph, const ir::UseDefIndex& index, ir::Node& node,
                            size_t slot, ir::Tensor tensor, const std::string& name_hint);

}  // namespace compressor::passes
