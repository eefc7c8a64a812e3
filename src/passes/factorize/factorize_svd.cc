// factorize-svd: replaces the constant weight of a Gemm, MatMul or Conv layer by two low-rank
// factors, so the layer becomes two thinner layers with fewer parameters and MACs.
//
// Every layer is seen as one or more matrices W [m, n] (m inputs, n outputs; see low_rank.h),
// factorized at one rank r as W ≈ A B with A [m, r] and B [r, n]:
//
//   MatMul(X, W)              -> MatMul(MatMul(X, A), B)    (batched W [..., m, n]: per slice)
//   Gemm(A, W, C; α, β, tA, tB) -> Gemm(op(X) · αA, B, C; β)  (first factor a Gemm when tA)
//   Conv, channel SVD         -> Conv with r filters per group (the original kernel, strides,
//                                pads, dilations) then a 1x1 Conv back to the output channels;
//                                W per group is [C_in/g · k..., C_out/g]. A 1x1 Conv is a Gemm.
//   Conv, spatial SVD (2-D)   -> a kh x 1 Conv with r channels per group (the vertical strides,
//                                pads and dilations) then a 1 x kw Conv (the horizontal ones);
//                                W per group is [C_in/g · kh, C_out/g · kw].
//
// The second node is the original node (its name and output stay, so consumers do not change)
// and carries the bias. A layer is rewritten only where r·(m+n) < m·n, so parameters and MACs
// really drop; every other layer stays byte-identical and is listed with the reason.
//
// Rank per layer: `rank`; the fewest singular values keeping the fraction `energy` of Σ s² (in
// every matrix of the layer); ceil(rank_ratio · min(m, n)); or, from a budget search,
// `group_ratios` (LABEL=F removes the fraction F of min(m, n), layers not named stay whole).
// Ranks are rounded to multiples of `round_to`.
//
// data_aware=true minimises the error of the layer's output on the calibration samples instead
// of the weight's: W is whitened by the Cholesky factor of the layer-input Gram matrix (as
// SVD-LLM does), which is exact for Gemm, MatMul and channel SVD; spatial SVD, whose rows mix
// kernel columns, scales each row by the RMS of its inputs (as ASVD does).
//
// Decompositions run in double precision, one layer per thread; singular vector signs are fixed
// (low_rank::svd), so output bytes depend only on the model and the options.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <variant>

#include "../pass_util.h"
#include "../weight_layers.h"
#include "compressor/core/format.h"
#include "compressor/exec/thread_pool.h"
#include "compressor/ir/tensor_eigen.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"
#include "low_rank.h"

namespace compressor::passes {
namespace {

constexpr const char* kPassName = "factorize-svd";
/// Data-aware whitening adds this fraction of the mean input energy to every direction, so
/// inputs the calibration samples never excite still keep their weights (as SparseGPT damps).
constexpr double kDamping = 0.01;
/// svd=auto decomposes matrices whose smaller side is at least this long with the randomized
/// SVD when the rank is known and its sketch is narrower than half that side (bench/svd_bench:
/// 16x faster at 4096², rank 256, for a rank-r error 1.5% above the exact one); otherwise, and
/// always under the energy rule (which needs the whole spectrum), exactly.
constexpr int64_t kRandomizedSide = 2048;

Status option_error(const std::string& option, const std::string& message) {
  return invalid_argument(std::string("pass '") + kPassName + "': option '" + option + "' " +
                          message);
}

enum class ConvScheme { kChannel, kSpatial, kAuto };

/// Validated options.
struct SvdOptions {
  int64_t rank = 0;         ///< 0: not set.
  double rank_ratio = 0.5;  ///< Used when no other rank policy is set.
  double energy = 0;        ///< 0: not set.
  int64_t round_to = 1;
  ConvScheme conv = ConvScheme::kChannel;
  bool data_aware = false;
  /// Unset: auto (randomized for large layers at a known rank, see kRandomizedSide).
  std::optional<low_rank::SvdMethod> method;
  /// Budget: the fraction of min(m, n) removed per layer label; layers not named stay whole.
  std::map<std::string, double> group_ratios;
  bool budget = false;  ///< group_ratios was given (even empty: then nothing is factorized).
  std::vector<std::string> nodes;
  LayerFilter filter;
};

StatusOr<double> parse_fraction(const std::string& option, const std::string& text,
                                bool zero_allowed) {
  COMPRESSOR_ASSIGN_OR_RETURN(double value, parse_number_option(kPassName, option, text));
  const std::string range = zero_allowed ? "0 (not set) or in (0, 1]" : "in (0, 1]";
  if (value < 0 || value > 1 || (value == 0 && !zero_allowed)) {
    return option_error(option, "must be " + range + ", got '" + text + "'");
  }
  return value;
}

StatusOr<int64_t> parse_count(const std::string& option, const std::string& text, int64_t minimum) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < minimum) {
    return option_error(option, "must be a whole number >= " + std::to_string(minimum) +
                                    (minimum == 0 ? " (0: not set)" : "") + ", got '" + text + "'");
  }
  return value;
}

StatusOr<SvdOptions> parse_options(const pass::PassOptions& options) {
  SvdOptions parsed;
  auto get = [&](const char* name) -> const std::string* {
    auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second;
  };
  if (auto* v = get("rank")) {
    COMPRESSOR_ASSIGN_OR_RETURN(parsed.rank, parse_count("rank", *v, 0));
  }
  if (auto* v = get("rank_ratio")) {
    COMPRESSOR_ASSIGN_OR_RETURN(parsed.rank_ratio, parse_fraction("rank_ratio", *v, false));
  }
  if (auto* v = get("energy")) {
    COMPRESSOR_ASSIGN_OR_RETURN(parsed.energy, parse_fraction("energy", *v, true));
  }
  if (parsed.rank > 0 && parsed.energy > 0) {
    return invalid_argument(std::string("pass '") + kPassName +
                            "': options 'rank' and 'energy' exclude each other; give one");
  }
  if (auto* v = get("round_to")) {
    COMPRESSOR_ASSIGN_OR_RETURN(parsed.round_to, parse_count("round_to", *v, 1));
  }
  if (auto* v = get("conv")) {
    if (*v == "channel") {
      parsed.conv = ConvScheme::kChannel;
    } else if (*v == "spatial") {
      parsed.conv = ConvScheme::kSpatial;
    } else if (*v == "auto") {
      parsed.conv = ConvScheme::kAuto;
    } else {
      return option_error("conv", "must be channel, spatial or auto, got '" + *v + "'");
    }
  }
  if (auto* v = get("data_aware")) {
    COMPRESSOR_ASSIGN_OR_RETURN(parsed.data_aware, parse_bool_option(kPassName, "data_aware", *v));
  }
  if (auto* v = get("svd")) {
    if (*v == "auto") {
      parsed.method.reset();
    } else if (*v == "exact") {
      parsed.method = low_rank::SvdMethod::kExact;
    } else if (*v == "randomized") {
      parsed.method = low_rank::SvdMethod::kRandomized;
    } else {
      return option_error("svd", "must be auto, exact or randomized, got '" + *v + "'");
    }
  }
  if (auto* v = get("group_ratios")) {
    parsed.budget = true;
    COMPRESSOR_ASSIGN_OR_RETURN(auto ratios, parse_group_ratios(kPassName, *v));
    for (const auto& [label, fraction] : ratios) parsed.group_ratios[label] = fraction;
  }
  if (auto* v = get("nodes"); v != nullptr && !v->empty()) {
    size_t start = 0;
    while (true) {
      const size_t bar = v->find('|', start);
      std::string label = v->substr(start, bar == std::string::npos ? bar : bar - start);
      if (label.empty()) {
        return option_error(
            "nodes", "has an empty label in '" + *v + "' (labels are separated by single '|')");
      }
      parsed.nodes.push_back(std::move(label));
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
  }
  COMPRESSOR_ASSIGN_OR_RETURN(parsed.filter, parse_layer_filter(kPassName, options));
  return parsed;
}

std::string fixed(double value, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

enum class Scheme { kMatrix, kChannel, kSpatial };

const char* scheme_name(Scheme s) {
  switch (s) {
    case Scheme::kMatrix:
      return "SVD";
    case Scheme::kChannel:
      return "channel SVD";
    case Scheme::kSpatial:
      return "spatial SVD";
  }
  return "";
}

/// One Gemm, MatMul or Conv with a constant float32 weight, as far as factorization goes.
struct Layer {
  size_t node_index = 0;
  std::string label;
  std::string op;
  std::string weight;
  std::vector<int64_t> dims;  ///< Of the weight initializer.
  bool trans_a = false, trans_b = false;
  int64_t groups = 1;       ///< Conv.
  bool spatial_ok = false;  ///< A 2-D Conv kernel with kh > 1 and kw > 1.
};

/// How one layer is seen as matrices: `blocks` matrices W [m, n] (batch slices or groups).
struct Geometry {
  Scheme scheme = Scheme::kMatrix;
  int64_t blocks = 1;
  int64_t m = 0, n = 0;
  int64_t p() const { return std::min(m, n); }
  int64_t params(int64_t r) const { return blocks * r * (m + n); }
  int64_t original() const { return blocks * m * n; }
  bool saves(int64_t r) const { return r * (m + n) < m * n; }
};

Geometry geometry(const Layer& l, Scheme scheme) {
  Geometry g;
  g.scheme = scheme;
  const auto& d = l.dims;
  if (scheme == Scheme::kMatrix) {
    const size_t k = d.size();
    g.m = l.trans_b ? d[1] : d[k - 2];
    g.n = l.trans_b ? d[0] : d[k - 1];
    for (size_t i = 0; i + 2 < k; ++i) g.blocks *= d[i];
    return g;
  }
  int64_t taps = 1;
  for (size_t i = 2; i < d.size(); ++i) taps *= d[i];
  g.blocks = l.groups;
  if (scheme == Scheme::kChannel) {
    g.m = d[1] * taps;
    g.n = d[0] / l.groups;
  } else {
    g.m = d[1] * d[2];
    g.n = d[0] / l.groups * d[3];
  }
  return g;
}

/// Matrix `b` of the layer's weight under `g`, in double.
Eigen::MatrixXd block_matrix(const ir::Tensor& w, const Layer& l, const Geometry& g, int64_t b) {
  const float* data = w.span<float>().data();
  Eigen::MatrixXd out(g.m, g.n);
  if (g.scheme == Scheme::kMatrix) {
    const int64_t rows = l.trans_b ? g.n : g.m, cols = l.trans_b ? g.m : g.n;
    const auto slice =
        Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
            data + b * rows * cols, rows, cols);
    if (l.trans_b) {
      out = slice.transpose().cast<double>();
    } else {
      out = slice.cast<double>();
    }
    return out;
  }
  const auto& d = l.dims;
  const int64_t cin = d[1], cout_g = d[0] / l.groups;
  int64_t taps = 1;
  for (size_t i = 2; i < d.size(); ++i) taps *= d[i];
  for (int64_t co = 0; co < cout_g; ++co) {
    const float* filter = data + (b * cout_g + co) * cin * taps;
    if (g.scheme == Scheme::kChannel) {
      for (int64_t i = 0; i < cin * taps; ++i) out(i, co) = filter[i];
    } else {
      const int64_t kh = d[2], kw = d[3];
      for (int64_t ci = 0; ci < cin; ++ci) {
        for (int64_t y = 0; y < kh; ++y) {
          for (int64_t x = 0; x < kw; ++x) {
            out(ci * kh + y, co * kw + x) = filter[(ci * kh + y) * kw + x];
          }
        }
      }
    }
  }
  return out;
}

/// Why `node` cannot be factorized at all (empty: it can), checked on top of the weight scan.
std::string structural_reason(const ir::Model& model, const ir::Node& node,
                              const ir::Initializer& init) {
  const auto& d = init.tensor.dims();
  if (node.op_type == "ConvTranspose") return "ConvTranspose is not factorized";
  if (!ir::flat<float>(init.tensor).allFinite()) return "the weight holds NaN or infinite values";
  if (node.op_type == "Gemm") {
    if (d.size() != 2) return "Gemm weight is not 2-D";
    if (node.attr_int("transA", 0) != 0 && model.opset_version("") < 11) {
      // The first factor would be a Gemm with transA, and Gemm needs C before opset 11.
      return "Gemm with transA=1 before opset 11";
    }
  } else if (node.op_type == "MatMul") {
    if (d.size() < 2) return "MatMul weight is 1-D";
  } else if (node.op_type == "Conv") {
    if (d.size() < 3) return "Conv weight has no kernel dimensions";
    const int64_t groups = node.attr_int("group", 1);
    if (groups < 1 || d[0] % groups != 0) return "Conv group does not divide the output channels";
  }
  return "";
}

/// The weight layers of the main graph, with the ones that cannot be factorized in `skipped`.
LayerScan scan_layers(const ir::Model& model) {
  return scan_weight_layers(model.graph, MatMulWeight::kBOnly,
                            [&](const ir::Node& node, const ir::Initializer& init) {
                              return structural_reason(model, node, init);
                            });
}

Layer describe(const ir::Graph& graph, const WeightLayer& wl) {
  const ir::Node& node = graph.node(wl.node);
  Layer l;
  l.node_index = wl.node;
  l.label = wl.label;
  l.op = node.op_type;
  l.weight = node.inputs[wl.slot];
  l.dims = graph.find_initializer(l.weight)->tensor.dims();
  if (l.op == "Gemm") {
    l.trans_a = node.attr_int("transA", 0) != 0;
    l.trans_b = node.attr_int("transB", 0) != 0;
  } else if (l.op == "Conv") {
    l.groups = node.attr_int("group", 1);
    l.spatial_ok = l.dims.size() == 4 && l.dims[2] > 1 && l.dims[3] > 1;
  }
  return l;
}

/// The schemes the options allow for a layer, in order of preference.
std::vector<Scheme> schemes_for(const Layer& l, ConvScheme conv) {
  if (l.op != "Conv") return {Scheme::kMatrix};
  if (!l.spatial_ok || conv == ConvScheme::kChannel) return {Scheme::kChannel};
  if (conv == ConvScheme::kSpatial) return {Scheme::kSpatial};
  return {Scheme::kChannel, Scheme::kSpatial};
}

/// Whether data-aware factorization can use a Gram for this layer (GramAccumulator takes Conv,
/// Gemm and 2-D MatMul weights).
bool gram_capable(const Layer& l) { return l.op != "MatMul" || l.dims.size() == 2; }

/// The factors of one layer, ready to be stored.
struct Plan {
  Geometry geo;
  int64_t rank = 0;
  double energy_kept = 1;  ///< Of the decomposed matrices (whitened ones when data-aware).
  bool data_aware = false;
  bool randomized = false;  ///< Decomposed by the randomized SVD (it did not fall back to exact).
  std::vector<low_rank::Factors> factors;  ///< One per block.
};

class FactorizeSvd : public pass::Pass {
 public:
  explicit FactorizeSvd(SvdOptions options) : options_(std::move(options)) {}
  const pass::PassInfo& info() const override;
  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override;
  std::vector<std::string> eligible_nodes(const ir::Model& model) const override;
  std::vector<pass::GramRequest> gram_statistics(const ir::Model& model) const override;
  StatusOr<std::vector<pass::ChannelGroupInfo>> channel_groups(
      const ir::Model& model) const override;

 private:
  /// The selected layers (nodes, include, exclude), with the others in `skipped`.
  StatusOr<std::vector<Layer>> selected_layers(const ir::Model& model,
                                               std::vector<pass::SkippedNode>& skipped) const;
  /// The rank the options give a layer of geometry `g`, before energy and rounding; 0 when the
  /// energy option decides (it needs the singular values), -1 when the layer is not chosen.
  int64_t policy_rank(const Layer& l, const Geometry& g) const;
  /// The plan for one scheme, or the reason the layer stays.
  StatusOr<std::variant<Plan, std::string>> plan_scheme(const ir::Model& model, const Layer& l,
                                                        const Geometry& g,
                                                        const pass::LayerGram* gram) const;
  /// plan_scheme at exactly rank `r` (no rank rule, no rounding).
  StatusOr<std::variant<Plan, std::string>> plan_at_rank(const ir::Model& model, const Layer& l,
                                                         const Geometry& g,
                                                         const pass::LayerGram* gram,
                                                         int64_t r) const;
  /// Whether data-aware factorization of `l` reads a Gram: a layer the Gram accumulator takes
  /// and, under a budget, one the budget chose.
  bool wants_gram(const Layer& l) const;
  /// The plan for a layer (choosing the scheme under conv=auto), or the reason it stays.
  StatusOr<std::variant<Plan, std::string>> plan(const ir::Model& model, const Layer& l,
                                                 const pass::LayerGram* gram) const;
  /// Every label of the `nodes` option names an eligible layer; the error lists them.
  Status check_nodes(const ir::Model& model) const;

  SvdOptions options_;
};

StatusOr<std::vector<Layer>> FactorizeSvd::selected_layers(
    const ir::Model& model, std::vector<pass::SkippedNode>& skipped) const {
  const LayerScan scan = scan_layers(model);
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<WeightLayer> chosen,
                              select_layers(scan, options_.nodes, kPassName));
  if (options_.nodes.empty()) skipped = scan.skipped;
  COMPRESSOR_ASSIGN_OR_RETURN(
      chosen, filter_layers(model.graph, std::move(chosen), options_.filter, kPassName, skipped));
  std::vector<Layer> layers;
  for (const WeightLayer& wl : chosen) layers.push_back(describe(model.graph, wl));
  return layers;
}

int64_t FactorizeSvd::policy_rank(const Layer& l, const Geometry& g) const {
  const int64_t p = g.p();
  if (options_.budget) {
    auto it = options_.group_ratios.find(l.label);
    if (it == options_.group_ratios.end()) return -1;
    const double keep = 1.0 - it->second;
    return std::clamp<int64_t>(
        static_cast<int64_t>(std::ceil(keep * static_cast<double>(p) - 1e-9)), 1, p);
  }
  if (options_.rank > 0) return std::min(options_.rank, p);
  if (options_.energy > 0) return 0;
  // The small slack keeps ratios like 0.3 * 10 (= 3.0000000000000004) at 3.
  return std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(options_.rank_ratio * static_cast<double>(p) - 1e-9)), 1, p);
}

std::string no_saving_reason(const Geometry& g, int64_t r) {
  return "no saving at rank " + std::to_string(r) +
         " (r*(m+n) = " + std::to_string(r * (g.m + g.n)) +
         " >= m*n = " + std::to_string(g.m * g.n) + ")";
}

/// The whitening of block `b` of a layer from its Gram: the Cholesky factor for matrix and
/// channel geometries, the RMS of each row's inputs for spatial ones.
StatusOr<low_rank::Whitening> block_whitening(const pass::LayerGram& gram, const Layer& l,
                                              const Geometry& g, int64_t b) {
  const auto k = static_cast<Eigen::Index>(gram.size);
  const Eigen::Map<const Eigen::MatrixXd> full(gram.group(static_cast<size_t>(b)), k, k);
  if (g.scheme != Scheme::kSpatial) return low_rank::whitening(full, kDamping);
  // Rows of the spatial matrix are (c, y); the Gram's are (c, y, x).
  const int64_t kw = l.dims[3];
  Eigen::VectorXd energy(g.m);
  for (int64_t row = 0; row < g.m; ++row) {
    double sum = 0;
    for (int64_t x = 0; x < kw; ++x) sum += full(row * kw + x, row * kw + x);
    energy[row] = sum;
  }
  low_rank::Whitening w;
  const double mean = energy.mean();
  w.lambda = kDamping * (mean > 0 ? mean : 1.0);
  w.l = (energy.array() + w.lambda).sqrt().matrix().asDiagonal();
  return w;
}

StatusOr<std::variant<Plan, std::string>> FactorizeSvd::plan_scheme(
    const ir::Model& model, const Layer& l, const Geometry& g, const pass::LayerGram* gram) const {
  using Outcome = std::variant<Plan, std::string>;
  const int64_t p = g.p();
  if (p == 0) return Outcome(no_saving_reason(g, 0));
  int64_t r = policy_rank(l, g);
  if (r < 0) return Outcome(std::string("not chosen by the budget search"));
  if (r > 0) {
    r = low_rank::round_rank(r, options_.round_to, p);
    if (!g.saves(r)) return Outcome(no_saving_reason(g, r));
  }
  // The largest rank that still saves: what a randomized SVD must resolve for the energy rule.
  const int64_t max_saving = (g.m * g.n - 1) / (g.m + g.n);
  if (max_saving < 1) return Outcome(no_saving_reason(g, 1));

  if (gram != nullptr) {
    const int64_t size = g.scheme == Scheme::kSpatial ? g.m * l.dims[3] : g.m;
    if (static_cast<int64_t>(gram->groups) != g.blocks ||
        static_cast<int64_t>(gram->size) != size) {
      return Outcome("the Gram of its input is " + std::to_string(gram->groups) + " x " +
                     std::to_string(gram->size) + "², the weight needs " +
                     std::to_string(g.blocks) + " x " + std::to_string(size) + "²");
    }
  }
  const ir::Tensor& w = model.graph.find_initializer(l.weight)->tensor;
  low_rank::SvdOptions so;
  so.rank = r > 0 ? r : max_saving;
  if (options_.method) {
    so.method = *options_.method;
  } else {
    so.method = p >= kRandomizedSide && r > 0 && 2 * (r + so.oversampling) < p
                    ? low_rank::SvdMethod::kRandomized
                    : low_rank::SvdMethod::kExact;
  }
  std::vector<low_rank::Svd> svds;
  std::vector<std::optional<low_rank::Whitening>> whitenings;
  for (int64_t b = 0; b < g.blocks; ++b) {
    Eigen::MatrixXd m = block_matrix(w, l, g, b);
    std::optional<low_rank::Whitening> white;
    if (gram != nullptr) {
      COMPRESSOR_ASSIGN_OR_RETURN(white, block_whitening(*gram, l, g, b));
      m = white->l.transpose() * m;
    }
    COMPRESSOR_ASSIGN_OR_RETURN(low_rank::Svd s, low_rank::svd(m, so));
    svds.push_back(std::move(s));
    whitenings.push_back(std::move(white));
  }
  if (r == 0) {
    for (const auto& s : svds) r = std::max(r, low_rank::rank_for_energy(s, options_.energy));
    r = low_rank::round_rank(std::max<int64_t>(r, 1), options_.round_to, p);
    if (!g.saves(r)) return Outcome(no_saving_reason(g, r));
  }
  Plan plan;
  plan.geo = g;
  plan.rank = r;
  plan.data_aware = gram != nullptr;
  plan.randomized = so.method == low_rank::SvdMethod::kRandomized &&
                    2 * std::min(so.rank + so.oversampling, p) < p;
  double kept = 0, total = 0;
  for (size_t b = 0; b < svds.size(); ++b) {
    const auto& s = svds[b];
    const int64_t rr = std::min<int64_t>(r, s.s.size());
    kept += low_rank::energy_kept(s, rr) * s.total_energy;
    total += s.total_energy;
    plan.factors.push_back(whitenings[b] ? low_rank::whitened_factors(s, *whitenings[b], rr)
                                         : low_rank::plain_factors(s, rr));
    // A randomized SVD may return fewer triplets than r for tiny blocks: pad with zeros.
    if (rr < r) {
      auto& f = plan.factors.back();
      f.a.conservativeResizeLike(Eigen::MatrixXd::Zero(f.a.rows(), r));
      f.b.conservativeResizeLike(Eigen::MatrixXd::Zero(r, f.b.cols()));
    }
  }
  plan.energy_kept = total > 0 ? kept / total : 1.0;
  return Outcome(std::move(plan));
}

StatusOr<std::variant<Plan, std::string>> FactorizeSvd::plan(const ir::Model& model, const Layer& l,
                                                             const pass::LayerGram* gram) const {
  using Outcome = std::variant<Plan, std::string>;
  const std::vector<Scheme> schemes = schemes_for(l, options_.conv);
  if (schemes.size() == 1) return plan_scheme(model, l, geometry(l, schemes[0]), gram);

  // conv=auto: both schemes, compared on plain weight error (the same ||W|| for both). Under the
  // energy rule both keep the same energy, so the one with fewer parameters wins; under the
  // other rules the spatial rank is the largest one within the channel plan's parameters, and
  // the one keeping more energy wins.
  const Geometry ch = geometry(l, Scheme::kChannel), sp = geometry(l, Scheme::kSpatial);
  COMPRESSOR_ASSIGN_OR_RETURN(Outcome channel, plan_scheme(model, l, ch, nullptr));
  std::optional<Outcome> spatial;
  if (options_.energy > 0 && !options_.budget) {
    COMPRESSOR_ASSIGN_OR_RETURN(spatial, plan_scheme(model, l, sp, nullptr));
  } else if (auto* cp = std::get_if<Plan>(&channel)) {
    const int64_t budget = ch.params(cp->rank);
    const int64_t rs = budget / (sp.blocks * (sp.m + sp.n));
    if (rs >= 1 && sp.saves(rs)) {
      COMPRESSOR_ASSIGN_OR_RETURN(spatial, plan_at_rank(model, l, sp, nullptr, rs));
    }
  }
  const Plan* cp = std::get_if<Plan>(&channel);
  const Plan* spp = spatial ? std::get_if<Plan>(&*spatial) : nullptr;
  Scheme pick = Scheme::kChannel;
  if (spp != nullptr && cp == nullptr) {
    pick = Scheme::kSpatial;
  } else if (spp != nullptr && cp != nullptr) {
    const bool spatial_better = options_.energy > 0 && !options_.budget
                                    ? sp.params(spp->rank) < ch.params(cp->rank)
                                    : spp->energy_kept > cp->energy_kept;
    if (spatial_better) pick = Scheme::kSpatial;
  }
  if (pick == Scheme::kChannel && cp == nullptr) return channel;
  if (gram == nullptr) return pick == Scheme::kChannel ? channel : std::move(*spatial);
  // Data-aware: the chosen scheme again, whitened, at the rank just chosen.
  return pick == Scheme::kChannel ? plan_at_rank(model, l, ch, gram, cp->rank)
                                  : plan_at_rank(model, l, sp, gram, spp->rank);
}

StatusOr<std::variant<Plan, std::string>> FactorizeSvd::plan_at_rank(const ir::Model& model,
                                                                     const Layer& l,
                                                                     const Geometry& g,
                                                                     const pass::LayerGram* gram,
                                                                     int64_t r) const {
  FactorizeSvd fixed(options_);
  fixed.options_.budget = false;
  fixed.options_.energy = 0;
  fixed.options_.rank = r;
  fixed.options_.round_to = 1;
  return fixed.plan_scheme(model, l, g, gram);
}

bool FactorizeSvd::wants_gram(const Layer& l) const {
  return options_.data_aware && gram_capable(l) &&
         (!options_.budget || options_.group_ratios.count(l.label) > 0);
}

std::vector<std::string> FactorizeSvd::eligible_nodes(const ir::Model& model) const {
  std::vector<pass::SkippedNode> ignored;
  FactorizeSvd all(options_);
  all.options_.nodes.clear();
  auto layers = all.selected_layers(model, ignored);
  if (!layers.ok()) return {};
  std::vector<std::string> labels;
  for (const Layer& l : *layers) {
    // Layers the rank options rewrite (the energy rule needs the singular values; a budget
    // may give any layer that can save at some rank its rank).
    for (Scheme s : schemes_for(l, options_.conv)) {
      const Geometry g = geometry(l, s);
      if (g.p() == 0 || !g.saves(1)) continue;
      if (options_.budget) {
        labels.push_back(l.label);
        break;
      }
      const int64_t r = policy_rank(l, g);
      if (r > 0 && !g.saves(low_rank::round_rank(r, options_.round_to, g.p()))) continue;
      if (r == 0) {
        auto planned = plan_scheme(model, l, g, nullptr);
        if (!planned.ok() || !std::holds_alternative<Plan>(*planned)) continue;
      }
      labels.push_back(l.label);
      break;
    }
  }
  return labels;
}

Status FactorizeSvd::check_nodes(const ir::Model& model) const {
  if (options_.nodes.empty()) return ok_status();
  const std::vector<std::string> eligible = eligible_nodes(model);
  const std::set<std::string> known(eligible.begin(), eligible.end());
  for (const std::string& label : options_.nodes) {
    if (known.count(label)) continue;
    // Why not: the scan's reason, or no saving, or no such layer.
    std::string why = "no Gemm, MatMul or Conv has this label";
    const LayerScan scan = scan_layers(model);
    for (const auto& skipped : scan.skipped) {
      if (skipped.node == label) why = skipped.reason;
    }
    for (const auto& wl : scan.layers) {
      if (wl.label == label) why = "the rank options save nothing on it";
    }
    constexpr size_t kShown = 8;
    std::string listed;
    for (size_t i = 0; i < eligible.size() && i < kShown; ++i) {
      listed += (i ? ", '" : "'") + eligible[i] + "'";
    }
    if (eligible.size() > kShown) {
      listed += ", ... (" + std::to_string(eligible.size()) + " in all)";
    }
    return option_error("nodes", "names '" + label +
                                     "', which is not a layer this pass can rewrite (" + why +
                                     "); eligible: " + (listed.empty() ? "none" : listed));
  }
  return ok_status();
}

std::vector<pass::GramRequest> FactorizeSvd::gram_statistics(const ir::Model& model) const {
  if (!options_.data_aware) return {};
  // Every selected layer that saves at some rank: a budget search wrapping this pass tries
  // ranks the pass's own options would not choose.
  FactorizeSvd any_rank(options_);
  any_rank.options_.budget = true;
  any_rank.options_.group_ratios.clear();
  std::vector<pass::GramRequest> requests;
  std::vector<pass::SkippedNode> ignored;
  auto layers = selected_layers(model, ignored);
  if (!layers.ok()) return {};
  const std::vector<std::string> eligible = any_rank.eligible_nodes(model);
  const std::set<std::string> wanted(eligible.begin(), eligible.end());
  for (const Layer& l : *layers) {
    if (wanted.count(l.label) && wants_gram(l)) requests.push_back({l.label});
  }
  return requests;
}

StatusOr<std::vector<pass::ChannelGroupInfo>> FactorizeSvd::channel_groups(
    const ir::Model& model) const {
  std::vector<pass::SkippedNode> ignored;
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<Layer> layers, selected_layers(model, ignored));
  // Every layer that saves at some rank, whatever the rank options say.
  FactorizeSvd any_rank(options_);
  any_rank.options_.budget = true;
  const std::vector<std::string> eligible = any_rank.eligible_nodes(model);
  const std::set<std::string> wanted(eligible.begin(), eligible.end());
  std::vector<pass::ChannelGroupInfo> groups;
  for (const Layer& l : layers) {
    if (!wanted.count(l.label)) continue;
    groups.push_back({{l.label}, geometry(l, schemes_for(l, options_.conv).front()).p()});
  }
  return groups;
}

/// A new initializer [dims] from row-major `values`.
ir::Tensor float_tensor(std::vector<int64_t> dims) {
  return ir::Tensor::uninitialized(ir::DType::kFloat, std::move(dims));
}

/// The first factor's weight and the second's, shaped for the layer's nodes.
std::pair<ir::Tensor, ir::Tensor> factor_tensors(const Layer& l, const Plan& plan, double alpha) {
  const Geometry& g = plan.geo;
  const int64_t r = plan.rank;
  if (g.scheme == Scheme::kMatrix) {
    std::vector<int64_t> lead(l.dims.begin(), l.dims.end() - 2);
    if (l.op == "Gemm") lead.clear();
    std::vector<int64_t> da = lead, db = lead;
    da.insert(da.end(), {g.m, r});
    db.insert(db.end(), {r, g.n});
    ir::Tensor a = float_tensor(da), b = float_tensor(db);
    for (int64_t k = 0; k < g.blocks; ++k) {
      Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          a.mutable_span<float>().data() + k * g.m * r, g.m, r) =
          (alpha * plan.factors[k].a).cast<float>();
      Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          b.mutable_span<float>().data() + k * r * g.n, r, g.n) = plan.factors[k].b.cast<float>();
    }
    return {std::move(a), std::move(b)};
  }
  const auto& d = l.dims;
  const int64_t groups = l.groups, cin = d[1], cout = d[0], cout_g = cout / groups;
  std::vector<int64_t> da, db;
  if (g.scheme == Scheme::kChannel) {
    da = {groups * r, cin};
    da.insert(da.end(), d.begin() + 2, d.end());
    db = {cout, r};
    db.insert(db.end(), d.size() - 2, 1);
  } else {
    da = {groups * r, cin, d[2], 1};
    db = {cout, r, 1, d[3]};
  }
  ir::Tensor a = float_tensor(da), b = float_tensor(db);
  float* pa = a.mutable_span<float>().data();
  float* pb = b.mutable_span<float>().data();
  for (int64_t k = 0; k < groups; ++k) {
    const auto& f = plan.factors[k];
    // First factor: filter (k, j) holds column j of A, laid out as the rows of W's block.
    for (int64_t j = 0; j < r; ++j) {
      float* filter = pa + (k * r + j) * g.m;
      for (int64_t i = 0; i < g.m; ++i) filter[i] = static_cast<float>(f.a(i, j));
    }
    // Second factor: output channel co of group k reads the group's r channels.
    for (int64_t co = 0; co < cout_g; ++co) {
      if (g.scheme == Scheme::kChannel) {
        float* row = pb + (k * cout_g + co) * r;
        for (int64_t j = 0; j < r; ++j) row[j] = static_cast<float>(f.b(j, co));
      } else {
        const int64_t kw = d[3];
        float* row = pb + (k * cout_g + co) * r * kw;
        for (int64_t j = 0; j < r; ++j) {
          for (int64_t x = 0; x < kw; ++x)
            row[j * kw + x] = static_cast<float>(f.b(j, co * kw + x));
        }
      }
    }
  }
  return {std::move(a), std::move(b)};
}

/// An INTS attribute of a Conv, or `fill` repeated `n` times when absent.
std::vector<int64_t> ints_or(const ir::Node& node, const char* name, size_t n, int64_t fill) {
  if (const ir::Attribute* a = node.attribute(name)) return a->ints();
  return std::vector<int64_t>(n, fill);
}

StatusOr<pass::PassResult> FactorizeSvd::run(ir::Model& model, pass::PassContext& ctx) {
  ir::Graph& graph = model.graph;
  pass::PassResult result;
  COMPRESSOR_RETURN_IF_ERROR(check_nodes(model));
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<Layer> layers, selected_layers(model, result.skipped));

  // Grams for data-aware factorization.
  const pass::CalibrationTable* table = ctx.calibration();
  std::vector<const pass::LayerGram*> grams(layers.size(), nullptr);
  for (size_t i = 0; i < layers.size(); ++i) {
    if (wants_gram(layers[i]) && table != nullptr) grams[i] = table->find_gram(layers[i].label);
  }

  // Plan every layer first (in parallel; each slot is independent), so a failure leaves the
  // model untouched.
  std::vector<StatusOr<std::variant<Plan, std::string>>> outcomes(
      layers.size(), StatusOr<std::variant<Plan, std::string>>(std::string()));
  {
    exec::ThreadPool pool(exec::resolve_threads(ctx.threads()));
    pool.parallel_for(static_cast<int64_t>(layers.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const Layer& l = layers[static_cast<size_t>(i)];
        const pass::LayerGram* gram = grams[static_cast<size_t>(i)];
        if (gram == nullptr && wants_gram(l)) {
          outcomes[static_cast<size_t>(i)] = std::variant<Plan, std::string>(
              std::string("no Gram of its input (data_aware needs calibration over sample data)"));
          continue;
        }
        outcomes[static_cast<size_t>(i)] = plan(model, l, gram);
      }
    });
  }

  struct Planned {
    const Layer* layer;
    Plan plan;
  };
  std::vector<Planned> planned;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!outcomes[i].ok()) {
      return outcomes[i].status().with_context("layer '" + layers[i].label + "'");
    }
    auto& outcome = *outcomes[i];
    if (auto* reason = std::get_if<std::string>(&outcome)) {
      if (!options_.nodes.empty() && !options_.budget) {
        return option_error("nodes", "names '" + layers[i].label +
                                         "', which this pass leaves as it is: " + *reason);
      }
      result.skipped.push_back({layers[i].label, std::move(*reason)});
      continue;
    }
    planned.push_back({&layers[i], std::move(std::get<Plan>(outcome))});
  }
  if (planned.empty()) return result;

  NameGenerator names(graph);
  std::set<std::string> replaced_weights;
  int64_t params_before = 0, params_after = 0;
  int64_t min_rank = INT64_MAX, max_rank = 0, min_p = INT64_MAX, max_p = 0;
  size_t inserted = 0;
  for (auto& [layer, plan] : planned) {
    const Geometry& g = plan.geo;
    const int64_t r = plan.rank;
    const size_t position = layer->node_index + inserted;
    ir::Node& node = graph.node(position);
    const double alpha = layer->op == "Gemm" ? node.attr_float("alpha", 1.0f) : 1.0;
    auto [ta, tb] = factor_tensors(*layer, plan, alpha);
    const std::string a_name = names.value(layer->label + "_svd_u");
    graph.set_initializer({a_name, std::move(ta), nullptr});
    const std::string b_name = names.value(layer->label + "_svd_v");
    graph.set_initializer({b_name, std::move(tb), nullptr});
    const std::string mid = names.value(layer->label + "_svd_out");

    ir::Node first;
    first.name = names.node(layer->label + "_svd");
    first.outputs = {mid};
    if (g.scheme == Scheme::kMatrix) {
      first.op_type = layer->trans_a ? "Gemm" : "MatMul";
      first.inputs = {node.inputs[0], a_name};
      if (layer->trans_a) first.set_attribute(ir::Attribute::make_int("transA", 1));
      // The original node becomes the second factor and keeps its name and output.
      const bool has_c = layer->op == "Gemm" && node.inputs.size() > 2 && !node.inputs[2].empty();
      if (has_c) {
        node.inputs = {mid, b_name, node.inputs[2]};
        node.remove_attribute("transA");
        node.remove_attribute("transB");
        node.remove_attribute("alpha");
      } else {
        node.op_type = "MatMul";
        node.inputs = {mid, b_name};
        node.attributes.clear();
      }
    } else {
      const size_t spatial = layer->dims.size() - 2;
      first.op_type = "Conv";
      first.inputs = {node.inputs[0], a_name};
      first.domain = node.domain;
      const std::string bias = node.inputs.size() > 2 ? node.inputs[2] : "";
      if (g.scheme == Scheme::kChannel) {
        // The first Conv keeps the geometry; the second is a pointwise Conv.
        for (const auto& a : node.attributes) {
          if (a.name() != "kernel_shape") first.set_attribute(a);
        }
        first.set_attribute(ir::Attribute::make_ints(
            "kernel_shape", std::vector<int64_t>(layer->dims.begin() + 2, layer->dims.end())));
        node.attributes.clear();
        node.set_attribute(
            ir::Attribute::make_ints("kernel_shape", std::vector<int64_t>(spatial, 1)));
      } else {
        const auto strides = ints_or(node, "strides", 2, 1);
        const auto dilations = ints_or(node, "dilations", 2, 1);
        const auto pads = ints_or(node, "pads", 4, 0);
        const ir::Attribute* found = node.attribute("auto_pad");
        const std::optional<ir::Attribute> auto_pad =
            found ? std::optional<ir::Attribute>(*found) : std::nullopt;
        first.set_attribute(ir::Attribute::make_ints("kernel_shape", {layer->dims[2], 1}));
        first.set_attribute(ir::Attribute::make_ints("strides", {strides[0], 1}));
        first.set_attribute(ir::Attribute::make_ints("dilations", {dilations[0], 1}));
        node.attributes.clear();
        node.set_attribute(ir::Attribute::make_ints("kernel_shape", {1, layer->dims[3]}));
        node.set_attribute(ir::Attribute::make_ints("strides", {1, strides[1]}));
        node.set_attribute(ir::Attribute::make_ints("dilations", {1, dilations[1]}));
        if (auto_pad) {
          first.set_attribute(*auto_pad);
          node.set_attribute(*auto_pad);
        }
        if (!auto_pad || auto_pad->s() == "NOTSET") {
          first.set_attribute(ir::Attribute::make_ints("pads", {pads[0], 0, pads[2], 0}));
          node.set_attribute(ir::Attribute::make_ints("pads", {0, pads[1], 0, pads[3]}));
        }
      }
      if (layer->groups != 1) {
        first.set_attribute(ir::Attribute::make_int("group", layer->groups));
        node.set_attribute(ir::Attribute::make_int("group", layer->groups));
      }
      node.inputs = {mid, b_name};
      if (!bias.empty()) node.inputs.push_back(bias);
    }
    graph.insert_node(position, std::move(first));
    ++inserted;
    replaced_weights.insert(layer->weight);

    const int64_t before = g.original(), after = g.params(r), p = g.p();
    params_before += before;
    params_after += after;
    min_rank = std::min(min_rank, r);
    max_rank = std::max(max_rank, r);
    min_p = std::min(min_p, p);
    max_p = std::max(max_p, p);
    std::string shape = "W " + std::to_string(g.m) + "x" + std::to_string(g.n);
    if (g.blocks > 1) {
      shape += " x" + std::to_string(g.blocks) + (layer->op == "Conv" ? " groups" : " slices");
    }
    std::string detail =
        std::string(scheme_name(g.scheme)) + ", " + shape + ", rank " + std::to_string(r) + " of " +
        std::to_string(p) + ", energy kept " + fixed(plan.energy_kept, 4) + ", params " +
        with_commas(static_cast<uint64_t>(before)) + " -> " +
        with_commas(static_cast<uint64_t>(after)) + " (x" +
        fixed(static_cast<double>(after) / static_cast<double>(before), 3) +
        // Both factors of a matrix or channel split run at every output position
        // of the original; spatial SVD's first Conv runs at the input's width.
        (g.scheme == Scheme::kSpatial ? ", MACs in the pass total)" : ", MACs alike)");
    if (plan.data_aware) detail += ", data-aware";
    if (plan.randomized) detail += ", randomized SVD";
    result.changes.push_back({layer->label, std::move(detail)});
  }

  // Weights nothing reads any more go; shared ones stay for their other readers.
  const ir::UseDefIndex index = graph.index();
  graph.remove_initializers_if([&](const ir::Initializer& init) {
    return replaced_weights.count(init.name) && index.consumer_count(init.name) == 0 &&
           !index.escapes(init.name) && !graph.is_graph_input(init.name);
  });
  prune_value_info(graph);

  std::string ranks = min_rank == max_rank && min_p == max_p
                          ? "rank " + std::to_string(min_rank) + " of " + std::to_string(min_p)
                          : "ranks " + std::to_string(min_rank) + " to " + std::to_string(max_rank);
  result.nodes_changed = planned.size();
  result.notes.push_back(std::to_string(planned.size()) +
                         (planned.size() == 1 ? " layer" : " layers") + ", params " +
                         with_commas(static_cast<uint64_t>(params_before)) + " -> " +
                         with_commas(static_cast<uint64_t>(params_after)) + " (" + ranks + ")");
  return result;
}

}  // namespace

const pass::PassInfo& factorize_svd_info() {
  static const pass::PassInfo info{
      kPassName,
      "Splits the constant weight of Gemm, MatMul and Conv layers into two low-rank factors "
      "(SVD; channel or spatial for Conv), only where that saves parameters.",
      with_layer_selection_options(
          {{"rank", "0", "singular values kept per layer (0: not set; overrides rank_ratio)"},
           {"rank_ratio", "0.5", "keep ceil(ratio * min(m, n)) singular values, ratio in (0, 1]"},
           {"energy", "0",
            "keep the fewest singular values whose squares sum to at least this fraction of the "
            "total, in (0, 1] (0: not set; overrides rank_ratio)"},
           {"round_to", "1", "round every rank to a multiple of this"},
           {"conv", "channel",
            "how k x k Conv layers split: channel (k x k Conv with r filters, then 1x1), spatial "
            "(k x 1 then 1 x k), auto (per layer, the one with less weight error at equal "
            "parameters, or fewer parameters at equal energy)"},
           {"data_aware", "false",
            "minimise the layer's output error on calibration samples (whitening by the input "
            "Gram matrix) instead of the weight's; needs calibration samples"},
           {"svd", "auto",
            "exact (BDCSVD), randomized (sketch with power iterations), or auto (randomized for "
            "layers whose smaller side is at least 2048 when the rank is known and small enough "
            "to gain, else exact)"},
           {"group_ratios", "",
            "'|'-separated LABEL=F: remove the fraction F of each named layer's rank; layers not "
            "named stay whole (set by budget searches)"}})};
  return info;
}

const pass::PassInfo& FactorizeSvd::info() const { return factorize_svd_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_factorize_svd(const pass::PassOptions& options) {
  COMPRESSOR_ASSIGN_OR_RETURN(SvdOptions parsed, parse_options(options));
  return std::unique_ptr<pass::Pass>(new FactorizeSvd(std::move(parsed)));
}

}  // namespace compressor::passes
