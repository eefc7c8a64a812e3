// Helpers for kernels that move elements without looking at their values (copy by storage
// size, so bool, float16 and every other fixed-size dtype share one code path; strings are
// moved as std::string), and a dispatch over the value types arithmetic kernels support.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernel_util.h"

namespace compressor::kernels {

/// A 16-byte element (complex128), moved as a unit.
struct Bytes16 {
  uint64_t lo, hi;
};

/// Calls fn(T{}) with T a type of the dtype's storage size (std::string for strings).
template <typename Fn>
Status dispatch_storage(DType dtype, const KernelContext& ctx, Fn&& fn) {
  if (dtype == DType::kString) return fn(std::string{});
  if (dtype != DType::kUndefined && dtype < DType::kCount) {
    switch (ir::traits(dtype).bits) {
      case 8:
        return fn(uint8_t{});
      case 16:
        return fn(uint16_t{});
      case 32:
        return fn(uint32_t{});
      case 64:
        return fn(uint64_t{});
      case 128:
        return fn(Bytes16{});
      default:
        break;
    }
  }
  return ctx.error("unsupported data type " + std::string(ir::dtype_name(dtype)) +
                   " for data movement");
}

/// True when dispatch_storage can move elements of `dtype`.
inline bool movable(DType dtype) {
  if (dtype == DType::kString) return true;
  if (dtype == DType::kUndefined || dtype >= DType::kCount) return false;
  const int bits = ir::traits(dtype).bits;
  return bits == 8 || bits == 16 || bits == 32 || bits == 64 || bits == 128;
}

/// The elements of `t` read as storage type T (std::string for string tensors).
template <typename T>
const T* elems(const Tensor& t) {
  if constexpr (std::is_same_v<T, std::string>) {
    return t.strings().data();
  } else {
    return reinterpret_cast<const T*>(t.data());
  }
}

/// An output tensor being filled element by element.
template <typename T>
class Out {
 public:
  /// Zero-filled (empty strings); `zero` false leaves the bytes unfilled, for callers that
  /// write every element.
  Out(DType dtype, Dims dims, bool zero = true) : dims_(std::move(dims)) {
    if constexpr (std::is_same_v<T, std::string>) {
      strings_.resize(static_cast<size_t>(ir::element_count(dims_)));
    } else {
      t_ = zero ? Tensor::zeros(dtype, dims_) : Tensor::uninitialized(dtype, dims_);
    }
  }
  /// Starts from the elements of `src` (the bytes are copied on the first write).
  explicit Out(const Tensor& src) : dims_(src.dims()) {
    if constexpr (std::is_same_v<T, std::string>) {
      strings_ = src.strings();
    } else {
      t_ = src;
    }
  }
  T* data() {
    if constexpr (std::is_same_v<T, std::string>) {
      return strings_.data();
    } else {
      return reinterpret_cast<T*>(t_.mutable_data());
    }
  }
  Tensor finish() {
    if constexpr (std::is_same_v<T, std::string>) {
      return Tensor::from_strings(std::move(dims_), std::move(strings_));
    } else {
      return std::move(t_);
    }
  }

 private:
  Dims dims_;
  Tensor t_;
  std::vector<std::string> strings_;
};

/// Calls fn(T{}) with T the value type of every numeric dtype, bool, float16 and bfloat16.
template <typename Fn>
Status dispatch_value(DType dtype, const KernelContext& ctx, Fn&& fn) {
  switch (dtype) {
    case DType::kBool:
      return fn(bool{});
    case DType::kFloat16:
      return fn(Eigen::half{});
    case DType::kBFloat16:
      return fn(Eigen::bfloat16{});
    default:
      return dispatch_numeric(dtype, ctx, std::forward<Fn>(fn));
  }
}

}  // namespace compressor::kernels
