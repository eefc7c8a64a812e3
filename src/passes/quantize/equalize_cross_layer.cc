// equalize-cross-layer: cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization
// Through Weight Equalization and Bias Correction"), run before per-tensor weight quantization.
// Folded-BatchNorm weights of depthwise-separable nets have output channels whose ranges differ by
// orders of magnitude, so one int8 scale per tensor wipes out the small channels. Equalization
// moves range between consecutive convolutions without changing what the model computes.
//
// Before:  X -> Conv1(W1, b1) -> [Relu | LeakyRelu | PRelu] -> Conv2(W2) -> Y
// After:   X -> Conv1(W1', b1') -> [same activation] -> Conv2(W2') -> Y   (same Y)
//
// Output channel i of Conv1 is input channel i of Conv2. With r1 = max |W1[i, ...]| and
// r2 = max |W2 weights reading channel i|, s_i = sqrt(r1 * r2) / r2, and
//   W1[i] /= s_i, b1[i] /= s_i, W2 weights reading channel i *= s_i,
// so that both ranges become sqrt(r1 * r2). A channel with r1 = 0 or r2 = 0 keeps s_i = 1. This is
// exact because the activation is positively homogeneous per channel: f(x / s) = f(x) / s for
// s > 0. Relu and LeakyRelu are; so is PRelu with any slope shape, and its slope stays as it is:
// PRelu(x / s) is x / s where x > 0 and slope * x / s elsewhere, i.e. PRelu(x) / s (the slope
// multiplies elementwise and never mixes channels). Conv2's zero padding is unaffected (0 / s = 0).
// Clip with bounds (Relu6), HardSwish, Sigmoid, BatchNormalization and the like are not
// homogeneous; such pairs are skipped with the node and op named.
//
// Conv2 may be grouped: with C = Conv1's output channels and G = Conv2's group, channel i is read
// by the filters of group i / (C / G) at weight column i mod (C / G); depthwise (G = C) is the
// case C / G = 1.
//
// Chains of three or more convolutions (conv -> depthwise -> pointwise) share the middle one, so
// every pair is equalized in graph order, repeatedly, until the largest |s_i - 1| of a sweep is
// below 1e-6 or `iterations` sweeps ran (as AIMET does). The work is done in double precision on
// copies and each weight is rounded to float once at the end.
//
// A weight or bias read by another node too is skipped (scaling it would change that node); a
// rewritten weight replaces its initializer in place. The pass does not list eligible layers:
// equalizing a pair always changes two layers, so it cannot be applied to one layer alone.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <span>
#include <utility>

#include "../pass_util.h"
#include "../weight_layers.h"

namespace compressor::passes {
namespace {

constexpr const char* kName = "equalize-cross-layer";
// Nodes between two convolutions that the search looks through (an activation, or a
// BatchNormalization and an activation, which are then reported).
constexpr size_t kMaxBetween = 2;
constexpr double kConverged = 1e-6;

bool is_conv(const ir::Node& node) { return node.in_default_domain() && node.op_type == "Conv"; }

bool is_float32(const ir::Initializer* init) {
  return init != nullptr && init->tensor.dtype() == ir::DType::kFloat;
}

bool all_finite(const ir::Tensor& t) {
  const auto v = t.span<float>();
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// Conv1 -> between... -> Conv2, by node index.
struct Chain {
  size_t conv1 = 0;
  size_t conv2 = 0;
  std::vector<size_t> between;
  std::string label;  ///< "conv1 -> conv2"
};

struct ChainScan {
  std::vector<Chain> chains;               ///< Equalizable, in graph order of Conv1.
  std::vector<pass::SkippedNode> skipped;  ///< Candidate pairs that are not, with why.
  std::set<std::string> first_convs;       ///< Labels of every candidate's Conv1.
};

// Why `value` (read by the chain) cannot be rescaled, or empty.
std::string other_readers(const ir::UseDefIndex& index, const std::string& value) {
  if (index.graph_outputs.count(value)) return "'" + value + "' is also a graph output";
  if (index.subgraph_reads.count(value)) return "'" + value + "' is also read by a subgraph";
  const size_t n = index.consumer_count(value);
  if (n != 1) return "'" + value + "' has " + std::to_string(n) + " readers";
  return {};
}

// Why `weight` of `node` cannot be rescaled, or empty.
std::string weight_problem(const ir::Graph& graph, const ir::UseDefIndex& index,
                           const ir::Node& node, const std::string& value, const char* what) {
  const ir::Initializer* init = constant_input(graph, value);
  if (!is_float32(init)) {
    return node.label() + " " + what + " '" + value + "' is not a constant float32 initializer";
  }
  if (!has_single_use(index, value)) {
    return node.label() + " " + what + " '" + value + "' is shared with other nodes";
  }
  if (!all_finite(init->tensor)) {
    return node.label() + " " + what + " '" + value + "' has non-finite values";
  }
  return {};
}

// Why the candidate cannot be equalized, or empty.
std::string chain_problem(const ir::Graph& graph, const ir::UseDefIndex& index,
                          const Chain& chain) {
  const ir::Node& conv1 = graph.node(chain.conv1);
  const ir::Node& conv2 = graph.node(chain.conv2);
  std::string value = conv1.outputs[0];
  for (size_t k : chain.between) {
    const ir::Node& act = graph.node(k);
    const bool homogeneous =
        act.in_default_domain() &&
        (act.op_type == "Relu" || act.op_type == "LeakyRelu" || act.op_type == "PRelu");
    if (!homogeneous) {
      std::string why =
          act.label() + " between them is not positively homogeneous (f(x / s) != f(x) / s)";
      if (act.op_type == "BatchNormalization") why += " (run fold-batchnorm first)";
      return why;
    }
    if (act.inputs.empty() || act.inputs[0] != value ||
        (act.op_type == "PRelu" && act.inputs.size() > 1 && act.inputs[1] == value)) {
      return act.label() + " reads '" + value + "' other than as its data input";
    }
    if (std::string why = other_readers(index, value); !why.empty()) return why;
    value = act.outputs[0];
  }
  if (std::string why = other_readers(index, value); !why.empty()) return why;

  if (conv1.inputs.size() < 2) return conv1.label() + " has no weight";
  if (std::string why = weight_problem(graph, index, conv1, conv1.inputs[1], "weight");
      !why.empty()) {
    return why;
  }
  if (conv2.inputs.size() < 2) return conv2.label() + " has no weight";
  if (std::string why = weight_problem(graph, index, conv2, conv2.inputs[1], "weight");
      !why.empty()) {
    return why;
  }
  const ir::Tensor& w1 = graph.find_initializer(conv1.inputs[1])->tensor;
  const ir::Tensor& w2 = graph.find_initializer(conv2.inputs[1])->tensor;
  if (w1.rank() < 3 || w1.numel() == 0)
    return conv1.label() + " weight has rank below 3 or no values";
  if (w2.rank() < 3 || w2.numel() == 0)
    return conv2.label() + " weight has rank below 3 or no values";
  const int64_t channels = w1.dims()[0];
  if (conv1.inputs.size() > 2 && !conv1.inputs[2].empty()) {
    if (std::string why = weight_problem(graph, index, conv1, conv1.inputs[2], "bias");
        !why.empty()) {
      return why;
    }
    if (graph.find_initializer(conv1.inputs[2])->tensor.numel() != channels) {
      return conv1.label() + " bias does not hold one value per output channel";
    }
  }
  const int64_t group = conv2.attr_int("group", 1);
  if (group < 1 || channels % group != 0 || w2.dims()[0] % group != 0 ||
      w2.dims()[1] * group != channels) {
    return conv2.label() + " reads " + std::to_string(w2.dims()[1]) + " channel(s) per group in " +
           std::to_string(group) + " group(s), but " + conv1.label() + " writes " +
           std::to_string(channels);
  }
  return {};
}

// Every Conv -> (up to kMaxBetween nodes) -> Conv path of the main graph, checked.
ChainScan scan_chains(const ir::Graph& graph) {
  const ir::UseDefIndex index = graph.index();
  ChainScan scan;
  for (size_t c1 = 0; c1 < graph.node_count(); ++c1) {
    const ir::Node& conv1 = graph.node(c1);
    if (!is_conv(conv1) || conv1.outputs.empty() || conv1.outputs[0].empty()) continue;
    // Depth-first over consumers, in graph order; the first path to each Conv2 is its candidate.
    std::vector<Chain> found;
    std::set<size_t> seen_conv2;
    auto walk = [&](auto&& self, const std::string& value, std::vector<size_t>& between) -> void {
      auto it = index.consumers.find(value);
      if (it == index.consumers.end()) return;
      std::vector<size_t> readers = it->second;
      std::sort(readers.begin(), readers.end());
      readers.erase(std::unique(readers.begin(), readers.end()), readers.end());
      for (size_t r : readers) {
        const ir::Node& node = graph.node(r);
        if (is_conv(node)) {
          if (!node.inputs.empty() && node.inputs[0] == value && seen_conv2.insert(r).second) {
            found.push_back({c1, r, between, {}});
          }
          continue;
        }
        if (between.size() == kMaxBetween || node.outputs.empty() || node.outputs[0].empty()) {
          continue;
        }
        between.push_back(r);
        self(self, node.outputs[0], between);
        between.pop_back();
      }
    };
    std::vector<size_t> between;
    walk(walk, conv1.outputs[0], between);
    for (Chain& chain : found) {
      chain.label = pass::node_label(conv1) + " -> " + pass::node_label(graph.node(chain.conv2));
      scan.first_convs.insert(pass::node_label(conv1));
      if (std::string why = chain_problem(graph, index, chain); !why.empty()) {
        scan.skipped.push_back({chain.label, why});
      } else {
        scan.chains.push_back(std::move(chain));
      }
    }
  }
  return scan;
}

// A conv's weight (and bias) being equalized, in double precision.
struct Work {
  ir::Dims dims;
  std::vector<double> weight;
  std::vector<double> bias;  ///< Empty when the conv has no bias.
};

std::vector<double> to_double(const ir::Tensor& t) {
  const auto v = t.span<float>();
  return {v.begin(), v.end()};
}

ir::Tensor to_float(const ir::Dims& dims, const std::vector<double>& values) {
  ir::Tensor t = ir::Tensor::zeros(ir::DType::kFloat, dims);
  auto out = t.mutable_span<float>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  return t;
}

// max |w| per output channel (axis 0).
template <typename T>
std::vector<double> output_channel_ranges(std::span<const T> w, int64_t channels) {
  const size_t inner = w.size() / static_cast<size_t>(channels);
  std::vector<double> r(static_cast<size_t>(channels), 0.0);
  for (size_t i = 0; i < w.size(); ++i) {
    r[i / inner] = std::max(r[i / inner], std::fabs(static_cast<double>(w[i])));
  }
  return r;
}

// Largest over smallest non-zero range; 0 when no range is non-zero.
double spread(const std::vector<double>& ranges) {
  double lo = 0, hi = 0;
  for (double r : ranges) {
    if (r <= 0) continue;
    lo = lo == 0 ? r : std::min(lo, r);
    hi = std::max(hi, r);
  }
  return lo > 0 ? hi / lo : 0.0;
}

// One equalization of a pair; returns max |s_i - 1|.
double equalize_pair(Work& w1, Work& w2, int64_t group) {
  const int64_t channels = w1.dims[0];
  const std::vector<double> r1 =
      output_channel_ranges(std::span<const double>(w1.weight), channels);
  // Conv2's weight is [N, C / G, k...]: element (o, c, k) reads channel (o / (N / G)) * C/G + c.
  const size_t per_group_in = static_cast<size_t>(w2.dims[1]);
  const size_t per_group_out = static_cast<size_t>(w2.dims[0] / group);
  const size_t kernel = w2.weight.size() / (static_cast<size_t>(w2.dims[0]) * per_group_in);
  auto channel_of = [&](size_t row) {  // row = o * (C / G) + c
    return (row / per_group_in / per_group_out) * per_group_in + row % per_group_in;
  };
  std::vector<double> r2(static_cast<size_t>(channels), 0.0);
  for (size_t i = 0; i < w2.weight.size(); ++i) {
    const size_t ch = channel_of(i / kernel);
    r2[ch] = std::max(r2[ch], std::fabs(w2.weight[i]));
  }
  std::vector<double> s(static_cast<size_t>(channels), 1.0);
  double deviation = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (r1[i] > 0 && r2[i] > 0) s[i] = std::sqrt(r1[i] * r2[i]) / r2[i];
    deviation = std::max(deviation, std::fabs(s[i] - 1));
  }
  const size_t inner1 = w1.weight.size() / s.size();
  for (size_t i = 0; i < w1.weight.size(); ++i) w1.weight[i] /= s[i / inner1];
  for (size_t i = 0; i < w1.bias.size(); ++i) w1.bias[i] /= s[i];
  for (size_t i = 0; i < w2.weight.size(); ++i) w2.weight[i] *= s[channel_of(i / kernel)];
  return deviation;
}

class EqualizeCrossLayer : public pass::Pass {
 public:
  EqualizeCrossLayer(std::vector<std::string> nodes, int iterations)
      : nodes_(std::move(nodes)), iterations_(iterations) {}

  const pass::PassInfo& info() const override;

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext&) override {
    ir::Graph& graph = model.graph;
    ChainScan scan = scan_chains(graph);
    pass::PassResult result;
    std::vector<Chain> chains;
    if (nodes_.empty()) {
      chains = std::move(scan.chains);
      result.skipped = std::move(scan.skipped);
    } else {
      for (const std::string& label : nodes_) {
        if (!scan.first_convs.count(label)) {
          return invalid_argument(std::string(kName) + ": option 'nodes': '" + label +
                                  "' is not a Conv followed by another Conv");
        }
      }
      const std::set<std::string> wanted(nodes_.begin(), nodes_.end());
      for (Chain& chain : scan.chains) {
        if (wanted.count(pass::node_label(graph.node(chain.conv1)))) {
          chains.push_back(std::move(chain));
        }
      }
      for (auto& skip : scan.skipped) {
        const std::string first = skip.node.substr(0, skip.node.find(" -> "));
        if (wanted.count(first)) result.skipped.push_back(std::move(skip));
      }
    }
    if (chains.empty()) return result;

    // Working copies, per conv node.
    std::map<size_t, Work> work;
    auto load = [&](size_t n, bool with_bias) -> Work& {
      const ir::Node& node = graph.node(n);
      auto [it, added] = work.try_emplace(n);
      if (added) {
        const ir::Tensor& w = graph.find_initializer(node.inputs[1])->tensor;
        it->second.dims = w.dims();
        it->second.weight = to_double(w);
      }
      if (with_bias && it->second.bias.empty() && node.inputs.size() > 2 &&
          !node.inputs[2].empty()) {
        it->second.bias = to_double(graph.find_initializer(node.inputs[2])->tensor);
      }
      return it->second;
    };
    for (const Chain& chain : chains) {
      load(chain.conv1, true);
      load(chain.conv2, false);
    }

    int sweeps = 0;
    double deviation = 0;
    while (sweeps < iterations_) {
      deviation = 0;
      for (const Chain& chain : chains) {
        deviation =
            std::max(deviation, equalize_pair(work.at(chain.conv1), work.at(chain.conv2),
                                              graph.node(chain.conv2).attr_int("group", 1)));
      }
      ++sweeps;
      if (deviation < kConverged) break;
    }

    // Ledger rows, from the original and the final (float) weights of each Conv1.
    std::map<size_t, ir::Tensor> new_weights, new_biases;
    for (const auto& [n, w] : work) {
      new_weights.emplace(n, to_float(w.dims, w.weight));
      if (!w.bias.empty()) {
        new_biases.emplace(
            n, to_float(graph.find_initializer(graph.node(n).inputs[2])->tensor.dims(), w.bias));
      }
    }
    for (const Chain& chain : chains) {
      const ir::Node& conv1 = graph.node(chain.conv1);
      const ir::Tensor& before = graph.find_initializer(conv1.inputs[1])->tensor;
      const ir::Tensor& after = new_weights.at(chain.conv1);
      const int64_t channels = before.dims()[0];
      char detail[160];
      std::snprintf(detail, sizeof(detail), "%lld channels, range ratio max/min %.3g -> %.3g",
                    (long long)channels,
                    spread(output_channel_ranges(before.span<float>(), channels)),
                    spread(output_channel_ranges(after.span<float>(), channels)));
      result.changes.push_back({chain.label, detail});
    }

    // Write back what changed, in place (every weight and bias here has this conv as only reader).
    const ir::UseDefIndex index = graph.index();
    for (auto& [n, tensor] : new_weights) {
      ir::Node& node = graph.node(n);
      bool changed = false;
      if (!tensor.bitwise_equal(graph.find_initializer(node.inputs[1])->tensor)) {
        replace_constant_input(graph, index, node, 1, std::move(tensor),
                               node.inputs[1] + "_equalized");
        changed = true;
      }
      if (auto b = new_biases.find(n);
          b != new_biases.end() &&
          !b->second.bitwise_equal(graph.find_initializer(node.inputs[2])->tensor)) {
        replace_constant_input(graph, index, node, 2, std::move(b->second),
                               node.inputs[2] + "_equalized");
        changed = true;
      }
      result.nodes_changed += changed ? 1 : 0;
    }

    char note[200];
    std::snprintf(
        note, sizeof(note), "%zu conv pair%s equalized in %d sweep%s (%s, last max |s-1| %.2g)",
        chains.size(), chains.size() == 1 ? "" : "s", sweeps, sweeps == 1 ? "" : "s",
        deviation < kConverged ? "converged" : "stopped at the iteration limit", deviation);
    result.notes.push_back(note);
    return result;
  }

 private:
  std::vector<std::string> nodes_;
  int iterations_;
};

}  // namespace

const pass::PassInfo& equalize_cross_layer_info() {
  static const pass::PassInfo info{
      kName,
      "Rescales the channels of consecutive Convs (through Relu, LeakyRelu or PRelu) so their "
      "weight ranges match, exactly; helps per-tensor int8 weights.",
      {{"nodes", "",
        "'|'-separated labels of first Convs: equalize only the pairs starting there."},
       {"iterations", "20",
        "Most sweeps over all pairs; stops earlier once every scale is within 1e-6 of 1."}}};
  return info;
}

const pass::PassInfo& EqualizeCrossLayer::info() const { return equalize_cross_layer_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_equalize_cross_layer(
    const pass::PassOptions& options) {
  std::vector<std::string> nodes;
  int iterations = 20;
  if (auto it = options.find("nodes"); it != options.end()) nodes = split_node_labels(it->second);
  if (auto it = options.find("iterations"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(double n, parse_number_option(kName, "iterations", it->second));
    if (n < 1 || n > 1000 || n != std::floor(n)) {
      return invalid_argument(std::string(kName) +
                              ": option 'iterations' must be a whole number from 1 to 1000, got '" +
                              it->second + "'");
    }
    iterations = static_cast<int>(n);
  }
  return std::unique_ptr<pass::Pass>(new EqualizeCrossLayer(std::move(nodes), iterations));
}

}  // namespace compressor::passes
