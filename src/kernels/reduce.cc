// Kernel family 'reduce': Reduce* (Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum,
// LogSumExp), ArgMax/ArgMin, TopK and CumSum.
//
// Reductions accumulate in double. When the reduced axes form one contiguous block of the input
// (size-1 axes ignored), the input is read in place as [outer, R, inner]: rows of R elements are
// reduced with Eigen (inner == 1), or R rows of `inner` elements are accumulated as vectors.
// Any other set of axes is first gathered into a [kept, R] double buffer.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

/// Calls fn(T{}) for the dtypes these kernels compute on.
template <typename Fn>
Status dispatch_reduce_types(DType dtype, const KernelContext& ctx, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat:
      return fn(float{});
    case DType::kDouble:
      return fn(double{});
    case DType::kInt64:
      return fn(int64_t{});
    case DType::kInt32:
      return fn(int32_t{});
    case DType::kInt8:
      return fn(int8_t{});
    case DType::kUInt8:
      return fn(uint8_t{});
    default:
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(dtype)));
  }
}

bool reduce_type_supported(DType t) {
  return t == DType::kUndefined || t == DType::kFloat || t == DType::kDouble ||
         t == DType::kInt64 || t == DType::kInt32 || t == DType::kInt8 || t == DType::kUInt8;
}

/// Plan-time dtype check of input 0 (when the dtype is known).
Status check_input_dtype(const NodeView& view) {
  if (!reduce_type_supported(view.input_dtype(0))) {
    return view.error("unsupported data type " + std::string(ir::dtype_name(view.input_dtype(0))));
  }
  return Status::ok_status();
}

/// Converts a double result to T; non-finite values saturate for integer types.
template <typename T>
T from_double(double v) {
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return T(0);
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) {
      return std::numeric_limits<T>::lowest();
    }
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) {
      return std::numeric_limits<T>::max();
    }
  }
  return static_cast<T>(v);
}

/// Input viewed as [outer, n, inner] around one axis.
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisView around_axis(const Dims& d, int64_t axis) {
  AxisView v;
  for (int64_t k = 0; k < axis; ++k) v.outer *= d[k];
  v.n = d[axis];
  for (size_t k = axis + 1; k < d.size(); ++k) v.inner *= d[k];
  return v;
}

// ---------------------------------------------------------------------------------------------
// Reduce*.

enum class Kind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

constexpr double kInf = std::numeric_limits<double>::infinity();

double init_value(Kind k) {
  switch (k) {
    case Kind::kProd:
      return 1.0;
    case Kind::kMax:
    case Kind::kLogSumExp:
      return -kInf;
    case Kind::kMin:
      return kInf;
    default:
      return 0.0;
  }
}

/// Reduces one row expression of doubles (before finalize).
template <typename E>
double reduce_row(const E& e, Kind k) {
  switch (k) {
    case Kind::kMax:
      return e.maxCoeff();
    case Kind::kMin:
      return e.minCoeff();
    case Kind::kProd:
      return e.prod();
    case Kind::kL1:
      return e.abs().sum();
    case Kind::kL2:
    case Kind::kSumSquare:
      return e.square().sum();
    case Kind::kLogSumExp: {
      const double m = e.maxCoeff();
      if (!std::isfinite(m)) return m;
      return std::log((e - m).exp().sum()) + m;
    }
    default:
      return e.sum();
  }
}

/// out[o * inner + j] = reduction over r of x[(o * R + r) * inner + j] (before finalize).
template <typename S>
void reduce_block(const S* x, int64_t outer, int64_t R, int64_t inner, Kind kind, double* out,
                  exec::ThreadPool* pool) {
  using ConstMap = Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>>;
  using AccMap = Eigen::Map<Eigen::ArrayXd>;
  if (R == 0) {
    std::fill_n(out, outer * inner, init_value(kind));
    return;
  }
  if (inner == 1) {
    exec::parallel_for(pool, outer, std::max<int64_t>(1, 8192 / R), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        out[o] = reduce_row(ConstMap(x + o * R, R).template cast<double>(), kind);
      }
    });
    return;
  }
  constexpr int64_t kBlock = 2048;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  exec::parallel_for(
      pool, outer * blocks, std::max<int64_t>(1, 8192 / (R * std::min(inner, kBlock))),
      [&](int64_t b, int64_t e) {
        std::vector<double> max_buf;
        for (int64_t t = b; t < e; ++t) {
          const int64_t o = t / blocks, j0 = (t % blocks) * kBlock;
          const int64_t len = std::min(kBlock, inner - j0);
          AccMap acc(out + o * inner + j0, len);
          auto row = [&](int64_t r) {
            return ConstMap(x + (o * R + r) * inner + j0, len).template cast<double>();
          };
          switch (kind) {
            case Kind::kMax:
              acc = row(0);
              for (int64_t r = 1; r < R; ++r) acc = acc.max(row(r));
              break;
            case Kind::kMin:
              acc = row(0);
              for (int64_t r = 1; r < R; ++r) acc = acc.min(row(r));
              break;
            case Kind::kProd:
              acc = row(0);
              for (int64_t r = 1; r < R; ++r) acc *= row(r);
              break;
            case Kind::kL1:
              acc.setZero();
              for (int64_t r = 0; r < R; ++r) acc += row(r).abs();
              break;
            case Kind::kL2:
            case Kind::kSumSquare:
              acc.setZero();
              for (int64_t r = 0; r < R; ++r) acc += row(r).square();
              break;
            case Kind::kLogSumExp: {
              max_buf.assign(len, -kInf);
              AccMap m(max_buf.data(), len);
              for (int64_t r = 0; r < R; ++r) m = m.max(row(r));
              m = m.isFinite().select(m, 0.0);
              acc.setZero();
              for (int64_t r = 0; r < R; ++r) acc += (row(r) - m).exp();
              acc = acc.log() + m;
              break;
            }
            default:
              acc.setZero();
              for (int64_t r = 0; r < R; ++r) acc += row(r);
              break;
          }
        }
      });
}

void finalize(Kind kind, int64_t R, Eigen::Map<Eigen::ArrayXd> v) {
  switch (kind) {
    case Kind::kMean:
      v /= static_cast<double>(R);
      break;
    case Kind::kL2:
      v = v.sqrt();
      break;
    case Kind::kLogSum:
      v = v.log();
      break;
    default:
      break;
  }
}

class ReduceKernel final : public Kernel {
 public:
  ReduceKernel(Kind kind, bool keepdims, bool noop_with_empty_axes, bool axes_from_input,
               std::vector<int64_t> axes)
      : kind_(kind),
        keepdims_(keepdims),
        noop_(noop_with_empty_axes),
        axes_from_input_(axes_from_input),
        axes_(std::move(axes)) {}

  Status compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    std::vector<int64_t> axes = axes_;
    if (axes_from_input_ && ctx.has_input(1)) {
      const Tensor& a = ctx.input(1);
      if (a.dtype() != DType::kInt64 && a.dtype() != DType::kInt32) {
        return ctx.error("axes must be int64");
      }
      axes = to_int64_vector(a);
    }
    if (axes.empty() && noop_) {
      ctx.outputs[0] = x;
      return Status::ok_status();
    }
    std::vector<bool> reduced(rank, axes.empty());
    for (int64_t a : axes) {
      COMPRESSOR_ASSIGN_OR_RETURN(const int64_t n, normalize_axis(a, rank, ctx));
      if (rank == 0) continue;
      reduced[n] = true;
    }
    Dims out_dims;
    int64_t R = 1;
    for (int64_t k = 0; k < rank; ++k) {
      if (reduced[k]) {
        R *= x.dims()[k];
        if (keepdims_) out_dims.push_back(1);
      } else {
        out_dims.push_back(x.dims()[k]);
      }
    }
    const int64_t kept = ir::element_count(out_dims);
    return dispatch_reduce_types(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      std::vector<double> acc(static_cast<size_t>(kept));
      const T* src = reinterpret_cast<const T*>(x.data());
      // Layout: kept* reduced* kept* over the non-1 axes means an in-place [outer, R, inner].
      int64_t outer = 1, inner = 1;
      int phase = 0;  // 0: leading kept, 1: reduced, 2: trailing kept, 3: not contiguous
      for (int64_t k = 0; k < rank && phase < 3; ++k) {
        const int64_t d = x.dims()[k];
        if (d == 1) continue;
        if (reduced[k]) {
          if (phase == 2) phase = 3;
          if (phase == 0) phase = 1;
        } else {
          if (phase == 1) phase = 2;
          if (phase == 0) outer *= d;
          if (phase == 2) inner *= d;
        }
      }
      if (x.numel() == 0 && kept > 0) {
        reduce_block(src, kept, 0, 1, kind_, acc.data(), ctx.pool);
      } else if (phase < 3) {
        reduce_block(src, outer, R, inner, kind_, acc.data(), ctx.pool);
      } else {
        // Gather [kept, R] in double: row offsets over kept axes, column offsets over reduced.
        const auto st = strides_of(x.dims());
        std::vector<int64_t> row_off{0}, col_off{0};
        for (int64_t k = 0; k < rank; ++k) {
          auto& offs = reduced[k] ? col_off : row_off;
          std::vector<int64_t> next;
          next.reserve(offs.size() * x.dims()[k]);
          for (int64_t base : offs) {
            for (int64_t i = 0; i < x.dims()[k]; ++i) next.push_back(base + i * st[k]);
          }
          offs = std::move(next);
        }
        std::vector<double> buf(static_cast<size_t>(kept * R));
        for (int64_t r = 0; r < kept; ++r) {
          for (int64_t c = 0; c < R; ++c)
            buf[r * R + c] = static_cast<double>(src[row_off[r] + col_off[c]]);
        }
        reduce_block(buf.data(), kept, R, 1, kind_, acc.data(), ctx.pool);
      }
      finalize(kind_, R, Eigen::Map<Eigen::ArrayXd>(acc.data(), kept));
      Tensor y = Tensor::zeros(x.dtype(), out_dims);
      auto out = y.mutable_span<T>();
      for (int64_t i = 0; i < kept; ++i) out[i] = from_double<T>(acc[i]);
      ctx.outputs[0] = std::move(y);
      return Status::ok_status();
    });
  }

 private:
  Kind kind_;
  bool keepdims_;
  bool noop_;
  bool axes_from_input_;
  std::vector<int64_t> axes_;
};

exec::KernelFactory reduce_factory(Kind kind, int axes_input_since) {
  return [kind, axes_input_since](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    COMPRESSOR_RETURN_IF_ERROR(check_input_dtype(view));
    const bool from_input = view.opset() >= axes_input_since;
    const bool keepdims = view.node().attr_int("keepdims", 1) != 0;
    const bool noop = view.node().attr_int("noop_with_empty_axes", 0) != 0;
    std::vector<int64_t> axes;
    if (from_input) {
      if (view.node().attribute("axes") != nullptr) {
        return view.error("axes is an input from opset " + std::to_string(axes_input_since) +
                          ", not an attribute");
      }
    } else {
      axes = view.node().attr_ints("axes");
    }
    return make_kernel<ReduceKernel>(kind, keepdims, noop, from_input, std::move(axes));
  };
}

// ---------------------------------------------------------------------------------------------
// ArgMax, ArgMin.

exec::KernelFactory arg_factory(bool is_max) {
  return [is_max](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    COMPRESSOR_RETURN_IF_ERROR(check_input_dtype(view));
    const int64_t axis_attr = view.node().attr_int("axis", 0);
    const bool keepdims = view.node().attr_int("keepdims", 1) != 0;
    const bool last = view.node().attr_int("select_last_index", 0) != 0;
    return make_kernel<exec::LambdaKernel>([=](KernelContext& ctx) -> Status {
      const Tensor& x = ctx.input(0);
      COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, x.rank(), ctx));
      const AxisView v = around_axis(x.dims(), axis);
      if (v.n == 0) return ctx.error("cannot take the arg of an empty axis");
      Dims dims = x.dims();
      if (keepdims) {
        dims[axis] = 1;
      } else {
        dims.erase(dims.begin() + axis);
      }
      return dispatch_reduce_types(x.dtype(), ctx, [&](auto tag) -> Status {
        using T = decltype(tag);
        const T* src = reinterpret_cast<const T*>(x.data());
        Tensor y = Tensor::zeros(DType::kInt64, dims);
        auto out = y.mutable_span<int64_t>();
        exec::parallel_for(ctx.pool, v.outer * v.inner, 1024, [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e; ++t) {
            const int64_t o = t / v.inner, j = t % v.inner;
            const T* p = src + o * v.n * v.inner + j;
            T best = p[0];
            int64_t at = 0;
            for (int64_t r = 1; r < v.n; ++r) {
              const T c = p[r * v.inner];
              const bool better =
                  is_max ? (c > best || (last && c == best)) : (c < best || (last && c == best));
              if (better) {
                best = c;
                at = r;
              }
            }
            out[t] = at;
          }
        });
        ctx.outputs[0] = std::move(y);
        return Status::ok_status();
      });
    });
  };
}

// ---------------------------------------------------------------------------------------------
// TopK.

StatusOr<std::unique_ptr<Kernel>> make_topk(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_input_dtype(view));
  const int64_t axis_attr = view.node().attr_int("axis", -1);
  const bool largest = view.node().attr_int("largest", 1) != 0;
  return make_kernel<exec::LambdaKernel>([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, x.rank(), ctx));
    const Tensor& kt = ctx.input(1);
    if ((kt.dtype() != DType::kInt64 && kt.dtype() != DType::kInt32) || kt.numel() != 1) {
      return ctx.error("K must be a single int64");
    }
    const int64_t k = to_int64_vector(kt)[0];
    const AxisView v = around_axis(x.dims(), axis);
    if (k < 0 || k > v.n) {
      return ctx.error("K " + std::to_string(k) + " is out of range for an axis of size " +
                       std::to_string(v.n));
    }
    Dims dims = x.dims();
    dims[axis] = k;
    return dispatch_reduce_types(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = reinterpret_cast<const T*>(x.data());
      Tensor values = Tensor::zeros(x.dtype(), dims);
      Tensor indices = Tensor::zeros(DType::kInt64, dims);
      T* vo = values.mutable_span<T>().data();
      int64_t* io = indices.mutable_span<int64_t>().data();
      exec::parallel_for(ctx.pool, v.outer * v.inner, 64, [&](int64_t b, int64_t e) {
        std::vector<int64_t> order(v.n);
        for (int64_t t = b; t < e; ++t) {
          const int64_t o = t / v.inner, j = t % v.inner;
          const T* p = src + o * v.n * v.inner + j;
          std::iota(order.begin(), order.end(), int64_t{0});
          // Ties keep the lower index first.
          auto cmp = [&](int64_t a, int64_t c) {
            const T va = p[a * v.inner], vc = p[c * v.inner];
            if (va != vc) return largest ? va > vc : va < vc;
            return a < c;
          };
          std::partial_sort(order.begin(), order.begin() + k, order.end(), cmp);
          for (int64_t r = 0; r < k; ++r) {
            const int64_t at = (o * k + r) * v.inner + j;
            vo[at] = p[order[r] * v.inner];
            io[at] = order[r];
          }
        }
      });
      ctx.outputs[0] = std::move(values);
      if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(indices);
      return Status::ok_status();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// CumSum.

StatusOr<std::unique_ptr<Kernel>> make_cumsum(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_input_dtype(view));
  const bool exclusive = view.node().attr_int("exclusive", 0) != 0;
  const bool reverse = view.node().attr_int("reverse", 0) != 0;
  return make_kernel<exec::LambdaKernel>([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const Tensor& at = ctx.input(1);
    if ((at.dtype() != DType::kInt64 && at.dtype() != DType::kInt32) || at.numel() != 1) {
      return ctx.error("axis must be a single int64 or int32");
    }
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis,
                                normalize_axis(to_int64_vector(at)[0], x.rank(), ctx));
    const AxisView v = around_axis(x.dims(), axis);
    return dispatch_reduce_types(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
      const T* src = reinterpret_cast<const T*>(x.data());
      Tensor y = Tensor::zeros(x.dtype(), x.dims());
      T* dst = reinterpret_cast<T*>(y.mutable_data());
      exec::parallel_for(ctx.pool, v.outer, 1, [&](int64_t b, int64_t e) {
        Eigen::Array<Acc, Eigen::Dynamic, 1> acc(v.inner);
        for (int64_t o = b; o < e; ++o) {
          acc.setZero();
          for (int64_t s = 0; s < v.n; ++s) {
            const int64_t r = reverse ? v.n - 1 - s : s;
            const int64_t off = (o * v.n + r) * v.inner;
            ir::ConstVectorMap<T> in(src + off, v.inner);
            ir::VectorMap<T> out(dst + off, v.inner);
            if (exclusive) {
              out = acc.template cast<T>();
              acc += in.template cast<Acc>();
            } else {
              acc += in.template cast<Acc>();
              out = acc.template cast<T>();
            }
          }
        }
      });
      ctx.outputs[0] = std::move(y);
      return Status::ok_status();
    });
  });
}

}  // namespace

void register_reduce_kernels(exec::KernelRegistry& r) {
  constexpr int kMax = 1 << 20;
  struct Entry {
    const char* op;
    Kind kind;
    int axes_input_since;
  };
  static constexpr Entry kReductions[] = {
      {"ReduceSum", Kind::kSum, 13},       {"ReduceMean", Kind::kMean, 18},
      {"ReduceMax", Kind::kMax, 18},       {"ReduceMin", Kind::kMin, 18},
      {"ReduceProd", Kind::kProd, 18},     {"ReduceL1", Kind::kL1, 18},
      {"ReduceL2", Kind::kL2, 18},         {"ReduceSumSquare", Kind::kSumSquare, 18},
      {"ReduceLogSum", Kind::kLogSum, 18}, {"ReduceLogSumExp", Kind::kLogSumExp, 18},
  };
  for (const Entry& e : kReductions) r.add(e.op, reduce_factory(e.kind, e.axes_input_since));
  r.add("ArgMax", arg_factory(true));
  r.add("ArgMin", arg_factory(false));
  r.add("", "TopK", 10, kMax, make_topk);
  r.add("", "CumSum", 11, kMax, make_cumsum);
}

}  // namespace compressor::kernels
