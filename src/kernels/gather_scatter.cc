// Kernel family 'gather_scatter': index-driven data movement (GatherND, ScatterND,
// ScatterElements, Scatter, Compress, ReverseSequence), OneHot, Unique and EyeLike.
//
// Ops that only move elements copy them by storage size, so every fixed-size dtype and strings
// share one path; scatter reductions (add, mul, max, min) work on numeric values. Every index
// is checked against its axis before anything is written: an index out of range is a run-time
// error naming the index, the axis and its size, never an out-of-bounds access. Scatters apply
// their updates in index order, so duplicate indices give the same result on every run.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>

#include "data_movement.h"
#include "kernel_util.h"

namespace compressor::kernels {
namespace {

constexpr int kMax = 1 << 20;

using Fn = exec::LambdaKernel::Fn;
StatusOr<std::unique_ptr<Kernel>> lambda(Fn fn) {
  return make_kernel<exec::LambdaKernel>(std::move(fn));
}

std::string str(int64_t v) { return std::to_string(v); }

bool is_index_dtype(DType t) { return t == DType::kInt64 || t == DType::kInt32; }

/// Refuses a known non-integer dtype for an indices input at plan time.
Status check_index_input(const NodeView& view, size_t i, const char* what) {
  const DType t = view.input_dtype(i);
  if (t != DType::kUndefined && !is_index_dtype(t)) {
    return view.error(std::string(what) + " must be int64 or int32, got " +
                      std::string(ir::dtype_name(t)));
  }
  return ok_status();
}

/// Reads an int64/int32 input as int64 values, failing for other dtypes.
StatusOr<std::vector<int64_t>> index_input(const KernelContext& ctx, size_t i, const char* what) {
  const Tensor& t = ctx.input(i);
  if (!is_index_dtype(t.dtype())) {
    return ctx.error(std::string(what) + " must be int64 or int32, got " +
                     std::string(ir::dtype_name(t.dtype())));
  }
  return to_int64_vector(t);
}

/// `index` made non-negative against an axis of size `size`, or an error when it is outside
/// [-size, size - 1].
StatusOr<int64_t> checked_index(int64_t index, int64_t size, int64_t axis,
                                const KernelContext& ctx) {
  if (index < -size || index >= size) {
    return ctx.error("index " + str(index) + " is out of range for axis " + str(axis) +
                     " of size " + str(size));
  }
  return index < 0 ? index + size : index;
}

int64_t product(Dims::const_iterator begin, Dims::const_iterator end) {
  return std::accumulate(begin, end, int64_t{1}, std::multiplies<>());
}

// ---------------------------------------------------------------------------------------------
// Scatter reductions.

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

/// Parses the `reduction` attribute: absent before opset 16, none/add/mul from 16, max/min
/// from 18.
StatusOr<Reduction> parse_reduction(const NodeView& view) {
  const auto* a = view.node().attribute("reduction");
  const std::string r = a ? a->s() : "none";
  if (r == "none") return Reduction::kNone;
  if (view.opset() < 16) return view.error("reduction '" + r + "' needs opset 16");
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (view.opset() >= 18 && r == "max") return Reduction::kMax;
  if (view.opset() >= 18 && r == "min") return Reduction::kMin;
  return view.error("unsupported reduction '" + r + "'");
}

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>;

/// a + b, wrapping for integers (no signed overflow).
template <typename T>
T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return static_cast<T>(a + b);
  }
}

/// a * b, wrapping for integers (no signed overflow).
template <typename T>
T mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    return static_cast<T>(a * b);
  }
}

/// Combines `count` updates into `dst` (a plain copy for kNone; T is a storage type then).
template <typename T>
void combine(Reduction red, T* dst, const T* upd, int64_t count) {
  if (red == Reduction::kNone) {
    std::copy_n(upd, count, dst);
    return;
  }
  if constexpr (std::is_arithmetic_v<T> || kIsHalf<T>) {
    for (int64_t i = 0; i < count; ++i) {
      switch (red) {
        case Reduction::kAdd:
          dst[i] = add(dst[i], upd[i]);
          break;
        case Reduction::kMul:
          dst[i] = mul(dst[i], upd[i]);
          break;
        case Reduction::kMax:
          dst[i] = std::max(dst[i], upd[i]);
          break;
        case Reduction::kMin:
          dst[i] = std::min(dst[i], upd[i]);
          break;
        case Reduction::kNone:
          break;
      }
    }
  }
}

/// Copies `data` and applies fn(dst, upd) with typed pointers: storage-typed when only moving
/// elements, value-typed for a reduction.
template <typename Fn2>
Status scatter_into(Reduction red, const Tensor& data, const Tensor& updates, KernelContext& ctx,
                    Fn2&& fn) {
  if (updates.dtype() != data.dtype()) {
    return ctx.error("updates are " + std::string(ir::dtype_name(updates.dtype())) +
                     " but data is " + std::string(ir::dtype_name(data.dtype())));
  }
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    Out<T> out(data);
    fn(out.data(), elems<T>(updates));
    ctx.outputs[0] = out.finish();
    return ok_status();
  };
  if (red == Reduction::kNone) return dispatch_storage(data.dtype(), ctx, run);
  return dispatch_value(data.dtype(), ctx, [&](auto tag) -> Status {
    if constexpr (std::is_same_v<decltype(tag), bool>) {
      return ctx.error("reductions are not defined for bool");
    } else {
      return run(tag);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// GatherND, ScatterND.

/// Element offsets into `data` of the slices named by the last axis of `indices`: tuple g of
/// batch b starts at b * prod(data[batch_dims:]) + sum_m index[g][m] * stride[batch_dims + m].
StatusOr<std::vector<int64_t>> nd_offsets(const Dims& data, const Tensor& indices_t,
                                          const std::vector<int64_t>& indices, int64_t batch_dims,
                                          const KernelContext& ctx) {
  const Dims& id = indices_t.dims();
  const int64_t k = id.back();
  const int64_t tuples =
      k == 0 ? product(id.begin(), id.end() - 1) : static_cast<int64_t>(indices.size()) / k;
  const int64_t batches = product(data.begin(), data.begin() + batch_dims);
  const int64_t per_batch = batches == 0 ? 0 : tuples / batches;
  const int64_t batch_stride = product(data.begin() + batch_dims, data.end());
  const auto strides = strides_of(data);
  std::vector<int64_t> offsets(static_cast<size_t>(tuples));
  for (int64_t g = 0; g < tuples; ++g) {
    int64_t off = (per_batch == 0 ? 0 : g / per_batch) * batch_stride;
    for (int64_t m = 0; m < k; ++m) {
      const int64_t axis = batch_dims + m;
      COMPRESSOR_ASSIGN_OR_RETURN(const int64_t i,
                                  checked_index(indices[g * k + m], data[axis], axis, ctx));
      off += i * strides[axis];
    }
    offsets[g] = off;
  }
  return offsets;
}

StatusOr<std::unique_ptr<Kernel>> make_gather_nd(const NodeView& view) {
  const auto* attr = view.node().attribute("batch_dims");
  if (attr != nullptr && view.opset() < 12) return view.error("batch_dims needs opset 12");
  const int64_t batch_dims = attr ? attr->i() : 0;
  if (batch_dims < 0) return view.error("batch_dims must not be negative");
  COMPRESSOR_RETURN_IF_ERROR(check_index_input(view, 1, "indices"));
  return lambda([batch_dims](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const Tensor& it = ctx.input(1);
    COMPRESSOR_ASSIGN_OR_RETURN(auto indices, index_input(ctx, 1, "indices"));
    const Dims& xd = x.dims();
    const Dims& id = it.dims();
    const int64_t r = x.rank(), q = it.rank();
    if (q < 1) return ctx.error("indices must have rank >= 1");
    if (batch_dims >= std::min(q, r)) {
      return ctx.error("batch_dims " + str(batch_dims) + " must be less than the ranks of data (" +
                       str(r) + ") and indices (" + str(q) + ")");
    }
    const int64_t k = id.back();
    if (k > r - batch_dims) {
      return ctx.error("indices tuples of length " + str(k) + " exceed the " + str(r - batch_dims) +
                       " non-batch axes of data " + ir::dims_to_string(xd));
    }
    for (int64_t i = 0; i < batch_dims; ++i) {
      if (id[i] != xd[i]) {
        return ctx.error("batch axis " + str(i) + " differs: data " + ir::dims_to_string(xd) +
                         ", indices " + ir::dims_to_string(id));
      }
    }
    COMPRESSOR_ASSIGN_OR_RETURN(auto offsets, nd_offsets(xd, it, indices, batch_dims, ctx));
    Dims dims(id.begin(), id.end() - 1);
    dims.insert(dims.end(), xd.begin() + batch_dims + k, xd.end());
    const int64_t inner = product(xd.begin() + batch_dims + k, xd.end());
    return dispatch_storage(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Out<T> out(x.dtype(), dims);
      T* dst = out.data();
      const T* src = elems<T>(x);
      const int64_t n = static_cast<int64_t>(offsets.size());
      exec::parallel_for(ctx.pool, n, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                         [&](int64_t b, int64_t e) {
                           for (int64_t g = b; g < e; ++g) {
                             std::copy_n(src + offsets[g], inner, dst + g * inner);
                           }
                         });
      ctx.outputs[0] = out.finish();
      return ok_status();
    });
  });
}

StatusOr<std::unique_ptr<Kernel>> make_scatter_nd(const NodeView& view) {
  COMPRESSOR_ASSIGN_OR_RETURN(const Reduction red, parse_reduction(view));
  COMPRESSOR_RETURN_IF_ERROR(check_index_input(view, 1, "indices"));
  return lambda([red](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const Tensor& it = ctx.input(1);
    const Tensor& upd = ctx.input(2);
    COMPRESSOR_ASSIGN_OR_RETURN(auto indices, index_input(ctx, 1, "indices"));
    const Dims& xd = x.dims();
    const Dims& id = it.dims();
    if (it.rank() < 1) return ctx.error("indices must have rank >= 1");
    const int64_t k = id.back();
    if (k > x.rank()) {
      return ctx.error("indices tuples of length " + str(k) + " exceed the rank of data " +
                       ir::dims_to_string(xd));
    }
    Dims want(id.begin(), id.end() - 1);
    want.insert(want.end(), xd.begin() + k, xd.end());
    if (upd.dims() != want) {
      return ctx.error("updates have shape " + ir::dims_to_string(upd.dims()) + ", expected " +
                       ir::dims_to_string(want));
    }
    COMPRESSOR_ASSIGN_OR_RETURN(auto offsets, nd_offsets(xd, it, indices, 0, ctx));
    const int64_t inner = product(xd.begin() + k, xd.end());
    return scatter_into(red, x, upd, ctx, [&](auto* dst, const auto* src) {
      for (size_t g = 0; g < offsets.size(); ++g) {
        combine(red, dst + offsets[g], src + static_cast<int64_t>(g) * inner, inner);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// ScatterElements, Scatter.

StatusOr<std::unique_ptr<Kernel>> make_scatter_elements(const NodeView& view) {
  COMPRESSOR_ASSIGN_OR_RETURN(const Reduction red, parse_reduction(view));
  COMPRESSOR_RETURN_IF_ERROR(check_index_input(view, 1, "indices"));
  const int64_t axis_attr = view.node().attr_int("axis", 0);
  return lambda([red, axis_attr](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const Tensor& upd = ctx.input(2);
    COMPRESSOR_ASSIGN_OR_RETURN(auto indices, index_input(ctx, 1, "indices"));
    if (x.rank() == 0) return ctx.error("data must have rank >= 1");
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, x.rank(), ctx));
    const Dims& xd = x.dims();
    const Dims& id = ctx.input(1).dims();
    if (id.size() != xd.size()) {
      return ctx.error("indices " + ir::dims_to_string(id) + " and data " + ir::dims_to_string(xd) +
                       " differ in rank");
    }
    if (upd.dims() != id) {
      return ctx.error("updates have shape " + ir::dims_to_string(upd.dims()) +
                       ", expected the indices shape " + ir::dims_to_string(id));
    }
    for (size_t k = 0; k < xd.size(); ++k) {
      if (static_cast<int64_t>(k) != axis && id[k] > xd[k]) {
        return ctx.error("indices shape " + ir::dims_to_string(id) + " exceeds data shape " +
                         ir::dims_to_string(xd) + " on axis " + str(static_cast<int64_t>(k)));
      }
    }
    // Target offset of every update: its own position with the axis coordinate replaced.
    const auto xs = strides_of(xd);
    std::vector<int64_t> offsets(indices.size());
    std::vector<int64_t> pos(id.size(), 0);
    for (size_t i = 0; i < indices.size(); ++i) {
      COMPRESSOR_ASSIGN_OR_RETURN(const int64_t j, checked_index(indices[i], xd[axis], axis, ctx));
      int64_t off = 0;
      for (size_t k = 0; k < id.size(); ++k) {
        off += (static_cast<int64_t>(k) == axis ? j : pos[k]) * xs[k];
      }
      offsets[i] = off;
      for (size_t k = id.size(); k-- > 0;) {
        if (++pos[k] < id[k]) break;
        pos[k] = 0;
      }
    }
    return scatter_into(red, x, upd, ctx, [&](auto* dst, const auto* src) {
      for (size_t i = 0; i < offsets.size(); ++i) combine(red, dst + offsets[i], src + i, 1);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Compress.

StatusOr<std::unique_ptr<Kernel>> make_compress(const NodeView& view) {
  const auto* attr = view.node().attribute("axis");
  const bool has_axis = attr != nullptr;
  const int64_t axis_attr = has_axis ? attr->i() : 0;
  if (has_axis && axis_attr < 0 && view.opset() < 11) {
    return view.error("negative axis needs opset 11");
  }
  const DType ct = view.input_dtype(1);
  if (ct != DType::kUndefined && ct != DType::kBool) {
    return view.error("condition must be bool, got " + std::string(ir::dtype_name(ct)));
  }
  return lambda([has_axis, axis_attr](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const Tensor& cond = ctx.input(1);
    if (cond.dtype() != DType::kBool) {
      return ctx.error("condition must be bool, got " + std::string(ir::dtype_name(cond.dtype())));
    }
    if (cond.rank() != 1) return ctx.error("condition must have rank 1");
    int64_t axis = 0, outer = 1, len = x.numel(), inner = 1;
    if (has_axis) {
      COMPRESSOR_ASSIGN_OR_RETURN(axis, normalize_axis(axis_attr, x.rank(), ctx));
      if (x.rank() == 0) return ctx.error("an axis needs an input of rank >= 1");
      outer = product(x.dims().begin(), x.dims().begin() + axis);
      len = x.dims()[axis];
      inner = product(x.dims().begin() + axis + 1, x.dims().end());
    }
    // Entries past the condition's length are dropped; a true entry past the axis is refused.
    const auto c = cond.span<uint8_t>();
    std::vector<int64_t> kept;
    for (size_t i = 0; i < c.size(); ++i) {
      if (c[i] == 0) continue;
      if (static_cast<int64_t>(i) >= len) {
        return ctx.error("condition selects index " + str(static_cast<int64_t>(i)) +
                         " beyond the " + (has_axis ? "axis" : "flattened input") + " of size " +
                         str(len));
      }
      kept.push_back(static_cast<int64_t>(i));
    }
    const int64_t n = static_cast<int64_t>(kept.size());
    Dims dims{n};
    if (has_axis) {
      dims = x.dims();
      dims[axis] = n;
    }
    return dispatch_storage(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Out<T> out(x.dtype(), dims);
      T* dst = out.data();
      const T* src = elems<T>(x);
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < n; ++j) {
          std::copy_n(src + (o * len + kept[j]) * inner, inner, dst + (o * n + j) * inner);
        }
      }
      ctx.outputs[0] = out.finish();
      return ok_status();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// OneHot.

template <typename T>
double to_double(T v) {
  if constexpr (kIsHalf<T>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    return static_cast<double>(v);
  }
}

/// A sentinel no axis contains.
constexpr int64_t kNoIndex = std::numeric_limits<int64_t>::min();

/// The integer an index value names (floats truncate toward zero); kNoIndex when it has none
/// in int64 (NaN, infinities, huge values).
template <typename T>
int64_t index_value(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? 1 : 0;
  } else if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) == 8) {
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return kNoIndex;
    }
    return static_cast<int64_t>(v);
  } else {
    const double d = to_double(v);
    if (!(d > -9.2e18 && d < 9.2e18)) return kNoIndex;
    return static_cast<int64_t>(d);
  }
}

/// Reads every element of a numeric tensor as an index value.
StatusOr<std::vector<int64_t>> index_values(const Tensor& t, const KernelContext& ctx) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  COMPRESSOR_RETURN_IF_ERROR(dispatch_value(t.dtype(), ctx, [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* p = reinterpret_cast<const T*>(t.data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = index_value(p[i]);
    return ok_status();
  }));
  return out;
}

StatusOr<std::unique_ptr<Kernel>> make_one_hot(const NodeView& view) {
  const int64_t axis_attr = view.node().attr_int("axis", -1);
  // Opset 9 turns negative indices off; opset 11 counts them from the end.
  const bool negative_from_end = view.opset() >= 11;
  const DType vt = view.input_dtype(2);
  if (vt != DType::kUndefined && !movable(vt)) {
    return view.error("unsupported data type " + std::string(ir::dtype_name(vt)) + " for values");
  }
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& it = ctx.input(0);
    const Tensor& values = ctx.input(2);
    COMPRESSOR_ASSIGN_OR_RETURN(auto indices, index_values(it, ctx));
    COMPRESSOR_ASSIGN_OR_RETURN(auto depth_v, index_values(ctx.input(1), ctx));
    if (depth_v.size() != 1) return ctx.error("depth must hold exactly one element");
    const int64_t depth = depth_v[0];
    if (depth < 0) return ctx.error("depth must not be negative, got " + str(depth));
    if (values.numel() != 2) return ctx.error("values must hold exactly two elements");
    const int64_t r = it.rank();
    const int64_t axis = axis_attr < 0 ? axis_attr + r + 1 : axis_attr;
    if (axis < 0 || axis > r) {
      return ctx.error("axis " + str(axis_attr) + " is out of range for an output of rank " +
                       str(r + 1));
    }
    const Dims& id = it.dims();
    Dims dims(id.begin(), id.begin() + axis);
    dims.push_back(depth);
    dims.insert(dims.end(), id.begin() + axis, id.end());
    const int64_t inner = product(id.begin() + axis, id.end());
    return dispatch_storage(values.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* v = elems<T>(values);
      Out<T> out(values.dtype(), dims);
      T* dst = out.data();
      std::fill_n(dst, ir::element_count(dims), v[0]);
      for (size_t i = 0; i < indices.size(); ++i) {
        int64_t j = indices[i];
        if (j == kNoIndex || j >= depth || j < -depth || (j < 0 && !negative_from_end)) continue;
        if (j < 0) j += depth;
        const int64_t o = static_cast<int64_t>(i) / inner, p = static_cast<int64_t>(i) % inner;
        dst[(o * depth + j) * inner + p] = v[1];
      }
      ctx.outputs[0] = out.finish();
      return ok_status();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Unique.

/// Strict weak order on values with NaN after every number and equal to itself.
template <typename T>
bool value_less(const T& a, const T& b) {
  if constexpr (std::is_floating_point_v<T> || kIsHalf<T>) {
    const bool na = std::isnan(to_double(a)), nb = std::isnan(to_double(b));
    if (na || nb) return !na && nb;
  }
  return a < b;
}

/// Calls fn(T{}) with the value type of a comparable dtype (std::string for strings).
template <typename Fn>
Status dispatch_comparable(DType dtype, const KernelContext& ctx, Fn&& fn) {
  if (dtype == DType::kString) return fn(std::string{});
  return dispatch_value(dtype, ctx, std::forward<Fn>(fn));
}

StatusOr<std::unique_ptr<Kernel>> make_unique(const NodeView& view) {
  const auto* attr = view.node().attribute("axis");
  const bool has_axis = attr != nullptr;
  const int64_t axis_attr = has_axis ? attr->i() : 0;
  const bool sorted = view.node().attr_int("sorted", 1) != 0;
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    int64_t axis = 0, outer = 1, n = x.numel(), inner = 1;
    if (has_axis) {
      if (x.rank() == 0) return ctx.error("an axis needs an input of rank >= 1");
      COMPRESSOR_ASSIGN_OR_RETURN(axis, normalize_axis(axis_attr, x.rank(), ctx));
      outer = product(x.dims().begin(), x.dims().begin() + axis);
      n = x.dims()[axis];
      inner = product(x.dims().begin() + axis + 1, x.dims().end());
    }
    return dispatch_comparable(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src;
      if constexpr (std::is_same_v<T, std::string>) {
        src = x.strings().data();
      } else {
        src = reinterpret_cast<const T*>(x.data());
      }
      // Slice i is the elements src[(o * n + i) * inner + t], compared in (o, t) order.
      auto compare = [&](int64_t a, int64_t b) -> int {
        for (int64_t o = 0; o < outer; ++o) {
          const T* pa = src + (o * n + a) * inner;
          const T* pb = src + (o * n + b) * inner;
          for (int64_t t = 0; t < inner; ++t) {
            if (value_less(pa[t], pb[t])) return -1;
            if (value_less(pb[t], pa[t])) return 1;
          }
        }
        return 0;
      };
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), int64_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](int64_t a, int64_t b) { return compare(a, b) < 0; });
      // Runs of equal slices; the stable sort puts each run's first occurrence first.
      std::vector<int64_t> first, count, group_of(static_cast<size_t>(n));
      for (size_t i = 0; i < order.size(); ++i) {
        if (i == 0 || compare(order[i - 1], order[i]) != 0) {
          first.push_back(order[i]);
          count.push_back(0);
        }
        group_of[order[i]] = static_cast<int64_t>(first.size()) - 1;
        ++count.back();
      }
      const int64_t u = static_cast<int64_t>(first.size());
      std::vector<int64_t> rank_of(static_cast<size_t>(u));  // output position of each run
      std::iota(rank_of.begin(), rank_of.end(), int64_t{0});
      if (!sorted) {
        std::vector<int64_t> by_first(rank_of);
        std::sort(by_first.begin(), by_first.end(),
                  [&](int64_t a, int64_t b) { return first[a] < first[b]; });
        for (int64_t p = 0; p < u; ++p) rank_of[by_first[p]] = p;
      }
      std::vector<int64_t> firsts(u), counts(u), inverse(static_cast<size_t>(n));
      for (int64_t g = 0; g < u; ++g) {
        firsts[rank_of[g]] = first[g];
        counts[rank_of[g]] = count[g];
      }
      for (int64_t i = 0; i < n; ++i) inverse[i] = rank_of[group_of[i]];
      Dims dims{u};
      if (has_axis) {
        dims = x.dims();
        dims[axis] = u;
      }
      Out<T> y(x.dtype(), dims);
      T* dst = y.data();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t p = 0; p < u; ++p) {
          std::copy_n(src + (o * n + firsts[p]) * inner, inner, dst + (o * u + p) * inner);
        }
      }
      ctx.outputs[0] = y.finish();
      auto ints = [](const std::vector<int64_t>& v) {
        return Tensor::from_values<int64_t>({static_cast<int64_t>(v.size())}, v);
      };
      if (ctx.outputs.size() > 1) ctx.outputs[1] = ints(firsts);
      if (ctx.outputs.size() > 2) ctx.outputs[2] = ints(inverse);
      if (ctx.outputs.size() > 3) ctx.outputs[3] = ints(counts);
      return ok_status();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// ReverseSequence.

StatusOr<std::unique_ptr<Kernel>> make_reverse_sequence(const NodeView& view) {
  const int64_t batch_axis = view.node().attr_int("batch_axis", 1);
  const int64_t time_axis = view.node().attr_int("time_axis", 0);
  if ((batch_axis != 0 && batch_axis != 1) || (time_axis != 0 && time_axis != 1) ||
      batch_axis == time_axis) {
    return view.error("batch_axis and time_axis must be 0 and 1 in some order, got " +
                      str(batch_axis) + " and " + str(time_axis));
  }
  COMPRESSOR_RETURN_IF_ERROR(check_index_input(view, 1, "sequence_lens"));
  return lambda([batch_axis, time_axis](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    COMPRESSOR_ASSIGN_OR_RETURN(auto lens, index_input(ctx, 1, "sequence_lens"));
    if (x.rank() < 2) return ctx.error("input must have rank >= 2");
    const int64_t batch = x.dims()[batch_axis], steps = x.dims()[time_axis];
    if (static_cast<int64_t>(lens.size()) != batch) {
      return ctx.error("sequence_lens has " + str(static_cast<int64_t>(lens.size())) +
                       " entries for a batch of " + str(batch));
    }
    for (int64_t len : lens) {
      if (len < 0 || len > steps) {
        return ctx.error("sequence length " + str(len) + " is out of range [0, " + str(steps) +
                         "]");
      }
    }
    const int64_t inner = product(x.dims().begin() + 2, x.dims().end());
    auto offset = [&](int64_t b, int64_t t) {
      return (batch_axis == 0 ? b * steps + t : t * batch + b) * inner;
    };
    return dispatch_storage(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Out<T> out(x.dtype(), x.dims());
      T* dst = out.data();
      const T* src = elems<T>(x);
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t t = 0; t < steps; ++t) {
          const int64_t from = t < lens[b] ? lens[b] - 1 - t : t;
          std::copy_n(src + offset(b, from), inner, dst + offset(b, t));
        }
      }
      ctx.outputs[0] = out.finish();
      return ok_status();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// EyeLike.

StatusOr<std::unique_ptr<Kernel>> make_eye_like(const NodeView& view) {
  const int64_t k = view.node().attr_int("k", 0);
  DType to = DType::kUndefined;  // the input's dtype
  if (const auto* a = view.node().attribute("dtype")) {
    const auto t = ir::dtype_from_onnx(static_cast<int32_t>(a->i()));
    if (!t || !is_real_or_bool(*t)) {
      return view.error("unsupported dtype " +
                        (t ? std::string(ir::dtype_name(*t)) : std::to_string(a->i())));
    }
    to = *t;
  } else if (view.input_dtype(0) != DType::kUndefined && !is_real_or_bool(view.input_dtype(0))) {
    return view.error("unsupported data type " + std::string(ir::dtype_name(view.input_dtype(0))));
  }
  return lambda([k, to](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.rank() != 2) return ctx.error("input must have rank 2, got " + str(x.rank()));
    const DType dt = to == DType::kUndefined ? x.dtype() : to;
    if (!is_real_or_bool(dt)) {
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(dt)));
    }
    return dispatch_value(dt, ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const int64_t rows = x.dims()[0], cols = x.dims()[1];
      Tensor y = Tensor::zeros(dt, x.dims());
      T* dst = reinterpret_cast<T*>(y.mutable_data());
      for (int64_t i = std::max<int64_t>(0, -k); i < rows && i + k < cols; ++i) {
        dst[i * cols + i + k] = static_cast<T>(1);
      }
      ctx.outputs[0] = std::move(y);
      return ok_status();
    });
  });
}

}  // namespace

void register_gather_scatter_kernels(exec::KernelRegistry& r) {
  r.add("", "GatherND", 11, kMax, make_gather_nd);
  r.add("", "ScatterND", 11, kMax, make_scatter_nd);
  r.add("", "ScatterElements", 11, kMax, make_scatter_elements);
  r.add("", "Scatter", 9, 10, make_scatter_elements);
  r.add("", "Compress", 9, kMax, make_compress);
  r.add("", "OneHot", 9, kMax, make_one_hot);
  r.add("", "Unique", 11, kMax, make_unique);
  r.add("", "ReverseSequence", 10, kMax, make_reverse_sequence);
  r.add("", "EyeLike", 9, kMax, make_eye_like);
}

}  // namespace compressor::kernels
