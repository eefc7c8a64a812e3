// Helpers for kernels that take values (sequences, optionals: Kernel::takes_values) and for
// cutting tensors into parts along an axis and joining them back (Scan, Loop scan outputs,
// SplitToSequence, ConcatFromSequence).
#pragma once

#include <string>
#include <vector>

#include "compressor/ir/value.h"
#include "kernel_util.h"

namespace compressor::kernels {

using ir::Value;

/// A kernel that takes values, made from a lambda.
class ValueLambdaKernel : public exec::LambdaKernel {
 public:
  using exec::LambdaKernel::LambdaKernel;
  bool takes_values() const override { return true; }
};

/// Wraps a lambda in a value-taking kernel.
template <typename Fn>
StatusOr<std::unique_ptr<Kernel>> value_lambda(Fn fn) {
  return make_kernel<ValueLambdaKernel>(std::move(fn));
}

/// Input `i` of a value-taking kernel, or null when omitted.
inline const Value* value_input(const KernelContext& ctx, size_t i) {
  return i < ctx.value_inputs.size() ? ctx.value_inputs[i] : nullptr;
}

/// Input `i` as a plain tensor: null when omitted, an error naming `what` when it is a sequence
/// or an optional.
StatusOr<const Tensor*> tensor_input(const KernelContext& ctx, size_t i, const std::string& what);

/// Input `i` as a plain sequence; an error naming `what` when omitted or of another kind.
StatusOr<const Value*> sequence_input(const KernelContext& ctx, size_t i, const std::string& what);

/// The one int32/int64 element of `t` (a scalar or a one-element tensor).
StatusOr<int64_t> int_scalar(const Tensor& t, const KernelContext& ctx, const std::string& what);

/// `length` slices of `t` along `axis` starting at `start`; the axis is kept. The range must
/// lie inside the tensor. Strings are supported, 4-bit element types are not.
StatusOr<Tensor> slice_along_axis(const Tensor& t, int64_t axis, int64_t start, int64_t length,
                                  const KernelContext& ctx);

/// Slice `index` of `t` along `axis`, with that axis removed.
StatusOr<Tensor> take_along_axis(const Tensor& t, int64_t axis, int64_t index,
                                 const KernelContext& ctx);

/// Joins `parts` along `axis` (they must agree in dtype and in every other dim); with
/// `new_axis` they are stacked along a new axis inserted at `axis` (they must agree in dims).
/// `axis` must already be normalized; `parts` must not be empty. `what` names the parts in
/// errors.
StatusOr<Tensor> join_along_axis(const std::vector<Tensor>& parts, int64_t axis, bool new_axis,
                                 const KernelContext& ctx, const std::string& what);

}  // namespace compressor::kernels
