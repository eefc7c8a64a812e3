// prune-unstructured: unstructured and N:M semi-structured pruning of the weights of Conv,
// ConvTranspose, Gemm (input B) and MatMul (its constant input), scored by magnitude or by Wanda.
//
// Before:  W = [0.3, -0.1, 0.0, 0.7]           (sparsity = 0.5, method = magnitude)
// After:   W = [0.3,  0.0, 0.0, 0.7]
//
// Every weight is seen as a row-major [outputs, reduction] matrix, pruned there and written back:
//   Conv [Cout, Cin/g, k...]          row o, column c * T + t (T kernel taps): the tensor itself
//   ConvTranspose [Cin, Cout/g, k...] row g * Cout/g + o, column c * T + t (c within the group)
//   Gemm B, transB = 1 [N, K]         the tensor itself
//   Gemm B, transB = 0 [K, N]; MatMul B [..., K, N]   transposed: row (batch, n), column k
//   MatMul constant A [..., M, K]     the tensor itself (magnitude only)
//
// Scores: `magnitude` |w|; `wanda` |w_ij| * ||X_j|| with ||X_j|| = sqrt(mean x^2) of the layer's
// input channel j over the calibration samples (Conv: the input's axis 1; Gemm/MatMul: input A's
// last axis, its axis 0 with transA = 1). `sparsegpt` (src/passes/prune/sparsegpt.h) zeroes by
// the saliency w^2 / [H^-1]_jj and updates the surviving weights of each row so that the layer's
// output on the calibration samples moves as little as possible, from the Gram H = sum x x^T of
// the layer's input rows (Conv: im2col rows, per group; Gemm/MatMul: rows of A). It takes Conv,
// Gemm and 2-D MatMul weights; ConvTranspose, batched MatMul weights and constant A are skipped
// with the reason. Which weights become zero:
//   scope=layer (default), magnitude: the floor(sparsity * n) lowest scores of each layer.
//   scope=layer, wanda: the floor(sparsity * columns) lowest scores of each output row (the
//     Wanda paper's per-output comparison).
//   scope=layer, sparsegpt: round(sparsity * weights) of each layer, chosen block by block of
//     columns over every output row (SparseGPT's adaptive mask).
//   scope=global: one threshold over the scores of every selected layer (compared across layers
//     as they are, for wanda too) so that floor(sparsity * total) weights become zero (sparsegpt:
//     the magnitude threshold sets each layer's sparsity, which SparseGPT then applies); layers
//     given their own value by `layer_sparsity` keep it and stay out of the global pool.
//   pattern=N:M: in every group of M consecutive weights along the reduction axis, the M - N of
//     lowest score become zero. Groups run along K for Gemm/MatMul, and along the input channels
//     at each kernel tap for Conv and ConvTranspose (the order sparse-tensor hardware uses); a
//     layer whose channel count (per group) is not a multiple of M is skipped with the reason.
//     A pattern fixes the sparsity (1 - N/M): it excludes scope=global and layer_sparsity.
// Skipped with the reason: wanda layers without usable statistics (absent, a non-float input,
// another channel count), the first and last weight layers with skip_first_last, and layers the
// sparsity leaves unchanged.
// Ties are broken by the lower index in the [outputs, reduction] view (it is zeroed first), so the
// result depends on the values only; weights that are zero already count toward the zeros. A NaN
// weight scores above every number and is never zeroed. A weight read by a layer that is not
// pruned (or pruned differently, or by a graph output or a subgraph) is left as it is, and the
// pruned copy is stored under a new name.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <span>
#include <utility>

#include "../pass_util.h"
#include "../weight_layers.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"
#include "sparsegpt.h"

namespace compressor::passes {
namespace {

constexpr const char* kName = "prune-unstructured";
constexpr int64_t kMaxGroup = 64;

enum class Method { kMagnitude, kWanda, kSparseGpt };
enum class Scope { kLayer, kGlobal };

struct Override {
  std::string pattern;
  std::regex regex;
  double sparsity = 0;
};

struct Options {
  Method method = Method::kMagnitude;
  double sparsity = 0.5;
  Scope scope = Scope::kLayer;
  int64_t n = 0, m = 0;  ///< N:M pattern; m == 0 when none.
  std::vector<Override> overrides;
  bool skip_first_last = false;
  std::vector<std::string> nodes;
  LayerFilter filter;
};

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100.0 * fraction);
  return buf;
}

// Number of weights to zero out of n: floor(sparsity * n), nudged up by a few ulps so that a
// sparsity written in decimal (0.29 of 100) is not cut short by binary rounding.
size_t zero_count(double sparsity, size_t n) {
  const double k = std::floor(sparsity * static_cast<double>(n) * (1.0 + 4 * DBL_EPSILON));
  return std::min(n, static_cast<size_t>(std::max(0.0, k)));
}

// How a weight tensor maps onto the row-major [rows, cols] view, and which input channel feeds
// each column. Columns are c * taps + t (input channel c of the group, kernel tap t).
struct Layout {
  enum Kind { kIdentity, kTransposed, kConvTranspose } kind = kIdentity;
  size_t rows = 0, cols = 0;
  size_t taps = 1;            ///< Kernel taps per input channel (1 for Gemm/MatMul).
  size_t rows_per_group = 0;  ///< Output rows per channel group (rows without groups).
  size_t channels = 0;        ///< Input channels per group (cols / taps).
  size_t k = 0, n = 0;        ///< kTransposed: source [batch, k, n].

  size_t channel(size_t row, size_t col) const {
    return (row / rows_per_group) * channels + col / taps;
  }
  size_t source(size_t row, size_t col) const {
    switch (kind) {
      case kIdentity:
        return row * cols + col;
      case kTransposed:
        return (row / n) * k * n + col * n + row % n;
      case kConvTranspose: {
        const size_t g = row / rows_per_group, o = row % rows_per_group;
        return ((g * channels + col / taps) * rows_per_group + o) * taps + col % taps;
      }
    }
    return 0;
  }
};

// A layer this pass can prune: its layout, and for wanda the activation input and its axis.
struct Layer {
  WeightLayer where;
  std::string weight;
  Layout layout;
  std::string key;  ///< Layout and op facts: layers sharing a weight and key prune it alike.
  std::string input;
  int64_t axis = 1;
  size_t total_channels = 0;  ///< Channels the input's statistics must have.
};

// The layout of `layer`'s weight, or why it cannot be pruned.
StatusOr<Layer> describe(const ir::Graph& graph, const WeightLayer& wl) {
  const ir::Node& node = graph.node(wl.node);
  Layer layer;
  layer.where = wl;
  layer.weight = node.inputs[wl.slot];
  const ir::Tensor& w = graph.find_initializer(layer.weight)->tensor;
  const ir::Dims& d = w.dims();
  const size_t numel = static_cast<size_t>(w.numel());
  Layout& l = layer.layout;
  const std::string quoted = "weight '" + layer.weight + "'";
  if (node.op_type == "Conv" || node.op_type == "ConvTranspose") {
    if (d.size() < 2) return unsupported(quoted + " has rank " + std::to_string(d.size()));
    const int64_t group = node.attr_int("group", 1);
    const size_t d0 = static_cast<size_t>(d[0]), d1 = static_cast<size_t>(d[1]);
    if (group < 1 || d0 % static_cast<size_t>(group) != 0) {
      return unsupported("group " + std::to_string(group) + " does not divide the weight's axis 0");
    }
    const size_t g = static_cast<size_t>(group);
    l.taps = numel / (d0 * d1);
    layer.input = node.inputs[0];
    layer.axis = 1;
    if (node.op_type == "Conv") {
      l.kind = Layout::kIdentity;
      l.rows = d0;
      l.channels = d1;
      l.rows_per_group = d0 / g;
    } else {
      l.kind = Layout::kConvTranspose;
      l.rows = g * d1;
      l.channels = d0 / g;
      l.rows_per_group = d1;
    }
    l.cols = l.channels * l.taps;
    layer.total_channels = l.channels * g;
    layer.key = node.op_type + ":" + std::to_string(g);
    return layer;
  }
  l.taps = 1;
  if (node.op_type == "Gemm") {
    if (d.size() != 2) return unsupported(quoted + " is not 2-D");
    const bool trans_b = node.attr_int("transB", 0) != 0;
    l.kind = trans_b ? Layout::kIdentity : Layout::kTransposed;
    l.rows = static_cast<size_t>(trans_b ? d[0] : d[1]);
    l.cols = static_cast<size_t>(trans_b ? d[1] : d[0]);
    l.k = l.cols;
    l.n = l.rows;
    layer.input = node.inputs[0];
    layer.axis = node.attr_int("transA", 0) != 0 ? 0 : -1;
    layer.key = trans_b ? "KN^T" : "KN";
  } else if (wl.slot == 1) {  // MatMul B [..., K, N] or [K]
    if (d.size() == 1) {
      l.kind = Layout::kIdentity;
      l.rows = 1;
      l.cols = static_cast<size_t>(d[0]);
    } else {
      l.kind = Layout::kTransposed;
      l.k = static_cast<size_t>(d[d.size() - 2]);
      l.n = static_cast<size_t>(d.back());
      l.rows = numel / l.k;
      l.cols = l.k;
    }
    layer.input = node.inputs[0];
    layer.axis = -1;
    layer.key = "KN";
  } else {  // MatMul A [..., M, K] or [K]: rows are outputs already
    l.kind = Layout::kIdentity;
    l.cols = static_cast<size_t>(d.back());
    l.rows = numel / l.cols;
    layer.key = "MK";
  }
  l.channels = l.cols;
  l.rows_per_group = l.rows;
  layer.total_channels = l.cols;
  return layer;
}

// The wanda statistics request of every layer, one per input tensor (the first layer's axis).
std::vector<pass::ChannelRequest> wanda_requests(const ir::Graph& graph,
                                                 const std::vector<WeightLayer>& layers) {
  std::vector<pass::ChannelRequest> requests;
  std::set<std::string> seen;
  for (const WeightLayer& wl : layers) {
    auto layer = describe(graph, wl);
    if (!layer.ok() || layer->input.empty()) continue;
    if (seen.insert(layer->input).second) requests.push_back({layer->input, layer->axis, true});
  }
  return requests;
}

// |w| (or |w| * norm), with NaN ordered above every number.
inline float score_of(float w, float norm) {
  if (w == 0.0f) return 0.0f;
  const float s = std::fabs(w) * norm;
  return std::isnan(s) ? INFINITY : s;
}

// Calls zero(i) for the k lowest of scores[0..n) ordered by (score, i).
// `sorted` is a reusable buffer.
template <typename F>
void zero_lowest(std::span<const float> scratch, size_t k, std::vector<float>& sorted, F&& zero) {
  if (k == 0) return;
  const size_t n = scratch.size();
  sorted.assign(scratch.begin(), scratch.end());
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   sorted.end());
  const float threshold = sorted[k - 1];
  size_t below = 0;
  for (float v : scratch) below += v < threshold ? 1 : 0;
  size_t ties = k - below;
  for (size_t i = 0; i < n; ++i) {
    if (scratch[i] < threshold) {
      zero(i);
    } else if (scratch[i] == threshold && ties > 0) {
      zero(i);
      --ties;
    }
  }
}

// A weight pruned once for the layers that share it and read it alike.
struct Unit {
  std::vector<const Layer*> layers;
  double sparsity = 0;
  bool global = false;
  std::vector<float> norms;  ///< wanda: per input channel (total_channels); empty otherwise.
  const pass::LayerGram* gram = nullptr;  ///< sparsegpt: the input's Gram, one per group.
};

// Calls f(row, col, view index, source index) for every element of `l`, in square tiles so that
// both sides of a transpose stay in cache.
template <typename F>
void for_each_element(const Layout& l, F&& f) {
  constexpr size_t kTile = 64;
  for (size_t r0 = 0; r0 < l.rows; r0 += kTile) {
    const size_t r1 = std::min(l.rows, r0 + kTile);
    for (size_t c0 = 0; c0 < l.cols; c0 += kTile) {
      const size_t c1 = std::min(l.cols, c0 + kTile);
      for (size_t r = r0; r < r1; ++r) {
        for (size_t c = c0; c < c1; ++c) f(r, c, r * l.cols + c, l.source(r, c));
      }
    }
  }
}

// The view's values: the tensor itself for identity layouts, else a gathered copy.
class View {
 public:
  View(ir::Tensor& tensor, const Layout& layout) : layout_(layout) {
    auto src = tensor.mutable_span<float>();
    if (layout.kind == Layout::kIdentity) {
      data_ = src;
      return;
    }
    copy_.resize(src.size());
    for_each_element(
        layout, [&](size_t, size_t, size_t view, size_t source) { copy_[view] = src[source]; });
    data_ = copy_;
    target_ = src;
  }
  std::span<float> data() { return data_; }
  void write_back() {
    if (copy_.empty()) return;
    for_each_element(layout_, [&](size_t, size_t, size_t view, size_t source) {
      target_[source] = copy_[view];
    });
  }

 private:
  const Layout& layout_;
  std::vector<float> copy_;
  std::span<float> data_;
  std::span<float> target_;
};

float norm_at(const Unit& u, const Layout& l, size_t r, size_t c) {
  return u.norms.empty() ? 1.0f : u.norms[l.channel(r, c)];
}

// Zeroes the lowest scores of the view: in every N:M group, in every output row (wanda) or in the
// whole layer (magnitude).
void prune_by_score(std::span<float> w, const Layout& l, const Unit& u, const Options& o) {
  auto zero = [&](size_t i) {
    if (!std::isnan(w[i])) w[i] = 0.0f;
  };
  std::vector<float> sorted;
  if (o.m > 0) {
    const size_t m = static_cast<size_t>(o.m), k = static_cast<size_t>(o.m - o.n);
    std::vector<float> scratch(m);
    for (size_t r = 0; r < l.rows; ++r) {
      for (size_t t = 0; t < l.taps; ++t) {
        for (size_t c0 = 0; c0 < l.channels; c0 += m) {
          auto at = [&](size_t i) { return r * l.cols + (c0 + i) * l.taps + t; };
          for (size_t i = 0; i < m; ++i) {
            scratch[i] = score_of(w[at(i)], norm_at(u, l, r, (c0 + i) * l.taps + t));
          }
          zero_lowest(scratch, k, sorted, [&](size_t i) { zero(at(i)); });
        }
      }
    }
    return;
  }
  if (o.method == Method::kWanda) {  // per output row
    const size_t k = zero_count(u.sparsity, l.cols);
    std::vector<float> scratch(l.cols);
    for (size_t r = 0; r < l.rows; ++r) {
      for (size_t c = 0; c < l.cols; ++c)
        scratch[c] = score_of(w[r * l.cols + c], norm_at(u, l, r, c));
      zero_lowest(scratch, k, sorted, [&](size_t c) { zero(r * l.cols + c); });
    }
    return;
  }
  std::vector<float> scratch(w.size());
  for (size_t i = 0; i < w.size(); ++i) scratch[i] = score_of(w[i], 1.0f);
  zero_lowest(scratch, zero_count(u.sparsity, w.size()), sorted, zero);
}

// SparseGPT on one unit's view, group by group. With an N:M pattern on a Conv with several kernel
// taps, the pattern's groups are input channels at one tap, so the columns (and the Gram) are
// taken tap-major for the call: consecutive columns are then channels at one tap.
Status prune_sparsegpt(std::span<float> w, const Layout& l, const Unit& u, const Options& o) {
  SparseGptOptions so;
  so.sparsity = u.sparsity;
  so.n = static_cast<int>(o.n);
  so.m = static_cast<int>(o.m);
  const size_t groups = l.rows / l.rows_per_group;
  const size_t cols = l.cols;
  const bool permute = o.m > 0 && l.taps > 1;
  // Column j of the call is column perm[j] of the view.
  std::vector<size_t> perm(cols);
  for (size_t j = 0; j < cols; ++j) {
    perm[j] = permute ? (j % l.channels) * l.taps + j / l.channels : j;
  }
  std::vector<float> block;
  std::vector<double> gram;
  for (size_t g = 0; g < groups; ++g) {
    float* rows = w.data() + g * l.rows_per_group * cols;
    const double* h = u.gram->group(g);
    if (!permute) {
      COMPRESSOR_RETURN_IF_ERROR(sparsegpt_prune(rows, l.rows_per_group, cols, h, so));
      continue;
    }
    block.resize(l.rows_per_group * cols);
    gram.resize(cols * cols);
    for (size_t r = 0; r < l.rows_per_group; ++r) {
      for (size_t j = 0; j < cols; ++j) block[r * cols + j] = rows[r * cols + perm[j]];
    }
    for (size_t i = 0; i < cols; ++i) {
      for (size_t j = 0; j < cols; ++j) gram[i * cols + j] = h[perm[i] * cols + perm[j]];
    }
    COMPRESSOR_RETURN_IF_ERROR(
        sparsegpt_prune(block.data(), l.rows_per_group, cols, gram.data(), so));
    for (size_t r = 0; r < l.rows_per_group; ++r) {
      for (size_t j = 0; j < cols; ++j) rows[r * cols + perm[j]] = block[r * cols + j];
    }
  }
  return ok_status();
}

// Prunes one unit's row-major [rows, cols] view.
Status prune_view(std::span<float> w, const Layout& l, const Unit& u, const Options& o) {
  switch (o.method) {
    case Method::kMagnitude:
    case Method::kWanda:
      prune_by_score(w, l, u, o);
      return ok_status();
    case Method::kSparseGpt:
      return prune_sparsegpt(w, l, u, o);
  }
  return ok_status();
}

// Why SparseGPT cannot take this layer (empty when it can): it needs the Gram of the rows the
// layer reduces, which calibration gathers for Conv, Gemm and MatMul with a 2-D weight B.
std::string sparsegpt_refusal(const ir::Graph& graph, const Layer& layer) {
  const std::string& op = graph.node(layer.where.node).op_type;
  if (op == "ConvTranspose") return "sparsegpt does not take ConvTranspose (no input Gram)";
  if (op == "MatMul" && layer.where.slot != 1) {
    return "sparsegpt needs the Gram of input A, and this MatMul's weight is input A";
  }
  if (op == "MatMul" && graph.find_initializer(layer.weight)->tensor.dims().size() != 2) {
    return "sparsegpt takes a 2-D MatMul weight; this one has batch dimensions";
  }
  return {};
}

class PruneUnstructured : public pass::Pass {
 public:
  explicit PruneUnstructured(Options options) : options_(std::move(options)) {}

  const pass::PassInfo& info() const override;

  std::vector<std::string> eligible_nodes(const ir::Model& model) const override {
    return layer_labels(scan_weight_layers(model.graph, MatMulWeight::kEither).layers);
  }

  // Every eligible layer's input, regardless of the selection, so that one table serves runs
  // with any selection. Optional: a layer without them is skipped with the reason.
  std::vector<pass::ChannelRequest> channel_statistics(const ir::Model& model) const override {
    if (options_.method != Method::kWanda) return {};
    const ir::Graph& graph = model.graph;
    return wanda_requests(graph, scan_weight_layers(graph, MatMulWeight::kEither).layers);
  }

  // SparseGPT: the Gram of every selected layer it can take (Grams are large and never saved in
  // a calibration table, so only those the run uses).
  std::vector<pass::GramRequest> gram_statistics(const ir::Model& model) const override {
    if (options_.method != Method::kSparseGpt) return {};
    const ir::Graph& graph = model.graph;
    const LayerScan scan = scan_weight_layers(graph, MatMulWeight::kEither);
    auto selected = select_layers(scan, options_.nodes, kName);
    if (!selected.ok()) return {};
    std::vector<pass::SkippedNode> ignored;
    auto filtered = filter_layers(graph, std::move(*selected), options_.filter, kName, ignored);
    if (!filtered.ok()) return {};
    std::vector<pass::GramRequest> requests;
    for (const WeightLayer& wl : *filtered) {
      if (options_.skip_first_last &&
          (wl.node == scan.layers.front().node || wl.node == scan.layers.back().node)) {
        continue;
      }
      auto layer = describe(graph, wl);
      if (layer.ok() && sparsegpt_refusal(graph, *layer).empty()) requests.push_back({wl.label});
    }
    return requests;
  }

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override;

 private:
  Options options_;
};

StatusOr<pass::PassResult> PruneUnstructured::run(ir::Model& model, pass::PassContext& ctx) {
  ir::Graph& graph = model.graph;
  const Options& o = options_;
  pass::PassResult result;
  const LayerScan scan = scan_weight_layers(graph, MatMulWeight::kEither);

  // Overrides name eligible layers (before any selection, so that one-layer runs accept them).
  for (const Override& ov : o.overrides) {
    bool any = false;
    for (const auto& wl : scan.layers) {
      any = any || wl.label == ov.pattern || std::regex_match(wl.label, ov.regex);
    }
    if (!any) {
      return invalid_argument(std::string(kName) + ": option 'layer_sparsity': '" + ov.pattern +
                              "' matches no layer the pass can prune (a node name or a regular "
                              "expression on the whole name)");
    }
  }

  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<WeightLayer> selected,
                              select_layers(scan, o.nodes, kName));
  if (o.nodes.empty()) result.skipped = scan.skipped;
  COMPRESSOR_ASSIGN_OR_RETURN(
      selected, filter_layers(graph, std::move(selected), o.filter, kName, result.skipped));

  const pass::CalibrationTable* table = ctx.calibration();
  std::map<std::string, int64_t> request_axis;
  if (o.method == Method::kWanda) {
    for (const auto& r : wanda_requests(graph, scan.layers)) request_axis[r.tensor] = r.axis;
  }

  std::vector<Layer> layers;
  std::vector<std::vector<float>> layer_norms;
  std::vector<const pass::LayerGram*> layer_grams;
  std::vector<double> layer_sparsity;
  std::vector<bool> layer_global;
  for (const WeightLayer& wl : selected) {
    auto skip = [&](std::string why) { result.skipped.push_back({wl.label, std::move(why)}); };
    if (o.skip_first_last && !scan.layers.empty() &&
        (wl.node == scan.layers.front().node || wl.node == scan.layers.back().node)) {
      skip(std::string(wl.node == scan.layers.front().node ? "first" : "last") +
           " weight layer in graph order (skip_first_last)");
      continue;
    }
    auto described = describe(graph, wl);
    if (!described.ok()) {
      skip(described.status().message());
      continue;
    }
    Layer& layer = *described;
    const Layout& l = layer.layout;
    if (o.m > 0 && l.channels % static_cast<size_t>(o.m) != 0) {
      const bool conv = l.taps > 1 || graph.node(wl.node).op_type.starts_with("Conv");
      skip(std::string(conv ? "input channels per group" : "reduction length") + " " +
           std::to_string(l.channels) + " is not a multiple of " + std::to_string(o.m) +
           " (pattern " + std::to_string(o.n) + ":" + std::to_string(o.m) + ")");
      continue;
    }
    std::vector<float> norms;
    const pass::LayerGram* gram = nullptr;
    if (o.method == Method::kSparseGpt) {
      if (std::string why = sparsegpt_refusal(graph, layer); !why.empty()) {
        skip(why);
        continue;
      }
      gram = table ? table->find_gram(wl.label) : nullptr;
      const size_t groups = l.rows / l.rows_per_group;
      if (gram == nullptr) {
        skip("no Gram of its input (sparsegpt needs calibration over sample data)");
        continue;
      }
      if (gram->groups != groups || gram->size != l.cols) {
        skip("the Gram of its input is " + std::to_string(gram->groups) + " x " +
             std::to_string(gram->size) + "², the weight needs " + std::to_string(groups) + " x " +
             std::to_string(l.cols) + "²");
        continue;
      }
    }
    if (o.method == Method::kWanda) {
      if (layer.input.empty()) {
        skip("wanda needs the statistics of input B, and this MatMul's weight is input A");
        continue;
      }
      if (request_axis.at(layer.input) != layer.axis) {
        skip("input '" + layer.input + "' is also read along axis " +
             std::to_string(request_axis.at(layer.input)) +
             " by an earlier layer, and its statistics are per channel of that axis");
        continue;
      }
      const pass::ChannelStats* stats = table ? table->find_channels(layer.input) : nullptr;
      if (stats == nullptr) {
        skip("no per-channel statistics for input '" + layer.input +
             "' (wanda needs calibration over sample data of a float32 input)");
        continue;
      }
      if (stats->mean_square.size() != layer.total_channels ||
          (layer.axis >= 0 && stats->axis != layer.axis)) {
        skip("statistics of input '" + layer.input + "' have " +
             std::to_string(stats->mean_square.size()) + " channels along axis " +
             std::to_string(stats->axis) + ", the weight needs " +
             std::to_string(layer.total_channels) +
             (stats->mean_square.empty() ? " (a table without mean x²: calibrate again)" : ""));
        continue;
      }
      norms.resize(stats->mean_square.size());
      for (size_t j = 0; j < norms.size(); ++j) {
        norms[j] = static_cast<float>(std::sqrt(std::max(0.0, stats->mean_square[j])));
      }
    }
    double sparsity = o.m > 0 ? 1.0 - double(o.n) / double(o.m) : o.sparsity;
    bool global = o.scope == Scope::kGlobal;
    for (const Override& ov : o.overrides) {
      if (wl.label == ov.pattern || std::regex_match(wl.label, ov.regex)) {
        sparsity = ov.sparsity;
        global = false;
        break;
      }
    }
    layers.push_back(std::move(layer));
    layer_norms.push_back(std::move(norms));
    layer_grams.push_back(gram);
    layer_sparsity.push_back(sparsity);
    layer_global.push_back(global);
  }

  // Units: layers sharing a weight, its layout, input and sparsity are pruned once.
  std::vector<Unit> units;
  std::map<std::string, size_t> unit_at;
  std::map<std::string, size_t> units_per_weight;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    char s[40];
    std::snprintf(s, sizeof(s), "%.17g", layer_sparsity[i]);
    // Wanda's scores and SparseGPT's Gram depend on the input too; magnitude's on the weight
    // alone.
    const std::string input = o.method != Method::kMagnitude
                                  ? layer.input + '\n' + std::to_string(layer.axis)
                                  : std::string();
    const std::string key =
        layer.weight + '\n' + layer.key + '\n' + input + '\n' + s + (layer_global[i] ? "g" : "");
    auto [it, added] = unit_at.try_emplace(key, units.size());
    if (added) {
      units.push_back(
          {{}, layer_sparsity[i], layer_global[i], std::move(layer_norms[i]), layer_grams[i]});
      ++units_per_weight[layer.weight];
    }
    units[it->second].layers.push_back(&layer);
  }

  // The pruned values of every unit, computed before any weight is written (units sharing a
  // weight read the original).
  std::vector<ir::Tensor> pruned(units.size());
  for (size_t u = 0; u < units.size(); ++u) {
    pruned[u] = graph.find_initializer(units[u].layers.front()->weight)->tensor;
  }

  // Global scope: one threshold over the scores of every unit in the pool.
  size_t global_k = 0;
  float global_threshold = 0;
  size_t global_ties = 0;
  {
    std::vector<float> all;
    size_t total = 0;
    for (const Unit& u : units)
      total += u.global ? u.layers.front()->layout.rows * u.layers.front()->layout.cols : 0;
    if (total > 0) {
      all.reserve(total);
      for (size_t ui = 0; ui < units.size(); ++ui) {
        const Unit& u = units[ui];
        if (!u.global) continue;
        const Layout& l = u.layers.front()->layout;
        const auto w = pruned[ui].span<float>();
        // The threshold and the count below it do not depend on the order.
        for_each_element(l, [&](size_t r, size_t c, size_t, size_t source) {
          all.push_back(score_of(w[source], norm_at(u, l, r, c)));
        });
      }
      global_k = zero_count(o.sparsity, total);
      if (global_k > 0) {
        std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(global_k - 1),
                         all.end());
        global_threshold = all[global_k - 1];
        size_t below = 0;
        for (float v : all) below += v < global_threshold ? 1 : 0;
        global_ties = global_k - below;
      }
    }
  }

  const ir::UseDefIndex index = graph.index();
  NameGenerator names(graph);
  std::set<std::string> replaced;
  std::vector<std::pair<size_t, pass::ChangedNode>> changes;
  uint64_t total = 0, zeros = 0;
  for (size_t ui = 0; ui < units.size(); ++ui) {
    const Unit& u = units[ui];
    const Layer& first = *u.layers.front();
    const Layout& l = first.layout;
    const ir::Tensor& original = graph.find_initializer(first.weight)->tensor;
    ir::Tensor& t = pruned[ui];
    {
      View view(t, l);
      std::span<float> w = view.data();
      if (u.global && o.method == Method::kSparseGpt) {
        // The global magnitude threshold sets this layer's sparsity; SparseGPT applies it.
        size_t below = 0;
        for (float v : w) below += score_of(v, 1.0f) < global_threshold ? 1 : 0;
        Unit local = u;
        local.sparsity = double(below) / double(w.size());
        COMPRESSOR_RETURN_IF_ERROR(
            prune_view(w, l, local, o).with_context("layer '" + first.where.label + "'"));
      } else if (u.global) {
        for (size_t i = 0; i < w.size() && global_k > 0; ++i) {
          const float s = score_of(w[i], norm_at(u, l, i / l.cols, i % l.cols));
          const bool take = s < global_threshold || (s == global_threshold && global_ties > 0);
          if (!take) continue;
          if (s == global_threshold) --global_ties;
          if (!std::isnan(w[i])) w[i] = 0.0f;
        }
      } else {
        COMPRESSOR_RETURN_IF_ERROR(
            prune_view(w, l, u, o).with_context("layer '" + first.where.label + "'"));
      }
      view.write_back();
    }
    const auto after = t.span<float>();
    const size_t n = after.size();
    const size_t z = static_cast<size_t>(std::count(after.begin(), after.end(), 0.0f));
    if (t.bitwise_equal(original)) {
      for (const Layer* layer : u.layers) {
        result.skipped.push_back({layer->where.label, "no weight to zero at sparsity " +
                                                          percent(u.sparsity) + " (" +
                                                          percent(double(z) / double(n)) +
                                                          " of its weights are zero already)"});
      }
      continue;
    }
    total += n;
    zeros += z;
    std::set<size_t> readers;
    for (const Layer* layer : u.layers) readers.insert(layer->where.node);
    bool only_readers = units_per_weight[first.weight] == 1 && !index.escapes(first.weight) &&
                        !graph.is_graph_input(first.weight);
    if (auto c = index.consumers.find(first.weight); c != index.consumers.end()) {
      for (size_t node : c->second) only_readers = only_readers && readers.count(node) > 0;
    }
    if (only_readers) {
      ir::Initializer updated = *graph.find_initializer(first.weight);
      updated.tensor = std::move(t);
      graph.set_initializer(std::move(updated));
    } else {
      const std::string name = names.value(first.weight + "_pruned");
      graph.set_initializer({name, std::move(t), nullptr});
      for (const Layer* layer : u.layers) {
        graph.node(layer->where.node).inputs[layer->where.slot] = name;
      }
      replaced.insert(first.weight);
    }
    std::string detail = "sparsity " + percent(double(z) / double(n));
    if (o.m > 0) detail += ", " + std::to_string(o.n) + ":" + std::to_string(o.m);
    detail += o.method == Method::kWanda       ? ", wanda"
              : o.method == Method::kSparseGpt ? ", sparsegpt"
                                               : ", magnitude";
    if (u.global) detail += ", global threshold";
    for (const Layer* layer : u.layers) {
      changes.push_back({layer->where.node, {layer->where.label, detail}});
    }
    result.nodes_changed += u.layers.size();
  }
  std::stable_sort(changes.begin(), changes.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& c : changes) result.changes.push_back(std::move(c.second));

  const ir::UseDefIndex now = graph.index();
  graph.remove_initializers_if([&](const ir::Initializer& init) {
    return replaced.count(init.name) && now.consumer_count(init.name) == 0 &&
           !now.escapes(init.name) && !graph.is_graph_input(init.name);
  });

  if (total > 0) {
    result.notes.push_back("zeroed " + with_commas(zeros) + " of " + with_commas(total) +
                           " weights in " + std::to_string(result.nodes_changed) + " layer" +
                           (result.nodes_changed == 1 ? "" : "s") + " (" +
                           percent(double(zeros) / double(total)) + ")");
  }
  return result;
}

}  // namespace

const pass::PassInfo& prune_unstructured_info() {
  static const pass::PassInfo info = [] {
    pass::PassInfo i{
        kName,
        "Unstructured or N:M pruning of Conv, ConvTranspose, Gemm and MatMul weights, by "
        "magnitude, Wanda (|w| times the input channel's norm) or SparseGPT (second-order, "
        "updating the surviving weights); Wanda and SparseGPT need calibration samples.",
        with_layer_selection_options(
            {{"method", "magnitude",
              "magnitude (score |w|), wanda (|w| times the L2 norm of the input channel) or "
              "sparsegpt (saliency w^2 / [H^-1]_jj with the weight update)."},
             {"sparsity", "0.5", "Fraction of weights set to zero, in [0, 1)."},
             {"scope", "layer",
              "layer: every layer at `sparsity` (wanda: every output row); global: one "
              "threshold over all selected layers' scores."},
             {"pattern", "",
              "N:M: at most N nonzero in every M consecutive weights along the reduction axis "
              "(sparsity is then 1 - N/M)."},
             {"layer_sparsity", "",
              "'|'-separated PATTERN=VALUE: the sparsity of layers whose name equals PATTERN or "
              "matches it as a regular expression (first match wins; no '|' inside a pattern)."},
             {"skip_first_last", "false",
              "Leave the first and last weight layers in graph order dense."}})};
    for (auto& opt : i.options) {
      if (opt.name == "nodes")
        opt.help =
            "'|'-separated node labels to prune (default: every "
            "eligible layer).";
      if (opt.name == "include")
        opt.help =
            "Patterns, one per line: prune only matching layers "
            "(name, op type, or regex on the name).";
      if (opt.name == "exclude") opt.help = "Patterns, one per line: leave matching layers dense.";
    }
    return i;
  }();
  return info;
}

const pass::PassInfo& PruneUnstructured::info() const { return prune_unstructured_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_prune_unstructured(const pass::PassOptions& options) {
  Options o;
  const std::string name = kName;
  auto bad = [&](const std::string& option, const std::string& what) {
    return invalid_argument(name + ": option '" + option + "' " + what);
  };
  if (auto it = options.find("method"); it != options.end()) {
    if (it->second == "magnitude") {
      o.method = Method::kMagnitude;
    } else if (it->second == "wanda") {
      o.method = Method::kWanda;
    } else if (it->second == "sparsegpt") {
      o.method = Method::kSparseGpt;
    } else {
      return bad("method", "must be magnitude, wanda or sparsegpt, got '" + it->second + "'");
    }
  }
  const auto sparsity_it = options.find("sparsity");
  if (sparsity_it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(o.sparsity,
                                parse_number_option(kName, "sparsity", sparsity_it->second));
    if (!(o.sparsity >= 0.0 && o.sparsity < 1.0)) {
      return bad("sparsity", "must be in [0, 1), got '" + sparsity_it->second + "'");
    }
  }
  if (auto it = options.find("scope"); it != options.end()) {
    if (it->second == "layer") {
      o.scope = Scope::kLayer;
    } else if (it->second == "global") {
      o.scope = Scope::kGlobal;
    } else {
      return bad("scope", "must be layer or global, got '" + it->second + "'");
    }
  }
  if (auto it = options.find("layer_sparsity"); it != options.end()) {
    for (const std::string& entry : split_node_labels(it->second)) {
      const size_t eq = entry.rfind('=');
      if (eq == std::string::npos || eq == 0) {
        return bad("layer_sparsity", "entry '" + entry + "' is not PATTERN=VALUE");
      }
      Override ov;
      ov.pattern = entry.substr(0, eq);
      const std::string value = entry.substr(eq + 1);
      auto parsed = parse_number_option(kName, "layer_sparsity", value);
      if (!parsed.ok() || !(*parsed >= 0.0 && *parsed < 1.0)) {
        return bad("layer_sparsity",
                   "value of '" + ov.pattern + "' must be in [0, 1), got '" + value + "'");
      }
      ov.sparsity = *parsed;
      try {
        ov.regex = std::regex(ov.pattern, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return bad("layer_sparsity",
                   "'" + ov.pattern + "' is not a valid regular expression: " + e.what());
      }
      o.overrides.push_back(std::move(ov));
    }
  }
  if (auto it = options.find("pattern"); it != options.end() && !it->second.empty()) {
    const std::string& p = it->second;
    const size_t colon = p.find(':');
    auto digits = [](const std::string& s) {
      return !s.empty() && s.size() <= 3 &&
             std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    const std::string ns = colon == std::string::npos ? "" : p.substr(0, colon);
    const std::string ms = colon == std::string::npos ? "" : p.substr(colon + 1);
    if (!digits(ns) || !digits(ms)) {
      return bad("pattern", "must be N:M (for example 2:4), got '" + p + "'");
    }
    o.n = std::stoll(ns);
    o.m = std::stoll(ms);
    if (o.n < 1 || o.n >= o.m || o.m > kMaxGroup) {
      return bad("pattern",
                 "needs 1 <= N < M <= " + std::to_string(kMaxGroup) + ", got '" + p + "'");
    }
    const double implied = 1.0 - double(o.n) / double(o.m);
    if (sparsity_it != options.end() && std::fabs(o.sparsity - implied) > 1e-9) {
      return bad("sparsity", "'" + sparsity_it->second + "' contradicts pattern " + p +
                                 " (which gives sparsity " + std::to_string(implied) +
                                 "); give one of them");
    }
    if (o.scope == Scope::kGlobal) {
      return bad("scope", "global cannot be combined with pattern " + p +
                              " (the pattern fixes every group's zeros)");
    }
    if (!o.overrides.empty()) {
      return bad("layer_sparsity", "cannot be combined with pattern " + p +
                                       " (the pattern fixes every layer's sparsity)");
    }
    o.sparsity = implied;
  }
  if (auto it = options.find("skip_first_last"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(o.skip_first_last,
                                parse_bool_option(kName, "skip_first_last", it->second));
  }
  if (auto it = options.find("nodes"); it != options.end()) o.nodes = split_node_labels(it->second);
  COMPRESSOR_ASSIGN_OR_RETURN(o.filter, parse_layer_filter(kName, options));
  return std::unique_ptr<pass::Pass>(new PruneUnstructured(std::move(o)));
}

}  // namespace compressor::passes
