// factorize-svd: replaces the constant weight of a Gemm or MatMul layer by two low-rank factors.
//
// With the layer's effective weight W = op(B) of shape [m, n] (m inputs, n outputs) and its
// singular value decomposition W = U S Vᵀ, the best rank-r approximation in the Frobenius norm
// (Eckart–Young) is W_r = U_r S_r V_rᵀ, stored as W1 = U_r sqrt(S_r) [m, r] and
// W2 = sqrt(S_r) V_rᵀ [r, n]:
//
//   MatMul(X, B)                      -> MatMul(MatMul(X, W1), W2)
//   Gemm(A, B, C; transA, transB, α, β) -> Gemm(op(A) · αW1, W2, C; β)
//
// The first factor is a MatMul, or a Gemm with transA=1 when A is read transposed; α is folded
// into W1; the second factor is a Gemm carrying C and β, or a MatMul when there is no C. The
// second node is the original node (its name and output stay, so consumers do not change).
//
// Rank per layer: `rank`, or the fewest singular values holding the fraction `energy` of
// Σ s², or else ceil(rank_ratio · min(m, n)). A layer is skipped when r·(m+n) >= m·n (no size
// win). The decomposition is computed in double precision; singular vector signs are fixed
// (largest |entry| of each left vector positive), so output bytes depend only on the weights.
#include <Eigen/SVD>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>
#include <variant>

#include "../pass_util.h"
#include "compressor/core/format.h"
#include "compressor/ir/tensor_eigen.h"

namespace compressor::passes {
namespace {

constexpr const char* kPassName = "factorize-svd";

Status option_error(const std::string& option, const std::string& message) {
  return invalid_argument(std::string("pass '") + kPassName + "': option '" + option + "' " +
                          message);
}

/// Validated options.
struct SvdOptions {
  int64_t rank = 0;         ///< 0: not set.
  double rank_ratio = 0.5;  ///< Used when neither rank nor energy is set.
  double energy = 0;        ///< 0: not set.
  std::vector<std::string> nodes;
};

StatusOr<double> parse_fraction(const std::string& option, const std::string& text,
                                bool zero_allowed) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  const std::string range = zero_allowed ? "0 (not set) or in (0, 1]" : "in (0, 1]";
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    return option_error(option, "must be a number " + range + ", got '" + text + "'");
  }
  if (value < 0 || value > 1 || (value == 0 && !zero_allowed)) {
    return option_error(option, "must be " + range + ", got '" + text + "'");
  }
  return value;
}

StatusOr<SvdOptions> parse_options(const pass::PassOptions& options) {
  SvdOptions parsed;
  if (auto it = options.find("rank"); it != options.end()) {
    const std::string& text = it->second;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, parsed.rank);
    if (text.empty() || ec != std::errc() || ptr != end || parsed.rank < 0) {
      return option_error("rank", "must be a whole number >= 1 (0: not set), got '" + text + "'");
    }
  }
  if (auto it = options.find("rank_ratio"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(parsed.rank_ratio, parse_fraction("rank_ratio", it->second, false));
  }
  if (auto it = options.find("energy"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(parsed.energy, parse_fraction("energy", it->second, true));
  }
  if (parsed.rank > 0 && parsed.energy > 0) {
    return invalid_argument(std::string("pass '") + kPassName +
                            "': options 'rank' and 'energy' exclude each other; give one");
  }
  if (auto it = options.find("nodes"); it != options.end() && !it->second.empty()) {
    const std::string& text = it->second;
    size_t start = 0;
    while (true) {
      const size_t bar = text.find('|', start);
      std::string label = text.substr(start, bar == std::string::npos ? bar : bar - start);
      if (label.empty()) {
        return option_error(
            "nodes", "has an empty label in '" + text + "' (labels are separated by single '|')");
      }
      parsed.nodes.push_back(std::move(label));
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
  }
  return parsed;
}

std::string fixed(double value, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

/// One Gemm or MatMul of the main graph, as far as factorization is concerned.
struct Layer {
  size_t node_index = 0;
  std::string label;
  std::string skip_reason;  ///< Non-empty: the weight cannot be factorized at all.
  std::string weight;       ///< Initializer name of B.
  bool gemm = false;
  bool trans_a = false;
  bool trans_b = false;
  int64_t m = 0;  ///< Rows of W = op(B) (inputs of the layer).
  int64_t n = 0;  ///< Columns of W (outputs of the layer).
};

/// Every default-domain Gemm and MatMul of the main graph, in graph order.
std::vector<Layer> find_layers(const ir::Model& model) {
  const ir::Graph& graph = model.graph;
  std::vector<Layer> layers;
  for (size_t i = 0; i < graph.node_count(); ++i) {
    const ir::Node& node = graph.node(i);
    if (!node.in_default_domain() || (node.op_type != "MatMul" && node.op_type != "Gemm")) continue;
    if (node.inputs.size() < 2 || node.outputs.empty()) continue;
    Layer layer;
    layer.node_index = i;
    layer.label = pass::node_label(node);
    layer.gemm = node.op_type == "Gemm";
    layer.weight = node.inputs[1];
    layer.trans_a = layer.gemm && node.attr_int("transA", 0) != 0;
    layer.trans_b = layer.gemm && node.attr_int("transB", 0) != 0;
    const ir::Initializer* init = constant_input(graph, layer.weight);
    if (init == nullptr) {
      layer.skip_reason = "weight '" + layer.weight + "' is not a constant initializer";
    } else if (init->tensor.dtype() != ir::DType::kFloat) {
      layer.skip_reason = "weight '" + layer.weight + "' is " +
                          std::string(ir::dtype_name(init->tensor.dtype())) + ", not float32";
    } else if (init->tensor.rank() != 2) {
      layer.skip_reason = "weight '" + layer.weight + "' is not 2-D (dims " +
                          ir::dims_to_string(init->tensor.dims()) + ")";
    } else if (!ir::flat<float>(init->tensor).allFinite()) {
      layer.skip_reason = "weight '" + layer.weight + "' holds NaN or infinite values";
    } else if (layer.trans_a && model.opset_version("") < 11) {
      // The first factor would be a Gemm with transA, and Gemm needs C before opset 11.
      layer.skip_reason = "Gemm with transA=1 before opset 11";
    }
    if (init != nullptr && init->tensor.rank() == 2) {
      const auto& d = init->tensor.dims();
      layer.m = layer.trans_b ? d[1] : d[0];
      layer.n = layer.trans_b ? d[0] : d[1];
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

/// W = op(B) as a double [m, n] matrix.
Eigen::MatrixXd weight_matrix(const ir::Graph& graph, const Layer& layer) {
  const ir::Tensor& b = graph.find_initializer(layer.weight)->tensor;
  const auto map = ir::matrix<float>(b, b.dims()[0], b.dims()[1]);
  if (layer.trans_b) return map.transpose().cast<double>();
  return map.cast<double>();
}

/// The thin SVD of a layer's W. eligible_nodes and run use this same call, so both see the
/// same singular values and agree on every layer's rank.
Eigen::BDCSVD<Eigen::MatrixXd> decompose(const ir::Graph& graph, const Layer& layer) {
  return Eigen::BDCSVD<Eigen::MatrixXd>(weight_matrix(graph, layer),
                                        Eigen::ComputeThinU | Eigen::ComputeThinV);
}

bool saves_params(int64_t r, int64_t m, int64_t n) { return r * (m + n) < m * n; }

std::string no_saving_reason(int64_t r, int64_t m, int64_t n) {
  return "no saving at rank " + std::to_string(r) + " (r*(m+n) = " + std::to_string(r * (m + n)) +
         " >= m*n = " + std::to_string(m * n) + ")";
}

/// The factors of one layer, ready to be stored.
struct Factorization {
  int64_t rank = 0;
  double energy_kept = 1.0;  ///< Σ kept s² / Σ s².
  ir::Tensor first;          ///< α U_r sqrt(S_r), [m, r].
  ir::Tensor second;         ///< sqrt(S_r) V_rᵀ, [r, n].
};

class FactorizeSvd : public pass::Pass {
 public:
  explicit FactorizeSvd(SvdOptions options) : options_(std::move(options)) {}
  const pass::PassInfo& info() const override;
  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override;
  std::vector<std::string> eligible_nodes(const ir::Model& model) const override;

 private:
  /// The rank for a layer whose W has min(m, n) = `p`; `singular` (descending) is needed only
  /// when the energy option is set.
  int64_t choose_rank(int64_t p, const Eigen::VectorXd* singular) const;
  /// The factors of `layer`, or the reason it is left alone.
  std::variant<Factorization, std::string> factorize(const ir::Model& model,
                                                     const Layer& layer) const;
  Status unknown_label_error(const ir::Model& model, const std::string& label,
                             const std::string& why) const;

  SvdOptions options_;
};

int64_t FactorizeSvd::choose_rank(int64_t p, const Eigen::VectorXd* singular) const {
  if (p <= 0) return 0;
  int64_t r = 0;
  if (options_.rank > 0) {
    r = options_.rank;
  } else if (options_.energy > 0) {
    const Eigen::ArrayXd squares = singular->array().square();
    const double target = options_.energy * squares.sum();
    double kept = 0;
    r = p;
    for (int64_t i = 0; i < p; ++i) {
      kept += squares[i];
      if (kept >= target) {
        r = i + 1;
        break;
      }
    }
  } else {
    // The small slack keeps ratios like 0.3 * 10 (= 3.0000000000000004) at 3.
    r = static_cast<int64_t>(std::ceil(options_.rank_ratio * static_cast<double>(p) - 1e-9));
  }
  return std::clamp<int64_t>(r, 1, p);
}

std::variant<Factorization, std::string> FactorizeSvd::factorize(const ir::Model& model,
                                                                 const Layer& layer) const {
  const int64_t m = layer.m, n = layer.n, p = std::min(m, n);
  if (p == 0) return no_saving_reason(0, m, n);
  if (options_.energy == 0) {
    const int64_t r = choose_rank(p, nullptr);
    if (!saves_params(r, m, n)) return no_saving_reason(r, m, n);
  }
  const Eigen::BDCSVD<Eigen::MatrixXd> svd = decompose(model.graph, layer);
  if (svd.info() != Eigen::Success) return std::string("singular value decomposition failed");
  const Eigen::VectorXd& s = svd.singularValues();
  const int64_t r = choose_rank(p, &s);
  if (!saves_params(r, m, n)) return no_saving_reason(r, m, n);

  Eigen::MatrixXd u = svd.matrixU().leftCols(r);
  Eigen::MatrixXd v = svd.matrixV().leftCols(r);
  for (int64_t j = 0; j < r; ++j) {
    Eigen::Index largest = 0;
    u.col(j).cwiseAbs().maxCoeff(&largest);
    if (u(largest, j) < 0) {
      u.col(j) = -u.col(j);
      v.col(j) = -v.col(j);
    }
  }
  const Eigen::VectorXd root = s.head(r).cwiseSqrt();
  const double alpha =
      layer.gemm ? model.graph.node(layer.node_index).attr_float("alpha", 1.0f) : 1.0;

  Factorization f;
  f.rank = r;
  const double total = s.squaredNorm();
  f.energy_kept = total > 0 ? s.head(r).squaredNorm() / total : 1.0;
  f.first = ir::Tensor::uninitialized(ir::DType::kFloat, {m, r});
  ir::mutable_matrix<float>(f.first, m, r) = (alpha * u * root.asDiagonal()).cast<float>();
  f.second = ir::Tensor::uninitialized(ir::DType::kFloat, {r, n});
  ir::mutable_matrix<float>(f.second, r, n) = (root.asDiagonal() * v.transpose()).cast<float>();
  return f;
}

std::vector<std::string> FactorizeSvd::eligible_nodes(const ir::Model& model) const {
  std::vector<std::string> labels;
  for (const Layer& layer : find_layers(model)) {
    const int64_t p = std::min(layer.m, layer.n);
    if (!layer.skip_reason.empty() || p == 0) continue;
    int64_t r = 0;
    if (options_.energy > 0) {
      const Eigen::BDCSVD<Eigen::MatrixXd> svd = decompose(model.graph, layer);
      if (svd.info() != Eigen::Success) continue;
      r = choose_rank(p, &svd.singularValues());
    } else {
      r = choose_rank(p, nullptr);
    }
    if (saves_params(r, layer.m, layer.n)) labels.push_back(layer.label);
  }
  return labels;
}

Status FactorizeSvd::unknown_label_error(const ir::Model& model, const std::string& label,
                                         const std::string& why) const {
  constexpr size_t kShown = 8;
  const std::vector<std::string> eligible = eligible_nodes(model);
  std::string listed;
  for (size_t i = 0; i < eligible.size() && i < kShown; ++i) {
    listed += (i ? ", '" : "'") + eligible[i] + "'";
  }
  if (eligible.size() > kShown) listed += ", ... (" + std::to_string(eligible.size()) + " in all)";
  return option_error("nodes", "names '" + label +
                                   "', which is not a layer this pass can rewrite (" + why +
                                   "); eligible: " + (listed.empty() ? "none" : listed));
}

/// `hint`, or `hint_<k>` for the first k that no node in `used` is named yet.
std::string unique_node_name(std::set<std::string>& used, const std::string& hint) {
  std::string name = hint;
  for (int k = 1; used.count(name); ++k) name = hint + "_" + std::to_string(k);
  used.insert(name);
  return name;
}

StatusOr<pass::PassResult> FactorizeSvd::run(ir::Model& model, pass::PassContext&) {
  ir::Graph& graph = model.graph;
  const std::vector<Layer> layers = find_layers(model);

  // Which layers to consider; with `nodes`, every label must name a layer that can be rewritten.
  std::vector<const Layer*> selected;
  if (options_.nodes.empty()) {
    for (const Layer& layer : layers) selected.push_back(&layer);
  } else {
    const std::set<std::string> wanted(options_.nodes.begin(), options_.nodes.end());
    std::set<std::string> found;
    for (const Layer& layer : layers) {
      if (!wanted.count(layer.label)) continue;
      if (!layer.skip_reason.empty()) {
        return unknown_label_error(model, layer.label, layer.skip_reason);
      }
      found.insert(layer.label);
      selected.push_back(&layer);
    }
    for (const std::string& label : options_.nodes) {
      if (!found.count(label)) {
        return unknown_label_error(model, label, "no Gemm or MatMul has this label");
      }
    }
  }

  // Decompose everything first, so a refused label leaves the model untouched.
  pass::PassResult result;
  std::vector<std::pair<const Layer*, Factorization>> planned;
  for (const Layer* layer : selected) {
    if (!layer->skip_reason.empty()) {
      result.skipped.push_back({layer->label, layer->skip_reason});
      continue;
    }
    auto outcome = factorize(model, *layer);
    if (auto* reason = std::get_if<std::string>(&outcome)) {
      if (!options_.nodes.empty()) return unknown_label_error(model, layer->label, *reason);
      result.skipped.push_back({layer->label, std::move(*reason)});
      continue;
    }
    planned.emplace_back(layer, std::move(std::get<Factorization>(outcome)));
  }
  if (planned.empty()) return result;

  std::set<std::string> node_names;
  for (const auto& node : graph.nodes()) node_names.insert(node->name);
  std::set<std::string> replaced_weights;
  std::vector<std::string> layer_notes;
  int64_t params_before = 0, params_after = 0;
  int64_t min_rank = INT64_MAX, max_rank = 0, min_p = INT64_MAX, max_p = 0;
  size_t inserted = 0;
  for (auto& [layer, f] : planned) {
    const int64_t m = layer->m, n = layer->n, r = f.rank, p = std::min(m, n);
    const std::string u_name = graph.unique_name(layer->label + "_svd_u");
    graph.set_initializer({u_name, std::move(f.first), nullptr});
    const std::string v_name = graph.unique_name(layer->label + "_svd_v");
    graph.set_initializer({v_name, std::move(f.second), nullptr});
    const std::string mid = graph.unique_name(layer->label + "_svd_out");

    const size_t position = layer->node_index + inserted;
    ir::Node& node = graph.node(position);
    ir::Node first;
    first.name = unique_node_name(node_names, layer->label + "_svd");
    first.op_type = layer->trans_a ? "Gemm" : "MatMul";
    first.inputs = {node.inputs[0], u_name};
    first.outputs = {mid};
    if (layer->trans_a) first.set_attribute(ir::Attribute::make_int("transA", 1));

    // The original node becomes the second factor and keeps its name and output.
    const bool has_c = layer->gemm && node.inputs.size() > 2 && !node.inputs[2].empty();
    if (has_c) {
      node.inputs = {mid, v_name, node.inputs[2]};
      node.remove_attribute("transA");
      node.remove_attribute("transB");
      node.remove_attribute("alpha");
    } else {
      node.op_type = "MatMul";
      node.inputs = {mid, v_name};
      node.attributes.clear();
    }
    graph.insert_node(position, std::move(first));
    ++inserted;
    replaced_weights.insert(layer->weight);

    params_before += m * n;
    params_after += r * (m + n);
    min_rank = std::min(min_rank, r);
    max_rank = std::max(max_rank, r);
    min_p = std::min(min_p, p);
    max_p = std::max(max_p, p);
    layer_notes.push_back("'" + layer->label + "': W " + std::to_string(m) + "x" +
                          std::to_string(n) + ", rank " + std::to_string(r) + " of " +
                          std::to_string(p) + ", energy kept " + fixed(f.energy_kept, 4) +
                          ", params " + with_commas(static_cast<uint64_t>(m * n)) + " -> " +
                          with_commas(static_cast<uint64_t>(r * (m + n))));
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
  for (auto& note : layer_notes) result.notes.push_back(std::move(note));
  return result;
}

}  // namespace

const pass::PassInfo& factorize_svd_info() {
  static const pass::PassInfo info{
      kPassName,
      "Splits the constant weight of Gemm and MatMul layers into two low-rank factors (SVD).",
      {{"rank", "0", "singular values kept per layer (0: not set; overrides rank_ratio)"},
       {"rank_ratio", "0.5", "keep ceil(ratio * min(m, n)) singular values, ratio in (0, 1]"},
       {"energy", "0",
        "keep the fewest singular values whose squares sum to at least this fraction of the "
        "total, in (0, 1] (0: not set; overrides rank_ratio)"},
       {"nodes", "", "only these layers, as '|'-separated node labels (empty: every layer)"}}};
  return info;
}

const pass::PassInfo& FactorizeSvd::info() const { return factorize_svd_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_factorize_svd(const pass::PassOptions& options) {
  COMPRESSOR_ASSIGN_OR_RETURN(SvdOptions parsed, parse_options(options));
  return std::unique_ptr<pass::Pass>(new FactorizeSvd(std::move(parsed)));
}

}  // namespace compressor::passes
