// Shared kernel helpers.
#include "kernel_util.h"

#include <cstring>

namespace compressor::kernels {

namespace {
template <typename Ctx>
StatusOr<int64_t> normalize(int64_t axis, int64_t rank, const Ctx& ctx) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= std::max<int64_t>(rank, 1)) {
    return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " +
                     std::to_string(rank));
  }
  return a;
}
}  // namespace

StatusOr<int64_t> normalize_axis(int64_t axis, int64_t rank, const KernelContext& ctx) {
  return normalize(axis, rank, ctx);
}
StatusOr<int64_t> normalize_axis(int64_t axis, int64_t rank, const NodeView& view) {
  return normalize(axis, rank, view);
}

StatusOr<Dims> broadcast_shape(const Dims& a, const Dims& b, const KernelContext& ctx) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return ctx.error("shapes " + ir::dims_to_string(a) + " and " + ir::dims_to_string(b) +
                       " do not broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> strides_of(const Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

std::vector<int64_t> broadcast_strides(const Dims& dims, const Dims& out) {
  std::vector<int64_t> s(out.size(), 0);
  const auto own = strides_of(dims);
  const size_t offset = out.size() - dims.size();
  for (size_t i = 0; i < dims.size(); ++i) s[i + offset] = dims[i] == 1 ? 0 : own[i];
  return s;
}

std::vector<int64_t> to_int64_vector(const Tensor& t) {
  std::vector<int64_t> out;
  if (t.dtype() == DType::kInt64) {
    auto s = t.span<int64_t>();
    out.assign(s.begin(), s.end());
  } else if (t.dtype() == DType::kInt32) {
    auto s = t.span<int32_t>();
    out.assign(s.begin(), s.end());
  }
  return out;
}

bool is_real_or_bool(DType t) {
  switch (t) {
    case DType::kFloat:
    case DType::kDouble:
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt8:
    case DType::kUInt16:
    case DType::kUInt32:
    case DType::kUInt64:
    case DType::kBool:
      return true;
    default:
      return false;
  }
}

Tensor copy_with_dims(const Tensor& t, Dims dims) {
  if (t.dtype() == DType::kString) return Tensor::from_strings(std::move(dims), t.strings());
  const bool same_size = ir::element_count(dims) == t.numel();
  Tensor out = same_size ? Tensor::uninitialized(t.dtype(), std::move(dims))
                         : Tensor::zeros(t.dtype(), std::move(dims));
  if (t.nbytes() > 0) std::memcpy(out.mutable_data(), t.data(), std::min(t.nbytes(), out.nbytes()));
  return out;
}

}  // namespace compressor::kernels
