// QDQ Conv and MatMul node units rewritten as QLinearConv and QLinearMatMul in the executor's copy
// of the graph (see qdq_units.h). A unit is matched from its Conv or MatMul: the producers of its
// inputs must be DequantizeLinear nodes of the forms below, and its only reader a QuantizeLinear
// (for a Conv, also a Relu whose only reader is one). Nothing else in the graph changes.
#include "qdq_units.h"

#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace compressor::exec {
namespace {

bool is_int8ish(ir::DType t) { return t == ir::DType::kInt8 || t == ir::DType::kUInt8; }

// The constant tensor named `name` (an initializer that is not also a graph input), or null.
const ir::Tensor* constant(const ir::Graph& g, const std::string& name) {
  if (name.empty() || g.is_graph_input(name)) return nullptr;
  const ir::Initializer* init = g.find_initializer(name);
  return init == nullptr ? nullptr : &init->tensor;
}

// The default-domain node of `op` that produces `value`, or null.
const ir::Node* producer(const ir::Graph& g, const ir::UseDefIndex& index, const std::string& value,
                         const char* op) {
  auto it = index.producer.find(value);
  if (it == index.producer.end()) return nullptr;
  const ir::Node& n = g.node(it->second);
  return n.in_default_domain() && n.op_type == op ? &n : nullptr;
}

// The only reader of `value` when it has exactly one and is not a graph output or read by a
// subgraph, else null.
const ir::Node* sole_reader(const ir::Graph& g, const ir::UseDefIndex& index,
                            const std::string& value) {
  if (index.escapes(value) || index.consumer_count(value) != 1) return nullptr;
  return &g.node(index.consumers.at(value)[0]);
}

// A DequantizeLinear's parameters when its scale is constant float32 and its zero point (when
// given) constant.
struct Dequantize {
  const ir::Node* node = nullptr;
  const ir::Tensor* scale = nullptr;
  const ir::Tensor* zero_point = nullptr;  // null when the input is omitted
};

std::optional<Dequantize> dequantize_params(const ir::Graph& g, const ir::Node* dq) {
  if (dq == nullptr || dq->inputs.size() < 2 || dq->outputs.size() != 1) return std::nullopt;
  Dequantize d{dq, constant(g, dq->inputs[1]), nullptr};
  if (d.scale == nullptr || d.scale->dtype() != ir::DType::kFloat) return std::nullopt;
  if (dq->inputs.size() > 2 && !dq->inputs[2].empty()) {
    d.zero_point = constant(g, dq->inputs[2]);
    if (d.zero_point == nullptr || d.zero_point->numel() != d.scale->numel()) return std::nullopt;
  }
  return d;
}

int64_t int_value(const ir::Tensor& t, int64_t i) {
  return t.dtype() == ir::DType::kInt8    ? t.span<int8_t>()[i]
         : t.dtype() == ir::DType::kUInt8 ? t.span<uint8_t>()[i]
                                          : t.span<int32_t>()[i];
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The zero point of `q` when it is a per-tensor QuantizeLinear with constant float32 scale and
// int8/uint8 zero point (the output parameters of a unit), else null.
const ir::Tensor* output_zero_point(const ir::Graph& g, const ir::Node& q) {
  if (q.op_type != "QuantizeLinear" || q.inputs.size() != 3 || q.outputs.size() != 1) {
    return nullptr;
  }
  const ir::Tensor* ys = constant(g, q.inputs[1]);
  const ir::Tensor* yz = constant(g, q.inputs[2]);
  if (ys == nullptr || ys->dtype() != ir::DType::kFloat || ys->numel() != 1 || yz == nullptr ||
      !is_int8ish(yz->dtype()) || yz->numel() != 1) {
    return nullptr;
  }
  return yz;
}

// A matched unit: the QLinearConv (QLinearMatMul) that replaces its Conv (MatMul), the nodes it
// makes redundant (an optional Relu, the QuantizeLinear), the DequantizeLinear nodes the layer
// read (removed when nothing else reads them), and a weight zero point to add when the weight's
// DequantizeLinear omits it.
struct Unit {
  ir::Node qlinear;
  std::vector<const ir::Node*> replaced;
  std::vector<const ir::Node*> dequantized;
  std::optional<ir::Tensor> weight_zero_point;
};

// The QLinear op of a unit: `op` named after `layer`, reading the quantized x (a) and w (b) with
// their parameters and writing what the QuantizeLinear `q` wrote. A weight DequantizeLinear
// without a zero point gets one of zeros of the type of `wq`, its constant weights (an activation
// always has its zero point).
void set_qlinear(const ir::Graph& g, const ir::Node& layer, const char* op, const Dequantize& x,
                 const Dequantize& w, const ir::Tensor* wq, const ir::Node& q, Unit& unit) {
  std::string wz = w.zero_point != nullptr ? w.node->inputs[2] : std::string();
  if (wz.empty()) {
    unit.weight_zero_point = ir::Tensor::zeros(wq->dtype(), w.scale->dims());
    wz = g.unique_name(w.node->inputs[0] + "_zero_point");
  }
  ir::Node& n = unit.qlinear;
  n.name = layer.name;
  n.op_type = op;
  n.inputs = {x.node->inputs[0], x.node->inputs[1], x.node->inputs[2],
              w.node->inputs[0], w.node->inputs[1], wz,
              q.inputs[1],       q.inputs[2]};
  n.outputs = {q.outputs[0]};
}

// The unit read from `conv`, or nullopt when it is not one.
std::optional<Unit> match_conv_unit(const ir::Graph& g, const ir::UseDefIndex& index,
                                    const ir::Node& conv) {
  if (!conv.in_default_domain() || conv.op_type != "Conv" || conv.outputs.size() != 1 ||
      conv.inputs.size() < 2 || conv.inputs.size() > 3) {
    return std::nullopt;
  }
  // x: per-tensor int8/uint8 with its zero point given (it fixes the type).
  auto x = dequantize_params(g, producer(g, index, conv.inputs[0], "DequantizeLinear"));
  if (!x || x->scale->numel() != 1 || x->zero_point == nullptr ||
      !is_int8ish(x->zero_point->dtype())) {
    return std::nullopt;
  }
  // w: constant int8/uint8 [M, C/group, KH, KW], per tensor or per output channel (axis 0).
  auto w = dequantize_params(g, producer(g, index, conv.inputs[1], "DequantizeLinear"));
  if (!w) return std::nullopt;
  const ir::Tensor* wq = constant(g, w->node->inputs[0]);
  if (wq == nullptr || !is_int8ish(wq->dtype()) || wq->rank() != 4) return std::nullopt;
  const int64_t m = wq->dims()[0];
  const int64_t channels = w->scale->numel();
  if (channels != 1 &&
      !(channels == m && w->scale->rank() == 1 && w->node->attr_int("axis", 1) == 0)) {
    return std::nullopt;
  }
  if (w->zero_point != nullptr && w->zero_point->dtype() != wq->dtype()) return std::nullopt;
  // b: int32 [M] with scale x scale x weight scale (bit for bit) and zero point 0, so that it
  // adds to the integer sums as it is.
  Unit unit;
  unit.dequantized = {x->node, w->node};
  std::string bias;
  if (conv.inputs.size() == 3 && !conv.inputs[2].empty()) {
    auto b = dequantize_params(g, producer(g, index, conv.inputs[2], "DequantizeLinear"));
    if (!b) return std::nullopt;
    const ir::Tensor* bq = constant(g, b->node->inputs[0]);
    if (bq == nullptr || bq->dtype() != ir::DType::kInt32 || bq->rank() != 1 ||
        bq->dims()[0] != m || (b->scale->numel() != 1 && b->scale->numel() != m)) {
      return std::nullopt;
    }
    if (b->scale->numel() != 1 && b->node->attr_int("axis", 1) != 0) return std::nullopt;
    const float xs = x->scale->span<float>()[0];
    const auto ws = w->scale->span<float>();
    const auto bs = b->scale->span<float>();
    for (int64_t c = 0; c < m; ++c) {
      const float expected = xs * ws[channels == 1 ? 0 : c];
      if (!same_bits(bs[bs.size() == 1 ? 0 : c], expected)) return std::nullopt;
      if (b->zero_point != nullptr && int_value(*b->zero_point, bs.size() == 1 ? 0 : c) != 0) {
        return std::nullopt;
      }
    }
    bias = b->node->inputs[0];
    unit.dequantized.push_back(b->node);
  }
  // The Conv's only reader: the QuantizeLinear, or a Relu whose only reader it is.
  const ir::Node* next = sole_reader(g, index, conv.outputs[0]);
  if (next == nullptr || !next->in_default_domain()) return std::nullopt;
  const ir::Node* relu = nullptr;
  if (next->op_type == "Relu" && next->outputs.size() == 1) {
    relu = next;
    next = sole_reader(g, index, relu->outputs[0]);
    if (next == nullptr || !next->in_default_domain()) return std::nullopt;
  }
  const ir::Tensor* yz = output_zero_point(g, *next);
  if (yz == nullptr) return std::nullopt;
  // Relu(v) quantizes to max(q(v), zero point); that is q(v) when the zero point is the type's
  // minimum, which the QuantizeLinear clips to anyway.
  if (relu != nullptr && int_value(*yz, 0) != (yz->dtype() == ir::DType::kInt8 ? -128 : 0)) {
    return std::nullopt;
  }
  if (relu != nullptr) unit.replaced.push_back(relu);
  unit.replaced.push_back(next);

  set_qlinear(g, conv, "QLinearConv", *x, *w, wq, *next, unit);
  unit.qlinear.attributes = conv.attributes;
  if (!bias.empty()) unit.qlinear.inputs.push_back(bias);
  return unit;
}

// The unit read from `matmul`, or nullopt when it is not one: A per tensor; B a constant int8/uint8
// [K, N] per tensor or per column (axis 1), or an activation per tensor; the MatMul's only reader
// a QuantizeLinear.
std::optional<Unit> match_matmul_unit(const ir::Graph& g, const ir::UseDefIndex& index,
                                      const ir::Node& matmul) {
  if (!matmul.in_default_domain() || matmul.op_type != "MatMul" || matmul.inputs.size() != 2 ||
      matmul.outputs.size() != 1) {
    return std::nullopt;
  }
  auto a = dequantize_params(g, producer(g, index, matmul.inputs[0], "DequantizeLinear"));
  auto b = dequantize_params(g, producer(g, index, matmul.inputs[1], "DequantizeLinear"));
  if (!a || a->scale->numel() != 1 || a->zero_point == nullptr ||
      !is_int8ish(a->zero_point->dtype()) || !b) {
    return std::nullopt;
  }
  const ir::Tensor* bq = constant(g, b->node->inputs[0]);
  if (bq == nullptr) {
    // An activation: per tensor, its zero point fixing the type.
    if (b->scale->numel() != 1 || b->zero_point == nullptr || !is_int8ish(b->zero_point->dtype())) {
      return std::nullopt;
    }
  } else {
    if (!is_int8ish(bq->dtype()) || bq->rank() != 2) return std::nullopt;
    const int64_t n = bq->dims()[1];
    if (b->scale->numel() != 1 &&
        !(b->scale->numel() == n && b->scale->rank() == 1 && b->node->attr_int("axis", 1) == 1)) {
      return std::nullopt;
    }
    if (b->zero_point != nullptr && b->zero_point->dtype() != bq->dtype()) return std::nullopt;
  }
  const ir::Node* q = sole_reader(g, index, matmul.outputs[0]);
  if (q == nullptr || !q->in_default_domain() || output_zero_point(g, *q) == nullptr) {
    return std::nullopt;
  }
  Unit unit;
  unit.replaced = {q};
  unit.dequantized = {a->node, b->node};
  set_qlinear(g, matmul, "QLinearMatMul", *a, *b, bq, *q, unit);
  return unit;
}

// Casts of constant float16 tensors to float32 (weight scales stored as float16) become float32
// initializers, as ONNX Runtime's constant folding makes them when it loads the model, so that the
// units reading them see constant scales.
void fold_half_casts(ir::Graph& graph) {
  const ir::UseDefIndex index = graph.index();
  std::set<const ir::Node*> folded;
  for (size_t i = 0; i < graph.node_count(); ++i) {
    const ir::Node& n = graph.node(i);
    if (!n.in_default_domain() || n.op_type != "Cast" || n.inputs.size() != 1 ||
        n.outputs.size() != 1 || n.attr_int("to", 0) != int64_t(ir::DType::kFloat) ||
        index.escapes(n.outputs[0])) {
      continue;
    }
    const ir::Tensor* half = constant(graph, n.inputs[0]);
    if (half == nullptr || half->dtype() != ir::DType::kFloat16) continue;
    graph.set_initializer({n.outputs[0], ir::half_to_float(*half), nullptr});
    folded.insert(&n);
  }
  if (folded.empty()) return;
  graph.remove_nodes_if([&](const ir::Node& n) { return folded.count(&n) > 0; });
}

}  // namespace

size_t fuse_qdq_units(ir::Graph& graph) {
  fold_half_casts(graph);
  std::set<const ir::Node*> replaced, dequantized;
  std::vector<std::pair<size_t, ir::Node>> qlinear;  // layer position -> its QLinear op
  const ir::UseDefIndex index = graph.index();
  for (size_t i = 0; i < graph.node_count(); ++i) {
    auto unit = match_conv_unit(graph, index, graph.node(i));
    if (!unit) unit = match_matmul_unit(graph, index, graph.node(i));
    if (!unit) continue;
    if (unit->weight_zero_point) {
      graph.set_initializer(
          {unit->qlinear.inputs[5], std::move(*unit->weight_zero_point), nullptr});
    }
    replaced.insert(unit->replaced.begin(), unit->replaced.end());
    dequantized.insert(unit->dequantized.begin(), unit->dequantized.end());
    qlinear.emplace_back(i, std::move(unit->qlinear));
  }
  if (qlinear.empty()) return 0;
  // Each QLinear op takes its layer's place: it reads what the layer read (or what produced it)
  // and writes what the QuantizeLinear wrote, which only later nodes read.
  for (auto& [position, node] : qlinear) graph.node(position) = std::move(node);
  graph.remove_nodes_if([&](const ir::Node& n) { return replaced.count(&n) > 0; });
  // The units' DequantizeLinear nodes that nothing reads any more (the weights', the biases').
  const ir::UseDefIndex now = graph.index();
  graph.remove_nodes_if([&](const ir::Node& n) {
    return dequantized.count(&n) > 0 && now.consumer_count(n.outputs[0]) == 0 &&
           !now.escapes(n.outputs[0]);
  });
  return qlinear.size();
}

}  // namespace compressor::exec
