// Confined, memory-mapped access to external tensor data beside a model file.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "compressor/core/status.h"
#include "compressor/ir/tensor.h"

namespace onnx {
class TensorProto;
}  // namespace onnx

namespace compressor::io {

/// A read-only memory mapping of one whole file; tensors borrow views into it.
class MappedFile {
 public:
  static StatusOr<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  MappedFile() = default;
  const std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

/// Resolves external-data references of one model against its folder. Each file is mapped
/// once and shared by every tensor that lives in it.
class ExternalDataReader {
 public:
  explicit ExternalDataReader(std::string base_dir) : base_dir_(std::move(base_dir)) {}

  /// Returns the tensor's bytes as a view into the mapped file, after checking the location,
  /// keys, offset and length. `dtype`, `dims` describe the tensor; `what` names it in errors.
  StatusOr<ir::Tensor> read(const onnx::TensorProto& proto, ir::DType dtype, ir::Dims dims,
                            const std::string& what);

 private:
  StatusOr<std::shared_ptr<MappedFile>> map_confined(const std::string& location,
                                                     const std::string& what);
  std::string base_dir_;
  std::map<std::string, std::shared_ptr<MappedFile>> files_;
};

}  // namespace compressor::io
