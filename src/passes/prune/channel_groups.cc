// Channel groups: the dependency analysis behind structured pruning (see channel_groups.h).
#include "channel_groups.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>

#include "../pass_util.h"
#include "compressor/io/onnx_io.h"
#include "compressor/pass/pass.h"

namespace compressor::passes {

int64_t ChannelLayout::channels() const {
  int64_t n = 0;
  for (const auto& s : slices) n += s.size;
  return n;
}

int ChannelAnalysis::root(int group) const {
  while (group >= 0 && parent[static_cast<size_t>(group)] != group) {
    group = parent[static_cast<size_t>(group)];
  }
  return group;
}

std::vector<int> ChannelAnalysis::roots() const {
  std::vector<int> out;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (root(static_cast<int>(g)) == static_cast<int>(g)) out.push_back(static_cast<int>(g));
  }
  return out;
}

namespace {

const std::set<std::string> kUnary = {"Relu",
                                      "Clip",
                                      "Sigmoid",
                                      "HardSigmoid",
                                      "HardSwish",
                                      "LeakyRelu",
                                      "Tanh",
                                      "Identity",
                                      "Dropout",
                                      "Elu",
                                      "Selu",
                                      "Softplus",
                                      "Softsign",
                                      "Neg",
                                      "Abs",
                                      "Erf",
                                      "Sqrt",
                                      "Exp",
                                      "Log",
                                      "Reciprocal",
                                      "Cast",
                                      "Mish",
                                      "ThresholdedRelu",
                                      "Celu",
                                      "Gelu"};
const std::set<std::string> kBinary = {"Add", "Sub", "Mul", "Div", "PRelu"};
const std::set<std::string> kPool = {"MaxPool",       "AveragePool", "GlobalAveragePool",
                                     "GlobalMaxPool", "LpPool",      "GlobalLpPool"};

bool is_float32(const ir::Initializer* init) {
  return init != nullptr && init->tensor.dtype() == ir::DType::kFloat;
}

class Analyzer {
 public:
  Analyzer(const ir::Model& model, const std::set<size_t>& allowed)
      : model_(model), graph_(model.graph), index_(graph_.index()), allowed_(allowed) {}

  StatusOr<ChannelAnalysis> run() {
    auto inferred = io::infer_value_info(model_);
    if (inferred.ok()) {
      for (const auto& vi : *inferred) {
        if (vi.has_shape()) shapes_[vi.name()] = vi.shape();
      }
    }
    for (const auto& vi : graph_.inputs) {
      if (vi.has_shape()) shapes_.emplace(vi.name(), vi.shape());
    }
    for (const auto& vi : graph_.value_info) {
      if (vi.has_shape()) shapes_.emplace(vi.name(), vi.shape());
    }
    for (size_t i = 0; i < graph_.node_count(); ++i) visit(i);
    for (const auto& [value, layout] : a_.value_layout) {
      if (index_.graph_outputs.count(value)) {
        refuse(layout, "channels reach the graph output '" + value + "'");
      } else if (index_.subgraph_reads.count(value)) {
        refuse(layout, "channels are read inside a subgraph ('" + value + "')");
      }
    }
    return std::move(a_);
  }

 private:
  // --- shapes -------------------------------------------------------------------------------
  int64_t rank_of(const std::string& value) const {
    if (const ir::Initializer* init = graph_.find_initializer(value)) return init->tensor.rank();
    auto it = shapes_.find(value);
    return it == shapes_.end() ? -1 : static_cast<int64_t>(it->second.size());
  }
  // Dim `axis` of a value, or -1 when unknown.
  int64_t dim_of(const std::string& value, int64_t axis) const {
    if (const ir::Initializer* init = graph_.find_initializer(value)) {
      return axis >= 0 && axis < init->tensor.rank()
                 ? init->tensor.dims()[static_cast<size_t>(axis)]
                 : -1;
    }
    auto it = shapes_.find(value);
    if (it == shapes_.end() || axis < 0 || axis >= static_cast<int64_t>(it->second.size())) {
      return -1;
    }
    const auto& d = it->second[static_cast<size_t>(axis)];
    return d.value ? *d.value : -1;
  }

  // --- groups -------------------------------------------------------------------------------
  int new_group(int64_t size, size_t node) {
    const int g = static_cast<int>(a_.groups.size());
    ChannelGroup group;
    group.size = size;
    group.producers.push_back(node);
    group.members.push_back(node);
    a_.groups.push_back(std::move(group));
    a_.parent.push_back(g);
    return g;
  }
  ChannelGroup& root_group(int g) { return a_.groups[static_cast<size_t>(a_.root(g))]; }

  void refuse_group(int g, const std::string& reason) {
    ChannelGroup& group = root_group(g);
    if (group.refused) return;
    group.refused = true;
    group.reason = reason;
  }
  void refuse(size_t layout, const std::string& reason) {
    for (const auto& s : a_.layouts[layout].slices) {
      if (s.group >= 0) refuse_group(s.group, reason);
    }
  }
  void unite(int x, int y) {
    x = a_.root(x);
    y = a_.root(y);
    if (x == y) return;
    if (y < x) std::swap(x, y);  // the earlier group stays the root
    ChannelGroup& gx = a_.groups[static_cast<size_t>(x)];
    ChannelGroup& gy = a_.groups[static_cast<size_t>(y)];
    a_.parent[static_cast<size_t>(y)] = x;
    for (size_t p : gy.producers) gx.producers.push_back(p);
    for (size_t m : gy.members) gx.members.push_back(m);
    std::sort(gx.producers.begin(), gx.producers.end());
    std::sort(gx.members.begin(), gx.members.end());
    gx.members.erase(std::unique(gx.members.begin(), gx.members.end()), gx.members.end());
    gx.cuts.insert(gy.cuts.begin(), gy.cuts.end());
    if (gy.refused && !gx.refused) {
      gx.refused = true;
      gx.reason = gy.reason;
    }
  }
  void add_member(size_t layout, size_t node) {
    for (const auto& s : a_.layouts[layout].slices) {
      if (s.group < 0) continue;
      auto& members = root_group(s.group).members;
      if (std::find(members.begin(), members.end(), node) == members.end()) {
        members.push_back(node);
        std::sort(members.begin(), members.end());
      }
    }
  }
  size_t add_layout(ChannelLayout layout) {
    a_.layouts.push_back(std::move(layout));
    return a_.layouts.size() - 1;
  }

  // Why initializer `name` (input of node `node`) cannot be sliced; empty when it can.
  std::string edit_problem(const std::string& name) const {
    const ir::Initializer* init = constant_input(graph_, name);
    if (init == nullptr) return "'" + name + "' is not a constant initializer";
    if (ir::traits(init->tensor.dtype()).bits % 8 != 0 ||
        init->tensor.dtype() == ir::DType::kString) {
      return "'" + name + "' has an element type that cannot be sliced";
    }
    if (index_.consumer_count(name) != 1 || index_.escapes(name)) {
      return "initializer '" + name + "' is also read elsewhere";
    }
    return {};
  }
  void add_edit(const std::string& name, int64_t axis, size_t layout, size_t node) {
    a_.edits.push_back({name, axis, layout, node});
  }

  // --- producers ----------------------------------------------------------------------------
  // Output channels and the weight/bias axes holding them, when node `i` can start a group.
  struct ProducerPlan {
    int64_t channels = 0;
    int64_t rank = 0;
    std::vector<std::pair<std::string, int64_t>> edits;  // (initializer, axis)
  };
  std::optional<ProducerPlan> producer_plan(const ir::Node& node) const {
    if (!node.in_default_domain() || node.inputs.size() < 2) return std::nullopt;
    const ir::Initializer* w = constant_input(graph_, node.inputs[1]);
    if (!is_float32(w)) return std::nullopt;
    const ir::Tensor& wt = w->tensor;
    const ir::Initializer* b = node.inputs.size() > 2 && !node.inputs[2].empty()
                                   ? constant_input(graph_, node.inputs[2])
                                   : nullptr;
    const bool has_bias = node.inputs.size() > 2 && !node.inputs[2].empty();
    if (has_bias && !is_float32(b)) return std::nullopt;
    ProducerPlan plan;
    if (node.op_type == "Conv") {
      if (node.attr_int("group", 1) != 1 || wt.rank() < 3) return std::nullopt;
      plan.channels = wt.dims()[0];
      plan.rank = wt.rank();
      plan.edits.push_back({node.inputs[1], 0});
      if (has_bias) {
        if (b->tensor.rank() != 1 || b->tensor.dims()[0] != plan.channels) return std::nullopt;
        plan.edits.push_back({node.inputs[2], 0});
      }
      return plan;
    }
    if (node.op_type == "Gemm") {
      if (wt.rank() != 2) return std::nullopt;
      const bool trans_b = node.attr_int("transB", 0) != 0;
      plan.channels = wt.dims()[trans_b ? 0 : 1];
      plan.rank = 2;
      plan.edits.push_back({node.inputs[1], trans_b ? 0 : 1});
      if (has_bias && b->tensor.numel() != 1) {
        const auto& d = b->tensor.dims();
        if (d.empty() || d.back() != plan.channels || b->tensor.numel() != plan.channels) {
          return std::nullopt;
        }
        plan.edits.push_back({node.inputs[2], b->tensor.rank() - 1});
      }
      return plan;
    }
    if (node.op_type == "MatMul" && node.inputs.size() == 2) {
      const int64_t a_rank = rank_of(node.inputs[0]);
      if (wt.rank() != 2 || a_rank < 2) return std::nullopt;
      plan.channels = wt.dims()[1];
      plan.rank = a_rank;
      plan.edits.push_back({node.inputs[1], 1});
      return plan;
    }
    return std::nullopt;
  }

  void start_group(size_t i) {
    const ir::Node& node = graph_.node(i);
    auto plan = producer_plan(node);
    if (!plan || node.outputs.empty() || node.outputs[0].empty()) return;
    const int g = new_group(plan->channels, i);
    const size_t layout = add_layout(
        {plan->rank, node.op_type == "Conv" ? 1 : plan->rank - 1, 1, {{g, 0, plan->channels}}});
    for (const auto& [name, axis] : plan->edits) {
      if (std::string p = edit_problem(name); !p.empty())
        refuse_group(g, pass::node_label(node) + ": " + p);
      add_edit(name, axis, layout, i);
    }
    a_.value_layout[node.outputs[0]] = layout;
  }

  // --- the walk -----------------------------------------------------------------------------
  void visit(size_t i) {
    const ir::Node& node = graph_.node(i);
    std::vector<std::pair<size_t, size_t>> ins;  // (slot, layout)
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      auto it = a_.value_layout.find(node.inputs[k]);
      if (it != a_.value_layout.end()) ins.push_back({k, it->second});
    }
    if (ins.empty()) {
      if (allowed_.count(i)) start_group(i);
      return;
    }
    for (const auto& [slot, layout] : ins) add_member(layout, i);
    std::string problem = handle(i, node, ins);
    if (!problem.empty()) {
      for (const auto& [slot, layout] : ins) {
        refuse(layout, "reaches " + node.label() + ": " + problem);
      }
    }
    if (allowed_.count(i) &&
        (node.op_type == "Conv" || node.op_type == "Gemm" || node.op_type == "MatMul")) {
      start_group(i);
    }
  }

  // Output k is unused (no reader, not a graph output, not read by a subgraph).
  bool unused(const ir::Node& node, size_t k) const {
    return k >= node.outputs.size() || node.outputs[k].empty() ||
           (index_.consumer_count(node.outputs[k]) == 0 && !index_.escapes(node.outputs[k]));
  }
  bool only_slot0(const std::vector<std::pair<size_t, size_t>>& ins) const {
    return ins.size() == 1 && ins[0].first == 0;
  }
  void pass_through(const ir::Node& node, size_t layout) {
    if (!node.outputs.empty() && !node.outputs[0].empty())
      a_.value_layout[node.outputs[0]] = layout;
  }

  std::string handle(size_t i, const ir::Node& node,
                     const std::vector<std::pair<size_t, size_t>>& ins) {
    if (!node.in_default_domain())
      return "operator of domain '" + node.domain + "' is not understood";
    if (node.has_subgraphs()) return "nodes with subgraphs are not understood";
    const std::string& op = node.op_type;
    const size_t l0 = ins[0].second;
    const ChannelLayout L = a_.layouts[l0];
    if (kUnary.count(op)) {
      if (!only_slot0(ins)) return "channels feed a parameter input";
      for (size_t k = 1; k < node.outputs.size(); ++k) {
        if (!unused(node, k)) return "its extra outputs are used";
      }
      pass_through(node, l0);
      return {};
    }
    if (op == "BatchNormalization") {
      if (!only_slot0(ins) || L.axis != 1 || L.block != 1) return "channels are not on axis 1";
      if (node.attr_int("training_mode", 0) != 0) return "training mode";
      for (size_t k = 1; k < node.outputs.size(); ++k) {
        if (!unused(node, k)) return "its statistics outputs are used";
      }
      if (node.inputs.size() < 5) return "missing parameters";
      for (size_t k = 1; k < 5; ++k) {
        if (std::string p = edit_problem(node.inputs[k]); !p.empty()) return p;
        if (graph_.find_initializer(node.inputs[k])->tensor.numel() != L.channels()) {
          return "parameter '" + node.inputs[k] + "' is not per channel";
        }
      }
      for (size_t k = 1; k < 5; ++k) add_edit(node.inputs[k], 0, l0, i);
      pass_through(node, l0);
      return {};
    }
    if (kPool.count(op)) {
      if (!only_slot0(ins) || L.axis != 1 || L.block != 1) return "channels are not on axis 1";
      for (size_t k = 1; k < node.outputs.size(); ++k) {
        if (!unused(node, k)) return "its indices output is used";
      }
      pass_through(node, l0);
      return {};
    }
    if (op == "Resize" || op == "Upsample") {
      if (!only_slot0(ins) || L.axis != 1 || L.block != 1) return "channels are not on axis 1";
      const size_t scales_slot = op == "Upsample" ? 1 : 2;
      if (op == "Resize" && node.inputs.size() > 3 && !node.inputs[3].empty()) {
        return "explicit output sizes are not rewritten";
      }
      if (node.inputs.size() > scales_slot && !node.inputs[scales_slot].empty()) {
        const ir::Initializer* s = constant_input(graph_, node.inputs[scales_slot]);
        if (s == nullptr || s->tensor.dtype() != ir::DType::kFloat || s->tensor.numel() != L.rank ||
            s->tensor.span<float>()[1] != 1.0f) {
          return "scales are not constant with 1 on the channel axis";
        }
      } else if (op == "Upsample" && node.attribute("scales") == nullptr) {
        return "scales are missing";
      } else if (op == "Upsample") {
        const auto sc = node.attribute("scales")->floats();
        if (sc.size() != static_cast<size_t>(L.rank) || sc[1] != 1.0f) {
          return "scales are not 1 on the channel axis";
        }
      }
      pass_through(node, l0);
      return {};
    }
    if (kBinary.count(op)) return handle_binary(i, node, ins);
    if (op == "Concat") return handle_concat(node, ins);
    if (op == "Split") return handle_split(i, node, ins);
    if (op == "Conv") {
      if (!only_slot0(ins)) return "channels feed the weight or bias";
      if (L.axis != 1 || L.block != 1) return "channels are not on axis 1";
      if (node.inputs.size() < 2) return "weight is missing";
      const ir::Initializer* w = constant_input(graph_, node.inputs[1]);
      if (!is_float32(w) || w->tensor.rank() < 3)
        return "weight is not a constant float32 initializer";
      if (std::string p = edit_problem(node.inputs[1]); !p.empty()) return p;
      const int64_t group = node.attr_int("group", 1);
      const int64_t c = L.channels();
      if (group == 1) {
        if (w->tensor.dims()[1] != c) return "weight input channels differ from the input";
        add_edit(node.inputs[1], 1, l0, i);
        return {};
      }
      if (group != c || w->tensor.dims()[0] != c || w->tensor.dims()[1] != 1) {
        return "grouped Conv (group=" + std::to_string(group) + ") ties channels across groups";
      }
      add_edit(node.inputs[1], 0, l0, i);
      if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
        if (std::string p = edit_problem(node.inputs[2]); !p.empty()) return p;
        add_edit(node.inputs[2], 0, l0, i);
      }
      a_.node_edits.push_back({NodeEdit::Kind::kGroupAttribute, i, {l0}});
      pass_through(node, l0);
      return {};
    }
    if (op == "ConvTranspose") {
      if (!only_slot0(ins)) return "channels feed the weight or bias";
      if (L.axis != 1 || L.block != 1) return "channels are not on axis 1";
      if (node.attr_int("group", 1) != 1) return "grouped ConvTranspose";
      const ir::Initializer* w =
          node.inputs.size() > 1 ? constant_input(graph_, node.inputs[1]) : nullptr;
      if (!is_float32(w) || w->tensor.rank() < 3) {
        return "weight is not a constant float32 initializer";
      }
      if (std::string p = edit_problem(node.inputs[1]); !p.empty()) return p;
      if (w->tensor.dims()[0] != L.channels()) return "weight input channels differ from the input";
      add_edit(node.inputs[1], 0, l0, i);
      return {};
    }
    if (op == "Pad") {
      if (!only_slot0(ins)) return "channels feed the pads";
      std::vector<int64_t> pads;
      if (node.inputs.size() > 3 && !node.inputs[3].empty()) return "explicit axes are not handled";
      if (node.inputs.size() > 1 && !node.inputs[1].empty()) {
        const ir::Initializer* t = constant_input(graph_, node.inputs[1]);
        if (t == nullptr || t->tensor.dtype() != ir::DType::kInt64) return "pads are not constant";
        pads.assign(t->tensor.span<int64_t>().begin(), t->tensor.span<int64_t>().end());
      } else {
        pads = node.attr_ints("pads");
      }
      if (static_cast<int64_t>(pads.size()) != 2 * L.rank ||
          pads[static_cast<size_t>(L.axis)] != 0 ||
          pads[static_cast<size_t>(L.axis + L.rank)] != 0) {
        return "pads the channel axis";
      }
      pass_through(node, l0);
      return {};
    }
    if (op == "Gemm" || op == "MatMul") {
      if (!only_slot0(ins)) return "channels feed input B";
      if (op == "Gemm" && (L.rank != 2 || L.axis != 1 || node.attr_int("transA", 0) != 0)) {
        return "channels are not the columns of input A";
      }
      if (op == "MatMul" && L.axis != L.rank - 1) return "channels are not the last axis of A";
      if (node.inputs.size() < 2) return "input B is missing";
      const ir::Initializer* w = constant_input(graph_, node.inputs[1]);
      if (!is_float32(w) || w->tensor.rank() != 2)
        return "input B is not a constant float32 matrix";
      if (std::string p = edit_problem(node.inputs[1]); !p.empty()) return p;
      const int64_t axis = op == "Gemm" && node.attr_int("transB", 0) != 0 ? 1 : 0;
      if (w->tensor.dims()[static_cast<size_t>(axis)] != L.channels() * L.block) {
        return "weight rows differ from the input features";
      }
      add_edit(node.inputs[1], axis, l0, i);
      return {};
    }
    if (op == "Flatten" || op == "Reshape") return handle_flatten(i, node, ins);
    return "operator " + op + " is not understood";
  }

  std::string handle_binary(size_t i, const ir::Node& node,
                            const std::vector<std::pair<size_t, size_t>>& ins) {
    if (node.inputs.size() != 2) return "expects two inputs";
    int64_t out_rank = std::max(rank_of(node.inputs[0]), rank_of(node.inputs[1]));
    for (const auto& [slot, l] : ins) out_rank = std::max(out_rank, a_.layouts[l].rank);
    const ChannelLayout L = a_.layouts[ins[0].second];
    const int64_t from_end = L.rank - L.axis;
    if (ins.size() == 2) {
      const ChannelLayout& M = a_.layouts[ins[1].second];
      if (M.rank - M.axis != from_end || M.block != L.block) {
        return "its inputs have their channels on different axes";
      }
      bool same = L.slices.size() == M.slices.size();
      for (size_t s = 0; same && s < L.slices.size(); ++s) {
        const auto &x = L.slices[s], &y = M.slices[s];
        same = a_.root(x.group) == a_.root(y.group) && x.start == y.start && x.size == y.size;
      }
      if (!same) {
        const bool whole = L.slices.size() == 1 && M.slices.size() == 1 && L.slices[0].group >= 0 &&
                           M.slices[0].group >= 0 && L.slices[0].start == 0 &&
                           M.slices[0].start == 0 &&
                           L.slices[0].size == root_group(L.slices[0].group).size &&
                           M.slices[0].size == root_group(M.slices[0].group).size &&
                           L.slices[0].size == M.slices[0].size;
        if (!whole) return "joins tensors whose channels come from different slices";
        unite(L.slices[0].group, M.slices[0].group);
      }
    } else {
      const size_t other_slot = ins[0].first == 0 ? 1 : 0;
      const std::string& other = node.inputs[other_slot];
      const int64_t r = rank_of(other);
      if (r < 0) return "the shape of '" + other + "' is unknown";
      const int64_t pos = r - from_end;
      const int64_t d = pos < 0 ? 1 : dim_of(other, pos);
      const ir::Initializer* c = constant_input(graph_, other);
      if (d != 1) {
        if (c == nullptr) {
          return "joins '" + other + "', whose channels are not in a pruned group";
        }
        if (d != L.channels() * L.block) return "constant '" + other + "' is not per channel";
        if (std::string p = edit_problem(other); !p.empty()) return p;
        add_edit(other, pos, ins[0].second, i);
      }
    }
    ChannelLayout out = L;
    out.rank = out_rank;
    out.axis = out_rank - from_end;
    pass_through(node, add_layout(std::move(out)));
    return {};
  }

  std::string handle_concat(const ir::Node& node,
                            const std::vector<std::pair<size_t, size_t>>& ins) {
    const ChannelLayout& L = a_.layouts[ins[0].second];
    int64_t axis = node.attr_int("axis", 1);
    if (axis < 0) axis += L.rank;
    if (axis != L.axis) return "concatenates along another axis than the channels";
    ChannelLayout out{L.rank, L.axis, 1, {}};
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      auto it = a_.value_layout.find(node.inputs[k]);
      if (it != a_.value_layout.end()) {
        const ChannelLayout& M = a_.layouts[it->second];
        if (M.block != 1 || M.axis != L.axis || M.rank != L.rank) return "inputs differ in layout";
        out.slices.insert(out.slices.end(), M.slices.begin(), M.slices.end());
        continue;
      }
      const int64_t d = dim_of(node.inputs[k], axis);
      if (d < 0) return "the channel count of '" + node.inputs[k] + "' is unknown";
      out.slices.push_back({-1, 0, d});
    }
    pass_through(node, add_layout(std::move(out)));
    return {};
  }

  std::string handle_split(size_t i, const ir::Node& node,
                           const std::vector<std::pair<size_t, size_t>>& ins) {
    if (!only_slot0(ins)) return "channels feed the split sizes";
    const ChannelLayout L = a_.layouts[ins[0].second];
    if (L.block != 1) return "splits flattened channels";
    int64_t axis = node.attr_int("axis", 0);
    if (axis < 0) axis += L.rank;
    if (axis != L.axis) return "splits along another axis than the channels";
    const int64_t c = L.channels();
    std::vector<int64_t> sizes;
    if (node.inputs.size() > 1 && !node.inputs[1].empty()) {
      if (std::string p = edit_problem(node.inputs[1]); !p.empty()) return "split sizes " + p;
      const ir::Tensor& t = graph_.find_initializer(node.inputs[1])->tensor;
      if (t.dtype() != ir::DType::kInt64) return "split sizes are not int64";
      sizes.assign(t.span<int64_t>().begin(), t.span<int64_t>().end());
    } else if (node.attribute("split") != nullptr) {
      sizes = node.attr_ints("split");
    } else {
      const int64_t n = static_cast<int64_t>(node.outputs.size());
      if (n == 0 || c % n != 0) return "uneven implicit split";
      sizes.assign(static_cast<size_t>(n), c / n);
    }
    if (sizes.size() != node.outputs.size()) return "split sizes do not match the outputs";
    if (std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) != c) {
      return "split sizes do not add up to the channels";
    }
    NodeEdit edit{NodeEdit::Kind::kSplitSizes, i, {}};
    int64_t begin = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
      const int64_t end = begin + sizes[k];
      ChannelLayout out{L.rank, L.axis, 1, {}};
      int64_t off = 0;
      for (const auto& s : L.slices) {
        const int64_t lo = std::max(begin, off), hi = std::min(end, off + s.size);
        if (lo < hi) {
          out.slices.push_back({s.group, s.start + (lo - off), hi - lo});
          if (s.group >= 0) {
            if (lo > off) root_group(s.group).cuts.insert(s.start + (lo - off));
            if (hi < off + s.size) root_group(s.group).cuts.insert(s.start + (hi - off));
          }
        }
        off += s.size;
      }
      const size_t l = add_layout(std::move(out));
      edit.layouts.push_back(l);
      if (!node.outputs[k].empty()) a_.value_layout[node.outputs[k]] = l;
      begin = end;
    }
    a_.node_edits.push_back(std::move(edit));
    return {};
  }

  std::string handle_flatten(size_t i, const ir::Node& node,
                             const std::vector<std::pair<size_t, size_t>>& ins) {
    if (!only_slot0(ins)) return "channels feed the shape";
    const ChannelLayout& L = a_.layouts[ins[0].second];
    const std::string& x = node.inputs[0];
    int64_t inner = 1;
    for (int64_t d = L.axis + 1; d < L.rank; ++d) {
      const int64_t v = dim_of(x, d);
      if (v < 0) return "the spatial size of '" + x + "' is unknown";
      inner *= v;
    }
    if (L.axis != 1) return "channels are not on axis 1";
    if (node.op_type == "Flatten") {
      if (node.attr_int("axis", 1) != 1) return "flattens at another axis than the channels";
    } else {
      if (node.inputs.size() < 2) return "shape is missing";
      const ir::Initializer* s = constant_input(graph_, node.inputs[1]);
      if (s == nullptr || s->tensor.dtype() != ir::DType::kInt64 || s->tensor.numel() != 2) {
        return "shape is not a constant [batch, features]";
      }
      const auto shape = s->tensor.span<int64_t>();
      const int64_t batch = dim_of(x, 0);
      const bool batch_ok =
          (shape[0] == 0 && node.attr_int("allowzero", 0) == 0) || (batch > 0 && shape[0] == batch);
      const int64_t features = L.channels() * L.block * inner;
      if (!batch_ok || (shape[1] != -1 && shape[1] != features)) {
        return "shape " + ir::dims_to_string({shape[0], shape[1]}) +
               " does not flatten the channels";
      }
      if (shape[1] != -1) {
        if (std::string p = edit_problem(node.inputs[1]); !p.empty()) return "shape " + p;
      }
    }
    ChannelLayout out = L;
    out.rank = 2;
    out.axis = 1;
    out.block = L.block * inner;
    const size_t l = add_layout(std::move(out));
    if (node.op_type == "Reshape") a_.node_edits.push_back({NodeEdit::Kind::kReshapeShape, i, {l}});
    pass_through(node, l);
    return {};
  }

  const ir::Model& model_;
  const ir::Graph& graph_;
  ir::UseDefIndex index_;
  const std::set<size_t>& allowed_;
  std::map<std::string, std::vector<ir::Dim>> shapes_;
  ChannelAnalysis a_;
};

// A copy of `t` keeping the positions `keep` (ascending) along `axis`.
ir::Tensor gather_axis(const ir::Tensor& t, int64_t axis, const std::vector<int64_t>& keep) {
  const auto& d = t.dims();
  const size_t esz = static_cast<size_t>(ir::traits(t.dtype()).bits / 8);
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= d[static_cast<size_t>(k)];
  for (size_t k = static_cast<size_t>(axis) + 1; k < d.size(); ++k) inner *= d[k];
  const int64_t n = d[static_cast<size_t>(axis)];
  ir::Dims nd = d;
  nd[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size());
  ir::Tensor out = ir::Tensor::uninitialized(t.dtype(), nd);
  const size_t row = static_cast<size_t>(inner) * esz;
  std::byte* dst = out.mutable_data();
  const std::byte* src = t.data();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k : keep) {
      std::memcpy(dst, src + (static_cast<size_t>(o * n + k)) * row, row);
      dst += row;
    }
  }
  return out;
}

}  // namespace

StatusOr<ChannelAnalysis> analyze_channel_groups(const ir::Model& model,
                                                 const std::set<size_t>& producers) {
  return Analyzer(model, producers).run();
}

std::vector<int64_t> layout_keep(const ChannelAnalysis& analysis, const ChannelLayout& layout,
                                 const ChannelKeep& keep) {
  std::vector<int64_t> channels;
  int64_t off = 0;
  for (const auto& s : layout.slices) {
    const int r = s.group < 0 ? -1 : analysis.root(s.group);
    auto it = r < 0 ? keep.end() : keep.find(r);
    if (it == keep.end()) {
      for (int64_t j = 0; j < s.size; ++j) channels.push_back(off + j);
    } else {
      for (int64_t idx : it->second) {
        if (idx >= s.start && idx < s.start + s.size) channels.push_back(off + idx - s.start);
      }
    }
    off += s.size;
  }
  if (layout.block == 1) return channels;
  std::vector<int64_t> out;
  out.reserve(channels.size() * static_cast<size_t>(layout.block));
  for (int64_t c : channels) {
    for (int64_t b = 0; b < layout.block; ++b) out.push_back(c * layout.block + b);
  }
  return out;
}

StatusOr<std::set<size_t>> apply_channel_keep(ir::Model& model, const ChannelAnalysis& analysis,
                                              const ChannelKeep& keep) {
  ir::Graph& graph = model.graph;
  for (const auto& [g, kept] : keep) {
    if (g < 0 || static_cast<size_t>(g) >= analysis.groups.size() || analysis.root(g) != g) {
      return invalid_argument("channel keep-set for group " + std::to_string(g) +
                              ", which is not a root group");
    }
    if (analysis.groups[static_cast<size_t>(g)].refused) {
      return invalid_argument("channel keep-set for a refused group");
    }
    for (size_t k = 0; k < kept.size(); ++k) {
      if (kept[k] < 0 || kept[k] >= analysis.groups[static_cast<size_t>(g)].size ||
          (k > 0 && kept[k] <= kept[k - 1])) {
        return invalid_argument("channel keep-set of group " + std::to_string(g) +
                                " is not ascending within the group");
      }
    }
  }
  for (const auto& [value, l] : analysis.value_layout) {
    if (layout_keep(analysis, analysis.layouts[l], keep).empty()) {
      return invalid_argument("channel keep-sets leave no channel in '" + value + "'");
    }
  }
  std::set<size_t> changed;
  for (const auto& e : analysis.edits) {
    const std::vector<int64_t> pos = layout_keep(analysis, analysis.layouts[e.layout], keep);
    ir::Initializer* init = graph.find_initializer(e.initializer);
    if (init == nullptr || e.axis >= init->tensor.rank()) {
      return internal_error("channel edit of '" + e.initializer + "' does not fit the graph");
    }
    if (static_cast<int64_t>(pos.size()) == init->tensor.dims()[static_cast<size_t>(e.axis)]) {
      continue;
    }
    init->tensor = gather_axis(init->tensor, e.axis, pos);
    changed.insert(e.node);
  }
  const int64_t opset = model.opset_version("");
  for (const auto& e : analysis.node_edits) {
    ir::Node& node = graph.node(e.node);
    std::vector<int64_t> counts;
    for (size_t l : e.layouts) {
      const ChannelLayout& layout = analysis.layouts[l];
      counts.push_back(static_cast<int64_t>(layout_keep(analysis, layout, keep).size()));
    }
    switch (e.kind) {
      case NodeEdit::Kind::kGroupAttribute:
        if (counts[0] != node.attr_int("group", 1)) {
          node.set_attribute(ir::Attribute::make_int("group", counts[0]));
          changed.insert(e.node);
        }
        break;
      case NodeEdit::Kind::kSplitSizes: {
        bool same = true;
        for (size_t k = 0; k < counts.size(); ++k) {
          same = same && counts[k] == analysis.layouts[e.layouts[k]].channels();
        }
        if (same) break;
        changed.insert(e.node);
        if (node.inputs.size() > 1 && !node.inputs[1].empty()) {
          graph.find_initializer(node.inputs[1])->tensor =
              ir::Tensor::from_values<int64_t>({static_cast<int64_t>(counts.size())}, counts);
        } else if (opset < 13) {
          node.set_attribute(ir::Attribute::make_ints("split", counts));
        } else {
          const std::string name = graph.unique_name(pass::node_label(node) + "_split");
          graph.set_initializer(
              {name,
               ir::Tensor::from_values<int64_t>({static_cast<int64_t>(counts.size())}, counts),
               nullptr});
          node.inputs.resize(2);
          node.inputs[1] = name;
          node.remove_attribute("num_outputs");
        }
        break;
      }
      case NodeEdit::Kind::kReshapeShape: {
        ir::Initializer* s = graph.find_initializer(node.inputs[1]);
        auto shape = s->tensor.span<int64_t>();
        if (shape[1] == -1 || shape[1] == counts[0]) break;
        s->tensor.mutable_span<int64_t>()[1] = counts[0];
        changed.insert(e.node);
        break;
      }
    }
  }
  // Declared shapes of values whose channel count changed are stale: drop them.
  std::set<std::string> stale;
  for (const auto& [value, l] : analysis.value_layout) {
    const ChannelLayout& layout = analysis.layouts[l];
    if (static_cast<int64_t>(layout_keep(analysis, layout, keep).size()) !=
        layout.channels() * layout.block) {
      stale.insert(value);
    }
  }
  std::erase_if(graph.value_info,
                [&](const ir::ValueInfo& vi) { return stale.count(vi.name()) > 0; });
  return changed;
}

}  // namespace compressor::passes
