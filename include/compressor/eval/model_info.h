// What a model contains: structure, parameters, external data, estimated MACs and sparsity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/model.h"

namespace compressor::eval {

/// A declared graph input or output.
struct ValueSummary {
  std::string name;
  /// ValueInfo::type_string(): "float[batch, 3, 224, 224]", or the kind of a non-tensor type.
  std::string type;
  bool is_tensor = false;
  /// Element type; kUndefined for non-tensors and element types this build does not know.
  ir::DType dtype = ir::DType::kUndefined;
  /// False when the shape is not declared at all (then `shape` is empty).
  bool has_shape = false;
  std::vector<ir::Dim> shape;
};

/// Parameter count and storage of one element type.
struct DTypeParams {
  ir::DType dtype = ir::DType::kUndefined;
  size_t tensors = 0;
  int64_t params = 0;
  uint64_t bytes = 0;
};

/// Weights of one origin (initializers, or tensors held by Constant nodes).
struct ParamStats {
  size_t tensors = 0;
  int64_t params = 0;
  uint64_t bytes = 0;
  /// One row per element type, largest `bytes` first, then by dtype name.
  std::vector<DTypeParams> by_dtype;
};

/// One weight tensor: an initializer, or the value of a Constant node.
struct TensorSummary {
  std::string name;  ///< The initializer name, or the Constant node's output name.
  /// Empty for initializers; the Constant node's name for tensors held by Constant nodes.
  std::string constant_node;
  bool from_constant_node = false;
  ir::DType dtype = ir::DType::kUndefined;
  ir::Dims dims;
  uint64_t bytes = 0;
  /// Fraction of exactly-zero elements, for float/double/float16/bfloat16 tensors.
  std::optional<double> zero_fraction;
};

/// One file that the model's tensors reference as external data.
struct ExternalFile {
  std::string location;  ///< As written in the model, relative to the model's folder.
  bool exists = false;
  uint64_t bytes = 0;             ///< Size on disk (0 when missing).
  size_t tensors = 0;             ///< Tensors stored in it.
  uint64_t referenced_bytes = 0;  ///< Sum of the tensors' declared lengths.
};

/// Occurrences of one operator; non-default domains are qualified ("com.microsoft.Attention").
struct OpCount {
  std::string op_type;
  size_t count = 0;
};

/// Multiply-accumulates of one operator type.
struct OpMacs {
  std::string op_type;
  size_t nodes = 0;
  uint64_t macs = 0;
};

/// Estimated multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul (and their integer
/// and QLinear forms) in the main graph,
/// from shapes that ONNX shape inference derives with symbolic dimensions bound.
struct MacsSummary {
  uint64_t total = 0;
  /// Largest `macs` first, then by name.
  std::vector<OpMacs> by_op_type;
  size_t counted_nodes = 0;
  /// MAC-bearing nodes whose shapes could not be inferred.
  size_t unknown_nodes = 0;
  /// Labels of the first few such nodes ("node 'conv3' (Conv)").
  std::vector<std::string> unknown_examples;
  /// The value used for each symbolic input dimension, in order of first appearance.
  std::vector<std::pair<std::string, int64_t>> dims;
  /// Symbolic input dimensions that were not bound and were taken as 1.
  std::vector<std::string> unbound_dims;
  /// Everything else the estimate assumed, one sentence each (unknown dims taken as 1,
  /// subgraphs not counted, shape inference unavailable).
  std::vector<std::string> notes;
};

/// Exactly-zero elements over the float weight tensors (initializers and Constant nodes).
struct SparsitySummary {
  size_t tensors = 0;
  int64_t elements = 0;
  int64_t zeros = 0;
  /// zeros / elements; 0 when there are no float weights.
  double fraction() const {
    return elements > 0 ? static_cast<double>(zeros) / static_cast<double>(elements) : 0.0;
  }
};

/// Everything `compressor info` reports about a model.
struct ModelInfo {
  // The file.
  std::string path;
  uint64_t file_bytes = 0;  ///< Size of the .onnx file (0 when summarized without a path).
  std::vector<ExternalFile> external_files;

  // ModelProto fields.
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::vector<ir::OpsetImport> opsets;
  std::string graph_name;
  std::vector<std::pair<std::string, std::string>> metadata;
  size_t function_count = 0;

  // Interface. Graph inputs that are also initializers are not user inputs; only counted.
  std::vector<ValueSummary> inputs;
  std::vector<ValueSummary> outputs;
  size_t initializer_inputs = 0;

  // Nodes of the main graph (nodes inside subgraphs are not counted).
  size_t node_count = 0;
  /// Most frequent first, then by name.
  std::vector<OpCount> op_types;
  size_t constant_nodes = 0;  ///< Constant nodes holding a value.
  size_t subgraph_nodes = 0;  ///< Nodes with graph attributes (If, Loop, Scan).
  size_t sparse_initializers = 0;

  // Weights.
  ParamStats initializer_params;
  ParamStats constant_params;  ///< Tensors held by Constant nodes (exporters like paddle2onnx).
  ParamStats params;           ///< Both together.
  /// The largest weight tensors (initializers and Constant-node values), largest first.
  std::vector<TensorSummary> largest;
  SparsitySummary sparsity;

  MacsSummary macs;
};

/// What to compute beyond the model's own fields.
struct SummaryOptions {
  /// Values for symbolic input dimensions (e.g. {"batch", 8}); unbound ones are taken as 1.
  std::map<std::string, int64_t> dims;
  /// How many of the largest weight tensors to list.
  size_t largest = 10;
};

/// Summarizes `model`, which was loaded from `path`. The file's size and its external data
/// references are read from `path` (a light scan that skips tensor bytes); pass an empty path
/// for a model that did not come from a file. Fails with kInvalidArgument when `options.dims`
/// names a dimension that no graph input declares, and with kInvalidModel naming the node when
/// a Constant node's tensor is malformed.
StatusOr<ModelInfo> summarize_model(const ir::Model& model, const std::string& path,
                                    const SummaryOptions& options = {});

/// Estimates the MACs of the main graph's Conv, ConvTranspose, Gemm and MatMul nodes with the
/// symbolic input dimensions bound to `dims` (unbound ones taken as 1). Fails with
/// kInvalidArgument when `dims` names a dimension that no graph input declares.
StatusOr<MacsSummary> estimate_macs(const ir::Model& model,
                                    const std::map<std::string, int64_t>& dims);

/// Multiply-accumulates of one Conv, ConvTranspose, Gemm, MatMul, ConvInteger, QLinearConv,
/// MatMulInteger or QLinearMatMul node from the shapes `shape_of` gives for its value names
/// (null when unknown), e.g. the shapes of an actual run; nullopt for other ops or when a
/// needed shape is unknown.
std::optional<uint64_t> node_macs(
    const ir::Node& node, const std::function<const ir::Dims*(const std::string&)>& shape_of);

/// The external data files that the model file at `path` references, with their sizes. Scans
/// the file's protobuf structure without reading tensor bytes. Files are listed in order of
/// first reference.
StatusOr<std::vector<ExternalFile>> external_data_files(const std::string& path);

}  // namespace compressor::eval
