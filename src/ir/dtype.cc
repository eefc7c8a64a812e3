// The DType traits table, kept in sync with the enum at compile time.
#include "compressor/ir/dtype.h"

#include <array>

namespace compressor::ir {
namespace {

constexpr std::array<DTypeTraits, static_cast<size_t>(DType::kCount)> kTraits = {{
    {DType::kUndefined, "undefined", 0, false},
    {DType::kFloat, "float", 32, true},
    {DType::kUInt8, "uint8", 8, false},
    {DType::kInt8, "int8", 8, false},
    {DType::kUInt16, "uint16", 16, false},
    {DType::kInt16, "int16", 16, false},
    {DType::kInt32, "int32", 32, false},
    {DType::kInt64, "int64", 64, false},
    {DType::kString, "string", 0, false},
    {DType::kBool, "bool", 8, false},
    {DType::kFloat16, "float16", 16, true},
    {DType::kDouble, "double", 64, true},
    {DType::kUInt32, "uint32", 32, false},
    {DType::kUInt64, "uint64", 64, false},
    {DType::kComplex64, "complex64", 64, false},
    {DType::kComplex128, "complex128", 128, false},
    {DType::kBFloat16, "bfloat16", 16, true},
    {DType::kFloat8E4M3FN, "float8e4m3fn", 8, true},
    {DType::kFloat8E4M3FNUZ, "float8e4m3fnuz", 8, true},
    {DType::kFloat8E5M2, "float8e5m2", 8, true},
    {DType::kFloat8E5M2FNUZ, "float8e5m2fnuz", 8, true},
    {DType::kUInt4, "uint4", 4, false},
    {DType::kInt4, "int4", 4, false},
    {DType::kFloat4E2M1, "float4e2m1", 4, true},
}};

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < kTraits.size(); ++i) {
    if (static_cast<size_t>(kTraits[i].dtype) != i) return false;
  }
  return true;
}
static_assert(kTraits.size() == static_cast<size_t>(DType::kCount), "one traits row per DType");
static_assert(table_in_enum_order(), "traits rows must follow the DType enum order");

}  // namespace

const DTypeTraits& traits(DType dtype) { return kTraits[static_cast<size_t>(dtype)]; }

std::optional<DType> dtype_from_onnx(int32_t value) {
  if (value <= 0 || value >= static_cast<int32_t>(DType::kCount)) return std::nullopt;
  return static_cast<DType>(value);
}

size_t storage_bytes(DType dtype, int64_t count) {
  const uint64_t bits = static_cast<uint64_t>(traits(dtype).bits);
  if (count <= 0 || bits == 0) return 0;
  // Split so that no intermediate overflows for any count below 2^63.
  const uint64_t n = static_cast<uint64_t>(count);
  return static_cast<size_t>(n / 8 * bits + ((n % 8) * bits + 7) / 8);
}

}  // namespace compressor::ir
