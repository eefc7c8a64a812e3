// Sample tensors on disk: TensorProto .pb files (the ONNX test_data_set_N layout); sequences and
// optionals as SequenceProto and OptionalProto files.
#pragma once

#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/graph.h"
#include "compressor/ir/tensor.h"
#include "compressor/ir/value.h"

namespace compressor::io {

/// A tensor read from a file, with the name stored in it (may be empty).
struct NamedFileTensor {
  std::string name;
  ir::Tensor tensor;
};

/// Reads one serialized TensorProto (input_0.pb, output_0.pb, ...).
StatusOr<NamedFileTensor> read_tensor_pb(const std::string& path);

/// Writes a tensor as a serialized TensorProto, atomically.
Status write_tensor_pb(const ir::Tensor& tensor, const std::string& name, const std::string& path);

/// Reads `prefix_0.pb`, `prefix_1.pb`, ... from a test_data_set folder, in index order.
StatusOr<std::vector<NamedFileTensor>> read_tensor_set(const std::string& dir,
                                                       const std::string& prefix);

/// A value read from a file (a tensor, a sequence or an optional), with its stored name.
struct NamedFileValue {
  std::string name;
  ir::Value value;
};

/// Reads one serialized value of the kind `declared` gives (the files do not say): a
/// TensorProto for tensors (and values without a declared type), a SequenceProto of tensors for
/// sequences, an OptionalProto holding nothing, a tensor or a sequence for optionals.
StatusOr<NamedFileValue> read_value_pb(const std::string& path, const ir::ValueInfo& declared);

/// Reads `prefix_0.pb`, `prefix_1.pb`, ... in index order; file k has the kind of
/// `declared[k]` (a tensor when k is past its end).
StatusOr<std::vector<NamedFileValue>> read_value_set(const std::string& dir,
                                                     const std::string& prefix,
                                                     const std::vector<ir::ValueInfo>& declared);

}  // namespace compressor::io
