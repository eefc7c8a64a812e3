// Kernel family 'shape_ops': shape computation and pure data movement (Reshape, Transpose,
// Concat, Slice, Gather, ...) plus Cast, Constant, Range, Trilu and NonZero. Data movement copies
// elements by their storage size, so every fixed-size dtype (bool, float16, ...) and strings move
// through the same code; views that only change dims (Reshape, Squeeze, ...) share the bytes.
#include <onnx/onnx_pb.h>

#include <Eigen/Core>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "compressor/io/onnx_io.h"
#include "data_movement.h"
#include "kernel_util.h"

namespace compressor::kernels {
namespace {

// ---------------------------------------------------------------------------------------------
// Strided element movement.

/// dst[i] = src[base + sum_k idx_k(i) * strides[k]] for i over `dims` in row-major order.
/// Adjacent axes that are contiguous in the source are merged first; the inner run is copied
/// as a block when contiguous, and a swap of the last two axes is copied in cache tiles.
template <typename T>
void strided_copy(const T* src, T* dst, const Dims& dims, const std::vector<int64_t>& strides,
                  int64_t base, exec::ThreadPool* pool) {
  const int64_t n = ir::element_count(dims);
  if (n == 0) return;
  Dims d;
  std::vector<int64_t> s;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == 1) continue;
    if (!d.empty() && s.back() == strides[k] * dims[k]) {
      d.back() *= dims[k];
      s.back() = strides[k];
    } else {
      d.push_back(dims[k]);
      s.push_back(strides[k]);
    }
  }
  if (d.empty()) {
    dst[0] = src[base];
    return;
  }
  const size_t r = d.size();
  // Tiled transpose of the last two axes: dst[.., i, j] = src[.. + i * 1 + j * s_last].
  if (r >= 2 && s[r - 2] == 1 && s[r - 1] != 1 && s[r - 1] != 0) {
    const int64_t rows = d[r - 2], cols = d[r - 1], cs = s[r - 1];
    const int64_t batches = n / (rows * cols);
    exec::parallel_for(pool, batches, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        int64_t off = base, rem = b;
        for (size_t k = r - 2; k-- > 0;) {
          off += (rem % d[k]) * s[k];
          rem /= d[k];
        }
        T* o = dst + b * rows * cols;
        constexpr int64_t kTile = 32;
        for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
          for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
            const int64_t i1 = std::min(rows, i0 + kTile), j1 = std::min(cols, j0 + kTile);
            for (int64_t i = i0; i < i1; ++i) {
              for (int64_t j = j0; j < j1; ++j) o[i * cols + j] = src[off + i + j * cs];
            }
          }
        }
      }
    });
    return;
  }
  const int64_t inner = d[r - 1], is = s[r - 1];
  const int64_t rows = n / inner;
  exec::parallel_for(pool, rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(r - 1, 0);
    int64_t off = base, rem = r0;
    for (size_t k = r - 1; k-- > 0;) {
      idx[k] = rem % d[k];
      rem /= d[k];
      off += idx[k] * s[k];
    }
    for (int64_t row = r0; row < r1; ++row) {
      T* o = dst + row * inner;
      const T* p = src + off;
      if (is == 1) {
        std::copy_n(p, inner, o);
      } else if (is == 0) {
        std::fill_n(o, inner, *p);
      } else {
        for (int64_t j = 0; j < inner; ++j) o[j] = p[j * is];
      }
      for (size_t k = r - 1; k-- > 0;) {
        ++idx[k];
        off += s[k];
        if (idx[k] < d[k]) break;
        off -= s[k] * d[k];
        idx[k] = 0;
      }
    }
  });
}

/// A new tensor of `dims` read from `in` through `strides` from element `base`.
StatusOr<Tensor> gather_strided(const Tensor& in, const Dims& dims,
                                const std::vector<int64_t>& strides, int64_t base,
                                const KernelContext& ctx) {
  Tensor result;
  COMPRESSOR_RETURN_IF_ERROR(dispatch_storage(in.dtype(), ctx, [&](auto tag) -> Status {
    using T = decltype(tag);
    Out<T> out(in.dtype(), dims, /*zero=*/false);  // every element is copied
    strided_copy<T>(elems<T>(in), out.data(), dims, strides, base, ctx.pool);
    result = out.finish();
    return Status::ok_status();
  }));
  return result;
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// Reads an int64/int32 input as int64 values, failing for other dtypes.
StatusOr<std::vector<int64_t>> int_input(const KernelContext& ctx, size_t i, const char* what) {
  const Tensor& t = ctx.input(i);
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32) {
    return ctx.error(std::string(what) + " must be int64 or int32, got " +
                     std::string(ir::dtype_name(t.dtype())));
  }
  return to_int64_vector(t);
}

std::string ints_to_string(const std::vector<int64_t>& v) { return ir::dims_to_string(v); }

/// Normalizes axes against `rank`, rejecting duplicates.
template <typename Ctx>
StatusOr<std::vector<int64_t>> normalize_axes(const std::vector<int64_t>& axes, int64_t rank,
                                              const Ctx& ctx) {
  std::vector<int64_t> out;
  for (int64_t a : axes) {
    const int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank) {
      return ctx.error("axis " + std::to_string(a) + " is out of range for rank " +
                       std::to_string(rank));
    }
    if (std::find(out.begin(), out.end(), n) != out.end()) {
      return ctx.error("axis " + std::to_string(a) + " is repeated");
    }
    out.push_back(n);
  }
  return out;
}

using Fn = exec::LambdaKernel::Fn;
StatusOr<std::unique_ptr<Kernel>> lambda(Fn fn) {
  return make_kernel<exec::LambdaKernel>(std::move(fn));
}

// ---------------------------------------------------------------------------------------------
// Views: Reshape, Flatten, Squeeze, Unsqueeze, Identity.

StatusOr<std::unique_ptr<Kernel>> make_reshape(const NodeView& view) {
  const bool allowzero = view.node().attr_int("allowzero", 0) != 0;
  const bool from_attr = view.opset() < 5;
  const std::vector<int64_t> attr_shape = view.node().attr_ints("shape");
  if (!from_attr && !view.has_input(1)) return view.error("missing the shape input");
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> shape = attr_shape;
    if (!from_attr) {
      COMPRESSOR_ASSIGN_OR_RETURN(shape, int_input(ctx, 1, "shape"));
    }
    Dims dims(shape.size());
    int64_t infer = -1, known = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == -1) {
        if (infer >= 0) return ctx.error("shape " + ints_to_string(shape) + " has two -1");
        infer = static_cast<int64_t>(i);
        continue;
      }
      if (shape[i] == 0 && !allowzero) {
        if (i >= x.dims().size()) {
          return ctx.error("shape " + ints_to_string(shape) + " copies dim " + std::to_string(i) +
                           " of an input of rank " + std::to_string(x.rank()));
        }
        dims[i] = x.dims()[i];
      } else if (shape[i] < 0) {
        return ctx.error("shape " + ints_to_string(shape) + " has a negative dim");
      } else {
        dims[i] = shape[i];
      }
      known *= dims[i];
    }
    if (infer >= 0) {
      if (known == 0 || x.numel() % known != 0) {
        return ctx.error("cannot reshape " + ir::dims_to_string(x.dims()) + " to " +
                         ints_to_string(shape));
      }
      dims[infer] = x.numel() / known;
    }
    if (ir::element_count(dims) != x.numel()) {
      return ctx.error("cannot reshape " + ir::dims_to_string(x.dims()) + " to " +
                       ints_to_string(shape));
    }
    ctx.outputs[0] = x.reshaped(std::move(dims));
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_flatten(const NodeView& view) {
  const int64_t axis = view.node().attr_int("axis", 1);
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const int64_t a = axis < 0 ? axis + x.rank() : axis;
    if (a < 0 || a > x.rank()) {
      return ctx.error("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(x.rank()));
    }
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < a; ++i) outer *= x.dims()[i];
    for (int64_t i = a; i < x.rank(); ++i) inner *= x.dims()[i];
    ctx.outputs[0] = x.reshaped({outer, inner});
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_squeeze(const NodeView& view) {
  const bool from_attr = view.opset() < 13;
  const auto* attr = view.node().attribute("axes");
  const bool has_attr = attr != nullptr;
  const std::vector<int64_t> attr_axes = view.node().attr_ints("axes");
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> axes = attr_axes;
    bool given = from_attr ? has_attr : ctx.has_input(1);
    if (!from_attr && given) {
      COMPRESSOR_ASSIGN_OR_RETURN(axes, int_input(ctx, 1, "axes"));
    }
    std::vector<bool> drop(x.dims().size(), false);
    if (!given) {
      for (size_t i = 0; i < drop.size(); ++i) drop[i] = x.dims()[i] == 1;
    } else {
      COMPRESSOR_ASSIGN_OR_RETURN(auto norm, normalize_axes(axes, x.rank(), ctx));
      for (int64_t a : norm) {
        if (x.dims()[a] != 1) {
          return ctx.error("cannot squeeze axis " + std::to_string(a) + " of size " +
                           std::to_string(x.dims()[a]));
        }
        drop[a] = true;
      }
    }
    Dims dims;
    for (size_t i = 0; i < drop.size(); ++i) {
      if (!drop[i]) dims.push_back(x.dims()[i]);
    }
    ctx.outputs[0] = x.reshaped(std::move(dims));
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_unsqueeze(const NodeView& view) {
  const bool from_attr = view.opset() < 13;
  const std::vector<int64_t> attr_axes = view.node().attr_ints("axes");
  if (from_attr && view.node().attribute("axes") == nullptr) {
    return view.error("missing the axes attribute");
  }
  if (!from_attr && !view.has_input(1)) return view.error("missing the axes input");
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> axes = attr_axes;
    if (!from_attr) {
      COMPRESSOR_ASSIGN_OR_RETURN(axes, int_input(ctx, 1, "axes"));
    }
    const int64_t rank = x.rank() + static_cast<int64_t>(axes.size());
    COMPRESSOR_ASSIGN_OR_RETURN(auto norm, normalize_axes(axes, rank, ctx));
    std::vector<bool> inserted(rank, false);
    for (int64_t a : norm) inserted[a] = true;
    Dims dims;
    size_t next = 0;
    for (int64_t i = 0; i < rank; ++i) dims.push_back(inserted[i] ? 1 : x.dims()[next++]);
    ctx.outputs[0] = x.reshaped(std::move(dims));
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_identity(const NodeView&) {
  return lambda([](KernelContext& ctx) -> Status {
    ctx.outputs[0] = ctx.input(0);
    return Status::ok_status();
  });
}

// ---------------------------------------------------------------------------------------------
// Transpose, DepthToSpace, SpaceToDepth: strided reads of a permuted view.

/// Reads `x` viewed with `view_dims` (same element count) permuted by `perm`.
StatusOr<Tensor> permute(const Tensor& x, const Dims& view_dims, const std::vector<int64_t>& perm,
                         const KernelContext& ctx) {
  const auto st = strides_of(view_dims);
  Dims dims(perm.size());
  std::vector<int64_t> strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    dims[i] = view_dims[perm[i]];
    strides[i] = st[perm[i]];
  }
  return gather_strided(x, dims, strides, 0, ctx);
}

StatusOr<std::unique_ptr<Kernel>> make_transpose(const NodeView& view) {
  const auto* attr = view.node().attribute("perm");
  const std::vector<int64_t> perm_attr = view.node().attr_ints("perm");
  const bool has_perm = attr != nullptr;
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> perm = perm_attr;
    if (!has_perm) {
      perm.resize(x.rank());
      for (int64_t i = 0; i < x.rank(); ++i) perm[i] = x.rank() - 1 - i;
    }
    if (static_cast<int64_t>(perm.size()) != x.rank()) {
      return ctx.error("perm " + ints_to_string(perm) + " does not match rank " +
                       std::to_string(x.rank()));
    }
    std::vector<bool> seen(perm.size(), false);
    for (int64_t p : perm) {
      if (p < 0 || p >= x.rank() || seen[p]) {
        return ctx.error("perm " + ints_to_string(perm) + " is not a permutation");
      }
      seen[p] = true;
    }
    COMPRESSOR_ASSIGN_OR_RETURN(ctx.outputs[0], permute(x, x.dims(), perm, ctx));
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_depth_to_space(const NodeView& view) {
  const int64_t bs = view.node().attr_int("blocksize", 0);
  const auto* mode_attr = view.node().attribute("mode");
  const std::string mode = mode_attr ? mode_attr->s() : "DCR";
  if (bs <= 0) return view.error("blocksize must be positive");
  if (mode != "DCR" && mode != "CRD") return view.error("unsupported mode '" + mode + "'");
  const bool dcr = mode == "DCR";
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.rank() != 4) return ctx.error("input must have rank 4");
    const auto& d = x.dims();
    if (d[1] % (bs * bs) != 0) return ctx.error("channels are not divisible by blocksize^2");
    const int64_t c = d[1] / (bs * bs);
    Tensor y;
    if (dcr) {
      COMPRESSOR_ASSIGN_OR_RETURN(
          y, permute(x, {d[0], bs, bs, c, d[2], d[3]}, {0, 3, 4, 1, 5, 2}, ctx));
    } else {
      COMPRESSOR_ASSIGN_OR_RETURN(
          y, permute(x, {d[0], c, bs, bs, d[2], d[3]}, {0, 1, 4, 2, 5, 3}, ctx));
    }
    ctx.outputs[0] = y.reshaped({d[0], c, d[2] * bs, d[3] * bs});
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_space_to_depth(const NodeView& view) {
  const int64_t bs = view.node().attr_int("blocksize", 0);
  if (bs <= 0) return view.error("blocksize must be positive");
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.rank() != 4) return ctx.error("input must have rank 4");
    const auto& d = x.dims();
    if (d[2] % bs != 0 || d[3] % bs != 0) {
      return ctx.error("spatial dims are not divisible by blocksize");
    }
    COMPRESSOR_ASSIGN_OR_RETURN(
        Tensor y, permute(x, {d[0], d[1], d[2] / bs, bs, d[3] / bs, bs}, {0, 3, 5, 1, 2, 4}, ctx));
    ctx.outputs[0] = y.reshaped({d[0], d[1] * bs * bs, d[2] / bs, d[3] / bs});
    return Status::ok_status();
  });
}

// ---------------------------------------------------------------------------------------------
// Concat, Split, Slice, Gather, GatherElements, Expand, Tile.

StatusOr<std::unique_ptr<Kernel>> make_concat(const NodeView& view) {
  if (view.node().attribute("axis") == nullptr) return view.error("missing the axis attribute");
  const int64_t axis_attr = view.node().attr_int("axis", 0);
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& first = ctx.input(0);
    const int64_t rank = first.rank();
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, rank, ctx));
    Dims dims = first.dims();
    dims[axis] = 0;
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
      const Tensor& t = ctx.input(i);
      if (t.dtype() != first.dtype() || t.rank() != rank) {
        return ctx.error("inputs differ in dtype or rank");
      }
      for (int64_t k = 0; k < rank; ++k) {
        if (k != axis && t.dims()[k] != first.dims()[k]) {
          return ctx.error("input " + std::to_string(i) + " has shape " +
                           ir::dims_to_string(t.dims()) + ", incompatible with " +
                           ir::dims_to_string(first.dims()) + " on axis " + std::to_string(k));
        }
      }
      dims[axis] += t.dims()[axis];
    }
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= dims[k];
    for (int64_t k = axis + 1; k < rank; ++k) inner *= dims[k];
    const int64_t row = dims[axis] * inner;
    return dispatch_storage(first.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Out<T> out(first.dtype(), dims, /*zero=*/false);  // the inputs tile the output
      T* dst = out.data();
      int64_t offset = 0;
      for (size_t i = 0; i < ctx.inputs.size(); ++i) {
        const Tensor& t = ctx.input(i);
        const int64_t block = t.dims()[axis] * inner;
        const T* src = elems<T>(t);
        if (block > 0) {
          exec::parallel_for(ctx.pool, outer, std::max<int64_t>(1, 16384 / block),
                             [&](int64_t o0, int64_t o1) {
                               for (int64_t o = o0; o < o1; ++o) {
                                 std::copy_n(src + o * block, block, dst + o * row + offset);
                               }
                             });
        }
        offset += block;
      }
      ctx.outputs[0] = out.finish();
      return Status::ok_status();
    });
  });
}

StatusOr<std::unique_ptr<Kernel>> make_split(const NodeView& view) {
  const int64_t axis_attr = view.node().attr_int("axis", 0);
  const bool from_attr = view.opset() < 13;
  const std::vector<int64_t> split_attr = view.node().attr_ints("split");
  const auto* num_attr = view.node().attribute("num_outputs");
  const int64_t num_outputs = num_attr ? num_attr->i() : 0;
  const int64_t n_out = static_cast<int64_t>(view.node().outputs.size());
  if (num_attr != nullptr && num_outputs != n_out) {
    return view.error("num_outputs " + std::to_string(num_outputs) + " differs from the " +
                      std::to_string(n_out) + " outputs");
  }
  if (num_attr != nullptr && view.has_input(1)) {
    return view.error("both num_outputs and the split input are given");
  }
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, x.rank(), ctx));
    const int64_t len = x.dims()[axis];
    std::vector<int64_t> split = split_attr;
    if (!from_attr && ctx.has_input(1)) {
      COMPRESSOR_ASSIGN_OR_RETURN(split, int_input(ctx, 1, "split"));
    }
    if (split.empty()) {
      if (num_outputs > 0) {
        const int64_t chunk = (len + n_out - 1) / n_out;
        for (int64_t i = 0; i < n_out; ++i) {
          split.push_back(std::max<int64_t>(0, std::min(chunk, len - i * chunk)));
        }
      } else {
        if (len % n_out != 0) {
          return ctx.error("axis of size " + std::to_string(len) + " does not split into " +
                           std::to_string(n_out) + " equal parts");
        }
        split.assign(n_out, len / n_out);
      }
    }
    if (static_cast<int64_t>(split.size()) != n_out) {
      return ctx.error("split " + ints_to_string(split) + " does not have one entry per output");
    }
    if (std::accumulate(split.begin(), split.end(), int64_t{0}) != len ||
        std::any_of(split.begin(), split.end(), [](int64_t v) { return v < 0; })) {
      return ctx.error("split " + ints_to_string(split) + " does not sum to the axis size " +
                       std::to_string(len));
    }
    const auto strides = strides_of(x.dims());
    int64_t start = 0;
    for (int64_t i = 0; i < n_out; ++i) {
      Dims dims = x.dims();
      dims[axis] = split[i];
      if (i < static_cast<int64_t>(ctx.outputs.size())) {
        COMPRESSOR_ASSIGN_OR_RETURN(ctx.outputs[i],
                                    gather_strided(x, dims, strides, start * strides[axis], ctx));
      }
      start += split[i];
    }
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_slice(const NodeView& view) {
  const bool from_attr = view.opset() < 10;
  const auto& node = view.node();
  const std::vector<int64_t> a_starts = node.attr_ints("starts");
  const std::vector<int64_t> a_ends = node.attr_ints("ends");
  const std::vector<int64_t> a_axes = node.attr_ints("axes");
  const bool has_axes_attr = node.attribute("axes") != nullptr;
  if (from_attr && (a_starts.size() != a_ends.size())) {
    return view.error("starts and ends differ in length");
  }
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> starts = a_starts, ends = a_ends, axes = a_axes, steps;
    bool has_axes = has_axes_attr;
    if (!from_attr) {
      COMPRESSOR_ASSIGN_OR_RETURN(starts, int_input(ctx, 1, "starts"));
      COMPRESSOR_ASSIGN_OR_RETURN(ends, int_input(ctx, 2, "ends"));
      has_axes = ctx.has_input(3);
      if (has_axes) {
        COMPRESSOR_ASSIGN_OR_RETURN(axes, int_input(ctx, 3, "axes"));
      }
      if (ctx.has_input(4)) {
        COMPRESSOR_ASSIGN_OR_RETURN(steps, int_input(ctx, 4, "steps"));
      }
    }
    if (!has_axes) {
      axes.resize(starts.size());
      std::iota(axes.begin(), axes.end(), int64_t{0});
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() ||
        steps.size() != starts.size()) {
      return ctx.error("starts, ends, axes and steps differ in length");
    }
    COMPRESSOR_ASSIGN_OR_RETURN(auto norm, normalize_axes(axes, x.rank(), ctx));
    Dims dims = x.dims();
    auto strides = strides_of(x.dims());
    int64_t base = 0;
    for (size_t i = 0; i < norm.size(); ++i) {
      const int64_t a = norm[i], dim = x.dims()[a], step = steps[i];
      if (step == 0) return ctx.error("slice step is 0");
      int64_t start = starts[i], end = ends[i];
      if (start < 0) start += dim;
      if (end < 0) end += dim;
      int64_t count;
      if (step > 0) {
        start = std::clamp<int64_t>(start, 0, dim);
        end = std::clamp<int64_t>(end, 0, dim);
        count = end > start ? (end - start + step - 1) / step : 0;
      } else {
        start = std::clamp<int64_t>(start, -1, dim - 1);
        end = std::clamp<int64_t>(end, -1, dim - 1);
        count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
      }
      dims[a] = count;
      if (count > 0) base += start * strides[a];
      strides[a] *= step;
    }
    COMPRESSOR_ASSIGN_OR_RETURN(ctx.outputs[0], gather_strided(x, dims, strides, base, ctx));
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_gather(const NodeView& view) {
  const int64_t axis_attr = view.node().attr_int("axis", 0);
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, x.rank(), ctx));
    COMPRESSOR_ASSIGN_OR_RETURN(auto idx, int_input(ctx, 1, "indices"));
    const int64_t n = x.dims()[axis];
    for (auto& i : idx) {
      if (i < -n || i >= n) {
        return ctx.error("index " + std::to_string(i) + " is out of range for an axis of size " +
                         std::to_string(n));
      }
      if (i < 0) i += n;
    }
    Dims dims(x.dims().begin(), x.dims().begin() + axis);
    const Dims& idims = ctx.input(1).dims();
    dims.insert(dims.end(), idims.begin(), idims.end());
    dims.insert(dims.end(), x.dims().begin() + axis + 1, x.dims().end());
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= x.dims()[k];
    for (int64_t k = axis + 1; k < x.rank(); ++k) inner *= x.dims()[k];
    const int64_t m = static_cast<int64_t>(idx.size());
    return dispatch_storage(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Out<T> out(x.dtype(), dims);
      T* dst = out.data();
      const T* src = elems<T>(x);
      exec::parallel_for(ctx.pool, outer * m,
                         std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                         [&](int64_t b, int64_t e) {
                           for (int64_t r = b; r < e; ++r) {
                             const int64_t o = r / m, j = r % m;
                             std::copy_n(src + (o * n + idx[j]) * inner, inner, dst + r * inner);
                           }
                         });
      ctx.outputs[0] = out.finish();
      return Status::ok_status();
    });
  });
}

StatusOr<std::unique_ptr<Kernel>> make_gather_elements(const NodeView& view) {
  const int64_t axis_attr = view.node().attr_int("axis", 0);
  return lambda([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, x.rank(), ctx));
    COMPRESSOR_ASSIGN_OR_RETURN(auto idx, int_input(ctx, 1, "indices"));
    const Dims& dims = ctx.input(1).dims();
    if (static_cast<int64_t>(dims.size()) != x.rank()) {
      return ctx.error("indices rank differs from data rank");
    }
    for (int64_t k = 0; k < x.rank(); ++k) {
      if (k != axis && dims[k] > x.dims()[k]) {
        return ctx.error("indices shape " + ir::dims_to_string(dims) + " exceeds data shape " +
                         ir::dims_to_string(x.dims()));
      }
    }
    const int64_t n = x.dims()[axis];
    const auto xs = strides_of(x.dims());
    return dispatch_storage(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Out<T> out(x.dtype(), dims);
      T* dst = out.data();
      const T* src = elems<T>(x);
      std::vector<int64_t> pos(dims.size(), 0);
      for (size_t i = 0; i < idx.size(); ++i) {
        int64_t j = idx[i];
        if (j < -n || j >= n) {
          return ctx.error("index " + std::to_string(j) + " is out of range for an axis of size " +
                           std::to_string(n));
        }
        if (j < 0) j += n;
        int64_t off = 0;
        for (size_t k = 0; k < dims.size(); ++k) {
          off += (static_cast<int64_t>(k) == axis ? j : pos[k]) * xs[k];
        }
        dst[i] = src[off];
        for (size_t k = dims.size(); k-- > 0;) {
          if (++pos[k] < dims[k]) break;
          pos[k] = 0;
        }
      }
      ctx.outputs[0] = out.finish();
      return Status::ok_status();
    });
  });
}

StatusOr<std::unique_ptr<Kernel>> make_expand(const NodeView&) {
  return lambda([](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    COMPRESSOR_ASSIGN_OR_RETURN(auto shape, int_input(ctx, 1, "shape"));
    COMPRESSOR_ASSIGN_OR_RETURN(Dims dims, broadcast_shape(x.dims(), shape, ctx));
    COMPRESSOR_ASSIGN_OR_RETURN(ctx.outputs[0],
                                gather_strided(x, dims, broadcast_strides(x.dims(), dims), 0, ctx));
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_tile(const NodeView&) {
  return lambda([](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    COMPRESSOR_ASSIGN_OR_RETURN(auto repeats, int_input(ctx, 1, "repeats"));
    if (static_cast<int64_t>(repeats.size()) != x.rank()) {
      return ctx.error("repeats " + ints_to_string(repeats) + " does not match rank " +
                       std::to_string(x.rank()));
    }
    // Output axis k of size r*d is read as two axes (r, d) with strides (0, stride_k).
    const auto st = strides_of(x.dims());
    Dims view_dims, out_dims;
    std::vector<int64_t> strides;
    for (int64_t k = 0; k < x.rank(); ++k) {
      if (repeats[k] < 0) return ctx.error("repeats must not be negative");
      view_dims.insert(view_dims.end(), {repeats[k], x.dims()[k]});
      strides.insert(strides.end(), {0, st[k]});
      out_dims.push_back(repeats[k] * x.dims()[k]);
    }
    COMPRESSOR_ASSIGN_OR_RETURN(Tensor y, gather_strided(x, view_dims, strides, 0, ctx));
    ctx.outputs[0] = y.reshaped(std::move(out_dims));
    return Status::ok_status();
  });
}

// ---------------------------------------------------------------------------------------------
// Shape, Size, Constant, ConstantOfShape, Range.

StatusOr<std::unique_ptr<Kernel>> make_shape(const NodeView& view) {
  const auto* start_attr = view.node().attribute("start");
  const auto* end_attr = view.node().attribute("end");
  const int64_t start0 = start_attr ? start_attr->i() : 0;
  const bool has_end = end_attr != nullptr;
  const int64_t end0 = has_end ? end_attr->i() : 0;
  return lambda([=](KernelContext& ctx) -> Status {
    const Dims& d = ctx.input(0).dims();
    const int64_t r = static_cast<int64_t>(d.size());
    int64_t start = start0 < 0 ? start0 + r : start0;
    int64_t end = has_end ? (end0 < 0 ? end0 + r : end0) : r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
    std::vector<int64_t> v;
    if (end > start) v.assign(d.begin() + start, d.begin() + end);
    ctx.outputs[0] = Tensor::from_values<int64_t>({static_cast<int64_t>(v.size())}, v);
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_size(const NodeView&) {
  return lambda([](KernelContext& ctx) -> Status {
    const std::vector<int64_t> v{ctx.input(0).numel()};
    ctx.outputs[0] = Tensor::from_values<int64_t>({}, v);
    return Status::ok_status();
  });
}

StatusOr<Tensor> attribute_tensor(const ir::Attribute& a, const NodeView& view) {
  onnx::TensorProto copy = a.proto().t();
  return io::tensor_from_proto(std::move(copy), view.node().label() + " " + a.name());
}

StatusOr<std::unique_ptr<Kernel>> make_constant(const NodeView& view) {
  Tensor value;
  bool found = false;
  using T = ir::Attribute::Type;
  for (const ir::Attribute& a : view.node().attributes) {
    const std::string& n = a.name();
    if (n == "value" && a.type() == T::kTensor) {
      COMPRESSOR_ASSIGN_OR_RETURN(value, attribute_tensor(a, view));
    } else if (n == "value_float") {
      value = Tensor::from_values<float>({}, std::vector<float>{a.f()});
    } else if (n == "value_floats") {
      auto v = a.floats();
      value = Tensor::from_values<float>({static_cast<int64_t>(v.size())}, v);
    } else if (n == "value_int") {
      value = Tensor::from_values<int64_t>({}, std::vector<int64_t>{a.i()});
    } else if (n == "value_ints") {
      auto v = a.ints();
      value = Tensor::from_values<int64_t>({static_cast<int64_t>(v.size())}, v);
    } else if (n == "value_string") {
      value = Tensor::from_strings({}, {a.s()});
    } else if (n == "value_strings") {
      const auto& p = a.proto().strings();
      value = Tensor::from_strings({static_cast<int64_t>(p.size())},
                                   std::vector<std::string>(p.begin(), p.end()));
    } else {
      return view.error("unsupported attribute '" + n + "'");
    }
    if (found) return view.error("more than one value attribute");
    found = true;
  }
  if (!found) return view.error("no value attribute");
  return lambda([value](KernelContext& ctx) -> Status {
    ctx.outputs[0] = value;
    return Status::ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_constant_of_shape(const NodeView& view) {
  Tensor value = Tensor::from_values<float>({1}, std::vector<float>{0.0f});
  if (const auto* a = view.node().attribute("value")) {
    COMPRESSOR_ASSIGN_OR_RETURN(value, attribute_tensor(*a, view));
    if (value.numel() != 1) return view.error("value must hold exactly one element");
    if (value.dtype() == DType::kString) return view.error("string values are not supported");
  }
  return lambda([value](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(auto shape, int_input(ctx, 0, "shape"));
    for (int64_t s : shape) {
      if (s < 0) return ctx.error("shape " + ints_to_string(shape) + " has a negative dim");
    }
    return dispatch_storage(value.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Out<T> out(value.dtype(), shape);
      std::fill_n(out.data(), ir::element_count(shape), elems<T>(value)[0]);
      ctx.outputs[0] = out.finish();
      return Status::ok_status();
    });
  });
}

StatusOr<std::unique_ptr<Kernel>> make_range(const NodeView&) {
  return lambda([](KernelContext& ctx) -> Status {
    const DType dt = ctx.input(0).dtype();
    if (ctx.input(1).dtype() != dt || ctx.input(2).dtype() != dt) {
      return ctx.error("start, limit and delta differ in dtype");
    }
    if (ctx.input(0).numel() != 1 || ctx.input(1).numel() != 1 || ctx.input(2).numel() != 1) {
      return ctx.error("start, limit and delta must be scalars");
    }
    auto run = [&](auto tag) -> Status {
      using T = decltype(tag);
      const T start = ctx.input(0).span<T>()[0], limit = ctx.input(1).span<T>()[0],
              delta = ctx.input(2).span<T>()[0];
      if (delta == T(0)) return ctx.error("delta is 0");
      const double count = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                                     static_cast<double>(delta));
      const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
      Tensor y = Tensor::zeros(dt, {n});
      auto out = y.mutable_span<T>();
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(start + static_cast<T>(i) * delta);
      ctx.outputs[0] = std::move(y);
      return Status::ok_status();
    };
    switch (dt) {
      case DType::kFloat:
        return run(float{});
      case DType::kDouble:
        return run(double{});
      case DType::kInt16:
        return run(int16_t{});
      case DType::kInt32:
        return run(int32_t{});
      case DType::kInt64:
        return run(int64_t{});
      default:
        return ctx.error("unsupported data type " + std::string(ir::dtype_name(dt)));
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Cast, CastLike, Trilu, NonZero.

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>;

/// float32 to bfloat16 as ONNX 1.12's Cast conformance data expects: the upper 16 bits of the
/// float32 (rounding toward zero), with NaN kept a quiet NaN of the same sign.
Eigen::bfloat16 truncate_to_bfloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  uint16_t upper = static_cast<uint16_t>(bits >> 16);
  if (std::isnan(f)) upper |= 0x0040;  // a payload only in the dropped bits would read as inf
  return Eigen::numext::bit_cast<Eigen::bfloat16>(upper);
}

/// C++ conversion semantics (float to int truncates); half types go through float, and float
/// to bfloat16 truncates (see truncate_to_bfloat16).
template <typename D, typename S>
D convert(S s) {
  if constexpr (kIsHalf<S>) {
    return convert<D>(static_cast<float>(s));
  } else if constexpr (std::is_same_v<D, bool>) {
    return s != S(0);
  } else if constexpr (std::is_same_v<D, Eigen::bfloat16>) {
    return truncate_to_bfloat16(static_cast<float>(s));
  } else if constexpr (kIsHalf<D>) {
    return D(static_cast<float>(s));
  } else {
    return static_cast<D>(s);
  }
}

// Cast and CastLike convert between real numbers, bool and strings.
bool is_castable(DType t) { return is_real_or_bool(t) || t == DType::kString; }

/// Shortest round-trip text of a number (as numpy's str of a scalar).
template <typename S>
std::string to_text(S v) {
  char buf[64];
  std::to_chars_result r;
  if constexpr (kIsHalf<S>) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v));
  } else if constexpr (std::is_same_v<S, bool>) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<int>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), v);
  }
  return std::string(buf, r.ptr);
}

/// Parses text as a number ("nan", "inf" and exponents included) into D.
template <typename D>
D from_text(const std::string& s) {
  if constexpr (std::is_integral_v<D> && !std::is_same_v<D, bool>) {
    if (s.find_first_of(".eEnN") == std::string::npos) {
      if constexpr (std::is_signed_v<D>) {
        return static_cast<D>(std::strtoll(s.c_str(), nullptr, 10));
      } else {
        return static_cast<D>(std::strtoull(s.c_str(), nullptr, 10));
      }
    }
  }
  return convert<D>(std::strtod(s.c_str(), nullptr));
}

Status cast_to(const Tensor& x, DType to, KernelContext& ctx) {
  if (x.dtype() == to) {
    ctx.outputs[0] = x;
    return Status::ok_status();
  }
  if (!is_castable(x.dtype())) {
    return ctx.error("cast from " + std::string(ir::dtype_name(x.dtype())) + " is not supported");
  }
  if (to == DType::kString) {
    return dispatch_value(x.dtype(), ctx, [&](auto stag) -> Status {
      using S = decltype(stag);
      const S* src = reinterpret_cast<const S*>(x.data());
      std::vector<std::string> out(static_cast<size_t>(x.numel()));
      for (size_t i = 0; i < out.size(); ++i) out[i] = to_text(src[i]);
      ctx.outputs[0] = Tensor::from_strings(x.dims(), std::move(out));
      return Status::ok_status();
    });
  }
  if (x.dtype() == DType::kString) {
    return dispatch_value(to, ctx, [&](auto dtag) -> Status {
      using D = decltype(dtag);
      Tensor y = Tensor::zeros(to, x.dims());
      D* dst = reinterpret_cast<D*>(y.mutable_data());
      const auto& src = x.strings();
      for (size_t i = 0; i < src.size(); ++i) dst[i] = from_text<D>(src[i]);
      ctx.outputs[0] = std::move(y);
      return Status::ok_status();
    });
  }
  return dispatch_value(x.dtype(), ctx, [&](auto stag) -> Status {
    using S = decltype(stag);
    return dispatch_value(to, ctx, [&](auto dtag) -> Status {
      using D = decltype(dtag);
      Tensor y = Tensor::zeros(to, x.dims());
      const S* src = reinterpret_cast<const S*>(x.data());
      D* dst = reinterpret_cast<D*>(y.mutable_data());
      exec::parallel_for(ctx.pool, x.numel(), 1 << 15, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = convert<D>(src[i]);
      });
      ctx.outputs[0] = std::move(y);
      return Status::ok_status();
    });
  });
}

StatusOr<std::unique_ptr<Kernel>> make_cast(const NodeView& view) {
  const auto* a = view.node().attribute("to");
  if (a == nullptr) return view.error("missing the 'to' attribute");
  const auto to = ir::dtype_from_onnx(static_cast<int32_t>(a->i()));
  if (!to || !is_castable(*to)) {
    return view.error("cast to " +
                      (to ? std::string(ir::dtype_name(*to)) : std::to_string(a->i())) +
                      " is not supported");
  }
  const DType in = view.input_dtype(0);
  if (in != DType::kUndefined && !is_castable(in)) {
    return view.error("cast from " + std::string(ir::dtype_name(in)) + " is not supported");
  }
  const DType target = *to;
  return lambda([target](KernelContext& ctx) { return cast_to(ctx.input(0), target, ctx); });
}

StatusOr<std::unique_ptr<Kernel>> make_cast_like(const NodeView& view) {
  for (size_t i = 0; i < 2; ++i) {
    const DType t = view.input_dtype(i);
    if (t != DType::kUndefined && !is_castable(t)) {
      return view.error("cast " + std::string(i == 0 ? "from " : "to ") +
                        std::string(ir::dtype_name(t)) + " is not supported");
    }
  }
  return lambda([](KernelContext& ctx) -> Status {
    const DType to = ctx.input(1).dtype();
    if (!is_castable(to)) {
      return ctx.error("cast to " + std::string(ir::dtype_name(to)) + " is not supported");
    }
    return cast_to(ctx.input(0), to, ctx);
  });
}

StatusOr<std::unique_ptr<Kernel>> make_trilu(const NodeView& view) {
  const bool upper = view.node().attr_int("upper", 1) != 0;
  return lambda([upper](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2) return ctx.error("input must have rank >= 2");
    int64_t k = 0;
    if (ctx.has_input(1)) {
      COMPRESSOR_ASSIGN_OR_RETURN(auto kv, int_input(ctx, 1, "k"));
      if (kv.size() != 1) return ctx.error("k must be a scalar");
      k = kv[0];
    }
    const int64_t rows = x.dims()[x.rank() - 2], cols = x.dims()[x.rank() - 1];
    const int64_t mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
    return dispatch_storage(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Out<T> out(x.dtype(), x.dims());
      T* dst = out.data();
      const T* src = elems<T>(x);
      for (int64_t m = 0; m < mats; ++m) {
        for (int64_t i = 0; i < rows; ++i) {
          // Kept columns: j >= i + k (upper) or j <= i + k (lower).
          const int64_t base = (m * rows + i) * cols;
          const int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
          const int64_t hi = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
          if (hi > lo) std::copy(src + base + lo, src + base + hi, dst + base + lo);
        }
      }
      ctx.outputs[0] = out.finish();
      return Status::ok_status();
    });
  });
}

StatusOr<std::unique_ptr<Kernel>> make_non_zero(const NodeView&) {
  return lambda([](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    return dispatch_value(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = reinterpret_cast<const T*>(x.data());
      const int64_t n = x.numel();
      std::vector<int64_t> hits;
      for (int64_t i = 0; i < n; ++i) {
        if (convert<bool>(src[i])) hits.push_back(i);
      }
      const int64_t r = x.rank(), nnz = static_cast<int64_t>(hits.size());
      Tensor y = Tensor::zeros(DType::kInt64, {r, nnz});
      auto out = y.mutable_span<int64_t>();
      for (int64_t j = 0; j < nnz; ++j) {
        int64_t rem = hits[j];
        for (int64_t k = r; k-- > 0;) {
          out[k * nnz + j] = rem % x.dims()[k];
          rem /= x.dims()[k];
        }
      }
      ctx.outputs[0] = std::move(y);
      return Status::ok_status();
    });
  });
}

}  // namespace

void register_shape_ops_kernels(exec::KernelRegistry& r) {
  constexpr int kMax = 1 << 20;
  r.add("Reshape", make_reshape);
  r.add("Flatten", make_flatten);
  r.add("Squeeze", make_squeeze);
  r.add("Unsqueeze", make_unsqueeze);
  r.add("", "Identity", 1, 13, make_identity);  // 14+: sequence.cc (sequences, optionals)
  r.add("Transpose", make_transpose);
  r.add("DepthToSpace", make_depth_to_space);
  r.add("SpaceToDepth", make_space_to_depth);
  r.add("", "Concat", 4, kMax, make_concat);
  r.add("", "Split", 2, kMax, make_split);
  r.add("Slice", make_slice);
  r.add("Gather", make_gather);
  r.add("", "GatherElements", 11, kMax, make_gather_elements);
  r.add("", "Expand", 8, kMax, make_expand);
  r.add("", "Tile", 6, kMax, make_tile);
  r.add("Shape", make_shape);
  r.add("Size", make_size);
  r.add("Constant", make_constant);
  r.add("", "ConstantOfShape", 9, kMax, make_constant_of_shape);
  r.add("", "Range", 11, kMax, make_range);
  r.add("", "Cast", 6, kMax, make_cast);
  r.add("", "CastLike", 15, kMax, make_cast_like);
  r.add("", "Trilu", 14, kMax, make_trilu);
  r.add("", "NonZero", 9, kMax, make_non_zero);
}

}  // namespace compressor::kernels
