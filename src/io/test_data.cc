// TensorProto .pb sample files.
#include "compressor/io/test_data.h"

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "compressor/io/onnx_io.h"

namespace compressor::io {
namespace fs = std::filesystem;

StatusOr<NamedFileTensor> read_tensor_pb(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open");
  onnx::TensorProto proto;
  if (!proto.ParseFromIstream(&in)) return invalid_model(path + ": not a serialized TensorProto");
  NamedFileTensor out;
  out.name = proto.name();
  auto t = tensor_from_proto(std::move(proto), path);
  if (!t.ok()) return t.status();
  out.tensor = std::move(t).value();
  return out;
}

Status write_tensor_pb(const ir::Tensor& tensor, const std::string& name, const std::string& path) {
  onnx::TensorProto proto;
  tensor_to_proto(tensor, &proto);
  proto.set_name(name);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !proto.SerializeToOstream(&out)) return io_error(path + ": cannot write");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return io_error(path + ": cannot rename into place: " + ec.message());
  return ok_status();
}

StatusOr<std::vector<NamedFileTensor>> read_tensor_set(const std::string& dir,
                                                       const std::string& prefix) {
  std::vector<NamedFileTensor> out;
  for (int i = 0;; ++i) {
    const std::string p = (fs::path(dir) / (prefix + "_" + std::to_string(i) + ".pb")).string();
    if (!fs::exists(p)) break;
    COMPRESSOR_ASSIGN_OR_RETURN(auto t, read_tensor_pb(p));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace compressor::io
