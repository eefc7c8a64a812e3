// Graph, Node, Attribute and ValueInfo: the in-memory model every pass rewrites.
//
// Values are named by strings, as in ONNX: a node input names a graph input, an initializer or
// another node's output; an empty name is an omitted optional input. Whatever a pass does not
// touch (attributes, subgraphs, doc strings, fields newer than our ONNX library) is kept as the
// original protobuf and written back unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/tensor.h"

namespace onnx {
class AttributeProto;
class GraphProto;
class NodeProto;
class SparseTensorProto;
class TensorProto;
class ValueInfoProto;
}  // namespace onnx

namespace compressor::ir {

/// One node attribute, kept as the original AttributeProto (lossless, cheap to copy).
class Attribute {
 public:
  /// ONNX AttributeProto.AttributeType values.
  enum class Type {
    kUndefined = 0,
    kFloat,
    kInt,
    kString,
    kTensor,
    kGraph,
    kFloats,
    kInts,
    kStrings,
    kTensors,
    kGraphs,
    kSparseTensor,
    kSparseTensors,
    kTypeProto,
    kTypeProtos
  };

  explicit Attribute(std::shared_ptr<const onnx::AttributeProto> proto);

  static Attribute make_int(const std::string& name, int64_t value);
  static Attribute make_float(const std::string& name, float value);
  static Attribute make_string(const std::string& name, const std::string& value);
  static Attribute make_ints(const std::string& name, const std::vector<int64_t>& values);
  static Attribute make_floats(const std::string& name, const std::vector<float>& values);

  const std::string& name() const;
  Type type() const;
  int64_t i() const;
  float f() const;
  const std::string& s() const;
  std::vector<int64_t> ints() const;
  std::vector<float> floats() const;
  /// True for graph-valued attributes (If/Loop/Scan bodies).
  bool has_subgraphs() const;
  const onnx::AttributeProto& proto() const { return *proto_; }

 private:
  std::shared_ptr<const onnx::AttributeProto> proto_;
};

/// One dimension of a declared shape: a fixed size, a symbolic name, or unknown.
struct Dim {
  std::optional<int64_t> value;
  std::string param;
  std::string to_string() const;
};

/// A declared graph input, output or value_info entry (the ValueInfoProto, kept whole).
class ValueInfo {
 public:
  explicit ValueInfo(std::shared_ptr<onnx::ValueInfoProto> proto);
  ValueInfo(const ValueInfo& other);
  ValueInfo& operator=(const ValueInfo& other);
  ValueInfo(ValueInfo&&) = default;
  ValueInfo& operator=(ValueInfo&&) = default;

  /// A tensor-typed value with a fully known or partly symbolic shape.
  static ValueInfo make_tensor(const std::string& name, DType dtype, const std::vector<Dim>& shape);

  const std::string& name() const;
  void set_name(const std::string& name);
  /// True when the value is a tensor (not a sequence, map or optional).
  bool is_tensor() const;
  /// Element type for tensors, kUndefined otherwise; the raw wire value is `elem_type_raw`.
  DType dtype() const;
  int32_t elem_type_raw() const;
  bool has_shape() const;
  std::vector<Dim> shape() const;
  /// "float[batch, 3, 224, 224]" or the kind of a non-tensor type.
  std::string type_string() const;
  const onnx::ValueInfoProto& proto() const { return *proto_; }

 private:
  std::shared_ptr<onnx::ValueInfoProto> proto_;
};

/// One operator application.
struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  ///< "" or "ai.onnx" is the default domain.
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<Attribute> attributes;
  std::string doc_string;
  /// Fields of the original NodeProto this library does not model (newer ONNX fields).
  std::shared_ptr<const onnx::NodeProto> extras;

  const Attribute* attribute(std::string_view attr_name) const;
  int64_t attr_int(std::string_view attr_name, int64_t fallback) const;
  float attr_float(std::string_view attr_name, float fallback) const;
  std::vector<int64_t> attr_ints(std::string_view attr_name) const;
  void set_attribute(Attribute attr);
  void remove_attribute(std::string_view attr_name);
  bool in_default_domain() const { return domain.empty() || domain == "ai.onnx"; }
  bool has_subgraphs() const;
  /// "node 'conv1' (Conv)" for messages.
  std::string label() const;
};

/// A named constant tensor of the graph.
struct Initializer {
  std::string name;
  Tensor tensor;
  /// Fields of the original TensorProto other than name, type, dims and data (doc_string,
  /// metadata, newer fields); null when there were none.
  std::shared_ptr<const onnx::TensorProto> extras;
  /// Saved in ONNX's sparse format (nonzero values plus INT64 linear indices, as a Constant
  /// node's sparse_value, which the ONNX 1.12 checker accepts where a sparse_initializer fails
  /// strict shape inference) instead of as a dense initializer. Everything in memory sees the
  /// dense tensor; only the file differs. Set by the loader for sparse initializers and sparse
  /// Constants it read, and by the store-sparse pass.
  bool sparse = false;
};

/// Where each value is produced and consumed, as of the moment it was built.
struct UseDefIndex {
  /// Value name -> producing node index (into Graph::nodes()).
  std::unordered_map<std::string, size_t> producer;
  /// Value name -> indices of consuming nodes, one entry per consuming input slot.
  std::unordered_map<std::string, std::vector<size_t>> consumers;
  /// Values read by nodes' subgraphs from this graph's scope (they keep their producers alive).
  std::set<std::string> subgraph_reads;
  /// Graph outputs.
  std::set<std::string> graph_outputs;

  size_t consumer_count(const std::string& value) const;
  /// True when the value is read by a subgraph or is a graph output (besides node consumers).
  bool escapes(const std::string& value) const {
    return subgraph_reads.count(value) > 0 || graph_outputs.count(value) > 0;
  }
};

/// A computation graph: nodes in topological order, initializers, declared inputs and outputs.
class Graph {
 public:
  Graph();
  ~Graph();
  Graph(const Graph& other);
  Graph& operator=(const Graph& other);
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;

  std::string name;
  std::string doc_string;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;
  /// Sparse initializers kept as read because they could not be densified (string values,
  /// non-INT64 indices, or a dense form too large to hold); loaded sparse initializers are
  /// normally densified into `initializers()` with Initializer::sparse set.
  std::vector<std::shared_ptr<const onnx::SparseTensorProto>> sparse_initializers;
  /// Fields of the original GraphProto this library does not model (quantization_annotation,
  /// newer fields); null when there were none.
  std::shared_ptr<const onnx::GraphProto> extras;

  // Nodes.
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  size_t node_count() const { return nodes_.size(); }
  Node& node(size_t index) { return *nodes_[index]; }
  const Node& node(size_t index) const { return *nodes_[index]; }
  /// Appends a node and returns it.
  Node& add_node(Node node);
  /// Inserts a node before position `index` and returns it.
  Node& insert_node(size_t index, Node node);
  /// Removes one node (pointers to other nodes stay valid).
  void remove_node(const Node* node) {
    remove_nodes_if([node](const Node& n) { return &n == node; });
  }
  /// Removes the nodes for which `pred` is true; returns how many.
  template <typename Pred>
  size_t remove_nodes_if(Pred pred) {
    size_t before = nodes_.size();
    std::erase_if(nodes_, [&](const std::unique_ptr<Node>& n) { return pred(*n); });
    return before - nodes_.size();
  }

  // Initializers (order kept).
  const std::vector<Initializer>& initializers() const { return initializers_; }
  const Initializer* find_initializer(const std::string& value) const;
  Initializer* find_initializer(const std::string& value);
  /// Adds or replaces an initializer.
  void set_initializer(Initializer init);
  /// Removes the initializers for which `pred` is true; returns how many.
  size_t remove_initializers_if(const std::function<bool(const Initializer&)>& pred);

  // Queries.
  bool is_graph_input(const std::string& value) const;
  bool is_graph_output(const std::string& value) const;
  /// Builds the use-def index for the graph as it is now.
  UseDefIndex index() const;
  /// Every value name defined in this graph (inputs, initializers, node outputs).
  std::set<std::string> defined_values() const;
  /// A value name based on `hint` that no value of this graph uses yet.
  std::string unique_name(const std::string& hint) const;

  // Editing.
  /// Rewires every reader of `from` (node inputs, subgraph reads, graph outputs) to `to`.
  void replace_all_uses(const std::string& from, const std::string& to);
  /// Orders nodes topologically (stable: keeps the current order where it is valid).
  /// Fails naming a node on a cycle, or a node input that nothing defines.
  Status sort_topologically();
  /// Checks that every node input is defined before use and names are single-assignment.
  Status validate() const;

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Initializer> initializers_;
  std::unordered_map<std::string, size_t> initializer_index_;
  void reindex_initializers();
};

/// Names of this-scope values read inside a node's subgraphs (recursively), excluding names the
/// subgraphs define themselves.
std::set<std::string> subgraph_outer_reads(const Node& node);

/// Renames reads of `from` to `to` inside a node's subgraphs (recursively), where not shadowed.
void rename_in_subgraphs(Node& node, const std::string& from, const std::string& to);

}  // namespace compressor::ir
