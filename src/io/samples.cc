// Sample data: NumPy .npy files, sample folders (one sub-folder per sample, the ONNX
// test_data_set_N layout, or one folder holding the files of a single sample) and seeded random
// inputs drawn from the declared input types.
#include "compressor/io/samples.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string_view>

#include "compressor/io/files.h"

namespace compressor::io {
namespace fs = std::filesystem;
using ir::DType;

static_assert(std::endian::native == std::endian::little,
              ".npy data is little-endian and read without byte swapping");

namespace {

// ---------------------------------------------------------------------------------------------
// .npy

constexpr std::string_view kNpyMagic("\x93NUMPY", 6);
/// Headers are a few hundred bytes; anything far larger is a corrupt length field.
constexpr size_t kMaxNpyHeader = 1 << 20;

struct NpyType {
  DType dtype;
  char kind;  // NumPy kind character: b, i, u, f
  int size;   // bytes per element
};
constexpr NpyType kNpyTypes[] = {
    {DType::kBool, 'b', 1},    {DType::kInt8, 'i', 1},   {DType::kUInt8, 'u', 1},
    {DType::kInt16, 'i', 2},   {DType::kUInt16, 'u', 2}, {DType::kInt32, 'i', 4},
    {DType::kUInt32, 'u', 4},  {DType::kInt64, 'i', 8},  {DType::kUInt64, 'u', 8},
    {DType::kFloat16, 'f', 2}, {DType::kFloat, 'f', 4},  {DType::kDouble, 'f', 8},
};

/// The NumPy descr for a dtype ("<f4", "|u1"), or empty when .npy has no equivalent.
std::string npy_descr(DType dtype) {
  for (const auto& t : kNpyTypes) {
    if (t.dtype == dtype) {
      return std::string(1, t.size == 1 ? '|' : '<') + t.kind + std::to_string(t.size);
    }
  }
  return {};
}

/// The parsed header dict of a .npy file.
struct NpyHeader {
  std::string descr;
  bool structured = false;  // descr was a list of fields
  bool fortran_order = false;
  ir::Dims shape;
};

/// A message-safe excerpt of a header (one line, bounded).
std::string header_excerpt(std::string_view header) {
  std::string out;
  for (char c : header.substr(0, 120)) {
    out += (c == '\n' || c == '\r' || c == '\t' || static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (header.size() > 120) out += "...";
  return out;
}

/// Parses the Python dict literal of a .npy header:
/// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class NpyHeaderParser {
 public:
  explicit NpyHeaderParser(std::string_view text) : s_(text) {}

  /// Fills `out`; on failure returns false with `error` saying what was wrong.
  bool parse(NpyHeader* out, std::string* error) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    if (!eat('{')) return fail("expected '{'", error);
    for (;;) {
      skip_ws();
      if (eat('}')) break;
      std::string key;
      if (!parse_string(&key)) return fail("expected a quoted key", error);
      skip_ws();
      if (!eat(':')) return fail("expected ':' after '" + key + "'", error);
      skip_ws();
      if (key == "descr") {
        if (have_descr) return fail("'descr' given twice", error);
        have_descr = true;
        if (peek() == '[') {
          out->structured = true;
          if (!skip_nested()) return fail("unterminated 'descr' list", error);
        } else if (!parse_string(&out->descr)) {
          return fail("'descr' is not a string", error);
        }
      } else if (key == "fortran_order") {
        if (have_order) return fail("'fortran_order' given twice", error);
        have_order = true;
        if (!parse_bool(&out->fortran_order)) {
          return fail("'fortran_order' is not True or False", error);
        }
      } else if (key == "shape") {
        if (have_shape) return fail("'shape' given twice", error);
        have_shape = true;
        if (!parse_shape(&out->shape)) {
          return fail("'shape' is not a tuple of non-negative integers", error);
        }
      } else {
        return fail("unexpected key '" + key + "'", error);
      }
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat('}')) break;
      return fail("expected ',' or '}' after '" + key + "'", error);
    }
    skip_ws();
    if (pos_ != s_.size()) return fail("unexpected text after the dict", error);
    if (!have_descr || !have_order || !have_shape) {
      return fail(std::string("missing key '") +
                      (!have_descr   ? "descr"
                       : !have_order ? "fortran_order"
                                     : "shape") +
                      "'",
                  error);
    }
    return true;
  }

 private:
  static bool fail(const std::string& what, std::string* error) {
    *error = what;
    return false;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void skip_ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool parse_string(std::string* out) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') return false;
    const size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) return false;
    *out = std::string(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return true;
  }
  bool parse_bool(bool* out) {
    for (auto [word, value] : {std::pair{std::string_view("True"), true}, {"False", false}}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        *out = value;
        return true;
      }
    }
    return false;
  }
  bool parse_int(int64_t* out) {
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return false;
    int64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      const int digit = s_[pos_] - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) return false;
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;  // written by Python 2
    *out = v;
    return true;
  }
  /// "()", "(5,)", "(2, 3)", also "[2, 3]".
  bool parse_shape(ir::Dims* out) {
    const char close = peek() == '(' ? ')' : peek() == '[' ? ']' : '\0';
    if (close == '\0') return false;
    ++pos_;
    for (;;) {
      skip_ws();
      if (eat(close)) return true;
      int64_t d = 0;
      if (!parse_int(&d)) return false;
      out->push_back(d);
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat(close)) return true;
      return false;
    }
  }
  /// Skips a bracketed value (a structured descr), honouring quotes.
  bool skip_nested() {
    int depth = 0;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '\'' || c == '"') {
        std::string ignored;
        if (!parse_string(&ignored)) return false;
        continue;
      }
      ++pos_;
      if (c == '[' || c == '(') ++depth;
      if ((c == ']' || c == ')') && --depth == 0) return true;
    }
    return false;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

/// Maps a NumPy descr to a dtype, or explains why it cannot be read.
StatusOr<DType> dtype_from_descr(const std::string& descr, const std::string& path) {
  const std::string what = path + ": dtype '" + descr + "'";
  std::string_view d = descr;
  char order = '=';
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
    order = d[0];
    d.remove_prefix(1);
  }
  if (d.empty()) return invalid_model(what + " is malformed");
  const char kind = d[0];
  switch (kind) {
    case 'O':
      return unsupported(what + ": object arrays are not supported");
    case 'U':
    case 'S':
    case 'a':
      return unsupported(what + ": string arrays are not supported");
    case 'V':
      return unsupported(what + ": structured (void) arrays are not supported");
    case 'c':
      return unsupported(what + ": complex arrays are not supported");
    case 'M':
    case 'm':
      return unsupported(what + ": datetime arrays are not supported");
    default:
      break;
  }
  int size = 0;
  const std::string_view digits = d.substr(1);
  if (digits.empty() || digits.size() > 2 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return unsupported(what + " is not supported");
  }
  for (char c : digits) size = size * 10 + (c - '0');
  for (const auto& t : kNpyTypes) {
    if (t.kind != kind || t.size != size) continue;
    if (order == '>' && size > 1) {
      return unsupported(what + ": big-endian data is not supported (save it with " +
                         "arr.astype(arr.dtype.newbyteorder('<')))");
    }
    return t.dtype;
  }
  return unsupported(what +
                     " is not supported (bool, int8-64, uint8-64, float16, float32, float64)");
}

/// Element count and byte size of a shape, or an error on overflow.
bool checked_size(const ir::Dims& dims, size_t elem_bytes, int64_t* count, uint64_t* bytes) {
  uint64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return false;
    const auto ud = static_cast<uint64_t>(d);
    if (ud != 0 && n > (uint64_t{1} << 62) / ud) return false;
    n *= ud;
  }
  if (n != 0 && n > (uint64_t{1} << 62) / elem_bytes) return false;
  *count = static_cast<int64_t>(n);
  *bytes = n * elem_bytes;
  return true;
}

std::string shape_repr(const ir::Dims& dims) {
  std::string out = "(";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  if (dims.size() == 1) out += ",";
  return out + ")";
}

}  // namespace

StatusOr<ir::Tensor> read_npy(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return not_found(path + ": no such file");
  if (!fs::is_regular_file(status)) return invalid_argument(path + ": is not a regular file");
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) return io_error(path + ": cannot read its size: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open");

  char prefix[12] = {};
  if (file_size < 10 || !in.read(prefix, 10) ||
      std::string_view(prefix, kNpyMagic.size()) != kNpyMagic) {
    return invalid_model(path + ": not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = static_cast<unsigned char>(prefix[6]);
  const int minor = static_cast<unsigned char>(prefix[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return unsupported(path + ": .npy format version " + std::to_string(major) + "." +
                       std::to_string(minor) + " is not supported (1.0, 2.0, 3.0)");
  }
  uint64_t header_len = 0;
  size_t prefix_len = 10;
  if (major == 1) {
    header_len = static_cast<unsigned char>(prefix[8]) |
                 (static_cast<uint64_t>(static_cast<unsigned char>(prefix[9])) << 8);
  } else {
    prefix_len = 12;
    if (!in.read(prefix + 10, 2)) return invalid_model(path + ": truncated .npy header");
    for (int i = 0; i < 4; ++i) {
      header_len |= static_cast<uint64_t>(static_cast<unsigned char>(prefix[8 + i])) << (8 * i);
    }
  }
  if (header_len > kMaxNpyHeader || prefix_len + header_len > file_size) {
    return invalid_model(path + ": .npy header length " + std::to_string(header_len) +
                         " runs past the end of the file (" + std::to_string(file_size) +
                         " bytes)");
  }
  std::string header(header_len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_len))) {
    return io_error(path + ": cannot read the .npy header");
  }

  NpyHeader h;
  std::string why;
  if (!NpyHeaderParser(header).parse(&h, &why)) {
    return invalid_model(path + ": malformed .npy header (" + why + "): " + header_excerpt(header));
  }
  if (h.structured) return unsupported(path + ": structured arrays are not supported");
  COMPRESSOR_ASSIGN_OR_RETURN(DType dtype, dtype_from_descr(h.descr, path));
  if (h.fortran_order) {
    return unsupported(path + ": Fortran-order arrays are not supported (save it with " +
                       "np.ascontiguousarray(arr))");
  }
  const size_t elem_bytes = storage_bytes(dtype, 1);
  int64_t count = 0;
  uint64_t bytes = 0;
  if (!checked_size(h.shape, elem_bytes, &count, &bytes)) {
    return invalid_model(path + ": shape " + shape_repr(h.shape) + " is too large");
  }
  const uint64_t available = file_size - prefix_len - header_len;
  if (available != bytes) {
    return invalid_model(path + ": the header declares " + std::string(ir::dtype_name(dtype)) +
                         ir::dims_to_string(h.shape) + " (" + std::to_string(bytes) +
                         " bytes of data) but the file holds " + std::to_string(available) +
                         " bytes (" + (available < bytes ? "truncated" : "trailing bytes") + ")");
  }
  ir::Tensor t = ir::Tensor::uninitialized(dtype, h.shape);
  if (bytes > 0) {
    auto* data = reinterpret_cast<char*>(t.mutable_data());
    if (!in.read(data, static_cast<std::streamsize>(bytes))) {
      return io_error(path + ": cannot read the .npy data");
    }
    if (dtype == DType::kBool) {
      const auto* b = reinterpret_cast<const unsigned char*>(data);
      const auto* bad = std::find_if(b, b + bytes, [](unsigned char v) { return v > 1; });
      if (bad != b + bytes) {
        return invalid_model(path + ": bool element " + std::to_string(bad - b) + " is byte " +
                             std::to_string(*bad) + ", not 0 or 1");
      }
    }
  }
  return t;
}

Status write_npy(const ir::Tensor& tensor, const std::string& path) {
  const std::string descr = npy_descr(tensor.dtype());
  if (descr.empty()) {
    return unsupported(path + ": " +
                       std::string(tensor.dtype() == DType::kUndefined
                                       ? "undefined"
                                       : ir::dtype_name(tensor.dtype())) +
                       " tensors cannot be written as .npy");
  }
  // The header NumPy writes: sorted keys, spare room for the first axis to grow, padded with
  // spaces and a newline so the data starts at a multiple of 64 bytes.
  std::string header = "{'descr': '" + descr +
                       "', 'fortran_order': False, 'shape': " + shape_repr(tensor.dims()) + ", }";
  if (!tensor.dims().empty()) {
    const size_t digits = std::to_string(tensor.dims()[0]).size();
    header.append(digits < 21 ? 21 - digits : 0, ' ');
  }
  const size_t unpadded = kNpyMagic.size() + 2 + 2 + header.size() + 1;
  header.append(64 - unpadded % 64, ' ');
  header += '\n';
  if (header.size() > 0xffff) {
    return unsupported(path + ": a rank-" + std::to_string(tensor.rank()) +
                       " tensor's header does not fit a version 1.0 .npy file");
  }
  char prefix[10];
  std::memcpy(prefix, kNpyMagic.data(), kNpyMagic.size());
  prefix[6] = 1;
  prefix[7] = 0;
  prefix[8] = static_cast<char>(header.size() & 0xff);
  prefix[9] = static_cast<char>(header.size() >> 8);
  std::error_code ec;
  if (fs::is_directory(path, ec)) return invalid_argument(path + ": is a directory");
  return write_file_atomic(
      path, {std::string_view(prefix, sizeof(prefix)), header,
             std::string_view(reinterpret_cast<const char*>(tensor.data()), tensor.nbytes())});
}

// ---------------------------------------------------------------------------------------------
// Declared inputs and random data

std::vector<const ir::ValueInfo*> user_inputs(const ir::Model& model) {
  std::vector<const ir::ValueInfo*> out;
  for (const auto& v : model.graph.inputs) {
    if (model.graph.find_initializer(v.name()) == nullptr) out.push_back(&v);
  }
  return out;
}

Status check_input_tensor(const ir::Tensor& tensor, const ir::ValueInfo& declared,
                          const std::string& from, const std::map<std::string, int64_t>& dims) {
  const std::string what = from + ": input '" + declared.name() + "': ";
  if (declared.dtype() != DType::kUndefined && tensor.dtype() != declared.dtype()) {
    return invalid_model(what + "dtype " + std::string(ir::dtype_name(tensor.dtype())) +
                         " does not match the declared " + declared.type_string());
  }
  if (!declared.has_shape()) return ok_status();
  const auto shape = declared.shape();
  bool ok = shape.size() == tensor.dims().size();
  for (size_t i = 0; ok && i < shape.size(); ++i) {
    if (shape[i].value) {
      ok = *shape[i].value == tensor.dims()[i];
    } else if (!shape[i].param.empty()) {
      auto it = dims.find(shape[i].param);
      ok = it == dims.end() || it->second == tensor.dims()[i];
    }
  }
  if (!ok) {
    return invalid_model(what + "shape " + ir::dims_to_string(tensor.dims()) +
                         " does not match the declared " + declared.type_string());
  }
  return ok_status();
}

std::mt19937_64 sample_rng(uint64_t seed, uint64_t sample) {
  std::mt19937_64 rng(seed);
  if (sample > 0) {
    std::seed_seq seq{seed, sample};
    rng.seed(seq);
  }
  return rng;
}

namespace {

constexpr std::pair<double, double> kDefaultRange{0.0, 1.0};
constexpr int64_t kDefaultIntLow = 0;
constexpr int64_t kDefaultIntHigh = 9;
/// Integer bounds are kept within +-2^53, where doubles are exact.
constexpr double kMaxExactInt = 9007199254740992.0;

/// A shortest round-trip rendering of a range bound ("0", "0.5", "-1e+30").
std::string number(double v) {
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string range_option(const std::pair<double, double>& r) {
  return "--random-range " + number(r.first) + "," + number(r.second);
}

Status check_range(const std::pair<double, double>& r) {
  if (!std::isfinite(r.second - r.first) || r.first >= r.second) {
    return invalid_argument(range_option(r) + ": expected LOW,HIGH with finite LOW < HIGH");
  }
  return ok_status();
}

/// [ceil(low), floor(high)] for integer data, clipped to [lo_limit, hi_limit]; false when empty.
bool integer_range(const std::optional<std::pair<double, double>>& range, double lo_limit,
                   double hi_limit, int64_t* lo, int64_t* hi) {
  if (!range) {
    *lo = kDefaultIntLow;
    *hi = kDefaultIntHigh;
  } else {
    const double l = std::max({std::ceil(range->first), lo_limit, -kMaxExactInt});
    const double h = std::min({std::floor(range->second), hi_limit, kMaxExactInt});
    if (l > h) return false;
    *lo = static_cast<int64_t>(l);
    *hi = static_cast<int64_t>(h);
  }
  return *lo <= *hi;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const int exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -24);
  } else if (exp == 31) {
    v = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    v = std::ldexp(static_cast<float>(mant | 0x400), exp - 25);
  }
  return sign ? -v : v;
}

/// IEEE half nearest to a finite float (ties to even); overflows to infinity.
uint16_t half_from_float(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const float a = std::fabs(f);
  if (a >= 65520.0f) return sign | 0x7c00;  // rounds past the largest half, 65504
  if (a < std::ldexp(1.0f, -14)) {          // subnormal: a multiple of 2^-24
    return sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(a, 24)));
  }
  int e = 0;
  const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  auto mant = static_cast<uint32_t>(std::nearbyint(std::ldexp(m, 11)));  // 1024..2048
  if (mant == 2048) {
    mant = 1024;
    ++e;
  }
  return sign | static_cast<uint16_t>(((e + 14) << 10) | (mant - 1024));
}

/// The next half value above (`up`) or below a half.
uint16_t next_half(uint16_t h, bool up) {
  const bool negative = h & 0x8000;
  if ((h & 0x7fff) == 0) return up ? 0x0001 : 0x8001;
  return (negative != up) ? h + 1 : h - 1;
}

/// Fills a floating tensor with values uniform in [range) of the element type, rounding into
/// the range where the conversion to a narrower type would leave it.
template <typename T>
Status fill_real(ir::Tensor& t, const std::pair<double, double>& range, std::mt19937_64& rng,
                 const std::string& input) {
  std::uniform_real_distribution<double> real(range.first, range.second);
  // Bounds of the range in T; draws are clamped to them in double before the conversion, so
  // rounding never leaves the range (and no out-of-range double is converted).
  if constexpr (std::is_same_v<T, uint16_t>) {  // float16
    uint16_t lo = half_from_float(static_cast<float>(std::clamp(range.first, -1e5, 1e5)));
    while (half_to_float(lo) < range.first) lo = next_half(lo, true);
    uint16_t hi = half_from_float(static_cast<float>(std::clamp(range.second, -1e5, 1e5)));
    while (half_to_float(hi) >= range.second) hi = next_half(hi, false);
    const double lo_v = half_to_float(lo), hi_v = half_to_float(hi);
    if (!(lo_v <= hi_v)) {
      return invalid_argument(range_option(range) + ": no float16 value in range for input '" +
                              input + "'");
    }
    for (auto& x : t.mutable_span<uint16_t>()) {
      x = half_from_float(static_cast<float>(std::clamp(real(rng), lo_v, hi_v)));
    }
  } else {
    constexpr double kMax = std::numeric_limits<T>::max();
    constexpr T kInf = std::numeric_limits<T>::infinity();
    T lo = static_cast<T>(std::clamp(range.first, -kMax, kMax));
    if (lo < range.first) lo = std::nextafter(lo, kInf);
    T hi = static_cast<T>(std::clamp(range.second, -kMax, kMax));
    while (hi >= range.second) hi = std::nextafter(hi, -kInf);
    if (!(lo <= hi)) {
      return invalid_argument(range_option(range) + ": no " +
                              std::string(ir::dtype_name(t.dtype())) +
                              " value in range for input '" + input + "'");
    }
    const double lo_v = lo, hi_v = hi;
    for (auto& x : t.mutable_span<T>()) x = static_cast<T>(std::clamp(real(rng), lo_v, hi_v));
  }
  return ok_status();
}

/// The values an integer dtype holds, as doubles.
std::pair<double, double> int_limits(DType dtype) {
  switch (dtype) {
    case DType::kInt8:
      return {-128.0, 127.0};
    case DType::kUInt8:
      return {0.0, 255.0};
    case DType::kInt16:
      return {-32768.0, 32767.0};
    case DType::kUInt16:
      return {0.0, 65535.0};
    case DType::kInt32:
      return {-2147483648.0, 2147483647.0};
    case DType::kUInt32:
      return {0.0, 4294967295.0};
    case DType::kUInt64:
      return {0.0, kMaxExactInt};
    default:
      return {-kMaxExactInt, kMaxExactInt};
  }
}

template <typename T>
Status fill_int(ir::Tensor& t, const std::optional<std::pair<double, double>>& range,
                std::mt19937_64& rng, const std::string& input) {
  int64_t lo = 0, hi = 0;
  const auto [lo_limit, hi_limit] = int_limits(t.dtype());
  if (!integer_range(range, lo_limit, hi_limit, &lo, &hi)) {
    return invalid_argument(range_option(*range) + ": no " +
                            std::string(ir::dtype_name(t.dtype())) + " value in range for input '" +
                            input + "'");
  }
  std::uniform_int_distribution<int64_t> integer(lo, hi);
  for (auto& x : t.mutable_span<T>()) x = static_cast<T>(integer(rng));
  return ok_status();
}

/// The shape random data takes for a declared input: fixed dims as declared, symbolic ones
/// from `dims` or 1 (appended to `unbound` once each).
ir::Dims random_shape(const ir::ValueInfo& v, const std::map<std::string, int64_t>& dims,
                      std::vector<std::string>* unbound) {
  ir::Dims shape;
  if (!v.has_shape()) return shape;
  for (const auto& d : v.shape()) {
    if (d.value) {
      shape.push_back(*d.value);
      continue;
    }
    auto it = d.param.empty() ? dims.end() : dims.find(d.param);
    if (it != dims.end()) {
      shape.push_back(it->second);
      continue;
    }
    const std::string name = d.param.empty() ? "(unnamed) of '" + v.name() + "'" : d.param;
    if (unbound && std::find(unbound->begin(), unbound->end(), name) == unbound->end()) {
      unbound->push_back(name);
    }
    shape.push_back(1);
  }
  return shape;
}

}  // namespace

StatusOr<ir::Tensor> random_input(const ir::ValueInfo& declared,
                                  const std::map<std::string, int64_t>& dims,
                                  const std::optional<std::pair<double, double>>& range,
                                  std::mt19937_64& rng, std::vector<std::string>* unbound) {
  if (!declared.is_tensor()) {
    return unsupported("input '" + declared.name() + "' has type " + declared.type_string() +
                       "; only tensor inputs can be generated");
  }
  if (range) COMPRESSOR_RETURN_IF_ERROR(check_range(*range));
  const DType dtype = declared.dtype() == DType::kUndefined ? DType::kFloat : declared.dtype();
  if (npy_descr(dtype).empty()) {
    return unsupported("input '" + declared.name() + "': cannot generate random " +
                       std::string(ir::dtype_name(dtype)) + " data");
  }
  ir::Tensor t = ir::Tensor::uninitialized(dtype, random_shape(declared, dims, unbound));
  const auto real_range = range.value_or(kDefaultRange);
  const std::string& name = declared.name();
  switch (dtype) {
    case DType::kFloat:
      COMPRESSOR_RETURN_IF_ERROR(fill_real<float>(t, real_range, rng, name));
      break;
    case DType::kDouble:
      COMPRESSOR_RETURN_IF_ERROR(fill_real<double>(t, real_range, rng, name));
      break;
    case DType::kFloat16:
      COMPRESSOR_RETURN_IF_ERROR(fill_real<uint16_t>(t, real_range, rng, name));
      break;
    case DType::kInt64:
      COMPRESSOR_RETURN_IF_ERROR(fill_int<int64_t>(t, range, rng, name));
      break;
    case DType::kInt32:
      COMPRESSOR_RETURN_IF_ERROR(fill_int<int32_t>(t, range, rng, name));
      break;
    case DType::kInt16:
      COMPRESSOR_RETURN_IF_ERROR(fill_int<int16_t>(t, range, rng, name));
      break;
    case DType::kInt8:
      COMPRESSOR_RETURN_IF_ERROR(fill_int<int8_t>(t, range, rng, name));
      break;
    case DType::kUInt8:
      COMPRESSOR_RETURN_IF_ERROR(fill_int<uint8_t>(t, range, rng, name));
      break;
    case DType::kUInt16:
      COMPRESSOR_RETURN_IF_ERROR(fill_int<uint16_t>(t, range, rng, name));
      break;
    case DType::kUInt32:
      COMPRESSOR_RETURN_IF_ERROR(fill_int<uint32_t>(t, range, rng, name));
      break;
    case DType::kUInt64:
      COMPRESSOR_RETURN_IF_ERROR(fill_int<uint64_t>(t, range, rng, name));
      break;
    case DType::kBool: {
      // Half of [0, 9] is odd: the stream `exec --seed` has always drawn for bool inputs.
      std::uniform_int_distribution<int64_t> integer(kDefaultIntLow, kDefaultIntHigh);
      for (auto& x : t.mutable_span<uint8_t>()) x = static_cast<uint8_t>(integer(rng) % 2);
      break;
    }
    default:
      return internal_error("random_input: unhandled dtype");
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// SampleSet

namespace {

enum class Layout {
  kRandom,
  kTestDataSets,  // DIR/test_data_set_*/input_K.pb
  kFolders,       // DIR/<sample>/<input>.npy|.pb
  kSingle,        // DIR/input_K.pb or DIR/<input>.npy|.pb
};

/// Natural order: digit runs compare as numbers ("s2" < "s10"), then plain order breaks ties.
bool natural_less(const std::string& a, const std::string& b) {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && is_digit(a[ie])) ++ie;
      while (je < b.size() && is_digit(b[je])) ++je;
      size_t iz = i, jz = j;  // skip leading zeros
      while (iz + 1 < ie && a[iz] == '0') ++iz;
      while (jz + 1 < je && b[jz] == '0') ++jz;
      if (ie - iz != je - jz) return ie - iz < je - jz;
      const int c = a.compare(iz, ie - iz, b, jz, je - jz);
      if (c != 0) return c < 0;
      i = ie;
      j = je;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  if ((a.size() - i) != (b.size() - j)) return a.size() - i < b.size() - j;
  return a < b;
}

/// The entries of a folder, split into sub-folders and regular files, each in natural order.
Status list_folder(const fs::path& dir, std::vector<std::string>* folders,
                   std::vector<std::string>* files) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) return io_error(dir.string() + ": cannot list: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return io_error(dir.string() + ": cannot list: " + ec.message());
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;  // hidden files and folders
    std::error_code sec;
    if (it->is_directory(sec)) {
      if (folders) folders->push_back(name);
    } else if (it->is_regular_file(sec)) {
      if (files) files->push_back(name);
    }
  }
  if (folders) std::sort(folders->begin(), folders->end(), natural_less);
  if (files) std::sort(files->begin(), files->end(), natural_less);
  return ok_status();
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

struct SampleSet::Impl {
  std::vector<ir::ValueInfo> inputs;  // the model's user inputs, in order
  SampleOptions options;
  Layout layout = Layout::kRandom;
  size_t available = 0;  // samples the folder holds, before --samples
  /// For folder layouts: per sample, per input, the file to read.
  std::vector<std::vector<std::string>> files;
  size_t random_count = 0;
  std::vector<int64_t> labels;
  std::vector<std::string> unbound;

  size_t size() const { return layout == Layout::kRandom ? random_count : files.size(); }

  /// Input names as files spell them: '/' becomes '_'.
  std::string file_stem(const ir::ValueInfo& v) const {
    std::string s = v.name();
    std::replace(s.begin(), s.end(), '/', '_');
    return s;
  }
  std::string input_names() const {
    std::vector<std::string> names;
    for (const auto& v : inputs) names.push_back(v.name());
    return names.empty() ? "the model has no inputs" : "inputs: " + join(names);
  }

  Status open_folder();
  Status add_indexed_sample(const fs::path& dir);
  Status add_named_sample(const fs::path& dir, const std::vector<std::string>& file_names);
  Status read_labels();
};

Status SampleSet::Impl::add_indexed_sample(const fs::path& dir) {
  std::vector<std::string> paths;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const fs::path p = dir / ("input_" + std::to_string(k) + ".pb");
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) {
      return invalid_model(dir.string() + ": no " + p.filename().string() + " for input '" +
                           inputs[k].name() + "'");
    }
    paths.push_back(p.string());
  }
  std::error_code ec;
  const fs::path extra = dir / ("input_" + std::to_string(inputs.size()) + ".pb");
  if (fs::exists(extra, ec)) {
    return invalid_model(extra.string() + ": the model has only " +
                         plural(inputs.size(), "input", "inputs") + " (" + input_names() + ")");
  }
  files.push_back(std::move(paths));
  return ok_status();
}

Status SampleSet::Impl::add_named_sample(const fs::path& dir,
                                         const std::vector<std::string>& file_names) {
  std::vector<std::string> paths(inputs.size());
  for (const auto& name : file_names) {
    const fs::path p(name);
    const std::string ext = p.extension().string();
    if (ext != ".npy" && ext != ".pb") continue;  // notes, images, other tools' files
    const std::string stem = p.stem().string();
    size_t k = 0;
    while (k < inputs.size() && file_stem(inputs[k]) != stem) ++k;
    if (k == inputs.size()) {
      return invalid_model((dir / name).string() + ": names no input of the model (" +
                           input_names() + ")");
    }
    if (!paths[k].empty()) {
      return invalid_model(dir.string() + ": input '" + inputs[k].name() + "' is given twice (" +
                           fs::path(paths[k]).filename().string() + " and " + name + ")");
    }
    paths[k] = (dir / name).string();
  }
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (paths[k].empty()) {
      return invalid_model(dir.string() + ": no file for input '" + inputs[k].name() +
                           "' (expected " + file_stem(inputs[k]) + ".npy or .pb)");
    }
  }
  files.push_back(std::move(paths));
  return ok_status();
}

Status SampleSet::Impl::open_folder() {
  const std::string& dir = options.data_dir;
  std::error_code ec;
  const auto st = fs::status(dir, ec);
  if (!fs::exists(st)) return not_found(dir + ": no such folder (--data)");
  if (!fs::is_directory(st)) return invalid_argument(dir + ": is not a folder (--data)");

  // Two input names that map to one file name would make the named layouts ambiguous.
  for (size_t a = 0; a < inputs.size(); ++a) {
    for (size_t b = a + 1; b < inputs.size(); ++b) {
      if (file_stem(inputs[a]) == file_stem(inputs[b])) {
        return invalid_model("inputs '" + inputs[a].name() + "' and '" + inputs[b].name() +
                             "' both read from " + file_stem(inputs[a]) + ".npy");
      }
    }
  }

  std::vector<std::string> folders, top_files;
  COMPRESSOR_RETURN_IF_ERROR(list_folder(dir, &folders, &top_files));
  std::vector<std::string> test_sets;
  for (const auto& f : folders) {
    if (f.rfind("test_data_set_", 0) == 0) test_sets.push_back(f);
  }
  if (!test_sets.empty()) {
    layout = Layout::kTestDataSets;
    for (const auto& f : test_sets) {
      COMPRESSOR_RETURN_IF_ERROR(add_indexed_sample(fs::path(dir) / f));
    }
  } else if (!folders.empty()) {
    layout = Layout::kFolders;
    for (const auto& f : folders) {
      std::vector<std::string> names;
      const fs::path sub = fs::path(dir) / f;
      COMPRESSOR_RETURN_IF_ERROR(list_folder(sub, nullptr, &names));
      COMPRESSOR_RETURN_IF_ERROR(add_named_sample(sub, names));
    }
  } else {
    const bool indexed =
        std::find(top_files.begin(), top_files.end(), "input_0.pb") != top_files.end() &&
        std::none_of(inputs.begin(), inputs.end(),
                     [&](const ir::ValueInfo& v) { return file_stem(v) == "input_0"; });
    const bool any_data = std::any_of(top_files.begin(), top_files.end(), [](const auto& n) {
      const std::string ext = fs::path(n).extension().string();
      return ext == ".npy" || ext == ".pb";
    });
    if (!any_data) {
      return invalid_model(dir +
                           ": no samples (expected test_data_set_* folders, one folder per "
                           "sample holding <input name>.npy or .pb, or those files themselves)");
    }
    layout = Layout::kSingle;
    if (indexed) {
      COMPRESSOR_RETURN_IF_ERROR(add_indexed_sample(dir));
    } else {
      COMPRESSOR_RETURN_IF_ERROR(add_named_sample(dir, top_files));
    }
  }
  available = files.size();
  if (options.count > 0) {
    if (options.count > available) {
      return invalid_argument("--samples " + std::to_string(options.count) + ": " + dir +
                              " holds only " + plural(available, "sample", "samples"));
    }
    files.resize(options.count);
  }
  return ok_status();
}

Status SampleSet::Impl::read_labels() {
  const std::string& path = options.labels_path;
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor t, read_npy(path));
  const auto& d = t.dims();
  if (!(d.size() == 1 || (d.size() == 2 && d[1] == 1))) {
    return invalid_model(path + ": labels have shape " + ir::dims_to_string(d) +
                         "; expected [N] or [N, 1] class indices");
  }
  const auto n = static_cast<size_t>(d[0]);
  if (n < size()) {
    return invalid_model(path + ": " + plural(n, "label", "labels") + " for " +
                         plural(size(), "sample", "samples"));
  }
  if (n > size() && options.count == 0) {
    return invalid_model(path + ": " + plural(n, "label", "labels") + " for " +
                         plural(size(), "sample", "samples") +
                         " (with --samples N the first N labels are used)");
  }
  labels.resize(size());
  auto copy = [&](auto tag) {
    using T = decltype(tag);
    const auto values = t.span<T>();
    for (size_t i = 0; i < labels.size(); ++i) {
      if constexpr (std::is_same_v<T, uint64_t>) {
        if (values[i] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      }
      labels[i] = static_cast<int64_t>(values[i]);
    }
    return true;
  };
  bool ok = true;
  switch (t.dtype()) {
    case DType::kInt8:
      ok = copy(int8_t{});
      break;
    case DType::kUInt8:
      ok = copy(uint8_t{});
      break;
    case DType::kInt16:
      ok = copy(int16_t{});
      break;
    case DType::kUInt16:
      ok = copy(uint16_t{});
      break;
    case DType::kInt32:
      ok = copy(int32_t{});
      break;
    case DType::kUInt32:
      ok = copy(uint32_t{});
      break;
    case DType::kInt64:
      ok = copy(int64_t{});
      break;
    case DType::kUInt64:
      ok = copy(uint64_t{});
      break;
    default:
      return invalid_model(path + ": labels are " + std::string(ir::dtype_name(t.dtype())) +
                           "; expected integer class indices (e.g. arr.astype('int64'))");
  }
  if (!ok) return invalid_model(path + ": a label does not fit int64");
  return ok_status();
}

SampleSet::SampleSet() : impl_(std::make_unique<Impl>()) {}
SampleSet::SampleSet(SampleSet&&) noexcept = default;
SampleSet& SampleSet::operator=(SampleSet&&) noexcept = default;
SampleSet::~SampleSet() = default;

StatusOr<SampleSet> SampleSet::open(const ir::Model& model, const SampleOptions& options) {
  SampleSet set;
  Impl& s = *set.impl_;
  s.options = options;
  for (const ir::ValueInfo* v : user_inputs(model)) {
    if (!v->is_tensor()) {
      return unsupported("input '" + v->name() + "' has type " + v->type_string() +
                         "; only tensor inputs can be given samples");
    }
    s.inputs.push_back(*v);
  }

  // Every --dim must name a symbolic dimension of some input.
  std::vector<std::string> symbolic;
  for (const auto& v : s.inputs) {
    if (!v.has_shape()) continue;
    for (const auto& d : v.shape()) {
      if (!d.value && !d.param.empty() &&
          std::find(symbolic.begin(), symbolic.end(), d.param) == symbolic.end()) {
        symbolic.push_back(d.param);
      }
    }
  }
  for (const auto& [name, value] : options.dims) {
    if (std::find(symbolic.begin(), symbolic.end(), name) == symbolic.end()) {
      return invalid_argument("--dim " + name + "=" + std::to_string(value) +
                              ": no input has a symbolic dimension '" + name + "' (" +
                              (symbolic.empty() ? std::string("the inputs have none")
                                                : "symbolic dimensions: " + join(symbolic)) +
                              ")");
    }
    if (value < 0) {
      return invalid_argument("--dim " + name + "=" + std::to_string(value) +
                              ": a dimension cannot be negative");
    }
  }

  if (options.data_dir.empty()) {
    s.layout = Layout::kRandom;
    s.random_count = options.count > 0 ? options.count : options.default_random;
    if (options.random_range) COMPRESSOR_RETURN_IF_ERROR(check_range(*options.random_range));
    for (const auto& v : s.inputs) {
      const DType dt = v.dtype() == DType::kUndefined ? DType::kFloat : v.dtype();
      if (npy_descr(dt).empty()) {
        return unsupported("input '" + v.name() + "': cannot generate random " +
                           std::string(ir::dtype_name(dt)) + " data (give --data)");
      }
      const bool is_int = !ir::traits(dt).is_float && dt != DType::kBool;
      int64_t lo = 0, hi = 0;
      const auto [lo_limit, hi_limit] = int_limits(dt);
      if (is_int && !integer_range(options.random_range, lo_limit, hi_limit, &lo, &hi)) {
        return invalid_argument(range_option(*options.random_range) +
                                ": no integer in range for input '" + v.name() + "' (" +
                                std::string(ir::dtype_name(dt)) + ")");
      }
      random_shape(v, options.dims, &s.unbound);
    }
  } else {
    COMPRESSOR_RETURN_IF_ERROR(s.open_folder());
  }
  if (!options.labels_path.empty()) COMPRESSOR_RETURN_IF_ERROR(s.read_labels());
  return set;
}

size_t SampleSet::size() const { return impl_->size(); }

const std::vector<int64_t>& SampleSet::labels() const { return impl_->labels; }

const std::vector<std::string>& SampleSet::unbound_dims() const { return impl_->unbound; }

StatusOr<Sample> SampleSet::get(size_t i) const {
  const Impl& s = *impl_;
  if (i >= s.size()) {
    return internal_error("sample " + std::to_string(i) + " of " +
                          plural(s.size(), "sample", "samples") + " asked for");
  }
  Sample out;
  out.reserve(s.inputs.size());
  if (s.layout == Layout::kRandom) {
    std::mt19937_64 rng = sample_rng(s.options.seed, i);
    for (const auto& v : s.inputs) {
      COMPRESSOR_ASSIGN_OR_RETURN(
          ir::Tensor t, random_input(v, s.options.dims, s.options.random_range, rng, nullptr));
      out.push_back({v.name(), std::move(t)});
    }
    return out;
  }
  // A symbolic dimension must take one value across the inputs of a sample.
  struct Seen {
    int64_t value;
    size_t input;
  };
  std::map<std::string, Seen> seen;
  for (size_t k = 0; k < s.inputs.size(); ++k) {
    const ir::ValueInfo& v = s.inputs[k];
    const std::string& path = s.files[i][k];
    ir::Tensor t;
    if (fs::path(path).extension() == ".npy") {
      COMPRESSOR_ASSIGN_OR_RETURN(t, read_npy(path));
    } else {
      COMPRESSOR_ASSIGN_OR_RETURN(NamedFileTensor pb, read_tensor_pb(path));
      t = std::move(pb.tensor);
    }
    COMPRESSOR_RETURN_IF_ERROR(check_input_tensor(t, v, path, s.options.dims));
    if (v.has_shape()) {
      const auto shape = v.shape();
      for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d].value || shape[d].param.empty()) continue;
        auto [it, inserted] = seen.emplace(shape[d].param, Seen{t.dims()[d], k});
        if (inserted || it->second.value == t.dims()[d]) continue;
        return invalid_model(
            path + ": input '" + v.name() + "': dimension '" + shape[d].param + "' is " +
            std::to_string(t.dims()[d]) + " but input '" + s.inputs[it->second.input].name() +
            "' (" + s.files[i][it->second.input] + ") has " + std::to_string(it->second.value));
      }
    }
    out.push_back({v.name(), std::move(t)});
  }
  return out;
}

std::string SampleSet::describe() const {
  const Impl& s = *impl_;
  const size_t n = s.size();
  if (s.layout == Layout::kRandom) {
    const auto range = s.options.random_range.value_or(kDefaultRange);
    std::string out = plural(n, "random sample", "random samples") + " (seed " +
                      std::to_string(s.options.seed) + "; floats in [" + number(range.first) +
                      ", " + number(range.second) + ")";
    int64_t lo = 0, hi = 0;
    if (integer_range(s.options.random_range, -kMaxExactInt, kMaxExactInt, &lo, &hi)) {
      out += ", integers in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    }
    return out + ")";
  }
  std::string layout = s.layout == Layout::kTestDataSets ? "test_data_set layout"
                       : s.layout == Layout::kFolders    ? "one folder per sample"
                                                         : "one sample";
  if (n < s.available)
    layout = "first " + std::to_string(n) + " of " + std::to_string(s.available) + "; " + layout;
  return plural(n, "sample", "samples") + " from " + s.options.data_dir + " (" + layout + ")";
}

}  // namespace compressor::io
