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

int64_t layer_output_channels(const ir::Node& layer, const ir::Tensor& w) {
  if (layer.op_type == "Gemm") return w.dims()[layer.attr_int("transB", 0) != 0 ? 0 : 1];
  if (layer.op_type == "Conv") return w.dims()[0];
  return w.dims()[1] * layer.attr_int("group", 1);
}

void scale_output_channels(const ir::Node& layer, ir::Tensor& w, std::span<const double> s) {
  auto wv = w.mutable_span<float>();
  const auto& d = w.dims();
  if (layer.op_type == "Gemm") {
    const bool trans_b = layer.attr_int("transB", 0) != 0;
    const int64_t rows = d[0], cols = d[1];
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        wv[r * cols + c] = static_cast<float>(wv[r * cols + c] * s[trans_b ? r : c]);
      }
    }
    return;
  }
  if (layer.op_type == "Conv") {
    const int64_t per_channel = w.numel() / d[0];
    for (int64_t m = 0; m < d[0]; ++m) {
      float* p = &wv[m * per_channel];
      for (int64_t k = 0; k < per_channel; ++k) p[k] = static_cast<float>(p[k] * s[m]);
    }
    return;
  }
  // ConvTranspose: W is [C, M/group, k...]; output channel = group index * M/group + j.
  const int64_t group = layer.attr_int("group", 1);
  const int64_t in_channels = d[0], per_group_out = d[1];
  const int64_t kernel = w.numel() / (in_channels * per_group_out);
  const int64_t in_per_group = in_channels / group;
  for (int64_t c = 0; c < in_channels; ++c) {
    for (int64_t j = 0; j < per_group_out; ++j) {
      const size_t m = static_cast<size_t>((c / in_per_group) * per_group_out + j);
      float* p = &wv[(c * per_group_out + j) * kernel];
      for (int64_t k = 0; k < kernel; ++k) p[k] = static_cast<float>(p[k] * s[m]);
    }
  }
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
