// Kernel family 'elementwise': numpy-broadcast binary arithmetic, the variadic Sum/Mean/Min/Max,
// Pow, Mod, BitShift, comparisons and logic, Where and Clip. Unary math and activations are the
// 'activation' family; the broadcast plan and dtype machinery both use is elementwise_util.h,
// whose non-template parts are defined here.
#include <cmath>
#include <functional>
#include <limits>
#include <type_traits>

#include "elementwise_util.h"

namespace compressor::kernels {

// ---------------------------------------------------------------------------------------------
// Shared machinery declared in elementwise_util.h.

namespace elementwise {

std::string type_names(unsigned set) {
  std::string out;
  for (const auto& e : kTypeTable) {
    if (!(set & e.bit)) continue;
    if (!out.empty()) out += ", ";
    out += ir::dtype_name(e.dtype);
  }
  return out;
}

std::string unsupported_type(DType t, unsigned set) {
  return "unsupported data type " + std::string(ir::dtype_name(t)) + "; expected " +
         type_names(set);
}

Status check_types(const NodeView& view, unsigned set, size_t first, size_t last) {
  for (size_t i = first; i < std::min(last, view.input_count()); ++i) {
    if (!view.has_input(i)) continue;
    const DType t = view.input_dtype(i);
    if (t != DType::kUndefined && !(bit_of(t) & set)) {
      return view.error("input " + std::to_string(i) + ": " + unsupported_type(t, set));
    }
  }
  return ok_status();
}

Status check_same_types(const NodeView& view, size_t first, size_t last) {
  DType seen = DType::kUndefined;
  for (size_t i = first; i < std::min(last, view.input_count()); ++i) {
    const DType t = view.has_input(i) ? view.input_dtype(i) : DType::kUndefined;
    if (t == DType::kUndefined) continue;
    if (seen != DType::kUndefined && t != seen) {
      return view.error("inputs have different data types " + std::string(ir::dtype_name(seen)) +
                        " and " + std::string(ir::dtype_name(t)));
    }
    seen = t;
  }
  return ok_status();
}

bool any_half(const KernelContext& ctx) {
  for (const Tensor* t : ctx.inputs) {
    if (t && t->dtype() == DType::kFloat16) return true;
  }
  return false;
}

Status via_float(KernelContext& ctx, const std::function<Status(KernelContext&)>& fn) {
  std::vector<Tensor> copies(ctx.inputs.size());
  std::vector<const Tensor*> ptrs(ctx.inputs.size());
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    ptrs[i] = ctx.inputs[i];
    if (ptrs[i] && ptrs[i]->dtype() == DType::kFloat16) {
      copies[i] = half_to_float(*ptrs[i]);
      ptrs[i] = &copies[i];
    }
  }
  KernelContext inner = ctx;
  inner.inputs = ptrs;
  COMPRESSOR_RETURN_IF_ERROR(fn(inner));
  if (ctx.inputs[0]->dtype() == DType::kFloat16) {
    for (auto& out : ctx.outputs) {
      if (out.dtype() == DType::kFloat) out = float_to_half(out);
    }
  }
  return ok_status();
}

StatusOr<BroadcastPlan> plan_broadcast(std::span<const Tensor* const> ins,
                                       const KernelContext& ctx) {
  BroadcastPlan p;
  p.inputs = ins.size();
  p.out = ins[0]->dims();
  for (size_t i = 1; i < ins.size(); ++i) {
    COMPRESSOR_ASSIGN_OR_RETURN(p.out, broadcast_shape(p.out, ins[i]->dims(), ctx));
  }
  const size_t rank = p.out.size();
  std::vector<bool> flags[kMaxInputs];  // true where input i is broadcast along a coalesced axis
  for (size_t d = 0; d < rank; ++d) {
    if (p.out[d] == 1) continue;
    bool f[kMaxInputs] = {};
    bool same = !p.shape.empty();
    for (size_t i = 0; i < ins.size(); ++i) {
      const Dims& dims = ins[i]->dims();
      const size_t off = rank - dims.size();
      f[i] = d < off || dims[d - off] == 1;
      if (same && flags[i].back() != f[i]) same = false;
    }
    if (same) {
      p.shape.back() *= p.out[d];
    } else {
      p.shape.push_back(p.out[d]);
      for (size_t i = 0; i < ins.size(); ++i) flags[i].push_back(f[i]);
    }
  }
  if (p.shape.empty()) {
    p.shape.push_back(1);
    for (size_t i = 0; i < ins.size(); ++i) flags[i].push_back(false);
  }
  for (size_t i = 0; i < ins.size(); ++i) {
    Dims own(p.shape.size());
    for (size_t d = 0; d < own.size(); ++d) own[d] = flags[i][d] ? 1 : p.shape[d];
    p.strides[i] = strides_of(own);
    for (size_t d = 0; d < own.size(); ++d) {
      if (flags[i][d]) p.strides[i][d] = 0;
    }
  }
  return p;
}

}  // namespace elementwise

namespace {

using namespace elementwise;  // NOLINT: the family is written in terms of the shared machinery

// ---------------------------------------------------------------------------------------------
// Binary and variadic ops over one dtype. Op::Out<T> is the output element type.

COMPRESSOR_UNARY(NotOp, !x);

template <unsigned Set, typename Op>
class BinaryKernel final : public Kernel {
 public:
  /// `variadic`: any number of inputs folded left to right; `mean`: divide the sum by the
  /// count; `swapped`: op(b, a) (Greater as Less with its operands swapped).
  BinaryKernel(Op op, bool variadic, bool mean, bool swapped = false)
      : op_(op), variadic_(variadic), mean_(mean), swapped_(swapped) {}
  Status compute(KernelContext& ctx) const override {
    if constexpr ((Set & kF16) != 0) {
      if (any_half(ctx)) return via_float(ctx, [&](KernelContext& c) { return run(c); });
    }
    return run(ctx);
  }

 private:
  Status run(KernelContext& ctx) const {
    const Tensor& a = ctx.input(0);
    const size_t n = variadic_ ? ctx.inputs.size() : 2;
    for (size_t i = 1; i < n; ++i) {
      if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is missing");
      if (ctx.input(i).dtype() != a.dtype()) {
        return ctx.error("inputs have different data types " +
                         std::string(ir::dtype_name(a.dtype())) + " and " +
                         std::string(ir::dtype_name(ctx.input(i).dtype())));
      }
    }
    return dispatch<Set>(a.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      using TO = typename Op::template Out<T>;
      if (n == 1) {
        ctx.outputs[0] = copy_with_dims(a, a.dims());
        return ok_status();
      }
      Tensor acc;
      if (swapped_) {
        // Checked in the node's operand order first, so a mismatch names the shapes as given.
        COMPRESSOR_RETURN_IF_ERROR(broadcast_shape(a.dims(), ctx.input(1).dims(), ctx).status());
        return binary_apply<T, T, TO>(ctx, ctx.input(1), a, op_, ctx.outputs[0]);
      }
      COMPRESSOR_RETURN_IF_ERROR((binary_apply<T, T, TO>(ctx, a, ctx.input(1), op_, acc)));
      if constexpr (std::is_same_v<T, TO>) {
        for (size_t i = 2; i < n; ++i) {
          Tensor next;
          COMPRESSOR_RETURN_IF_ERROR((binary_apply<T, T, TO>(ctx, acc, ctx.input(i), op_, next)));
          acc = std::move(next);
        }
        if constexpr (std::is_floating_point_v<T>) {
          if (mean_) ir::mutable_flat<T>(acc) /= T(n);
        }
      }
      ctx.outputs[0] = std::move(acc);
      return ok_status();
    });
  }
  Op op_;
  bool variadic_;
  bool mean_;
  bool swapped_;
};

template <unsigned Set, typename Op>
exec::KernelFactory binary(Op op = Op{}, bool swapped = false) {
  return [op, swapped](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    COMPRESSOR_RETURN_IF_ERROR(check_types(view, Set, 0, 2));
    COMPRESSOR_RETURN_IF_ERROR(check_same_types(view, 0, 2));
    return make_kernel<BinaryKernel<Set, Op>>(op, false, false, swapped);
  };
}

template <unsigned Set, typename Op>
exec::KernelFactory variadic(bool mean) {
  return [mean](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    if (view.input_count() == 0) return view.error("needs at least one input");
    for (size_t i = 0; i < view.input_count(); ++i) {
      if (!view.has_input(i)) return view.error("input " + std::to_string(i) + " is empty");
    }
    COMPRESSOR_RETURN_IF_ERROR(check_types(view, Set));
    COMPRESSOR_RETURN_IF_ERROR(check_same_types(view));
    return make_kernel<BinaryKernel<Set, Op>>(Op{}, true, mean);
  };
}

template <typename T>
T int_div(T a, T b) {
  if (b == T(0)) return T(0);  // numpy gives 0 (with a warning)
  if constexpr (std::is_signed_v<T>) {
    // No trap on the most negative value: negate in unsigned arithmetic, which wraps as numpy.
    using U = std::make_unsigned_t<T>;
    if (b == T(-1)) return static_cast<T>(U(0) - static_cast<U>(a));
  }
  return T(a / b);
}

#define COMPRESSOR_BINARY(Name, OutT, expr)         \
  struct Name {                                     \
    template <typename T>                           \
    using Out = OutT;                               \
    template <typename A, typename B>               \
    auto operator()(const A& a, const B& b) const { \
      using T = typename A::Scalar;                 \
      (void)sizeof(T);                              \
      return expr;                                  \
    }                                               \
  }

COMPRESSOR_BINARY(AddOp, T, a + b);
COMPRESSOR_BINARY(SubOp, T, a - b);
COMPRESSOR_BINARY(MulOp, T, a* b);
COMPRESSOR_BINARY(MaxOp, T, a.max(b));
COMPRESSOR_BINARY(MinOp, T, a.min(b));
COMPRESSOR_BINARY(EqualOp, bool, a == b);
COMPRESSOR_BINARY(LessOp, bool, a < b);
COMPRESSOR_BINARY(GreaterEqualOp, bool, a >= b);
COMPRESSOR_BINARY(AndOp, bool, a&& b);
COMPRESSOR_BINARY(OrOp, bool, a || b);
COMPRESSOR_BINARY(XorOp, bool, a != b);
COMPRESSOR_BINARY(PReluOp, T, (a < T(0)).select(a* b, a));

struct DivOp {
  template <typename T>
  using Out = T;
  template <typename A, typename B>
  auto operator()(const A& a, const B& b) const {
    using T = typename A::Scalar;
    if constexpr (std::is_floating_point_v<T>) {
      return a / b;
    } else {
      return a.binaryExpr(b, [](T x, T y) { return int_div(x, y); });
    }
  }
};

// Mod: fmod=1 is C's fmod / truncated remainder; fmod=0 follows the sign of the divisor.
template <typename T>
T mod_value(T a, T b, bool fmod) {
  if constexpr (std::is_floating_point_v<T>) {
    T r = std::fmod(a, b);
    if (!fmod && r != T(0) && ((r < T(0)) != (b < T(0)))) r += b;
    return r;
  } else {
    if (b == T(0)) return T(0);
    if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return T(0);
      T r = T(a % b);
      if (!fmod && r != T(0) && ((r < T(0)) != (b < T(0)))) r = T(r + b);
      return r;
    } else {
      return T(a % b);
    }
  }
}

struct ModOp {
  bool fmod = false;
  template <typename T>
  using Out = T;
  template <typename A, typename B>
  auto operator()(const A& a, const B& b) const {
    using T = typename A::Scalar;
    const bool f = fmod;
    return a.binaryExpr(b, [f](T x, T y) { return mod_value(x, y, f); });
  }
};

// BitShift over unsigned types; a shift by the bit width or more gives 0 (as numpy), never UB.
struct BitShiftOp {
  bool left = true;
  template <typename T>
  using Out = T;
  template <typename A, typename B>
  auto operator()(const A& a, const B& b) const {
    using T = typename A::Scalar;
    const bool l = left;
    return a.binaryExpr(b, [l](T x, T s) {
      if (s >= T(sizeof(T) * 8)) return T(0);
      return l ? T(x << s) : T(x >> s);
    });
  }
};

StatusOr<std::unique_ptr<Kernel>> make_bit_shift(const NodeView& view) {
  const ir::Attribute* a = view.node().attribute("direction");
  const std::string dir = a ? a->s() : "";
  if (dir != "LEFT" && dir != "RIGHT") {
    return view.error("direction must be \"LEFT\" or \"RIGHT\", got \"" + dir + "\"");
  }
  COMPRESSOR_RETURN_IF_ERROR(check_types(view, kUnsigned, 0, 2));
  COMPRESSOR_RETURN_IF_ERROR(check_same_types(view, 0, 2));
  return make_kernel<BinaryKernel<kUnsigned, BitShiftOp>>(BitShiftOp{dir == "LEFT"}, false, false);
}

// ---------------------------------------------------------------------------------------------
// Pow: base T, exponent of any numeric type, output T (numpy power cast back to T). An exponent
// of another dtype than the base is read as double (float exponents) or int64 (integer
// exponents), so each base type has three exponent forms instead of ten.

template <typename T>
T int_pow(T base, int64_t e) {
  if (e < 0) {
    if (base == T(1)) return T(1);
    if constexpr (std::is_signed_v<T>) {
      if (base == T(-1)) return (e & 1) ? T(-1) : T(1);
    }
    return T(0);
  }
  // Products wrap as numpy's do: multiply in the unsigned type (signed overflow would be UB).
  using U = std::make_unsigned_t<T>;
  U r = 1, b = static_cast<U>(base);
  while (e > 0) {
    if (e & 1) r = static_cast<U>(r * b);
    b = static_cast<U>(b * b);
    e >>= 1;
  }
  return static_cast<T>(r);
}

struct PowOp {
  template <typename A, typename B>
  auto operator()(const A& a, const B& b) const {
    using T = typename A::Scalar;
    using E = typename B::Scalar;
    if constexpr (std::is_floating_point_v<T> && std::is_same_v<T, E>) {
      return a.pow(b);
    } else if constexpr (std::is_floating_point_v<T> && std::is_integral_v<E>) {
      return a.pow(b.template cast<T>());
    } else if constexpr (std::is_integral_v<E>) {
      // Eigen's binaryExpr takes one scalar type: widen both to int64, the base narrows back.
      return a.template cast<int64_t>().binaryExpr(
          b.template cast<int64_t>(),
          [](int64_t x, int64_t y) { return int_pow(static_cast<T>(x), y); });
    } else {
      return a.template cast<double>().pow(b.template cast<double>()).template cast<T>();
    }
  }
};

constexpr unsigned kPowBase = kF32 | kF64 | kI32 | kI64 | kF16;
constexpr unsigned kPowExp = kF32 | kF64 | kSigned | kUnsigned | kF16;

/// The exponent converted to E (double or int64).
template <typename E>
StatusOr<Tensor> exponent_as(const Tensor& b, const KernelContext& ctx) {
  Tensor out = Tensor::zeros(ir::DTypeOf<E>::value, b.dims());
  COMPRESSOR_RETURN_IF_ERROR(dispatch<kPowExp & ~kF16>(b.dtype(), ctx, [&](auto tag) -> Status {
    using S = decltype(tag);
    if (out.numel() == 0) return ok_status();
    auto src = b.span<S>();
    auto dst = out.mutable_span<E>();
    for (size_t i = 0; i < dst.size(); ++i) dst[i] = static_cast<E>(src[i]);
    return ok_status();
  }));
  return out;
}

class PowKernel final : public Kernel {
 public:
  Status compute(KernelContext& ctx) const override {
    if (any_half(ctx)) return via_float(ctx, [&](KernelContext& c) { return run(c); });
    return run(ctx);
  }

 private:
  static Status run(KernelContext& ctx) {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    return dispatch<kPowBase & ~kF16>(a.dtype(), ctx, [&](auto ta) -> Status {
      using T = decltype(ta);
      if (b.dtype() == a.dtype()) return binary_apply<T, T, T>(ctx, a, b, PowOp{}, ctx.outputs[0]);
      Tensor converted;
      if (b.dtype() == DType::kFloat || b.dtype() == DType::kDouble) {
        if (b.dtype() != DType::kDouble) {
          COMPRESSOR_ASSIGN_OR_RETURN(converted, exponent_as<double>(b, ctx));
        }
        const Tensor& e = b.dtype() == DType::kDouble ? b : converted;
        return binary_apply<T, double, T>(ctx, a, e, PowOp{}, ctx.outputs[0]);
      }
      if (bit_of(b.dtype()) & (kSigned | kUnsigned)) {
        if (b.dtype() != DType::kInt64) {
          COMPRESSOR_ASSIGN_OR_RETURN(converted, exponent_as<int64_t>(b, ctx));
        }
        const Tensor& e = b.dtype() == DType::kInt64 ? b : converted;
        return binary_apply<T, int64_t, T>(ctx, a, e, PowOp{}, ctx.outputs[0]);
      }
      return ctx.error(unsupported_type(b.dtype(), kPowExp));
    });
  }
};

StatusOr<std::unique_ptr<Kernel>> make_pow(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_types(view, kPowBase, 0, 1));
  COMPRESSOR_RETURN_IF_ERROR(check_types(view, kPowExp, 1, 2));
  return make_kernel<PowKernel>();
}

StatusOr<std::unique_ptr<Kernel>> make_mod(const NodeView& view) {
  const int64_t fmod = view.node().attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return view.error("fmod must be 0 or 1, got " + std::to_string(fmod));
  COMPRESSOR_RETURN_IF_ERROR(check_types(view, kNumeric, 0, 2));
  COMPRESSOR_RETURN_IF_ERROR(check_same_types(view, 0, 2));
  return make_kernel<BinaryKernel<kNumeric, ModOp>>(ModOp{fmod == 1}, false, false);
}

// ---------------------------------------------------------------------------------------------
// Clip: bounds from attributes (opset 6-10) or optional scalar inputs (opset 11+).

class ClipKernel final : public Kernel {
 public:
  ClipKernel(bool from_inputs, float lo, float hi) : from_inputs_(from_inputs), lo_(lo), hi_(hi) {}
  Status compute(KernelContext& ctx) const override {
    if (any_half(ctx)) return via_float(ctx, [&](KernelContext& c) { return run(c); });
    return run(ctx);
  }

 private:
  Status run(KernelContext& ctx) const {
    const Tensor& x = ctx.input(0);
    return dispatch<kNumeric & ~kF16>(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
      if (from_inputs_) {
        for (size_t i = 1; i <= 2; ++i) {
          if (!ctx.has_input(i)) continue;
          const Tensor& t = ctx.input(i);
          if (t.dtype() != x.dtype() || t.numel() != 1) {
            return ctx.error((i == 1 ? "min" : "max") + std::string(" must be a scalar of ") +
                             std::string(ir::dtype_name(x.dtype())) + ", got " +
                             std::string(ir::dtype_name(t.dtype())) + " " +
                             ir::dims_to_string(t.dims()));
          }
          (i == 1 ? lo : hi) = t.span<T>()[0];
        }
      } else {
        lo = T(lo_);
        hi = T(hi_);
      }
      Tensor y = Tensor::zeros(x.dtype(), x.dims());
      const int64_t n = y.numel();
      if (n > 0) {
        const T* xp = x.span<T>().data();
        T* yp = y.mutable_span<T>().data();
        const int64_t chunks = (n + kChunk - 1) / kChunk;
        exec::parallel_for(ctx.pool, chunks, 1, [&](int64_t b, int64_t e) {
          for (int64_t c = b; c < e; ++c) {
            const int64_t s = c * kChunk, len = std::min(kChunk, n - s);
            Map<T>(yp + s, len) = CMap<T>(xp + s, len).max(lo).min(hi);
          }
        });
      }
      ctx.outputs[0] = std::move(y);
      return ok_status();
    });
  }
  bool from_inputs_;
  float lo_, hi_;
};

StatusOr<std::unique_ptr<Kernel>> make_clip(const NodeView& view) {
  if (view.opset() < 11) {
    COMPRESSOR_RETURN_IF_ERROR(check_types(view, kFloats, 0, 1));
    return make_kernel<ClipKernel>(
        false, view.node().attr_float("min", std::numeric_limits<float>::lowest()),
        view.node().attr_float("max", std::numeric_limits<float>::max()));
  }
  COMPRESSOR_RETURN_IF_ERROR(check_types(view, kNumeric));
  COMPRESSOR_RETURN_IF_ERROR(check_same_types(view));
  return make_kernel<ClipKernel>(true, 0.0f, 0.0f);
}

// ---------------------------------------------------------------------------------------------
// Where: any fixed-size dtype, selected by element size.

class WhereKernel final : public Kernel {
 public:
  Status compute(KernelContext& ctx) const override {
    const Tensor& c = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& y = ctx.input(2);
    if (c.dtype() != DType::kBool) {
      return ctx.error("condition must be bool, got " + std::string(ir::dtype_name(c.dtype())));
    }
    if (x.dtype() != y.dtype()) {
      return ctx.error("X and Y have different data types " +
                       std::string(ir::dtype_name(x.dtype())) + " and " +
                       std::string(ir::dtype_name(y.dtype())));
    }
    if (x.dtype() == DType::kString || ir::traits(x.dtype()).bits % 8 != 0) {
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(x.dtype())));
    }
    switch (ir::traits(x.dtype()).bits) {
      case 8:
        return run<uint8_t>(ctx);
      case 16:
        return run<uint16_t>(ctx);
      case 32:
        return run<uint32_t>(ctx);
      case 64:
        return run<uint64_t>(ctx);
      default:
        return ctx.error("unsupported data type " + std::string(ir::dtype_name(x.dtype())));
    }
  }

 private:
  template <typename T>
  static Status run(KernelContext& ctx) {
    const Tensor* ins[3] = {ctx.inputs[0], ctx.inputs[1], ctx.inputs[2]};
    COMPRESSOR_ASSIGN_OR_RETURN(BroadcastPlan p, plan_broadcast(ins, ctx));
    Tensor out = Tensor::zeros(ins[1]->dtype(), p.out);
    if (out.numel() > 0) {
      const bool* cp = ins[0]->span<bool>().data();
      const T* xp = ins[1]->span<T>().data();
      const T* yp = ins[2]->span<T>().data();
      T* op = out.mutable_span<T>().data();
      const int64_t sc = p.strides[0].back(), sx = p.strides[1].back(), sy = p.strides[2].back();
      for_each_piece(p, ctx.pool, [&](int64_t o, const int64_t* offs, int64_t len) {
        const bool* cr = cp + offs[0];
        const T* xr = xp + offs[1];
        const T* yr = yp + offs[2];
        T* orow = op + o;
        for (int64_t j = 0; j < len; ++j) orow[j] = cr[j * sc] ? xr[j * sx] : yr[j * sy];
      });
    }
    ctx.outputs[0] = std::move(out);
    return ok_status();
  }
};

StatusOr<std::unique_ptr<Kernel>> make_where(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_types(view, kBool, 0, 1));
  COMPRESSOR_RETURN_IF_ERROR(check_same_types(view, 1, 3));
  const DType t = view.input_dtype(1);
  if (t == DType::kString) return view.error("unsupported data type string");
  return make_kernel<WhereKernel>();
}

}  // namespace

void register_elementwise_kernels(exec::KernelRegistry& r) {
  // Binary arithmetic (opset 7+: numpy broadcasting; older forms had broadcast/axis attributes).
  r.add("", "Add", 7, kMax, binary<kNumeric, AddOp>());
  r.add("", "Sub", 7, kMax, binary<kNumeric, SubOp>());
  r.add("", "Mul", 7, kMax, binary<kNumeric, MulOp>());
  r.add("", "Div", 7, kMax, binary<kNumeric, DivOp>());
  r.add("", "Pow", 7, kMax, make_pow);
  r.add("", "Mod", 10, kMax, make_mod);
  r.add("", "BitShift", 11, kMax, make_bit_shift);
  r.add("", "PRelu", 7, kMax, binary<kFloats | kI32 | kI64 | kU32 | kU64, PReluOp>());
  // Variadic (opset 6 requires equal shapes, a subset of the broadcasting forms). Sum and Mean
  // are float-only in every opset; Max and Min take every numeric type from opset 12.
  r.add("", "Sum", 6, kMax, variadic<kFloats, AddOp>(false));
  r.add("", "Mean", 6, kMax, variadic<kFloats, AddOp>(true));
  r.add("", "Max", 6, kMax, variadic<kNumeric, MaxOp>(false));
  r.add("", "Min", 6, kMax, variadic<kNumeric, MinOp>(false));
  // Comparisons and logic; Greater is Less and LessOrEqual is GreaterOrEqual with the operands
  // swapped (one instantiation per pair).
  r.add("", "Equal", 7, kMax, binary<kNumeric | kBool, EqualOp>());
  r.add("", "Less", 7, kMax, binary<kNumeric, LessOp>());
  r.add("", "LessOrEqual", 12, kMax, binary<kNumeric, GreaterEqualOp>({}, true));
  r.add("", "Greater", 7, kMax, binary<kNumeric, LessOp>({}, true));
  r.add("", "GreaterOrEqual", 12, kMax, binary<kNumeric, GreaterEqualOp>());
  r.add("", "And", 7, kMax, binary<kBool, AndOp>());
  r.add("", "Or", 7, kMax, binary<kBool, OrOp>());
  r.add("", "Xor", 7, kMax, binary<kBool, XorOp>());
  r.add("Not", unary<kBool, NotOp>());
  r.add("", "Where", 9, kMax, make_where);
  r.add("", "Clip", 6, kMax, make_clip);
}

}  // namespace compressor::kernels
