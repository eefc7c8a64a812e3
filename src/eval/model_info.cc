// Model summary for `compressor info`: interface, op histogram, weights, external data, MACs.
#include "compressor/eval/model_info.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <onnx/onnx_pb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <unordered_map>

#include "compressor/io/onnx_io.h"

namespace compressor::eval {
namespace fs = std::filesystem;
using google::protobuf::internal::WireFormatLite;

namespace {

constexpr size_t kMaxUnknownExamples = 10;

// ---------------------------------------------------------------------------------------------
// Counting helpers

bool is_sparsity_dtype(ir::DType dtype) {
  return dtype == ir::DType::kFloat || dtype == ir::DType::kDouble ||
         dtype == ir::DType::kFloat16 || dtype == ir::DType::kBFloat16;
}

// Counts elements whose bits, sign aside, are all zero. The bytes may be unaligned (external
// data at arbitrary offsets), hence the memcpy per element.
template <typename Word>
int64_t count_zero_words(const std::byte* data, size_t nbytes, Word magnitude_mask) {
  int64_t zeros = 0;
  const size_t n = nbytes / sizeof(Word);
  for (size_t i = 0; i < n; ++i) {
    Word w;
    std::memcpy(&w, data + i * sizeof(Word), sizeof(Word));
    zeros += (w & magnitude_mask) == 0;
  }
  return zeros;
}

std::optional<int64_t> count_zeros(ir::DType dtype, const std::byte* data, size_t nbytes) {
  switch (dtype) {
    case ir::DType::kFloat:
      return count_zero_words<uint32_t>(data, nbytes, 0x7FFFFFFFu);
    case ir::DType::kDouble:
      return count_zero_words<uint64_t>(data, nbytes, 0x7FFFFFFFFFFFFFFFull);
    case ir::DType::kFloat16:
    case ir::DType::kBFloat16:
      return count_zero_words<uint16_t>(data, nbytes, uint16_t{0x7FFF});
    default:
      return std::nullopt;
  }
}

// Zeros of a TensorProto that keeps its values in the typed fields rather than raw_data.
std::optional<int64_t> count_zeros_typed(const onnx::TensorProto& t, ir::DType dtype) {
  int64_t zeros = 0;
  switch (dtype) {
    case ir::DType::kFloat:
      for (float v : t.float_data()) zeros += v == 0.0f;
      return zeros;
    case ir::DType::kDouble:
      for (double v : t.double_data()) zeros += v == 0.0;
      return zeros;
    case ir::DType::kFloat16:
    case ir::DType::kBFloat16:
      for (int32_t v : t.int32_data()) zeros += (v & 0x7FFF) == 0;
      return zeros;
    default:
      return std::nullopt;
  }
}

// A dimension as a factor; nullopt for a negative (unknown) one.
std::optional<uint64_t> dim(int64_t d) {
  if (d < 0) return std::nullopt;
  return static_cast<uint64_t>(d);
}

// The product of the factors, or nullopt when one is unknown or the product overflows.
std::optional<uint64_t> mul_all(std::initializer_list<std::optional<uint64_t>> factors) {
  uint64_t out = 1;
  for (const auto& f : factors) {
    if (!f || __builtin_mul_overflow(out, *f, &out)) return std::nullopt;
  }
  return out;
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
  uint64_t out = 0;
  return __builtin_add_overflow(a, b, &out) ? UINT64_MAX : out;
}

// dims[from] x ... x dims[to - 1].
std::optional<uint64_t> product(const ir::Dims& dims, size_t from, size_t to) {
  std::optional<uint64_t> p = 1;
  for (size_t i = from; i < to && i < dims.size(); ++i) p = mul_all({p, dim(dims[i])});
  return p;
}

std::string qualified_op(const ir::Node& node) {
  return node.in_default_domain() ? node.op_type : node.domain + "." + node.op_type;
}

// The node's label, or for a nameless node its first output ("node -> 'y' (MatMul)").
std::string describe(const ir::Node& node) {
  if (!node.name.empty() || node.outputs.empty()) return node.label();
  return "node -> '" + node.outputs[0] + "' (" + qualified_op(node) + ")";
}

// ---------------------------------------------------------------------------------------------
// Weights

// A weight tensor with the numbers the summary needs; the data itself is never copied.
struct Weight {
  TensorSummary summary;
  int64_t numel = 0;
  std::optional<int64_t> zeros;
};

class ParamAccumulator {
 public:
  void add(ir::DType dtype, int64_t params, uint64_t bytes) {
    DTypeParams& row = rows_[dtype];
    row.dtype = dtype;
    ++row.tensors;
    row.params += params;
    row.bytes += bytes;
  }
  ParamStats finish() const {
    ParamStats out;
    for (const auto& [dtype, row] : rows_) {
      out.tensors += row.tensors;
      out.params += row.params;
      out.bytes += row.bytes;
      out.by_dtype.push_back(row);
    }
    std::sort(out.by_dtype.begin(), out.by_dtype.end(),
              [](const DTypeParams& a, const DTypeParams& b) {
                if (a.bytes != b.bytes) return a.bytes > b.bytes;
                return ir::dtype_name(a.dtype) < ir::dtype_name(b.dtype);
              });
    return out;
  }

 private:
  std::map<ir::DType, DTypeParams> rows_;
};

Weight initializer_weight(const ir::Initializer& init) {
  Weight w;
  w.summary.name = init.name;
  w.summary.dtype = init.tensor.dtype();
  w.summary.dims = init.tensor.dims();
  w.summary.bytes = init.tensor.nbytes();
  w.numel = init.tensor.numel();
  w.zeros = count_zeros(init.tensor.dtype(), init.tensor.data(), init.tensor.nbytes());
  return w;
}

// Size (and zeros) of a Constant node's `value` tensor, read from its header and data fields
// in place. External data was already embedded by the loader.
StatusOr<Weight> tensor_attribute_weight(const onnx::TensorProto& t, const std::string& what) {
  auto dtype = ir::dtype_from_onnx(t.data_type());
  if (!dtype) return invalid_model(what + ": unknown data type " + std::to_string(t.data_type()));
  ir::Dims dims(t.dims().begin(), t.dims().end());
  int64_t numel = 1;
  for (int64_t d : dims) {
    if (d < 0) return invalid_model(what + ": negative dimension in " + ir::dims_to_string(dims));
    if (__builtin_mul_overflow(numel, d, &numel) || numel > (int64_t{1} << 62)) {
      return invalid_model(what + ": shape " + ir::dims_to_string(dims) + " is too large");
    }
  }
  Weight w;
  w.summary.dtype = *dtype;
  w.summary.dims = std::move(dims);
  w.summary.bytes = ir::storage_bytes(*dtype, numel);
  w.numel = numel;
  if (!is_sparsity_dtype(*dtype)) return w;
  if (t.has_raw_data()) {
    if (t.raw_data().size() != w.summary.bytes) {
      return invalid_model(what + ": raw_data has " + std::to_string(t.raw_data().size()) +
                           " bytes but its shape " + ir::dims_to_string(w.summary.dims) + " of " +
                           std::string(ir::dtype_name(*dtype)) + " needs " +
                           std::to_string(w.summary.bytes));
    }
    w.zeros = count_zeros(*dtype, reinterpret_cast<const std::byte*>(t.raw_data().data()),
                          t.raw_data().size());
  } else {
    w.zeros = count_zeros_typed(t, *dtype);
  }
  return w;
}

// The value of a Constant node as a weight; nullopt for a Constant without a value attribute.
StatusOr<std::optional<Weight>> constant_weight(const ir::Node& node) {
  for (const ir::Attribute& a : node.attributes) {
    const onnx::AttributeProto& p = a.proto();
    const std::string what = node.label() + " attribute '" + a.name() + "'";
    std::optional<Weight> w;
    if (a.name() == "value") {
      COMPRESSOR_ASSIGN_OR_RETURN(w, tensor_attribute_weight(p.t(), what));
    } else if (a.name() == "sparse_value") {
      // Counted as what is stored: the values (params) plus the indices (bytes).
      COMPRESSOR_ASSIGN_OR_RETURN(w, tensor_attribute_weight(p.sparse_tensor().values(), what));
      COMPRESSOR_ASSIGN_OR_RETURN(Weight idx,
                                  tensor_attribute_weight(p.sparse_tensor().indices(), what));
      w->summary.bytes += idx.summary.bytes;
      w->summary.dims.assign(p.sparse_tensor().dims().begin(), p.sparse_tensor().dims().end());
      w->zeros.reset();
    } else if (a.name() == "value_float" || a.name() == "value_floats") {
      const bool list = a.name() == "value_floats";
      w.emplace();
      w->summary.dtype = ir::DType::kFloat;
      w->numel = list ? p.floats_size() : 1;
      if (list) w->summary.dims = {w->numel};
      w->zeros = 0;
      if (list) {
        for (float v : p.floats()) *w->zeros += v == 0.0f;
      } else {
        w->zeros = p.f() == 0.0f ? 1 : 0;
      }
    } else if (a.name() == "value_int" || a.name() == "value_ints") {
      const bool list = a.name() == "value_ints";
      w.emplace();
      w->summary.dtype = ir::DType::kInt64;
      w->numel = list ? p.ints_size() : 1;
      if (list) w->summary.dims = {w->numel};
    } else if (a.name() == "value_string" || a.name() == "value_strings") {
      const bool list = a.name() == "value_strings";
      w.emplace();
      w->summary.dtype = ir::DType::kString;
      w->numel = list ? p.strings_size() : 1;
      if (list) w->summary.dims = {w->numel};
    } else {
      continue;
    }
    if (w->summary.bytes == 0) w->summary.bytes = ir::storage_bytes(w->summary.dtype, w->numel);
    w->summary.name = node.outputs.empty() ? std::string() : node.outputs[0];
    w->summary.constant_node = node.name;
    w->summary.from_constant_node = true;
    return w;
  }
  return std::optional<Weight>();
}

// ---------------------------------------------------------------------------------------------
// MACs

using ShapeMap = std::unordered_map<std::string, std::vector<ir::Dim>>;

// The fully known shape of `value`, or nullopt.
std::optional<ir::Dims> known_shape(const ShapeMap& shapes, const std::string& value) {
  auto it = shapes.find(value);
  if (value.empty() || it == shapes.end()) return std::nullopt;
  ir::Dims dims;
  for (const ir::Dim& d : it->second) {
    if (!d.value || *d.value < 0) return std::nullopt;
    dims.push_back(*d.value);
  }
  return dims;
}

std::optional<ir::Dims> input_shape(const ShapeMap& shapes, const ir::Node& n, size_t i) {
  return i < n.inputs.size() ? known_shape(shapes, n.inputs[i]) : std::nullopt;
}

// N x Cout x prod(out spatial) x (Cin / group) x prod(kernel), from W [Cout, Cin/group, k...]
// and Y [N, Cout, out spatial...].
// The weight is input `w_index` (1 for Conv and ConvInteger, 3 for QLinearConv).
std::optional<uint64_t> conv_macs(const ShapeMap& shapes, const ir::Node& n, size_t w_index) {
  auto w = input_shape(shapes, n, w_index);
  auto y = n.outputs.empty() ? std::nullopt : known_shape(shapes, n.outputs[0]);
  if (!w || !y || w->size() < 3 || y->size() != w->size()) return std::nullopt;
  return mul_all({dim((*y)[0]), dim((*y)[1]), product(*y, 2, y->size()), dim((*w)[1]),
                  product(*w, 2, w->size())});
}

// N x Cin x prod(in spatial) x (Cout / group) x prod(kernel), from X [N, Cin, in spatial...]
// and W [Cin, Cout/group, k...].
std::optional<uint64_t> conv_transpose_macs(const ShapeMap& shapes, const ir::Node& n) {
  auto x = input_shape(shapes, n, 0);
  auto w = input_shape(shapes, n, 1);
  if (!x || !w || x->size() < 3 || w->size() != x->size()) return std::nullopt;
  return mul_all({dim((*x)[0]), dim((*x)[1]), product(*x, 2, x->size()), dim((*w)[1]),
                  product(*w, 2, w->size())});
}

// M x N x K for Y = op(A) op(B), with op the optional transpose.
std::optional<uint64_t> gemm_macs(const ShapeMap& shapes, const ir::Node& n) {
  auto a = input_shape(shapes, n, 0);
  auto b = input_shape(shapes, n, 1);
  if (!a || !b || a->size() != 2 || b->size() != 2) return std::nullopt;
  const bool ta = n.attr_int("transA", 0) != 0;
  const bool tb = n.attr_int("transB", 0) != 0;
  const int64_t m = ta ? (*a)[1] : (*a)[0];
  const int64_t k = ta ? (*a)[0] : (*a)[1];
  const int64_t cols = tb ? (*b)[0] : (*b)[1];
  return mul_all({dim(m), dim(cols), dim(k)});
}

// prod(broadcast batch) x M x N x K, with numpy's promotion of 1-D operands.
// The operands are inputs `a_index` and `b_index` (0 and 1; 0 and 3 for QLinearMatMul).
std::optional<uint64_t> matmul_macs(const ShapeMap& shapes, const ir::Node& n, size_t a_index,
                                    size_t b_index) {
  auto a = input_shape(shapes, n, a_index);
  auto b = input_shape(shapes, n, b_index);
  if (!a || !b || a->empty() || b->empty()) return std::nullopt;
  if (a->size() == 1) a->insert(a->begin(), 1);  // [K] -> [1, K]
  if (b->size() == 1) b->push_back(1);           // [K] -> [K, 1]
  const int64_t m = (*a)[a->size() - 2];
  const int64_t k = a->back();
  const int64_t cols = b->back();
  if ((*b)[b->size() - 2] != k) return std::nullopt;
  std::optional<uint64_t> macs = mul_all({dim(m), dim(cols), dim(k)});
  const size_t a_batch = a->size() - 2, b_batch = b->size() - 2;
  for (size_t i = 0; i < std::max(a_batch, b_batch); ++i) {
    const int64_t da = i < a_batch ? (*a)[a_batch - 1 - i] : 1;
    const int64_t db = i < b_batch ? (*b)[b_batch - 1 - i] : 1;
    if (da != db && da != 1 && db != 1) return std::nullopt;
    macs = mul_all({macs, dim(std::max(da, db))});
  }
  return macs;
}

// MACs of one node; nullopt when the op is one we count but a shape is unknown, and 0 for ops
// that are not counted (`counted` tells them apart).
std::optional<uint64_t> macs_of(const ShapeMap& shapes, const ir::Node& n, bool* counted) {
  *counted = n.in_default_domain();
  if (!*counted) return 0;
  if (n.op_type == "Conv" || n.op_type == "ConvInteger") return conv_macs(shapes, n, 1);
  if (n.op_type == "QLinearConv") return conv_macs(shapes, n, 3);
  if (n.op_type == "ConvTranspose") return conv_transpose_macs(shapes, n);
  if (n.op_type == "Gemm") return gemm_macs(shapes, n);
  if (n.op_type == "MatMul" || n.op_type == "MatMulInteger") return matmul_macs(shapes, n, 0, 1);
  if (n.op_type == "QLinearMatMul") return matmul_macs(shapes, n, 0, 3);
  *counted = false;
  return 0;
}

// Symbolic dimension names of the user inputs, in order of first appearance.
std::vector<std::string> input_dim_names(const ir::Model& model) {
  std::vector<std::string> names;
  for (const ir::ValueInfo& in : model.graph.inputs) {
    if (model.graph.find_initializer(in.name())) continue;
    for (const ir::Dim& d : in.shape()) {
      if (d.value || d.param.empty()) continue;
      if (std::find(names.begin(), names.end(), d.param) == names.end()) names.push_back(d.param);
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// External data scan: walks the protobuf wire format and skips tensor bytes.

enum class Msg { kModel, kTrainingInfo, kFunction, kGraph, kNode, kAttribute, kSparse, kTensor };

// The message type of field `field` of `msg`, for the fields that can lead to a TensorProto.
std::optional<Msg> child(Msg msg, int field) {
  switch (msg) {
    case Msg::kModel:
      if (field == 7) return Msg::kGraph;
      if (field == 20) return Msg::kTrainingInfo;
      if (field == 25) return Msg::kFunction;
      break;
    case Msg::kTrainingInfo:
      if (field == 1 || field == 2) return Msg::kGraph;
      break;
    case Msg::kFunction:
      if (field == 7) return Msg::kNode;
      break;
    case Msg::kGraph:
      if (field == 1) return Msg::kNode;
      if (field == 5) return Msg::kTensor;
      if (field == 15) return Msg::kSparse;
      break;
    case Msg::kNode:
      if (field == 5) return Msg::kAttribute;
      break;
    case Msg::kAttribute:
      if (field == 5 || field == 10) return Msg::kTensor;
      if (field == 6 || field == 11) return Msg::kGraph;
      if (field == 22 || field == 23) return Msg::kSparse;
      break;
    case Msg::kSparse:
      if (field == 1 || field == 2) return Msg::kTensor;
      break;
    case Msg::kTensor:
      break;
  }
  return std::nullopt;
}

class ExternalScanner {
 public:
  using Input = google::protobuf::io::CodedInputStream;

  bool scan(Input& in, Msg msg, int depth) {
    if (depth > 100) return false;
    std::string location;
    uint64_t length = 0;
    bool external = false;
    while (uint32_t tag = in.ReadTag()) {
      const int field = WireFormatLite::GetTagFieldNumber(tag);
      const auto wire = WireFormatLite::GetTagWireType(tag);
      if (msg == Msg::kTensor && field == 14 && wire == WireFormatLite::WIRETYPE_VARINT) {
        uint64_t v = 0;
        if (!in.ReadVarint64(&v)) return false;
        external = v == onnx::TensorProto::EXTERNAL;
        continue;
      }
      if (msg == Msg::kTensor && field == 13 && wire == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
        std::string bytes;
        onnx::StringStringEntryProto entry;
        if (!WireFormatLite::ReadBytes(&in, &bytes) || !entry.ParseFromString(bytes)) return false;
        if (entry.key() == "location") location = entry.value();
        if (entry.key() == "length") length = std::strtoull(entry.value().c_str(), nullptr, 10);
        continue;
      }
      auto sub = child(msg, field);
      if (!sub || wire != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
        if (!WireFormatLite::SkipField(&in, tag)) return false;
        continue;
      }
      uint32_t size = 0;
      if (!in.ReadVarint32(&size)) return false;
      auto limit = in.PushLimit(static_cast<int>(size));
      if (!scan(in, *sub, depth + 1) || !in.ConsumedEntireMessage()) return false;
      in.PopLimit(limit);
    }
    if (external) add(location, length);
    return true;
  }

  std::vector<ExternalFile> files;

 private:
  void add(const std::string& location, uint64_t length) {
    auto it = std::find_if(files.begin(), files.end(),
                           [&](const ExternalFile& f) { return f.location == location; });
    if (it == files.end()) {
      files.push_back({location, false, 0, 0, 0});
      it = files.end() - 1;
    }
    ++it->tensors;
    it->referenced_bytes += length;
  }
};

// Only plain relative paths are looked at (the loader refuses anything else anyway).
bool confined(const std::string& location) {
  fs::path p(location);
  if (location.empty() || p.is_absolute()) return false;
  return std::none_of(p.begin(), p.end(), [](const fs::path& part) { return part == ".."; });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API

StatusOr<std::vector<ExternalFile>> external_data_files(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return io_error(path + ": cannot access: " + std::strerror(errno));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > static_cast<uint64_t>(INT_MAX)) {
    ::close(fd);
    return unsupported(path + ": larger than protobuf's 2 GiB limit");
  }
  ExternalScanner scanner;
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      return io_error(path + ": cannot map: " + std::strerror(errno));
    }
    bool ok = false;
    {
      google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(map),
                                                static_cast<int>(size));
      ok = scanner.scan(in, Msg::kModel, 0) && in.ConsumedEntireMessage();
    }
    ::munmap(map, size);
    if (!ok) {
      ::close(fd);
      return invalid_model(path + ": not a valid ONNX model (protobuf structure is corrupt)");
    }
  }
  ::close(fd);
  const fs::path dir = fs::path(path).parent_path();
  for (ExternalFile& f : scanner.files) {
    if (!confined(f.location)) continue;
    std::error_code ec;
    const fs::path file = dir / f.location;
    if (!fs::is_regular_file(file, ec)) continue;
    f.bytes = fs::file_size(file, ec);
    f.exists = !ec;
  }
  return std::move(scanner.files);
}

std::optional<uint64_t> node_macs(
    const ir::Node& node, const std::function<const ir::Dims*(const std::string&)>& shape_of) {
  ShapeMap shapes;
  for (const auto* names : {&node.inputs, &node.outputs}) {
    for (const std::string& name : *names) {
      const ir::Dims* dims = name.empty() ? nullptr : shape_of(name);
      if (dims == nullptr) continue;
      std::vector<ir::Dim> shape;
      for (int64_t d : *dims) shape.push_back({d, ""});
      shapes[name] = std::move(shape);
    }
  }
  bool counted = false;
  std::optional<uint64_t> macs = macs_of(shapes, node, &counted);
  return counted ? macs : std::nullopt;
}

StatusOr<MacsSummary> estimate_macs(const ir::Model& model,
                                    const std::map<std::string, int64_t>& dims) {
  MacsSummary out;
  const std::vector<std::string> names = input_dim_names(model);
  for (const auto& [name, value] : dims) {
    if (value < 0) {
      return invalid_argument("dimension '" + name + "' is bound to a negative size " +
                              std::to_string(value));
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    return invalid_argument(
        "no graph input has a symbolic dimension named '" + name + "' (" +
        (names.empty() ? std::string("the inputs have none") : "the inputs have: " + known) + ")");
  }
  for (const auto& name : names) {
    auto it = dims.find(name);
    out.dims.emplace_back(name, it == dims.end() ? 1 : it->second);
    if (it == dims.end()) out.unbound_dims.push_back(name);
  }

  // Shape inference on a copy whose user inputs have every dimension fixed.
  ir::Model bound = model;
  for (ir::ValueInfo& in : bound.graph.inputs) {
    if (!in.is_tensor() || !in.has_shape() || model.graph.find_initializer(in.name())) continue;
    std::vector<ir::Dim> shape = in.shape();
    for (size_t i = 0; i < shape.size(); ++i) {
      ir::Dim& d = shape[i];
      if (d.value) continue;
      if (d.param.empty()) {
        out.notes.push_back("input '" + in.name() + "' dimension " + std::to_string(i) +
                            " has neither a size nor a name; taken as 1");
        d.value = 1;
        continue;
      }
      auto it = dims.find(d.param);
      d.value = it == dims.end() ? 1 : it->second;
      d.param.clear();
    }
    in = ir::ValueInfo::make_tensor(in.name(), in.dtype(), shape);
  }
  // Bound inputs and initializers are known even when shape inference is unavailable.
  ShapeMap shapes;
  for (const ir::ValueInfo& in : bound.graph.inputs) {
    if (in.has_shape()) shapes[in.name()] = in.shape();
  }
  auto inferred = io::infer_value_info(bound);
  if (inferred.ok()) {
    for (const ir::ValueInfo& v : *inferred) {
      if (v.has_shape()) shapes[v.name()] = v.shape();
    }
  } else {
    out.notes.push_back("shape inference is unavailable (" + inferred.status().message() +
                        "); only nodes whose operand shapes are declared are counted");
  }
  for (const ir::Initializer& init : model.graph.initializers()) {
    std::vector<ir::Dim> shape;
    for (int64_t d : init.tensor.dims()) shape.push_back({d, ""});
    shapes[init.name] = std::move(shape);
  }

  std::map<std::string, OpMacs> by_op;
  bool subgraphs = false;
  for (const auto& node : model.graph.nodes()) {
    subgraphs = subgraphs || node->has_subgraphs();
    bool counted = false;
    std::optional<uint64_t> macs = macs_of(shapes, *node, &counted);
    if (!counted) continue;
    if (!macs) {
      ++out.unknown_nodes;
      if (out.unknown_examples.size() < kMaxUnknownExamples) {
        out.unknown_examples.push_back(describe(*node));
      }
      continue;
    }
    ++out.counted_nodes;
    OpMacs& row = by_op[node->op_type];
    row.op_type = node->op_type;
    ++row.nodes;
    row.macs = saturating_add(row.macs, *macs);
    out.total = saturating_add(out.total, *macs);
  }
  for (auto& [op, row] : by_op) out.by_op_type.push_back(row);
  std::sort(out.by_op_type.begin(), out.by_op_type.end(), [](const OpMacs& a, const OpMacs& b) {
    if (a.macs != b.macs) return a.macs > b.macs;
    return a.op_type < b.op_type;
  });
  if (subgraphs) out.notes.push_back("nodes inside If/Loop/Scan subgraphs are not counted");
  return out;
}

StatusOr<ModelInfo> summarize_model(const ir::Model& model, const std::string& path,
                                    const SummaryOptions& options) {
  auto fail = [&](const Status& st) { return path.empty() ? st : st.with_context(path); };
  ModelInfo info;
  info.path = path;
  if (!path.empty()) {
    std::error_code ec;
    info.file_bytes = fs::file_size(path, ec);
    if (ec) return io_error(path + ": cannot access: " + ec.message());
    auto files = external_data_files(path);
    if (!files.ok()) return files.status();
    info.external_files = std::move(files).value();
  }

  info.ir_version = model.ir_version();
  info.producer_name = model.producer_name();
  info.producer_version = model.producer_version();
  info.opsets = model.opset_imports();
  info.graph_name = model.graph.name;
  info.metadata = model.metadata();
  info.function_count = model.function_count();

  auto summarize_value = [](const ir::ValueInfo& v) {
    ValueSummary s;
    s.name = v.name();
    s.type = v.type_string();
    s.is_tensor = v.is_tensor();
    s.dtype = v.dtype();
    s.has_shape = v.has_shape();
    s.shape = v.shape();
    return s;
  };
  for (const ir::ValueInfo& v : model.graph.inputs) {
    if (model.graph.find_initializer(v.name())) {
      ++info.initializer_inputs;
      continue;
    }
    info.inputs.push_back(summarize_value(v));
  }
  for (const ir::ValueInfo& v : model.graph.outputs) info.outputs.push_back(summarize_value(v));

  // Nodes and Constant-node weights.
  std::map<std::string, size_t> ops;
  std::vector<Weight> weights;
  ParamAccumulator init_acc, const_acc, all_acc;
  info.node_count = model.graph.node_count();
  for (const auto& node : model.graph.nodes()) {
    ++ops[qualified_op(*node)];
    if (node->has_subgraphs()) ++info.subgraph_nodes;
    if (node->op_type != "Constant" || !node->in_default_domain()) continue;
    auto w = constant_weight(*node);
    if (!w.ok()) return fail(w.status());
    if (!w->has_value()) continue;
    ++info.constant_nodes;
    const Weight& cw = **w;
    const_acc.add(cw.summary.dtype, cw.numel, cw.summary.bytes);
    all_acc.add(cw.summary.dtype, cw.numel, cw.summary.bytes);
    weights.push_back(std::move(w).value().value());
  }
  for (const auto& [op, count] : ops) info.op_types.push_back({op, count});
  std::sort(info.op_types.begin(), info.op_types.end(), [](const OpCount& a, const OpCount& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.op_type < b.op_type;
  });
  info.sparse_initializers = model.graph.sparse_initializers.size();
  for (const ir::Initializer& init : model.graph.initializers())
    info.sparse_initializers += init.sparse ? 1 : 0;

  for (const ir::Initializer& init : model.graph.initializers()) {
    Weight w = initializer_weight(init);
    init_acc.add(w.summary.dtype, w.numel, w.summary.bytes);
    all_acc.add(w.summary.dtype, w.numel, w.summary.bytes);
    weights.push_back(std::move(w));
  }
  info.initializer_params = init_acc.finish();
  info.constant_params = const_acc.finish();
  info.params = all_acc.finish();

  for (Weight& w : weights) {
    if (!w.zeros) continue;
    ++info.sparsity.tensors;
    info.sparsity.elements += w.numel;
    info.sparsity.zeros += *w.zeros;
    if (w.numel > 0) {
      w.summary.zero_fraction = static_cast<double>(*w.zeros) / static_cast<double>(w.numel);
    }
  }
  auto larger = [](const Weight& a, const Weight& b) {
    if (a.summary.bytes != b.summary.bytes) return a.summary.bytes > b.summary.bytes;
    return a.summary.name < b.summary.name;
  };
  const size_t keep = std::min(options.largest, weights.size());
  std::partial_sort(weights.begin(), weights.begin() + static_cast<ptrdiff_t>(keep), weights.end(),
                    larger);
  for (size_t i = 0; i < keep; ++i) info.largest.push_back(std::move(weights[i].summary));

  auto macs = estimate_macs(model, options.dims);
  if (!macs.ok()) return macs.status();
  info.macs = std::move(macs).value();
  return info;
}

}  // namespace compressor::eval
