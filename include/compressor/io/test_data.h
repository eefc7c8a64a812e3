// Sample tensors on disk: TensorProto .pb files (the ONNX test_data_set_N layout).
#pragma once

#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/tensor.h"

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

}  // namespace compressor::io
