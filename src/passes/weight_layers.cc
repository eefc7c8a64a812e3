// Weight-layer discovery, the `nodes` option and small formatting helpers for layer passes.
#include "weight_layers.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <regex>
#include <string_view>

#include "pass_util.h"

namespace compressor::passes {
namespace {

bool is_candidate(const ir::Node& node) {
  if (!node.in_default_domain()) return false;
  return node.op_type == "Conv" || node.op_type == "ConvTranspose" || node.op_type == "Gemm" ||
         node.op_type == "MatMul";
}

// Empty when input `slot` of `node` is a usable weight, else why not ("input B 'w' is ...").
std::string weight_problem(const ir::Graph& graph, const ir::Node& node, size_t slot,
                           const std::string& what, const WeightCheck& check) {
  if (node.inputs.size() <= slot || node.inputs[slot].empty()) return what + " is missing";
  const std::string& name = node.inputs[slot];
  const std::string quoted = what + " '" + name + "'";
  if (graph.is_graph_input(name)) {
    return quoted + " is a graph input (a caller can override it), not a constant initializer";
  }
  const ir::Initializer* init = constant_input(graph, name);
  if (init == nullptr) return quoted + " is computed by the graph, not a constant initializer";
  if (init->tensor.dtype() != ir::DType::kFloat) {
    return quoted + " is " + std::string(ir::dtype_name(init->tensor.dtype())) + ", not float32";
  }
  if (init->tensor.numel() == 0) return quoted + " is empty";
  return check ? check(node, *init) : std::string();
}

}  // namespace

namespace {

/// Adds the candidate layers inside `body` (and its own subgraphs) to `skipped`: passes rewrite
/// the main graph only, and the ledger must not lose a layer silently.
void skip_subgraph_layers(const onnx::GraphProto& body, const std::string& where,
                          std::vector<pass::SkippedNode>& skipped) {
  for (const auto& n : body.node()) {
    const bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    const std::string label =
        !n.name().empty() ? n.name() : (n.output_size() > 0 ? n.output(0) : n.op_type());
    if (default_domain && (n.op_type() == "Conv" || n.op_type() == "ConvTranspose" ||
                           n.op_type() == "Gemm" || n.op_type() == "MatMul")) {
      skipped.push_back({label, "inside " + where +
                                    ": layers in If/Loop/Scan bodies are not rewritten (only the "
                                    "main graph is)"});
    }
    for (const auto& a : n.attribute()) {
      const std::string inner =
          "the '" + a.name() + "' body of " + n.op_type() + " '" + label + "' (" + where + ")";
      if (a.has_g()) skip_subgraph_layers(a.g(), inner, skipped);
      for (const auto& g : a.graphs()) skip_subgraph_layers(g, inner, skipped);
    }
  }
}

}  // namespace

LayerScan scan_weight_layers(const ir::Graph& graph, MatMulWeight matmul,
                             const WeightCheck& check) {
  LayerScan scan;
  for (size_t i = 0; i < graph.node_count(); ++i) {
    const ir::Node& node = graph.node(i);
    if (!node.has_subgraphs()) continue;
    const std::string label = pass::node_label(node);
    for (const auto& a : node.attributes) {
      if (!a.has_subgraphs()) continue;
      const std::string where =
          "the '" + a.name() + "' body of " + node.op_type + " '" + label + "'";
      if (a.proto().has_g()) skip_subgraph_layers(a.proto().g(), where, scan.skipped);
      for (const auto& g : a.proto().graphs()) skip_subgraph_layers(g, where, scan.skipped);
    }
  }
  for (size_t i = 0; i < graph.node_count(); ++i) {
    const ir::Node& node = graph.node(i);
    if (!is_candidate(node)) continue;
    std::string label = pass::node_label(node);
    if (node.op_type != "MatMul") {
      std::string problem = weight_problem(graph, node, 1, "weight", check);
      if (problem.empty()) {
        scan.layers.push_back({i, 1, std::move(label)});
      } else {
        scan.skipped.push_back({std::move(label), std::move(problem)});
      }
      continue;
    }
    std::string b_problem = weight_problem(graph, node, 1, "input B", check);
    if (b_problem.empty()) {
      scan.layers.push_back({i, 1, std::move(label)});
      continue;
    }
    if (matmul == MatMulWeight::kBOnly) {
      scan.skipped.push_back({std::move(label), std::move(b_problem)});
      continue;
    }
    std::string a_problem = weight_problem(graph, node, 0, "input A", check);
    if (a_problem.empty()) {
      scan.layers.push_back({i, 0, std::move(label)});
    } else {
      scan.skipped.push_back(
          {std::move(label), "neither input is a usable weight: " + a_problem + "; " + b_problem});
    }
  }
  return scan;
}

std::vector<std::string> layer_labels(const std::vector<WeightLayer>& layers) {
  std::vector<std::string> labels;
  labels.reserve(layers.size());
  for (const auto& layer : layers) labels.push_back(layer.label);
  return labels;
}

std::vector<std::string> split_node_labels(const std::string& text) {
  std::vector<std::string> labels;
  size_t start = 0;
  while (start <= text.size()) {
    size_t bar = text.find('|', start);
    if (bar == std::string::npos) bar = text.size();
    if (bar > start) labels.push_back(text.substr(start, bar - start));
    start = bar + 1;
  }
  return labels;
}

StatusOr<std::vector<WeightLayer>> select_layers(const LayerScan& scan,
                                                 const std::vector<std::string>& labels,
                                                 const std::string& pass_name) {
  if (labels.empty()) return scan.layers;
  std::set<std::string> wanted(labels.begin(), labels.end());
  for (const std::string& label : wanted) {
    bool found = false;
    for (const auto& layer : scan.layers) found = found || layer.label == label;
    if (found) continue;
    std::string message = pass_name + ": option 'nodes': '" + label + "' is not an eligible layer";
    for (const auto& skipped : scan.skipped) {
      if (skipped.node == label) {
        message += " (" + skipped.reason + ")";
        break;
      }
    }
    constexpr size_t kShown = 5;
    if (scan.layers.empty()) {
      message += "; the model has no eligible layers";
    } else {
      message += "; eligible: ";
      for (size_t i = 0; i < scan.layers.size() && i < kShown; ++i) {
        message += (i ? ", '" : "'") + scan.layers[i].label + "'";
      }
      if (scan.layers.size() > kShown) {
        message += " and " + std::to_string(scan.layers.size() - kShown) + " more";
      }
    }
    return invalid_argument(message);
  }
  std::vector<WeightLayer> selected;
  for (const auto& layer : scan.layers) {
    if (wanted.count(layer.label)) selected.push_back(layer);
  }
  return selected;
}

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    if (nl > start) out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

/// Whether `pattern` names the layer: its label, its op type, or a regex on the whole label.
bool matches(const std::string& pattern, const std::string& label, const std::string& op_type) {
  if (pattern == label || pattern == op_type) return true;
  try {
    return std::regex_match(label, std::regex(pattern, std::regex::ECMAScript));
  } catch (const std::regex_error&) {
    return false;  // validated by parse_layer_filter
  }
}

}  // namespace

StatusOr<LayerFilter> parse_layer_filter(const std::string& pass_name, const std::string& include,
                                         const std::string& exclude) {
  LayerFilter filter{split_lines(include), split_lines(exclude)};
  for (const auto* list : {&filter.include, &filter.exclude}) {
    for (const auto& pattern : *list) {
      try {
        std::regex re(pattern, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return invalid_argument(pass_name + ": " +
                                (list == &filter.include ? "--include" : "--exclude") + " '" +
                                pattern + "' is not a valid regular expression: " + e.what());
      }
    }
  }
  return filter;
}

StatusOr<LayerFilter> parse_layer_filter(const std::string& pass_name,
                                         const pass::PassOptions& options) {
  auto get = [&](const char* key) {
    auto it = options.find(key);
    return it == options.end() ? std::string() : it->second;
  };
  return parse_layer_filter(pass_name, get("include"), get("exclude"));
}

std::vector<pass::PassOptionInfo> with_layer_selection_options(
    std::vector<pass::PassOptionInfo> own) {
  own.push_back(
      {"nodes", "", "'|'-separated node labels to quantize (default: every eligible layer)."});
  own.push_back({"include", "",
                 "Patterns, one per line: quantize only matching layers (name, op type, or regex "
                 "on the name)."});
  own.push_back({"exclude", "", "Patterns, one per line: leave matching layers in float."});
  return own;
}

StatusOr<std::vector<WeightLayer>> filter_layers(const ir::Graph& graph,
                                                 std::vector<WeightLayer> layers,
                                                 const LayerFilter& filter,
                                                 const std::string& pass_name,
                                                 std::vector<pass::SkippedNode>& skipped) {
  for (const auto& pattern : filter.include) {
    bool any = false;
    for (const auto& layer : layers) {
      any = any || matches(pattern, layer.label, graph.node(layer.node).op_type);
    }
    if (!any) {
      return invalid_argument(pass_name + ": --include '" + pattern +
                              "' matches no layer the pass can rewrite (a node name, an op "
                              "type, or a regular expression on the name)");
    }
  }
  std::vector<WeightLayer> kept;
  for (auto& layer : layers) {
    const std::string& op = graph.node(layer.node).op_type;
    std::string why;
    if (!filter.include.empty()) {
      bool in = false;
      for (const auto& p : filter.include) in = in || matches(p, layer.label, op);
      if (!in) why = "not matched by --include";
    }
    for (const auto& p : filter.exclude) {
      if (why.empty() && matches(p, layer.label, op)) why = "excluded by --exclude '" + p + "'";
    }
    if (why.empty()) {
      kept.push_back(std::move(layer));
    } else {
      skipped.push_back({layer.label, why});
    }
  }
  return kept;
}

StatusOr<bool> parse_bool_option(const std::string& pass_name, const std::string& option,
                                 const std::string& value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  return invalid_argument(pass_name + ": option '" + option + "' must be true or false, got '" +
                          value + "'");
}

StatusOr<double> parse_number_option(const std::string& pass_name, const std::string& option,
                                     const std::string& value) {
  const char* begin = value.c_str();
  char* end = nullptr;
  const double parsed = value.empty() ? 0.0 : std::strtod(begin, &end);
  if (value.empty() || end != begin + value.size() || !std::isfinite(parsed)) {
    return invalid_argument(pass_name + ": option '" + option + "' must be a number, got '" +
                            value + "'");
  }
  return parsed;
}

NameGenerator::NameGenerator(const ir::Graph& graph) : values_(graph.defined_values()) {
  for (const auto& node : graph.nodes()) {
    values_.insert(node->inputs.begin(), node->inputs.end());
    if (node->has_subgraphs()) {
      std::set<std::string> reads = ir::subgraph_outer_reads(*node);
      values_.insert(reads.begin(), reads.end());
    }
    if (!node->name.empty()) nodes_.insert(node->name);
  }
}

std::string NameGenerator::fresh(std::set<std::string>& used, const std::string& hint) {
  std::string name = hint;
  for (int k = 1; used.count(name); ++k) name = hint + "_" + std::to_string(k);
  used.insert(name);
  return name;
}

StatusOr<std::vector<std::pair<std::string, double>>> parse_group_ratios(
    const std::string& pass_name, const std::string& text) {
  std::vector<std::pair<std::string, double>> out;
  for (const std::string& entry : split_node_labels(text)) {
    const size_t eq = entry.rfind('=');
    if (eq == std::string::npos || eq == 0) {
      return invalid_argument(
          pass_name + ": option 'group_ratios' wants LABEL=RATIO entries, got '" + entry + "'");
    }
    const std::string label = entry.substr(0, eq), value = entry.substr(eq + 1);
    COMPRESSOR_ASSIGN_OR_RETURN(double v, parse_number_option(pass_name, "group_ratios", value));
    if (!(v >= 0.0 && v < 1.0)) {
      return invalid_argument(pass_name + ": option 'group_ratios': the ratio of '" + label +
                              "' must be in [0, 1), got '" + value + "'");
    }
    out.emplace_back(label, v);
  }
  return out;
}

}  // namespace compressor::passes
