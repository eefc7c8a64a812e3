// Value-input helpers and splitting/joining tensors along an axis.
#include "value_util.h"

#include <algorithm>
#include <cstring>

namespace compressor::kernels {
namespace {

/// Bytes of one element (0 for strings); an error for element types narrower than a byte.
StatusOr<size_t> element_bytes(DType dtype, const KernelContext& ctx) {
  if (dtype == DType::kString) return size_t{0};
  const int bits = ir::traits(dtype).bits;
  if (bits <= 0 || bits % 8 != 0) {
    return ctx.error("tensors of element type " + std::string(ir::dtype_name(dtype)) +
                     " cannot be split or joined");
  }
  return static_cast<size_t>(bits / 8);
}

/// Builds a tensor by copying runs of elements out of tensors of the same dtype.
class ElementWriter {
 public:
  ElementWriter(DType dtype, Dims dims, size_t elem_bytes)
      : dtype_(dtype), dims_(std::move(dims)), elem_bytes_(elem_bytes) {
    if (dtype_ == DType::kString) {
      strings_.resize(static_cast<size_t>(ir::element_count(dims_)));
    } else {
      out_ = Tensor::zeros(dtype_, dims_);
      data_ = out_.mutable_data();
    }
  }

  void copy(int64_t dst, const Tensor& src, int64_t src_offset, int64_t count) {
    if (count <= 0) return;
    if (dtype_ == DType::kString) {
      const auto& s = src.strings();
      std::copy(s.begin() + src_offset, s.begin() + src_offset + count, strings_.begin() + dst);
      return;
    }
    std::memcpy(data_ + dst * elem_bytes_, src.data() + src_offset * elem_bytes_,
                static_cast<size_t>(count) * elem_bytes_);
  }

  Tensor finish() {
    if (dtype_ == DType::kString)
      return Tensor::from_strings(std::move(dims_), std::move(strings_));
    return std::move(out_);
  }

 private:
  DType dtype_;
  Dims dims_;
  size_t elem_bytes_;
  Tensor out_;
  std::byte* data_ = nullptr;
  std::vector<std::string> strings_;
};

/// Product of dims[from..rank).
int64_t product_from(const Dims& dims, int64_t from) {
  int64_t p = 1;
  for (size_t i = static_cast<size_t>(from); i < dims.size(); ++i) p *= dims[i];
  return p;
}

/// Product of dims[0..to).
int64_t product_to(const Dims& dims, int64_t to) {
  int64_t p = 1;
  for (size_t i = 0; i < static_cast<size_t>(to); ++i) p *= dims[i];
  return p;
}

/// Slices [start, start + length) of `t` along `axis`, producing a tensor of `out_dims`.
StatusOr<Tensor> cut(const Tensor& t, int64_t axis, int64_t start, int64_t length, Dims out_dims,
                     const KernelContext& ctx) {
  const Dims& d = t.dims();
  if (axis < 0 || axis >= t.rank()) {
    return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " +
                     std::to_string(t.rank()));
  }
  if (start < 0 || length < 0 || start + length > d[axis]) {
    return ctx.error("slice [" + std::to_string(start) + ", " + std::to_string(start + length) +
                     ") along axis " + std::to_string(axis) + " is outside shape " +
                     ir::dims_to_string(d));
  }
  COMPRESSOR_ASSIGN_OR_RETURN(size_t eb, element_bytes(t.dtype(), ctx));
  const int64_t outer = product_to(d, axis);
  const int64_t n = d[axis];
  const int64_t inner = product_from(d, axis + 1);
  ElementWriter w(t.dtype(), std::move(out_dims), eb);
  for (int64_t o = 0; o < outer; ++o) {
    w.copy(o * length * inner, t, (o * n + start) * inner, length * inner);
  }
  return w.finish();
}

}  // namespace

StatusOr<const Tensor*> tensor_input(const KernelContext& ctx, size_t i, const std::string& what) {
  const Value* v = value_input(ctx, i);
  if (v == nullptr) return static_cast<const Tensor*>(nullptr);
  if (!v->is_tensor()) return ctx.error(what + " must be a tensor, got a " + v->kind_string());
  return &v->tensor();
}

StatusOr<const Value*> sequence_input(const KernelContext& ctx, size_t i, const std::string& what) {
  const Value* v = value_input(ctx, i);
  if (v == nullptr) return ctx.error(what + " (a sequence) is missing");
  if (!v->is_sequence()) return ctx.error(what + " must be a sequence, got a " + v->kind_string());
  return v;
}

StatusOr<int64_t> int_scalar(const Tensor& t, const KernelContext& ctx, const std::string& what) {
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32) {
    return ctx.error(what + " must be int32 or int64, got " +
                     std::string(ir::dtype_name(t.dtype())));
  }
  if (t.numel() != 1) {
    return ctx.error(what + " must hold one value, got shape " + ir::dims_to_string(t.dims()));
  }
  return to_int64_vector(t)[0];
}

StatusOr<Tensor> slice_along_axis(const Tensor& t, int64_t axis, int64_t start, int64_t length,
                                  const KernelContext& ctx) {
  Dims out = t.dims();
  if (axis >= 0 && axis < t.rank()) out[axis] = std::max<int64_t>(length, 0);
  return cut(t, axis, start, length, std::move(out), ctx);
}

StatusOr<Tensor> take_along_axis(const Tensor& t, int64_t axis, int64_t index,
                                 const KernelContext& ctx) {
  Dims out = t.dims();
  if (axis >= 0 && axis < t.rank()) out.erase(out.begin() + axis);
  return cut(t, axis, index, 1, std::move(out), ctx);
}

StatusOr<Tensor> join_along_axis(const std::vector<Tensor>& parts, int64_t axis, bool new_axis,
                                 const KernelContext& ctx, const std::string& what) {
  if (parts.empty()) return ctx.error(what + ": nothing to join");
  const Tensor& first = parts.front();
  const Dims& fd = first.dims();
  const int64_t rank = first.rank();
  if (axis < 0 || axis > rank || (!new_axis && axis == rank)) {
    return ctx.error(what + ": axis " + std::to_string(axis) + " is out of range for rank " +
                     std::to_string(rank));
  }
  COMPRESSOR_ASSIGN_OR_RETURN(size_t eb, element_bytes(first.dtype(), ctx));
  Dims out = fd;
  if (new_axis) {
    out.insert(out.begin() + axis, static_cast<int64_t>(parts.size()));
  } else {
    out[axis] = 0;
  }
  for (size_t p = 0; p < parts.size(); ++p) {
    const Tensor& t = parts[p];
    bool same = t.dtype() == first.dtype() && t.rank() == rank;
    for (int64_t i = 0; same && i < rank; ++i) {
      same = t.dims()[i] == fd[i] || (!new_axis && i == axis);
    }
    if (!same) {
      return ctx.error(what + ": part " + std::to_string(p) + " is " +
                       std::string(ir::dtype_name(t.dtype())) + ir::dims_to_string(t.dims()) +
                       ", part 0 is " + std::string(ir::dtype_name(first.dtype())) +
                       ir::dims_to_string(fd) +
                       (new_axis ? " (stacked parts must agree in shape)"
                                 : " (joined parts must agree except along the axis)"));
    }
    if (!new_axis) out[axis] += t.dims()[axis];
  }
  // Every part is [outer, chunk_p] with the same outer; the output rows concatenate the chunks.
  const int64_t outer = product_to(fd, axis);
  const int64_t inner = product_from(fd, new_axis ? axis : axis + 1);
  const int64_t row = product_from(out, axis);
  ElementWriter w(first.dtype(), std::move(out), eb);
  int64_t col = 0;
  for (const auto& t : parts) {
    const int64_t chunk = (new_axis ? 1 : t.dims()[axis]) * inner;
    for (int64_t o = 0; o < outer; ++o) w.copy(o * row + col, t, o * chunk, chunk);
    col += chunk;
  }
  return w.finish();
}

}  // namespace compressor::kernels
