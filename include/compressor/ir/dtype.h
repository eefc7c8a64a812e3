// Element types of ONNX tensors and their traits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace compressor::ir {

/// ONNX TensorProto.DataType values; the numbers are the wire values.
enum class DType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
  kCount = 24,
};

/// Static facts about one DType.
struct DTypeTraits {
  DType dtype;
  std::string_view name;  ///< ONNX spelling, e.g. "float", "int64".
  int bits;               ///< Storage bits of one element (0 for string and undefined).
  bool is_float;
};

/// Traits of a dtype; `dtype` must be a valid enumerator below kCount.
const DTypeTraits& traits(DType dtype);

/// Converts an ONNX wire value to a DType; nullopt for values this build does not know.
std::optional<DType> dtype_from_onnx(int32_t value);

/// Bytes needed to store `count` elements (4-bit types pack two per byte); 0 for strings.
size_t storage_bytes(DType dtype, int64_t count);

inline std::string_view dtype_name(DType dtype) { return traits(dtype).name; }

/// Maps a C++ element type to its DType.
template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kFloat;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::kDouble;
};
template <>
struct DTypeOf<int8_t> {
  static constexpr DType value = DType::kInt8;
};
template <>
struct DTypeOf<uint8_t> {
  static constexpr DType value = DType::kUInt8;
};
template <>
struct DTypeOf<int16_t> {
  static constexpr DType value = DType::kInt16;
};
template <>
struct DTypeOf<uint16_t> {
  static constexpr DType value = DType::kUInt16;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::kInt32;
};
template <>
struct DTypeOf<uint32_t> {
  static constexpr DType value = DType::kUInt32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::kInt64;
};
template <>
struct DTypeOf<uint64_t> {
  static constexpr DType value = DType::kUInt64;
};
template <>
struct DTypeOf<bool> {
  static constexpr DType value = DType::kBool;
};

}  // namespace compressor::ir
