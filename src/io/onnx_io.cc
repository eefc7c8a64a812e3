// ONNX file <-> ir::Model: lossless conversion, bounded parsing, atomic deterministic saving.
#include "compressor/io/onnx_io.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include "compressor/core/logging.h"
#include "external_data.h"

namespace compressor::io {
namespace fs = std::filesystem;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

namespace {

constexpr uint64_t kProtobufLimit = static_cast<uint64_t>(INT_MAX);  // 2 GiB - 1
constexpr int kRecursionLimit = 100;
constexpr size_t kExternalAlignment = 4096;
// Large tensors are declared to the checker as external data at ".": ONNX 1.12 only checks that
// the location exists relative to the working folder, and never reads it, so the analysis copy
// needs no copy of the weights.
constexpr const char* kAnalysisPlaceholder = ".";

// ---------------------------------------------------------------------------------------------
// Decoding tensors

template <typename Dst, typename Field>
ir::Tensor from_field(ir::DType dtype, ir::Dims dims, const Field& field) {
  ir::Tensor t = ir::Tensor::zeros(dtype, std::move(dims));
  auto out = t.mutable_span<Dst>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<Dst>(field.Get(static_cast<int>(i)));
  return t;
}

// Typed-field storage for each dtype, per onnx.proto: how many field values per element.
StatusOr<ir::Tensor> decode_typed(onnx::TensorProto& p, ir::DType dtype, ir::Dims dims,
                                  const std::string& what) {
  using ir::DType;
  const int64_t n = ir::element_count(dims);
  auto expect = [&](int64_t have, int64_t want) -> Status {
    if (have == want) return ok_status();
    return invalid_model(what + ": holds " + std::to_string(have) + " values but its shape " +
                         ir::dims_to_string(dims) + " needs " + std::to_string(want));
  };
  switch (dtype) {
    case DType::kFloat:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.float_data_size(), n));
      return from_field<float>(dtype, dims, p.float_data());
    case DType::kComplex64:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.float_data_size(), 2 * n));
      return from_field<float>(dtype, dims, p.float_data());
    case DType::kDouble:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.double_data_size(), n));
      return from_field<double>(dtype, dims, p.double_data());
    case DType::kComplex128:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.double_data_size(), 2 * n));
      return from_field<double>(dtype, dims, p.double_data());
    case DType::kInt64:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.int64_data_size(), n));
      return from_field<int64_t>(dtype, dims, p.int64_data());
    case DType::kUInt64:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.uint64_data_size(), n));
      return from_field<uint64_t>(dtype, dims, p.uint64_data());
    case DType::kUInt32:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.uint64_data_size(), n));
      return from_field<uint32_t>(dtype, dims, p.uint64_data());
    case DType::kInt32:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.int32_data_size(), n));
      return from_field<int32_t>(dtype, dims, p.int32_data());
    case DType::kInt16:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.int32_data_size(), n));
      return from_field<int16_t>(dtype, dims, p.int32_data());
    case DType::kUInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.int32_data_size(), n));
      return from_field<uint16_t>(dtype, dims, p.int32_data());
    case DType::kInt8:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.int32_data_size(), n));
      return from_field<int8_t>(dtype, dims, p.int32_data());
    case DType::kUInt8:
    case DType::kBool:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2:
    case DType::kFloat8E5M2FNUZ:
      COMPRESSOR_RETURN_IF_ERROR(expect(p.int32_data_size(), n));
      return from_field<uint8_t>(dtype, dims, p.int32_data());
    case DType::kUInt4:
    case DType::kInt4:
    case DType::kFloat4E2M1: {
      // Two 4-bit elements per int32 value, low nibble first.
      COMPRESSOR_RETURN_IF_ERROR(expect(p.int32_data_size(), (n + 1) / 2));
      return from_field<uint8_t>(dtype, dims, p.int32_data());
    }
    case DType::kString: {
      COMPRESSOR_RETURN_IF_ERROR(expect(p.string_data_size(), n));
      std::vector<std::string> strings;
      strings.reserve(static_cast<size_t>(n));
      for (auto& s : *p.mutable_string_data()) strings.push_back(std::move(s));
      return ir::Tensor::from_strings(std::move(dims), std::move(strings));
    }
    default:
      break;
  }
  return invalid_model(what + ": unsupported data type " + std::string(ir::dtype_name(dtype)));
}

StatusOr<std::pair<ir::DType, ir::Dims>> tensor_header(const onnx::TensorProto& p,
                                                       const std::string& what) {
  auto dtype = ir::dtype_from_onnx(p.data_type());
  if (!dtype) {
    return invalid_model(what + ": unknown data type " + std::to_string(p.data_type()));
  }
  ir::Dims dims(p.dims().begin(), p.dims().end());
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return invalid_model(what + ": negative dimension in " + ir::dims_to_string(dims));
    // 2^56 elements of the widest type (128 bits) still fit an int64 byte count.
    if (d > 0 && n > (int64_t{1} << 56) / d) {
      return invalid_model(what + ": shape " + ir::dims_to_string(dims) + " is too large");
    }
    n *= d;
  }
  return std::make_pair(*dtype, std::move(dims));
}

bool is_external(const onnx::TensorProto& p) {
  return p.data_location() == onnx::TensorProto::EXTERNAL;
}

// The TensorProto with the fields we model removed; null when nothing else is left.
std::shared_ptr<const onnx::TensorProto> tensor_extras(const onnx::TensorProto& p) {
  auto e = std::make_shared<onnx::TensorProto>();
  if (p.has_doc_string()) e->set_doc_string(p.doc_string());
  if (p.has_segment()) *e->mutable_segment() = p.segment();
  e->GetReflection()->MutableUnknownFields(e.get())->MergeFrom(
      p.GetReflection()->GetUnknownFields(p));
  if (e->ByteSizeLong() == 0) return nullptr;
  return e;
}

StatusOr<ir::Tensor> read_tensor(onnx::TensorProto& p, ExternalDataReader& reader,
                                 const std::string& what) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto header, tensor_header(p, what));
  if (is_external(p)) return reader.read(p, header.first, std::move(header.second), what);
  return tensor_from_proto(std::move(p), what);
}

// Replaces external data inside attribute tensors (Constant values, subgraph initializers)
// with embedded bytes, so that attributes stay self-contained protobufs.
Status embed_external(onnx::TensorProto& p, ExternalDataReader& reader, const std::string& what) {
  if (!is_external(p)) return ok_status();
  COMPRESSOR_ASSIGN_OR_RETURN(auto header, tensor_header(p, what));
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor t, reader.read(p, header.first, header.second, what));
  p.clear_external_data();
  p.clear_data_location();
  p.set_raw_data(reinterpret_cast<const char*>(t.data()), t.nbytes());
  return ok_status();
}

Status embed_external_in_graph(onnx::GraphProto& g, ExternalDataReader& reader);

// Attribute tensors (Constant values) get the checks initializers get, without being copied.
Status check_attribute_tensor(const onnx::TensorProto& p, const std::string& what) {
  if (is_external(p)) return ok_status();
  COMPRESSOR_ASSIGN_OR_RETURN(auto header, tensor_header(p, what));
  if (!p.has_raw_data()) return ok_status();  // typed fields are checked when decoded
  const size_t want = ir::storage_bytes(header.first, ir::element_count(header.second));
  if (header.first == ir::DType::kString || p.raw_data().size() != want) {
    return invalid_model(what + ": raw_data has " + std::to_string(p.raw_data().size()) +
                         " bytes but its shape " + ir::dims_to_string(header.second) + " of " +
                         std::string(ir::dtype_name(header.first)) + " needs " +
                         std::to_string(want));
  }
  return ok_status();
}

Status embed_external_in_attribute(onnx::AttributeProto& a, ExternalDataReader& reader,
                                   const std::string& what) {
  if (a.has_t()) COMPRESSOR_RETURN_IF_ERROR(embed_external(*a.mutable_t(), reader, what));
  if (a.has_t()) COMPRESSOR_RETURN_IF_ERROR(check_attribute_tensor(a.t(), what));
  for (auto& t : *a.mutable_tensors()) COMPRESSOR_RETURN_IF_ERROR(embed_external(t, reader, what));
  if (a.has_sparse_tensor()) {
    COMPRESSOR_RETURN_IF_ERROR(
        embed_external(*a.mutable_sparse_tensor()->mutable_values(), reader, what));
    COMPRESSOR_RETURN_IF_ERROR(
        embed_external(*a.mutable_sparse_tensor()->mutable_indices(), reader, what));
  }
  if (a.has_g()) COMPRESSOR_RETURN_IF_ERROR(embed_external_in_graph(*a.mutable_g(), reader));
  for (auto& g : *a.mutable_graphs())
    COMPRESSOR_RETURN_IF_ERROR(embed_external_in_graph(g, reader));
  return ok_status();
}

Status embed_external_in_graph(onnx::GraphProto& g, ExternalDataReader& reader) {
  for (auto& t : *g.mutable_initializer()) {
    COMPRESSOR_RETURN_IF_ERROR(embed_external(t, reader, "initializer '" + t.name() + "'"));
  }
  for (auto& s : *g.mutable_sparse_initializer()) {
    const std::string what = "sparse initializer '" + s.values().name() + "'";
    COMPRESSOR_RETURN_IF_ERROR(embed_external(*s.mutable_values(), reader, what));
    COMPRESSOR_RETURN_IF_ERROR(embed_external(*s.mutable_indices(), reader, what));
  }
  for (auto& n : *g.mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      const std::string what =
          "node '" + n.name() + "' (" + n.op_type() + ") attribute '" + a.name() + "'";
      COMPRESSOR_RETURN_IF_ERROR(embed_external_in_attribute(a, reader, what));
    }
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// Sparse initializers

// Element types a sparse initializer is densified from and encoded to: whole bytes per element.
bool sparse_encodable(ir::DType dtype) {
  const int bits = ir::traits(dtype).bits;
  return dtype != ir::DType::kString && bits >= 8 && bits % 8 == 0;
}

// A dense form larger than this (and than 64 times the sparse bytes) is not built at load time:
// the sparse initializer is then kept as read.
constexpr uint64_t kDensifyFloorBytes = uint64_t{256} << 20;

// The dense Initializer (flagged sparse) holding a sparse initializer's values at its indices, or
// nullopt when the tensor is kept as read (string or 4-bit values, non-INT64 indices, or a dense
// form too large to hold). Indices are either [NNZ] linear or [NNZ, rank] coordinates, as in
// onnx.proto; an index outside the shape is an error.
StatusOr<std::optional<ir::Initializer>> densify_sparse(const onnx::SparseTensorProto& s,
                                                        const std::string& name,
                                                        const std::string& what) {
  onnx::TensorProto shape_proto;
  shape_proto.set_data_type(s.values().data_type());
  *shape_proto.mutable_dims() = s.dims();
  COMPRESSOR_ASSIGN_OR_RETURN(auto header, tensor_header(shape_proto, what));
  auto [dtype, dims] = std::move(header);
  if (!sparse_encodable(dtype) || s.indices().data_type() != onnx::TensorProto::INT64) {
    return std::optional<ir::Initializer>();
  }
  onnx::TensorProto values_proto = s.values();
  onnx::TensorProto indices_proto = s.indices();
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor values,
                              tensor_from_proto(std::move(values_proto), what + " values"));
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor indices,
                              tensor_from_proto(std::move(indices_proto), what + " indices"));
  if (values.dtype() != dtype || values.rank() != 1) {
    return invalid_model(what + ": values must be a 1-D tensor, got " +
                         ir::dims_to_string(values.dims()));
  }
  const int64_t nnz = values.numel();
  const int64_t rank = static_cast<int64_t>(dims.size());
  const bool linear = indices.dims() == ir::Dims{nnz};
  if (!linear && indices.dims() != ir::Dims{nnz, rank}) {
    return invalid_model(what + ": indices must have shape [" + std::to_string(nnz) + "] or [" +
                         std::to_string(nnz) + ", " + std::to_string(rank) + "], got " +
                         ir::dims_to_string(indices.dims()));
  }
  const int64_t n = ir::element_count(dims);
  const uint64_t dense_bytes = ir::storage_bytes(dtype, n);
  const uint64_t sparse_bytes = values.nbytes() + indices.nbytes();
  if (dense_bytes > std::max(kDensifyFloorBytes, 64 * sparse_bytes)) {
    COMPRESSOR_LOG_WARN("{}: kept sparse as read; its dense form ({} bytes) is too large to hold",
                        what, dense_bytes);
    return std::optional<ir::Initializer>();
  }
  ir::Tensor dense = ir::Tensor::zeros(dtype, dims);
  const size_t elem = static_cast<size_t>(ir::traits(dtype).bits / 8);
  auto idx = indices.span<int64_t>();
  std::byte* out = dense.mutable_data();
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t flat = 0;
    if (linear) {
      flat = idx[static_cast<size_t>(k)];
    } else {
      for (int64_t a = 0; a < rank; ++a) {
        const int64_t i = idx[static_cast<size_t>(k * rank + a)];
        if (i < 0 || i >= dims[static_cast<size_t>(a)]) {
          flat = -1;
          break;
        }
        flat = flat * dims[static_cast<size_t>(a)] + i;
      }
    }
    if (flat < 0 || flat >= n) {
      return invalid_model(what + ": index " + std::to_string(k) + " lies outside its shape " +
                           ir::dims_to_string(dims));
    }
    std::memcpy(out + static_cast<size_t>(flat) * elem,
                values.data() + static_cast<size_t>(k) * elem, elem);
  }
  ir::Initializer init{name, std::move(dense), tensor_extras(s.values())};
  init.sparse = true;
  return std::optional<ir::Initializer>(std::move(init));
}

// Number of elements whose bytes are not all zero (-0.0 and NaN count as nonzero, so the sparse
// form restores every bit).
int64_t count_nonzero(const ir::Tensor& t) {
  const size_t elem = static_cast<size_t>(ir::traits(t.dtype()).bits / 8);
  const std::byte* p = t.data();
  int64_t nnz = 0;
  for (size_t off = 0; off < t.nbytes(); off += elem) {
    for (size_t b = 0; b < elem; ++b) {
      if (p[off + b] != std::byte{0}) {
        ++nnz;
        break;
      }
    }
  }
  return nnz;
}

// The SparseTensorProto of a flagged initializer: values [NNZ] and ascending INT64 linear indices
// [NNZ], both raw_data; with `with_data` false, only their headers (for sizing).
void encode_sparse(const ir::Initializer& init, onnx::SparseTensorProto* p, bool with_data) {
  const ir::Tensor& t = init.tensor;
  const int64_t nnz = count_nonzero(t);
  onnx::TensorProto* values = p->mutable_values();
  if (init.extras) values->CopyFrom(*init.extras);
  values->set_name(init.name);
  values->add_dims(nnz);
  values->set_data_type(static_cast<int32_t>(t.dtype()));
  onnx::TensorProto* indices = p->mutable_indices();
  indices->add_dims(nnz);
  indices->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : t.dims()) p->add_dims(d);
  if (!with_data) return;
  const size_t elem = static_cast<size_t>(ir::traits(t.dtype()).bits / 8);
  std::string value_bytes(static_cast<size_t>(nnz) * elem, '\0');
  std::vector<int64_t> index(static_cast<size_t>(nnz));
  const std::byte* src = t.data();
  size_t k = 0;
  for (size_t off = 0, i = 0; off < t.nbytes(); off += elem, ++i) {
    bool zero = true;
    for (size_t b = 0; b < elem && zero; ++b) zero = src[off + b] == std::byte{0};
    if (zero) continue;
    std::memcpy(value_bytes.data() + k * elem, src + off, elem);
    index[k++] = static_cast<int64_t>(i);
  }
  values->set_raw_data(std::move(value_bytes));
  indices->set_raw_data(reinterpret_cast<const char*>(index.data()),
                        index.size() * sizeof(int64_t));
}

// A flagged initializer as it is written: a Constant node (opset 11 on) whose sparse_value
// attribute holds the SparseTensorProto. ONNX 1.12's strict shape inference types a
// sparse_initializer as a sparse tensor, which no dense operator input accepts, so a model using
// sparse_initializers as weights fails onnx.checker's full_check; a sparse Constant's output is
// typed as a dense tensor, passes it, and ONNX Runtime densifies it at load like an initializer.
void encode_sparse_constant(const ir::Initializer& init, onnx::NodeProto* n, bool with_data) {
  n->add_output(init.name);
  n->set_op_type("Constant");
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name("sparse_value");
  a->set_type(onnx::AttributeProto::SPARSE_TENSOR);
  encode_sparse(init, a->mutable_sparse_tensor(), with_data);
}

// A top-level Constant node whose only attribute is sparse_value: the sparse tensor, else null.
const onnx::SparseTensorProto* sparse_constant(const onnx::NodeProto& n) {
  if (n.op_type() != "Constant" || !(n.domain().empty() || n.domain() == "ai.onnx")) return nullptr;
  if (n.input_size() != 0 || n.output_size() != 1 || n.output(0).empty()) return nullptr;
  if (n.attribute_size() != 1 || n.attribute(0).name() != "sparse_value") return nullptr;
  if (!n.attribute(0).has_sparse_tensor()) return nullptr;
  return &n.attribute(0).sparse_tensor();
}

// Flagged initializers of a type the sparse format holds are written sparse; others stay dense.
bool written_sparse(const ir::Initializer& init) {
  return init.sparse && sparse_encodable(init.tensor.dtype());
}

// The initializers written as dense TensorProtos (the others become sparse Constant nodes).
std::vector<const ir::Initializer*> dense_initializers(const ir::Graph& graph) {
  std::vector<const ir::Initializer*> out;
  for (const auto& init : graph.initializers()) {
    if (!written_sparse(init)) out.push_back(&init);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Proto -> IR

// `top_level` graphs are validated (and reordered when needed); subgraphs read names of the
// enclosing scope, so they are taken in the order stored.
StatusOr<ir::Graph> graph_from_proto(onnx::GraphProto& g, ExternalDataReader& reader,
                                     bool top_level = true) {
  ir::Graph graph;
  graph.name = g.name();
  graph.doc_string = g.doc_string();
  for (auto& v : *g.mutable_input()) {
    graph.inputs.emplace_back(std::make_shared<onnx::ValueInfoProto>(std::move(v)));
  }
  for (auto& v : *g.mutable_output()) {
    graph.outputs.emplace_back(std::make_shared<onnx::ValueInfoProto>(std::move(v)));
  }
  for (auto& v : *g.mutable_value_info()) {
    graph.value_info.emplace_back(std::make_shared<onnx::ValueInfoProto>(std::move(v)));
  }
  for (const ir::ValueInfo& v : graph.inputs) {
    if (v.is_tensor() && !ir::dtype_from_onnx(v.elem_type_raw())) {
      return invalid_model("graph input '" + v.name() + "': unknown data type " +
                           std::to_string(v.elem_type_raw()));
    }
  }
  for (const auto* list : {&graph.inputs, &graph.outputs}) {
    for (const ir::ValueInfo& v : *list) {
      for (const ir::Dim& d : v.shape()) {
        if (d.value && *d.value < 0) {
          return invalid_model("graph " + std::string(list == &graph.inputs ? "input" : "output") +
                               " '" + v.name() + "': negative dimension in " + v.type_string());
        }
      }
    }
  }
  for (auto& t : *g.mutable_initializer()) {
    const std::string what = "initializer '" + t.name() + "'";
    if (t.name().empty()) return invalid_model("an initializer has no name");
    if (graph.find_initializer(t.name())) return invalid_model(what + " is defined twice");
    auto extras = tensor_extras(t);
    std::string name = t.name();
    COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor tensor, read_tensor(t, reader, what));
    graph.set_initializer({std::move(name), std::move(tensor), std::move(extras)});
  }
  for (auto& s : *g.mutable_sparse_initializer()) {
    const std::string what = "sparse initializer '" + s.values().name() + "'";
    COMPRESSOR_RETURN_IF_ERROR(embed_external(*s.mutable_values(), reader, what));
    COMPRESSOR_RETURN_IF_ERROR(embed_external(*s.mutable_indices(), reader, what));
    if (!top_level) {
      graph.sparse_initializers.push_back(std::make_shared<onnx::SparseTensorProto>(std::move(s)));
      continue;
    }
    if (s.values().name().empty()) return invalid_model("a sparse initializer has no name");
    if (graph.find_initializer(s.values().name())) return invalid_model(what + " is defined twice");
    COMPRESSOR_ASSIGN_OR_RETURN(std::optional<ir::Initializer> dense,
                                densify_sparse(s, s.values().name(), what));
    if (dense) {
      graph.set_initializer(std::move(*dense));
    } else {
      graph.sparse_initializers.push_back(std::make_shared<onnx::SparseTensorProto>(std::move(s)));
    }
  }
  for (auto& np : *g.mutable_node()) {
    if (const onnx::SparseTensorProto* sc = top_level ? sparse_constant(np) : nullptr) {
      const std::string what = "node '" + np.name() + "' (Constant) attribute 'sparse_value'";
      onnx::AttributeProto& a = *np.mutable_attribute(0);
      COMPRESSOR_RETURN_IF_ERROR(embed_external_in_attribute(a, reader, what));
      if (graph.find_initializer(np.output(0))) {
        return invalid_model("initializer '" + np.output(0) + "' is defined twice");
      }
      COMPRESSOR_ASSIGN_OR_RETURN(std::optional<ir::Initializer> dense,
                                  densify_sparse(*sc, np.output(0), what));
      if (dense) {
        graph.set_initializer(std::move(*dense));
        continue;
      }
    }
    ir::Node node;
    node.name = np.name();
    node.op_type = np.op_type();
    node.domain = np.domain();
    node.doc_string = np.doc_string();
    node.inputs.assign(np.input().begin(), np.input().end());
    node.outputs.assign(np.output().begin(), np.output().end());
    if (node.op_type.empty()) return invalid_model("node '" + node.name + "' has no op_type");
    for (auto& a : *np.mutable_attribute()) {
      COMPRESSOR_RETURN_IF_ERROR(
          embed_external_in_attribute(a, reader, node.label() + " attribute '" + a.name() + "'"));
      node.attributes.emplace_back(std::make_shared<onnx::AttributeProto>(std::move(a)));
    }
    // Kept: fields newer than our ONNX library, and empty strings that were explicitly set
    // (proto2 records presence, and a lossless round trip keeps it).
    auto extras = std::make_shared<onnx::NodeProto>();
    extras->GetReflection()
        ->MutableUnknownFields(extras.get())
        ->MergeFrom(np.GetReflection()->GetUnknownFields(np));
    if (np.has_name() && np.name().empty()) extras->set_name("");
    if (np.has_domain() && np.domain().empty()) extras->set_domain("");
    if (np.has_doc_string() && np.doc_string().empty()) extras->set_doc_string("");
    if (extras->ByteSizeLong() > 0) node.extras = std::move(extras);
    graph.add_node(std::move(node));
  }
  // What is left of the GraphProto: quantization annotations and unknown fields.
  g.clear_node();
  g.clear_name();
  g.clear_doc_string();
  g.clear_input();
  g.clear_output();
  g.clear_value_info();
  g.clear_initializer();
  g.clear_sparse_initializer();
  if (g.ByteSizeLong() > 0) graph.extras = std::make_shared<onnx::GraphProto>(std::move(g));

  if (!top_level) return graph;
  if (Status st = graph.validate(); !st.ok()) {
    // A model whose nodes are merely out of order is accepted and reordered; a cycle or an
    // input that nothing defines is an error.
    COMPRESSOR_RETURN_IF_ERROR(graph.sort_topologically());
    COMPRESSOR_RETURN_IF_ERROR(graph.validate());
    COMPRESSOR_LOG_WARN("nodes were not in topological order; they were reordered");
  }
  return graph;
}

StatusOr<ir::Model> model_from_proto(onnx::ModelProto& proto, const std::string& base_dir,
                                     const std::string& label) {
  if (!proto.has_graph()) {
    return invalid_model(label + ": not an ONNX model (no graph)");
  }
  if (proto.ir_version() <= 0) {
    return invalid_model(label + ": not an ONNX model (no ir_version)");
  }
  ExternalDataReader reader(base_dir);
  ir::Model model;
  auto graph = graph_from_proto(*proto.mutable_graph(), reader);
  if (!graph.ok()) return graph.status().with_context(label);
  model.graph = std::move(graph).value();
  for (auto& f : *proto.mutable_functions()) {
    for (auto& n : *f.mutable_node()) {
      for (auto& a : *n.mutable_attribute()) {
        auto st = embed_external_in_attribute(a, reader, "function '" + f.name() + "'");
        if (!st.ok()) return st.with_context(label);
      }
    }
  }
  proto.clear_graph();
  model.mutable_rest() = std::move(proto);
  const int64_t opset = model.opset_version("");
  if (opset > kNewestCheckedOpset) {
    COMPRESSOR_LOG_WARN(
        "{}: opset {} is newer than the {} this build's ONNX library knows; the model passes "
        "through, but it cannot be checked and shape inference is skipped",
        label, opset, kNewestCheckedOpset);
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// IR -> proto

void fill_tensor_header(const ir::Initializer& init, onnx::TensorProto* p) {
  if (init.extras) p->CopyFrom(*init.extras);
  p->set_name(init.name);
  for (int64_t d : init.tensor.dims()) p->add_dims(d);
  p->set_data_type(static_cast<int32_t>(init.tensor.dtype()));
  if (init.tensor.dtype() == ir::DType::kString) {
    for (const auto& s : init.tensor.strings()) p->add_string_data(s);
  }
}

void fill_node(const ir::Node& n, onnx::NodeProto* p) {
  if (n.extras) p->CopyFrom(*n.extras);
  for (const auto& in : n.inputs) p->add_input(in);
  for (const auto& out : n.outputs) p->add_output(out);
  if (!n.name.empty()) p->set_name(n.name);
  p->set_op_type(n.op_type);
  if (!n.domain.empty()) p->set_domain(n.domain);
  for (const auto& a : n.attributes) *p->add_attribute() = a.proto();
  if (!n.doc_string.empty()) p->set_doc_string(n.doc_string);
}

// The graph without initializers (they are written separately, possibly streamed).
void fill_graph_skeleton(const ir::Graph& g, onnx::GraphProto* p) {
  if (g.extras) p->CopyFrom(*g.extras);
  // Flagged initializers first, as sparse Constant nodes, in initializer order.
  for (const auto& init : g.initializers()) {
    if (written_sparse(init)) encode_sparse_constant(init, p->add_node(), /*with_data=*/true);
  }
  for (const auto& n : g.nodes()) fill_node(*n, p->add_node());
  if (!g.name.empty()) p->set_name(g.name);
  if (!g.doc_string.empty()) p->set_doc_string(g.doc_string);
  for (const auto& v : g.inputs) *p->add_input() = v.proto();
  for (const auto& v : g.outputs) *p->add_output() = v.proto();
  for (const auto& v : g.value_info) *p->add_value_info() = v.proto();
  for (const auto& s : g.sparse_initializers) *p->add_sparse_initializer() = *s;
}

void set_external(onnx::TensorProto* p, const std::string& location, uint64_t offset,
                  uint64_t length) {
  p->clear_raw_data();
  p->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    auto* e = p->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", std::to_string(offset));
  add("length", std::to_string(length));
}

std::unique_ptr<onnx::ModelProto> model_skeleton(const ir::Model& model) {
  auto proto = std::make_unique<onnx::ModelProto>(model.rest());
  fill_graph_skeleton(model.graph, proto->mutable_graph());
  return proto;
}

// ---------------------------------------------------------------------------------------------
// Writing files

class FileWriter {
 public:
  explicit FileWriter(const std::string& path) : path_(path) {
    // A fresh file: never follow a link planted at the temporary name, never reuse one.
    ::unlink(path.c_str());
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  }
  ~FileWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0 && error_.empty(); }
  const std::string& error() const { return error_; }
  uint64_t written() const { return written_; }

  void write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0 && ok()) {
      ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        error_ = std::strerror(errno);
        return;
      }
      p += n;
      size -= static_cast<size_t>(n);
      written_ += static_cast<uint64_t>(n);
    }
  }
  void write(const std::string& s) { write(s.data(), s.size()); }
  void pad_to(size_t alignment) {
    static const char zeros[kExternalAlignment] = {};
    size_t rem = written_ % alignment;
    if (rem != 0) write(zeros, alignment - rem);
  }
  Status close() {
    if (fd_ < 0) return io_error(path_ + ": cannot create: " + std::strerror(errno));
    if (!error_.empty()) return io_error(path_ + ": write failed: " + error_);
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      return io_error(path_ + ": write failed: " + std::strerror(errno));
    }
    fd_ = -1;
    return ok_status();
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::string error_;
  uint64_t written_ = 0;
};

std::string varint(uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

// Protobuf tag for a length-delimited field.
std::string len_tag(int field) { return varint((static_cast<uint64_t>(field) << 3) | 2); }

std::string serialize_deterministic(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeWithCachedSizes(&coded);
  }
  return out;
}

std::string serialize(const google::protobuf::MessageLite& m) {
  m.ByteSizeLong();  // caches sizes for SerializeWithCachedSizes
  return serialize_deterministic(m);
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

std::string first_line(const std::string& text) {
  auto pos = text.find('\n');
  std::string line = pos == std::string::npos ? text : text.substr(0, pos);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API

StatusOr<ir::Tensor> tensor_from_proto(onnx::TensorProto&& proto, const std::string& what) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto header, tensor_header(proto, what));
  auto [dtype, dims] = std::move(header);
  if (is_external(proto)) {
    return invalid_model(what + ": data is external, but no model folder is known to read it from");
  }
  if (proto.has_raw_data()) {
    if (dtype == ir::DType::kString) return invalid_model(what + ": string tensor with raw_data");
    const size_t want = ir::storage_bytes(dtype, ir::element_count(dims));
    if (proto.raw_data().size() != want) {
      return invalid_model(what + ": raw_data has " + std::to_string(proto.raw_data().size()) +
                           " bytes but its shape " + ir::dims_to_string(dims) + " of " +
                           std::string(ir::dtype_name(dtype)) + " needs " + std::to_string(want));
    }
    return ir::Tensor::adopt(dtype, std::move(dims), std::move(*proto.mutable_raw_data()));
  }
  return decode_typed(proto, dtype, std::move(dims), what);
}

void tensor_to_proto(const ir::Tensor& tensor, onnx::TensorProto* proto) {
  for (int64_t d : tensor.dims()) proto->add_dims(d);
  proto->set_data_type(static_cast<int32_t>(tensor.dtype()));
  if (tensor.dtype() == ir::DType::kString) {
    for (const auto& s : tensor.strings()) proto->add_string_data(s);
    return;
  }
  proto->set_raw_data(reinterpret_cast<const char*>(tensor.data()), tensor.nbytes());
}

uint64_t initializer_bytes(const ir::Graph& graph) {
  uint64_t total = 0;
  for (const auto& init : graph.initializers()) total += init.tensor.nbytes();
  return total;
}

StatusOr<ir::Model> load_model_from_bytes(const std::string& bytes, const std::string& base_dir,
                                          const std::string& label) {
  onnx::ModelProto proto;
  CodedInputStream coded(reinterpret_cast<const uint8_t*>(bytes.data()),
                         static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
  coded.SetRecursionLimit(kRecursionLimit);
  if (bytes.empty()) return invalid_model(label + ": empty file, not an ONNX model");
  if (!proto.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) {
    return invalid_model(label +
                         ": not a valid ONNX model (protobuf parse failed: truncated, "
                         "corrupt, nested too deeply, or not an ONNX file)");
  }
  return model_from_proto(proto, base_dir, label);
}

StatusOr<ir::Model> load_model(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot access: " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return invalid_model(path + ": is a directory, not an ONNX model file");
  if (!S_ISREG(st.st_mode)) return invalid_model(path + ": not a regular file");
  if (st.st_size == 0) return invalid_model(path + ": empty file, not an ONNX model");
  if (static_cast<uint64_t>(st.st_size) > kProtobufLimit) {
    return unsupported(path + ": the file is " + std::to_string(st.st_size >> 20) +
                       " MiB; protobuf cannot parse a model over 2 GiB. Store its weights as "
                       "external data (onnx.save_model(m, path, save_as_external_data=True))");
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path + ": cannot open: " + std::strerror(errno));
  onnx::ModelProto proto;
  bool parsed = false, consumed = false;
  {
    google::protobuf::io::FileInputStream stream(fd, 1 << 20);
    CodedInputStream coded(&stream);
    coded.SetTotalBytesLimit(INT_MAX);
    coded.SetRecursionLimit(kRecursionLimit);
    parsed = proto.ParseFromCodedStream(&coded);
    consumed = parsed && coded.ConsumedEntireMessage();
  }
  ::close(fd);
  if (!parsed || !consumed) {
    return invalid_model(path +
                         ": not a valid ONNX model (protobuf parse failed: truncated, "
                         "corrupt, nested too deeply, or not an ONNX file)");
  }
  std::string dir = fs::path(path).parent_path().string();
  return model_from_proto(proto, dir.empty() ? "." : dir, path);
}

std::unique_ptr<onnx::ModelProto> to_proto(const ir::Model& model) {
  auto proto = model_skeleton(model);
  auto* g = proto->mutable_graph();
  for (const ir::Initializer* dense : dense_initializers(model.graph)) {
    const ir::Initializer& init = *dense;
    auto* t = g->add_initializer();
    fill_tensor_header(init, t);
    if (init.tensor.dtype() != ir::DType::kString) {
      t->set_raw_data(reinterpret_cast<const char*>(init.tensor.data()), init.tensor.nbytes());
    }
  }
  return proto;
}

std::unique_ptr<onnx::ModelProto> to_analysis_proto(const ir::Model& model,
                                                    size_t max_embedded_bytes) {
  auto proto = model_skeleton(model);
  auto* g = proto->mutable_graph();
  for (const ir::Initializer* dense : dense_initializers(model.graph)) {
    const ir::Initializer& init = *dense;
    auto* t = g->add_initializer();
    fill_tensor_header(init, t);
    if (init.tensor.dtype() == ir::DType::kString) continue;
    if (init.tensor.nbytes() <= max_embedded_bytes) {
      t->set_raw_data(reinterpret_cast<const char*>(init.tensor.data()), init.tensor.nbytes());
    } else {
      set_external(t, kAnalysisPlaceholder, 0, init.tensor.nbytes());
    }
  }
  return proto;
}

namespace {
size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
}  // namespace

uint64_t serialized_size(const ir::Model& model) {
  // The skeleton holds every tensor's header; each raw_data field (field 9: one tag byte, the
  // length, the bytes) then grows its TensorProto, whose length prefix in the graph grows too,
  // as does the graph's prefix in the model.
  auto proto = model_skeleton(model);
  auto* g = proto->mutable_graph();
  const std::vector<const ir::Initializer*> dense = dense_initializers(model.graph);
  for (const ir::Initializer* init : dense) fill_tensor_header(*init, g->add_initializer());
  const uint64_t skeleton = proto->ByteSizeLong();
  const uint64_t graph_before = g->ByteSizeLong();
  uint64_t graph_after = graph_before;
  for (int i = 0; i < g->initializer_size(); ++i) {
    const auto& init = *dense[static_cast<size_t>(i)];
    if (init.tensor.dtype() == ir::DType::kString) continue;
    const uint64_t h = g->initializer(i).ByteSizeLong();
    const uint64_t n = init.tensor.nbytes();
    const uint64_t h2 = h + 1 + varint_size(n) + n;
    graph_after += (varint_size(h2) + h2) - (varint_size(h) + h);
  }
  return skeleton + (varint_size(graph_after) + graph_after) -
         (varint_size(graph_before) + graph_before);
}

StorageSize initializer_storage(const ir::Initializer& init) {
  StorageSize size;
  const ir::Tensor& t = init.tensor;
  // A length-delimited entry: tag (1 byte for fields below 16), length, payload.
  auto entry = [](uint64_t payload) { return 1 + varint_size(payload) + payload; };
  onnx::TensorProto header;
  fill_tensor_header(init, &header);
  uint64_t dense = header.ByteSizeLong();
  if (t.dtype() != ir::DType::kString) dense += entry(t.nbytes());
  size.dense_bytes = entry(dense);
  if (!sparse_encodable(t.dtype())) return size;
  size.nonzeros = count_nonzero(t);
  onnx::NodeProto node;
  encode_sparse_constant(init, &node, /*with_data=*/false);
  const onnx::AttributeProto& attr = node.attribute(0);
  const onnx::SparseTensorProto& p = attr.sparse_tensor();
  const uint64_t values_header = p.values().ByteSizeLong();
  const uint64_t indices_header = p.indices().ByteSizeLong();
  const uint64_t nnz = static_cast<uint64_t>(size.nonzeros);
  const uint64_t values =
      values_header + entry(nnz * static_cast<uint64_t>(ir::traits(t.dtype()).bits / 8));
  const uint64_t indices = indices_header + entry(nnz * sizeof(int64_t));
  const uint64_t sparse = p.ByteSizeLong() - entry(values_header) - entry(indices_header) +
                          entry(values) + entry(indices);
  // sparse_tensor is field 22 of AttributeProto: a 2-byte tag.
  const uint64_t sparse_header = p.ByteSizeLong();
  const uint64_t attribute = attr.ByteSizeLong() - (1 + entry(sparse_header)) + (1 + entry(sparse));
  const uint64_t node_bytes = node.ByteSizeLong() - entry(attr.ByteSizeLong()) + entry(attribute);
  size.sparse_bytes = entry(node_bytes);
  return size;
}

Status check_model(const ir::Model& model, bool* checked) {
  if (checked) *checked = false;
  const int64_t opset = model.opset_version("");
  if (opset > kNewestCheckedOpset) return ok_status();
  auto proto = to_analysis_proto(model);
  try {
    onnx::checker::check_model(*proto);
    // The same strictness as onnx.checker.check_model(..., full_check=True).
    onnx::ShapeInferenceOptions strict(/*check_type=*/true, /*strict_mode=*/1);
    onnx::shape_inference::InferShapes(*proto, onnx::OpSchemaRegistry::Instance(), strict);
  } catch (const std::exception& e) {
    return invalid_model("fails the ONNX checker: " + first_line(e.what()));
  }
  if (checked) *checked = true;
  return ok_status();
}

StatusOr<SaveResult> save_model(const ir::Model& model, const std::string& path,
                                const SaveOptions& options) {
  if (path.empty()) return invalid_argument("no output path given");
  if (!options.force) {
    for (const auto& p : options.protected_paths) {
      if (same_file(p, path)) {
        return invalid_argument(path + ": refusing to overwrite the input model (pass --force)");
      }
    }
  }
  std::error_code ec;
  if (fs::is_directory(path, ec)) return invalid_argument(path + ": is a directory");
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) {
    // A device or a pipe would be replaced by the rename that makes the write atomic.
    return invalid_argument(path +
                            ": not a regular file; a model is written to a file (a "
                            "temporary beside it, renamed into place)");
  }
  fs::path out(path);
  fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  if (!fs::is_directory(dir, ec)) {
    return invalid_argument(path + ": output folder '" + dir.string() + "' does not exist");
  }

  SaveResult result;
  if (options.check) {
    Status st = check_model(model, &result.checked);
    if (!st.ok()) return st.with_context(path);
  }

  // Decide which tensors go to the external file.
  const uint64_t total = initializer_bytes(model.graph);
  bool use_external = options.external == ExternalData::kAlways;
  if (options.external == ExternalData::kAuto) use_external = total + (64u << 20) > kProtobufLimit;
  const std::string data_name = out.filename().string() + ".data";
  const fs::path data_path = dir / data_name;
  const std::string tmp_suffix = ".tmp." + std::to_string(::getpid());

  const std::vector<const ir::Initializer*> dense = dense_initializers(model.graph);
  std::vector<bool> external(dense.size(), false);
  uint64_t embedded_total = 0;
  for (size_t i = 0; i < external.size(); ++i) {
    const auto& t = dense[i]->tensor;
    external[i] =
        use_external && t.dtype() != ir::DType::kString && t.nbytes() >= options.external_min_bytes;
    if (!external[i]) embedded_total += t.nbytes();
  }
  use_external =
      use_external && std::find(external.begin(), external.end(), true) != external.end();
  if (use_external && !options.force) {
    for (const auto& p : options.protected_paths) {
      if (same_file(p, data_path.string())) {
        return invalid_argument(data_path.string() +
                                ": refusing to overwrite the input model's external data (pass "
                                "--force, or choose another output name)");
      }
    }
  }
  if (embedded_total + (1u << 20) > kProtobufLimit) {
    return invalid_argument(
        path + ": the model's " + std::to_string(total >> 20) +
        " MiB of weights exceed protobuf's 2 GiB limit; save with external data");
  }

  // 1. External data file, tensors aligned for memory mapping.
  auto skeleton = model_skeleton(model);
  std::vector<onnx::TensorProto> headers(external.size());
  for (size_t i = 0; i < external.size(); ++i) {
    fill_tensor_header(*dense[i], &headers[i]);
  }
  if (use_external) {
    const std::string tmp = data_path.string() + tmp_suffix;
    FileWriter data(tmp);
    for (size_t i = 0; i < external.size(); ++i) {
      if (!external[i]) continue;
      const ir::Tensor& t = dense[i]->tensor;
      data.pad_to(kExternalAlignment);
      const uint64_t offset = data.written();
      data.write(t.data(), t.nbytes());
      set_external(&headers[i], data_name, offset, t.nbytes());
    }
    result.external_bytes = data.written();
    if (Status st = data.close(); !st.ok()) {
      fs::remove(tmp, ec);
      return st;
    }
    fs::rename(tmp, data_path, ec);
    if (ec) return io_error(data_path.string() + ": cannot rename into place: " + ec.message());
    result.external_path = data_path.string();
  }

  // 2. The model: the skeleton's fields, then the graph with initializers streamed in, so
  // tensor bytes go from their buffers to the file without an intermediate copy.
  onnx::GraphProto graph_core = std::move(*skeleton->mutable_graph());
  skeleton->clear_graph();
  const std::string rest_bytes = serialize(*skeleton);
  const std::string graph_bytes = serialize(graph_core);
  std::vector<std::string> header_bytes(headers.size());
  uint64_t graph_len = graph_bytes.size();
  std::vector<uint64_t> tensor_len(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) {
    header_bytes[i] = serialize(headers[i]);
    const auto& t = dense[i]->tensor;
    const bool raw = !external[i] && t.dtype() != ir::DType::kString;
    tensor_len[i] = header_bytes[i].size();
    if (raw) tensor_len[i] += len_tag(9).size() + varint(t.nbytes()).size() + t.nbytes();
    graph_len += len_tag(5).size() + varint(tensor_len[i]).size() + tensor_len[i];
  }
  const std::string tmp = path + tmp_suffix;
  {
    FileWriter w(tmp);
    w.write(rest_bytes);
    w.write(len_tag(7));
    w.write(varint(graph_len));
    w.write(graph_bytes);
    for (size_t i = 0; i < headers.size(); ++i) {
      const auto& t = dense[i]->tensor;
      w.write(len_tag(5));
      w.write(varint(tensor_len[i]));
      w.write(header_bytes[i]);
      if (!external[i] && t.dtype() != ir::DType::kString) {
        w.write(len_tag(9));
        w.write(varint(t.nbytes()));
        w.write(t.data(), t.nbytes());
      }
    }
    result.model_bytes = w.written();
    if (Status st = w.close(); !st.ok()) {
      fs::remove(tmp, ec);
      return st;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return io_error(path + ": cannot rename into place: " + ec.message());
  }
  return result;
}

StatusOr<std::vector<ir::ValueInfo>> infer_value_info(const ir::Model& model) {
  if (model.opset_version("") > kNewestCheckedOpset) {
    return unsupported("shape inference needs opset <= " + std::to_string(kNewestCheckedOpset));
  }
  auto proto = to_analysis_proto(model);
  try {
    onnx::ShapeInferenceOptions lenient(/*check_type=*/false, /*strict_mode=*/0,
                                        /*data_prop=*/true);
    onnx::shape_inference::InferShapes(*proto, onnx::OpSchemaRegistry::Instance(), lenient);
  } catch (const std::exception& e) {
    return invalid_model("shape inference failed: " + first_line(e.what()));
  }
  std::vector<ir::ValueInfo> out;
  auto* g = proto->mutable_graph();
  for (auto* list : {g->mutable_input(), g->mutable_value_info(), g->mutable_output()}) {
    for (auto& v : *list) out.emplace_back(std::make_shared<onnx::ValueInfoProto>(std::move(v)));
  }
  return out;
}

StatusOr<ir::Graph> subgraph_from_proto(const onnx::GraphProto& proto) {
  onnx::GraphProto copy = proto;
  ExternalDataReader reader("");  // attribute tensors were embedded at load time
  return graph_from_proto(copy, reader, /*top_level=*/false);
}

}  // namespace compressor::io
