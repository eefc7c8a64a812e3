// Helpers every kernel family shares: attribute access, axis handling, numpy broadcasting,
// dtype dispatch. Kernels validate once in the factory and compute over views.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressor/exec/kernel.h"
#include "compressor/exec/kernel_registry.h"
#include "compressor/exec/thread_pool.h"
#include "compressor/ir/tensor.h"
#include "compressor/ir/tensor_eigen.h"

namespace compressor::kernels {

using exec::Kernel;
using exec::KernelContext;
using exec::NodeView;
using ir::Dims;
using ir::DType;
using ir::Tensor;

/// Wraps a kernel object in the factory's return type.
template <typename K, typename... Args>
StatusOr<std::unique_ptr<Kernel>> make_kernel(Args&&... args) {
  return std::unique_ptr<Kernel>(new K(std::forward<Args>(args)...));
}

/// Normalizes a possibly negative axis against `rank`; fails naming the node.
StatusOr<int64_t> normalize_axis(int64_t axis, int64_t rank, const KernelContext& ctx);
StatusOr<int64_t> normalize_axis(int64_t axis, int64_t rank, const NodeView& view);

/// The numpy broadcast of two shapes, or an error naming the node.
StatusOr<Dims> broadcast_shape(const Dims& a, const Dims& b, const KernelContext& ctx);

/// Strides (in elements) to read a tensor of `dims` as if broadcast to `out` (0 on broadcast
/// axes). `dims` must be broadcastable to `out`.
std::vector<int64_t> broadcast_strides(const Dims& dims, const Dims& out);

/// Row-major strides of a shape.
std::vector<int64_t> strides_of(const Dims& dims);

/// Every real number type (float, double, float16, bfloat16, the signed and unsigned integers)
/// and bool; not string, complex or undefined.
bool is_real_or_bool(DType t);

/// Reads an int64 or int32 tensor as int64 values (shape, axes, indices inputs).
std::vector<int64_t> to_int64_vector(const Tensor& t);

/// Calls fn(T{}) with T the C++ type of `dtype` for the numeric dtypes; returns an unsupported
/// error for others.
template <typename Fn>
Status dispatch_numeric(DType dtype, const KernelContext& ctx, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat:
      return fn(float{});
    case DType::kDouble:
      return fn(double{});
    case DType::kInt64:
      return fn(int64_t{});
    case DType::kInt32:
      return fn(int32_t{});
    case DType::kInt16:
      return fn(int16_t{});
    case DType::kInt8:
      return fn(int8_t{});
    case DType::kUInt8:
      return fn(uint8_t{});
    case DType::kUInt16:
      return fn(uint16_t{});
    case DType::kUInt32:
      return fn(uint32_t{});
    case DType::kUInt64:
      return fn(uint64_t{});
    default:
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(dtype)));
  }
}

/// Copies any dense tensor's bytes (all dtypes, including bool and float16) into a new tensor
/// with other dims; strings are copied element-wise.
Tensor copy_with_dims(const Tensor& t, Dims dims);

}  // namespace compressor::kernels
