#include "bias_correction.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "../pass_util.h"

namespace compressor::passes {
namespace {

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1e", v);
  return buf;
}

// A constant float32 vector of `n` values, or null.
const ir::Initializer* bias_vector(const ir::Graph& graph, const std::string& name, int64_t n) {
  const ir::Initializer* init = constant_input(graph, name);
  if (init == nullptr || init->tensor.dtype() != ir::DType::kFloat || init->tensor.rank() != 1 ||
      init->tensor.dims()[0] != n) {
    return nullptr;
  }
  return init;
}

}  // namespace

WeightLayout weight_layout(const ir::Node& node) {
  if (node.op_type == "Conv" || node.op_type == "ConvTranspose") return WeightLayout::kConv;
  if (node.op_type == "Gemm" && node.attr_int("transB", 0) != 0) return WeightLayout::kTransposed;
  return WeightLayout::kMatrix;
}

std::vector<double> expected_output_error(const ir::Tensor& w, const ir::Tensor& w_dq,
                                          WeightLayout layout, int64_t group,
                                          std::span<const double> mean, std::string* problem) {
  const auto a = w.span<float>();
  const auto b = w_dq.span<float>();
  const auto& dims = w.dims();
  auto mismatch = [&](int64_t want) {
    if (problem != nullptr) {
      *problem = "input statistics have " + std::to_string(mean.size()) + " channels, the weight " +
                 std::to_string(want);
    }
    return std::vector<double>{};
  };
  if (w.dtype() != ir::DType::kFloat || w_dq.dtype() != ir::DType::kFloat || dims != w_dq.dims() ||
      dims.size() < 2) {
    if (problem != nullptr) *problem = "the weight is not a float32 matrix or kernel";
    return {};
  }
  if (layout == WeightLayout::kConv) {
    // [M, C/group, k...]: output o reads the input channels of its group.
    const int64_t m = dims[0], cg = dims[1];
    if (group < 1 || m % group != 0) {
      if (problem != nullptr) *problem = "group does not divide the output channels";
      return {};
    }
    if (int64_t(mean.size()) != cg * group) return mismatch(cg * group);
    const size_t inner = size_t(w.numel() / (m * cg));
    const int64_t per_group = m / group;
    std::vector<double> e(size_t(m), 0.0);
    for (int64_t o = 0; o < m; ++o) {
      const size_t first = size_t((o / per_group) * cg);
      double sum = 0;
      for (int64_t c = 0; c < cg; ++c) {
        const size_t at = (size_t(o * cg + c)) * inner;
        double d = 0;
        for (size_t k = at; k < at + inner; ++k) d += double(b[k]) - double(a[k]);
        sum += d * mean[first + size_t(c)];
      }
      e[size_t(o)] = sum;
    }
    return e;
  }
  if (dims.size() != 2) {
    if (problem != nullptr) *problem = "the weight is not 2-D";
    return {};
  }
  const bool transposed = layout == WeightLayout::kTransposed;
  const size_t k_dim = size_t(dims[transposed ? 1 : 0]), n_dim = size_t(dims[transposed ? 0 : 1]);
  if (mean.size() != k_dim) return mismatch(int64_t(k_dim));
  std::vector<double> e(n_dim, 0.0);
  for (size_t k = 0; k < k_dim; ++k) {
    for (size_t n = 0; n < n_dim; ++n) {
      const size_t at = transposed ? n * k_dim + k : k * n_dim + n;
      e[n] += (double(b[at]) - double(a[at])) * mean[k];
    }
  }
  return e;
}

pass::PassOptionInfo bias_correction_option_info() {
  return {kBiasCorrectionOption, "false",
          "Subtract the mean output error of the quantized weights (weight error x mean input per "
          "channel, from calibration samples) from each layer's bias."};
}

// Where a layer's corrected bias goes, or why it cannot be corrected.
struct BiasCorrector::Target {
  size_t node = 0;       ///< Node holding the bias: the layer, or the Add after a MatMul.
  size_t slot = 0;       ///< Its input slot.
  std::string bias;      ///< Current bias initializer; empty when there is none yet.
  int64_t channels = 0;  ///< Output channels (bias length).
  double factor = 1.0;   ///< Bias change per unit of output error (alpha / beta for Gemm).
  int64_t axis = 1;      ///< Channel axis of the layer's input.
  std::string category;  ///< Why not, for the note (empty when the layer can be corrected).
  std::string detail;    ///< Why not, for the ledger.
};

BiasCorrector::BiasCorrector(const ir::Graph& graph, const pass::CalibrationTable* table)
    : index_(graph.index()), table_(table) {
  input0_.reserve(graph.node_count());
  input1_.reserve(graph.node_count());
  output0_.reserve(graph.node_count());
  for (const auto& node : graph.nodes()) {
    input0_.push_back(node->inputs.empty() ? std::string() : node->inputs[0]);
    input1_.push_back(node->inputs.size() < 2 ? std::string() : node->inputs[1]);
    output0_.push_back(node->outputs.empty() ? std::string() : node->outputs[0]);
  }
}

BiasCorrector::Target BiasCorrector::find_target(const ir::Graph& graph, size_t node_index) const {
  const ir::Node& node = graph.node(node_index);
  Target t;
  t.node = node_index;
  auto fail = [&](std::string category, std::string detail) {
    t.category = std::move(category);
    t.detail = std::move(detail);
    return t;
  };
  const ir::Initializer* w =
      input1_[node_index].empty() ? nullptr : constant_input(graph, input1_[node_index]);
  if (w == nullptr || input0_[node_index].empty()) {
    return fail("no constant weight", "the layer has no constant weight");
  }
  const ir::Dims& wd = w->tensor.dims();
  if (node.op_type == "ConvTranspose") {
    return fail("ConvTranspose",
                "ConvTranspose is not corrected (its mean error varies with the output position)");
  }
  if (node.op_type == "Conv") {
    if (wd.size() < 3) return fail("weight layout", "the Conv weight is not [M, C/group, k...]");
    t.channels = wd[0];
    t.slot = 2;
    t.axis = 1;
    if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
      if (bias_vector(graph, node.inputs[2], t.channels) == nullptr) {
        return fail("bias not a constant float32 vector",
                    "bias '" + node.inputs[2] + "' is not a constant float32 vector of " +
                        std::to_string(t.channels) + " values");
      }
      t.bias = node.inputs[2];
    }
    return t;
  }
  if (wd.size() != 2) return fail("weight not 2-D", "the weight is not 2-D");
  if (node.op_type == "Gemm") {
    t.channels = wd[node.attr_int("transB", 0) != 0 ? 0 : 1];
    t.slot = 2;
    t.axis = node.attr_int("transA", 0) != 0 ? 0 : 1;
    const float beta = node.attr_float("beta", 1.0f);
    if (beta == 0.0f || !std::isfinite(beta)) {
      return fail("Gemm with beta = 0", "Gemm has beta = 0, so C cannot carry the correction");
    }
    t.factor = double(node.attr_float("alpha", 1.0f)) / double(beta);
    if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
      if (bias_vector(graph, node.inputs[2], t.channels) == nullptr) {
        return fail("bias not a constant float32 vector",
                    "C '" + node.inputs[2] + "' is not a constant float32 vector of " +
                        std::to_string(t.channels) + " values");
      }
      t.bias = node.inputs[2];
    }
    return t;
  }
  if (node.op_type != "MatMul") return fail("unsupported op", node.op_type + " is not corrected");
  // MatMul has no bias: correct the constant of the Add that alone reads its output.
  t.channels = wd[1];
  t.axis = -1;
  const std::string why = "MatMul without a constant bias Add";
  const std::string detail =
      "MatMul has no bias (its output is not read only by an Add of a constant 1-D [" +
      std::to_string(t.channels) + "] bias)";
  const std::string& y = output0_[node_index];
  if (y.empty() || index_.consumer_count(y) != 1 || index_.escapes(y)) return fail(why, detail);
  const size_t add = index_.consumers.at(y)[0];
  const ir::Node& a = graph.node(add);
  if (a.op_type != "Add" || !a.in_default_domain() || a.inputs.size() != 2) {
    return fail(why, detail);
  }
  const size_t slot = a.inputs[0] == y ? 1 : 0;
  if (a.inputs[1 - slot] != y || bias_vector(graph, a.inputs[slot], t.channels) == nullptr) {
    return fail(why, detail);
  }
  t.node = add;
  t.slot = slot;
  t.bias = a.inputs[slot];
  return t;
}

std::optional<pass::ChannelRequest> BiasCorrector::request(const ir::Graph& graph,
                                                           size_t node) const {
  const Target t = find_target(graph, node);
  if (!t.category.empty()) return std::nullopt;
  return pass::ChannelRequest{input0_[node], t.axis, /*optional=*/true};
}

std::string BiasCorrector::correct(ir::Graph& graph, NameGenerator& names, size_t node,
                                   const ir::Tensor& w, const ir::Tensor& w_dq,
                                   WeightLayout layout) {
  Target t = find_target(graph, node);
  auto skip = [&](const std::string& category, const std::string& detail) {
    ++not_corrected_[category];
    return ", bias not corrected: " + detail;
  };
  if (!t.category.empty()) return skip(t.category, t.detail);
  const ir::Node& layer = graph.node(node);
  const std::string& x = input0_[node];
  if (table_ == nullptr) {
    return skip("no calibration data",
                "no calibration data (the mean input per channel comes from samples)");
  }
  const pass::ChannelStats* stats = table_->find_channels(x);
  if (stats == nullptr) {
    return skip("no input statistics in the calibration table",
                "no per-channel statistics of input '" + x + "' in the calibration table");
  }
  if (t.axis >= 0 && stats->axis != t.axis) {
    return skip("input statistics on another axis",
                "the statistics of input '" + x + "' are on axis " + std::to_string(stats->axis) +
                    ", not " + std::to_string(t.axis));
  }
  std::string problem;
  const std::vector<double> e = expected_output_error(
      w, w_dq, layout, layout == WeightLayout::kConv ? layer.attr_int("group", 1) : 1, stats->mean,
      &problem);
  if (e.empty()) return skip("input statistics do not match the weight", problem);
  if (int64_t(e.size()) != t.channels) {
    return skip("input statistics do not match the weight",
                "the weight has " + std::to_string(e.size()) + " output channels, the bias " +
                    std::to_string(t.channels));
  }

  // b' = b - factor * e. For a Conv with padding the expected error is smaller at the borders
  // (padded taps read zeros, not the mean); the interior value is used everywhere, the usual
  // approximation.
  ir::Tensor corrected = ir::Tensor::uninitialized(ir::DType::kFloat, {t.channels});
  auto out = corrected.mutable_span<float>();
  const ir::Initializer* old = t.bias.empty() ? nullptr : graph.find_initializer(t.bias);
  double max_shift = 0;
  for (size_t o = 0; o < out.size(); ++o) {
    const float b = old != nullptr ? old->tensor.span<float>()[o] : 0.0f;
    out[o] = static_cast<float>(double(b) - t.factor * e[o]);
    if (!std::isfinite(out[o])) {
      return skip("corrected bias not finite",
                  "the corrected bias is not finite (mean input too large)");
    }
    max_shift = std::max(max_shift, std::fabs(double(out[o]) - double(b)));
  }
  ir::Node& holder = graph.node(t.node);
  if (holder.inputs.size() <= t.slot) holder.inputs.resize(t.slot + 1);
  if (old != nullptr && index_.consumer_count(t.bias) == 1 && !index_.escapes(t.bias) &&
      !graph.is_graph_input(t.bias) && !written_.count(t.bias)) {
    ir::Initializer updated = *old;  // keeps the name and the TensorProto's other fields
    updated.tensor = std::move(corrected);
    graph.set_initializer(std::move(updated));
    written_.insert(t.bias);
  } else {
    const std::string name =
        names.value(t.bias.empty() ? pass::node_label(layer) + "_bias" : t.bias + "_corrected");
    graph.set_initializer({name, std::move(corrected), nullptr});
    if (!t.bias.empty()) replaced_.insert(t.bias);
    written_.insert(name);
    holder.inputs[t.slot] = name;
  }
  ++corrected_;
  return ", bias corrected (max |shift| " + sci(max_shift) + ")";
}

std::string BiasCorrector::note() const {
  size_t failed = 0;
  for (const auto& [why, n] : not_corrected_) failed += n;
  if (corrected_ + failed == 0) return {};
  std::string s = "bias correction: " + std::to_string(corrected_) + " layer" +
                  (corrected_ == 1 ? "" : "s") + " corrected";
  if (failed == 0) return s;
  s += ", " + std::to_string(failed) + " not (";
  bool first = true;
  for (const auto& [why, n] : not_corrected_) {
    s += (first ? "" : "; ") + std::to_string(n) + " " + why;
    first = false;
  }
  return s + ")";
}

std::vector<pass::ChannelRequest> bias_correction_requests(const ir::Graph& graph,
                                                           const std::vector<size_t>& nodes) {
  const BiasCorrector corrector(graph, nullptr);
  std::vector<pass::ChannelRequest> requests;
  std::set<std::string> seen;
  for (size_t node : nodes) {
    auto request = corrector.request(graph, node);
    if (request && seen.insert(request->tensor).second) requests.push_back(*request);
  }
  return requests;
}

}  // namespace compressor::passes
