// Sample data: .npy reading and writing (against NumPy itself when it is installed, and against
// hand-built headers), the three folder layouts, seeded random samples, --dim and labels.
#include "compressor/io/samples.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "testing/test_models.h"

namespace compressor::io {
namespace {
namespace fs = std::filesystem;
using ir::DType;
using testing::model_from_text;
using testing::TempDir;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A model with two user inputs sharing the symbolic dim `batch`, and one graph input that is
/// an initializer (not a user input).
constexpr const char* kTwoInputs = R"(
  <ir_version: 8, opset_import: ["" : 13]>
  g (float[batch, 3] image, int64[batch] ids, float[3] w) => (float[batch, 3] y, float[batch] z)
  <float[3] w = {1, 2, 3}>
  {
    y = Mul(image, w)
    z = Cast<to = 1>(ids)
  })";

/// Every dtype random data covers, with fixed and symbolic dims.
constexpr const char* kAllTypes = R"(
  <ir_version: 8, opset_import: ["" : 13]>
  g (float[n, 40] f, double[40] d, float16[40] h, int64[40] i64, int32[40] i32, int16[40] i16,
     int8[40] i8, uint8[40] u8, uint16[40] u16, uint32[40] u32, uint64[40] u64, bool[40] b)
    => (float[n, 40] y)
  {
    y = Identity(f)
  })";

ir::Model load(const char* text) {
  auto m = model_from_text(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : ir::Model();
}

template <typename T>
ir::Tensor tensor(ir::Dims dims, std::vector<T> values) {
  return ir::Tensor::from_values<T>(std::move(dims), std::span<const T>(values));
}

/// A float [rows, 3] tensor whose elements are `base + k`.
ir::Tensor image(int64_t rows, float base) {
  std::vector<float> v(static_cast<size_t>(rows * 3));
  for (size_t k = 0; k < v.size(); ++k) v[k] = base + static_cast<float>(k);
  return tensor<float>({rows, 3}, v);
}

ir::Tensor ids(int64_t rows, int64_t base) {
  std::vector<int64_t> v(static_cast<size_t>(rows));
  for (size_t k = 0; k < v.size(); ++k) v[k] = base + static_cast<int64_t>(k);
  return tensor<int64_t>({rows}, v);
}

void put_npy(const fs::path& path, const ir::Tensor& t) {
  fs::create_directories(path.parent_path());
  ASSERT_OK(write_npy(t, path.string()));
}

void put_pb(const fs::path& path, const ir::Tensor& t) {
  fs::create_directories(path.parent_path());
  ASSERT_OK(write_tensor_pb(t, "", path.string()));
}

/// The bytes of a .npy file: magic, version, header length (2 bytes for 1.0, 4 otherwise),
/// the header text as given, then the data.
std::string npy_bytes(int major, const std::string& header, const std::string& data) {
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  const size_t len_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < len_bytes; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

template <typename T>
std::string raw(std::vector<T> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

Status as_status(const Status& s) { return s; }
template <typename T>
Status as_status(const StatusOr<T>& s) {
  return s.status();
}

/// Expects an error of `code` with a one-line message that contains every part.
void check_error(const Status& s, ErrorCode code, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), code) << s.message();
  for (const auto& part : parts) {
    EXPECT_NE(s.message().find(part), std::string::npos)
        << "'" << part << "' not in: " << s.message();
  }
  EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one line: " << s.message();
}

#define EXPECT_ERROR(expr, code, ...)                  \
  do {                                                 \
    SCOPED_TRACE(#expr);                               \
    check_error(as_status(expr), code, {__VA_ARGS__}); \
  } while (0)

// ---------------------------------------------------------------------------------------------
// .npy

template <typename T>
ir::Tensor pattern(DType dtype) {
  if constexpr (std::is_same_v<T, bool>) {  // odd positions true
    ir::Tensor t = ir::Tensor::uninitialized(DType::kBool, {2, 3});
    for (size_t k = 0; k < 6; ++k) t.mutable_span<uint8_t>()[k] = k % 2;
    return t;
  } else {
    std::vector<T> v(6);
    for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<T>(static_cast<int>(k) * 7 - 20);
    ir::Tensor t = tensor<T>({2, 3}, v);
    EXPECT_EQ(t.dtype(), dtype);
    return t;
  }
}

std::vector<ir::Tensor> every_npy_dtype() {
  std::vector<ir::Tensor> out = {
      pattern<bool>(DType::kBool),       pattern<int8_t>(DType::kInt8),
      pattern<uint8_t>(DType::kUInt8),   pattern<int16_t>(DType::kInt16),
      pattern<uint16_t>(DType::kUInt16), pattern<int32_t>(DType::kInt32),
      pattern<uint32_t>(DType::kUInt32), pattern<int64_t>(DType::kInt64),
      pattern<uint64_t>(DType::kUInt64), pattern<float>(DType::kFloat),
      pattern<double>(DType::kDouble),
  };
  // float16 -20, -13, -6, 1, 8, 15: exact halves, spelled as bits.
  std::vector<uint16_t> half = {0xcd00, 0xca80, 0xc600, 0x3c00, 0x4800, 0x4b80};
  ir::Tensor h = ir::Tensor::uninitialized(DType::kFloat16, {2, 3});
  std::memcpy(h.mutable_data(), half.data(), 12);
  out.push_back(h);
  return out;
}

TEST(Npy, RoundTripsEveryDtypeWithAlignedHeader) {
  TempDir dir;
  for (const ir::Tensor& t : every_npy_dtype()) {
    for (ir::Dims dims : {ir::Dims{2, 3}, ir::Dims{6}, ir::Dims{3, 1, 2}, ir::Dims{0, 4}}) {
      ir::Tensor shaped =
          ir::element_count(dims) == 6 ? t.reshaped(dims) : ir::Tensor::zeros(t.dtype(), dims);
      const std::string path = dir.file(std::string(ir::dtype_name(t.dtype())) + ".npy");
      ASSERT_OK(write_npy(shaped, path));
      auto back = read_npy(path);
      ASSERT_OK(back);
      EXPECT_TRUE(back->bitwise_equal(shaped))
          << ir::dtype_name(t.dtype()) << ir::dims_to_string(dims);
      const std::string bytes = testing::read_file(path);
      ASSERT_GE(bytes.size(), 10u);
      EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
      EXPECT_EQ((bytes.size() - shaped.nbytes()) % 64, 0u) << "data starts 64-byte aligned";
      EXPECT_EQ(bytes[bytes.size() - shaped.nbytes() - 1], '\n');
    }
  }
  // Scalars.
  ir::Tensor scalar = tensor<double>({}, {2.5});
  ASSERT_OK(write_npy(scalar, dir.file("s.npy")));
  auto back = read_npy(dir.file("s.npy"));
  ASSERT_OK(back);
  EXPECT_TRUE(back->bitwise_equal(scalar));
  EXPECT_NE(testing::read_file(dir.file("s.npy")).find("'shape': (), }"), std::string::npos);
  // Nothing but the written files is left behind.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, every_npy_dtype().size() + 1);
}

TEST(Npy, WriteRefusesWhatNpyCannotHoldAndMissingFolders) {
  TempDir dir;
  EXPECT_ERROR(write_npy(ir::Tensor::from_strings({1}, {"a"}), dir.file("s.npy")),
               ErrorCode::kUnsupported, "s.npy", "string");
  EXPECT_ERROR(write_npy(image(1, 0), dir.file("nope/x.npy")), ErrorCode::kIo, "nope/x.npy");
}

TEST(Npy, ReadsHandBuiltHeaders) {
  TempDir dir;
  auto read = [&](const std::string& bytes) {
    testing::write_file(dir.file("a.npy"), bytes);
    return read_npy(dir.file("a.npy"));
  };
  // Version 2.0 and 3.0 use a 4-byte header length.
  for (int major : {2, 3}) {
    auto t = read(npy_bytes(major, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }\n",
                            raw<int32_t>({7, -8, 9})));
    ASSERT_OK(t);
    EXPECT_EQ(t->dtype(), DType::kInt32);
    EXPECT_EQ(t->dims(), (ir::Dims{3}));
    EXPECT_EQ(std::vector<int32_t>(t->span<int32_t>().begin(), t->span<int32_t>().end()),
              (std::vector<int32_t>{7, -8, 9}));
  }
  // A scalar.
  auto s = read(
      npy_bytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': ()}", raw<double>({-1.25})));
  ASSERT_OK(s);
  EXPECT_EQ(s->dims(), ir::Dims{});
  EXPECT_EQ(s->span<double>()[0], -1.25);
  // Loose spacing, double quotes, other key order, no trailing comma or newline, a list shape.
  auto loose =
      read(npy_bytes(1, "  { \"shape\" : [ 2 , 1 ] ,'fortran_order':False,\t'descr':'=u2' }   ",
                     raw<uint16_t>({65535, 3})));
  ASSERT_OK(loose);
  EXPECT_EQ(loose->dtype(), DType::kUInt16);
  EXPECT_EQ(loose->dims(), (ir::Dims{2, 1}));
  EXPECT_EQ(loose->span<uint16_t>()[0], 65535);
  // Python 2 long integers; '|b1' bools; '>' on single bytes.
  auto py2 = read(npy_bytes(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (1L, 2L), }",
                            std::string("\x01\x00", 2)));
  ASSERT_OK(py2);
  EXPECT_EQ(py2->dtype(), DType::kBool);
  EXPECT_EQ(py2->dims(), (ir::Dims{1, 2}));
  auto byte = read(npy_bytes(1, "{'descr': '>i1', 'fortran_order': False, 'shape': (1,)}",
                             std::string("\xff", 1)));
  ASSERT_OK(byte);
  EXPECT_EQ(byte->span<int8_t>()[0], -1);
}

TEST(Npy, RefusesBadFilesNamingThem) {
  TempDir dir;
  const std::string path = dir.file("bad.npy");
  auto read = [&](const std::string& bytes) {
    testing::write_file(path, bytes);
    return read_npy(path);
  };
  const std::string f4x2 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
  EXPECT_ERROR(read("PK\x03\x04 not numpy at all"), ErrorCode::kInvalidModel, "bad.npy", "magic");
  EXPECT_ERROR(read("\x93NUM"), ErrorCode::kInvalidModel, "bad.npy", "magic");
  EXPECT_ERROR(read(npy_bytes(4, f4x2, raw<float>({1, 2}))), ErrorCode::kUnsupported, "bad.npy",
               "version 4.0");
  EXPECT_ERROR(read(npy_bytes(1, f4x2, raw<float>({1}))), ErrorCode::kInvalidModel, "bad.npy",
               "truncated", "8 bytes");
  EXPECT_ERROR(read(npy_bytes(1, f4x2, raw<float>({1, 2, 3}))), ErrorCode::kInvalidModel, "bad.npy",
               "trailing");
  std::string cut = npy_bytes(1, f4x2, "");
  cut.resize(30);
  EXPECT_ERROR(read(cut), ErrorCode::kInvalidModel, "bad.npy", "header length");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }",
                              raw<float>({1, 2}))),
               ErrorCode::kUnsupported, "bad.npy", "Fortran");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                              raw<float>({1, 2}))),
               ErrorCode::kUnsupported, "bad.npy", "big-endian");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
                              raw<uint64_t>({0}))),
               ErrorCode::kUnsupported, "bad.npy", "object");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }",
                              std::string(12, 'a'))),
               ErrorCode::kUnsupported, "bad.npy", "string");
  EXPECT_ERROR(read(npy_bytes(1,
                              "{'descr': [('a', '<i4'), ('b', '<f4')], 'fortran_order': False, "
                              "'shape': (1,), }",
                              std::string(8, '\0'))),
               ErrorCode::kUnsupported, "bad.npy", "structured");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }",
                              std::string(16, '\0'))),
               ErrorCode::kUnsupported, "bad.npy", "<f16");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '<f4', 'shape': (2,), }", raw<float>({1, 2}))),
               ErrorCode::kInvalidModel, "bad.npy", "missing key 'fortran_order'");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
                              raw<float>({1, 2}))),
               ErrorCode::kInvalidModel, "bad.npy", "unexpected key 'x'");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
                              raw<float>({1, 2}))),
               ErrorCode::kInvalidModel, "bad.npy", "shape");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",
                              raw<float>({1, 2}))),
               ErrorCode::kInvalidModel, "bad.npy", "after the dict");
  EXPECT_ERROR(read(npy_bytes(1,
                              "{'descr': '<u1', 'fortran_order': False, 'shape': "
                              "(99999999999, 99999999999, 99999999999), }",
                              "")),
               ErrorCode::kInvalidModel, "bad.npy", "too large");
  EXPECT_ERROR(read(npy_bytes(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
                              std::string("\x01\x02", 2))),
               ErrorCode::kInvalidModel, "bad.npy", "bool element 1");
  // Every proper prefix of a valid file is refused.
  ASSERT_OK(write_npy(image(2, 0), path));
  const std::string whole = testing::read_file(path);
  for (size_t n = 0; n < whole.size(); ++n) {
    testing::write_file(path, whole.substr(0, n));
    EXPECT_FALSE(read_npy(path).ok()) << n << " bytes";
  }
  EXPECT_ERROR(read_npy(dir.file("missing.npy")), ErrorCode::kNotFound, "missing.npy");
  EXPECT_ERROR(read_npy(dir.path().string()), ErrorCode::kInvalidArgument,
               dir.path().string().c_str());
}

bool have_numpy() {
  static const bool have = std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == 0;
  return have;
}

/// Runs a Python script with the folder as its argument; true when it exits 0.
bool run_python(const TempDir& dir, const std::string& script) {
  testing::write_file(dir.file("script.py"), script);
  const std::string cmd = "/usr/bin/python3 " + dir.file("script.py") + " " + dir.path().string() +
                          " >" + dir.file("py.log") + " 2>&1";
  const bool ok = std::system(cmd.c_str()) == 0;
  if (!ok) ADD_FAILURE() << testing::read_file(dir.file("py.log"));
  return ok;
}

TEST(Npy, ReadsWhatNumpyWrites) {
  if (!have_numpy()) GTEST_SKIP() << "numpy is not installed for /usr/bin/python3";
  TempDir dir;
  ASSERT_TRUE(run_python(dir, R"(
import sys, numpy as np
from numpy.lib import format as fmt
d = sys.argv[1]
for dt in ['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
           'float16', 'float32', 'float64']:
    a = np.arange(6).reshape(2, 3) * 7 - 20
    a = (np.arange(6) % 2 == 1).reshape(2, 3) if dt == 'bool' else a.astype(dt)
    np.save(f'{d}/{dt}.npy', a)
np.save(f'{d}/scalar.npy', np.array(2.5))
np.save(f'{d}/vector.npy', np.arange(5, dtype=np.int64))
np.save(f'{d}/empty.npy', np.zeros((0, 3), np.float32))
for v in [(2, 0), (3, 0)]:
    with open(f'{d}/v{v[0]}.npy', 'wb') as f:
        fmt.write_array(f, np.arange(4, dtype=np.int32), version=v)
np.save(f'{d}/fortran.npy', np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save(f'{d}/big.npy', np.arange(3, dtype='>f4'))
np.save(f'{d}/object.npy', np.array([1, 'a'], dtype=object), allow_pickle=True)
np.save(f'{d}/unicode.npy', np.array(['ab', 'c']))
np.save(f'{d}/structured.npy', np.zeros(2, dtype=[('a', '<i4'), ('b', '<f4')]))
np.save(f'{d}/complex.npy', np.zeros(2, dtype=np.complex64))
)"));
  // Every dtype: the values -20, -13, -6, 1, 8, 15 (bool: odd positions), shape [2, 3].
  for (const ir::Tensor& want : every_npy_dtype()) {
    const std::string name(ir::dtype_name(want.dtype()));
    const std::string file = name == "float" ? "float32" : name == "double" ? "float64" : name;
    auto got = read_npy(dir.file(file + ".npy"));
    ASSERT_OK(got);
    EXPECT_TRUE(got->bitwise_equal(want)) << file;
  }
  auto scalar = read_npy(dir.file("scalar.npy"));
  ASSERT_OK(scalar);
  EXPECT_TRUE(scalar->bitwise_equal(tensor<double>({}, {2.5})));
  auto vector = read_npy(dir.file("vector.npy"));
  ASSERT_OK(vector);
  EXPECT_TRUE(vector->bitwise_equal(tensor<int64_t>({5}, {0, 1, 2, 3, 4})));
  auto empty = read_npy(dir.file("empty.npy"));
  ASSERT_OK(empty);
  EXPECT_EQ(empty->dims(), (ir::Dims{0, 3}));
  for (const char* v : {"v2.npy", "v3.npy"}) {
    auto t = read_npy(dir.file(v));
    ASSERT_OK(t);
    EXPECT_TRUE(t->bitwise_equal(tensor<int32_t>({4}, {0, 1, 2, 3}))) << v;
  }
  EXPECT_ERROR(read_npy(dir.file("fortran.npy")), ErrorCode::kUnsupported, "fortran.npy",
               "Fortran");
  EXPECT_ERROR(read_npy(dir.file("big.npy")), ErrorCode::kUnsupported, "big.npy", "big-endian");
  EXPECT_ERROR(read_npy(dir.file("object.npy")), ErrorCode::kUnsupported, "object.npy", "object");
  EXPECT_ERROR(read_npy(dir.file("unicode.npy")), ErrorCode::kUnsupported, "unicode.npy", "string");
  EXPECT_ERROR(read_npy(dir.file("structured.npy")), ErrorCode::kUnsupported, "structured.npy",
               "structured");
  EXPECT_ERROR(read_npy(dir.file("complex.npy")), ErrorCode::kUnsupported, "complex.npy",
               "complex");
}

TEST(Npy, NumpyReadsWhatWeWrite) {
  if (!have_numpy()) GTEST_SKIP() << "numpy is not installed for /usr/bin/python3";
  TempDir dir;
  for (const ir::Tensor& t : every_npy_dtype()) {
    ASSERT_OK(write_npy(t, dir.file(std::string(ir::dtype_name(t.dtype())) + ".npy")));
  }
  ASSERT_OK(write_npy(tensor<double>({}, {2.5}), dir.file("scalar.npy")));
  ASSERT_OK(write_npy(ir::Tensor::zeros(DType::kFloat, {0, 3}), dir.file("empty.npy")));
  ASSERT_TRUE(run_python(dir, R"(
import sys, numpy as np
d = sys.argv[1]
names = {'bool': 'bool', 'int8': 'int8', 'uint8': 'uint8', 'int16': 'int16', 'uint16': 'uint16',
         'int32': 'int32', 'uint32': 'uint32', 'int64': 'int64', 'uint64': 'uint64',
         'float16': 'float16', 'float': 'float32', 'double': 'float64'}
for ours, dt in names.items():
    a = np.load(f'{d}/{ours}.npy')
    want = np.arange(6).reshape(2, 3) * 7 - 20
    want = (np.arange(6) % 2 == 1).reshape(2, 3) if dt == 'bool' else want.astype(dt)
    assert a.dtype == np.dtype(dt), (ours, a.dtype)
    assert a.flags['C_CONTIGUOUS']
    assert np.array_equal(a, want), (ours, a)
s = np.load(f'{d}/scalar.npy')
assert s.shape == () and s.dtype == np.float64 and s == 2.5, s
e = np.load(f'{d}/empty.npy')
assert e.shape == (0, 3) and e.dtype == np.float32, e.shape
)"));
}

// ---------------------------------------------------------------------------------------------
// Folder layouts

TEST(Samples, TestDataSetLayoutInNaturalOrder) {
  ir::Model model = load(kTwoInputs);
  TempDir dir;
  for (int s = 0; s < 12; ++s) {
    const fs::path set = dir.path() / ("test_data_set_" + std::to_string(s));
    put_pb(set / "input_0.pb", image(2, 100.0f * s));
    put_pb(set / "input_1.pb", ids(2, s));
    put_pb(set / "output_0.pb", image(2, 0));  // outputs are not inputs
  }
  testing::write_file(dir.file("model.onnx"), "ignored");
  fs::create_directories(dir.path() / "other");  // a folder beside the sets is not a sample
  SampleOptions opts;
  opts.data_dir = dir.path().string();
  auto set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  ASSERT_EQ(set->size(), 12u);
  for (size_t s = 0; s < 12; ++s) {
    auto sample = set->get(s);
    ASSERT_OK(sample);
    ASSERT_EQ(sample->size(), 2u);
    EXPECT_EQ((*sample)[0].name, "image");
    EXPECT_EQ((*sample)[1].name, "ids");
    EXPECT_TRUE((*sample)[0].tensor.bitwise_equal(image(2, 100.0f * s))) << s;
    EXPECT_TRUE((*sample)[1].tensor.bitwise_equal(ids(2, s))) << s;
  }
  EXPECT_EQ(set->describe(), "12 samples from " + dir.path().string() + " (test_data_set layout)");
  EXPECT_TRUE(set->labels().empty());
  EXPECT_TRUE(set->unbound_dims().empty());
}

TEST(Samples, OneFolderPerSampleWithNpyAndPb) {
  ir::Model model = load(kTwoInputs);
  TempDir dir;
  // Natural order: s2 before s10; s02 and s2 (the same number) in plain order.
  const std::vector<std::string> order = {"a", "s1", "s02", "s2", "s10", "s10b", "t"};
  for (size_t s = 0; s < order.size(); ++s) {
    const fs::path sub = dir.path() / order[s];
    put_npy(sub / "image.npy", image(1 + s % 2, static_cast<float>(s)));
    if (s % 2 == 0) {
      put_npy(sub / "ids.npy", ids(1 + s % 2, static_cast<int64_t>(s)));
    } else {
      put_pb(sub / "ids.pb", ids(1 + s % 2, static_cast<int64_t>(s)));
    }
    testing::write_file((sub / "notes.txt").string(), "not a tensor");
  }
  put_npy(dir.path() / "labels.npy", ids(7, 0));  // files beside the samples are ignored
  fs::create_directories(dir.path() / ".cache");  // and hidden folders
  // Listed out of order on purpose: the set's order is its own.
  SampleOptions opts;
  opts.data_dir = dir.path().string();
  auto set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  ASSERT_EQ(set->size(), order.size());
  for (size_t s = 0; s < order.size(); ++s) {
    auto sample = set->get(s);
    ASSERT_OK(sample);
    EXPECT_TRUE((*sample)[0].tensor.bitwise_equal(image(1 + s % 2, static_cast<float>(s))))
        << order[s];
    EXPECT_TRUE((*sample)[1].tensor.bitwise_equal(ids(1 + s % 2, static_cast<int64_t>(s))));
  }
  EXPECT_EQ(set->describe(), "7 samples from " + dir.path().string() + " (one folder per sample)");

  // --samples N takes the first N; more than the folder holds is an error saying how many.
  opts.count = 3;
  auto first = SampleSet::open(model, opts);
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 3u);
  auto third = first->get(2);
  ASSERT_OK(third);
  EXPECT_TRUE((*third)[0].tensor.bitwise_equal(image(1, 2.0f)));
  EXPECT_EQ(first->describe(),
            "3 samples from " + dir.path().string() + " (first 3 of 7; one folder per sample)");
  opts.count = 8;
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidArgument, "--samples 8",
               "holds only 7 samples");
}

TEST(Samples, OneFolderHoldingOneSample) {
  ir::Model model = load(kTwoInputs);
  {
    TempDir dir;
    put_npy(dir.path() / "image.npy", image(3, 1));
    put_pb(dir.path() / "ids.pb", ids(3, 5));
    SampleOptions opts;
    opts.data_dir = dir.path().string();
    auto set = SampleSet::open(model, opts);
    ASSERT_OK(set);
    ASSERT_EQ(set->size(), 1u);
    auto sample = set->get(0);
    ASSERT_OK(sample);
    EXPECT_TRUE((*sample)[1].tensor.bitwise_equal(ids(3, 5)));
    EXPECT_EQ(set->describe(), "1 sample from " + dir.path().string() + " (one sample)");
  }
  {
    TempDir dir;  // the files of one test_data_set_N folder
    put_pb(dir.path() / "input_0.pb", image(3, 1));
    put_pb(dir.path() / "input_1.pb", ids(3, 5));
    put_pb(dir.path() / "output_0.pb", image(3, 1));
    SampleOptions opts;
    opts.data_dir = dir.path().string();
    auto set = SampleSet::open(model, opts);
    ASSERT_OK(set);
    ASSERT_EQ(set->size(), 1u);
    auto sample = set->get(0);
    ASSERT_OK(sample);
    EXPECT_TRUE((*sample)[0].tensor.bitwise_equal(image(3, 1)));
    EXPECT_TRUE((*sample)[1].tensor.bitwise_equal(ids(3, 5)));
  }
}

TEST(Samples, InputNamesWithSlashesReadFromUnderscores) {
  ir::Model model = load(kTwoInputs);
  model.graph.inputs[0].set_name("encoder/image");
  TempDir dir;
  put_npy(dir.path() / "s0" / "encoder_image.npy", image(1, 0));
  put_npy(dir.path() / "s0" / "ids.npy", ids(1, 0));
  SampleOptions opts;
  opts.data_dir = dir.path().string();
  auto set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  auto sample = set->get(0);
  ASSERT_OK(sample);
  EXPECT_EQ((*sample)[0].name, "encoder/image");
}

TEST(Samples, FolderErrorsNameTheFolderFileAndInput) {
  ir::Model model = load(kTwoInputs);
  SampleOptions opts;
  {
    TempDir dir;
    opts.data_dir = dir.file("missing");
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kNotFound, "missing", "no such folder");
    testing::write_file(dir.file("file"), "x");
    opts.data_dir = dir.file("file");
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidArgument, "file", "not a folder");
    fs::create_directories(dir.path() / "empty");
    opts.data_dir = dir.file("empty");
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "empty", "no samples");
  }
  {
    TempDir dir;  // a file named after no input
    put_npy(dir.path() / "s1" / "image.npy", image(1, 0));
    put_npy(dir.path() / "s1" / "ids.npy", ids(1, 0));
    put_npy(dir.path() / "s1" / "imgae.npy", image(1, 0));
    opts.data_dir = dir.path().string();
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "s1/imgae.npy",
                 "names no input", "inputs: image, ids");
  }
  {
    TempDir dir;  // a missing input
    put_npy(dir.path() / "s1" / "image.npy", image(1, 0));
    put_npy(dir.path() / "s1" / "ids.npy", ids(1, 0));
    put_npy(dir.path() / "s2" / "image.npy", image(1, 0));
    opts.data_dir = dir.path().string();
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "s2", "input 'ids'");
  }
  {
    TempDir dir;  // one input given twice
    put_npy(dir.path() / "s1" / "image.npy", image(1, 0));
    put_pb(dir.path() / "s1" / "image.pb", image(1, 0));
    put_npy(dir.path() / "s1" / "ids.npy", ids(1, 0));
    opts.data_dir = dir.path().string();
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "s1", "'image'",
                 "image.npy and image.pb");
  }
  {
    TempDir dir;  // a test data set without the second input, and one with a third
    put_pb(dir.path() / "test_data_set_0" / "input_0.pb", image(1, 0));
    opts.data_dir = dir.path().string();
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "test_data_set_0",
                 "input_1.pb", "'ids'");
    put_pb(dir.path() / "test_data_set_0" / "input_1.pb", ids(1, 0));
    put_pb(dir.path() / "test_data_set_0" / "input_2.pb", ids(1, 0));
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "input_2.pb",
                 "only 2 inputs");
  }
}

TEST(Samples, GetChecksEachTensorAgainstTheDeclaredInput) {
  ir::Model model = load(kTwoInputs);
  TempDir dir;
  const fs::path d = dir.path();
  put_npy(d / "s0" / "image.npy", image(2, 0));  // fine
  put_npy(d / "s0" / "ids.npy", ids(2, 0));
  put_npy(d / "s1" / "image.npy", tensor<int32_t>({1, 3}, {1, 2, 3}));  // wrong dtype
  put_npy(d / "s1" / "ids.npy", ids(1, 0));
  put_npy(d / "s2" / "image.npy", image(1, 0).reshaped({1, 1, 3}));  // wrong rank
  put_npy(d / "s2" / "ids.npy", ids(1, 0));
  put_npy(d / "s3" / "image.npy", tensor<float>({1, 4}, {1, 2, 3, 4}));  // wrong fixed dim
  put_npy(d / "s3" / "ids.npy", ids(1, 0));
  put_npy(d / "s4" / "image.npy", image(2, 0));  // batch 2 and batch 3 in one sample
  put_npy(d / "s4" / "ids.npy", ids(3, 0));
  put_npy(d / "s5" / "image.npy", image(3, 0));
  put_npy(d / "s5" / "ids.npy", ids(3, 0));
  put_npy(d / "s6" / "image.npy", image(1, 0));
  testing::write_file((d / "s6" / "ids.npy").string(), "garbage");
  SampleOptions opts;
  opts.data_dir = d.string();
  auto set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  ASSERT_EQ(set->size(), 7u);
  EXPECT_OK(set->get(0));
  EXPECT_ERROR(set->get(1), ErrorCode::kInvalidModel, "s1/image.npy", "input 'image'",
               "dtype int32", "float[batch, 3]");
  EXPECT_ERROR(set->get(2), ErrorCode::kInvalidModel, "s2/image.npy", "input 'image'",
               "shape [1, 1, 3] does not match the declared float[batch, 3]");
  EXPECT_ERROR(set->get(3), ErrorCode::kInvalidModel, "s3/image.npy", "shape [1, 4]");
  EXPECT_ERROR(set->get(4), ErrorCode::kInvalidModel, "s4/ids.npy", "input 'ids'",
               "dimension 'batch' is 3", "input 'image'", "s4/image.npy", "has 2");
  EXPECT_OK(set->get(5));
  EXPECT_ERROR(set->get(6), ErrorCode::kInvalidModel, "s6/ids.npy");

  // --dim batch=2 makes batch 3 a mismatch.
  opts.dims = {{"batch", 2}};
  auto bound = SampleSet::open(model, opts);
  ASSERT_OK(bound);
  EXPECT_OK(bound->get(0));
  EXPECT_ERROR(bound->get(5), ErrorCode::kInvalidModel, "s5/image.npy", "shape [3, 3]");

  // Samples are read when asked for: a file removed after opening is named then.
  fs::remove(d / "s0" / "ids.npy");
  EXPECT_ERROR(set->get(0), ErrorCode::kNotFound, "s0/ids.npy");
}

// ---------------------------------------------------------------------------------------------
// Random samples

/// All tensors of a sample as one byte string.
std::string bytes_of(const Sample& s) {
  std::string out;
  for (const auto& t : s) {
    out.append(reinterpret_cast<const char*>(t.tensor.data()), t.tensor.nbytes());
  }
  return out;
}

std::string sample_bytes(const SampleSet& set, size_t i) {
  auto s = set.get(i);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? bytes_of(*s) : std::string();
}

TEST(Samples, RandomSamplesAreDeterministicAndIndependentOfCount) {
  ir::Model model = load(kAllTypes);
  SampleOptions opts;
  opts.seed = 42;
  opts.count = 3;
  auto a = SampleSet::open(model, opts);
  ASSERT_OK(a);
  auto b = SampleSet::open(model, opts);
  ASSERT_OK(b);
  opts.count = 10;
  auto c = SampleSet::open(model, opts);
  ASSERT_OK(c);
  ASSERT_EQ(a->size(), 3u);
  ASSERT_EQ(c->size(), 10u);
  std::set<std::string> distinct;
  for (size_t i = 0; i < 3; ++i) {
    const std::string s = sample_bytes(*a, i);
    EXPECT_EQ(s, sample_bytes(*b, i)) << "same seed, same bytes";
    EXPECT_EQ(s, sample_bytes(*c, i)) << "sample " << i << " does not depend on the count";
    EXPECT_EQ(s, sample_bytes(*a, i)) << "asking twice gives the same sample";
    distinct.insert(s);
  }
  EXPECT_EQ(distinct.size(), 3u) << "samples differ from each other";
  opts.seed = 43;
  auto other = SampleSet::open(model, opts);
  ASSERT_OK(other);
  EXPECT_NE(sample_bytes(*other, 0), sample_bytes(*a, 0));
  EXPECT_NE(sample_bytes(*other, 1), sample_bytes(*a, 1));
}

TEST(Samples, RandomSampleZeroIsTheSeedsOwnStream) {
  // Sample 0 draws from mt19937_64(seed) in input order: floats as uniform doubles in [0, 1),
  // integers uniform in [0, 9] (what `exec --seed S` has always fed).
  ir::Model model = load(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3] x, int64[4] k) => (float[2, 3] y) { y = Identity(x) })");
  SampleOptions opts;
  opts.seed = 7;
  auto set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  auto s = set->get(0);
  ASSERT_OK(s);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> real(0.0, 1.0);
  std::uniform_int_distribution<int> integer(0, 9);
  for (float x : (*s)[0].tensor.span<float>()) EXPECT_EQ(x, static_cast<float>(real(rng)));
  for (int64_t k : (*s)[1].tensor.span<int64_t>()) EXPECT_EQ(k, integer(rng));
  // Sample 1 draws from seed_seq{seed, 1}.
  auto s1 = set->get(1);
  ASSERT_OK(s1);
  std::seed_seq seq{uint64_t{7}, uint64_t{1}};
  std::mt19937_64 rng1(seq);
  for (float x : (*s1)[0].tensor.span<float>()) EXPECT_EQ(x, static_cast<float>(real(rng1)));
}

double half_value(uint16_t h) {
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  const double v = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return (h & 0x8000) ? -v : v;
}

/// Every element of every tensor of a sample as doubles, by input.
std::map<std::string, std::vector<double>> values_of(const Sample& s) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [name, t] : s) {
    auto& v = out[name];
    auto add = [&](auto tag) {
      for (auto x : t.span<decltype(tag)>()) v.push_back(static_cast<double>(x));
    };
    switch (t.dtype()) {
      case DType::kFloat:
        add(float{});
        break;
      case DType::kDouble:
        add(double{});
        break;
      case DType::kFloat16:
        for (uint16_t x : t.span<uint16_t>()) v.push_back(half_value(x));
        break;
      case DType::kInt64:
        add(int64_t{});
        break;
      case DType::kInt32:
        add(int32_t{});
        break;
      case DType::kInt16:
        add(int16_t{});
        break;
      case DType::kInt8:
        add(int8_t{});
        break;
      case DType::kUInt8:
      case DType::kBool:
        add(uint8_t{});
        break;
      case DType::kUInt16:
        add(uint16_t{});
        break;
      case DType::kUInt32:
        add(uint32_t{});
        break;
      case DType::kUInt64:
        add(uint64_t{});
        break;
      default:
        ADD_FAILURE() << "unexpected dtype for " << name;
    }
  }
  return out;
}

TEST(Samples, RandomValuesStayInTheirRange) {
  ir::Model model = load(kAllTypes);
  for (auto range : {std::optional<std::pair<double, double>>{},
                     std::optional<std::pair<double, double>>{{-2.5, 3.5}},
                     std::optional<std::pair<double, double>>{{0.25, 0.5}}}) {
    SampleOptions opts;
    opts.random_range = range;
    if (range && range->first == 0.25) {
      // No integer lies in [0.25, 0.5]: a model with integer inputs cannot use this range.
      EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidArgument,
                   "--random-range 0.25,0.5", "no integer", "'i64'");
      continue;
    }
    auto set = SampleSet::open(model, opts);
    ASSERT_OK(set);
    const double lo = range ? range->first : 0.0, hi = range ? range->second : 1.0;
    const double ilo = range ? std::ceil(lo) : 0.0, ihi = range ? std::floor(hi) : 9.0;
    std::map<std::string, std::set<double>> seen;
    for (size_t i = 0; i < set->size(); ++i) {
      auto s = set->get(i);
      ASSERT_OK(s);
      ASSERT_EQ(s->size(), 12u);
      EXPECT_EQ((*s)[0].tensor.dims(), (ir::Dims{1, 40})) << "unbound n is 1";
      for (const auto& [name, values] : values_of(*s)) {
        for (double v : values) {
          seen[name].insert(v);
          if (name == "b") {
            EXPECT_TRUE(v == 0 || v == 1);
          } else if (name == "f" || name == "d" || name == "h") {
            EXPECT_GE(v, lo) << name;
            EXPECT_LT(v, hi) << name;
          } else if (name[0] == 'u' && ilo < 0) {
            EXPECT_GE(v, 0) << name << ": unsigned inputs are clipped at 0";
            EXPECT_LE(v, ihi) << name;
          } else {
            EXPECT_GE(v, ilo) << name;
            EXPECT_LE(v, ihi) << name;
          }
        }
      }
    }
    // 8 samples x 40 values: every integer of the range appears, floats spread out.
    EXPECT_EQ(seen["i8"].size(), static_cast<size_t>(ihi - ilo + 1));
    EXPECT_EQ(seen["u64"].size(), static_cast<size_t>(ihi - std::max(ilo, 0.0) + 1));
    EXPECT_EQ(seen["b"].size(), 2u);
    EXPECT_GT(seen["f"].size(), 300u);
    EXPECT_GT(seen["h"].size(), 100u);
  }
}

TEST(Samples, RandomDimsUnboundListAndDescription) {
  ir::Model model = load(kTwoInputs);
  SampleOptions opts;
  auto set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  EXPECT_EQ(set->size(), 8u) << "default_random";
  EXPECT_EQ(set->unbound_dims(), std::vector<std::string>{"batch"});
  auto s = set->get(0);
  ASSERT_OK(s);
  ASSERT_EQ(s->size(), 2u) << "the initializer input w is not sampled";
  EXPECT_EQ((*s)[0].tensor.dims(), (ir::Dims{1, 3}));
  EXPECT_EQ((*s)[1].tensor.dims(), (ir::Dims{1}));
  EXPECT_EQ(set->describe(), "8 random samples (seed 0; floats in [0, 1), integers in [0, 9])");

  opts.dims = {{"batch", 4}};
  opts.count = 2;
  opts.seed = 3;
  opts.random_range = {{-1, 2.5}};
  auto bound = SampleSet::open(model, opts);
  ASSERT_OK(bound);
  EXPECT_EQ(bound->size(), 2u);
  EXPECT_TRUE(bound->unbound_dims().empty());
  s = bound->get(1);
  ASSERT_OK(s);
  EXPECT_EQ((*s)[0].tensor.dims(), (ir::Dims{4, 3}));
  EXPECT_EQ((*s)[1].tensor.dims(), (ir::Dims{4}));
  EXPECT_EQ(bound->describe(),
            "2 random samples (seed 3; floats in [-1, 2.5), integers in [-1, 2])");

  // A dim without a name is listed by its input.
  ir::Model unnamed = load(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[?, 2] x) => (float[?, 2] y) { y = Identity(x) })");
  auto u = SampleSet::open(unnamed, {});
  ASSERT_OK(u);
  EXPECT_EQ(u->unbound_dims(), std::vector<std::string>{"(unnamed) of 'x'"});
}

TEST(Samples, OptionErrorsNameTheOption) {
  ir::Model model = load(kTwoInputs);
  SampleOptions opts;
  opts.dims = {{"batch", 2}, {"seq", 5}};
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidArgument, "--dim seq=5",
               "symbolic dimensions: batch");
  opts.dims = {{"batch", -1}};
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidArgument, "--dim batch=-1");
  opts.dims.clear();
  for (auto range : {std::pair<double, double>{1, 1}, {2, 1}, {0, INFINITY}}) {
    opts.random_range = range;
    EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidArgument, "--random-range",
                 "LOW < HIGH");
  }
  opts.random_range = {{-1e308, 1e308}};  // HIGH - LOW overflows
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidArgument, "--random-range");
  // Ranges past what a type holds give its finite values.
  opts.random_range = {{-1e300, 1e300}};
  auto wide = SampleSet::open(load(kAllTypes), opts);
  ASSERT_OK(wide);
  auto drawn = wide->get(0);
  ASSERT_OK(drawn);
  for (const auto& [name, values] : values_of(*drawn)) {
    for (double v : values) EXPECT_TRUE(std::isfinite(v)) << name;
  }
  // A range with no integer is fine for a model with float inputs only.
  ir::Model floats = load(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] x) => (float[2] y) { y = Identity(x) })");
  opts.random_range = {{0.25, 0.5}};
  auto set = SampleSet::open(floats, opts);
  ASSERT_OK(set);
  EXPECT_EQ(set->describe(), "8 random samples (seed 0; floats in [0.25, 0.5))");
  // Unsigned inputs with a negative range.
  ir::Model bytes = load(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[2] x) => (uint8[2] y) { y = Identity(x) })");
  opts.random_range = {{-5, -1}};
  EXPECT_ERROR(SampleSet::open(bytes, opts), ErrorCode::kInvalidArgument, "--random-range -5,-1",
               "'x'", "uint8");
}

TEST(Samples, NonTensorInputsAreRefused) {
  ir::Model model = load(kTwoInputs);
  auto proto = std::make_shared<onnx::ValueInfoProto>(model.graph.inputs[0].proto());
  auto* elem = proto->mutable_type()->mutable_sequence_type()->mutable_elem_type();
  elem->mutable_tensor_type()->set_elem_type(1);
  model.graph.inputs[0] = ir::ValueInfo(proto);
  EXPECT_ERROR(SampleSet::open(model, {}), ErrorCode::kUnsupported, "input 'image'",
               "only tensor inputs");
}

// ---------------------------------------------------------------------------------------------
// Labels

TEST(Samples, Labels) {
  ir::Model model = load(kTwoInputs);
  TempDir dir;
  for (int s = 0; s < 4; ++s) {
    put_npy(dir.path() / "data" / ("s" + std::to_string(s)) / "image.npy", image(1, 0));
    put_npy(dir.path() / "data" / ("s" + std::to_string(s)) / "ids.npy", ids(1, 0));
  }
  SampleOptions opts;
  opts.data_dir = dir.file("data");
  opts.labels_path = dir.file("labels.npy");

  put_npy(opts.labels_path, tensor<int64_t>({4}, {3, 1, 4, 1}));
  auto set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  EXPECT_EQ(set->labels(), (std::vector<int64_t>{3, 1, 4, 1}));

  put_npy(opts.labels_path, tensor<uint8_t>({4, 1}, {9, 2, 6, 5}));
  set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  EXPECT_EQ(set->labels(), (std::vector<int64_t>{9, 2, 6, 5}));

  // More labels than samples: only with --samples N, which takes the first N.
  put_npy(opts.labels_path, tensor<int32_t>({5}, {5, 3, 5, 8, 9}));
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "labels.npy",
               "5 labels for 4 samples");
  opts.count = 2;
  set = SampleSet::open(model, opts);
  ASSERT_OK(set);
  EXPECT_EQ(set->labels(), (std::vector<int64_t>{5, 3}));
  opts.count = 0;

  put_npy(opts.labels_path, tensor<int64_t>({3}, {1, 2, 3}));
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "labels.npy",
               "3 labels for 4 samples");
  put_npy(opts.labels_path, tensor<float>({4}, {1, 2, 3, 4}));
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "labels.npy", "float",
               "integer");
  put_npy(opts.labels_path, tensor<int64_t>({2, 2}, {1, 2, 3, 4}));
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "labels.npy",
               "shape [2, 2]");
  put_npy(opts.labels_path, tensor<uint64_t>({4}, {1, 2, 3, uint64_t{1} << 63}));
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kInvalidModel, "labels.npy", "int64");
  opts.labels_path = dir.file("nope.npy");
  EXPECT_ERROR(SampleSet::open(model, opts), ErrorCode::kNotFound, "nope.npy");
}

}  // namespace
}  // namespace compressor::io
