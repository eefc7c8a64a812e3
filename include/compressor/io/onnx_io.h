// Reading and writing ONNX model files: confined external data, atomic and deterministic saves.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/model.h"

namespace onnx {
class GraphProto;
class ModelProto;
class TensorProto;
}  // namespace onnx

namespace compressor::io {

/// The newest default-domain opset the bundled ONNX library can check and infer shapes for.
inline constexpr int64_t kNewestCheckedOpset = 17;

/// Loads a model. Tensors stored as external data are memory-mapped from files that must lie
/// inside the model's folder (no absolute paths, `..`, symbolic or hard links).
StatusOr<ir::Model> load_model(const std::string& path);

/// Parses a model from bytes; external data, if any, is resolved against `base_dir`.
StatusOr<ir::Model> load_model_from_bytes(const std::string& bytes, const std::string& base_dir,
                                          const std::string& label);

/// Where tensor bytes go when saving.
enum class ExternalData {
  kAuto,    ///< Embedded, unless the file would pass protobuf's 2 GiB limit.
  kNever,   ///< Always embedded (fails above 2 GiB).
  kAlways,  ///< Tensors of at least `external_min_bytes` go to the external file.
};

struct SaveOptions {
  ExternalData external = ExternalData::kAuto;
  /// Tensors smaller than this stay embedded even when external data is used.
  size_t external_min_bytes = 1024;
  /// Run the ONNX checker (with strict shape inference) before writing.
  bool check = true;
  /// Paths that must not be overwritten (the input model); `force` lifts this.
  std::vector<std::string> protected_paths;
  bool force = false;
};

struct SaveResult {
  uint64_t model_bytes = 0;     ///< Size of the .onnx file.
  uint64_t external_bytes = 0;  ///< Size of the external data file (0 when none).
  std::string external_path;    ///< External data file, empty when none.
  bool checked = false;         ///< The ONNX checker ran (false for opsets it does not know).
};

/// Writes `model` to `path` atomically (temporary file, then rename). The same model and
/// options always give the same bytes.
StatusOr<SaveResult> save_model(const ir::Model& model, const std::string& path,
                                const SaveOptions& options = {});

/// The size in bytes of the model saved with every tensor embedded, computed without
/// serializing the tensor bytes.
uint64_t serialized_size(const ir::Model& model);

/// What one initializer costs in the saved file, protobuf framing included.
struct StorageSize {
  uint64_t dense_bytes = 0;   ///< As a dense initializer (raw_data).
  uint64_t sparse_bytes = 0;  ///< As a sparse Constant node; 0 when its dtype cannot be.
  int64_t nonzeros = 0;       ///< Elements whose bytes are not all zero (-0.0 and NaN count).
};

/// The exact sizes of `init` stored dense and stored sparse (a Constant node whose sparse_value
/// holds the nonzero values and INT64 linear indices, as save_model writes an Initializer with
/// `sparse` set), without encoding the tensor's bytes.
StorageSize initializer_storage(const ir::Initializer& init);

/// Runs the ONNX checker with strict shape inference on the model as it is in memory.
/// Models importing a default-domain opset newer than kNewestCheckedOpset are not checked
/// (`checked` is set false).
Status check_model(const ir::Model& model, bool* checked = nullptr);

/// Runs ONNX shape inference (lenient, with data propagation) and returns the type of every
/// value it could infer: graph inputs, intermediates and outputs.
StatusOr<std::vector<ir::ValueInfo>> infer_value_info(const ir::Model& model);

/// Converts a subgraph (an If/Loop/Scan body) to a Graph. Its reads of enclosing-scope names
/// are left unresolved; nodes keep their stored order.
StatusOr<ir::Graph> subgraph_from_proto(const onnx::GraphProto& proto);

/// The model as one ModelProto with every tensor embedded (copies the tensor bytes).
std::unique_ptr<onnx::ModelProto> to_proto(const ir::Model& model);

/// A ModelProto for analysis (checker, shape inference): tensors above `max_embedded_bytes`
/// are declared but not copied (they appear as external data with a placeholder location).
std::unique_ptr<onnx::ModelProto> to_analysis_proto(const ir::Model& model,
                                                    size_t max_embedded_bytes = 64 * 1024);

/// Decodes a TensorProto with embedded data (raw or typed fields) into a Tensor; the proto's
/// raw bytes are moved, not copied. `what` names the tensor in errors.
StatusOr<ir::Tensor> tensor_from_proto(onnx::TensorProto&& proto, const std::string& what);

/// Encodes a tensor as a TensorProto with raw_data (string tensors use string_data).
void tensor_to_proto(const ir::Tensor& tensor, onnx::TensorProto* proto);

/// Sum of tensor bytes of all initializers (what the weights cost on disk).
uint64_t initializer_bytes(const ir::Graph& graph);

}  // namespace compressor::io
