// Kernel family 'elementwise': unary math and activations, numpy-broadcast binary arithmetic,
// comparisons and logic, the variadic Sum/Mean/Min/Max, Clip, Where and Mod.
//
// Every multi-input op goes through one broadcast plan: the output shape is coalesced so that
// each input is either contiguous or constant along every remaining axis. Same-shape inputs
// become a single row (one Eigen array expression over contiguous maps, split into fixed
// chunks), a scalar input becomes an Eigen constant over that row, and the general case walks
// the outer rows with strides while the innermost axis stays an Eigen expression. Chunk
// boundaries depend only on shapes, so results never depend on the thread count.
#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <type_traits>
#include <unsupported/Eigen/SpecialFunctions>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

constexpr int kMax = 1 << 20;
// Elements per independent chunk of work.
constexpr int64_t kChunk = int64_t{1} << 14;

template <typename T>
using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
template <typename T>
using CMap = ir::ConstVectorMap<T>;
template <typename T>
using Map = ir::VectorMap<T>;

// ---------------------------------------------------------------------------------------------
// Dtype sets and dispatch.

enum TypeBit : unsigned {
  kF32 = 1u << 0,
  kF64 = 1u << 1,
  kI64 = 1u << 2,
  kI32 = 1u << 3,
  kI16 = 1u << 4,
  kI8 = 1u << 5,
  kU8 = 1u << 6,
  kU16 = 1u << 7,
  kU32 = 1u << 8,
  kU64 = 1u << 9,
  kBool = 1u << 10,
  kF16 = 1u << 11,  // computed in float32 and rounded back
};
constexpr unsigned kFloats = kF32 | kF64 | kF16;
constexpr unsigned kSigned = kI64 | kI32 | kI16 | kI8;
constexpr unsigned kUnsigned = kU64 | kU32 | kU16 | kU8;
constexpr unsigned kNumeric = kFloats | kSigned | kUnsigned;

struct TypeEntry {
  DType dtype;
  unsigned bit;
};
constexpr TypeEntry kTypeTable[] = {
    {DType::kFloat, kF32},  {DType::kDouble, kF64}, {DType::kInt64, kI64}, {DType::kInt32, kI32},
    {DType::kInt16, kI16},  {DType::kInt8, kI8},    {DType::kUInt8, kU8},  {DType::kUInt16, kU16},
    {DType::kUInt32, kU32}, {DType::kUInt64, kU64}, {DType::kBool, kBool}, {DType::kFloat16, kF16},
};
static_assert(std::size(kTypeTable) == 12, "one entry per TypeBit");

unsigned bit_of(DType t) {
  for (const auto& e : kTypeTable) {
    if (e.dtype == t) return e.bit;
  }
  return 0;
}

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

// Calls fn(T{}) with T the C++ type of `dtype` when its bit is in Set (float16 excluded: the
// kernels convert it to float32 before dispatching).
template <unsigned Set, typename Fn>
Status dispatch(DType dtype, const KernelContext& ctx, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat:
      if constexpr ((Set & kF32) != 0) return fn(float{});
      break;
    case DType::kDouble:
      if constexpr ((Set & kF64) != 0) return fn(double{});
      break;
    case DType::kInt64:
      if constexpr ((Set & kI64) != 0) return fn(int64_t{});
      break;
    case DType::kInt32:
      if constexpr ((Set & kI32) != 0) return fn(int32_t{});
      break;
    case DType::kInt16:
      if constexpr ((Set & kI16) != 0) return fn(int16_t{});
      break;
    case DType::kInt8:
      if constexpr ((Set & kI8) != 0) return fn(int8_t{});
      break;
    case DType::kUInt8:
      if constexpr ((Set & kU8) != 0) return fn(uint8_t{});
      break;
    case DType::kUInt16:
      if constexpr ((Set & kU16) != 0) return fn(uint16_t{});
      break;
    case DType::kUInt32:
      if constexpr ((Set & kU32) != 0) return fn(uint32_t{});
      break;
    case DType::kUInt64:
      if constexpr ((Set & kU64) != 0) return fn(uint64_t{});
      break;
    case DType::kBool:
      if constexpr ((Set & kBool) != 0) return fn(bool{});
      break;
    default:
      break;
  }
  return ctx.error(unsupported_type(dtype, Set));
}

// Plan-time check of the known dtypes of inputs [first, last).
Status check_types(const NodeView& view, unsigned set, size_t first = 0,
                   size_t last = static_cast<size_t>(-1)) {
  for (size_t i = first; i < std::min(last, view.input_count()); ++i) {
    if (!view.has_input(i)) continue;
    const DType t = view.input_dtype(i);
    if (t != DType::kUndefined && !(bit_of(t) & set)) {
      return view.error("input " + std::to_string(i) + ": " + unsupported_type(t, set));
    }
  }
  return ok_status();
}

// Plan-time check that inputs [first, last) share one dtype when it is known.
Status check_same_types(const NodeView& view, size_t first = 0,
                        size_t last = static_cast<size_t>(-1)) {
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

// ---------------------------------------------------------------------------------------------
// float16: converted to float32 on the way in and rounded to nearest even on the way out.

Tensor half_to_float(const Tensor& t) {
  Tensor out = Tensor::zeros(DType::kFloat, t.dims());
  const auto* src = reinterpret_cast<const Eigen::half*>(t.data());
  auto dst = out.mutable_span<float>();
  for (size_t i = 0; i < dst.size(); ++i) dst[i] = static_cast<float>(src[i]);
  return out;
}

Tensor float_to_half(const Tensor& t) {
  Tensor out = Tensor::zeros(DType::kFloat16, t.dims());
  auto src = t.span<float>();
  auto* dst = reinterpret_cast<Eigen::half*>(out.mutable_data());
  for (size_t i = 0; i < src.size(); ++i) dst[i] = Eigen::half(src[i]);
  return out;
}

// Runs `fn` over float32 copies of float16 inputs and rounds float32 outputs back to float16.
template <typename Fn>
Status via_float(KernelContext& ctx, Fn&& fn) {
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
  // The output type follows input 0 (Pow's exponent may be float16 over a float32 base).
  if (ctx.inputs[0]->dtype() == DType::kFloat16) {
    for (auto& out : ctx.outputs) {
      if (out.dtype() == DType::kFloat) out = float_to_half(out);
    }
  }
  return ok_status();
}

bool any_half(const KernelContext& ctx) {
  for (const Tensor* t : ctx.inputs) {
    if (t && t->dtype() == DType::kFloat16) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Broadcasting.

constexpr size_t kMaxInputs = 3;

// The output shape coalesced so that every input is contiguous (stride 1 on the innermost axis)
// or constant (stride 0) along each axis.
struct BroadcastPlan {
  Dims out;
  Dims shape;  // coalesced, rank >= 1
  std::vector<int64_t> strides[kMaxInputs];
  size_t inputs = 0;
};

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

// Calls fn(out_offset, in_offsets, len) over pieces of the output. Rows of the innermost
// coalesced axis are independent; a single long row is split into fixed chunks.
template <typename Fn>
void for_each_piece(const BroadcastPlan& p, exec::ThreadPool* pool, Fn&& fn) {
  const int64_t inner = p.shape.back();
  const int64_t n = ir::element_count(p.out);
  if (n == 0) return;
  const int64_t rows = n / inner;
  if (rows == 1) {
    const int64_t chunks = (inner + kChunk - 1) / kChunk;
    exec::parallel_for(pool, chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        const int64_t start = c * kChunk, len = std::min(kChunk, inner - start);
        int64_t offs[kMaxInputs] = {};
        for (size_t i = 0; i < p.inputs; ++i) offs[i] = start * p.strides[i].back();
        fn(start, offs, len);
      }
    });
    return;
  }
  const size_t outer = p.shape.size() - 1;
  exec::parallel_for(pool, rows, std::max<int64_t>(1, kChunk / inner), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t offs[kMaxInputs] = {};
      int64_t rest = r;
      for (size_t d = outer; d-- > 0;) {
        const int64_t idx = rest % p.shape[d];
        rest /= p.shape[d];
        for (size_t i = 0; i < p.inputs; ++i) offs[i] += idx * p.strides[i][d];
      }
      fn(r * inner, offs, inner);
    }
  });
}

// out = op(a, b) with numpy broadcasting; `op` maps two Eigen array expressions (contiguous
// maps or constants) to an expression of TO.
template <typename TA, typename TB, typename TO, typename Op>
Status binary_apply(const KernelContext& ctx, const Tensor& a, const Tensor& b, const Op& op,
                    Tensor& out) {
  const Tensor* ins[2] = {&a, &b};
  COMPRESSOR_ASSIGN_OR_RETURN(BroadcastPlan p, plan_broadcast(ins, ctx));
  Tensor y = Tensor::zeros(ir::DTypeOf<TO>::value, p.out);
  const TA* ap = a.span<TA>().data();
  const TB* bp = b.span<TB>().data();
  TO* yp = y.numel() > 0 ? y.mutable_span<TO>().data() : nullptr;
  const bool a_full = p.strides[0].back() != 0, b_full = p.strides[1].back() != 0;
  for_each_piece(p, ctx.pool, [&](int64_t o, const int64_t* offs, int64_t len) {
    Map<TO> ym(yp + o, len);
    if (a_full && b_full) {
      ym = op(CMap<TA>(ap + offs[0], len), CMap<TB>(bp + offs[1], len));
    } else if (b_full) {
      ym = op(Arr<TA>::Constant(len, ap[offs[0]]), CMap<TB>(bp + offs[1], len));
    } else if (a_full) {
      ym = op(CMap<TA>(ap + offs[0], len), Arr<TB>::Constant(len, bp[offs[1]]));
    } else {
      ym = op(Arr<TA>::Constant(len, ap[offs[0]]), Arr<TB>::Constant(len, bp[offs[1]]));
    }
  });
  out = std::move(y);
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// Unary ops: Op is a functor from an Eigen array expression to an expression of the same type.

template <unsigned Set, typename Op>
class UnaryKernel final : public Kernel {
 public:
  explicit UnaryKernel(Op op) : op_(op) {}
  Status compute(KernelContext& ctx) const override {
    if constexpr ((Set & kF16) != 0) {
      if (any_half(ctx)) return via_float(ctx, [&](KernelContext& c) { return run(c); });
    }
    return run(ctx);
  }

 private:
  Status run(KernelContext& ctx) const {
    const Tensor& x = ctx.input(0);
    return dispatch<Set>(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Tensor y = Tensor::zeros(x.dtype(), x.dims());
      const int64_t n = y.numel();
      if (n > 0) {
        const T* xp = x.span<T>().data();
        T* yp = y.mutable_span<T>().data();
        const int64_t chunks = (n + kChunk - 1) / kChunk;
        exec::parallel_for(ctx.pool, chunks, 1, [&](int64_t b, int64_t e) {
          for (int64_t c = b; c < e; ++c) {
            const int64_t s = c * kChunk, len = std::min(kChunk, n - s);
            Map<T>(yp + s, len) = op_(CMap<T>(xp + s, len));
          }
        });
      }
      ctx.outputs[0] = std::move(y);
      return ok_status();
    });
  }
  Op op_;
};

template <unsigned Set, typename Op>
exec::KernelFactory unary(Op op = Op{}) {
  return [op](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    COMPRESSOR_RETURN_IF_ERROR(check_types(view, Set, 0, 1));
    return make_kernel<UnaryKernel<Set, Op>>(op);
  };
}

// Unary ops whose parameters come from float attributes.
template <unsigned Set, typename Op>
exec::KernelFactory unary_attrs(std::vector<std::pair<const char*, float>> attrs) {
  return [attrs](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    COMPRESSOR_RETURN_IF_ERROR(check_types(view, Set, 0, 1));
    Op op;
    for (size_t i = 0; i < attrs.size(); ++i) {
      op.p[i] = view.node().attr_float(attrs[i].first, attrs[i].second);
    }
    return make_kernel<UnaryKernel<Set, Op>>(op);
  };
}

#define COMPRESSOR_UNARY(Name, expr)    \
  struct Name {                         \
    template <typename A>               \
    auto operator()(const A& x) const { \
      using T = typename A::Scalar;     \
      (void)sizeof(T);                  \
      return expr;                      \
    }                                   \
  }
#define COMPRESSOR_UNARY_P(Name, expr)    \
  struct Name {                           \
    float p[2] = {0, 0};                  \
    template <typename A>                 \
    auto operator()(const A& x) const {   \
      using T = typename A::Scalar;       \
      const T p0 = T(p[0]), p1 = T(p[1]); \
      (void)p0;                           \
      (void)p1;                           \
      return expr;                        \
    }                                     \
  }

template <typename T>
T sign_of(T v) {
  if constexpr (std::is_unsigned_v<T>) {
    return T(v > 0);
  } else {
    return T((v > T(0)) - (v < T(0)));
  }
}

COMPRESSOR_UNARY(SqrtOp, x.sqrt());
COMPRESSOR_UNARY(ReciprocalOp, x.inverse());
COMPRESSOR_UNARY(NegOp, x.unaryExpr([](T v) { return T(-v); }));
COMPRESSOR_UNARY(AbsOp, x.unaryExpr([](T v) {
  if constexpr (std::is_unsigned_v<T>) {
    return v;
  } else {
    return T(v < T(0) ? T(-v) : v);
  }
}));
COMPRESSOR_UNARY(ExpOp, x.exp());
COMPRESSOR_UNARY(LogOp, x.log());
COMPRESSOR_UNARY(ErfOp, x.erf());
COMPRESSOR_UNARY(TanhOp, x.tanh());
COMPRESSOR_UNARY(SigmoidOp, x.logistic());
COMPRESSOR_UNARY(ReluOp, x.max(T(0)));
COMPRESSOR_UNARY(HardSwishOp, x*((x * T(1.0 / 6) + T(0.5)).max(T(0)).min(T(1))));
COMPRESSOR_UNARY(SoftplusOp, x.max(T(0)) + (-x.abs()).exp().log1p());
COMPRESSOR_UNARY(FloorOp, x.floor());
COMPRESSOR_UNARY(CeilOp, x.ceil());
COMPRESSOR_UNARY(RoundOp, x.rint());
COMPRESSOR_UNARY(SignOp, x.unaryExpr([](T v) { return sign_of(v); }));
COMPRESSOR_UNARY(SinOp, x.sin());
COMPRESSOR_UNARY(CosOp, x.cos());
COMPRESSOR_UNARY(NotOp, !x);
COMPRESSOR_UNARY_P(LeakyReluOp, (x >= T(0)).select(x, x* p0));
COMPRESSOR_UNARY_P(EluOp, (x > T(0)).select(x, x.expm1() * p0));
COMPRESSOR_UNARY_P(SeluOp, (x > T(0)).select(x* p1, (x.exp() * p0 - p0) * p1));
COMPRESSOR_UNARY_P(HardSigmoidOp, (x * p0 + p1).max(T(0)).min(T(1)));

// ---------------------------------------------------------------------------------------------
// Binary and variadic ops over one dtype. Op::Out<T> is the output element type.

template <unsigned Set, typename Op>
class BinaryKernel final : public Kernel {
 public:
  explicit BinaryKernel(Op op, bool variadic, bool mean)
      : op_(op), variadic_(variadic), mean_(mean) {}
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
};

template <unsigned Set, typename Op>
exec::KernelFactory binary(Op op = Op{}) {
  return [op](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    COMPRESSOR_RETURN_IF_ERROR(check_types(view, Set, 0, 2));
    COMPRESSOR_RETURN_IF_ERROR(check_same_types(view, 0, 2));
    return make_kernel<BinaryKernel<Set, Op>>(op, false, false);
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
COMPRESSOR_BINARY(LessEqualOp, bool, a <= b);
COMPRESSOR_BINARY(GreaterOp, bool, a > b);
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

// ---------------------------------------------------------------------------------------------
// Pow: base T, exponent of any numeric type, output T (numpy power cast back to T).

template <typename T>
T int_pow(T base, int64_t e) {
  if (e < 0) {
    if (base == T(1)) return T(1);
    if constexpr (std::is_signed_v<T>) {
      if (base == T(-1)) return (e & 1) ? T(-1) : T(1);
    }
    return T(0);
  }
  T r = T(1);
  while (e > 0) {
    if (e & 1) r = T(r * base);
    base = T(base * base);
    e >>= 1;
  }
  return r;
}

struct PowOp {
  template <typename A, typename B>
  auto operator()(const A& a, const B& b) const {
    using T = typename A::Scalar;
    using E = typename B::Scalar;
    if constexpr (std::is_floating_point_v<T>) {
      return a.pow(b.template cast<T>());
    } else if constexpr (std::is_integral_v<E>) {
      return a.binaryExpr(b.template cast<T>(),
                          [](T x, T y) { return int_pow(x, static_cast<int64_t>(y)); });
    } else {
      return a.template cast<double>().pow(b.template cast<double>()).template cast<T>();
    }
  }
};

constexpr unsigned kPowBase = kF32 | kF64 | kI32 | kI64 | kF16;
constexpr unsigned kPowExp = kF32 | kF64 | kSigned | kUnsigned | kF16;

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
      return dispatch<kPowExp & ~kF16>(b.dtype(), ctx, [&](auto tb) -> Status {
        using E = decltype(tb);
        return binary_apply<T, E, T>(ctx, a, b, PowOp{}, ctx.outputs[0]);
      });
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

constexpr unsigned kArith = kNumeric;
constexpr unsigned kCompare = kNumeric;

}  // namespace

void register_elementwise_kernels(exec::KernelRegistry& r) {
  // Binary arithmetic (opset 7+: numpy broadcasting; older forms had broadcast/axis attributes).
  r.add("", "Add", 7, kMax, binary<kArith, AddOp>());
  r.add("", "Sub", 7, kMax, binary<kArith, SubOp>());
  r.add("", "Mul", 7, kMax, binary<kArith, MulOp>());
  r.add("", "Div", 7, kMax, binary<kArith, DivOp>());
  r.add("", "Pow", 7, kMax, make_pow);
  r.add("", "Mod", 10, kMax, make_mod);
  r.add("", "PRelu", 7, kMax, binary<kFloats | kSigned, PReluOp>());
  // Variadic (opset 6 requires equal shapes, a subset of the broadcasting forms).
  r.add("", "Sum", 6, kMax, variadic<kArith, AddOp>(false));
  r.add("", "Mean", 6, kMax, variadic<kFloats, AddOp>(true));
  r.add("", "Max", 6, kMax, variadic<kArith, MaxOp>(false));
  r.add("", "Min", 6, kMax, variadic<kArith, MinOp>(false));
  // Comparisons and logic.
  r.add("", "Equal", 7, kMax, binary<kCompare | kBool, EqualOp>());
  r.add("", "Less", 7, kMax, binary<kCompare, LessOp>());
  r.add("", "LessOrEqual", 12, kMax, binary<kCompare, LessEqualOp>());
  r.add("", "Greater", 7, kMax, binary<kCompare, GreaterOp>());
  r.add("", "GreaterOrEqual", 12, kMax, binary<kCompare, GreaterEqualOp>());
  r.add("", "And", 7, kMax, binary<kBool, AndOp>());
  r.add("", "Or", 7, kMax, binary<kBool, OrOp>());
  r.add("", "Xor", 7, kMax, binary<kBool, XorOp>());
  r.add("Not", unary<kBool, NotOp>());
  r.add("", "Where", 9, kMax, make_where);
  r.add("", "Clip", 6, kMax, make_clip);
  // Unary math (opset 6+: no consumed_inputs attribute).
  r.add("", "Sqrt", 6, kMax, unary<kFloats, SqrtOp>());
  r.add("", "Reciprocal", 6, kMax, unary<kFloats, ReciprocalOp>());
  r.add("", "Neg", 6, kMax, unary<kFloats | kSigned, NegOp>());
  r.add("", "Abs", 6, kMax, unary<kNumeric, AbsOp>());
  r.add("", "Exp", 6, kMax, unary<kFloats, ExpOp>());
  r.add("", "Log", 6, kMax, unary<kFloats, LogOp>());
  r.add("", "Erf", 9, kMax, unary<kFloats, ErfOp>());
  r.add("", "Tanh", 6, kMax, unary<kFloats, TanhOp>());
  r.add("", "Sigmoid", 6, kMax, unary<kFloats, SigmoidOp>());
  r.add("", "Floor", 6, kMax, unary<kFloats, FloorOp>());
  r.add("", "Ceil", 6, kMax, unary<kFloats, CeilOp>());
  r.add("", "Round", 11, kMax, unary<kFloats, RoundOp>());
  r.add("", "Sign", 9, kMax, unary<kNumeric, SignOp>());
  r.add("", "Sin", 7, kMax, unary<kFloats, SinOp>());
  r.add("", "Cos", 7, kMax, unary<kFloats, CosOp>());
  // Activations.
  r.add("", "Relu", 6, kMax, unary<kFloats | kSigned, ReluOp>());
  r.add("", "LeakyRelu", 6, kMax, unary_attrs<kFloats, LeakyReluOp>({{"alpha", 0.01f}}));
  r.add("", "Elu", 6, kMax, unary_attrs<kFloats, EluOp>({{"alpha", 1.0f}}));
  r.add("", "Selu", 6, kMax,
        unary_attrs<kFloats, SeluOp>(
            {{"alpha", 1.67326319217681884765625f}, {"gamma", 1.05070102214813232421875f}}));
  r.add("", "HardSigmoid", 6, kMax,
        unary_attrs<kFloats, HardSigmoidOp>({{"alpha", 0.2f}, {"beta", 0.5f}}));
  r.add("", "HardSwish", 14, kMax, unary<kFloats, HardSwishOp>());
  r.add("", "Softplus", 1, kMax, unary<kFloats, SoftplusOp>());
}

}  // namespace compressor::kernels
