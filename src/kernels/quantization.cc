// Kernel family 'quantization': QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
// MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv. Rounding is half to even (rint under
// the default rounding mode); results saturate to the output type.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>

#include "kernel_util.h"
#include "sgemm.h"

namespace compressor::kernels {
namespace {

using I32Matrix = Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

bool is_int8ish(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

/// Reads any int8/uint8/int32 tensor element i as int32.
int32_t int_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kInt8:
      return t.span<int8_t>()[i];
    case DType::kUInt8:
      return t.span<uint8_t>()[i];
    case DType::kInt32:
      return t.span<int32_t>()[i];
    default:
      return 0;
  }
}

/// All elements of an int8/uint8/int32 tensor as int32.
Eigen::ArrayXi ints_of(const Tensor& t) {
  switch (t.dtype()) {
    case DType::kInt8:
      return ir::flat<int8_t>(t).cast<int32_t>();
    case DType::kUInt8:
      return ir::flat<uint8_t>(t).cast<int32_t>();
    case DType::kInt32:
      return ir::flat<int32_t>(t);
    default:
      return Eigen::ArrayXi();
  }
}

/// Per-tensor or per-axis parameters: block layout [outer, channels, inner].
struct AxisLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};

/// Layout of `x` for a scale of `scale_dims`: per-tensor when the scale has one element, else
/// per-axis along `axis` (the scale must be 1-D of size dims[axis]).
StatusOr<AxisLayout> axis_layout(const Dims& x, const Tensor& scale, int64_t axis, bool allow_axis,
                                 const KernelContext& ctx) {
  AxisLayout l;
  l.inner = ir::element_count(x);
  if (scale.numel() == 1 && scale.rank() <= 1) return l;
  if (!allow_axis) {
    return ctx.error("scale must be a scalar in this opset, got shape " +
                     ir::dims_to_string(scale.dims()));
  }
  if (scale.rank() != 1) {
    return ctx.error("scale must be a scalar or 1-D, got shape " +
                     ir::dims_to_string(scale.dims()));
  }
  COMPRESSOR_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, static_cast<int64_t>(x.size()), ctx));
  if (x.empty() || x[a] != scale.numel()) {
    return ctx.error("scale has " + std::to_string(scale.numel()) + " elements, axis " +
                     std::to_string(axis) + " of input " + ir::dims_to_string(x) + " does not");
  }
  l.outer = 1;
  for (int64_t i = 0; i < a; ++i) l.outer *= x[i];
  l.channels = x[a];
  l.inner = 1;
  for (size_t i = a + 1; i < x.size(); ++i) l.inner *= x[i];
  return l;
}

Status check_zero_point(const Tensor* zp, const Tensor& scale, const KernelContext& ctx) {
  if (zp != nullptr && zp->numel() != scale.numel()) {
    return ctx.error("zero point has " + std::to_string(zp->numel()) + " elements, scale has " +
                     std::to_string(scale.numel()));
  }
  return ok_status();
}

/// q = saturate(rint(x / scale) + zp) over a contiguous block.
template <typename Q>
void quantize_block(const float* x, Q* y, int64_t n, float scale, int32_t zp) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  Eigen::Map<const Eigen::ArrayXf> xs(x, n);
  Eigen::Map<Eigen::Array<Q, Eigen::Dynamic, 1>> ys(y, n);
  ys = ((xs / scale).rint() + static_cast<float>(zp)).max(lo).min(hi).template cast<Q>();
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear

class QuantizeLinearKernel : public Kernel {
 public:
  QuantizeLinearKernel(int64_t axis, bool allow_axis) : axis_(axis), allow_axis_(allow_axis) {}

  Status compute(KernelContext& ctx) const override {
    const Tensor& x_in = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    if (scale.dtype() != DType::kFloat) return ctx.error("y_scale must be float");
    const DType out = zp ? zp->dtype() : DType::kUInt8;
    if (!is_int8ish(out)) {
      return ctx.error("output type " + std::string(ir::dtype_name(out)) +
                       " is not supported (int8 and uint8 are)");
    }
    Tensor xf;
    if (x_in.dtype() == DType::kFloat) {
      xf = x_in;
    } else if (x_in.dtype() == DType::kInt32) {
      xf = Tensor::zeros(DType::kFloat, x_in.dims());
      ir::mutable_flat<float>(xf) = ir::flat<int32_t>(x_in).cast<float>();
    } else {
      return ctx.error("input type " + std::string(ir::dtype_name(x_in.dtype())) +
                       " is not supported (float and int32 are)");
    }
    COMPRESSOR_RETURN_IF_ERROR(check_zero_point(zp, scale, ctx));
    COMPRESSOR_ASSIGN_OR_RETURN(AxisLayout l,
                                axis_layout(x_in.dims(), scale, axis_, allow_axis_, ctx));
    Tensor y = Tensor::zeros(out, x_in.dims());
    const float* x = xf.span<float>().data();
    auto s = scale.span<float>();
    auto run = [&](auto tag) {
      using Q = decltype(tag);
      Q* yp = y.mutable_span<Q>().data();
      exec::parallel_for(ctx.pool, l.outer * l.channels,
                         std::max<int64_t>(1, 16384 / std::max<int64_t>(1, l.inner)),
                         [&](int64_t b, int64_t e) {
                           for (int64_t i = b; i < e; ++i) {
                             const int64_t c = i % l.channels;
                             quantize_block<Q>(x + i * l.inner, yp + i * l.inner, l.inner, s[c],
                                               zp ? int_at(*zp, c) : 0);
                           }
                         });
    };
    if (out == DType::kInt8) {
      run(int8_t{});
    } else {
      run(uint8_t{});
    }
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }

 private:
  int64_t axis_;
  bool allow_axis_;
};

class DequantizeLinearKernel : public Kernel {
 public:
  DequantizeLinearKernel(int64_t axis, bool allow_axis) : axis_(axis), allow_axis_(allow_axis) {}

  Status compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& scale = ctx.input(1);
    const Tensor* zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    if (scale.dtype() != DType::kFloat) return ctx.error("x_scale must be float");
    if (!is_int8ish(x.dtype()) && x.dtype() != DType::kInt32) {
      return ctx.error("input type " + std::string(ir::dtype_name(x.dtype())) +
                       " is not supported (int8, uint8 and int32 are)");
    }
    if (zp && zp->dtype() != x.dtype()) return ctx.error("x_zero_point type differs from x");
    COMPRESSOR_RETURN_IF_ERROR(check_zero_point(zp, scale, ctx));
    COMPRESSOR_ASSIGN_OR_RETURN(AxisLayout l,
                                axis_layout(x.dims(), scale, axis_, allow_axis_, ctx));
    Tensor y = Tensor::zeros(DType::kFloat, x.dims());
    float* yp = y.mutable_span<float>().data();
    auto s = scale.span<float>();
    auto run = [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x.span<T>().data();
      exec::parallel_for(
          ctx.pool, l.outer * l.channels,
          std::max<int64_t>(1, 16384 / std::max<int64_t>(1, l.inner)), [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) {
              const int64_t c = i % l.channels;
              const int32_t z = zp ? int_at(*zp, c) : 0;
              Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> xs(xp + i * l.inner, l.inner);
              Eigen::Map<Eigen::ArrayXf> ys(yp + i * l.inner, l.inner);
              ys = (xs.template cast<int32_t>() - z).template cast<float>() * s[c];
            }
          });
    };
    if (x.dtype() == DType::kInt8) {
      run(int8_t{});
    } else if (x.dtype() == DType::kUInt8) {
      run(uint8_t{});
    } else {
      run(int32_t{});
    }
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }

 private:
  int64_t axis_;
  bool allow_axis_;
};

StatusOr<std::unique_ptr<Kernel>> make_quantize(const NodeView& view) {
  const DType x = view.input_dtype(0);
  if (x != DType::kUndefined && x != DType::kFloat && x != DType::kInt32) {
    return view.error("input type " + std::string(ir::dtype_name(x)) +
                      " is not supported (float and int32 are)");
  }
  const DType z = view.input_dtype(2);
  if (view.has_input(2) && z != DType::kUndefined && !is_int8ish(z)) {
    return view.error("zero point type " + std::string(ir::dtype_name(z)) +
                      " is not supported (int8 and uint8 are)");
  }
  return make_kernel<QuantizeLinearKernel>(view.node().attr_int("axis", 1), view.opset() >= 13);
}

StatusOr<std::unique_ptr<Kernel>> make_dequantize(const NodeView& view) {
  const DType x = view.input_dtype(0);
  if (x != DType::kUndefined && !is_int8ish(x) && x != DType::kInt32) {
    return view.error("input type " + std::string(ir::dtype_name(x)) +
                      " is not supported (int8, uint8 and int32 are)");
  }
  return make_kernel<DequantizeLinearKernel>(view.node().attr_int("axis", 1), view.opset() >= 13);
}

// ---------------------------------------------------------------------------------------------
// DynamicQuantizeLinear

Status dynamic_quantize(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat) return ctx.error("input must be float");
  auto xs = ir::flat<float>(x);
  const float mn = std::min(0.0f, x.numel() ? xs.minCoeff() : 0.0f);
  const float mx = std::max(0.0f, x.numel() ? xs.maxCoeff() : 0.0f);
  const float scale = (mx - mn) / 255.0f;
  uint8_t zp = 0;
  if (scale > 0) zp = static_cast<uint8_t>(std::clamp(std::rint(-mn / scale), 0.0f, 255.0f));
  Tensor y = Tensor::zeros(DType::kUInt8, x.dims());
  if (scale > 0) {
    quantize_block<uint8_t>(xs.data(), y.mutable_span<uint8_t>().data(), x.numel(), scale, zp);
  }
  ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) {
    ctx.outputs[1] = Tensor::from_values<float>({}, std::span<const float>(&scale, 1));
  }
  if (ctx.outputs.size() > 2) {
    ctx.outputs[2] = Tensor::from_values<uint8_t>({}, std::span<const uint8_t>(&zp, 1));
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// MatMulInteger / QLinearMatMul

/// Zero point (or scale) of a matmul operand: per tensor, per row of A (per column of B), or per
/// batch and row (column).
enum class ParamKind { kTensor, kPerVector, kPerBatchVector };

std::optional<ParamKind> param_kind_of(const Tensor& p, const Dims& operand, bool is_a) {
  if (p.numel() == 1) return ParamKind::kTensor;
  const int64_t vec = operand.size() < 2 ? 1
                      : is_a             ? operand[operand.size() - 2]
                                         : operand[operand.size() - 1];
  if (p.rank() == 1 && p.numel() == vec) return ParamKind::kPerVector;
  Dims want = operand;
  if (want.size() >= 2) want[want.size() - (is_a ? 1 : 2)] = 1;
  if (p.dims() == want) return ParamKind::kPerBatchVector;
  return std::nullopt;
}

StatusOr<ParamKind> matmul_param_kind(const Tensor& p, const Dims& operand, bool is_a,
                                      const char* what, const KernelContext& ctx) {
  if (auto kind = param_kind_of(p, operand, is_a)) return *kind;
  return ctx.error(std::string(what) + " of shape " + ir::dims_to_string(p.dims()) +
                   " does not fit input " + ir::dims_to_string(operand) +
                   (is_a ? " (per tensor or per row)" : " (per tensor or per column)"));
}

/// Value of a per-tensor / per-row / per-column parameter for batch b, row or column v.
template <typename Get>
auto param_at(ParamKind kind, int64_t b, int64_t v, int64_t vec, Get get) {
  switch (kind) {
    case ParamKind::kTensor:
      return get(0);
    case ParamKind::kPerVector:
      return get(v);
    default:
      return get(b * vec + v);
  }
}

/// Batched integer matmul with zero points; calls `emit(batch_index, int32 matrix [M, N])` for
/// every output matrix, where batch_index indexes the broadcast batch.
struct MatMulShape {
  Dims out;                               // output dims
  int64_t m, k, n;                        // matrix dims
  int64_t batch;                          // number of output matrices
  std::vector<int64_t> a_batch, b_batch;  // matrix index into A and B per output matrix
};

StatusOr<MatMulShape> matmul_shape(const Dims& a_in, const Dims& b_in, const KernelContext& ctx) {
  if (a_in.empty() || b_in.empty()) return ctx.error("inputs must have rank >= 1");
  Dims a = a_in, b = b_in;
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  MatMulShape s;
  s.m = a[a.size() - 2];
  s.k = a[a.size() - 1];
  s.n = b[b.size() - 1];
  if (b[b.size() - 2] != s.k) {
    return ctx.error("shapes " + ir::dims_to_string(a_in) + " and " + ir::dims_to_string(b_in) +
                     " cannot be multiplied");
  }
  Dims ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  COMPRESSOR_ASSIGN_OR_RETURN(Dims batch, broadcast_shape(ab, bb, ctx));
  s.batch = ir::element_count(batch);
  const auto as = broadcast_strides(ab, batch), bs = broadcast_strides(bb, batch);
  const auto os = strides_of(batch);
  for (int64_t i = 0; i < s.batch; ++i) {
    int64_t ai = 0, bi = 0, rem = i;
    for (size_t d = 0; d < batch.size(); ++d) {
      const int64_t idx = rem / os[d];
      rem %= os[d];
      ai += idx * as[d];
      bi += idx * bs[d];
    }
    s.a_batch.push_back(ai);
    s.b_batch.push_back(bi);
  }
  s.out = batch;
  if (!a1) s.out.push_back(s.m);
  if (!b1) s.out.push_back(s.n);
  return s;
}

/// An operand minus its zero point, in its own layout ([..., rows, cols] of matrices), with the
/// largest |value|.
struct Shifted {
  Eigen::ArrayXi values;
  int64_t dev = 0;
};

/// `x - zp` for a matmul operand `x` (A when `is_a`: zero point per row; B: per column).
Shifted shift_operand(const Tensor& x, const Tensor* zp, ParamKind kind, bool is_a) {
  const Dims& d = x.dims();
  const int64_t rows = d.size() < 2 ? (is_a ? 1 : d[0]) : d[d.size() - 2];
  const int64_t cols = d.size() < 2 ? (is_a ? d[0] : 1) : d[d.size() - 1];
  Shifted s{ints_of(x), 0};
  if (zp != nullptr && kind == ParamKind::kTensor) {
    s.values -= int_at(*zp, 0);
  } else if (zp != nullptr) {
    const int64_t vec = is_a ? rows : cols;
    for (int64_t mat = 0; mat < s.values.size() / std::max<int64_t>(rows * cols, 1); ++mat) {
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          s.values[(mat * rows + r) * cols + c] -=
              param_at(kind, mat, is_a ? r : c, vec, [&](int64_t j) { return int_at(*zp, j); });
        }
      }
    }
  }
  s.dev = s.values.size() ? s.values.abs().maxCoeff() : 0;
  return s;
}

/// A constant B minus its constant zero point, as float32 whole numbers (for the float GEMM) in
/// B's layout, with the largest |value|: what an integer matmul with constant weights converts
/// once instead of on every run.
struct ConstantB {
  Dims dims;
  std::vector<float> values;
  int64_t dev = 0;
};

/// (A - a_zp) @ (B - b_zp) for each output matrix; `emit(i, c0, acc)` consumes columns
/// [c0, c0 + acc.cols()) of output matrix i, where `acc` is a row-major matrix of whole numbers
/// (int32, or float32 holding them exactly). Each product is summed through the float GEMM while
/// K x max|A - a_zp| x max|B - b_zp| < 2^24, where every partial sum is a whole number float32
/// holds exactly, and in int32 beyond. `constant_b`, when given, is B - b_zp already converted.
template <typename Emit>
Status integer_matmul(const Tensor& a, const Tensor* a_zp, const Tensor& b, const Tensor* b_zp,
                      const ConstantB* constant_b, const MatMulShape& s, KernelContext& ctx,
                      Emit emit) {
  ParamKind ak = ParamKind::kTensor, bk = ParamKind::kTensor;
  if (a_zp) {
    COMPRESSOR_ASSIGN_OR_RETURN(ak, matmul_param_kind(*a_zp, a.dims(), true, "a_zero_point", ctx));
  }
  if (b_zp) {
    COMPRESSOR_ASSIGN_OR_RETURN(bk, matmul_param_kind(*b_zp, b.dims(), false, "b_zero_point", ctx));
  }
  if (constant_b != nullptr && constant_b->dims != b.dims()) constant_b = nullptr;
  const Shifted as = shift_operand(a, a_zp, ak, true);
  Shifted bs;
  if (constant_b == nullptr) bs = shift_operand(b, b_zp, bk, false);
  const int64_t b_dev = constant_b != nullptr ? constant_b->dev : bs.dev;
  const int64_t mk = s.m * s.k, kn = s.k * s.n;
  if (s.k * as.dev * b_dev < (int64_t{1} << 24)) {
    const std::vector<float> af(as.values.begin(), as.values.end());
    std::vector<float> owned_bf;
    if (constant_b == nullptr) owned_bf.assign(bs.values.begin(), bs.values.end());
    const float* bf = constant_b != nullptr ? constant_b->values.data() : owned_bf.data();
    // Column tiles, so that one large matrix (a classifier) still splits across threads; the
    // GEMM's sums do not depend on the tiling.
    constexpr int64_t kTile = 256;
    const int64_t tiles = (s.n + kTile - 1) / kTile;
    using F32Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    exec::parallel_for(ctx.pool, s.batch * tiles, 1, [&](int64_t begin, int64_t end) {
      F32Matrix acc;
      for (int64_t job = begin; job < end; ++job) {
        const int64_t i = job / tiles, c0 = (job % tiles) * kTile;
        const int64_t nc = std::min(kTile, s.n - c0);
        acc.resize(s.m, nc);
        sgemm(s.m, nc, s.k, af.data() + s.a_batch[i] * mk, s.k, 1, bf + s.b_batch[i] * kn + c0, s.n,
              1, acc.data(), nc, false);
        emit(i, c0, acc);
      }
    });
    return ok_status();
  }
  if (constant_b != nullptr) {
    bs.values = Eigen::Map<const Eigen::ArrayXf>(constant_b->values.data(),
                                                 static_cast<int64_t>(constant_b->values.size()))
                    .cast<int32_t>();
  }
  exec::parallel_for(ctx.pool, s.batch, 1, [&](int64_t begin, int64_t end) {
    I32Matrix acc(s.m, s.n);
    for (int64_t i = begin; i < end; ++i) {
      acc.noalias() = Eigen::Map<const I32Matrix>(as.values.data() + s.a_batch[i] * mk, s.m, s.k) *
                      Eigen::Map<const I32Matrix>(bs.values.data() + s.b_batch[i] * kn, s.k, s.n);
      emit(i, 0, acc);
    }
  });
  return ok_status();
}

/// Writes saturate(rint(acc * multiplier) + zp) for one value.
template <typename Q>
Q requantize(float v, int32_t zp) {
  const float r = std::rint(v) + static_cast<float>(zp);
  return static_cast<Q>(std::clamp(r, static_cast<float>(std::numeric_limits<Q>::min()),
                                   static_cast<float>(std::numeric_limits<Q>::max())));
}

Status matmul_integer(KernelContext& ctx, const ConstantB* constant_b) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (!is_int8ish(a.dtype()) || !is_int8ish(b.dtype())) {
    return ctx.error("inputs must be int8 or uint8");
  }
  COMPRESSOR_ASSIGN_OR_RETURN(MatMulShape s, matmul_shape(a.dims(), b.dims(), ctx));
  Tensor y = Tensor::zeros(DType::kInt32, s.out);
  int32_t* yp = y.mutable_span<int32_t>().data();
  const int64_t mn = s.m * s.n;
  COMPRESSOR_RETURN_IF_ERROR(integer_matmul(
      a, ctx.has_input(2) ? &ctx.input(2) : nullptr, b, ctx.has_input(3) ? &ctx.input(3) : nullptr,
      constant_b, s, ctx, [&](int64_t i, int64_t c0, const auto& acc) {
        Eigen::Map<I32Matrix>(yp + i * mn, s.m, s.n).middleCols(c0, acc.cols()) =
            acc.template cast<int32_t>();
      }));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

Status qlinear_matmul(KernelContext& ctx, const ConstantB* constant_b) {
  for (size_t i = 0; i < 8; ++i) {
    if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is required");
  }
  const Tensor& a = ctx.input(0);
  const Tensor& a_scale = ctx.input(1);
  const Tensor& b = ctx.input(3);
  const Tensor& b_scale = ctx.input(4);
  const Tensor& y_scale = ctx.input(6);
  const Tensor& y_zp = ctx.input(7);
  if (!is_int8ish(a.dtype()) || !is_int8ish(b.dtype()) || !is_int8ish(y_zp.dtype())) {
    return ctx.error("a, b and y_zero_point must be int8 or uint8");
  }
  if (a_scale.dtype() != DType::kFloat || b_scale.dtype() != DType::kFloat ||
      y_scale.dtype() != DType::kFloat || y_scale.numel() != 1 || y_zp.numel() != 1) {
    return ctx.error("scales must be float and y_scale, y_zero_point scalars");
  }
  COMPRESSOR_ASSIGN_OR_RETURN(MatMulShape s, matmul_shape(a.dims(), b.dims(), ctx));
  COMPRESSOR_ASSIGN_OR_RETURN(ParamKind ask,
                              matmul_param_kind(a_scale, a.dims(), true, "a_scale", ctx));
  COMPRESSOR_ASSIGN_OR_RETURN(ParamKind bsk,
                              matmul_param_kind(b_scale, b.dims(), false, "b_scale", ctx));
  const float ys = y_scale.span<float>()[0];
  const int32_t yz = int_at(y_zp, 0);
  Tensor y = Tensor::zeros(y_zp.dtype(), s.out);
  const int64_t mn = s.m * s.n;
  auto as = a_scale.span<float>(), bs = b_scale.span<float>();
  auto run = [&](auto tag) -> Status {
    using Q = decltype(tag);
    Q* yp = y.mutable_span<Q>().data();
    return integer_matmul(
        a, &ctx.input(2), b, &ctx.input(5), constant_b, s, ctx,
        [&](int64_t i, int64_t c0, const auto& acc) {
          const int64_t ab = s.a_batch[i], bb = s.b_batch[i];
          // sa x sb / ys per column, recomputed per row only when a's scale is per row.
          std::vector<float> mult(acc.cols());
          for (int64_t r = 0; r < s.m; ++r) {
            if (r == 0 || ask != ParamKind::kTensor) {
              const float sa = param_at(ask, ab, r, s.m, [&](int64_t j) { return as[j]; });
              for (int64_t c = 0; c < acc.cols(); ++c) {
                mult[c] =
                    sa * param_at(bsk, bb, c0 + c, s.n, [&](int64_t j) { return bs[j]; }) / ys;
              }
            }
            Q* out = yp + i * mn + r * s.n + c0;
            for (int64_t c = 0; c < acc.cols(); ++c) {
              out[c] = requantize<Q>(static_cast<float>(acc(r, c)) * mult[c], yz);
            }
          }
        });
  };
  COMPRESSOR_RETURN_IF_ERROR(y_zp.dtype() == DType::kInt8 ? run(int8_t{}) : run(uint8_t{}));
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

/// MatMulInteger (inputs a, b, a_zero_point, b_zero_point) or QLinearMatMul (a, a_scale,
/// a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point). A constant int8/uint8 B with a
/// constant (or omitted) zero point is converted for the float GEMM once, here.
class IntegerMatMulKernel : public Kernel {
 public:
  IntegerMatMulKernel(bool qlinear, std::optional<ConstantB> b)
      : qlinear_(qlinear), b_(std::move(b)) {}
  Status compute(KernelContext& ctx) const override {
    const ConstantB* b = b_ ? &*b_ : nullptr;
    return qlinear_ ? qlinear_matmul(ctx, b) : matmul_integer(ctx, b);
  }

 private:
  bool qlinear_;
  std::optional<ConstantB> b_;
};

template <bool kQLinear>
StatusOr<std::unique_ptr<Kernel>> make_integer_matmul(const NodeView& view) {
  const size_t b_in = kQLinear ? 3 : 1, zp_in = kQLinear ? 5 : 3;
  std::optional<ConstantB> constant_b;
  const Tensor* b = view.constant_input(b_in);
  const Tensor* zp = view.has_input(zp_in) ? view.constant_input(zp_in) : nullptr;
  if (b != nullptr && is_int8ish(b->dtype()) && b->rank() >= 1 &&
      (zp != nullptr || !view.has_input(zp_in))) {
    // A zero point that does not fit B is left for compute() to report.
    std::optional<ParamKind> kind = ParamKind::kTensor;
    if (zp != nullptr)
      kind = is_int8ish(zp->dtype()) ? param_kind_of(*zp, b->dims(), false) : std::nullopt;
    if (kind) {
      const Shifted s = shift_operand(*b, zp, *kind, false);
      constant_b =
          ConstantB{b->dims(), std::vector<float>(s.values.begin(), s.values.end()), s.dev};
    }
  }
  return make_kernel<IntegerMatMulKernel>(kQLinear, std::move(constant_b));
}

// ---------------------------------------------------------------------------------------------
// ConvInteger / QLinearConv (2-D)

struct ConvAttrs {
  std::string auto_pad = "NOTSET";
  int64_t group = 1;
  std::vector<int64_t> kernel_shape, pads, strides, dilations;
};

StatusOr<ConvAttrs> parse_conv_attrs(const NodeView& view) {
  ConvAttrs a;
  const ir::Node& n = view.node();
  if (const auto* ap = n.attribute("auto_pad")) a.auto_pad = ap->s();
  if (a.auto_pad != "NOTSET" && a.auto_pad != "VALID" && a.auto_pad != "SAME_UPPER" &&
      a.auto_pad != "SAME_LOWER") {
    return view.error("auto_pad '" + a.auto_pad + "' is not supported");
  }
  a.group = n.attr_int("group", 1);
  if (a.group < 1) return view.error("group must be >= 1");
  a.kernel_shape = n.attr_ints("kernel_shape");
  a.pads = n.attr_ints("pads");
  a.strides = n.attr_ints("strides");
  a.dilations = n.attr_ints("dilations");
  for (const auto* v : {&a.kernel_shape, &a.strides, &a.dilations}) {
    if (!v->empty() && v->size() != 2) return view.error("only 2-D convolution is supported");
  }
  if (!a.pads.empty() && a.pads.size() != 4) return view.error("only 2-D convolution is supported");
  for (int64_t v : a.strides) {
    if (v < 1) return view.error("strides must be >= 1");
  }
  for (int64_t v : a.dilations) {
    if (v < 1) return view.error("dilations must be >= 1");
  }
  for (int64_t v : a.pads) {
    if (v < 0) return view.error("pads must be >= 0");
  }
  return a;
}

struct ConvGeometry {
  int64_t n, c, h, w, m, kh, kw, oh, ow, sh, sw, dh, dw, pt, pl;
};

StatusOr<ConvGeometry> conv_geometry(const ConvAttrs& a, const Dims& x, const Dims& w,
                                     const KernelContext& ctx) {
  if (x.size() != 4 || w.size() != 4) {
    return ctx.error("only 2-D convolution (rank-4 x and w) is supported, got x " +
                     ir::dims_to_string(x) + " and w " + ir::dims_to_string(w));
  }
  ConvGeometry g{};
  g.n = x[0];
  g.c = x[1];
  g.h = x[2];
  g.w = x[3];
  g.m = w[0];
  g.kh = w[2];
  g.kw = w[3];
  if (!a.kernel_shape.empty() && (a.kernel_shape[0] != g.kh || a.kernel_shape[1] != g.kw)) {
    return ctx.error("kernel_shape does not match w " + ir::dims_to_string(w));
  }
  if (g.c != w[1] * a.group || g.m % a.group != 0) {
    return ctx.error("channels of x " + ir::dims_to_string(x) + " and w " + ir::dims_to_string(w) +
                     " do not fit group " + std::to_string(a.group));
  }
  g.sh = a.strides.empty() ? 1 : a.strides[0];
  g.sw = a.strides.empty() ? 1 : a.strides[1];
  g.dh = a.dilations.empty() ? 1 : a.dilations[0];
  g.dw = a.dilations.empty() ? 1 : a.dilations[1];
  const int64_t ekh = (g.kh - 1) * g.dh + 1, ekw = (g.kw - 1) * g.dw + 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  if (a.auto_pad == "NOTSET") {
    if (!a.pads.empty()) {
      pt = a.pads[0];
      pl = a.pads[1];
      pb = a.pads[2];
      pr = a.pads[3];
    }
    g.oh = (g.h + pt + pb - ekh) / g.sh + 1;
    g.ow = (g.w + pl + pr - ekw) / g.sw + 1;
  } else if (a.auto_pad == "VALID") {
    g.oh = (g.h - ekh) / g.sh + 1;
    g.ow = (g.w - ekw) / g.sw + 1;
  } else {
    g.oh = (g.h + g.sh - 1) / g.sh;
    g.ow = (g.w + g.sw - 1) / g.sw;
    const int64_t th = std::max<int64_t>(0, (g.oh - 1) * g.sh + ekh - g.h);
    const int64_t tw = std::max<int64_t>(0, (g.ow - 1) * g.sw + ekw - g.w);
    pt = a.auto_pad == "SAME_UPPER" ? th / 2 : th - th / 2;
    pl = a.auto_pad == "SAME_UPPER" ? tw / 2 : tw - tw / 2;
  }
  g.pt = pt;
  g.pl = pl;
  if (g.h + pt + pb < ekh || g.w + pl + pr < ekw) {
    return ctx.error("kernel " + ir::dims_to_string(w) + " is larger than the padded input " +
                     ir::dims_to_string(x));
  }
  return g;
}

/// The zero points of an integer convolution: x_zp one value, w_zp one or one per output
/// channel (either may be absent).
Status check_conv_zero_points(const Tensor* x_zp, const Tensor* w_zp, const ConvGeometry& g,
                              const KernelContext& ctx) {
  if (x_zp && x_zp->numel() != 1) return ctx.error("x_zero_point must be a scalar");
  if (w_zp && w_zp->numel() != 1 && w_zp->numel() != g.m) {
    return ctx.error("w_zero_point must be a scalar or have one value per output channel");
  }
  return ok_status();
}

/// Integer convolution: acc[n][m][oh*ow] = sum (x - x_zp) * (w - w_zp[m]); `emit(n, m0, acc)`
/// receives the [M/group, OH*OW] accumulator of group starting at output channel m0. The zero
/// points must have passed check_conv_zero_points.
template <typename Emit>
Status integer_conv(const Tensor& x, const Tensor* x_zp, const Tensor& w, const Tensor* w_zp,
                    const ConvAttrs& attrs, const ConvGeometry& g, KernelContext& ctx, Emit emit) {
  const int32_t xz = x_zp ? int_at(*x_zp, 0) : 0;
  const int64_t cg = g.c / attrs.group, mg = g.m / attrs.group;
  const int64_t kk = cg * g.kh * g.kw, pix = g.oh * g.ow;
  // Weights minus zero points, [M, C/group*KH*KW].
  const Eigen::ArrayXi wv = ints_of(w);
  I32Matrix wm = Eigen::Map<const I32Matrix>(wv.data(), g.m, kk);
  if (w_zp) {
    for (int64_t m = 0; m < g.m; ++m)
      wm.row(m).array() -= int_at(*w_zp, w_zp->numel() == 1 ? 0 : m);
  }
  const Eigen::ArrayXi xv = ints_of(x);
  exec::parallel_for(ctx.pool, g.n * attrs.group, 1, [&](int64_t begin, int64_t end) {
    I32Matrix cols(kk, pix), acc(mg, pix);
    for (int64_t job = begin; job < end; ++job) {
      const int64_t n = job / attrs.group, grp = job % attrs.group;
      for (int64_t c = 0; c < cg; ++c) {
        const int32_t* xc = xv.data() + ((n * g.c) + grp * cg + c) * g.h * g.w;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            int32_t* row = cols.data() + ((c * g.kh + ky) * g.kw + kx) * pix;
            for (int64_t oy = 0; oy < g.oh; ++oy) {
              const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
              for (int64_t ox = 0; ox < g.ow; ++ox) {
                const int64_t ix = ox * g.sw - g.pl + kx * g.dw;
                row[oy * g.ow + ox] =
                    (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) ? 0 : xc[iy * g.w + ix] - xz;
              }
            }
          }
        }
      }
      acc.noalias() = wm.middleRows(grp * mg, mg) * cols;
      emit(n, grp * mg, acc);
    }
  });
  return ok_status();
}

/// Convolution weights minus their zero points as float32 whole numbers (for the float Conv
/// kernel), with the largest |value|. `w_zp` is one value or one per output channel (dim 0).
struct FloatWeights {
  Tensor values;
  int64_t dev = 0;
};

FloatWeights float_weights(const Tensor& w, const Tensor& w_zp) {
  FloatWeights f{Tensor::uninitialized(DType::kFloat, w.dims()), 0};
  float* out = f.values.mutable_span<float>().data();
  const int64_t m_count = w.rank() > 0 ? w.dims()[0] : 1;
  const int64_t per_m = w.numel() / std::max<int64_t>(m_count, 1);
  for (int64_t m = 0; m < m_count; ++m) {
    const int32_t z = int_at(w_zp, w_zp.numel() == 1 ? 0 : m);
    for (int64_t k = 0; k < per_m; ++k) {
      const int32_t v = int_at(w, m * per_m + k) - z;
      f.dev = std::max<int64_t>(f.dev, std::abs(v));
      out[m * per_m + k] = static_cast<float>(v);
    }
  }
  return f;
}

/// The weights of a QLinearConv or ConvInteger node converted once, when its weights (input
/// `w_in`) and their zero point (`zp_in`; absent means 0) are constants of a form the kernel
/// accepts; nullopt otherwise (compute() converts them, or reports what is wrong).
std::optional<FloatWeights> constant_float_weights(const NodeView& view, size_t w_in,
                                                   size_t zp_in) {
  const Tensor* w = view.constant_input(w_in);
  if (w == nullptr || !is_int8ish(w->dtype()) || w->rank() != 4) return std::nullopt;
  if (!view.has_input(zp_in)) return float_weights(*w, Tensor::zeros(w->dtype(), {}));
  const Tensor* zp = view.constant_input(zp_in);
  if (zp == nullptr || !is_int8ish(zp->dtype()) ||
      (zp->numel() != 1 && zp->numel() != w->dims()[0])) {
    return std::nullopt;
  }
  return float_weights(*w, *zp);
}

/// The integer sums of a convolution through the float Conv kernel, exactly: every input value
/// x - x_zp and weight w - w_zp is a small integer, so each product and partial sum is a whole
/// number, which float32 holds exactly below 2^24. Returns nullopt when the largest |sum| the
/// shapes and values allow, K x max|x - x_zp| x max|w - w_zp|, is not below 2^24 (the caller
/// then sums in int32). The result is [N, M, OH, OW] float32 of whole numbers. `w` is the
/// weights as float_weights gives them.
StatusOr<std::optional<Tensor>> float_integer_conv(const Kernel& float_conv, const Tensor& x,
                                                   int32_t x_zp, const FloatWeights& w,
                                                   const ConvAttrs& attrs, const ConvGeometry& g,
                                                   KernelContext& ctx) {
  const int64_t kk = (g.c / attrs.group) * g.kh * g.kw;
  const int64_t x_lo = x.dtype() == DType::kInt8 ? -128 : 0, x_hi = x_lo + 255;
  const int64_t x_dev = std::max<int64_t>(x_zp - x_lo, x_hi - x_zp);
  if (kk * x_dev * w.dev >= (int64_t{1} << 24)) return std::optional<Tensor>();
  Tensor xf = Tensor::uninitialized(DType::kFloat, x.dims());
  float* xfp = xf.mutable_span<float>().data();
  const int64_t count = x.numel();
  auto shift = [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.span<T>().data();
    exec::parallel_for(ctx.pool, count, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) xfp[i] = static_cast<float>(int32_t{xp[i]} - x_zp);
    });
  };
  if (x.dtype() == DType::kInt8) {
    shift(int8_t{});
  } else {
    shift(uint8_t{});
  }
  const std::array<const Tensor*, 2> inputs = {&xf, &w.values};
  std::array<Tensor, 1> outputs;
  KernelContext inner{inputs, outputs, ctx.pool, ctx.node};
  COMPRESSOR_RETURN_IF_ERROR(float_conv.compute(inner));
  if (outputs[0].dims() != Dims{g.n, g.m, g.oh, g.ow}) {
    return ctx.error("the float convolution gave " + ir::dims_to_string(outputs[0].dims()));
  }
  return std::optional<Tensor>(std::move(outputs[0]));
}

/// What ConvInteger and QLinearConv share: the attributes, and the exact integer sums through
/// the float Conv kernel with constant weights converted once.
class IntegerConvKernel : public Kernel {
 public:
  IntegerConvKernel(ConvAttrs a, std::unique_ptr<Kernel> float_conv,
                    std::optional<FloatWeights> weights)
      : a_(std::move(a)), float_conv_(std::move(float_conv)), weights_(std::move(weights)) {}

 protected:
  /// The sums of (x - x_zp)(w - w_zp) in float32 when they are exact (see float_integer_conv),
  /// else none; `w_zp` is the weight zero point, null when absent (zero).
  StatusOr<std::optional<Tensor>> exact_sums(const Tensor& x, int32_t x_zp, const Tensor& w,
                                             const Tensor* w_zp, const ConvGeometry& g,
                                             KernelContext& ctx) const {
    if (!float_conv_) return std::optional<Tensor>();
    if (weights_ && weights_->values.dims() == w.dims()) {
      return float_integer_conv(*float_conv_, x, x_zp, *weights_, a_, g, ctx);
    }
    const FloatWeights converted = float_weights(w, w_zp ? *w_zp : Tensor::zeros(w.dtype(), {}));
    return float_integer_conv(*float_conv_, x, x_zp, converted, a_, g, ctx);
  }

  ConvAttrs a_;

 private:
  std::unique_ptr<Kernel> float_conv_;   // the float Conv kernel, for exact sums (may be null)
  std::optional<FloatWeights> weights_;  // constant weights, converted once
};

class ConvIntegerKernel : public IntegerConvKernel {
 public:
  using IntegerConvKernel::IntegerConvKernel;
  Status compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    if (!is_int8ish(x.dtype()) || !is_int8ish(w.dtype())) {
      return ctx.error("x and w must be int8 or uint8");
    }
    COMPRESSOR_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(a_, x.dims(), w.dims(), ctx));
    const Tensor* x_zp = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const Tensor* w_zp = ctx.has_input(3) ? &ctx.input(3) : nullptr;
    COMPRESSOR_RETURN_IF_ERROR(check_conv_zero_points(x_zp, w_zp, g, ctx));
    Tensor y = Tensor::uninitialized(DType::kInt32, {g.n, g.m, g.oh, g.ow});
    int32_t* yp = y.mutable_span<int32_t>().data();
    COMPRESSOR_ASSIGN_OR_RETURN(const std::optional<Tensor> sums,
                                exact_sums(x, x_zp ? int_at(*x_zp, 0) : 0, w, w_zp, g, ctx));
    if (sums) {
      const float* sp = sums->span<float>().data();
      exec::parallel_for(ctx.pool, y.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) yp[i] = static_cast<int32_t>(sp[i]);
      });
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }
    const int64_t pix = g.oh * g.ow;
    COMPRESSOR_RETURN_IF_ERROR(integer_conv(
        x, x_zp, w, w_zp, a_, g, ctx, [&](int64_t n, int64_t m0, const I32Matrix& acc) {
          Eigen::Map<I32Matrix>(yp + (n * g.m + m0) * pix, acc.rows(), pix) = acc;
        }));
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
};

class QLinearConvKernel : public IntegerConvKernel {
 public:
  using IntegerConvKernel::IntegerConvKernel;
  Status compute(KernelContext& ctx) const override {
    for (size_t i = 0; i < 8; ++i) {
      if (!ctx.has_input(i)) return ctx.error("input " + std::to_string(i) + " is required");
    }
    const Tensor& x = ctx.input(0);
    const Tensor& x_scale = ctx.input(1);
    const Tensor& w = ctx.input(3);
    const Tensor& w_scale = ctx.input(4);
    const Tensor& y_scale = ctx.input(6);
    const Tensor& y_zp = ctx.input(7);
    if (!is_int8ish(x.dtype()) || !is_int8ish(w.dtype()) || !is_int8ish(y_zp.dtype())) {
      return ctx.error("x, w and y_zero_point must be int8 or uint8");
    }
    if (x_scale.dtype() != DType::kFloat || w_scale.dtype() != DType::kFloat ||
        y_scale.dtype() != DType::kFloat || x_scale.numel() != 1 || y_scale.numel() != 1 ||
        y_zp.numel() != 1) {
      return ctx.error("scales must be float; x_scale, y_scale and y_zero_point scalars");
    }
    COMPRESSOR_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(a_, x.dims(), w.dims(), ctx));
    if (w_scale.numel() != 1 && w_scale.numel() != g.m) {
      return ctx.error("w_scale must be a scalar or have one value per output channel");
    }
    const Tensor* bias = ctx.has_input(8) ? &ctx.input(8) : nullptr;
    if (bias && (bias->dtype() != DType::kInt32 || bias->numel() != g.m)) {
      return ctx.error("B must be int32 with one value per output channel");
    }
    const float xs = x_scale.span<float>()[0], ys = y_scale.span<float>()[0];
    auto ws = w_scale.span<float>();
    const int32_t yz = int_at(y_zp, 0);
    Tensor y = Tensor::zeros(y_zp.dtype(), {g.n, g.m, g.oh, g.ow});
    const int64_t pix = g.oh * g.ow;
    COMPRESSOR_RETURN_IF_ERROR(check_conv_zero_points(&ctx.input(2), &ctx.input(5), g, ctx));
    COMPRESSOR_ASSIGN_OR_RETURN(const std::optional<Tensor> sums,
                                exact_sums(x, int_at(ctx.input(2), 0), w, &ctx.input(5), g, ctx));
    auto run = [&](auto tag) -> Status {
      using Q = decltype(tag);
      Q* yp = y.mutable_span<Q>().data();
      if (sums) {
        const float* sp = sums->span<float>().data();
        exec::parallel_for(ctx.pool, g.n * g.m, 1, [&](int64_t begin, int64_t end) {
          for (int64_t u = begin; u < end; ++u) {
            const int64_t m = u % g.m;
            const float mult = xs * ws[ws.size() == 1 ? 0 : m] / ys;
            const int32_t b = bias ? bias->span<int32_t>()[m] : 0;
            for (int64_t p = 0; p < pix; ++p) {
              const int64_t sum = static_cast<int64_t>(sp[u * pix + p]) + b;
              yp[u * pix + p] = requantize<Q>(static_cast<float>(sum) * mult, yz);
            }
          }
        });
        return ok_status();
      }
      return integer_conv(x, &ctx.input(2), w, &ctx.input(5), a_, g, ctx,
                          [&](int64_t n, int64_t m0, const I32Matrix& acc) {
                            for (int64_t r = 0; r < acc.rows(); ++r) {
                              const int64_t m = m0 + r;
                              const float mult = xs * ws[ws.size() == 1 ? 0 : m] / ys;
                              const int32_t b = bias ? bias->span<int32_t>()[m] : 0;
                              Q* out = yp + (n * g.m + m) * pix;
                              for (int64_t p = 0; p < pix; ++p) {
                                // In 64 bits: a bias near the int32 limits must not overflow.
                                const int64_t sum = int64_t{acc(r, p)} + b;
                                out[p] = requantize<Q>(static_cast<float>(sum) * mult, yz);
                              }
                            }
                          });
    };
    COMPRESSOR_RETURN_IF_ERROR(y_zp.dtype() == DType::kInt8 ? run(int8_t{}) : run(uint8_t{}));
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
};

/// The float Conv kernel with the attributes of `view`'s node, which it is given x and w of as
/// floats and no bias (null when it cannot be made: the integer sums are then summed in int32).
std::unique_ptr<Kernel> float_conv_kernel(const NodeView& view) {
  if (const exec::KernelFactory* f = exec::KernelRegistry::builtin().find("", "Conv", 11)) {
    auto k = (*f)(NodeView(view.node(), 11, {}, {}, view.model()));
    if (k.ok()) return std::move(*k);
  }
  return nullptr;
}

StatusOr<std::unique_ptr<Kernel>> make_conv_integer(const NodeView& view) {
  COMPRESSOR_ASSIGN_OR_RETURN(ConvAttrs a, parse_conv_attrs(view));
  return make_kernel<ConvIntegerKernel>(std::move(a), float_conv_kernel(view),
                                        constant_float_weights(view, 1, 3));
}

StatusOr<std::unique_ptr<Kernel>> make_qlinear_conv(const NodeView& view) {
  COMPRESSOR_ASSIGN_OR_RETURN(ConvAttrs a, parse_conv_attrs(view));
  return make_kernel<QLinearConvKernel>(std::move(a), float_conv_kernel(view),
                                        constant_float_weights(view, 3, 5));
}

template <Status (*Fn)(KernelContext&)>
StatusOr<std::unique_ptr<Kernel>> make_lambda(const NodeView&) {
  return make_kernel<exec::LambdaKernel>(Fn);
}

}  // namespace

void register_quantization_kernels(exec::KernelRegistry& r) {
  r.add("", "QuantizeLinear", 10, 18, make_quantize);
  r.add("", "DequantizeLinear", 10, 18, make_dequantize);
  r.add("", "DynamicQuantizeLinear", 11, 1 << 20, make_lambda<dynamic_quantize>);
  r.add("", "MatMulInteger", 10, 1 << 20, make_integer_matmul<false>);
  r.add("", "QLinearMatMul", 10, 20, make_integer_matmul<true>);
  r.add("", "ConvInteger", 10, 1 << 20, make_conv_integer);
  r.add("", "QLinearConv", 10, 1 << 20, make_qlinear_conv);
}

}  // namespace compressor::kernels
