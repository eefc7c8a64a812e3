// prune-magnitude: unstructured magnitude pruning. In every Conv, ConvTranspose, Gemm (input B)
// and MatMul (the constant input, B preferred) whose weight is a constant float32 initializer,
// the floor(sparsity * n) weights of smallest magnitude become zero.
//
// Before:  W = [0.3, -0.1, 0.0, 0.7]           (sparsity = 0.5)
// After:   W = [0.3,  0.0, 0.0, 0.7]
//
// Ties are broken by the lower flat index, so the result depends on the values only; weights that
// are zero already count toward the zeros. NaN counts as the largest magnitude (it is kept). A
// weight read by a layer that is not pruned (or by a graph output or a subgraph) is left as it
// is, and the pruned copy is stored under a new name for the pruned layers.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <map>
#include <span>

#include "../pass_util.h"
#include "../weight_layers.h"
#include "compressor/pass/pass_context.h"

namespace compressor::passes {
namespace {

constexpr const char* kName = "prune-magnitude";

// |w| with NaN ordered above every number, so that the order below is a strict total order.
inline float magnitude(float w) { return std::isnan(w) ? INFINITY : std::fabs(w); }

// Number of weights to zero out of n: floor(sparsity * n). The product is nudged up by a few ulps
// so that a sparsity written in decimal (0.29 of 100) is not cut short by binary rounding.
size_t zero_count(double sparsity, size_t n) {
  const double k = std::floor(sparsity * static_cast<double>(n) * (1.0 + 4 * DBL_EPSILON));
  return std::min(n, static_cast<size_t>(std::max(0.0, k)));
}

// Zeroes the k smallest-magnitude elements of `w` (ties: lower index first).
void zero_smallest(std::span<float> w, size_t k) {
  if (k == 0) return;
  std::vector<float> mags(w.size());
  for (size_t i = 0; i < w.size(); ++i) mags[i] = magnitude(w[i]);
  std::nth_element(mags.begin(), mags.begin() + static_cast<std::ptrdiff_t>(k - 1), mags.end());
  const float threshold = mags[k - 1];
  size_t below = 0;
  for (float v : w) below += magnitude(v) < threshold ? 1 : 0;
  size_t ties = k - below;  // elements equal to the threshold to zero, lowest index first
  for (float& v : w) {
    const float m = magnitude(v);
    if (m < threshold) {
      v = 0.0f;
    } else if (m == threshold && ties > 0) {
      v = 0.0f;
      --ties;
    }
  }
}

class PruneMagnitude : public pass::Pass {
 public:
  PruneMagnitude(double sparsity, std::vector<std::string> nodes)
      : sparsity_(sparsity), nodes_(std::move(nodes)) {}

  const pass::PassInfo& info() const override;

  std::vector<std::string> eligible_nodes(const ir::Model& model) const override {
    return layer_labels(scan_weight_layers(model.graph, MatMulWeight::kEither).layers);
  }

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext&) override {
    ir::Graph& graph = model.graph;
    const LayerScan scan = scan_weight_layers(graph, MatMulWeight::kEither);
    COMPRESSOR_ASSIGN_OR_RETURN(std::vector<WeightLayer> layers,
                                select_layers(scan, nodes_, kName));
    pass::PassResult result;
    if (nodes_.empty()) result.skipped = scan.skipped;

    // Layers grouped by weight: a weight shared by several pruned layers is pruned once.
    std::map<std::string, std::vector<const WeightLayer*>> by_weight;
    std::vector<std::string> weight_order;
    for (const auto& layer : layers) {
      const std::string& w = graph.node(layer.node).inputs[layer.slot];
      auto& group = by_weight[w];
      if (group.empty()) weight_order.push_back(w);
      group.push_back(&layer);
    }

    const ir::UseDefIndex index = graph.index();
    NameGenerator names(graph);
    uint64_t total = 0, zeroed = 0;
    for (const std::string& weight : weight_order) {
      const auto& group = by_weight[weight];
      const bool only_readers =
          index.consumer_count(weight) == group.size() && !index.escapes(weight);
      ir::Initializer* init = graph.find_initializer(weight);
      const size_t n = static_cast<size_t>(init->tensor.numel());
      const size_t k = zero_count(sparsity_, n);
      total += n;
      zeroed += k;
      if (k == 0) continue;  // too few weights for this sparsity: the layers stay as they are
      if (only_readers) {
        zero_smallest(init->tensor.mutable_span<float>(), k);
      } else {
        ir::Tensor pruned = init->tensor;
        zero_smallest(pruned.mutable_span<float>(), k);
        const std::string name = names.value(weight + "_pruned");
        graph.set_initializer({name, std::move(pruned), nullptr});
        for (const WeightLayer* layer : group) graph.node(layer->node).inputs[layer->slot] = name;
      }
      result.nodes_changed += group.size();
    }

    if (!layers.empty()) {
      char percent[32];
      std::snprintf(percent, sizeof(percent), "%.1f%%",
                    100.0 * static_cast<double>(zeroed) / static_cast<double>(total));
      result.notes.push_back("zeroed " + with_commas(zeroed) + " of " + with_commas(total) +
                             " weights in " + std::to_string(result.nodes_changed) + " layer" +
                             (result.nodes_changed == 1 ? "" : "s") + " (" + percent + ")");
    }
    return result;
  }

 private:
  double sparsity_;
  std::vector<std::string> nodes_;
};

}  // namespace

const pass::PassInfo& prune_magnitude_info() {
  static const pass::PassInfo info{
      kName,
      "Zeroes the smallest-magnitude weights of Conv, ConvTranspose, Gemm and MatMul layers.",
      {{"sparsity", "0.5", "Fraction of each layer's weights set to zero, in [0, 1)."},
       {"nodes", "", "'|'-separated node labels to prune (default: every eligible layer)."}}};
  return info;
}

const pass::PassInfo& PruneMagnitude::info() const { return prune_magnitude_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_prune_magnitude(const pass::PassOptions& options) {
  double sparsity = 0.5;
  std::vector<std::string> nodes;
  if (auto it = options.find("sparsity"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(sparsity, parse_number_option(kName, "sparsity", it->second));
    if (!(sparsity >= 0.0 && sparsity < 1.0)) {
      return invalid_argument(std::string(kName) + ": option 'sparsity' must be in [0, 1), got '" +
                              it->second + "'");
    }
  }
  if (auto it = options.find("nodes"); it != options.end()) nodes = split_node_labels(it->second);
  return std::unique_ptr<pass::Pass>(new PruneMagnitude(sparsity, std::move(nodes)));
}

}  // namespace compressor::passes
