// smooth-quant: SmoothQuant (Xiao et al. 2023) moves the outliers of a layer's input channels
// into its weight, so that the input quantizes well with one scale per tensor.
//
// For Y = X W with a constant weight W [K, N], per input channel j:
//   s_j = max|X_j|^alpha / max|W_j,:|^(1 - alpha),   X' = X / s,   W' = diag(s) W,
// so X' W' = X W in exact arithmetic. max|X_j| comes from calibration (per-channel statistics of
// X along its last axis). Channels where either maximum is 0 keep s_j = 1; s is clamped to
// [1e-5, 1e5].
//
// Before:  X -> MatMul(X, Wq) -> q,  MatMul(X, Wk) -> k,  MatMul(X, Wv) -> v
// After:   X -> Mul(X, inv_s) -> X_smoothed -> MatMul(X_smoothed, Wq') -> q, ... (Wk', Wv')
//
// Layers: MatMul with a constant float32 2-D B, and Gemm with a constant float32 B and transA=0
// (with transB=1 the K axis of B is its axis 1). Layers reading the same X form one group with
// one s, taken over all their weights (the maxima of W_j over every N column of every weight).
//
// Where X / s goes: when X is the output of a LayerNormalization whose Scale (and Bias) are
// constant and per last-axis channel, and every reader of X is in the group, 1/s is folded into
// Scale and Bias and no node is added. Otherwise one Mul(X, inv_s) node feeds the group (other
// readers of X keep reading X); with `nodes` it is always a Mul, so that the selected layers
// alone change. Weights, Scale and Bias read by anyone else are copied under a
// fresh name; otherwise they are rewritten in place.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "../pass_util.h"
#include "../weight_layers.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"

namespace compressor::passes {
namespace {

constexpr const char* kName = "smooth-quant";
constexpr double kMinScale = 1e-5;
constexpr double kMaxScale = 1e5;

struct Options {
  double alpha = 0.5;
  std::vector<std::string> nodes;
  LayerFilter filter;
};

std::string fmt(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), spec, v);
  return buf;
}

// Input rows of the weight (its K), for a layer scan_layers accepted.
int64_t weight_rows(const ir::Node& node, const ir::Tensor& w) {
  const bool trans_b = node.op_type == "Gemm" && node.attr_int("transB", 0) != 0;
  return w.dims()[trans_b ? 1 : 0];
}

// Empty when `node` (MatMul or Gemm) is a layer this pass can smooth, else why not.
std::string layer_problem(const ir::Graph& graph, const ir::Node& node) {
  if (node.op_type == "Gemm" && node.attr_int("transA", 0) != 0) {
    return "transA=1 (the input's channels are not its last axis)";
  }
  if (node.inputs.size() < 2 || node.inputs[1].empty()) return "input B is missing";
  const std::string& b = node.inputs[1];
  const std::string quoted = "weight '" + b + "'";
  if (graph.is_graph_input(b)) {
    return quoted + " is a graph input (a caller can override it), not a constant initializer";
  }
  const ir::Initializer* init = constant_input(graph, b);
  if (init == nullptr) return quoted + " is computed by the graph, not a constant initializer";
  const ir::Tensor& w = init->tensor;
  if (w.dtype() != ir::DType::kFloat) {
    return quoted + " is " + std::string(ir::dtype_name(w.dtype())) + ", not float32";
  }
  if (w.rank() != 2) return quoted + " is not 2-D (shape " + ir::dims_to_string(w.dims()) + ")";
  if (w.numel() == 0) return quoted + " is empty";
  const auto v = w.span<float>();
  if (!std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); })) {
    return quoted + " has non-finite values";
  }
  const std::string& x = node.inputs[0];
  if (x.empty()) return "input A is missing";
  if (graph.find_initializer(x) != nullptr && !graph.is_graph_input(x)) {
    return "input '" + x + "' is a constant initializer, not an activation";
  }
  return {};
}

// MatMul and Gemm nodes of the default domain: the layers this pass can smooth, and the others
// with the reason.
LayerScan scan_layers(const ir::Graph& graph) {
  LayerScan scan;
  for (size_t i = 0; i < graph.node_count(); ++i) {
    const ir::Node& node = graph.node(i);
    if (!node.in_default_domain() || (node.op_type != "MatMul" && node.op_type != "Gemm")) {
      continue;
    }
    std::string label = pass::node_label(node);
    std::string problem = layer_problem(graph, node);
    if (problem.empty()) {
      scan.layers.push_back({i, 1, std::move(label)});
    } else {
      scan.skipped.push_back({std::move(label), std::move(problem)});
    }
  }
  return scan;
}

// Layers reading the same activation, in graph order of their first layer.
struct Group {
  std::string x;
  std::vector<WeightLayer> layers;
};

std::vector<Group> group_layers(const ir::Graph& graph, const std::vector<WeightLayer>& layers) {
  std::vector<Group> groups;
  std::map<std::string, size_t> at;
  for (const WeightLayer& layer : layers) {
    const std::string& x = graph.node(layer.node).inputs[0];
    auto [it, added] = at.try_emplace(x, groups.size());
    if (added) groups.push_back({x, {}});
    groups[it->second].layers.push_back(layer);
  }
  return groups;
}

// max / median of `v` (0 when the median is 0).
double max_over_median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return median > 0 ? v.back() / median : 0.0;
}

std::string ratio_text(double r) { return r > 0 ? fmt("%.3g", r) : std::string("n/a"); }

// A LayerNormalization Scale or Bias that 1/s can be folded into: a constant float32 tensor
// holding one value per last-axis channel (dims [.., 1, K]) or a single value.
bool foldable_affine(const ir::Graph& graph, const std::string& name, int64_t k) {
  const ir::Initializer* init = constant_input(graph, name);
  if (init == nullptr || init->tensor.dtype() != ir::DType::kFloat) return false;
  const ir::Tensor& t = init->tensor;
  if (t.numel() == 1) return true;
  if (t.rank() == 0 || t.dims().back() != k || t.numel() != k) return false;
  const auto v = t.span<float>();
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// Constant inputs that X / s folds into: (node, input slot) pairs, and how to say where.
struct Fold {
  std::vector<std::pair<size_t, size_t>> params;
  std::string where;
  size_t producer = 0;  ///< The node writing x.
};

// Where 1/s can be folded when `x` is read by `members` alone: the Scale and Bias of the
// LayerNormalization writing x, or the scale and shift of a decomposed layer norm's tail
// (x = Add(Mul(y, gamma), beta), the Mul read by the Add alone), when they are per channel.
std::optional<Fold> fold_target(const ir::Graph& graph, const ir::UseDefIndex& index,
                                const std::string& x, const std::set<size_t>& members, int64_t k) {
  auto p = index.producer.find(x);
  if (p == index.producer.end() || index.escapes(x)) return std::nullopt;
  for (size_t c : index.consumers.at(x)) {
    if (!members.count(c)) return std::nullopt;
  }
  const ir::Node& n = graph.node(p->second);
  if (!n.in_default_domain() || n.outputs.empty() || n.outputs[0] != x) return std::nullopt;
  if (n.op_type == "LayerNormalization" && n.inputs.size() >= 2 &&
      foldable_affine(graph, n.inputs[1], k)) {
    Fold fold{{{p->second, 1}}, "LayerNormalization '" + pass::node_label(n) + "'", p->second};
    if (n.inputs.size() >= 3 && !n.inputs[2].empty()) {
      if (!foldable_affine(graph, n.inputs[2], k)) return std::nullopt;
      fold.params.push_back({p->second, 2});
    }
    return fold;
  }
  if (n.op_type != "Add" || n.inputs.size() != 2) return std::nullopt;
  for (size_t shift = 0; shift < 2; ++shift) {
    const std::string& t = n.inputs[1 - shift];
    if (!foldable_affine(graph, n.inputs[shift], k) || !has_single_use(index, t)) continue;
    auto m = index.producer.find(t);
    if (m == index.producer.end()) continue;
    const ir::Node& mul = graph.node(m->second);
    if (!mul.in_default_domain() || mul.op_type != "Mul" || mul.inputs.size() != 2) continue;
    for (size_t scale = 0; scale < 2; ++scale) {
      if (!foldable_affine(graph, mul.inputs[scale], k) ||
          constant_input(graph, mul.inputs[1 - scale]) != nullptr) {
        continue;
      }
      return Fold{{{m->second, scale}, {p->second, shift}},
                  "Mul '" + pass::node_label(mul) + "' and Add '" + pass::node_label(n) +
                      "' (a layer norm's scale and shift)",
                  p->second};
    }
  }
  return std::nullopt;
}

class SmoothQuant : public pass::Pass {
 public:
  explicit SmoothQuant(Options options) : options_(std::move(options)) {}

  const pass::PassInfo& info() const override;

  std::vector<std::string> eligible_nodes(const ir::Model& model) const override {
    return layer_labels(scan_layers(model.graph).layers);
  }

  // Every eligible layer's input, regardless of `nodes`/`include`/`exclude`, so that one table
  // serves runs with any selection.
  std::vector<pass::ChannelRequest> channel_statistics(const ir::Model& model) const override {
    const ir::Graph& graph = model.graph;
    std::vector<pass::ChannelRequest> requests;
    for (const Group& g : group_layers(graph, scan_layers(graph).layers)) {
      bool all_gemm = true;
      for (const auto& l : g.layers) all_gemm = all_gemm && graph.node(l.node).op_type == "Gemm";
      requests.push_back({g.x, all_gemm ? 1 : -1});
    }
    return requests;
  }

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override;

 private:
  Options options_;
};

StatusOr<pass::PassResult> SmoothQuant::run(ir::Model& model, pass::PassContext& ctx) {
  ir::Graph& graph = model.graph;
  pass::PassResult result;
  const LayerScan scan = scan_layers(graph);
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<WeightLayer> layers,
                              select_layers(scan, options_.nodes, kName));
  if (options_.nodes.empty()) result.skipped = scan.skipped;
  COMPRESSOR_ASSIGN_OR_RETURN(
      layers, filter_layers(graph, std::move(layers), options_.filter, kName, result.skipped));
  if (layers.empty()) return result;

  const pass::CalibrationTable* table = ctx.calibration();
  const ir::UseDefIndex index = graph.index();
  const int64_t opset = model.opset_version("");
  NameGenerator names(graph);
  std::vector<std::pair<size_t, ir::Node>> inserts;  // (position, node), in graph order
  std::set<std::string> replaced;                    // initializers possibly left unread

  // Stores `values` (shaped like initializer `name`) for input `slot` of the nodes `readers`:
  // in place when only those nodes read `name`, else under a fresh name they then read.
  auto store = [&](const std::string& name, const std::vector<float>& values,
                   const std::set<size_t>& readers, size_t slot) {
    const ir::Initializer* init = graph.find_initializer(name);
    ir::Tensor t =
        ir::Tensor::from_values<float>(init->tensor.dims(), std::span<const float>(values));
    bool only_readers = !index.escapes(name) && !graph.is_graph_input(name);
    if (auto c = index.consumers.find(name); c != index.consumers.end()) {
      for (size_t n : c->second) only_readers = only_readers && readers.count(n) > 0;
    }
    if (only_readers) {
      ir::Initializer updated = *init;
      updated.tensor = std::move(t);
      graph.set_initializer(std::move(updated));
      return;
    }
    const std::string fresh = names.value(name + "_smoothed");
    graph.set_initializer({fresh, std::move(t), nullptr});
    for (size_t n : readers) graph.node(n).inputs[slot] = fresh;
    replaced.insert(name);
  };

  for (Group& group : group_layers(graph, layers)) {
    const pass::ChannelStats* stats = table ? table->find_channels(group.x) : nullptr;
    if (stats == nullptr) {
      for (const auto& l : group.layers) {
        result.skipped.push_back({l.label, "no per-channel statistics for input '" + group.x +
                                               "' (calibrate with sample data)"});
      }
      continue;
    }
    const size_t k = stats->abs_max.size();
    std::erase_if(group.layers, [&](const WeightLayer& l) {
      const ir::Node& node = graph.node(l.node);
      const int64_t rows = weight_rows(node, graph.find_initializer(node.inputs[1])->tensor);
      if (rows == static_cast<int64_t>(k)) return false;
      result.skipped.push_back({l.label, "weight '" + node.inputs[1] + "' has " +
                                             std::to_string(rows) + " input rows but '" + group.x +
                                             "' has " + std::to_string(k) + " channels"});
      return true;
    });
    if (group.layers.empty()) continue;

    // Where X / s goes: the scale and shift of a layer norm read by the group alone, or a new
    // Mul. With `nodes` (one layer at a time) the scaling stays local to the selected layers.
    std::optional<Fold> fold;
    if (options_.nodes.empty()) {
      std::set<size_t> members;
      for (const auto& l : group.layers) members.insert(l.node);
      fold = fold_target(graph, index, group.x, members, static_cast<int64_t>(k));
    }
    if (!fold && opset < 7) {
      for (const auto& l : group.layers) {
        result.skipped.push_back({l.label, "scaling input '" + group.x +
                                               "' needs Mul broadcasting (opset 7); the "
                                               "model imports opset " +
                                               std::to_string(opset)});
      }
      continue;
    }

    // s from the definition, over every weight of the group.
    std::vector<double> w_max(k, 0.0);
    for (const auto& l : group.layers) {
      const ir::Node& node = graph.node(l.node);
      const ir::Tensor& w = graph.find_initializer(node.inputs[1])->tensor;
      const bool trans_b = node.op_type == "Gemm" && node.attr_int("transB", 0) != 0;
      const auto v = w.span<float>();
      const size_t cols = static_cast<size_t>(w.dims()[1]);
      for (size_t i = 0; i < v.size(); ++i) {
        const size_t j = trans_b ? i % cols : i / cols;
        w_max[j] = std::max(w_max[j], double(std::fabs(v[i])));
      }
    }
    const double alpha = options_.alpha;
    std::vector<float> s(k), inv_s(k);
    std::vector<double> after(k);
    for (size_t j = 0; j < k; ++j) {
      const double a = stats->abs_max[j];
      double sj = 1.0;
      if (a > 0 && w_max[j] > 0 && std::isfinite(a)) {
        sj = std::pow(a, alpha) / std::pow(w_max[j], 1.0 - alpha);
        sj = std::isfinite(sj) ? std::clamp(sj, kMinScale, kMaxScale) : 1.0;
      }
      s[j] = static_cast<float>(sj);
      inv_s[j] = static_cast<float>(1.0 / double(s[j]));
      after[j] = a * double(inv_s[j]);
    }

    // Weights: W'[j, :] = s_j W[j, :] (W'[:, j] with transB=1); one copy per weight.
    std::map<std::string, std::set<size_t>> by_weight;
    for (const auto& l : group.layers) by_weight[graph.node(l.node).inputs[1]].insert(l.node);
    for (const auto& [weight, readers] : by_weight) {
      const ir::Node& node = graph.node(*readers.begin());
      const ir::Tensor& w = graph.find_initializer(weight)->tensor;
      const bool trans_b = node.op_type == "Gemm" && node.attr_int("transB", 0) != 0;
      const auto v = w.span<float>();
      const size_t cols = static_cast<size_t>(w.dims()[1]);
      std::vector<float> scaled(v.size());
      for (size_t i = 0; i < v.size(); ++i) scaled[i] = v[i] * s[trans_b ? i % cols : i / cols];
      // A weight read by MatMul and by Gemm with transB=1 alike has different K axes.
      bool same_axis = true;
      for (size_t r : readers) {
        const ir::Node& o = graph.node(r);
        same_axis = same_axis && (o.op_type == "Gemm" && o.attr_int("transB", 0) != 0) == trans_b;
      }
      if (same_axis) {
        store(weight, scaled, readers, 1);
      } else {
        for (size_t r : readers) {
          const ir::Node& o = graph.node(r);
          const bool tb = o.op_type == "Gemm" && o.attr_int("transB", 0) != 0;
          std::vector<float> own(v.size());
          for (size_t i = 0; i < v.size(); ++i) own[i] = v[i] * s[tb ? i % cols : i / cols];
          store(weight, own, {r}, 1);
        }
      }
    }

    std::string label;
    for (const auto& l : group.layers) label += (label.empty() ? "" : ",") + l.label;
    std::string detail = std::to_string(k) + " channels, activation max/median " +
                         ratio_text(max_over_median(stats->abs_max)) + " -> " +
                         ratio_text(max_over_median(after)) + ", ";
    if (fold) {
      for (const auto& [ni, slot] : fold->params) {
        const std::string name = graph.node(ni).inputs[slot];
        const auto v = graph.find_initializer(name)->tensor.span<float>();
        std::vector<float> folded(k);
        for (size_t j = 0; j < k; ++j) folded[j] = v[v.size() == 1 ? 0 : j] * inv_s[j];
        if (v.size() == k) {
          store(name, folded, {ni}, slot);
        } else {
          const std::string fresh = names.value(name + "_smoothed");
          graph.set_initializer({fresh,
                                 ir::Tensor::from_values<float>({static_cast<int64_t>(k)},
                                                                std::span<const float>(folded)),
                                 nullptr});
          graph.node(ni).inputs[slot] = fresh;
          replaced.insert(name);
        }
      }
      // X's values change, so it gets a new name: a calibration table holding statistics of X
      // from before smoothing (this pass's own) must not be read as those of the result.
      const std::string smoothed = names.value(group.x + "_smoothed");
      graph.node(fold->producer).outputs[0] = smoothed;
      for (const auto& l : group.layers) graph.node(l.node).inputs[0] = smoothed;
      detail += "folded into " + fold->where;
    } else {
      const std::string scale = names.value(group.x + "_smooth_scale");
      const std::string smoothed = names.value(group.x + "_smoothed");
      graph.set_initializer(
          {scale,
           ir::Tensor::from_values<float>({static_cast<int64_t>(k)}, std::span<const float>(inv_s)),
           nullptr});
      ir::Node mul;
      mul.op_type = "Mul";
      mul.name = names.node(group.x + "_smooth");
      mul.inputs = {group.x, scale};
      mul.outputs = {smoothed};
      for (const auto& l : group.layers) graph.node(l.node).inputs[0] = smoothed;
      inserts.emplace_back(group.layers.front().node, std::move(mul));
      detail += "Mul '" + inserts.back().second.name + "' inserted";
    }
    result.changes.push_back({group.x + " -> " + label, detail});
    result.nodes_changed += group.layers.size();
  }

  // Groups are in graph order of their first layer, so positions only grow: insert from the back.
  std::stable_sort(inserts.begin(), inserts.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = inserts.size(); i-- > 0;) {
    graph.insert_node(inserts[i].first, std::move(inserts[i].second));
  }
  const ir::UseDefIndex now = graph.index();
  graph.remove_initializers_if([&](const ir::Initializer& init) {
    return replaced.count(init.name) && now.consumer_count(init.name) == 0 &&
           !now.escapes(init.name) && !graph.is_graph_input(init.name);
  });
  prune_value_info(graph);
  return result;
}

}  // namespace

const pass::PassInfo& smooth_quant_info() {
  static const pass::PassInfo info{
      kName,
      "SmoothQuant: move per-channel outliers of MatMul/Gemm inputs into the weights (needs "
      "calibration), so that the inputs quantize well per tensor.",
      with_layer_selection_options(
          {{"alpha", "0.5",
            "Migration strength in [0, 1]: s = max|X|^alpha / max|W|^(1 - alpha)."}})};
  return info;
}

const pass::PassInfo& SmoothQuant::info() const { return smooth_quant_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_smooth_quant(const pass::PassOptions& options) {
  Options o;
  if (auto it = options.find("alpha"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(o.alpha, parse_number_option(kName, "alpha", it->second));
    if (o.alpha < 0.0 || o.alpha > 1.0) {
      return invalid_argument(std::string(kName) + ": option 'alpha' must be in [0, 1], got '" +
                              it->second + "'");
    }
  }
  if (auto it = options.find("nodes"); it != options.end()) o.nodes = split_node_labels(it->second);
  COMPRESSOR_ASSIGN_OR_RETURN(o.filter, parse_layer_filter(kName, options));
  return std::unique_ptr<pass::Pass>(new SmoothQuant(std::move(o)));
}

}  // namespace compressor::passes
