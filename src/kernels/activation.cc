// Kernel family 'activation': unary math (Sqrt, Exp, Log, rounding, Sign, Sin, Cos) and
// activations (Relu, Sigmoid, Tanh, LeakyRelu, Elu, Selu, HardSigmoid, HardSwish, Softplus).
//
// Each op is one Eigen array expression applied by UnaryKernel (elementwise_util.h) to fixed
// chunks of the input; float16 is computed in float32. Dtype sets follow each op's schema.
#include <cmath>
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

COMPRESSOR_UNARY(TanhOp, x.tanh());
COMPRESSOR_UNARY(SigmoidOp, x.logistic());
COMPRESSOR_UNARY(ReluOp, x.max(T(0)));
COMPRESSOR_UNARY(HardSwishOp, x*((x * T(1.0 / 6) + T(0.5)).max(T(0)).min(T(1))));
COMPRESSOR_UNARY(SoftplusOp, x.max(T(0)) + (-x.abs()).exp().log1p());
COMPRESSOR_UNARY_P(LeakyReluOp, (x >= T(0)).select(x, x* p0));
COMPRESSOR_UNARY_P(EluOp, (x > T(0)).select(x, x.expm1() * p0));
COMPRESSOR_UNARY_P(SeluOp, (x > T(0)).select(x* p1, (x.exp() * p0 - p0) * p1));
COMPRESSOR_UNARY_P(HardSigmoidOp, (x * p0 + p1).max(T(0)).min(T(1)));

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
  // Activations.
  r.add("", "Tanh", 6, kMax, unary<kFloats, TanhOp>());
  r.add("", "Sigmoid", 6, kMax, unary<kFloats, SigmoidOp>());
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
