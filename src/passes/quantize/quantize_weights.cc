// quantize-weights: weight-only int8 quantization. Each Conv, ConvTranspose, Gemm (input B) and
// MatMul (input B) whose weight is a constant float32 initializer reads it through a
// DequantizeLinear of an int8 copy; activations stay float, and the file gets about 4x smaller.
//
// Before:  X -> Conv(X, W:float32)
// After:   DequantizeLinear(W_quantized:int8, W_scale:float32[, W_zero_point:int8]) ->
// W_dequantized
//          X -> Conv(X, W_dequantized)
//
// A zero point that is 0 everywhere (always, for symmetric weights) is left out: it is
// DequantizeLinear's default for the int8 input. With float16_scales (the default), per-channel
// scales of at least kHalfScaleMinChannels channels are float16 values, stored as float16 and
// cast to the float32 scale the DequantizeLinear reads (see quantize_weight).
// Symmetric: scale = max|w| / 127, zero point 0, values in [-127, 127]. Asymmetric: the range
// [min(w, 0), max(w, 0)] maps onto [-128, 127]. A zero range gets scale 1. Values are rounded
// half to even and clamped. Per output channel (default) needs opset 13 for the `axis` attribute;
// the channel axis is 0 for Conv, 1 for ConvTranspose with group 1, 1 for Gemm (0 with transB)
// and 1 for a 2-D MatMul B; other layouts and older opsets use one scale per tensor. Opsets
// below 10 have no DequantizeLinear, so every layer is skipped there.
//
// A weight shared by several quantized layers (with the same channel axis) is quantized once.
// The float weight is removed when nothing reads it any more.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <utility>

#include "../pass_util.h"
#include "../weight_layers.h"
#include "bias_correction.h"
#include "compressor/pass/pass_context.h"
#include "quant_util.h"

namespace compressor::passes {
namespace {

constexpr const char* kName = "quantize-weights";
// Weight layers this pass can rewrite in `model`; the others are in `skipped` with a reason.
LayerScan quantizable_layers(const ir::Model& model) {
  const int64_t opset = model.opset_version("");
  return scan_weight_layers(
      model.graph, MatMulWeight::kBOnly,
      [opset](const ir::Node&, const ir::Initializer& weight) -> std::string {
        if (opset < 10) {
          return "DequantizeLinear needs opset 10; the model imports opset " +
                 std::to_string(opset);
        }
        const auto values = weight.tensor.span<float>();
        if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); })) {
          return "weight '" + weight.name + "' has non-finite values";
        }
        return {};
      });
}

class QuantizeWeights : public pass::Pass {
 public:
  QuantizeWeights(bool per_channel, bool symmetric, bool bias_correction, bool float16_scales,
                  std::vector<std::string> nodes, LayerFilter filter)
      : per_channel_(per_channel),
        symmetric_(symmetric),
        bias_correction_(bias_correction),
        float16_scales_(float16_scales),
        nodes_(std::move(nodes)),
        filter_(std::move(filter)) {}

  const pass::PassInfo& info() const override;

  std::vector<std::string> eligible_nodes(const ir::Model& model) const override {
    return layer_labels(quantizable_layers(model).layers);
  }

  // With bias_correction, the mean input per channel of every layer the pass quantizes.
  std::vector<pass::ChannelRequest> channel_statistics(const ir::Model& model) const override {
    if (!bias_correction_) return {};
    const LayerScan scan = quantizable_layers(model);
    auto layers = select_layers(scan, nodes_, kName);
    if (!layers.ok()) return {};
    std::vector<pass::SkippedNode> skipped;
    auto kept = filter_layers(model.graph, std::move(layers).value(), filter_, kName, skipped);
    if (!kept.ok()) return {};
    std::vector<size_t> nodes;
    for (const WeightLayer& layer : *kept) nodes.push_back(layer.node);
    return bias_correction_requests(model.graph, nodes);
  }

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override {
    ir::Graph& graph = model.graph;
    const int64_t opset = model.opset_version("");
    const LayerScan scan = quantizable_layers(model);
    COMPRESSOR_ASSIGN_OR_RETURN(std::vector<WeightLayer> layers,
                                select_layers(scan, nodes_, kName));
    pass::PassResult result;
    if (nodes_.empty()) result.skipped = scan.skipped;
    COMPRESSOR_ASSIGN_OR_RETURN(
        layers, filter_layers(graph, std::move(layers), filter_, kName, result.skipped));
    std::optional<BiasCorrector> corrector;
    if (bias_correction_) corrector.emplace(graph, ctx.calibration());
    if (opset < 10 && !scan.skipped.empty()) {
      result.notes.push_back(
          "no layer quantized: DequantizeLinear needs opset 10, the model imports opset " +
          std::to_string(opset));
    }
    if (layers.empty()) return result;
    const bool per_channel = per_channel_ && opset >= 13;

    // One group per (weight, channel axis), in the order of the first layer reading it.
    struct Group {
      std::string weight;
      int64_t axis = kPerTensor;
      std::vector<const WeightLayer*> layers;
    };
    std::vector<Group> groups;
    std::map<std::pair<std::string, int64_t>, size_t> group_of;
    for (const auto& layer : layers) {
      const ir::Node& node = graph.node(layer.node);
      const std::string& weight = node.inputs[layer.slot];
      const int64_t axis = per_channel
                               ? weight_channel_axis(node, graph.find_initializer(weight)->tensor)
                               : kPerTensor;
      auto [it, added] = group_of.try_emplace({weight, axis}, groups.size());
      if (added) groups.push_back({weight, axis, {}});
      groups[it->second].layers.push_back(&layer);
    }

    NameGenerator names(graph);
    std::vector<std::pair<size_t, ir::Node>> inserts;  // (position, DequantizeLinear)
    std::set<std::string> float_weights;
    uint64_t bytes_before = 0, bytes_after = 0;
    size_t per_channel_groups = 0;
    for (const Group& group : groups) {
      const ir::Tensor w = graph.find_initializer(group.weight)->tensor;  // shares the buffer
      if (float_weights.insert(group.weight).second) bytes_before += w.nbytes();
      QuantizedTensor q = quantize_weight(w, group.axis, QType::kInt8, symmetric_,
                                          /*reduce_range=*/false, {}, float16_scales_);
      const ir::Tensor w_dq = corrector ? dequantize_weight(q, group.axis) : ir::Tensor();
      // Zero points that are all 0 (symmetric weights) are left out: 0 is DequantizeLinear's
      // default, and ONNX Runtime fuses the layer into its int8 kernels either way.
      const bool store_zero_point = !all_zero(q.zero_point);
      bytes_after += q.values.nbytes() + q.scale.nbytes() / (q.half_scale ? 2 : 1) +
                     (store_zero_point ? q.zero_point.nbytes() : 0);
      per_channel_groups += group.axis != kPerTensor ? 1 : 0;
      const auto scales = q.scale.span<float>();
      const auto [smin, smax] = std::minmax_element(scales.begin(), scales.end());
      char detail[160];
      std::snprintf(detail, sizeof(detail), "int8 weight %s, %s (scales %.3g..%.3g)",
                    group.weight.c_str(), group.axis != kPerTensor ? "per channel" : "per tensor",
                    double(*smin), double(*smax));
      for (const WeightLayer* layer : group.layers) {
        std::string corrected;
        if (corrector) {
          corrected = corrector->correct(graph, names, layer->node, w, w_dq,
                                         weight_layout(graph.node(layer->node)));
        }
        result.changes.push_back({layer->label, detail + corrected});
      }

      ir::Node dq;
      dq.name = names.node(group.weight + "_dequantize");
      dq.op_type = "DequantizeLinear";
      dq.inputs = {names.value(group.weight + "_quantized"), names.value(group.weight + "_scale")};
      if (store_zero_point) dq.inputs.push_back(names.value(group.weight + "_zero_point"));
      dq.outputs = {names.value(group.weight + "_dequantized")};
      if (group.axis != kPerTensor) dq.set_attribute(ir::Attribute::make_int("axis", group.axis));
      graph.set_initializer({dq.inputs[0], std::move(q.values), nullptr});
      ir::Node cast;  // float16 scales -> float32, before the DequantizeLinear
      if (q.half_scale) {
        cast.name = names.node(group.weight + "_scale_cast");
        cast.op_type = "Cast";
        cast.inputs = {names.value(group.weight + "_scale_float16")};
        cast.outputs = {dq.inputs[1]};
        cast.set_attribute(ir::Attribute::make_int("to", int64_t(ir::DType::kFloat)));
        graph.set_initializer({cast.inputs[0], ir::float_to_half(q.scale), nullptr});
      } else {
        graph.set_initializer({dq.inputs[1], std::move(q.scale), nullptr});
      }
      if (store_zero_point) graph.set_initializer({dq.inputs[2], std::move(q.zero_point), nullptr});

      size_t first = group.layers.front()->node;
      for (const WeightLayer* layer : group.layers) {
        graph.node(layer->node).inputs[layer->slot] = dq.outputs[0];
        first = std::min(first, layer->node);
      }
      // Inserted at the same position in turn, the Cast lands before the DequantizeLinear.
      inserts.emplace_back(first, std::move(dq));
      if (!cast.op_type.empty()) inserts.emplace_back(first, std::move(cast));
      result.nodes_changed += group.layers.size();
    }

    // Insert from the back so the recorded positions stay valid.
    std::stable_sort(inserts.begin(), inserts.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (auto& [position, node] : inserts) graph.insert_node(position, std::move(node));

    const ir::UseDefIndex index = graph.index();
    graph.remove_initializers_if([&](const ir::Initializer& init) {
      return (float_weights.count(init.name) ||
              (corrector && corrector->replaced().count(init.name))) &&
             index.consumer_count(init.name) == 0 && !index.escapes(init.name) &&
             !graph.is_graph_input(init.name);
    });
    prune_value_info(graph);
    // A float weight that other readers keep still counts after.
    for (const std::string& weight : float_weights) {
      if (const ir::Initializer* kept = graph.find_initializer(weight)) {
        bytes_after += kept->tensor.nbytes();
      }
    }

    std::string layout;
    if (per_channel_groups == groups.size()) {
      layout = "per channel";
    } else if (per_channel_groups == 0) {
      layout = "per tensor";
    } else {
      layout = std::to_string(per_channel_groups) + " per channel, " +
               std::to_string(groups.size() - per_channel_groups) + " per tensor";
    }
    layout += symmetric_ ? ", symmetric" : ", asymmetric";
    result.notes.push_back(std::to_string(groups.size()) + " weight" +
                           (groups.size() == 1 ? "" : "s") + " to int8 (" + layout + "), " +
                           human_bytes(bytes_before) + " -> " + human_bytes(bytes_after));
    if (per_channel_ && !per_channel) {
      result.notes.push_back("per-channel scales need opset 13 (the model imports opset " +
                             std::to_string(opset) + "); weights were quantized per tensor");
    }
    if (corrector && !corrector->note().empty()) result.notes.push_back(corrector->note());
    return result;
  }

 private:
  bool per_channel_;
  bool symmetric_;
  bool bias_correction_;
  bool float16_scales_;
  std::vector<std::string> nodes_;
  LayerFilter filter_;
};

}  // namespace

const pass::PassInfo& quantize_weights_info() {
  static const pass::PassInfo info{
      kName,
      "Stores Conv, ConvTranspose, Gemm and MatMul weights as int8 behind a DequantizeLinear.",
      with_layer_selection_options(
          {{"per_channel", "true",
            "One scale per output channel (needs opset 13; else per tensor)."},
           {"symmetric", "true", "Zero point 0 and range [-127, 127]; false maps [min, max]."},
           {"float16_scales", "true",
            "Per-channel scales of 64+ channels as float16 values, stored float16 and cast to "
            "float32."},
           bias_correction_option_info()})};
  return info;
}

const pass::PassInfo& QuantizeWeights::info() const { return quantize_weights_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_quantize_weights(const pass::PassOptions& options) {
  bool per_channel = true, symmetric = true, bias_correction = false, float16_scales = true;
  std::vector<std::string> nodes;
  if (auto it = options.find("per_channel"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(per_channel, parse_bool_option(kName, "per_channel", it->second));
  }
  if (auto it = options.find("symmetric"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(symmetric, parse_bool_option(kName, "symmetric", it->second));
  }
  if (auto it = options.find(kBiasCorrectionOption); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(bias_correction,
                                parse_bool_option(kName, kBiasCorrectionOption, it->second));
  }
  if (auto it = options.find("float16_scales"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(float16_scales,
                                parse_bool_option(kName, "float16_scales", it->second));
  }
  if (auto it = options.find("nodes"); it != options.end()) nodes = split_node_labels(it->second);
  COMPRESSOR_ASSIGN_OR_RETURN(LayerFilter filter, parse_layer_filter(kName, options));
  return std::unique_ptr<pass::Pass>(new QuantizeWeights(per_channel, symmetric, bias_correction,
                                                         float16_scales, std::move(nodes),
                                                         std::move(filter)));
}

}  // namespace compressor::passes
