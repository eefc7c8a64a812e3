// Kernel family 'matmul_gemm': Gemm and MatMul over Eigen's GEMM, float32/double and integers.
//
// Work is split into fixed tiles (rows for MatMul, output columns for Gemm) or batches whose
// boundaries depend only on the shapes, never on the thread count, so every element is computed
// by the same sequence of operations whatever the pool size.
#include <algorithm>

#include "kernel_util.h"
#include "sgemm.h"

namespace compressor::kernels {
namespace {

// Rows (MatMul) or columns (Gemm) per independent tile once a product is big enough to split.
constexpr int64_t kTile = 128;
// Multiply-adds below which a product is not split at all.
constexpr int64_t kSplitWork = int64_t{1} << 18;

// Rows (or columns) per tile of a split product: kTile, or fewer so that even a product of a
// few hundred rows gives the threads several tiles (at least 32 rows each). Shapes only.
int64_t split_tile(int64_t rows) {
  if (rows >= 4 * kTile) return kTile;
  return std::max<int64_t>(32, (rows + 3) / 4);
}

bool gemm_dtype(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kInt32 || t == DType::kInt64 ||
         t == DType::kUInt32 || t == DType::kUInt64;
}

const char* kDTypeList = "float, double, int32, int64, uint32 or uint64";

// Calls fn(T{}) for the dtypes the products support.
template <typename Fn>
Status dispatch_gemm(DType dtype, const KernelContext& ctx, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat:
      return fn(float{});
    case DType::kDouble:
      return fn(double{});
    case DType::kInt32:
      return fn(int32_t{});
    case DType::kInt64:
      return fn(int64_t{});
    case DType::kUInt32:
      return fn(uint32_t{});
    case DType::kUInt64:
      return fn(uint64_t{});
    default:
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(dtype)) +
                       "; expected " + kDTypeList);
  }
}

Status check_plan_dtypes(const NodeView& view, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const DType t = view.input_dtype(i);
    if (t != DType::kUndefined && !gemm_dtype(t)) {
      return view.error("input " + std::to_string(i) + " has unsupported data type " +
                        std::string(ir::dtype_name(t)) + "; expected " + kDTypeList);
    }
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// MatMul: numpy matmul (1-D operands promoted and their unit dimension removed, batch dims
// broadcast).

template <typename T>
Status matmul_typed(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  if (a.rank() == 0 || b.rank() == 0) return ctx.error("MatMul operands must have rank >= 1");
  Dims ad = a.dims(), bd = b.dims();
  const bool a_vec = ad.size() == 1, b_vec = bd.size() == 1;
  if (a_vec) ad.insert(ad.begin(), 1);
  if (b_vec) bd.push_back(1);
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  if (bd[bd.size() - 2] != k) {
    return ctx.error("inner dimensions differ: A " + ir::dims_to_string(a.dims()) + ", B " +
                     ir::dims_to_string(b.dims()));
  }
  const Dims a_batch(ad.begin(), ad.end() - 2), b_batch(bd.begin(), bd.end() - 2);
  COMPRESSOR_ASSIGN_OR_RETURN(Dims batch, broadcast_shape(a_batch, b_batch, ctx));
  Dims out_dims = batch;
  if (!a_vec) out_dims.push_back(m);
  if (!b_vec) out_dims.push_back(n);
  // Every element is assigned by a product below unless k is 0 (then Y is all zeros).
  Tensor y =
      k == 0 ? Tensor::zeros(a.dtype(), out_dims) : Tensor::uninitialized(a.dtype(), out_dims);
  const int64_t nb = ir::element_count(batch);
  if (y.numel() == 0 || k == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  const T* ap = a.span<T>().data();
  const T* bp = b.span<T>().data();
  T* yp = y.mutable_span<T>().data();
  using ConstMap = ir::ConstMatrixMap<T>;
  using Map = ir::MatrixMap<T>;

  if (ir::element_count(b_batch) == 1 && ir::element_count(a_batch) == nb) {
    // One right-hand matrix: fold A's batch into its rows, split rows into fixed tiles.
    const int64_t rows = nb * m;
    const ConstMap bm(bp, k, n);
    const bool split = rows * n * k >= kSplitWork;
    const int64_t tile = split ? split_tile(rows) : rows;
    const int64_t tiles = (rows + tile - 1) / tile;
    exec::parallel_for(ctx.pool, tiles, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t r0 = t * tile, len = std::min(tile, rows - r0);
        if constexpr (std::is_same_v<T, float>) {
          sgemm(len, n, k, ap + r0 * k, k, 1, bp, n, 1, yp + r0 * n, n, false);
        } else {
          Map(yp + r0 * n, len, n).noalias() = ConstMap(ap + r0 * k, len, k) * bm;
        }
      }
    });
  } else {
    const auto a_str = broadcast_strides(a_batch, batch);
    const auto b_str = broadcast_strides(b_batch, batch);
    const auto out_str = strides_of(batch);
    const int64_t min_chunk = std::max<int64_t>(1, kSplitWork / std::max<int64_t>(1, m * n * k));
    exec::parallel_for(ctx.pool, nb, min_chunk, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        int64_t ao = 0, bo = 0, rest = i;
        for (size_t d = 0; d < batch.size(); ++d) {
          const int64_t idx = rest / out_str[d];
          rest -= idx * out_str[d];
          ao += idx * a_str[d];
          bo += idx * b_str[d];
        }
        if constexpr (std::is_same_v<T, float>) {
          sgemm(m, n, k, ap + ao * m * k, k, 1, bp + bo * k * n, n, 1, yp + i * m * n, n, false);
        } else {
          Map(yp + i * m * n, m, n).noalias() =
              ConstMap(ap + ao * m * k, m, k) * ConstMap(bp + bo * k * n, k, n);
        }
      }
    });
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

class MatMulKernel final : public Kernel {
 public:
  Status compute(KernelContext& ctx) const override {
    const DType t = ctx.input(0).dtype();
    if (ctx.input(1).dtype() != t) return ctx.error("MatMul operands have different data types");
    return dispatch_gemm(t, ctx, [&](auto tag) { return matmul_typed<decltype(tag)>(ctx); });
  }
};

StatusOr<std::unique_ptr<Kernel>> make_matmul(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_plan_dtypes(view, 2));
  return make_kernel<MatMulKernel>();
}

// ---------------------------------------------------------------------------------------------
// Gemm: Y = alpha * op(A) * op(B) + beta * C, C broadcast unidirectionally to (M, N).

class GemmKernel final : public Kernel {
 public:
  GemmKernel(double alpha, double beta, bool trans_a, bool trans_b)
      : alpha_(alpha), beta_(beta), trans_a_(trans_a), trans_b_(trans_b) {}

  Status compute(KernelContext& ctx) const override {
    const DType t = ctx.input(0).dtype();
    if (ctx.input(1).dtype() != t || (ctx.has_input(2) && ctx.input(2).dtype() != t)) {
      return ctx.error("Gemm inputs have different data types");
    }
    return dispatch_gemm(t, ctx, [&](auto tag) { return typed<decltype(tag)>(ctx); });
  }

 private:
  template <typename T>
  Status typed(KernelContext& ctx) const {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    if (a.rank() != 2 || b.rank() != 2) {
      return ctx.error("Gemm needs 2-D A and B, got " + ir::dims_to_string(a.dims()) + " and " +
                       ir::dims_to_string(b.dims()));
    }
    const int64_t m = trans_a_ ? a.dims()[1] : a.dims()[0];
    const int64_t k = trans_a_ ? a.dims()[0] : a.dims()[1];
    const int64_t kb = trans_b_ ? b.dims()[1] : b.dims()[0];
    const int64_t n = trans_b_ ? b.dims()[0] : b.dims()[1];
    if (k != kb) {
      return ctx.error("inner dimensions differ: A " + ir::dims_to_string(a.dims()) +
                       (trans_a_ ? " (transposed)" : "") + ", B " + ir::dims_to_string(b.dims()) +
                       (trans_b_ ? " (transposed)" : ""));
    }
    Tensor y = Tensor::zeros(a.dtype(), {m, n});
    if (y.numel() == 0) {
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }
    auto ym = ir::mutable_matrix<T>(y, m, n);
    if (ctx.has_input(2) && beta_ != 0.0) {
      const Tensor& c = ctx.input(2);
      const Dims& cd = c.dims();
      const int64_t cr = cd.size() == 2 ? cd[0] : 1;
      const int64_t cc = cd.empty() ? 1 : cd.back();
      if (cd.size() > 2 || (cr != 1 && cr != m) || (cc != 1 && cc != n)) {
        return ctx.error("C " + ir::dims_to_string(cd) + " does not broadcast to [" +
                         std::to_string(m) + ", " + std::to_string(n) + "]");
      }
      const auto cm = ir::matrix<T>(c, cr, cc);
      if (cr == m && cc == n) {
        ym = cm;
      } else if (cr == m) {
        ym = cm.col(0).replicate(1, n);
      } else if (cc == n) {
        ym = cm.row(0).replicate(m, 1);
      } else {
        ym.setConstant(cm(0, 0));
      }
      if (beta_ != 1.0) ym *= static_cast<T>(beta_);
    }
    if (k == 0) {
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }
    const auto am = ir::matrix<T>(a, a.dims()[0], a.dims()[1]);
    const auto bm = ir::matrix<T>(b, b.dims()[0], b.dims()[1]);
    const T alpha = static_cast<T>(alpha_);
    // Output columns in fixed tiles; each tile is one GEMM into a block of Y.
    const int64_t tile = m * n * k >= kSplitWork ? split_tile(n) : n;
    const int64_t tiles = (n + tile - 1) / tile;
    auto run = [&](const auto& lhs, const auto& rhs) {
      exec::parallel_for(ctx.pool, tiles, 1, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const int64_t c0 = t * tile, len = std::min(tile, n - c0);
          ym.middleCols(c0, len).noalias() += alpha * (lhs * rhs.middleCols(c0, len));
        }
      });
    };
    if (!trans_a_ && !trans_b_) {
      run(am, bm);
    } else if (trans_a_ && !trans_b_) {
      run(am.transpose(), bm);
    } else if (!trans_a_) {
      run(am, bm.transpose());
    } else {
      run(am.transpose(), bm.transpose());
    }
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }

  double alpha_, beta_;
  bool trans_a_, trans_b_;
};

StatusOr<std::unique_ptr<Kernel>> make_gemm(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_plan_dtypes(view, 3));
  const ir::Node& node = view.node();
  const int64_t ta = node.attr_int("transA", 0), tb = node.attr_int("transB", 0);
  if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1)) {
    return view.error("transA/transB must be 0 or 1");
  }
  return make_kernel<GemmKernel>(node.attr_float("alpha", 1.0f), node.attr_float("beta", 1.0f),
                                 ta == 1, tb == 1);
}

}  // namespace

void register_matmul_gemm_kernels(exec::KernelRegistry& r) {
  // Opset 1-6 Gemm has the legacy `broadcast` attribute; from 7 on C broadcasts numpy-style
  // (optional from 11, which this kernel accepts at every opset).
  r.add("", "Gemm", 7, 1 << 20, make_gemm);
  r.add("", "MatMul", 1, 1 << 20, make_matmul);
}

}  // namespace compressor::kernels
