// Kernel family 'loss': NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opsets 12, 13).
//
// Both read scores of shape (N, C, d1, ..., dk) as [N, C, D] with D = d1 * ... * dk and labels of
// shape (N, d1, ..., dk) as [N, D]. SoftmaxCrossEntropyLoss first takes the log-softmax over C
// (its optional second output), then both compute loss[n, d] = -logp[n, c, d] * weight[c] with
// c = label[n, d], or 0 where c equals ignore_index. Reductions: "none" keeps the [N, d1..dk]
// loss, "sum" adds it up, "mean" divides the sum by the summed weights of the labels that are
// not ignored (by their count without weights). Arithmetic is in double; float16 tensors are
// read as float and the results rounded back to float16.
#include <cmath>
#include <limits>
#include <optional>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

enum class Reduction { kNone, kSum, kMean };

struct LossParams {
  Reduction reduction = Reduction::kMean;
  std::optional<int64_t> ignore_index;
  bool softmax = false;  ///< SoftmaxCrossEntropyLoss (log-softmax of the scores first).
};

bool loss_dtype_supported(DType t) {
  return t == DType::kUndefined || t == DType::kFloat || t == DType::kDouble ||
         t == DType::kFloat16;
}

/// Calls fn(T{}) with T the element type of a float, double or float16 tensor.
template <typename Fn>
Status dispatch_loss_types(DType dtype, const KernelContext& ctx, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat:
      return fn(float{});
    case DType::kDouble:
      return fn(double{});
    case DType::kFloat16:
      return fn(Eigen::half{});
    default:
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(dtype)) +
                       " (float, double and float16 are supported)");
  }
}

template <typename T>
double to_double(T v) {
  return static_cast<double>(static_cast<float>(v));
}
template <>
double to_double<double>(double v) {
  return v;
}

/// Rounds to T (to nearest even for float and float16).
template <typename T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, Eigen::half>) {
    return Eigen::half(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}

class LossKernel final : public Kernel {
 public:
  explicit LossKernel(LossParams p) : p_(p) {}

  Status compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& labels = ctx.input(1);
    const Tensor* weight = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    if (labels.dtype() != DType::kInt64 && labels.dtype() != DType::kInt32) {
      return ctx.error("target must be int32 or int64, got " +
                       std::string(ir::dtype_name(labels.dtype())));
    }
    if (x.rank() < 2) {
      return ctx.error("input must have shape (N, C, d1, ..., dk), got " +
                       ir::dims_to_string(x.dims()));
    }
    Dims label_dims = x.dims();
    label_dims.erase(label_dims.begin() + 1);
    if (labels.dims() != label_dims) {
      return ctx.error("target shape " + ir::dims_to_string(labels.dims()) +
                       " does not match input shape " + ir::dims_to_string(x.dims()) +
                       " (expected " + ir::dims_to_string(label_dims) + ")");
    }
    const int64_t C = x.dims()[1];
    if (weight != nullptr) {
      if (weight->dtype() != x.dtype()) {
        return ctx.error("weight has data type " + std::string(ir::dtype_name(weight->dtype())) +
                         ", input has " + std::string(ir::dtype_name(x.dtype())));
      }
      if (weight->dims() != Dims{C}) {
        return ctx.error("weight must have shape [" + std::to_string(C) + "], got " +
                         ir::dims_to_string(weight->dims()));
      }
    }

    // Labels: every one not ignored must name a class.
    const std::vector<int64_t> c_of = to_int64_vector(labels);
    for (size_t i = 0; i < c_of.size(); ++i) {
      const int64_t c = c_of[i];
      if (ignored(c)) continue;
      if (c < 0 || c >= C) {
        return ctx.error("target value " + std::to_string(c) + " at flat index " +
                         std::to_string(i) + " is out of range [0, " + std::to_string(C) + ")" +
                         (p_.ignore_index
                              ? " and is not ignore_index " + std::to_string(*p_.ignore_index)
                              : std::string()));
      }
    }
    return dispatch_loss_types(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      return run<T>(ctx, x, c_of, weight, label_dims);
    });
  }

 private:
  bool ignored(int64_t c) const { return p_.ignore_index && c == *p_.ignore_index; }

  template <typename T>
  Status run(KernelContext& ctx, const Tensor& x, const std::vector<int64_t>& c_of,
             const Tensor* weight, const Dims& label_dims) const {
    const int64_t N = x.dims()[0], C = x.dims()[1];
    int64_t D = 1;
    for (int64_t k = 2; k < x.rank(); ++k) D *= x.dims()[k];
    const int64_t M = N * D;
    const T* xs = reinterpret_cast<const T*>(x.data());
    const T* ws = weight ? reinterpret_cast<const T*>(weight->data()) : nullptr;

    const bool want_log_prob = p_.softmax && ctx.outputs.size() > 1;
    Tensor log_prob;
    T* lp = nullptr;
    if (want_log_prob) {
      log_prob = Tensor::zeros(x.dtype(), x.dims());
      lp = reinterpret_cast<T*>(log_prob.mutable_data());
    }
    const bool reduce = p_.reduction != Reduction::kNone;
    Tensor loss_out;
    T* lo = nullptr;
    // Per-element loss and label weight, kept in double for the reductions.
    std::vector<double> loss, lw;
    if (reduce) {
      loss.resize(static_cast<size_t>(M));
      lw.resize(static_cast<size_t>(M));
    } else {
      loss_out = Tensor::zeros(x.dtype(), label_dims);
      lo = reinterpret_cast<T*>(loss_out.mutable_data());
    }

    // Loss and label weight of element i of [N, D]; writes its log_prob column when asked.
    auto element = [&](int64_t i, double& li, double& wi) {
      const int64_t n = i / D, d = i % D;
      const T* col = xs + n * C * D + d;
      // log p[c] = x[c] - shift, where shift is the log-sum-exp over C for the softmax.
      double shift = 0.0;
      if (p_.softmax) {
        shift = log_sum_exp(col, C, D);
        if (lp != nullptr) {
          T* out = lp + n * C * D + d;
          for (int64_t c = 0; c < C; ++c) {
            out[c * D] = from_double<T>(to_double(col[c * D]) - shift);
          }
        }
      }
      const int64_t c = c_of[i];
      li = 0.0;
      wi = 0.0;
      if (!ignored(c)) {
        wi = ws ? to_double(ws[c]) : 1.0;
        li = -(to_double(col[c * D]) - shift) * wi;
      }
    };
    const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1));
    exec::parallel_for(ctx.pool, M, grain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        double li, wi;
        element(i, li, wi);
        if (reduce) {
          loss[i] = li;
          lw[i] = wi;
        } else {
          lo[i] = from_double<T>(li);
        }
      }
    });

    if (reduce) {
      // Summed in index order so the result never depends on the thread count.
      double sum = 0.0, weight_sum = 0.0;
      for (int64_t i = 0; i < M; ++i) {
        sum += loss[i];
        weight_sum += lw[i];
      }
      const double r = p_.reduction == Reduction::kSum ? sum : sum / weight_sum;
      loss_out = Tensor::zeros(x.dtype(), {});
      reinterpret_cast<T*>(loss_out.mutable_data())[0] = from_double<T>(r);
    }
    ctx.outputs[0] = std::move(loss_out);
    if (want_log_prob) ctx.outputs[1] = std::move(log_prob);
    return Status::ok_status();
  }

  /// log(sum_c exp(col[c * stride])) over C values, shifted by their maximum.
  template <typename T>
  static double log_sum_exp(const T* col, int64_t C, int64_t stride) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < C; ++c) m = std::max(m, to_double(col[c * stride]));
    if (!std::isfinite(m)) return m;
    double s = 0.0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(to_double(col[c * stride]) - m);
    return std::log(s) + m;
  }

  LossParams p_;
};

exec::KernelFactory loss_factory(bool softmax) {
  return [softmax](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    LossParams p;
    p.softmax = softmax;
    if (view.input_count() < 2 || view.input_count() > 3) {
      return view.error("expects 2 or 3 inputs, got " + std::to_string(view.input_count()));
    }
    const DType xt = view.input_dtype(0);
    if (!loss_dtype_supported(xt)) {
      return view.error("unsupported data type " + std::string(ir::dtype_name(xt)) +
                        " (float, double and float16 are supported)");
    }
    const DType lt = view.input_dtype(1);
    if (lt != DType::kUndefined && lt != DType::kInt64 && lt != DType::kInt32) {
      return view.error("target must be int32 or int64, got " + std::string(ir::dtype_name(lt)));
    }
    const DType wt = view.has_input(2) ? view.input_dtype(2) : DType::kUndefined;
    if (wt != DType::kUndefined && xt != DType::kUndefined && wt != xt) {
      return view.error("weight has data type " + std::string(ir::dtype_name(wt)) + ", input has " +
                        std::string(ir::dtype_name(xt)));
    }
    const ir::Attribute* red = view.node().attribute("reduction");
    const std::string r = red ? red->s() : "mean";
    if (r == "none") {
      p.reduction = Reduction::kNone;
    } else if (r == "sum") {
      p.reduction = Reduction::kSum;
    } else if (r == "mean") {
      p.reduction = Reduction::kMean;
    } else {
      return view.error("reduction must be 'none', 'sum' or 'mean', got '" + r + "'");
    }
    if (view.node().attribute("ignore_index") != nullptr) {
      p.ignore_index = view.node().attr_int("ignore_index", 0);
    }
    if (!softmax && view.node().outputs.size() > 1) {
      return view.error("has one output, got " + std::to_string(view.node().outputs.size()));
    }
    return make_kernel<LossKernel>(p);
  };
}

}  // namespace

void register_loss_kernels(exec::KernelRegistry& r) {
  constexpr int kMax = 1 << 20;
  r.add("", "NegativeLogLikelihoodLoss", 12, kMax, loss_factory(false));
  r.add("", "SoftmaxCrossEntropyLoss", 12, kMax, loss_factory(true));
}

}  // namespace compressor::kernels
