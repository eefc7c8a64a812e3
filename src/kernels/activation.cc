// Kernel family 'activation': unary math (Sqrt, Exp, Log, rounding, Sign, trigonometric and
// hyperbolic functions and their inverses, IsInf, IsNaN) and activations (Relu, Sigmoid, Tanh,
// LeakyRelu, Elu, Selu, Celu, HardSigmoid, HardSwish, Softplus, Softsign, ThresholdedRelu,
// Shrink).
//
// Each op is one Eigen array expression applied by UnaryKernel (elementwise_util.h) to fixed
// chunks of the input; float16 is computed in float32. Dtype sets follow each op's schema.
#include <cmath>
#include <limits>
#include <type_traits>
#include <unsupported/Eigen/SpecialFunctions>

#include "elementwise_util.h"

namespace compressor::kernels {
namespace {

using namespace elementwise;  // NOLINT: the family is written in terms of the shared machinery

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
COMPRESSOR_UNARY(FloorOp, x.floor());
COMPRESSOR_UNARY(CeilOp, x.ceil());
COMPRESSOR_UNARY(RoundOp, x.rint());
COMPRESSOR_UNARY(SignOp, x.unaryExpr([](T v) { return sign_of(v); }));
COMPRESSOR_UNARY(SinOp, x.sin());
COMPRESSOR_UNARY(CosOp, x.cos());
COMPRESSOR_UNARY(TanOp, x.tan());
COMPRESSOR_UNARY(AsinOp, x.asin());
COMPRESSOR_UNARY(AcosOp, x.acos());
COMPRESSOR_UNARY(AtanOp, x.atan());
COMPRESSOR_UNARY(SinhOp, x.sinh());
COMPRESSOR_UNARY(CoshOp, x.cosh());
COMPRESSOR_UNARY(AsinhOp, x.asinh());
COMPRESSOR_UNARY(AcoshOp, x.acosh());
COMPRESSOR_UNARY(AtanhOp, x.atanh());

COMPRESSOR_UNARY(TanhOp, x.tanh());
COMPRESSOR_UNARY(SigmoidOp, x.logistic());
COMPRESSOR_UNARY(ReluOp, x.max(T(0)));
COMPRESSOR_UNARY(HardSwishOp, x*((x * T(1.0 / 6) + T(0.5)).max(T(0)).min(T(1))));
COMPRESSOR_UNARY(SoftplusOp, x.max(T(0)) + (-x.abs()).exp().log1p());
COMPRESSOR_UNARY(SoftsignOp, x / (x.abs() + T(1)));
COMPRESSOR_UNARY_P(LeakyReluOp, (x >= T(0)).select(x, x* p0));
COMPRESSOR_UNARY_P(EluOp, (x > T(0)).select(x, x.expm1() * p0));
COMPRESSOR_UNARY_P(SeluOp, (x > T(0)).select(x* p1, (x.exp() * p0 - p0) * p1));
COMPRESSOR_UNARY_P(HardSigmoidOp, (x * p0 + p1).max(T(0)).min(T(1)));
COMPRESSOR_UNARY_P(ThresholdedReluOp, (x > p0).select(x, T(0)));
// Celu: max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
COMPRESSOR_UNARY_P(CeluOp, x.max(T(0)) + ((x / p0).expm1() * p0).min(T(0)));

// Shrink: x + bias below -lambd, x - bias above lambd, else 0. Integer inputs are compared
// and shifted in double (the attributes are floats) and the result is truncated toward zero
// and saturated to the type's range, so an unsigned x - bias below 0 gives 0.
struct ShrinkOp {
  float p[2] = {0, 0};  // bias, lambd
  template <typename A>
  auto operator()(const A& x) const {
    using T = typename A::Scalar;
    const double bias = p[0], lambd = p[1];
    if constexpr (std::is_floating_point_v<T>) {
      const T b = T(bias), l = T(lambd);
      return (x < -l).select(x + b, (x > l).select(x - b, T(0)));
    } else {
      return x.unaryExpr([bias, lambd](T v) {
        const double d = static_cast<double>(v);
        const double r = d < -lambd ? d + bias : d > lambd ? d - bias : 0.0;
        constexpr double lo = static_cast<double>(std::numeric_limits<T>::lowest());
        constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
        if (!(r > lo)) return std::numeric_limits<T>::lowest();  // also NaN
        if (r >= hi) return std::numeric_limits<T>::max();
        return static_cast<T>(r);
      });
    }
  }
};

StatusOr<std::unique_ptr<Kernel>> make_celu(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_types(view, kF32, 0, 1));
  CeluOp op;
  op.p[0] = view.node().attr_float("alpha", 1.0f);
  if (op.p[0] == 0.0f) return view.error("alpha must not be 0 (Celu divides by it)");
  return make_kernel<UnaryKernel<kF32, CeluOp>>(op);
}

// ---------------------------------------------------------------------------------------------
// IsInf and IsNaN: bool output of the input's shape.

/// out[i] = pred(x[i]) over a float or double input (float16/bfloat16 read as bits).
template <typename T, typename Pred>
Status classify(KernelContext& ctx, Pred pred) {
  const Tensor& x = ctx.input(0);
  Tensor y = Tensor::zeros(DType::kBool, x.dims());
  const int64_t n = y.numel();
  if (n > 0) {
    const T* xp = x.span<T>().data();
    bool* yp = y.mutable_span<bool>().data();
    exec::parallel_for(ctx.pool, n, kChunk, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) yp[i] = pred(xp[i]);
    });
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

StatusOr<std::unique_ptr<Kernel>> make_is_inf(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_types(view, kF32 | kF64, 0, 1));
  const bool pos = view.node().attr_int("detect_positive", 1) != 0;
  const bool neg = view.node().attr_int("detect_negative", 1) != 0;
  return make_kernel<exec::LambdaKernel>([pos, neg](KernelContext& ctx) -> Status {
    return dispatch<kF32 | kF64>(ctx.input(0).dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      return classify<T>(ctx, [pos, neg](T v) { return std::isinf(v) && (v > 0 ? pos : neg); });
    });
  });
}

// float16 and bfloat16 NaNs: all exponent bits set and a non-zero mantissa.
constexpr uint16_t kHalfInf = 0x7C00, kBFloat16Inf = 0x7F80;

StatusOr<std::unique_ptr<Kernel>> make_is_nan(const NodeView& view) {
  const DType t = view.input_dtype(0);
  const bool bf16_ok = view.opset() >= 13;
  if (t != DType::kUndefined && !(bit_of(t) & kFloats) && !(bf16_ok && t == DType::kBFloat16)) {
    return view.error("input 0: " + unsupported_type(t, kFloats) + (bf16_ok ? ", bfloat16" : ""));
  }
  return make_kernel<exec::LambdaKernel>([bf16_ok](KernelContext& ctx) -> Status {
    switch (ctx.input(0).dtype()) {
      case DType::kFloat16:
        return classify<uint16_t>(ctx, [](uint16_t v) { return (v & 0x7FFF) > kHalfInf; });
      case DType::kBFloat16:
        if (!bf16_ok) break;
        return classify<uint16_t>(ctx, [](uint16_t v) { return (v & 0x7FFF) > kBFloat16Inf; });
      default:
        break;
    }
    return dispatch<kF32 | kF64>(ctx.input(0).dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      return classify<T>(ctx, [](T v) { return std::isnan(v); });
    });
  });
}

}  // namespace

void register_activation_kernels(exec::KernelRegistry& r) {
  // Unary math (opset 6+: no consumed_inputs attribute).
  r.add("", "Sqrt", 6, kMax, unary<kFloats, SqrtOp>());
  r.add("", "Reciprocal", 6, kMax, unary<kFloats, ReciprocalOp>());
  r.add("", "Neg", 6, kMax, unary<kFloats | kSigned, NegOp>());
  r.add("", "Abs", 6, kMax, unary<kNumeric, AbsOp>());
  r.add("", "Exp", 6, kMax, unary<kFloats, ExpOp>());
  r.add("", "Log", 6, kMax, unary<kFloats, LogOp>());
  r.add("", "Erf", 9, kMax, unary<kFloats, ErfOp>());
  r.add("", "Floor", 6, kMax, unary<kFloats, FloorOp>());
  r.add("", "Ceil", 6, kMax, unary<kFloats, CeilOp>());
  r.add("", "Round", 11, kMax, unary<kFloats, RoundOp>());
  r.add("", "Sign", 9, kMax, unary<kNumeric, SignOp>());
  r.add("", "Sin", 7, kMax, unary<kFloats, SinOp>());
  r.add("", "Cos", 7, kMax, unary<kFloats, CosOp>());
  r.add("", "Tan", 7, kMax, unary<kFloats, TanOp>());
  r.add("", "Asin", 7, kMax, unary<kFloats, AsinOp>());
  r.add("", "Acos", 7, kMax, unary<kFloats, AcosOp>());
  r.add("", "Atan", 7, kMax, unary<kFloats, AtanOp>());
  r.add("", "Sinh", 9, kMax, unary<kFloats, SinhOp>());
  r.add("", "Cosh", 9, kMax, unary<kFloats, CoshOp>());
  r.add("", "Asinh", 9, kMax, unary<kFloats, AsinhOp>());
  r.add("", "Acosh", 9, kMax, unary<kFloats, AcoshOp>());
  r.add("", "Atanh", 9, kMax, unary<kFloats, AtanhOp>());
  r.add("", "IsInf", 10, kMax, make_is_inf);
  r.add("", "IsNaN", 9, kMax, make_is_nan);
  // Activations.
  r.add("", "Tanh", 6, kMax, unary<kFloats, TanhOp>());
  r.add("", "Sigmoid", 6, kMax, unary<kFloats, SigmoidOp>());
  r.add("", "Relu", 6, kMax, unary<kFloats | kSigned, ReluOp>());
  r.add("", "LeakyRelu", 6, kMax, unary_attrs<kFloats, LeakyReluOp>({{"alpha", 0.01f}}));
  r.add("", "Elu", 6, kMax, unary_attrs<kFloats, EluOp>({{"alpha", 1.0f}}));
  r.add("", "Selu", 6, kMax,
        unary_attrs<kFloats, SeluOp>(
            {{"alpha", 1.67326319217681884765625f}, {"gamma", 1.05070102214813232421875f}}));
  r.add("", "Celu", 12, kMax, make_celu);
  r.add("", "HardSigmoid", 6, kMax,
        unary_attrs<kFloats, HardSigmoidOp>({{"alpha", 0.2f}, {"beta", 0.5f}}));
  r.add("", "HardSwish", 14, kMax, unary<kFloats, HardSwishOp>());
  r.add("", "Softplus", 1, kMax, unary<kFloats, SoftplusOp>());
  r.add("", "Softsign", 1, kMax, unary<kFloats, SoftsignOp>());
  r.add("", "ThresholdedRelu", 10, kMax,
        unary_attrs<kFloats, ThresholdedReluOp>({{"alpha", 1.0f}}));
  r.add("", "Shrink", 9, kMax, unary_attrs<kNumeric, ShrinkOp>({{"bias", 0.0f}, {"lambd", 0.5f}}));
}

}  // namespace compressor::kernels
