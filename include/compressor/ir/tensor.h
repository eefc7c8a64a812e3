// Tensor: element type, dimensions and a shared, possibly borrowed or memory-mapped byte buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compressor/ir/dtype.h"

namespace compressor::ir {

/// Dimensions of a tensor; every value is >= 0.
using Dims = std::vector<int64_t>;

/// Number of elements of a tensor with these dims (1 for a scalar).
int64_t element_count(const Dims& dims);

/// Renders dims as "[1, 3, 224, 224]".
std::string dims_to_string(const Dims& dims);

/// A dense tensor. Copies share the bytes; writing through `mutable_data` first makes the bytes
/// private (copy on write), so a tensor borrowed from a mapped file or a protobuf is never changed
/// underneath its other users. String tensors keep their elements in `strings()`.
class Tensor {
 public:
  Tensor() = default;

  /// A zero-filled tensor that owns its bytes (64-byte aligned; large buffers are recycled
  /// from recently released tensors of the same size).
  static Tensor zeros(DType dtype, Dims dims);
  /// Like zeros, without filling the bytes: for kernels that write every element.
  static Tensor uninitialized(DType dtype, Dims dims);
  /// A tensor viewing `size` bytes at `data`, kept alive by `owner` (read-only until written).
  static Tensor borrow(DType dtype, Dims dims, std::shared_ptr<const void> owner,
                       const std::byte* data, size_t size);
  /// A tensor that takes ownership of `bytes` (e.g. a protobuf raw_data string moved out).
  static Tensor adopt(DType dtype, Dims dims, std::string bytes);
  /// A tensor holding a copy of `values`.
  template <typename T>
  static Tensor from_values(Dims dims, std::span<const T> values) {
    Tensor t = zeros(DTypeOf<T>::value, std::move(dims));
    if (!values.empty()) std::memcpy(t.mutable_data(), values.data(), values.size_bytes());
    return t;
  }
  /// A string tensor.
  static Tensor from_strings(Dims dims, std::vector<std::string> strings);

  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t numel() const { return element_count(dims_); }
  /// Bytes of element storage (0 for string tensors).
  size_t nbytes() const { return size_; }
  const std::byte* data() const { return data_; }
  /// Writable bytes; copies them first when they are shared or borrowed.
  std::byte* mutable_data();
  const std::vector<std::string>& strings() const { return *strings_; }

  template <typename T>
  std::span<const T> span() const {
    return {reinterpret_cast<const T*>(data_), size_ / sizeof(T)};
  }
  template <typename T>
  std::span<T> mutable_span() {
    std::byte* p = mutable_data();
    return {reinterpret_cast<T*>(p), size_ / sizeof(T)};
  }

  /// Same dtype, dims and bytes (or strings).
  bool bitwise_equal(const Tensor& other) const;
  /// A copy with new dims and the same bytes; the element count must match.
  Tensor reshaped(Dims dims) const;

 private:
  static Tensor make_owned(DType dtype, Dims dims, bool zero);

  DType dtype_ = DType::kUndefined;
  Dims dims_;
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  bool writable_ = false;
  std::shared_ptr<const std::vector<std::string>> strings_;
};

/// The float16 tensor `t` as float32 (exact), same dims. `t` must hold float16.
Tensor half_to_float(const Tensor& t);
/// The float32 tensor `t` rounded to the nearest float16 values, same dims. `t` must hold float32.
Tensor float_to_half(const Tensor& t);

}  // namespace compressor::ir
