// TensorProto .pb sample files, and SequenceProto / OptionalProto files for sequences and
// optionals.
#include "compressor/io/test_data.h"

#include <onnx/onnx-data_pb.h>
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

namespace {

/// The element type a declared sequence type gives its tensors, or kUndefined.
ir::DType declared_element_type(const onnx::TypeProto& seq_type) {
  const auto& elem = seq_type.sequence_type().elem_type();
  if (!elem.has_tensor_type()) return ir::DType::kUndefined;
  return ir::dtype_from_onnx(elem.tensor_type().elem_type()).value_or(ir::DType::kUndefined);
}

StatusOr<ir::Value> sequence_from_proto(onnx::SequenceProto&& proto, ir::DType declared,
                                        const std::string& path) {
  if (proto.elem_type() != onnx::SequenceProto::TENSOR &&
      proto.elem_type() != onnx::SequenceProto::UNDEFINED) {
    return unsupported(path + ": only sequences of tensors are supported (elem_type " +
                       std::to_string(proto.elem_type()) + ")");
  }
  std::vector<ir::Tensor> elements;
  for (int i = 0; i < proto.tensor_values_size(); ++i) {
    COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor t,
                                tensor_from_proto(std::move(*proto.mutable_tensor_values(i)),
                                                  path + ": element " + std::to_string(i)));
    elements.push_back(std::move(t));
  }
  return ir::Value::sequence(declared, std::move(elements));
}

}  // namespace

StatusOr<NamedFileValue> read_value_pb(const std::string& path, const ir::ValueInfo& declared) {
  const onnx::TypeProto& type = declared.proto().type();
  if (!type.has_sequence_type() && !type.has_optional_type()) {
    COMPRESSOR_ASSIGN_OR_RETURN(auto t, read_tensor_pb(path));
    return NamedFileValue{std::move(t.name), std::move(t.tensor)};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open");
  NamedFileValue out;
  if (type.has_sequence_type()) {
    onnx::SequenceProto proto;
    if (!proto.ParseFromIstream(&in))
      return invalid_model(path + ": not a serialized SequenceProto");
    out.name = proto.name();
    COMPRESSOR_ASSIGN_OR_RETURN(
        out.value, sequence_from_proto(std::move(proto), declared_element_type(type), path));
    return out;
  }
  onnx::OptionalProto proto;
  if (!proto.ParseFromIstream(&in)) return invalid_model(path + ": not a serialized OptionalProto");
  out.name = proto.name();
  if (proto.has_tensor_value()) {
    COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor t,
                                tensor_from_proto(std::move(*proto.mutable_tensor_value()), path));
    out.value = ir::Value::optional_of(std::move(t));
  } else if (proto.has_sequence_value()) {
    COMPRESSOR_ASSIGN_OR_RETURN(
        ir::Value seq,
        sequence_from_proto(std::move(*proto.mutable_sequence_value()),
                            declared_element_type(type.optional_type().elem_type()), path));
    out.value = ir::Value::optional_of(std::move(seq));
  } else if (proto.elem_type() == onnx::OptionalProto::UNDEFINED ||
             proto.elem_type() == onnx::OptionalProto::TENSOR ||
             proto.elem_type() == onnx::OptionalProto::SEQUENCE) {
    out.value = ir::Value::empty_optional();
  } else {
    return unsupported(path + ": only optionals of tensors or sequences are supported (elem_type " +
                       std::to_string(proto.elem_type()) + ")");
  }
  return out;
}

StatusOr<std::vector<NamedFileValue>> read_value_set(const std::string& dir,
                                                     const std::string& prefix,
                                                     const std::vector<ir::ValueInfo>& declared) {
  static const ir::ValueInfo kTensor = ir::ValueInfo::make_tensor("", ir::DType::kUndefined, {});
  std::vector<NamedFileValue> out;
  for (size_t i = 0;; ++i) {
    const std::string p = (fs::path(dir) / (prefix + "_" + std::to_string(i) + ".pb")).string();
    if (!fs::exists(p)) break;
    COMPRESSOR_ASSIGN_OR_RETURN(auto v,
                                read_value_pb(p, i < declared.size() ? declared[i] : kTensor));
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace compressor::io
