// prune-channels: structured pruning. Removes whole output channels of Conv layers (and output
// units of Gemm/MatMul layers with a constant weight) together with the matching input slices of
// every reader, so tensors, parameters and MACs really shrink.
//
// Before:  X -> Conv(64) -> BN -> Relu -> Conv(64 -> 128)
// After:   X -> Conv(45) -> BN(45) -> Relu -> Conv(45 -> 128)      (ratio = 0.3)
//
// Coupled channels (residual branches, Concat/Split, depthwise Conv, flatten into a Gemm) form one
// group with one keep-set (see channel_groups.h); a group that reaches anything not understood is
// left byte-identical and reported with the reason.
//
// Scoring: each producer p of a group scores its channels (l1 or l2 norm of the channel's weights,
// |gamma| of the BatchNormalization right after it, or the mean |x| of its output on calibration
// samples), divided by the mean of its own scores, so every producer weighs the same whatever its
// fan-in; the group score of channel c is the sum over producers. Per group (per piece between
// Split cuts), floor(ratio * n) channels are removed, the kept count is rounded up to a multiple
// of round_to (at most n) and raised to min_channels (at most n); the highest scores are kept,
// ties keep the lower channel index, and NaN counts as the highest score.
//
// reconstruct=true: every Conv (group 1), Gemm and MatMul that loses input channels gets its
// remaining weights re-fitted by least squares against the Gram of its original inputs on the
// calibration samples (see channel_reconstruct.h), so its output stays as close to the original
// as the kept inputs allow. It needs calibration samples: a layer that loses inputs and has no
// Gram is an error naming it. The report gives, per layer, the output error of plain slicing and
// of the re-fit, as a fraction of the layer's original output energy on those samples.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "../pass_util.h"
#include "../weight_layers.h"
#include "channel_groups.h"
#include "channel_reconstruct.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"

namespace compressor::passes {
namespace {

constexpr const char* kName = "prune-channels";

enum class Criterion { kL1, kL2, kBnScale, kActivation };

struct Options {
  double ratio = 0.3;
  /// Per-group ratios by producer label (option group_ratios), in the order given.
  std::vector<std::pair<std::string, double>> group_ratios;
  int64_t round_to = 1;
  int64_t min_channels = 1;
  Criterion criterion = Criterion::kL1;
  bool reconstruct = false;
  std::vector<std::string> nodes;
  LayerFilter filter;
};

// Per-output-channel norm of a producer's weight.
std::vector<double> weight_scores(const ir::Node& node, const ir::Tensor& w, bool l2) {
  const auto v = w.span<float>();
  const auto& d = w.dims();
  std::vector<double> s;
  auto add = [&](size_t c, float x) { s[c] += l2 ? double(x) * x : std::fabs(double(x)); };
  if (node.op_type == "Conv") {
    s.assign(static_cast<size_t>(d[0]), 0.0);
    const size_t per = v.size() / static_cast<size_t>(d[0]);
    for (size_t i = 0; i < v.size(); ++i) add(i / per, v[i]);
  } else {
    const bool by_row = node.op_type == "Gemm" && node.attr_int("transB", 0) != 0;
    const size_t rows = static_cast<size_t>(d[0]), cols = static_cast<size_t>(d[1]);
    s.assign(by_row ? rows : cols, 0.0);
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < cols; ++c) add(by_row ? r : c, v[r * cols + c]);
    }
  }
  if (l2) {
    for (double& x : s) x = std::sqrt(x);
  }
  return s;
}

// Kept channels (ascending) of a piece of `n` channels starting at `begin`.
void choose(const std::vector<double>& score, int64_t begin, int64_t n, double ratio,
            const Options& o, std::vector<int64_t>& kept) {
  const int64_t removed = std::min<int64_t>(
      n, static_cast<int64_t>(std::floor(ratio * double(n) * (1.0 + 4 * DBL_EPSILON))));
  int64_t keep = n - removed;
  keep = std::min(n, (keep + o.round_to - 1) / o.round_to * o.round_to);
  keep = std::max(keep, std::min(o.min_channels, n));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), begin);
  auto key = [&](int64_t c) {
    const double v = score[static_cast<size_t>(c)];
    return std::isnan(v) ? INFINITY : v;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return key(a) > key(b); });
  order.resize(static_cast<size_t>(keep));
  std::sort(order.begin(), order.end());
  kept.insert(kept.end(), order.begin(), order.end());
}

class PruneChannels : public pass::Pass {
 public:
  explicit PruneChannels(Options o) : o_(std::move(o)) {}
  const pass::PassInfo& info() const override;

  // Pruning one producer also rewrites its readers, so the pass does not work one layer at a
  // time in the sense of per-layer sensitivity (which requires every other node untouched): it
  // lists no layers. `nodes`, `include` and `exclude` still restrict the producers.
  std::vector<std::string> eligible_nodes(const ir::Model&) const override { return {}; }

  std::vector<pass::ChannelRequest> channel_statistics(const ir::Model& model) const override {
    if (o_.criterion != Criterion::kActivation) return {};
    std::vector<pass::ChannelRequest> out;
    for (const auto& l : scan_weight_layers(model.graph, MatMulWeight::kBOnly).layers) {
      const ir::Node& n = model.graph.node(l.node);
      if (n.op_type == "ConvTranspose") continue;
      out.push_back({n.outputs[0], n.op_type == "Conv" ? 1 : -1, true});
    }
    return out;
  }

  // With reconstruct: the Grams of every layer that may lose input channels (whatever the
  // scores pick, so the request depends on the graph and options only).
  std::vector<pass::GramRequest> gram_statistics(const ir::Model& model) const override {
    if (!o_.reconstruct) return {};
    auto prepared = prepare(model);
    if (!prepared.ok()) return {};  // run() reports the problem
    std::vector<pass::GramRequest> out;
    for (const auto& r : reduction_readers(model.graph, prepared->analysis)) {
      out.push_back({pass::node_label(model.graph.node(r.node))});
    }
    return out;
  }

  StatusOr<std::vector<pass::ChannelGroupInfo>> channel_groups(
      const ir::Model& model) const override {
    COMPRESSOR_ASSIGN_OR_RETURN(Prepared p, prepare(model));
    std::vector<pass::ChannelGroupInfo> out;
    for (int r : p.analysis.roots()) {
      const ChannelGroup& g = p.analysis.groups[static_cast<size_t>(r)];
      if (g.refused) continue;
      pass::ChannelGroupInfo info;
      info.channels = g.size;
      for (size_t n : g.producers) info.producers.push_back(pass::node_label(model.graph.node(n)));
      out.push_back(std::move(info));
    }
    return out;
  }

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override;

 private:
  // The selected layers, the layers skipped on the way, and the channel groups they start.
  struct Prepared {
    std::vector<WeightLayer> layers;
    std::vector<pass::SkippedNode> skipped;
    ChannelAnalysis analysis;
  };
  StatusOr<Prepared> prepare(const ir::Model& model) const {
    Prepared p;
    const LayerScan scan = scan_weight_layers(model.graph, MatMulWeight::kBOnly);
    COMPRESSOR_ASSIGN_OR_RETURN(p.layers, select_layers(scan, o_.nodes, kName));
    if (o_.nodes.empty()) p.skipped = scan.skipped;
    COMPRESSOR_ASSIGN_OR_RETURN(
        p.layers, filter_layers(model.graph, std::move(p.layers), o_.filter, kName, p.skipped));
    std::set<size_t> allowed;
    for (const auto& l : p.layers) allowed.insert(l.node);
    COMPRESSOR_ASSIGN_OR_RETURN(p.analysis, analyze_channel_groups(model, allowed));
    return p;
  }

  // The ratio of each root group named in group_ratios; a label that starts no prunable group,
  // or two labels of one group with different ratios, is an error naming the label.
  StatusOr<std::map<int, double>> group_ratios(const ir::Graph& graph,
                                               const ChannelAnalysis& analysis) const {
    std::map<int, double> out;
    if (o_.group_ratios.empty()) return out;
    std::map<std::string, int> root_of;
    for (int r : analysis.roots()) {
      for (size_t p : analysis.groups[static_cast<size_t>(r)].producers) {
        root_of[pass::node_label(graph.node(p))] = r;
      }
    }
    std::map<int, std::string> named_by;
    for (const auto& [label, ratio] : o_.group_ratios) {
      auto it = root_of.find(label);
      if (it == root_of.end()) {
        return invalid_argument(std::string(kName) + ": option 'group_ratios': '" + label +
                                "' is not a layer that starts a channel group");
      }
      const ChannelGroup& g = analysis.groups[static_cast<size_t>(it->second)];
      if (g.refused) {
        return invalid_argument(std::string(kName) +
                                ": option 'group_ratios': the channel group of '" + label +
                                "' cannot be pruned: " + g.reason);
      }
      auto [at, inserted] = out.emplace(it->second, ratio);
      if (!inserted && at->second != ratio) {
        return invalid_argument(std::string(kName) + ": option 'group_ratios': '" + label +
                                "' and '" + named_by[it->second] +
                                "' are in one channel group but have different ratios");
      }
      named_by.emplace(it->second, label);
    }
    return out;
  }

  // Group score per channel, or why the group cannot be scored.
  std::string score(const ir::Graph& graph, const ir::UseDefIndex& index, const ChannelGroup& g,
                    const pass::CalibrationTable* table, std::vector<double>& out) const {
    out.assign(static_cast<size_t>(g.size), 0.0);
    size_t used = 0;
    for (size_t p : g.producers) {
      const ir::Node& node = graph.node(p);
      std::vector<double> s;
      if (o_.criterion == Criterion::kL1 || o_.criterion == Criterion::kL2) {
        s = weight_scores(node, graph.find_initializer(node.inputs[1])->tensor,
                          o_.criterion == Criterion::kL2);
      } else if (o_.criterion == Criterion::kBnScale) {
        const std::string& y = node.outputs[0];
        auto it = index.consumers.find(y);
        if (it == index.consumers.end() || it->second.size() != 1) continue;
        const ir::Node& bn = graph.node(it->second[0]);
        if (bn.op_type != "BatchNormalization" || bn.inputs[0] != y) continue;
        for (float v : graph.find_initializer(bn.inputs[1])->tensor.span<float>()) {
          s.push_back(std::fabs(double(v)));
        }
      } else {
        const pass::ChannelStats* st = table ? table->find_channels(node.outputs[0]) : nullptr;
        if (st == nullptr || st->abs_mean.size() != static_cast<size_t>(g.size)) {
          return "no per-channel statistics for '" + node.outputs[0] +
                 "' (calibrate with sample data)";
        }
        s = st->abs_mean;
      }
      if (s.size() != static_cast<size_t>(g.size)) continue;
      double mean = 0;
      for (double v : s) mean += v;
      mean /= double(s.size());
      if (!(mean > 0) || !std::isfinite(mean)) mean = 1;
      for (size_t c = 0; c < s.size(); ++c) out[c] += s[c] / mean;
      ++used;
    }
    if (used == 0) return "no BatchNormalization right after any producer (criterion bn_scale)";
    return {};
  }

  Options o_;
};

// A fraction of the output energy, 3 significant digits ("0.412", "3.1e-09").
std::string share(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

std::string plural(size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

StatusOr<pass::PassResult> PruneChannels::run(ir::Model& model, pass::PassContext& ctx) {
  ir::Graph& graph = model.graph;
  pass::PassResult result;
  COMPRESSOR_ASSIGN_OR_RETURN(Prepared prepared, prepare(model));
  const std::vector<WeightLayer>& layers = prepared.layers;
  std::vector<pass::SkippedNode>& skipped = prepared.skipped;
  const ChannelAnalysis& analysis = prepared.analysis;
  using Ratios = std::map<int, double>;
  COMPRESSOR_ASSIGN_OR_RETURN(const Ratios ratios, group_ratios(graph, analysis));

  // Selected layers that start no group.
  std::set<size_t> producers;
  for (int r : analysis.roots()) {
    for (size_t p : analysis.groups[static_cast<size_t>(r)].producers) producers.insert(p);
  }
  for (const auto& l : layers) {
    if (producers.count(l.node)) continue;
    const ir::Node& n = graph.node(l.node);
    std::string why = n.op_type + " output channels are not prunable here";
    if (n.op_type == "Conv" && n.attr_int("group", 1) != 1) {
      why = "grouped Conv (group=" + std::to_string(n.attr_int("group", 1)) +
            "): its output channels follow its input channels";
    } else if (n.op_type == "ConvTranspose") {
      why = "ConvTranspose output channels are not pruned";
    } else if (n.op_type == "Gemm" || n.op_type == "MatMul") {
      why = n.op_type + " weight or bias shape is not a plain matrix/vector";
    }
    skipped.push_back({l.label, why});
  }

  const ir::UseDefIndex index = graph.index();
  const pass::CalibrationTable* table = ctx.calibration();
  ChannelKeep keep;
  std::map<int, std::string> refused;  // root -> reason
  int64_t channels_before = 0, channels_after = 0;
  for (int r : analysis.roots()) {
    const ChannelGroup& g = analysis.groups[static_cast<size_t>(r)];
    if (g.refused) {
      refused[r] = g.reason;
      continue;
    }
    std::vector<double> s;
    if (std::string why = score(graph, index, g, table, s); !why.empty()) {
      refused[r] = why;
      continue;
    }
    std::vector<int64_t> kept;
    int64_t begin = 0;
    std::vector<int64_t> ends(g.cuts.begin(), g.cuts.end());
    ends.push_back(g.size);
    auto given = ratios.find(r);
    const double ratio = given != ratios.end() ? given->second : o_.ratio;
    for (int64_t end : ends) {
      choose(s, begin, end - begin, ratio, o_, kept);
      begin = end;
    }
    channels_before += g.size;
    channels_after += static_cast<int64_t>(kept.size());
    if (static_cast<int64_t>(kept.size()) < g.size) keep[r] = std::move(kept);
  }

  // Re-fit the full-width weights of the layers losing inputs; apply_channel_keep slices them.
  std::vector<ReconstructedLayer> refits;
  if (o_.reconstruct && !keep.empty()) {
    COMPRESSOR_ASSIGN_OR_RETURN(refits, reconstruct_readers(model, analysis, keep, table, kName));
  }

  uint64_t params_before = 0;
  for (const auto& init : graph.initializers()) params_before += uint64_t(init.tensor.numel());
  COMPRESSOR_ASSIGN_OR_RETURN(std::set<size_t> changed, apply_channel_keep(model, analysis, keep));
  uint64_t params_after = 0;
  for (const auto& init : graph.initializers()) params_after += uint64_t(init.tensor.numel());
  result.nodes_changed = changed.size();

  // The ledger: every producer candidate once, in `changes` when its node changed.
  std::set<size_t> reported;
  for (int r : analysis.roots()) {
    const ChannelGroup& g = analysis.groups[static_cast<size_t>(r)];
    auto kit = keep.find(r);
    for (size_t p : g.producers) {
      const std::string label = pass::node_label(graph.node(p));
      reported.insert(p);
      if (kit != keep.end()) {
        result.changes.push_back(
            {label, std::to_string(g.size) + " → " + std::to_string(kit->second.size()) +
                        " channels, group of " + plural(g.producers.size(), "layer") + " and " +
                        plural(g.members.size(), "node")});
        continue;
      }
      auto rit = refused.find(r);
      const std::string why =
          rit != refused.end() ? rit->second : "the ratio removes no channel of the group";
      if (changed.count(p)) {
        result.changes.push_back(
            {label, "input channels pruned; own output channels kept: " + why});
      } else {
        result.skipped.push_back({label, why});
      }
    }
  }
  for (auto& s : skipped) {
    bool node_changed = false;
    for (size_t i : changed)
      node_changed = node_changed || pass::node_label(graph.node(i)) == s.node;
    if (node_changed) {
      result.changes.push_back(
          {s.node, "input channels pruned; own output channels kept: " + s.reason});
    } else {
      result.skipped.push_back(std::move(s));
    }
  }
  for (size_t i : changed) {
    if (reported.count(i)) continue;
    const ir::Node& n = graph.node(i);
    if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") {
      bool listed = false;
      for (const auto& c : result.changes) listed = listed || c.node == pass::node_label(n);
      if (!listed) result.changes.push_back({pass::node_label(n), "input channels pruned"});
    }
  }
  // What the re-fit did, on the layer's ledger entry.
  size_t refitted = 0;
  double sum_before = 0, sum_after = 0;
  for (const auto& l : refits) {
    std::string text;
    if (l.refitted) {
      ++refitted;
      sum_before += l.before;
      sum_after += l.after;
      text = "re-fitted on " + with_commas(table->samples) + " samples (" + with_commas(l.rows) +
             " rows): output error " + share(l.before) + " → " + share(l.after) +
             " of the original output energy";
    } else {
      text = "not re-fitted (" + l.reason + "): output error " + share(l.before);
    }
    const std::string label = pass::node_label(graph.node(l.node));
    bool found = false;
    for (auto& c : result.changes) {
      if (c.node != label) continue;
      c.detail += "; " + text;
      found = true;
      break;
    }
    if (!found) result.changes.push_back({label, "input channels pruned; " + text});
  }
  // The ledger in graph order.
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < graph.node_count(); ++i)
    position.emplace(pass::node_label(graph.node(i)), i);
  auto at = [&](const std::string& label) {
    auto it = position.find(label);
    return it == position.end() ? graph.node_count() : it->second;
  };
  std::stable_sort(result.changes.begin(), result.changes.end(),
                   [&](const auto& a, const auto& b) { return at(a.node) < at(b.node); });
  std::stable_sort(result.skipped.begin(), result.skipped.end(),
                   [&](const auto& a, const auto& b) { return at(a.node) < at(b.node); });
  if (!analysis.groups.empty()) {
    result.notes.push_back("removed " + with_commas(uint64_t(channels_before - channels_after)) +
                           " of " + with_commas(uint64_t(channels_before)) + " channels in " +
                           plural(keep.size(), "group") + " (" + plural(refused.size(), "group") +
                           " left unpruned); parameters " + with_commas(params_before) + " → " +
                           with_commas(params_after));
  }
  if (!refits.empty()) {
    std::string note = "reconstruct: re-fitted " + plural(refitted, "layer") + " of " +
                       std::to_string(refits.size()) + " losing inputs by least squares on " +
                       plural(size_t(table->samples), "sample");
    if (refitted > 0) {
      note += "; mean output error " + share(sum_before / double(refitted)) + " → " +
              share(sum_after / double(refitted));
    }
    result.notes.push_back(note);
  }
  return result;
}

}  // namespace

const pass::PassInfo& prune_channels_info() {
  static const pass::PassInfo info{
      kName,
      "Removes whole output channels of Conv, Gemm and MatMul layers and the matching inputs of "
      "every reader (dependency-aware structured pruning).",
      with_layer_selection_options(
          {{"ratio", "0.3", "Fraction of each channel group removed, in [0, 1)."},
           {"criterion", "l1", "Channel score: l1, l2, bn_scale or activation."},
           {"group_ratios", "",
            "Per-group ratios: '|'-separated LABEL=RATIO, LABEL the node label of any layer that "
            "starts the group (sets the whole group's ratio); other groups use 'ratio'."},
           {"round_to", "1", "Keep a multiple of this many channels per group (piece)."},
           {"min_channels", "1", "Never keep fewer channels than this per group (piece)."},
           {"reconstruct", "false",
            "Re-fit the layers that lose input channels by least squares on calibration samples "
            "(needs samples)."}})};
  return info;
}

const pass::PassInfo& PruneChannels::info() const { return prune_channels_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_prune_channels(const pass::PassOptions& options) {
  Options o;
  if (auto it = options.find("ratio"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(o.ratio, parse_number_option(kName, "ratio", it->second));
    if (!(o.ratio >= 0.0 && o.ratio < 1.0)) {
      return invalid_argument(std::string(kName) + ": option 'ratio' must be in [0, 1), got '" +
                              it->second + "'");
    }
  }
  for (const char* key : {"round_to", "min_channels"}) {
    auto it = options.find(key);
    if (it == options.end()) continue;
    COMPRESSOR_ASSIGN_OR_RETURN(double v, parse_number_option(kName, key, it->second));
    if (!(v >= 1.0 && v <= 1e9 && v == std::floor(v))) {
      return invalid_argument(std::string(kName) + ": option '" + key +
                              "' must be a whole number >= 1, got '" + it->second + "'");
    }
    (std::string(key) == "round_to" ? o.round_to : o.min_channels) = static_cast<int64_t>(v);
  }
  if (auto it = options.find("criterion"); it != options.end()) {
    const std::string& c = it->second;
    if (c == "l1") {
      o.criterion = Criterion::kL1;
    } else if (c == "l2") {
      o.criterion = Criterion::kL2;
    } else if (c == "bn_scale") {
      o.criterion = Criterion::kBnScale;
    } else if (c == "activation") {
      o.criterion = Criterion::kActivation;
    } else {
      return invalid_argument(std::string(kName) +
                              ": option 'criterion' must be l1, l2, "
                              "bn_scale or activation, got '" +
                              c + "'");
    }
  }
  if (auto it = options.find("reconstruct"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(o.reconstruct, parse_bool_option(kName, "reconstruct", it->second));
  }
  if (auto it = options.find("group_ratios"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(o.group_ratios, parse_group_ratios(kName, it->second));
  }
  if (auto it = options.find("nodes"); it != options.end()) o.nodes = split_node_labels(it->second);
  COMPRESSOR_ASSIGN_OR_RETURN(o.filter, parse_layer_filter(kName, options));
  return std::unique_ptr<pass::Pass>(new PruneChannels(std::move(o)));
}

}  // namespace compressor::passes
