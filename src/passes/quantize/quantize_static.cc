// quantize-static: static int8 quantization from calibrated activation ranges, in the QDQ format
// ONNX Runtime fuses into integer kernels (or, with format=qoperator, as QLinearConv and
// QLinearMatMul nodes).
//
// Before:  X -> Conv(X, W:float32, B:float32) -> Y -> consumers
// After:   X -> QuantizeLinear(X_scale, X_zero_point) -> DequantizeLinear -> X_dequantized
//          DequantizeLinear(W_quantized:int8, W_scale) -> W_dequantized
//          DequantizeLinear(B_quantized:int32, B_scale = X_scale * W_scale) -> B_dequantized
//          Conv(X_dequantized, W_dequantized, B_dequantized) -> Y_float
//          Y_float -> QuantizeLinear(Y_scale, Y_zero_point) -> DequantizeLinear -> Y -> consumers
//
// Layers: Conv, ConvTranspose, Gemm and MatMul of the default domain. A constant float32 weight
// is stored as symmetric int8 (per output channel from opset 13 with per_channel=true, else per
// tensor), or with weight_symmetric=false as int8 over its [min, max] with a zero point (per
// tensor only); a MatMul whose inputs are both activations quantizes both as activations. The Conv
// and ConvTranspose bias and a 1-D Gemm C become int32 with scale input scale x weight scale
// and zero point 0. Zero points that are 0 are left out of the weight and bias
// DequantizeLinear nodes (0 is the default; ONNX Runtime fuses the node units the same way);
// QuantizeLinear keeps its zero point (it fixes the output type), and so do QLinear ops.
// With float16_scales (the default), per-channel weight scales of at least kHalfScaleMinChannels
// channels are float16 values, stored as a float16 initializer that a Cast turns into the float32
// scale the DequantizeLinear or QLinear op reads (see quantize_weight). QLinear ops get a scalar
// weight zero point of 0 for symmetric weights, per channel or not.
//
// Activations: each float tensor read or written by a quantized node gets one QuantizeLinear ->
// DequantizeLinear pair, shared by every reader, with the scale and zero point of its calibrated
// range (ctx.calibration()). A tensor written by a quantized node keeps its name: the node
// writes `<name>_float` and the DequantizeLinear writes the original name, so graph outputs
// keep their names and also end in a QDQ pair (ONNX Runtime then fuses the whole node unit).
// A tensor coming from a graph input or a float node keeps its readers outside the quantized
// set on the float value; only quantized readers read `<name>_dequantized`.
//
// Relu or Clip as the only reader of a layer's output joins the layer: the QDQ pair goes on the
// activation's output instead of the layer's (ONNX Runtime drops a Relu/Clip in front of a
// QuantizeLinear whose range it covers and fuses Conv+Q). The activation node is kept, so the
// model computes the same either way. With `nodes` (one layer at a time) or format=qoperator the
// activation is not joined; the layer's output is quantized with the activation's range instead.
//
// Ops ONNX Runtime runs quantized between quantized layers (Add, Mul, Concat, AveragePool,
// GlobalAveragePool with their own output range; MaxPool, Reshape, Flatten, Transpose, Squeeze,
// Unsqueeze, Resize with the parameters of their input, as its QDQ-dropping rules require) are
// quantized too when every float input is an activation (not an initializer or Constant) and
// one neighbour is quantized, and the calibration table has their ranges; not with `nodes`.
//
// format=qoperator: Conv (2-D) becomes QLinearConv (int32 bias as input 8) and MatMul becomes
// QLinearMatMul, reading the QuantizeLinear outputs and writing the quantized output that the
// output's DequantizeLinear reads; DequantizeLinear nodes left unread are removed. Gemm and
// ConvTranspose have no QLinear form and stay QDQ (the ledger says so).
//
// Symmetric weights are int8 in [-127, 127], with reduce_range [-63, 63] (asymmetric ones
// [-128, 127] and [-64, 63]). Activations keep all 8 bits: 7-bit weights alone keep the sums of
// two u8 x s8 products within int16 (2 * 255 * 64 < 2^15), which is what CPUs without VNNI need,
// and a Relu's output range then starts at the type's minimum, where ONNX Runtime drops the Relu
// and fuses its Conv. Layers the `nodes` option does not name are not listed anywhere. ONNX
// Runtime's CPU provider converts an int8 activation pair to uint8 only when its QuantizeLinear
// feeds one DequantizeLinear reader node: a tensor read by several layers (the Q/K/V projections
// of attention) then stays float there; activation_type=uint8 avoids that, and the report counts
// the layers concerned (layers_on_shared_int8).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "../pass_util.h"
#include "../weight_layers.h"
#include "bias_correction.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"
#include "quant_util.h"

namespace compressor::passes {
namespace {

constexpr const char* kName = "quantize-static";
constexpr size_t kNoWeight = static_cast<size_t>(-1);  // WeightLayer::slot of activation MatMuls
constexpr size_t kNone = static_cast<size_t>(-1);

enum class Format { kQdq, kQOperator };

struct Options {
  Format format = Format::kQdq;
  bool per_channel = true;
  QType activation = QType::kInt8;
  bool symmetric = false;
  bool weight_symmetric = true;
  bool reduce_range = false;
  bool bias_correction = false;
  bool float16_scales = true;
  std::vector<std::string> nodes;
  LayerFilter filter;
};

// How an op between quantized layers is quantized.
enum class Through { kNone, kSameParams, kOwnRange };

Through through_kind(const ir::Node& node) {
  if (!node.in_default_domain() || node.outputs.size() != 1 || node.has_subgraphs()) {
    return Through::kNone;
  }
  static const std::set<std::string> same = {"MaxPool", "Reshape",   "Flatten", "Transpose",
                                             "Squeeze", "Unsqueeze", "Resize"};
  static const std::set<std::string> own = {"Add", "Mul", "Concat", "AveragePool",
                                            "GlobalAveragePool"};
  if (same.count(node.op_type)) return Through::kSameParams;
  if (own.count(node.op_type)) return Through::kOwnRange;
  return Through::kNone;
}

// Input slots of a pass-through op that carry float data (not shapes, axes or scales).
std::vector<size_t> data_slots(const ir::Node& node) {
  if (node.op_type == "Add" || node.op_type == "Mul" || node.op_type == "Concat") {
    std::vector<size_t> slots;
    for (size_t i = 0; i < node.inputs.size(); ++i) slots.push_back(i);
    return slots;
  }
  return {0};
}

// A Mul of x and a gate computed from x alone by an op that stays float (HardSwish written as
// x * HardSigmoid(x), as fuse-hardswish leaves it, or SiLU as x * Sigmoid(x)). Quantizing it
// would round the gate once more, to feed a QLinearMul that costs ONNX Runtime about what the
// float Mul does, so it stays float; its output is quantized where a quantized node reads it.
bool is_self_gated_mul(const ir::Graph& graph, const ir::UseDefIndex& index, const ir::Node& node) {
  if (node.op_type != "Mul" || node.inputs.size() != 2) return false;
  for (size_t k = 0; k < 2; ++k) {
    auto p = index.producer.find(node.inputs[k]);
    if (p == index.producer.end()) continue;
    const ir::Node& gate = graph.node(p->second);
    if (gate.in_default_domain() && (gate.op_type == "HardSigmoid" || gate.op_type == "Sigmoid") &&
        gate.inputs.size() == 1 && gate.inputs[0] == node.inputs[1 - k]) {
      return true;
    }
  }
  return false;
}

bool is_fusable_activation(const ir::Node& node) {
  return node.in_default_domain() && (node.op_type == "Relu" || node.op_type == "Clip") &&
         node.outputs.size() == 1 && !node.inputs.empty();
}

// Declared element types of values (graph inputs, outputs, value_info, initializers).
std::map<std::string, ir::DType> declared_dtypes(const ir::Graph& graph) {
  std::map<std::string, ir::DType> types;
  for (const auto* list : {&graph.inputs, &graph.outputs, &graph.value_info}) {
    for (const auto& vi : *list) {
      if (vi.is_tensor()) types[vi.name()] = vi.dtype();
    }
  }
  for (const auto& init : graph.initializers()) types[init.name] = init.tensor.dtype();
  return types;
}

ir::DType dtype_of(const std::map<std::string, ir::DType>& types, const std::string& name) {
  auto it = types.find(name);
  return it == types.end() ? ir::DType::kUndefined : it->second;
}

bool maybe_float(const std::map<std::string, ir::DType>& types, const std::string& name) {
  const ir::DType t = dtype_of(types, name);
  return t == ir::DType::kFloat || t == ir::DType::kUndefined;
}

// A non-empty value computed by the graph or fed by the caller (not a constant initializer).
bool is_activation(const ir::Graph& graph, const std::string& name) {
  return !name.empty() && constant_input(graph, name) == nullptr;
}

// A quantized layer and the tensors its node unit quantizes.
struct LayerPlan {
  WeightLayer layer;              ///< slot == kNoWeight for activation x activation MatMul.
  std::vector<size_t> act_slots;  ///< Input slots quantized as activations.
  std::string output;             ///< Tensor carrying the unit's output QDQ pair.
  size_t fused = kNone;           ///< Relu/Clip joined to the layer, or kNone.
};

struct Plan {
  std::vector<LayerPlan> layers;
  std::vector<pass::SkippedNode> skipped;
  std::set<size_t> quantized;   ///< Node indices: layers, joined activations, pass-through ops.
  std::vector<size_t> through;  ///< Pass-through ops, in graph order.
  std::set<std::pair<size_t, size_t>> reads;    ///< (node, slot) reading a quantized tensor.
  std::vector<std::string> tensors;             ///< Tensors getting a QDQ pair, first need first.
  std::set<std::string> layer_tensors;          ///< Those a quantized layer needs.
  std::map<std::string, std::string> range_of;  ///< Tensor -> tensor whose range it uses.
  /// Ranges any of these layers needs when quantized alone (with `nodes`): its activation
  /// inputs and its output (the output of a Relu/Clip reading it alone, when there is one).
  std::vector<std::string> single_layer_needs;
  size_t through_dropped = 0;  ///< Pass-through ops left float for want of a range.
  size_t gated_float = 0;      ///< Self-gated Muls (x * HardSigmoid(x)) left float.
  std::string note;            ///< Why nothing could be quantized, when that is the case.
};

LayerScan scan_layers(const ir::Model& model) {
  const ir::Graph& graph = model.graph;
  const int64_t opset = model.opset_version("");
  const std::string too_old =
      "QuantizeLinear needs opset 10; the model imports opset " + std::to_string(opset);
  LayerScan scan = scan_weight_layers(
      graph, MatMulWeight::kBOnly,
      [&](const ir::Node&, const ir::Initializer& weight) -> std::string {
        if (opset < 10) return too_old;
        const auto values = weight.tensor.span<float>();
        if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); })) {
          return "weight '" + weight.name + "' has non-finite values";
        }
        return {};
      });
  // MatMuls without a constant B whose inputs are both activations are quantized as such.
  const auto types = declared_dtypes(graph);
  std::map<std::string, size_t> matmuls;
  for (size_t i = 0; i < graph.node_count(); ++i) {
    const ir::Node& n = graph.node(i);
    if (n.op_type == "MatMul" && n.in_default_domain()) matmuls[pass::node_label(n)] = i;
  }
  std::vector<pass::SkippedNode> still_skipped;
  for (auto& s : scan.skipped) {
    auto it = matmuls.find(s.node);
    if (it == matmuls.end()) {
      if (opset < 10 && s.reason.find("opset") == std::string::npos) s.reason = too_old;
      still_skipped.push_back(std::move(s));
      continue;
    }
    const ir::Node& n = graph.node(it->second);
    if (n.inputs.size() < 2 || !is_activation(graph, n.inputs[0]) ||
        !is_activation(graph, n.inputs[1])) {
      still_skipped.push_back(std::move(s));
      continue;
    }
    if (opset < 10) {
      still_skipped.push_back({s.node, too_old});
      continue;
    }
    std::string problem;
    for (size_t k = 0; k < 2 && problem.empty(); ++k) {
      if (!maybe_float(types, n.inputs[k])) {
        problem = std::string(k ? "input B '" : "input A '") + n.inputs[k] + "' is " +
                  std::string(ir::dtype_name(dtype_of(types, n.inputs[k]))) + ", not float32";
      }
    }
    if (!problem.empty()) {
      still_skipped.push_back({s.node, problem});
      continue;
    }
    scan.layers.push_back({it->second, kNoWeight, s.node});
  }
  // The data input of a weight layer must be an activation (a constant one has no range).
  std::erase_if(scan.layers, [&](const WeightLayer& layer) {
    if (layer.slot == kNoWeight) return false;
    const std::string& x = graph.node(layer.node).inputs[0];
    if (is_activation(graph, x)) return false;
    still_skipped.push_back({layer.label, x.empty() ? "input 0 is missing"
                                                    : "input '" + x +
                                                          "' is a constant initializer, not an "
                                                          "activation"});
    return true;
  });
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < graph.node_count(); ++i) {
    position.emplace(pass::node_label(graph.node(i)), i);
  }
  std::stable_sort(still_skipped.begin(), still_skipped.end(),
                   [&](const pass::SkippedNode& a, const pass::SkippedNode& b) {
                     return position[a.node] < position[b.node];
                   });
  scan.skipped = std::move(still_skipped);
  std::stable_sort(scan.layers.begin(), scan.layers.end(),
                   [](const WeightLayer& a, const WeightLayer& b) { return a.node < b.node; });
  return scan;
}

// The QDQ plan for `model`. With `table`, pass-through ops whose ranges it lacks stay float
// (layers always need theirs; run() checks them).
StatusOr<Plan> make_plan(const ir::Model& model, const Options& options,
                         const pass::CalibrationTable* table) {
  const ir::Graph& graph = model.graph;
  Plan plan;
  const LayerScan scan = scan_layers(model);
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<WeightLayer> layers,
                              select_layers(scan, options.nodes, kName));
  if (options.nodes.empty()) plan.skipped = scan.skipped;
  COMPRESSOR_ASSIGN_OR_RETURN(
      layers, filter_layers(graph, std::move(layers), options.filter, kName, plan.skipped));
  const int64_t opset = model.opset_version("");
  if (opset < 10 && !scan.skipped.empty()) {
    plan.note = "no layer quantized: QuantizeLinear needs opset 10, the model imports opset " +
                std::to_string(opset);
  }
  // Calibration keeps float32 tensors only: an activation MatMul whose input has no range and
  // no declared type is taken to compute on other types and stays as it is.
  if (table != nullptr) {
    const auto types = declared_dtypes(graph);
    std::erase_if(layers, [&](const WeightLayer& layer) {
      if (layer.slot != kNoWeight) return false;
      for (const std::string& in : graph.node(layer.node).inputs) {
        if (!table->ranges.count(in) && dtype_of(types, in) == ir::DType::kUndefined) {
          plan.skipped.push_back({layer.label, "input '" + in +
                                                   "' has no calibration range (only float32 "
                                                   "tensors are calibrated)"});
          return true;
        }
      }
      return false;
    });
  }
  if (layers.empty()) return plan;

  const ir::UseDefIndex index = graph.index();
  const bool join_activations = options.nodes.empty() && options.format == Format::kQdq;
  std::map<std::string, std::string> borrowed;  // layer output -> activation output range
  for (const WeightLayer& layer : layers) {
    const ir::Node& node = graph.node(layer.node);
    LayerPlan lp{layer, {}, node.outputs.empty() ? std::string() : node.outputs[0], kNone};
    lp.act_slots = layer.slot == kNoWeight ? std::vector<size_t>{0, 1} : std::vector<size_t>{0};
    plan.quantized.insert(layer.node);
    for (size_t slot : lp.act_slots) plan.reads.insert({layer.node, slot});
    for (size_t slot : lp.act_slots) plan.single_layer_needs.push_back(node.inputs[slot]);
    const std::string& y = lp.output;
    std::string alone_output = y;
    auto consumers = index.consumers.find(y);
    if (!y.empty() && !index.escapes(y) && consumers != index.consumers.end() &&
        consumers->second.size() == 1) {
      const size_t c = consumers->second[0];
      const ir::Node& act = graph.node(c);
      if (is_fusable_activation(act) && act.inputs[0] == y) {
        alone_output = act.outputs[0];
        if (join_activations) {
          lp.fused = c;
          lp.output = act.outputs[0];
          plan.quantized.insert(c);
        } else {
          borrowed[y] = act.outputs[0];
        }
      }
    }
    plan.single_layer_needs.push_back(alone_output);
    plan.layers.push_back(std::move(lp));
  }

  // Pass-through ops next to quantized nodes, to a fixed point; with a table, ops whose ranges
  // it lacks are excluded and the fixed point recomputed.
  const auto types = declared_dtypes(graph);
  std::set<size_t> excluded;
  const std::set<size_t> core = plan.quantized;
  std::map<std::string, std::string> source;  // same-params output -> its input
  std::set<size_t> through;
  std::set<size_t> gated;  // self-gated Muls next to quantized nodes, left float
  std::map<size_t, std::vector<size_t>> layer_slots;
  for (const auto& lp : plan.layers) layer_slots[lp.layer.node] = lp.act_slots;
  auto quantized_slots = [&](size_t k) {
    auto it = layer_slots.find(k);
    if (it != layer_slots.end()) return it->second;
    return through_kind(graph.node(k)) != Through::kNone ? data_slots(graph.node(k))
                                                         : std::vector<size_t>{};
  };
  auto resolve = [&](std::string t) {
    for (auto it = source.find(t); it != source.end(); it = source.find(t)) t = it->second;
    if (auto b = borrowed.find(t); b != borrowed.end()) t = b->second;
    return t;
  };
  for (bool again = options.nodes.empty(); again;) {
    again = false;
    std::set<size_t> in = core;
    through.clear();
    gated.clear();
    for (bool grew = true; grew;) {
      grew = false;
      for (size_t i = 0; i < graph.node_count(); ++i) {
        if (in.count(i) || excluded.count(i)) continue;
        const ir::Node& n = graph.node(i);
        const Through kind = through_kind(n);
        if (kind == Through::kNone || !maybe_float(types, n.outputs[0])) continue;
        const auto slots = data_slots(n);
        bool usable = true, adjacent = false;
        for (size_t s : slots) {
          if (s >= n.inputs.size() || !is_activation(graph, n.inputs[s]) ||
              !maybe_float(types, n.inputs[s])) {
            usable = false;
            break;
          }
          auto p = index.producer.find(n.inputs[s]);
          if (p != index.producer.end() && graph.node(p->second).op_type == "Constant") {
            usable = false;  // a constant operand (Add of a bias) keeps the op float
            break;
          }
          adjacent = adjacent || (p != index.producer.end() && in.count(p->second));
        }
        if (!usable) continue;
        // A quantized reader counts only where it reads the value as quantized data (not as a
        // shape, axes or scales input).
        if (auto c = index.consumers.find(n.outputs[0]); c != index.consumers.end()) {
          for (size_t k : c->second) {
            if (!in.count(k)) continue;
            for (size_t s : quantized_slots(k)) {
              adjacent = adjacent || graph.node(k).inputs[s] == n.outputs[0];
            }
          }
        }
        if (!adjacent) continue;
        if (is_self_gated_mul(graph, index, n)) {
          gated.insert(i);
          continue;
        }
        in.insert(i);
        through.insert(i);
        grew = true;
      }
    }
    source.clear();
    for (size_t i : through) {
      const ir::Node& n = graph.node(i);
      if (through_kind(n) == Through::kSameParams) source[n.outputs[0]] = n.inputs[0];
    }
    if (table == nullptr) break;
    for (size_t i : through) {
      const ir::Node& n = graph.node(i);
      bool have = table->ranges.count(resolve(n.outputs[0])) > 0;
      for (size_t s : data_slots(n)) have = have && table->ranges.count(resolve(n.inputs[s]));
      if (!have) {
        excluded.insert(i);
        again = true;
      }
    }
  }
  plan.through_dropped = excluded.size();
  plan.gated_float = gated.size();
  for (size_t i : through) {
    plan.quantized.insert(i);
    plan.through.push_back(i);
    for (size_t s : data_slots(graph.node(i))) plan.reads.insert({i, s});
  }

  // Tensors in graph order of the nodes that need them.
  std::set<std::string> seen;
  auto need = [&](const std::string& t, bool for_layer) {
    if (t.empty()) return;
    if (seen.insert(t).second) {
      plan.tensors.push_back(t);
      plan.range_of[t] = resolve(t);
    }
    if (for_layer) plan.layer_tensors.insert(t);
  };
  std::map<size_t, const LayerPlan*> layer_at;
  for (const auto& lp : plan.layers) layer_at[lp.layer.node] = &lp;
  for (size_t i : plan.quantized) {
    const ir::Node& n = graph.node(i);
    if (auto it = layer_at.find(i); it != layer_at.end()) {
      for (size_t s : it->second->act_slots) need(n.inputs[s], true);
      need(it->second->output, true);
    } else if (through.count(i)) {
      for (size_t s : data_slots(n)) need(n.inputs[s], false);
      need(n.outputs[0], false);
    }
  }
  return plan;
}

std::string fmt(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), spec, v);
  return buf;
}

// "1.2e-04..3.4e-02" or "1.2e-04" for a scale tensor.
std::string scale_span(const ir::Tensor& scale) {
  const auto s = scale.span<float>();
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  if (*lo == *hi) return fmt("%.1e", *lo);
  return fmt("%.1e", *lo) + ".." + fmt("%.1e", *hi);
}

ir::Tensor scalar_zero_point(QType type, int32_t zp) {
  if (type == QType::kInt8) {
    const int8_t v = static_cast<int8_t>(zp);
    return ir::Tensor::from_values<int8_t>({}, std::span<const int8_t>(&v, 1));
  }
  const uint8_t v = static_cast<uint8_t>(zp);
  return ir::Tensor::from_values<uint8_t>({}, std::span<const uint8_t>(&v, 1));
}

ir::Tensor scalar_float(float v) {
  return ir::Tensor::from_values<float>({}, std::span<const float>(&v, 1));
}

class QuantizeStatic : public pass::Pass {
 public:
  explicit QuantizeStatic(Options options) : options_(std::move(options)) {}

  const pass::PassInfo& info() const override;

  std::vector<std::string> eligible_nodes(const ir::Model& model) const override {
    return layer_labels(scan_layers(model).layers);
  }

  std::vector<std::string> calibration_tensors(const ir::Model& model) const override {
    auto plan = make_plan(model, options_, nullptr);
    if (!plan.ok()) return {};
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (const auto& t : plan->tensors) {
      const std::string& source = plan->range_of.at(t);
      if (seen.insert(source).second) names.push_back(source);
    }
    // Also what each layer needs alone, so that the same table serves runs with `nodes`.
    for (const auto& t : plan->single_layer_needs) {
      if (!t.empty() && seen.insert(t).second) names.push_back(t);
    }
    return names;
  }

  std::vector<pass::ChannelRequest> channel_statistics(const ir::Model& model) const override {
    if (!options_.bias_correction) return {};
    auto plan = make_plan(model, options_, nullptr);
    if (!plan.ok()) return {};
    std::vector<size_t> nodes;
    for (const LayerPlan& lp : plan->layers) {
      if (lp.layer.slot != kNoWeight) nodes.push_back(lp.layer.node);
    }
    return bias_correction_requests(model.graph, nodes);
  }

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override;

 private:
  Options options_;
};

// One QDQ pair on an activation tensor.
struct QdqTensor {
  QParams params;
  bool renamed = false;  ///< The producer now writes `<name>_float`.
  std::string q_value;   ///< QuantizeLinear output.
  std::string scale, zero_point;
  std::string dq_value;        ///< What quantized readers read.
  ir::Node* q_node = nullptr;  ///< Pending QuantizeLinear (null once a QLinear op replaced it).
};

// Output parameters of a Softmax whose output range starts at 0: scale 1 / N for an integer N
// (at most the calibrated resolution, and small enough that probability 1 still fits above the
// zero point). ONNX Runtime's fused QLinearSoftmax multiplies by floor(1 / scale), so any other
// scale makes it compute probabilities up to 1 / N smaller than the model's QDQ semantics (one
// step low on large values, measured on PP-OCR rec's attention).
QParams softmax_output_qparams(QParams p, QType type) {
  const double top = type == QType::kInt8 ? 127.0 : 255.0;
  double n = std::floor(1.0 / double(p.scale));
  n = std::clamp(n, 1.0, top - double(p.zero_point));
  float s = static_cast<float>(1.0 / n);
  // The float reciprocal must floor to exactly n.
  while (std::floor(1.0f / s) < float(n)) s = std::nextafter(s, 0.0f);
  while (std::floor(1.0f / s) > float(n)) s = std::nextafter(s, INFINITY);
  p.scale = s;
  return p;
}

// An int32 bias beyond 2^30 leaves a runtime's int32 accumulator too little room for the
// products added to it (ONNX Runtime's fused kernels would overflow and wrap).
constexpr double kBiasLimit = 1073741824.0;  // 2^30

// The output channel count a 1-D bias of `node` (Conv/ConvTranspose input 2, Gemm C) has, or -1.
int64_t bias_channels(const ir::Node& node, const ir::Tensor& w) {
  const bool shaped = node.op_type == "Gemm" ? w.rank() == 2 : w.rank() >= 2;
  return shaped ? layer_output_channels(node, w) : -1;
}

// The smallest weight scale per channel (or one for a per-tensor weight) that keeps the layer's
// float bias within 2^29 as int32 at scale input scale x weight scale (half the limit, so a bias
// correction may still grow it). Channels whose weights are all but zero (a folded batch norm
// with a vanishing gamma) would otherwise get scales like 1e-17 and a bias of 1e10 steps, which
// cannot be stored: left float, ONNX Runtime rounds such a bias to int32 itself (its bias
// quantization transformer) and then computes something other than the model. Empty when
// nothing needs a floor.
std::vector<float> weight_scale_floor(const ir::Graph& graph, const ir::Node& node,
                                      const ir::Tensor& w, int64_t axis, const QdqTensor* x) {
  if (x == nullptr || node.op_type == "MatMul" || node.inputs.size() < 3 ||
      node.inputs[2].empty()) {
    return {};
  }
  const ir::Initializer* b = constant_input(graph, node.inputs[2]);
  const int64_t channels = bias_channels(node, w);
  if (b == nullptr || b->tensor.dtype() != ir::DType::kFloat || b->tensor.rank() != 1 ||
      b->tensor.dims()[0] != channels || !(x->params.scale > 0.0f)) {
    return {};
  }
  const auto bv = b->tensor.span<float>();
  std::vector<float> floors(axis == kPerTensor ? 1 : bv.size(), 0.0f);
  bool any = false;
  for (size_t c = 0; c < bv.size(); ++c) {
    const double need = std::fabs(double(bv[c])) / (double(x->params.scale) * (kBiasLimit / 2));
    if (!std::isfinite(need) || need <= 0.0) continue;
    float& f = floors[floors.size() == 1 ? 0 : c];
    f = std::max(f, std::nextafter(static_cast<float>(need), INFINITY));
    any = true;
  }
  if (!any) return {};
  return floors;
}

// True when x * n lands exactly on a half for some integer n of magnitude below 2^bits: x is a
// fraction with a denominator of at most 2^bits (and not a whole number).
bool ties_possible(double x, int bits) {
  const double scaled = std::ldexp(x, bits);
  return std::isfinite(x) && x != std::floor(x) && scaled == std::floor(scaled);
}

// Requantizing an Add, Mul or Concat multiplies the integer inputs by ratios of scales (Add and
// Concat: input scale / output scale; Mul: product of the input scales / output scale). When
// such a ratio is a short binary fraction (0.5: two inputs of one range added into twice that
// range), many results land exactly on a rounding boundary, and which way each goes depends
// on the order of float operations: ONNX Runtime's fused kernels and a float evaluation of the
// QDQ graph then disagree on a third of the values (measured on PP-OCRv4 det). Widening the
// output range by 2^-10 moves every result at least 2^-11 of a step off the boundary, far
// beyond float rounding. Outputs in graph order, so each sees its inputs' final parameters.
// Returns how many output ranges were widened.
size_t keep_off_ties(const ir::Graph& graph, const Plan& plan, const pass::CalibrationTable& table,
                     QType act, const Options& options, std::map<std::string, QParams>& params_of) {
  size_t widened = 0;
  for (size_t i : plan.through) {
    const ir::Node& n = graph.node(i);
    if (n.op_type != "Add" && n.op_type != "Mul" && n.op_type != "Concat") continue;
    const std::string& out = plan.range_of.at(n.outputs[0]);
    const std::vector<size_t> slots = data_slots(n);
    std::vector<double> in_scales;
    for (size_t s : slots) {
      auto it = plan.range_of.find(n.inputs[s]);
      if (it == plan.range_of.end() || !params_of.count(it->second)) break;
      in_scales.push_back(params_of.at(it->second).scale);
    }
    if (in_scales.size() != slots.size()) continue;
    const pass::TensorRange& range = table.ranges.at(out);
    for (int k = 1; k <= 4; ++k) {
      const double s_out = params_of.at(out).scale;
      bool tie = false;
      if (n.op_type == "Mul") {
        tie = in_scales.size() == 2 && ties_possible(in_scales[0] * in_scales[1] / s_out, 17);
      } else {
        for (double s_in : in_scales) tie = tie || ties_possible(s_in / s_out, 10);
      }
      if (!tie) break;
      const double f = std::pow(1.0 + std::ldexp(1.0, -10), k);
      params_of[out] = choose_qparams(range.min * f, range.max * f, act, options.symmetric,
                                      /*reduce_range=*/false);
      widened += k == 1;
    }
  }
  return widened;
}

// Quantized layers of the QDQ graph that ONNX Runtime's CPU provider on x86 runs in float with
// int8 activations. It fuses a node unit only after turning its int8 Q/DQ pairs into uint8, and
// it does that for a QuantizeLinear whose value one node reads (it first gives each reader a
// DequantizeLinear of its own): a layer that reads or writes a tensor several nodes read stays
// DequantizeLinear -> float layer -> QuantizeLinear there.
size_t layers_on_shared_int8(const ir::Graph& graph) {
  const ir::UseDefIndex idx = graph.index();
  auto producer = [&](const std::string& v) -> const ir::Node* {
    auto it = idx.producer.find(v);
    return it == idx.producer.end() ? nullptr : &graph.node(it->second);
  };
  auto readers_of = [&](const std::string& v) {
    auto it = idx.consumers.find(v);
    return it == idx.consumers.end() ? std::vector<size_t>{} : it->second;
  };
  // Nodes reading a QuantizeLinear's value, through its DequantizeLinears.
  auto shared = [&](const ir::Node& q) {
    size_t readers = idx.escapes(q.outputs[0]) ? 1 : 0;
    for (size_t c : readers_of(q.outputs[0])) {
      const ir::Node& dq = graph.node(c);
      readers += dq.op_type != "DequantizeLinear"
                     ? 1
                     : idx.consumer_count(dq.outputs[0]) + (idx.escapes(dq.outputs[0]) ? 1 : 0);
    }
    return readers > 1;
  };
  size_t count = 0;
  for (size_t i = 0; i < graph.node_count(); ++i) {
    const ir::Node& n = graph.node(i);
    if (!n.in_default_domain() || n.outputs.empty() ||
        (n.op_type != "Conv" && n.op_type != "ConvTranspose" && n.op_type != "Gemm" &&
         n.op_type != "MatMul")) {
      continue;
    }
    bool quantized = false, on_shared = false;
    for (size_t s = 0; s < 2 && s < n.inputs.size(); ++s) {
      const ir::Node* dq = producer(n.inputs[s]);
      const ir::Node* q =
          dq != nullptr && dq->op_type == "DequantizeLinear" ? producer(dq->inputs[0]) : nullptr;
      if (q == nullptr || q->op_type != "QuantizeLinear") continue;  // a weight, or float
      quantized = true;
      on_shared = on_shared || shared(*q);
    }
    // The output's QuantizeLinear, after a Relu or Clip that reads the layer alone.
    std::string out = n.outputs[0];
    std::vector<size_t> readers = readers_of(out);
    if (readers.size() == 1 && is_fusable_activation(graph.node(readers[0]))) {
      out = graph.node(readers[0]).outputs[0];
      readers = readers_of(out);
    }
    for (size_t c : readers) {
      if (graph.node(c).op_type == "QuantizeLinear") on_shared = on_shared || shared(graph.node(c));
    }
    count += quantized && on_shared ? 1 : 0;
  }
  return count;
}

StatusOr<pass::PassResult> QuantizeStatic::run(ir::Model& model, pass::PassContext& ctx) {
  ir::Graph& graph = model.graph;
  const pass::CalibrationTable* table = ctx.calibration();
  COMPRESSOR_ASSIGN_OR_RETURN(Plan plan, make_plan(model, options_, table));
  pass::PassResult result;
  result.skipped = plan.skipped;
  if (!plan.note.empty()) result.notes.push_back(plan.note);
  if (plan.layers.empty()) return result;

  for (const std::string& t : plan.tensors) {
    const std::string& source = plan.range_of.at(t);
    if (table == nullptr || !table->ranges.count(source)) {
      // Only layer tensors can be missing here: make_plan leaves other ops float without them.
      return invalid_argument(std::string(kName) + ": no calibration range for tensor '" + source +
                              "' (run with sample data or --calibration-table that has it)");
    }
    const pass::TensorRange& r = table->ranges.at(source);
    if (!std::isfinite(r.min) || !std::isfinite(r.max) || r.min > r.max) {
      return invalid_argument(std::string(kName) + ": calibration range of tensor '" + source +
                              "' is [" + fmt("%g", r.min) + ", " + fmt("%g", r.max) +
                              "]; it must be finite with min <= max");
    }
  }

  const int64_t opset = model.opset_version("");
  const bool per_channel = options_.per_channel && opset >= 13;
  const QType act = options_.activation;
  const ir::UseDefIndex index = graph.index();
  NameGenerator names(graph);
  const size_t n_nodes = graph.node_count();
  std::vector<std::vector<ir::Node>> before(n_nodes), after(n_nodes);
  std::vector<ir::Node> front;
  std::set<std::string> created;  // names of nodes this pass adds
  std::optional<BiasCorrector> corrector;
  if (options_.bias_correction) corrector.emplace(graph, table);
  std::set<std::string> added_initializers;
  auto add_initializer = [&](const std::string& name, ir::Tensor tensor) {
    added_initializers.insert(name);
    graph.set_initializer({name, std::move(tensor), nullptr});
  };

  auto make_node = [&](const std::string& op, const std::string& hint,
                       std::vector<std::string> inputs, std::vector<std::string> outputs) {
    ir::Node n;
    n.op_type = op;
    n.name = names.node(hint);
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    created.insert(n.name);
    return n;
  };

  // Activation parameters, per range source (tensors that share a range share them).
  std::map<std::string, QParams> params_of;
  for (const std::string& t : plan.tensors) {
    const std::string& source = plan.range_of.at(t);
    if (params_of.count(source)) continue;
    const pass::TensorRange& range = table->ranges.at(source);
    QParams p =
        choose_qparams(range.min, range.max, act, options_.symmetric, /*reduce_range=*/false);
    // A Softmax between a DequantizeLinear and this QuantizeLinear runs fused in ONNX Runtime.
    const auto producer = index.producer.find(source);
    if (producer != index.producer.end() && graph.node(producer->second).op_type == "Softmax" &&
        range.min >= 0.0) {
      p = softmax_output_qparams(p, act);
    }
    params_of.emplace(source, p);
  }
  const size_t widened = keep_off_ties(graph, plan, *table, act, options_, params_of);

  // Activation QDQ pairs.
  std::map<std::string, QdqTensor> qdq;
  for (const std::string& t : plan.tensors) {
    QdqTensor q;
    q.params = params_of.at(plan.range_of.at(t));
    q.q_value = names.value(t + "_quantized");
    q.scale = names.value(t + "_scale");
    q.zero_point = names.value(t + "_zero_point");
    add_initializer(q.scale, scalar_float(q.params.scale));
    add_initializer(q.zero_point, scalar_zero_point(act, q.params.zero_point));
    auto producer = index.producer.find(t);
    const bool has_producer = producer != index.producer.end();
    std::string q_input = t;
    if (has_producer && plan.quantized.count(producer->second)) {
      q.renamed = true;
      q_input = names.value(t + "_float");
      for (auto& out : graph.node(producer->second).outputs) {
        if (out == t) out = q_input;
      }
      q.dq_value = t;
    } else {
      q.dq_value = names.value(t + "_dequantized");
      for (const auto& [node, slot] : plan.reads) {
        if (graph.node(node).inputs[slot] == t) graph.node(node).inputs[slot] = q.dq_value;
      }
    }
    auto& list = has_producer ? after[producer->second] : front;
    list.push_back(make_node("QuantizeLinear", t + "_quantize", {q_input, q.scale, q.zero_point},
                             {q.q_value}));
    list.push_back(make_node("DequantizeLinear", t + "_dequantize",
                             {q.q_value, q.scale, q.zero_point}, {q.dq_value}));
    qdq.emplace(t, std::move(q));
  }
  // Pointers into `after`/`front` are stable from here on (no more pushes to those lists).
  for (auto& [t, q] : qdq) {
    auto producer = index.producer.find(t);
    auto& list = producer != index.producer.end() ? after[producer->second] : front;
    for (auto& n : list) {
      if (n.op_type == "QuantizeLinear" && n.outputs[0] == q.q_value) q.q_node = &n;
    }
  }

  std::map<std::string, QdqTensor*> by_dq;
  for (auto& [t, q] : qdq) by_dq[q.dq_value] = &q;

  // Weights: one DequantizeLinear per (weight, channel axis).
  struct WeightQ {
    std::string q_value, scale, zero_point, dq_value;
    ir::Tensor scale_tensor;
    ir::Tensor dequantized;  // what the DequantizeLinear computes (for bias correction)
    int64_t axis = kPerTensor;
    size_t raised = 0;  // scales the bias floor raised
    int zero = 0;       // the zero point of an asymmetric (per-tensor) weight
  };
  std::map<std::pair<std::string, int64_t>, WeightQ> weights;
  std::set<std::string> float_constants;
  for (const LayerPlan& lp : plan.layers) {
    ir::Node& node = graph.node(lp.layer.node);
    const std::string label = lp.layer.label;
    QdqTensor& out = qdq.at(lp.output);
    std::string detail = act == QType::kInt8 ? "int8 QDQ" : "uint8 QDQ (int8 weights)";
    std::string corrected;  // bias correction's ledger text
    // The records of the quantized inputs (readers were rewired to their DQ values).
    const QdqTensor* x = by_dq.count(node.inputs[0]) ? by_dq.at(node.inputs[0]) : nullptr;
    const QdqTensor* x2 = lp.layer.slot == kNoWeight && by_dq.count(node.inputs[1])
                              ? by_dq.at(node.inputs[1])
                              : nullptr;
    const WeightQ* wqp = nullptr;
    std::string bias_q;  // int32 bias initializer, when the bias was quantized
    if (lp.layer.slot == kNoWeight) {
      detail += ", activation x activation, input scales " +
                (x ? fmt("%.3g", x->params.scale) : "?") + ", " +
                (x2 ? fmt("%.3g", x2->params.scale) : "?");
    } else {
      const std::string weight = node.inputs[lp.layer.slot];
      const ir::Tensor w = graph.find_initializer(weight)->tensor;  // shares the buffer
      const int64_t axis = per_channel ? weight_channel_axis(node, w) : kPerTensor;
      auto [it, added] = weights.try_emplace({weight, axis});
      WeightQ& wq = it->second;
      if (added) {
        const std::vector<float> floors = weight_scale_floor(graph, node, w, axis, x);
        QuantizedTensor q = quantize_weight(w, axis, QType::kInt8, options_.weight_symmetric,
                                            options_.reduce_range, floors, options_.float16_scales);
        wq.axis = axis;
        wq.q_value = names.value(weight + "_quantized");
        wq.scale = names.value(weight + "_scale");
        wq.zero_point = names.value(weight + "_zero_point");
        wq.dq_value = names.value(weight + "_dequantized");
        wq.scale_tensor = q.scale;
        const auto qs = q.scale.span<float>();
        for (size_t c = 0; c < floors.size() && c < qs.size(); ++c) {
          wq.raised += floors[c] > 0.0f && qs[c] <= floors[c] * (1.0f + 1e-6f);
        }
        if (corrector) wq.dequantized = dequantize_weight(q, axis);
        if (axis == kPerTensor) wq.zero = q.zero_point.span<int8_t>()[0];
        add_initializer(wq.q_value, std::move(q.values));
        if (q.half_scale) {
          const std::string half = names.value(weight + "_scale_float16");
          add_initializer(half, ir::float_to_half(q.scale));
          ir::Node cast = make_node("Cast", weight + "_scale_cast", {half}, {wq.scale});
          cast.set_attribute(ir::Attribute::make_int("to", int64_t(ir::DType::kFloat)));
          before[lp.layer.node].push_back(std::move(cast));
        } else {
          add_initializer(wq.scale, std::move(q.scale));
        }
        // A DequantizeLinear of a symmetric int8 weight does without its zero point (0 is its
        // default), and ONNX Runtime still fuses it. QLinearConv and QLinearMatMul need one: a
        // scalar 0 serves per-channel scales too.
        std::vector<std::string> dq_inputs = {wq.q_value, wq.scale};
        if (!all_zero(q.zero_point)) {
          add_initializer(wq.zero_point, std::move(q.zero_point));
          dq_inputs.push_back(wq.zero_point);
        } else if (options_.format == Format::kQOperator) {
          add_initializer(wq.zero_point, ir::Tensor::zeros(ir::DType::kInt8, {}));
        }
        ir::Node dq = make_node("DequantizeLinear", weight + "_dequantize", std::move(dq_inputs),
                                {wq.dq_value});
        if (axis != kPerTensor) dq.set_attribute(ir::Attribute::make_int("axis", axis));
        before[lp.layer.node].push_back(std::move(dq));
      } else {
        // Already dequantized for an earlier layer, whose DQ precedes this one.
      }
      float_constants.insert(weight);
      node.inputs[lp.layer.slot] = wq.dq_value;

      wqp = &wq;
      detail += std::string(", weight ") + (axis != kPerTensor ? "per channel" : "per tensor") +
                (options_.weight_symmetric ? "" : " asymmetric") +
                (axis != kPerTensor ? " (scales " : " (scale ") + scale_span(wq.scale_tensor) +
                (options_.weight_symmetric ? "" : ", zero point " + std::to_string(wq.zero)) + ")";
      if (wq.raised > 0) {
        detail += ", " + std::to_string(wq.raised) +
                  " weight scale(s) raised so the int32 bias fits (near-zero weights)";
      }
      if (x != nullptr) detail += ", input scale " + fmt("%.3g", x->params.scale);
      // The corrected float bias is what gets quantized to int32 below.
      if (corrector) {
        corrected =
            corrector->correct(graph, names, lp.layer.node, w, wq.dequantized, weight_layout(node));
      }

      // Bias: Conv/ConvTranspose input 2, Gemm C when 1-D of the output channel count.
      const int64_t channels = bias_channels(node, w);
      const bool has_bias =
          node.op_type != "MatMul" && node.inputs.size() > 2 && !node.inputs[2].empty();
      const ir::Initializer* b = has_bias ? constant_input(graph, node.inputs[2]) : nullptr;
      const auto ws = wq.scale_tensor.span<float>();
      if (b != nullptr && x != nullptr && b->tensor.dtype() == ir::DType::kFloat &&
          b->tensor.rank() == 1 && b->tensor.dims()[0] == channels &&
          (ws.size() == 1 || int64_t(ws.size()) == channels)) {
        const auto bv = b->tensor.span<float>();
        const ir::Dims sd = ws.size() == 1 ? ir::Dims{} : ir::Dims{channels};
        ir::Tensor bq = ir::Tensor::uninitialized(ir::DType::kInt32, {channels});
        ir::Tensor bs = ir::Tensor::uninitialized(ir::DType::kFloat, sd);
        auto qv = bq.mutable_span<int32_t>();
        auto sv = bs.mutable_span<float>();
        bool ok = true;
        for (size_t c = 0; c < sv.size(); ++c) {
          sv[c] = x->params.scale * ws[c];
          ok = ok && sv[c] > 0.0f && std::isfinite(sv[c]);
        }
        // A bias past kBiasLimit even with the weight scale floor (a weight shared with a layer
        // of another input scale, or a bias correction that grew it) stays float.
        double worst = 0;
        for (size_t c = 0; ok && c < qv.size(); ++c) {
          const double v = std::nearbyint(double(bv[c]) / double(sv[sv.size() == 1 ? 0 : c]));
          ok = std::isfinite(v);
          worst = std::max(worst, std::fabs(v));
          qv[c] = static_cast<int32_t>(std::clamp(v, -kBiasLimit, kBiasLimit));
        }
        if (ok && worst > kBiasLimit) {
          ok = false;
          detail += ", bias left float (bias / (input scale x weight scale) reaches " +
                    fmt("%.3g", worst) + ", past the int32 headroom of 2^30)";
        }
        if (ok) {
          const std::string bias = b->name;
          const std::string bq_name = names.value(bias + "_quantized");
          const std::string bs_name = names.value(bias + "_scale");
          const std::string bdq = names.value(bias + "_dequantized");
          add_initializer(bq_name, std::move(bq));
          add_initializer(bs_name, std::move(bs));
          // No zero point: an int32 bias is symmetric, and 0 is DequantizeLinear's default.
          ir::Node dq =
              make_node("DequantizeLinear", bias + "_dequantize", {bq_name, bs_name}, {bdq});
          if (sd.size() == 1) dq.set_attribute(ir::Attribute::make_int("axis", 0));
          before[lp.layer.node].push_back(std::move(dq));
          float_constants.insert(bias);
          node.inputs[2] = bdq;
          bias_q = bq_name;
          detail += ", int32 bias";
        }
      }
    }
    detail += ", output scale " + fmt("%.3g", out.params.scale);
    if (lp.fused != kNone) {
      detail += " (after " + graph.node(lp.fused).op_type + ")";
    }
    if (options_.format == Format::kQOperator) {
      std::string why;  // why the layer stays QDQ
      const bool conv = node.op_type == "Conv";
      if (node.op_type != "Conv" && node.op_type != "MatMul") {
        why = "ONNX has no QLinear" + node.op_type;
      } else if (conv && graph.find_initializer(wqp->q_value)->tensor.rank() != 4) {
        why = "QLinearConv is used for 2-D convolutions only";
      } else if (x == nullptr || (lp.layer.slot == kNoWeight && x2 == nullptr) || !out.renamed ||
                 out.q_node == nullptr) {
        why = "its inputs or output are not quantized on their own";
      } else if (conv && node.inputs.size() > 2 && !node.inputs[2].empty() && bias_q.empty()) {
        why = "its bias could not be stored as int32";
      }
      if (!why.empty()) {
        detail += " (stays QDQ: " + why + ")";
      } else {
        std::vector<std::string> in = {x->q_value, x->scale, x->zero_point};
        if (lp.layer.slot == kNoWeight) {
          in.insert(in.end(), {x2->q_value, x2->scale, x2->zero_point});
        } else {
          in.insert(in.end(), {wqp->q_value, wqp->scale, wqp->zero_point});
        }
        in.insert(in.end(), {out.scale, out.zero_point});
        if (!bias_q.empty()) in.push_back(bias_q);
        node.op_type = conv ? "QLinearConv" : "QLinearMatMul";
        node.inputs = std::move(in);
        node.outputs = {out.q_value};
        out.q_node->op_type.clear();  // dropped: the QLinear op writes the quantized output
        detail.replace(0, detail.find(','),
                       std::string(act == QType::kInt8 ? "int8 " : "uint8 ") + node.op_type);
      }
    }
    result.changes.push_back({label, detail + corrected});
    ++result.nodes_changed;
  }
  if (corrector) {
    float_constants.insert(corrector->replaced().begin(), corrector->replaced().end());
    float_constants.insert(corrector->written().begin(), corrector->written().end());
  }

  // Insert from the back so positions stay valid: before[i], node i, after[i].
  // Nodes whose op_type was cleared were replaced by a QLinear op.
  auto insert = [&](size_t at, ir::Node& n) {
    if (!n.op_type.empty()) graph.insert_node(at, std::move(n));
  };
  for (size_t i = before.size(); i-- > 0;) {
    for (size_t k = after[i].size(); k-- > 0;) insert(i + 1, after[i][k]);
    for (size_t k = before[i].size(); k-- > 0;) insert(i, before[i][k]);
  }
  for (size_t k = front.size(); k-- > 0;) insert(0, front[k]);

  // DequantizeLinear nodes no one reads any more (a QLinear op reads the quantized values).
  for (bool removed = true; removed;) {
    const ir::UseDefIndex now = graph.index();
    removed = graph.remove_nodes_if([&](const ir::Node& n) {
      return created.count(n.name) && n.op_type == "DequantizeLinear" &&
             now.consumer_count(n.outputs[0]) == 0 && !now.escapes(n.outputs[0]);
    }) > 0;
  }

  // Float weights and biases, and parameters this pass added, that nothing reads any more.
  const ir::UseDefIndex now = graph.index();
  graph.remove_initializers_if([&](const ir::Initializer& init) {
    return (float_constants.count(init.name) || added_initializers.count(init.name)) &&
           now.consumer_count(init.name) == 0 && !now.escapes(init.name) &&
           !graph.is_graph_input(init.name);
  });
  prune_value_info(graph);

  if (options_.per_channel && !per_channel) {
    result.notes.push_back("per-channel scales need opset 13 (the model imports opset " +
                           std::to_string(opset) + "); weights were quantized per tensor");
  }
  if (!plan.through.empty()) {
    result.notes.push_back(std::to_string(plan.through.size()) +
                           " op(s) between quantized layers run quantized too");
  }
  if (act == QType::kInt8 && options_.format == Format::kQdq) {
    if (const size_t shared = layers_on_shared_int8(graph); shared > 0) {
      result.notes.push_back(
          std::to_string(shared) + " of " + std::to_string(result.nodes_changed) +
          " quantized layers read or write an int8 tensor that several nodes read: ONNX "
          "Runtime's CPU provider on x86 runs those in float (activation_type=uint8 avoids it)");
    }
  }
  if (plan.gated_float > 0) {
    result.notes.push_back(std::to_string(plan.gated_float) +
                           " HardSwish/SiLU Mul(s) (x * HardSigmoid(x) or x * Sigmoid(x)) stay "
                           "float: quantizing them would round the gate once more");
  }
  if (plan.through_dropped > 0) {
    result.notes.push_back(std::to_string(plan.through_dropped) +
                           " op(s) between quantized layers stay float: the calibration table "
                           "has no range for them");
  }
  if (widened > 0) {
    result.notes.push_back(std::to_string(widened) +
                           " output range(s) widened by 2^-10 so that requantized sums do not "
                           "land on rounding boundaries");
  }
  if (corrector && !corrector->note().empty()) result.notes.push_back(corrector->note());
  return result;
}

}  // namespace

const pass::PassInfo& quantize_static_info() {
  static const pass::PassInfo info{
      kName,
      "Static int8 quantization of Conv, ConvTranspose, Gemm and MatMul with calibrated "
      "activation ranges (QDQ or QLinear ops).",
      with_layer_selection_options(
          {{"format", "qdq",
            "qdq (QuantizeLinear/DequantizeLinear pairs) or qoperator (QLinearConv, "
            "QLinearMatMul)."},
           {"per_channel", "true", "One weight scale per output channel (needs opset 13)."},
           {"activation_type", "int8", "int8 or uint8 activations (weights are always int8)."},
           {"activation_symmetric", "false", "Activation zero point at the middle of the range."},
           {"weight_symmetric", "true",
            "Weight zero point 0; false maps each weight's [min, max] onto [-128, 127] with a "
            "zero point (per tensor only: ONNX Runtime's QLinearConv takes one weight zero "
            "point for all output channels)."},
           {"reduce_range", "false",
            "7-bit weights, for CPUs whose int8 dot products overflow (activations keep 8 "
            "bits)."},
           {"float16_scales", "true",
            "Per-channel weight scales of 64+ channels as float16 values, stored float16 and "
            "cast to float32."},
           bias_correction_option_info()})};
  return info;
}

const pass::PassInfo& QuantizeStatic::info() const { return quantize_static_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_quantize_static(const pass::PassOptions& options) {
  Options o;
  if (auto it = options.find("format"); it != options.end()) {
    if (it->second == "qdq") {
      o.format = Format::kQdq;
    } else if (it->second == "qoperator") {
      o.format = Format::kQOperator;
    } else {
      return invalid_argument(std::string(kName) +
                              ": option 'format' must be qdq or qoperator, got '" + it->second +
                              "'");
    }
  }
  if (auto it = options.find("activation_type"); it != options.end()) {
    if (it->second == "int8") {
      o.activation = QType::kInt8;
    } else if (it->second == "uint8") {
      o.activation = QType::kUInt8;
    } else {
      return invalid_argument(std::string(kName) +
                              ": option 'activation_type' must be int8 or uint8, got '" +
                              it->second + "'");
    }
  }
  for (auto [key, target] : {std::pair<const char*, bool*>{"per_channel", &o.per_channel},
                             {"activation_symmetric", &o.symmetric},
                             {"weight_symmetric", &o.weight_symmetric},
                             {"reduce_range", &o.reduce_range},
                             {"float16_scales", &o.float16_scales},
                             {kBiasCorrectionOption, &o.bias_correction}}) {
    if (auto it = options.find(key); it != options.end()) {
      COMPRESSOR_ASSIGN_OR_RETURN(*target, parse_bool_option(kName, key, it->second));
    }
  }
  if (!o.weight_symmetric && o.per_channel) {
    return invalid_argument(std::string(kName) +
                            ": weight_symmetric=false needs per_channel=false: ONNX Runtime's "
                            "QLinearConv takes one weight zero point for all output channels");
  }
  if (auto it = options.find("nodes"); it != options.end()) o.nodes = split_node_labels(it->second);
  COMPRESSOR_ASSIGN_OR_RETURN(o.filter, parse_layer_filter(kName, options));
  return std::unique_ptr<pass::Pass>(new QuantizeStatic(std::move(o)));
}

}  // namespace compressor::passes
