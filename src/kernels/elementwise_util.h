// Machinery shared by the elementwise kernel families (elementwise.cc, activation.cc): dtype
// sets and dispatch, plan-time dtype checks, float16 computed in float32, the numpy broadcast
// plan and its piece walker, binary_apply, and the unary kernel scaffolding.
//
// Every multi-input op goes through one broadcast plan: the output shape is coalesced so that
// each input is either contiguous or constant along every remaining axis. Same-shape inputs
// become a single row (one Eigen array expression over contiguous maps, split into fixed
// chunks), a scalar input becomes an Eigen constant over that row, and the general case walks
// the outer rows with strides while the innermost axis stays an Eigen expression. Chunk
// boundaries depend only on shapes, so results never depend on the thread count.
//
// Private to src/kernels: include it only from elementwise kernel families. Every template here
// is instantiated per (dtype, op), so keep dtype sets as narrow as the op's schema allows.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kernel_util.h"

namespace compressor::kernels::elementwise {

constexpr int kMax = 1 << 20;
/// Elements per independent chunk of work.
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
inline constexpr TypeEntry kTypeTable[] = {
    {DType::kFloat, kF32},  {DType::kDouble, kF64}, {DType::kInt64, kI64}, {DType::kInt32, kI32},
    {DType::kInt16, kI16},  {DType::kInt8, kI8},    {DType::kUInt8, kU8},  {DType::kUInt16, kU16},
    {DType::kUInt32, kU32}, {DType::kUInt64, kU64}, {DType::kBool, kBool}, {DType::kFloat16, kF16},
};
static_assert(std::size(kTypeTable) == 12, "one entry per TypeBit");

/// The TypeBit of `t`, or 0 for dtypes no elementwise kernel handles.
inline unsigned bit_of(DType t) {
  for (const auto& e : kTypeTable) {
    if (e.dtype == t) return e.bit;
  }
  return 0;
}

/// "float, double, float16" for a set.
std::string type_names(unsigned set);

/// "unsupported data type int32; expected float, double, float16".
std::string unsupported_type(DType t, unsigned set);

/// Calls fn(T{}) with T the C++ type of `dtype` when its bit is in Set (float16 excluded: the
/// kernels convert it to float32 before dispatching).
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

/// Plan-time check of the known dtypes of inputs [first, last).
Status check_types(const NodeView& view, unsigned set, size_t first = 0,
                   size_t last = static_cast<size_t>(-1));

/// Plan-time check that inputs [first, last) share one dtype when it is known.
Status check_same_types(const NodeView& view, size_t first = 0,
                        size_t last = static_cast<size_t>(-1));

// ---------------------------------------------------------------------------------------------
// float16: converted to float32 on the way in and rounded to nearest even on the way out.

/// True when any input is float16.
bool any_half(const KernelContext& ctx);

/// Calls fn(inner) where `inner` is `ctx` with float16 inputs replaced by float32 copies, then
/// rounds float32 outputs back to float16 when input 0 is float16 (the output type follows
/// input 0: Pow's exponent may be float16 over a float32 base).
Status via_float(KernelContext& ctx, const std::function<Status(KernelContext&)>& fn);

// ---------------------------------------------------------------------------------------------
// Broadcasting.

constexpr size_t kMaxInputs = 3;

/// The output shape coalesced so that every input is contiguous (stride 1 on the innermost
/// axis) or constant (stride 0) along each axis.
struct BroadcastPlan {
  Dims out;
  Dims shape;  // coalesced, rank >= 1
  std::vector<int64_t> strides[kMaxInputs];
  size_t inputs = 0;
};

/// The plan for up to kMaxInputs inputs, or an error naming shapes that do not broadcast.
StatusOr<BroadcastPlan> plan_broadcast(std::span<const Tensor* const> ins,
                                       const KernelContext& ctx);

/// Calls fn(out_offset, in_offsets, len) over pieces of the output. Rows of the innermost
/// coalesced axis are independent; a single long row is split into fixed chunks.
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

/// out = op(a, b) with numpy broadcasting; `op` maps two Eigen array expressions (contiguous
/// maps or constants) to an expression of TO. With two inputs at least one of them is
/// contiguous along the innermost coalesced axis (an axis both broadcast has size 1 and is
/// dropped), so three expression shapes cover every case.
template <typename TA, typename TB, typename TO, typename Op>
Status binary_apply(const KernelContext& ctx, const Tensor& a, const Tensor& b, const Op& op,
                    Tensor& out) {
  const Tensor* ins[2] = {&a, &b};
  COMPRESSOR_ASSIGN_OR_RETURN(BroadcastPlan p, plan_broadcast(ins, ctx));
  Tensor y = Tensor::uninitialized(ir::DTypeOf<TO>::value, p.out);  // every piece is assigned
  const TA* ap = a.span<TA>().data();
  const TB* bp = b.span<TB>().data();
  TO* yp = y.numel() > 0 ? y.mutable_span<TO>().data() : nullptr;
  const bool a_full = p.strides[0].back() != 0;
  const bool b_full = p.strides[1].back() != 0;
  for_each_piece(p, ctx.pool, [&](int64_t o, const int64_t* offs, int64_t len) {
    Map<TO> ym(yp + o, len);
    if (a_full && b_full) {
      ym = op(CMap<TA>(ap + offs[0], len), CMap<TB>(bp + offs[1], len));
    } else if (b_full) {
      ym = op(Arr<TA>::Constant(len, ap[offs[0]]), CMap<TB>(bp + offs[1], len));
    } else {
      ym = op(CMap<TA>(ap + offs[0], len), Arr<TB>::Constant(len, bp[offs[1]]));
    }
  });
  out = std::move(y);
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// Unary ops: Op is a functor from an Eigen array expression over T to an expression of T.

/// y = op(x) over contiguous chunks of the input, for the dtypes of Set.
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
      Tensor y = Tensor::uninitialized(x.dtype(), x.dims());  // every chunk is assigned
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

/// The factory of a unary op without attributes.
template <unsigned Set, typename Op>
exec::KernelFactory unary(Op op = Op{}) {
  return [op](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    COMPRESSOR_RETURN_IF_ERROR(check_types(view, Set, 0, 1));
    return make_kernel<UnaryKernel<Set, Op>>(op);
  };
}

/// The factory of a unary op whose parameters Op::p[i] come from float attributes (name,
/// default).
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

/// A unary op functor `Name` computing `expr` from the array expression `x` of scalar T.
#define COMPRESSOR_UNARY(Name, expr)    \
  struct Name {                         \
    template <typename A>               \
    auto operator()(const A& x) const { \
      using T = typename A::Scalar;     \
      (void)sizeof(T);                  \
      return expr;                      \
    }                                   \
  }
/// Same, with two float parameters p0, p1 (converted to T) set from attributes.
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

}  // namespace compressor::kernels::elementwise
