// quantize-dynamic: dynamic int8 quantization. Weights are quantized offline; activations are
// quantized at run time by DynamicQuantizeLinear, so no calibration data is needed.
//
// Before:  X -> MatMul(X, W:float32[K, N]) -> Y
// After:   X -> DynamicQuantizeLinear -> (X_q:uint8, X_scale, X_zero_point)
//          MatMulInteger(X_q, W_q:uint8, X_zero_point, W_zero_point) -> int32
//            -> Cast(float) -> Mul(., Mul(X_scale, W_scale)) -> Y
//
// Gemm (transA = 0) becomes the same chain on B (transposed offline when transB = 1) with alpha
// folded into the weight scale and an Add of C (beta folded into a constant copy of C). Conv
// (2-D) becomes DynamicQuantizeLinear + ConvInteger (same attributes) -> Cast -> Mul, plus an
// Add of the bias reshaped to [1, M, 1, 1]. Layers reading the same activation share one
// DynamicQuantizeLinear; layers reading the same weight the same way share its quantized copy.
//
// Weights are symmetric: uint8 (default) with zero point 128, or int8 in [-127, 127] with zero
// point 0 (reduce_range: one bit less, uint8 in [0, 127] around 64, int8 in [-63, 63]). Both have
// 255 levels. With weight_symmetric=false a weight's [min, max] maps onto the type's whole range
// with its own zero point, per tensor only. With float16_scales (the default), per-channel scales
// of at least kHalfScaleMinChannels channels are float16 values, stored as float16 and cast to
// float32 (see quantize_weight). Symmetric weights have one zero point for every channel, so the
// zero point is always a scalar: ONNX Runtime's CPU ConvInteger refuses per-channel weight zero
// points ("Non per-tensor quantization is not supported now"), and its older MatMulInteger with
// int8 B accepted only a zero zero point. Per-channel scales (per column of B, per output channel
// of Conv) live in the float Mul after the integer op, which is ordinary broadcasting: no opset
// beyond the 11 that DynamicQuantizeLinear needs. ONNX Runtime 1.30's CPU kernels accept uint8
// activations with int8 or uint8 weights for both MatMulInteger and ConvInteger.
//
// Why uint8 by default: ONNX Runtime's u8 x s8 MatMulInteger on x86 CPUs without VNNI (AVX2)
// adds pairs of products in saturating int16, so full-range int8 weights give wrong results
// there (measured: 5-17% relative error on the demo models against exact integer arithmetic,
// which is what the reference executor computes and drift reports); uint8 weights and 7-bit
// int8 weights (reduce_range) are exact. Activations always use DynamicQuantizeLinear's full
// uint8 range. Skipped with a reason: opset < 11, ConvTranspose, Conv that is not 2-D or has a
// computed bias, Gemm with transA = 1 or a computed C scaled by beta, MatMul whose B is not 2-D,
// weights with non-finite values, and every layer without a constant float32 weight.
#include <algorithm>
#include <array>
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

constexpr const char* kName = "quantize-dynamic";
constexpr int64_t kMinOpset = 11;  // DynamicQuantizeLinear

bool has_input(const ir::Node& node, size_t slot) {
  return node.inputs.size() > slot && !node.inputs[slot].empty();
}

// Empty when `node` with `weight` can be quantized dynamically, else why not.
std::string dynamic_problem(const ir::Graph& graph, int64_t opset, const ir::Node& node,
                            const ir::Initializer& weight) {
  if (opset < kMinOpset) {
    return "DynamicQuantizeLinear needs opset 11; the model imports opset " + std::to_string(opset);
  }
  const std::string quoted = "'" + weight.name + "'";
  const int64_t rank = weight.tensor.rank();
  if (node.op_type == "ConvTranspose") {
    return "ConvTranspose has no integer operator in ONNX (ConvInteger is a forward convolution)";
  }
  if (node.op_type == "Conv") {
    if (rank != 4) {
      return "only 2-D Conv is quantized dynamically (weight " + quoted + " is " +
             std::to_string(rank) + "-D)";
    }
    if (has_input(node, 2)) {
      const ir::Initializer* bias = constant_input(graph, node.inputs[2]);
      if (bias == nullptr) {
        return "bias '" + node.inputs[2] + "' is computed by the graph, not a constant initializer";
      }
      if (bias->tensor.dtype() != ir::DType::kFloat ||
          bias->tensor.numel() != weight.tensor.dims()[0]) {
        return "bias '" + node.inputs[2] + "' is not float32 with one value per output channel";
      }
    }
  } else if (node.op_type == "Gemm") {
    if (node.attr_int("transA", 0) != 0) {
      return "transA = 1 is not supported (MatMulInteger cannot transpose its quantized input)";
    }
    if (rank != 2) return "weight " + quoted + " is " + std::to_string(rank) + "-D, not 2-D";
    const float beta = node.attr_float("beta", 1.0f);
    if (has_input(node, 2) && beta != 0.0f && beta != 1.0f) {
      const ir::Initializer* c = constant_input(graph, node.inputs[2]);
      if (c == nullptr) {
        return "C '" + node.inputs[2] +
               "' is computed by the graph and beta is not 1; only a constant C can be scaled "
               "offline";
      }
      if (c->tensor.dtype() != ir::DType::kFloat) {
        return "C '" + node.inputs[2] + "' is not float32";
      }
    }
  } else if (rank != 2) {  // MatMul
    return "input B " + quoted + " is " + std::to_string(rank) +
           "-D; only a 2-D weight [K, N] is quantized dynamically";
  }
  const auto values = weight.tensor.span<float>();
  if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); })) {
    return "weight " + quoted + " has non-finite values";
  }
  return {};
}

LayerScan quantizable_layers(const ir::Model& model) {
  const int64_t opset = model.opset_version("");
  const ir::Graph& graph = model.graph;
  return scan_weight_layers(graph, MatMulWeight::kBOnly,
                            [&graph, opset](const ir::Node& node, const ir::Initializer& weight) {
                              return dynamic_problem(graph, opset, node, weight);
                            });
}

ir::Tensor transposed(const ir::Tensor& w) {
  const int64_t rows = w.dims()[0], cols = w.dims()[1];
  ir::Tensor t = ir::Tensor::uninitialized(ir::DType::kFloat, {cols, rows});
  const auto src = w.span<float>();
  auto dst = t.mutable_span<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[size_t(c * rows + r)] = src[size_t(r * cols + c)];
  }
  return t;
}

std::string scientific(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2e", v);
  return buf;
}

ir::Node make_node(std::string name, std::string op, std::vector<std::string> inputs,
                   std::vector<std::string> outputs) {
  ir::Node n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

class QuantizeDynamic : public pass::Pass {
 public:
  QuantizeDynamic(bool per_channel, QType weight_type, bool weight_symmetric, bool reduce_range,
                  bool bias_correction, bool float16_scales, std::vector<std::string> nodes,
                  LayerFilter filter)
      : per_channel_(per_channel),
        weight_type_(weight_type),
        weight_symmetric_(weight_symmetric),
        reduce_range_(reduce_range),
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
    auto layers = select_layers(quantizable_layers(model), nodes_, kName);
    if (!layers.ok()) return {};
    std::vector<pass::SkippedNode> skipped;
    auto kept = filter_layers(model.graph, std::move(layers).value(), filter_, kName, skipped);
    if (!kept.ok()) return {};
    std::vector<size_t> nodes;
    for (const WeightLayer& layer : *kept) nodes.push_back(layer.node);
    return bias_correction_requests(model.graph, nodes);
  }

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override;

 private:
  // A quantized weight: integer values, the scale shaped for the output Mul (float16 scales
  // through a Cast), and a scalar zero point; readers with the same weight and layout share it.
  struct QuantizedWeight {
    std::string values, scale, zero_point;
    ir::Tensor scale_tensor;   // unshaped [channels] or scalar, for alpha copies and the ledger
    uint64_t bytes = 0;        // stored bytes of the three
    std::string stored_scale;  // the scale initializer: `scale`, or the Cast's float16 input
    int32_t zero = 0;          // the scalar zero point's value
  };

  // Quantizes `weight` into new initializers; a Cast of float16 scales goes into `nodes`.
  QuantizedWeight quantize(ir::Graph& graph, NameGenerator& names, const std::string& weight,
                           bool transpose, bool is_conv, std::vector<ir::Node>& nodes) const;

  bool per_channel_;
  QType weight_type_;
  bool weight_symmetric_;
  bool reduce_range_;
  bool bias_correction_;
  bool float16_scales_;
  std::vector<std::string> nodes_;
  LayerFilter filter_;
};

QuantizeDynamic::QuantizedWeight QuantizeDynamic::quantize(ir::Graph& graph, NameGenerator& names,
                                                           const std::string& weight,
                                                           bool transpose, bool is_conv,
                                                           std::vector<ir::Node>& nodes) const {
  const ir::Tensor& original = graph.find_initializer(weight)->tensor;
  const ir::Tensor w = transpose ? transposed(original) : original;
  // Conv weight [M, C/g, kH, kW]: per output channel (axis 0). MatMul weight [K, N]: per column.
  const int64_t axis = !per_channel_ ? kPerTensor : is_conv ? 0 : 1;
  QuantizedTensor q =
      quantize_weight(w, axis, weight_type_, weight_symmetric_, reduce_range_, {}, float16_scales_);

  // Symmetric zero points are the same for every channel except all-zero channels, which
  // quantize_weight gives scale 1 and zero point 0; storing them at the common zero point keeps
  // them exact and lets one scalar zero point serve the whole tensor. Asymmetric weights are per
  // tensor: their one zero point is the common one.
  const QRange r = qrange(weight_type_, true, reduce_range_);
  int32_t common = weight_type_ == QType::kInt8 ? 0 : (r.min + r.max + 1) / 2;
  if (!weight_symmetric_) {
    common = weight_type_ == QType::kInt8 ? int32_t(q.zero_point.span<int8_t>()[0])
                                          : int32_t(q.zero_point.span<uint8_t>()[0]);
  }
  const size_t channels = static_cast<size_t>(q.scale.numel());
  const size_t inner = static_cast<size_t>(w.numel()) / channels;  // axis 0 or per tensor
  auto fix = [&](auto tag) {
    using T = decltype(tag);
    const auto zero = q.zero_point.span<T>();
    if (std::all_of(zero.begin(), zero.end(), [&](T z) { return z == common; })) return;
    auto values = q.values.mutable_span<T>();
    for (size_t i = 0; i < values.size(); ++i) {
      const size_t c = axis == 1 ? i % channels : axis == 0 ? i / inner : 0;
      if (zero[c] != common) values[i] = static_cast<T>(common);
    }
  };
  ir::Tensor zero_point = ir::Tensor::zeros(qtype_dtype(weight_type_), {});
  if (weight_type_ == QType::kInt8) {
    fix(int8_t{});
    zero_point.mutable_span<int8_t>()[0] = static_cast<int8_t>(common);
  } else {
    fix(uint8_t{});
    zero_point.mutable_span<uint8_t>()[0] = static_cast<uint8_t>(common);
  }

  QuantizedWeight out;
  const std::string base = transpose ? weight + "_transposed" : weight;
  out.values = names.value(base + "_quantized");
  out.scale = names.value(base + "_scale");
  out.zero_point = names.value(base + "_zero_point");
  out.zero = common;
  out.scale_tensor = q.scale;
  ir::Tensor scale = q.half_scale ? ir::float_to_half(q.scale) : q.scale;
  if (is_conv && axis != kPerTensor) scale = scale.reshaped({1, int64_t(channels), 1, 1});
  out.bytes = q.values.nbytes() + scale.nbytes() + zero_point.nbytes();
  graph.set_initializer({out.values, std::move(q.values), nullptr});
  if (q.half_scale) {
    ir::Node cast = make_node(names.node(base + "_scale_cast"), "Cast",
                              {names.value(base + "_scale_float16")}, {out.scale});
    cast.set_attribute(ir::Attribute::make_int("to", static_cast<int64_t>(ir::DType::kFloat)));
    out.stored_scale = cast.inputs[0];
    graph.set_initializer({cast.inputs[0], std::move(scale), nullptr});
    nodes.push_back(std::move(cast));
  } else {
    out.stored_scale = out.scale;
    graph.set_initializer({out.scale, std::move(scale), nullptr});
  }
  graph.set_initializer({out.zero_point, std::move(zero_point), nullptr});
  return out;
}

StatusOr<pass::PassResult> QuantizeDynamic::run(ir::Model& model, pass::PassContext& ctx) {
  ir::Graph& graph = model.graph;
  const int64_t opset = model.opset_version("");
  const LayerScan scan = quantizable_layers(model);
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<WeightLayer> layers, select_layers(scan, nodes_, kName));
  pass::PassResult result;
  if (nodes_.empty()) result.skipped = scan.skipped;
  COMPRESSOR_ASSIGN_OR_RETURN(
      layers, filter_layers(graph, std::move(layers), filter_, kName, result.skipped));
  if (opset < kMinOpset && !scan.skipped.empty()) {
    result.notes.push_back(
        "no layer quantized: DynamicQuantizeLinear needs opset 11, the model imports opset " +
        std::to_string(opset));
  }
  if (layers.empty()) return result;

  NameGenerator names(graph);
  std::optional<BiasCorrector> corrector;
  if (bias_correction_) corrector.emplace(graph, ctx.calibration());
  const char* type_name = weight_type_ == QType::kInt8 ? "int8" : "uint8";
  std::map<std::string, std::array<std::string, 3>> activations;  // X -> (X_q, scale, zero)
  std::map<std::pair<std::string, bool>, QuantizedWeight> weights;
  std::map<std::string, std::string> conv_biases;  // bias -> reshaped copy
  std::set<std::string> float_weights;             // weights given a quantized copy
  std::set<std::string> replaced;                  // constants that may become unused
  std::set<std::string> alpha_scaled;              // weight scales read through alpha copies
  std::map<size_t, std::vector<ir::Node>> before;  // node index -> nodes inserted before it
  std::set<const ir::Node*> originals;
  uint64_t bytes_before = 0, bytes_after = 0;
  size_t conv_count = 0;

  for (const WeightLayer& layer : layers) {
    const ir::Node& node = graph.node(layer.node);
    originals.insert(&node);
    const bool is_conv = node.op_type == "Conv";
    const bool transpose = node.op_type == "Gemm" && node.attr_int("transB", 0) != 0;
    // Copies: bias correction may add an input to the node.
    const std::string x = node.inputs[0];
    const std::string w = node.inputs[1];
    const std::string y = node.outputs[0];
    const std::string label = layer.label;
    std::vector<ir::Node>& out = before[layer.node];

    auto act = activations.find(x);
    if (act == activations.end()) {
      std::array<std::string, 3> q{names.value(x + "_quantized"), names.value(x + "_scale"),
                                   names.value(x + "_zero_point")};
      out.push_back(make_node(names.node(x + "_dynamic_quantize"), "DynamicQuantizeLinear", {x},
                              {q[0], q[1], q[2]}));
      act = activations.emplace(x, q).first;
    }
    const auto& [x_q, x_scale, x_zero] = act->second;

    auto wq = weights.find({w, transpose});
    if (wq == weights.end()) {
      if (float_weights.insert(w).second) {
        bytes_before += graph.find_initializer(w)->tensor.nbytes();
        replaced.insert(w);
      }
      wq = weights
               .emplace(std::make_pair(w, transpose),
                        quantize(graph, names, w, transpose, is_conv, out))
               .first;
      bytes_after += wq->second.bytes;
      // Unread when every reader scales it by alpha (a copy below): removed then.
      replaced.insert(wq->second.stored_scale);
    }
    const QuantizedWeight& qw = wq->second;

    // Bias correction from the weight error as stored (transposed for Gemm with transB).
    std::string corrected;
    if (corrector) {
      const ir::Tensor& original = graph.find_initializer(w)->tensor;
      const ir::Tensor w_float = transpose ? transposed(original) : original;
      const QuantizedTensor stored{graph.find_initializer(qw.values)->tensor, qw.scale_tensor,
                                   graph.find_initializer(qw.zero_point)->tensor};
      const int64_t axis = !per_channel_ ? kPerTensor : is_conv ? 0 : 1;
      corrected =
          corrector->correct(graph, names, layer.node, w_float, dequantize_weight(stored, axis),
                             is_conv ? WeightLayout::kConv : WeightLayout::kMatrix);
    }

    // Integer op -> int32 -> float -> times x_scale * w_scale (* alpha).
    ir::Node integer =
        make_node(names.node(label + "_integer"), is_conv ? "ConvInteger" : "MatMulInteger",
                  {x_q, qw.values, x_zero, qw.zero_point}, {names.value(y + "_integer")});
    if (is_conv) integer.attributes = node.attributes;
    ir::Node cast = make_node(names.node(label + "_cast"), "Cast", {integer.outputs[0]},
                              {names.value(y + "_integer_float")});
    cast.set_attribute(ir::Attribute::make_int("to", static_cast<int64_t>(ir::DType::kFloat)));
    std::string w_scale = qw.scale;
    const float alpha = node.op_type == "Gemm" ? node.attr_float("alpha", 1.0f) : 1.0f;
    if (alpha != 1.0f) {
      ir::Tensor scaled = qw.scale_tensor;  // Gemm: [N] or a scalar, as the Mul reads it
      for (float& s : scaled.mutable_span<float>()) s *= alpha;
      w_scale = names.value(qw.scale + "_alpha");
      bytes_after += scaled.nbytes();
      graph.set_initializer({w_scale, std::move(scaled), nullptr});
      alpha_scaled.insert(qw.stored_scale);
    }
    ir::Node scales = make_node(names.node(label + "_output_scale"), "Mul", {x_scale, w_scale},
                                {names.value(y + "_output_scale")});

    // The bias (Conv B reshaped, Gemm C times beta), if any, comes last.
    std::string bias;
    if (is_conv && has_input(node, 2)) {
      const std::string& b = node.inputs[2];
      auto it = conv_biases.find(b);
      if (it == conv_biases.end()) {
        const ir::Tensor& t = graph.find_initializer(b)->tensor;
        const std::string name = names.value(b + "_reshaped");
        graph.set_initializer({name, t.reshaped({1, t.numel(), 1, 1}), nullptr});
        replaced.insert(b);
        it = conv_biases.emplace(b, name).first;
      }
      bias = it->second;
    } else if (node.op_type == "Gemm" && has_input(node, 2)) {
      const float beta = node.attr_float("beta", 1.0f);
      const std::string& c = node.inputs[2];
      if (beta == 1.0f) {
        bias = c;
      } else if (beta == 0.0f) {
        replaced.insert(c);  // C is not read
      } else {
        ir::Tensor scaled = graph.find_initializer(c)->tensor;
        for (float& v : scaled.mutable_span<float>()) v *= beta;
        bias = names.value(c + "_beta");
        graph.set_initializer({bias, std::move(scaled), nullptr});
        replaced.insert(c);
      }
    }
    ir::Node rescale =
        make_node(names.node(label + "_rescale"), "Mul", {cast.outputs[0], scales.outputs[0]},
                  {bias.empty() ? y : names.value(y + "_unbiased")});
    const std::string rescaled = rescale.outputs[0];
    out.push_back(std::move(integer));
    out.push_back(std::move(cast));
    out.push_back(std::move(scales));
    out.push_back(std::move(rescale));
    if (!bias.empty()) {
      out.push_back(make_node(names.node(label + "_bias"), "Add", {rescaled, bias}, {y}));
    }

    const auto s = qw.scale_tensor.span<float>();
    const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
    std::string layout;
    if (qw.scale_tensor.rank() == 0) {
      layout = weight_symmetric_ ? "per tensor (scale " + scientific(*lo) + ")"
                                 : "asymmetric per tensor (scale " + scientific(*lo) +
                                       ", zero point " + std::to_string(qw.zero) + ")";
    } else {
      layout = std::string(is_conv ? "per output channel" : "per column") + " (scales " +
               scientific(*lo) + ".." + scientific(*hi) + ")";
    }
    result.changes.push_back({label, std::string("dynamic int8: ") +
                                         (is_conv ? "ConvInteger" : "MatMulInteger") + ", weight " +
                                         type_name + " " + layout + corrected});
    conv_count += is_conv ? 1 : 0;
    ++result.nodes_changed;
  }

  // Insert from the back so the recorded positions stay valid, then drop the float layers.
  for (auto it = before.rbegin(); it != before.rend(); ++it) {
    for (auto n = it->second.rbegin(); n != it->second.rend(); ++n) {
      graph.insert_node(it->first, std::move(*n));
    }
  }
  graph.remove_nodes_if([&](const ir::Node& n) { return originals.count(&n) > 0; });
  // A scale every reader took an alpha copy of: its Cast (float16 scales) goes, and the bytes.
  {
    const ir::UseDefIndex index = graph.index();
    for (const auto& [key, qw] : weights) {
      if (!alpha_scaled.count(qw.stored_scale) || index.consumer_count(qw.scale) > 0) continue;
      if (qw.stored_scale != qw.scale) {
        graph.remove_nodes_if([&](const ir::Node& n) {
          return n.op_type == "Cast" && n.outputs.size() == 1 && n.outputs[0] == qw.scale;
        });
      }
      bytes_after -= graph.find_initializer(qw.stored_scale)->tensor.nbytes();
    }
  }

  if (corrector) replaced.insert(corrector->replaced().begin(), corrector->replaced().end());
  const ir::UseDefIndex index = graph.index();
  graph.remove_initializers_if([&](const ir::Initializer& init) {
    return replaced.count(init.name) && index.consumer_count(init.name) == 0 &&
           !index.escapes(init.name) && !graph.is_graph_input(init.name);
  });
  prune_value_info(graph);
  for (const std::string& w : float_weights) {  // a float weight other readers keep still counts
    if (const ir::Initializer* kept = graph.find_initializer(w))
      bytes_after += kept->tensor.nbytes();
  }

  const size_t matmul_count = result.nodes_changed - conv_count;
  std::string what;
  if (matmul_count) what += std::to_string(matmul_count) + " MatMulInteger";
  if (conv_count)
    what += std::string(what.empty() ? "" : ", ") + std::to_string(conv_count) + " ConvInteger";
  result.notes.push_back(
      std::to_string(result.nodes_changed) + " layer" + (result.nodes_changed == 1 ? "" : "s") +
      " to dynamic int8 (" + what + "; weights " + type_name + ", " +
      (per_channel_ ? "per channel" : "per tensor") + (weight_symmetric_ ? "" : ", asymmetric") +
      (reduce_range_ ? ", reduced range" : "") + "), " + std::to_string(activations.size()) +
      " DynamicQuantizeLinear, weights " + human_bytes(bytes_before) + " -> " +
      human_bytes(bytes_after));
  if (weight_type_ == QType::kInt8 && !reduce_range_ && matmul_count > 0) {
    result.notes.push_back(
        "full-range int8 weights: ONNX Runtime's MatMulInteger can saturate on x86 CPUs without "
        "VNNI (AVX2), giving other results than measured here; weight_type=uint8 or "
        "reduce_range=true avoid it");
  }
  if (corrector && !corrector->note().empty()) result.notes.push_back(corrector->note());
  return result;
}

}  // namespace

const pass::PassInfo& quantize_dynamic_info() {
  static const pass::PassInfo info{
      kName,
      "Dynamic int8: MatMul, Gemm and Conv become MatMulInteger/ConvInteger on weights quantized "
      "offline and activations quantized at run time (no calibration).",
      with_layer_selection_options(
          {{"per_channel", "true",
            "One weight scale per output channel (column of B) or per tensor."},
           {"weight_type", "uint8",
            "uint8 (zero point 128) or int8 (zero point 0) weights; full-range int8 can saturate "
            "in ONNX Runtime on x86 CPUs without VNNI."},
           {"weight_symmetric", "true",
            "One zero point in the middle of the weight type's range; false maps each weight's "
            "[min, max] onto the full range (per tensor only: ONNX Runtime's ConvInteger takes "
            "one weight zero point)."},
           {"reduce_range", "false",
            "7-bit weights: int8 weights then cannot saturate ONNX Runtime's u8 x s8 kernels."},
           {"float16_scales", "true",
            "Per-channel scales of 64+ channels as float16 values, stored float16 and cast to "
            "float32."},
           bias_correction_option_info()})};
  return info;
}

const pass::PassInfo& QuantizeDynamic::info() const { return quantize_dynamic_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_quantize_dynamic(const pass::PassOptions& options) {
  bool per_channel = true, weight_symmetric = true, reduce_range = false, bias_correction = false,
       float16_scales = true;
  QType weight_type = QType::kUInt8;
  std::vector<std::string> nodes;
  if (auto it = options.find("per_channel"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(per_channel, parse_bool_option(kName, "per_channel", it->second));
  }
  if (auto it = options.find("reduce_range"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(reduce_range, parse_bool_option(kName, "reduce_range", it->second));
  }
  if (auto it = options.find("weight_symmetric"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(weight_symmetric,
                                parse_bool_option(kName, "weight_symmetric", it->second));
  }
  if (!weight_symmetric && per_channel) {
    return invalid_argument(std::string(kName) +
                            ": weight_symmetric=false needs per_channel=false: ONNX Runtime's "
                            "ConvInteger takes one weight zero point for all output channels");
  }
  if (auto it = options.find("weight_type"); it != options.end()) {
    if (it->second == "int8") {
      weight_type = QType::kInt8;
    } else if (it->second == "uint8") {
      weight_type = QType::kUInt8;
    } else {
      return invalid_argument(std::string(kName) +
                              ": option 'weight_type' must be int8 or uint8, got '" + it->second +
                              "'");
    }
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
  return std::unique_ptr<pass::Pass>(
      new QuantizeDynamic(per_channel, weight_type, weight_symmetric, reduce_range, bias_correction,
                          float16_scales, std::move(nodes), std::move(filter)));
}

}  // namespace compressor::passes
