// Graph, Node, Attribute and ValueInfo implementation, including subgraph-aware use-def queries.
#include "compressor/ir/graph.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <sstream>

namespace compressor::ir {

// ---------------------------------------------------------------------------------------------
// Attribute

Attribute::Attribute(std::shared_ptr<const onnx::AttributeProto> proto)
    : proto_(std::move(proto)) {}

namespace {
std::shared_ptr<onnx::AttributeProto> new_attr(const std::string& name,
                                               onnx::AttributeProto::AttributeType type) {
  auto a = std::make_shared<onnx::AttributeProto>();
  a->set_name(name);
  a->set_type(type);
  return a;
}
}  // namespace

Attribute Attribute::make_int(const std::string& name, int64_t value) {
  auto a = new_attr(name, onnx::AttributeProto::INT);
  a->set_i(value);
  return Attribute(std::move(a));
}
Attribute Attribute::make_float(const std::string& name, float value) {
  auto a = new_attr(name, onnx::AttributeProto::FLOAT);
  a->set_f(value);
  return Attribute(std::move(a));
}
Attribute Attribute::make_string(const std::string& name, const std::string& value) {
  auto a = new_attr(name, onnx::AttributeProto::STRING);
  a->set_s(value);
  return Attribute(std::move(a));
}
Attribute Attribute::make_ints(const std::string& name, const std::vector<int64_t>& values) {
  auto a = new_attr(name, onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
  return Attribute(std::move(a));
}
Attribute Attribute::make_floats(const std::string& name, const std::vector<float>& values) {
  auto a = new_attr(name, onnx::AttributeProto::FLOATS);
  for (float v : values) a->add_floats(v);
  return Attribute(std::move(a));
}

const std::string& Attribute::name() const { return proto_->name(); }
Attribute::Type Attribute::type() const { return static_cast<Type>(proto_->type()); }
int64_t Attribute::i() const { return proto_->i(); }
float Attribute::f() const { return proto_->f(); }
const std::string& Attribute::s() const { return proto_->s(); }
std::vector<int64_t> Attribute::ints() const {
  return {proto_->ints().begin(), proto_->ints().end()};
}
std::vector<float> Attribute::floats() const {
  return {proto_->floats().begin(), proto_->floats().end()};
}
bool Attribute::has_subgraphs() const { return proto_->has_g() || proto_->graphs_size() > 0; }

// ---------------------------------------------------------------------------------------------
// ValueInfo

std::string Dim::to_string() const {
  if (value) return std::to_string(*value);
  if (!param.empty()) return param;
  return "?";
}

ValueInfo::ValueInfo(std::shared_ptr<onnx::ValueInfoProto> proto) : proto_(std::move(proto)) {}
ValueInfo::ValueInfo(const ValueInfo& other)
    : proto_(std::make_shared<onnx::ValueInfoProto>(*other.proto_)) {}
ValueInfo& ValueInfo::operator=(const ValueInfo& other) {
  if (this != &other) proto_ = std::make_shared<onnx::ValueInfoProto>(*other.proto_);
  return *this;
}

ValueInfo ValueInfo::make_tensor(const std::string& name, DType dtype,
                                 const std::vector<Dim>& shape) {
  auto p = std::make_shared<onnx::ValueInfoProto>();
  p->set_name(name);
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(dtype));
  auto* sh = tt->mutable_shape();
  for (const Dim& d : shape) {
    auto* dim = sh->add_dim();
    if (d.value) {
      dim->set_dim_value(*d.value);
    } else if (!d.param.empty()) {
      dim->set_dim_param(d.param);
    }
  }
  return ValueInfo(std::move(p));
}

const std::string& ValueInfo::name() const { return proto_->name(); }
void ValueInfo::set_name(const std::string& name) { proto_->set_name(name); }
bool ValueInfo::is_tensor() const { return proto_->type().has_tensor_type(); }
int32_t ValueInfo::elem_type_raw() const {
  return is_tensor() ? proto_->type().tensor_type().elem_type() : 0;
}
DType ValueInfo::dtype() const {
  return dtype_from_onnx(elem_type_raw()).value_or(DType::kUndefined);
}
bool ValueInfo::has_shape() const {
  return is_tensor() && proto_->type().tensor_type().has_shape();
}

std::vector<Dim> ValueInfo::shape() const {
  std::vector<Dim> out;
  if (!has_shape()) return out;
  for (const auto& d : proto_->type().tensor_type().shape().dim()) {
    Dim dim;
    if (d.has_dim_value()) dim.value = d.dim_value();
    if (d.has_dim_param()) dim.param = d.dim_param();
    out.push_back(std::move(dim));
  }
  return out;
}

std::string ValueInfo::type_string() const {
  const auto& t = proto_->type();
  if (t.has_sequence_type()) return "sequence";
  if (t.has_map_type()) return "map";
  if (t.has_optional_type()) return "optional";
  if (t.has_sparse_tensor_type()) return "sparse_tensor";
  if (!t.has_tensor_type()) return "unknown";
  auto dt = dtype_from_onnx(elem_type_raw());
  std::string s =
      dt ? std::string(dtype_name(*dt)) : "dtype(" + std::to_string(elem_type_raw()) + ")";
  if (!has_shape()) return s + "[?]";
  s += '[';
  auto dims = shape();
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + dims[i].to_string();
  return s + ']';
}

// ---------------------------------------------------------------------------------------------
// Node

const Attribute* Node::attribute(std::string_view attr_name) const {
  for (const Attribute& a : attributes) {
    if (a.name() == attr_name) return &a;
  }
  return nullptr;
}
int64_t Node::attr_int(std::string_view attr_name, int64_t fallback) const {
  const Attribute* a = attribute(attr_name);
  return a ? a->i() : fallback;
}
float Node::attr_float(std::string_view attr_name, float fallback) const {
  const Attribute* a = attribute(attr_name);
  return a ? a->f() : fallback;
}
std::vector<int64_t> Node::attr_ints(std::string_view attr_name) const {
  const Attribute* a = attribute(attr_name);
  return a ? a->ints() : std::vector<int64_t>{};
}
void Node::set_attribute(Attribute attr) {
  for (Attribute& a : attributes) {
    if (a.name() == attr.name()) {
      a = std::move(attr);
      return;
    }
  }
  attributes.push_back(std::move(attr));
}
void Node::remove_attribute(std::string_view attr_name) {
  std::erase_if(attributes, [&](const Attribute& a) { return a.name() == attr_name; });
}
bool Node::has_subgraphs() const {
  return std::any_of(attributes.begin(), attributes.end(),
                     [](const Attribute& a) { return a.has_subgraphs(); });
}
std::string Node::label() const {
  const std::string op = (in_default_domain() ? "" : domain + ".") + op_type;
  if (!name.empty()) return "node '" + name + "' (" + op + ")";
  // Exporters such as paddle2onnx leave nodes unnamed; the first output identifies them.
  for (const auto& o : outputs) {
    if (!o.empty()) return "unnamed " + op + " node producing '" + o + "'";
  }
  return "unnamed " + op + " node";
}

// ---------------------------------------------------------------------------------------------
// Subgraph scope analysis

namespace {

// Collects names read by `g` (and its nested subgraphs) that `g` does not define itself.
void collect_outer_reads(const onnx::GraphProto& g, std::set<std::string>& reads) {
  std::set<std::string> defined;
  for (const auto& v : g.input()) defined.insert(v.name());
  for (const auto& t : g.initializer()) defined.insert(t.name());
  for (const auto& s : g.sparse_initializer()) defined.insert(s.values().name());
  for (const auto& n : g.node()) {
    for (const auto& in : n.input()) {
      if (!in.empty() && !defined.count(in)) reads.insert(in);
    }
    for (const auto& a : n.attribute()) {
      std::set<std::string> inner;
      if (a.has_g()) collect_outer_reads(a.g(), inner);
      for (const auto& sg : a.graphs()) collect_outer_reads(sg, inner);
      for (const auto& r : inner) {
        if (!defined.count(r)) reads.insert(r);
      }
    }
    for (const auto& out : n.output()) defined.insert(out);
  }
  for (const auto& o : g.output()) {
    if (!defined.count(o.name())) reads.insert(o.name());
  }
}

bool graph_defines(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& v : g.input()) {
    if (v.name() == name) return true;
  }
  for (const auto& t : g.initializer()) {
    if (t.name() == name) return true;
  }
  for (const auto& n : g.node()) {
    for (const auto& o : n.output()) {
      if (o == name) return true;
    }
  }
  return false;
}

void rename_reads(onnx::GraphProto& g, const std::string& from, const std::string& to) {
  if (graph_defines(g, from)) return;  // shadowed: inner reads refer to the inner value
  for (auto& n : *g.mutable_node()) {
    for (auto& in : *n.mutable_input()) {
      if (in == from) in = to;
    }
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) rename_reads(*a.mutable_g(), from, to);
      for (auto& sg : *a.mutable_graphs()) rename_reads(sg, from, to);
    }
  }
  for (auto& o : *g.mutable_output()) {
    if (o.name() == from) o.set_name(to);
  }
}

}  // namespace

std::set<std::string> subgraph_outer_reads(const Node& node) {
  std::set<std::string> reads;
  for (const Attribute& a : node.attributes) {
    if (a.proto().has_g()) collect_outer_reads(a.proto().g(), reads);
    for (const auto& g : a.proto().graphs()) collect_outer_reads(g, reads);
  }
  return reads;
}

void rename_in_subgraphs(Node& node, const std::string& from, const std::string& to) {
  for (Attribute& a : node.attributes) {
    if (!a.has_subgraphs()) continue;
    auto copy = std::make_shared<onnx::AttributeProto>(a.proto());
    if (copy->has_g()) rename_reads(*copy->mutable_g(), from, to);
    for (auto& g : *copy->mutable_graphs()) rename_reads(g, from, to);
    a = Attribute(std::move(copy));
  }
}

// ---------------------------------------------------------------------------------------------
// Graph

size_t UseDefIndex::consumer_count(const std::string& value) const {
  auto it = consumers.find(value);
  return it == consumers.end() ? 0 : it->second.size();
}

Graph::Graph() = default;
Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;

Graph::Graph(const Graph& other)
    : name(other.name),
      doc_string(other.doc_string),
      inputs(other.inputs),
      outputs(other.outputs),
      value_info(other.value_info),
      sparse_initializers(other.sparse_initializers),
      extras(other.extras),
      initializers_(other.initializers_),
      initializer_index_(other.initializer_index_) {
  nodes_.reserve(other.nodes_.size());
  for (const auto& n : other.nodes_) nodes_.push_back(std::make_unique<Node>(*n));
}

Graph& Graph::operator=(const Graph& other) {
  if (this != &other) {
    Graph copy(other);
    *this = std::move(copy);
  }
  return *this;
}

Node& Graph::add_node(Node node) {
  nodes_.push_back(std::make_unique<Node>(std::move(node)));
  return *nodes_.back();
}

Node& Graph::insert_node(size_t index, Node node) {
  auto it = nodes_.insert(nodes_.begin() + static_cast<std::ptrdiff_t>(index),
                          std::make_unique<Node>(std::move(node)));
  return **it;
}

const Initializer* Graph::find_initializer(const std::string& value) const {
  auto it = initializer_index_.find(value);
  return it == initializer_index_.end() ? nullptr : &initializers_[it->second];
}

Initializer* Graph::find_initializer(const std::string& value) {
  auto it = initializer_index_.find(value);
  return it == initializer_index_.end() ? nullptr : &initializers_[it->second];
}

void Graph::set_initializer(Initializer init) {
  auto it = initializer_index_.find(init.name);
  if (it != initializer_index_.end()) {
    initializers_[it->second] = std::move(init);
    return;
  }
  initializer_index_.emplace(init.name, initializers_.size());
  initializers_.push_back(std::move(init));
}

size_t Graph::remove_initializers_if(const std::function<bool(const Initializer&)>& pred) {
  size_t before = initializers_.size();
  std::erase_if(initializers_, pred);
  reindex_initializers();
  return before - initializers_.size();
}

void Graph::reindex_initializers() {
  initializer_index_.clear();
  for (size_t i = 0; i < initializers_.size(); ++i) initializer_index_[initializers_[i].name] = i;
}

bool Graph::is_graph_input(const std::string& value) const {
  return std::any_of(inputs.begin(), inputs.end(),
                     [&](const ValueInfo& v) { return v.name() == value; });
}

bool Graph::is_graph_output(const std::string& value) const {
  return std::any_of(outputs.begin(), outputs.end(),
                     [&](const ValueInfo& v) { return v.name() == value; });
}

UseDefIndex Graph::index() const {
  UseDefIndex idx;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = *nodes_[i];
    for (const auto& in : n.inputs) {
      if (!in.empty()) idx.consumers[in].push_back(i);
    }
    for (const auto& out : n.outputs) {
      if (!out.empty()) idx.producer.emplace(out, i);
    }
    if (n.has_subgraphs()) {
      auto reads = subgraph_outer_reads(n);
      idx.subgraph_reads.insert(reads.begin(), reads.end());
    }
  }
  for (const auto& o : outputs) idx.graph_outputs.insert(o.name());
  return idx;
}

std::set<std::string> Graph::defined_values() const {
  std::set<std::string> names;
  for (const auto& v : inputs) names.insert(v.name());
  for (const auto& i : initializers_) names.insert(i.name);
  for (const auto& s : sparse_initializers) names.insert(s->values().name());
  for (const auto& n : nodes_) {
    for (const auto& o : n->outputs) {
      if (!o.empty()) names.insert(o);
    }
  }
  return names;
}

std::string Graph::unique_name(const std::string& hint) const {
  std::set<std::string> used = defined_values();
  for (const auto& n : nodes_) used.insert(n->inputs.begin(), n->inputs.end());
  if (!used.count(hint)) return hint;
  for (int k = 1;; ++k) {
    std::string candidate = hint + "_" + std::to_string(k);
    if (!used.count(candidate)) return candidate;
  }
}

void Graph::replace_all_uses(const std::string& from, const std::string& to) {
  for (auto& n : nodes_) {
    for (auto& in : n->inputs) {
      if (in == from) in = to;
    }
    if (n->has_subgraphs()) rename_in_subgraphs(*n, from, to);
  }
  for (auto& o : outputs) {
    if (o.name() == from) o.set_name(to);
  }
}

Status Graph::sort_topologically() {
  std::set<std::string> available;
  for (const auto& v : inputs) available.insert(v.name());
  for (const auto& i : initializers_) available.insert(i.name);
  for (const auto& s : sparse_initializers) available.insert(s->values().name());

  // Values that some node produces; reads of anything else are undefined.
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (const auto& o : nodes_[i]->outputs) {
      if (!o.empty()) producer.emplace(o, i);
    }
  }
  auto node_reads = [&](const Node& n) {
    std::vector<std::string> reads;
    for (const auto& in : n.inputs) {
      if (!in.empty()) reads.push_back(in);
    }
    if (n.has_subgraphs()) {
      for (const auto& r : subgraph_outer_reads(n)) reads.push_back(r);
    }
    return reads;
  };
  for (const auto& n : nodes_) {
    for (const auto& r : node_reads(*n)) {
      if (!available.count(r) && !producer.count(r)) {
        return invalid_model(n->label() + ": input '" + r +
                             "' is not a graph input, an initializer or any node's output");
      }
    }
  }

  // Kahn's algorithm, always taking the earliest ready node so a valid order is kept as is.
  const size_t count = nodes_.size();
  std::vector<size_t> missing(count, 0);
  std::unordered_map<std::string, std::vector<size_t>> waiting;
  for (size_t i = 0; i < count; ++i) {
    std::set<std::string> unique_reads;
    for (const auto& r : node_reads(*nodes_[i])) {
      if (!available.count(r)) unique_reads.insert(r);
    }
    missing[i] = unique_reads.size();
    for (const auto& r : unique_reads) waiting[r].push_back(i);
  }
  std::set<size_t> ready;
  for (size_t i = 0; i < count; ++i) {
    if (missing[i] == 0) ready.insert(i);
  }
  std::vector<size_t> order;
  order.reserve(count);
  while (!ready.empty()) {
    size_t i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (const auto& o : nodes_[i]->outputs) {
      if (o.empty()) continue;
      auto it = waiting.find(o);
      if (it == waiting.end()) continue;
      for (size_t j : it->second) {
        if (--missing[j] == 0) ready.insert(j);
      }
      waiting.erase(it);
    }
  }
  if (order.size() != count) {
    for (size_t i = 0; i < count; ++i) {
      if (missing[i] != 0) {
        return invalid_model(nodes_[i]->label() +
                             " is on a cycle: its inputs depend on its own output");
      }
    }
  }
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(count);
  for (size_t i : order) sorted.push_back(std::move(nodes_[i]));
  nodes_ = std::move(sorted);
  return ok_status();
}

Status Graph::validate() const {
  std::set<std::string> defined;
  for (const auto& v : inputs) defined.insert(v.name());
  for (const auto& i : initializers_) defined.insert(i.name);
  for (const auto& s : sparse_initializers) defined.insert(s->values().name());
  for (const auto& n : nodes_) {
    for (const auto& in : n->inputs) {
      if (!in.empty() && !defined.count(in)) {
        return invalid_model(n->label() + ": input '" + in + "' is used before it is defined");
      }
    }
    for (const auto& o : n->outputs) {
      if (o.empty()) continue;
      if (!defined.insert(o).second) {
        return invalid_model(n->label() + ": output '" + o + "' is already defined elsewhere");
      }
    }
  }
  for (const auto& o : outputs) {
    if (!defined.count(o.name())) {
      return invalid_model("graph output '" + o.name() + "' is not produced by any node");
    }
  }
  return ok_status();
}

}  // namespace compressor::ir
