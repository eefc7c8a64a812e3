// Kernel family 'normalization': BatchNormalization (inference, and training statistics from
// opset 14), InstanceNormalization, LayerNormalization, MeanVarianceNormalization, LRN, Softmax,
// LogSoftmax, Hardmax and Dropout (inference).
//
// Every kernel works in (outer, axis, inner) blocks over contiguous row-major buffers: the
// factory parses attributes once, compute maps each block with Eigen and splits independent
// blocks over the thread pool.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

/// Calls fn(T{}) for float and double, else an error naming the dtype.
template <typename Fn>
Status dispatch_float(DType dtype, const KernelContext& ctx, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat:
      return fn(float{});
    case DType::kDouble:
      return fn(double{});
    default:
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(dtype)) +
                       " (float and double only)");
  }
}

/// Refuses, at plan time, an input whose known dtype is not float or double.
Status check_float_input(const NodeView& view, size_t i) {
  const DType dt = view.input_dtype(i);
  if (dt == DType::kUndefined || dt == DType::kFloat || dt == DType::kDouble) return {};
  return view.error("unsupported data type " + std::string(ir::dtype_name(dt)) + " for input " +
                    std::to_string(i) + " (float and double only)");
}

int64_t product(const Dims& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= d[i];
  return p;
}

/// Reads a per-channel float/double input as doubles.
std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kFloat) {
    auto s = t.span<float>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = s[i];
  } else if (t.dtype() == DType::kDouble) {
    auto s = t.span<double>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = s[i];
  }
  return out;
}

bool is_float_type(DType dt) { return dt == DType::kFloat || dt == DType::kDouble; }

// ---------------------------------------------------------------------------------------------
// BatchNormalization: y = (x - mean) / sqrt(var + eps) * scale + B per channel (axis 1).
// Inference uses the given mean and var. Training (opset 14+, training_mode=1) uses the batch
// statistics over every axis but 1 (population variance) and outputs the running statistics
// running = input * momentum + batch * (1 - momentum), in the dtype of the input mean.

/// Per-channel mean and population variance of x[N, C, inner], in double, one channel per task.
template <typename T>
void channel_stats(const T* src, int64_t n, int64_t c, int64_t inner, exec::ThreadPool* pool,
                   std::vector<double>& mean, std::vector<double>& var) {
  const double count = double(n) * double(inner);
  exec::parallel_for(pool, c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      double sum = 0;
      for (int64_t b = 0; b < n; ++b) {
        sum +=
            ir::ConstVectorMap<T>(src + (b * c + k) * inner, inner).template cast<double>().sum();
      }
      const double m = sum / count;
      double sq = 0;
      for (int64_t b = 0; b < n; ++b) {
        sq += (ir::ConstVectorMap<T>(src + (b * c + k) * inner, inner).template cast<double>() - m)
                  .square()
                  .sum();
      }
      mean[k] = m;
      var[k] = sq / count;
    }
  });
}

/// `values` (one per channel) as a tensor of dtype `dt` (float or double).
Tensor channel_tensor(const std::vector<double>& values, DType dt, const Dims& dims) {
  Tensor t = Tensor::zeros(dt, dims);
  if (dt == DType::kFloat) {
    auto d = t.mutable_span<float>();
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<float>(values[i]);
  } else {
    auto d = t.mutable_span<double>();
    for (size_t i = 0; i < d.size(); ++i) d[i] = values[i];
  }
  return t;
}

StatusOr<std::unique_ptr<Kernel>> make_batch_norm(const NodeView& view) {
  const ir::Node& node = view.node();
  const bool training = node.attr_int("training_mode", 0) != 0;
  if (training && view.opset() < 14) {
    return view.error("training_mode exists from opset 14 on");
  }
  if (view.opset() < 7 && node.attr_int("is_test", 0) == 0) {
    return view.error("is_test=0 (training) is not supported");
  }
  if (node.attr_int("spatial", 1) != 1) {
    return view.error("spatial=0 is not supported");
  }
  if (training) {
    if (node.outputs.size() > 3) {
      return view.error("training_mode=1 has at most 3 outputs (Y, running_mean, running_var)");
    }
  } else {
    for (size_t i = 1; i < node.outputs.size(); ++i) {
      if (!node.outputs[i].empty()) {
        return view.error("outputs beyond Y (running or saved statistics) need training_mode=1");
      }
    }
  }
  if (view.input_count() < 5) return view.error("expects 5 inputs");
  for (size_t i = 0; i < 5; ++i) COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, i));
  const double eps = node.attr_float("epsilon", 1e-5f);
  const double momentum = node.attr_float("momentum", 0.9f);
  return make_kernel<exec::LambdaKernel>([eps, momentum, training](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2)
      return ctx.error("input must have rank >= 2, got " + ir::dims_to_string(x.dims()));
    const int64_t n = x.dims()[0], c = x.dims()[1];
    const int64_t inner = product(x.dims(), 2, x.dims().size());
    for (size_t i = 1; i < 5; ++i) {
      if (ctx.input(i).numel() != c || !is_float_type(ctx.input(i).dtype())) {
        return ctx.error("input " + std::to_string(i) + " must hold " + std::to_string(c) +
                         " float values, got " + ir::dims_to_string(ctx.input(i).dims()));
      }
    }
    if (training && n * inner == 0) {
      return ctx.error("training_mode=1 needs at least one element per channel, got " +
                       ir::dims_to_string(x.dims()));
    }
    const auto scale = as_doubles(ctx.input(1)), bias = as_doubles(ctx.input(2));
    auto mean = as_doubles(ctx.input(3)), var = as_doubles(ctx.input(4));
    return dispatch_float(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      const T* src = x.span<T>().data();
      if (training) {
        std::vector<double> batch_mean(c), batch_var(c), running_mean(c), running_var(c);
        channel_stats<T>(src, n, c, inner, ctx.pool, batch_mean, batch_var);
        for (int64_t k = 0; k < c; ++k) {
          running_mean[k] = mean[k] * momentum + batch_mean[k] * (1 - momentum);
          running_var[k] = var[k] * momentum + batch_var[k] * (1 - momentum);
        }
        // Same dtype and shape as the input mean and var.
        const Tensor& m_in = ctx.input(3);
        const Tensor& v_in = ctx.input(4);
        if (ctx.outputs.size() > 1) {
          ctx.outputs[1] = channel_tensor(running_mean, m_in.dtype(), m_in.dims());
        }
        if (ctx.outputs.size() > 2) {
          ctx.outputs[2] = channel_tensor(running_var, v_in.dtype(), v_in.dims());
        }
        mean = std::move(batch_mean);
        var = std::move(batch_var);
      }
      std::vector<double> a(c), b(c);
      for (int64_t k = 0; k < c; ++k) {
        a[k] = scale[k] / std::sqrt(var[k] + eps);
        b[k] = bias[k] - mean[k] * a[k];
      }
      Tensor y = Tensor::zeros(x.dtype(), x.dims());
      T* dst = y.numel() > 0 ? y.mutable_span<T>().data() : nullptr;
      exec::parallel_for(ctx.pool, n * c, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                         [&](int64_t begin, int64_t end) {
                           for (int64_t i = begin; i < end; ++i) {
                             const int64_t k = i % c;
                             ir::VectorMap<T>(dst + i * inner, inner) =
                                 ir::ConstVectorMap<T>(src + i * inner, inner) * T(a[k]) + T(b[k]);
                           }
                         });
      ctx.outputs[0] = std::move(y);
      return {};
    });
  });
}

// ---------------------------------------------------------------------------------------------
// InstanceNormalization: per (n, c), normalize over the spatial dims.

StatusOr<std::unique_ptr<Kernel>> make_instance_norm(const NodeView& view) {
  if (view.input_count() < 3) return view.error("expects 3 inputs");
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0));
  const double eps = view.node().attr_float("epsilon", 1e-5f);
  return make_kernel<exec::LambdaKernel>([eps](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 3)
      return ctx.error("input must have rank >= 3, got " + ir::dims_to_string(x.dims()));
    const int64_t n = x.dims()[0], c = x.dims()[1];
    const int64_t inner = product(x.dims(), 2, x.dims().size());
    for (size_t i = 1; i < 3; ++i) {
      if (ctx.input(i).numel() != c || !is_float_type(ctx.input(i).dtype())) {
        return ctx.error("input " + std::to_string(i) + " must hold " + std::to_string(c) +
                         " float values, got " + ir::dims_to_string(ctx.input(i).dims()));
      }
    }
    const auto scale = as_doubles(ctx.input(1)), bias = as_doubles(ctx.input(2));
    return dispatch_float(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Tensor y = Tensor::zeros(x.dtype(), x.dims());
      const T* src = x.span<T>().data();
      T* dst = y.mutable_span<T>().data();
      exec::parallel_for(ctx.pool, n * c, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t k = i % c;
          auto in = ir::ConstVectorMap<T>(src + i * inner, inner);
          const double mean = in.template cast<double>().mean();
          const double var = (in.template cast<double>() - mean).square().mean();
          const double a = scale[k] / std::sqrt(var + eps);
          ir::VectorMap<T>(dst + i * inner, inner) =
              ((in.template cast<double>() - mean) * a + bias[k]).template cast<T>();
        }
      });
      ctx.outputs[0] = std::move(y);
      return {};
    });
  });
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization (opset 17): normalize over dims [axis, rank).

/// `t` (unidirectionally broadcastable to `shape`) expanded to numel(shape) doubles.
StatusOr<std::vector<double>> expand_to(const Tensor& t, const Dims& shape,
                                        const KernelContext& ctx, const char* what) {
  const int64_t count = ir::element_count(shape);
  const auto values = as_doubles(t);
  if (t.numel() == count && t.rank() <= static_cast<int64_t>(shape.size())) {
    return values;
  }
  if (t.rank() > static_cast<int64_t>(shape.size())) {
    return ctx.error(std::string(what) + " shape " + ir::dims_to_string(t.dims()) +
                     " does not broadcast to " + ir::dims_to_string(shape));
  }
  const size_t off = shape.size() - t.dims().size();
  for (size_t i = 0; i < t.dims().size(); ++i) {
    if (t.dims()[i] != 1 && t.dims()[i] != shape[off + i]) {
      return ctx.error(std::string(what) + " shape " + ir::dims_to_string(t.dims()) +
                       " does not broadcast to " + ir::dims_to_string(shape));
    }
  }
  const auto st = broadcast_strides(t.dims(), shape);
  std::vector<double> out(static_cast<size_t>(count));
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t off_in = 0;
    for (size_t d = 0; d < shape.size(); ++d) off_in += idx[d] * st[d];
    out[i] = values[off_in];
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

StatusOr<std::unique_ptr<Kernel>> make_layer_norm(const NodeView& view) {
  if (view.input_count() < 2) return view.error("expects at least 2 inputs (X, Scale)");
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0));
  const ir::Node& node = view.node();
  const int64_t axis_attr = node.attr_int("axis", -1);
  const double eps = node.attr_float("epsilon", 1e-5f);
  const int64_t stash = node.attr_int("stash_type", 1);
  if (stash != 1) return view.error("stash_type " + std::to_string(stash) + " is not supported");
  const bool has_bias = view.has_input(2);
  return make_kernel<exec::LambdaKernel>([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_attr, x.rank(), ctx));
    const Dims norm_shape(x.dims().begin() + axis, x.dims().end());
    const int64_t outer = product(x.dims(), 0, axis);
    const int64_t inner = ir::element_count(norm_shape);
    COMPRESSOR_ASSIGN_OR_RETURN(auto scale, expand_to(ctx.input(1), norm_shape, ctx, "Scale"));
    std::vector<double> bias(static_cast<size_t>(inner), 0.0);
    if (has_bias && ctx.has_input(2)) {
      COMPRESSOR_ASSIGN_OR_RETURN(bias, expand_to(ctx.input(2), norm_shape, ctx, "B"));
    }
    Dims stat_dims(x.dims().begin(), x.dims().begin() + axis);
    stat_dims.resize(x.dims().size(), 1);
    return dispatch_float(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Tensor y = Tensor::zeros(x.dtype(), x.dims());
      Tensor mean_t = Tensor::zeros(x.dtype(), stat_dims);
      Tensor inv_t = Tensor::zeros(x.dtype(), stat_dims);
      const T* src = x.span<T>().data();
      T* dst = y.mutable_span<T>().data();
      T* mean_p = mean_t.mutable_span<T>().data();
      T* inv_p = inv_t.mutable_span<T>().data();
      Eigen::Map<const Eigen::ArrayXd> s(scale.data(), inner), b(bias.data(), inner);
      exec::parallel_for(
          ctx.pool, outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
          [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
              auto in = ir::ConstVectorMap<T>(src + i * inner, inner).template cast<double>();
              const double mean = in.mean();
              const double var = (in - mean).square().mean();
              const double inv = 1.0 / std::sqrt(var + eps);
              ir::VectorMap<T>(dst + i * inner, inner) =
                  ((in - mean) * inv * s + b).template cast<T>();
              mean_p[i] = T(mean);
              inv_p[i] = T(inv);
            }
          });
      ctx.outputs[0] = std::move(y);
      if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(mean_t);
      if (ctx.outputs.size() > 2) ctx.outputs[2] = std::move(inv_t);
      return {};
    });
  });
}

// ---------------------------------------------------------------------------------------------
// LRN: y = x / (bias + alpha / size * sum of x^2 over nearby channels)^beta.

StatusOr<std::unique_ptr<Kernel>> make_lrn(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0));
  const ir::Node& node = view.node();
  const int64_t size = node.attr_int("size", 0);
  if (size <= 0) return view.error("attribute 'size' must be a positive integer");
  const double alpha = node.attr_float("alpha", 1e-4f);
  const double beta = node.attr_float("beta", 0.75f);
  const double bias = node.attr_float("bias", 1.0f);
  return make_kernel<exec::LambdaKernel>([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 3)
      return ctx.error("input must have rank >= 3, got " + ir::dims_to_string(x.dims()));
    const int64_t n = x.dims()[0], c = x.dims()[1];
    const int64_t inner = product(x.dims(), 2, x.dims().size());
    const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;  // floor and ceil of (size-1)/2
    return dispatch_float(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Tensor y = Tensor::zeros(x.dtype(), x.dims());
      const T* src = x.span<T>().data();
      T* dst = y.mutable_span<T>().data();
      exec::parallel_for(ctx.pool, n * c, 1, [&](int64_t begin, int64_t end) {
        Eigen::ArrayXd sum(inner);
        for (int64_t i = begin; i < end; ++i) {
          const int64_t b = i / c, k = i % c;
          sum.setZero();
          for (int64_t j = std::max<int64_t>(0, k - lo); j <= std::min(c - 1, k + hi); ++j) {
            sum += ir::ConstVectorMap<T>(src + (b * c + j) * inner, inner)
                       .template cast<double>()
                       .square();
          }
          auto in = ir::ConstVectorMap<T>(src + i * inner, inner).template cast<double>();
          ir::VectorMap<T>(dst + i * inner, inner) =
              (in / (bias + alpha / double(size) * sum).pow(beta)).template cast<T>();
        }
      });
      ctx.outputs[0] = std::move(y);
      return {};
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Softmax / LogSoftmax / Hardmax. Opset < 13: the input is coerced to 2-D at `axis` (default 1)
// and each row is normalized. Opset >= 13: normalized along `axis` (default -1).

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

/// Hardmax of a block [n, inner] along n: 1 at the first maximum of each column, else 0.
template <typename T>
void hardmax_block(const T* src, T* dst, int64_t n, int64_t inner) {
  std::fill(dst, dst + n * inner, T(0));
  for (int64_t j = 0; j < inner; ++j) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
      if (src[i * inner + j] > src[best * inner + j]) best = i;
    }
    if (n > 0) dst[best * inner + j] = T(1);
  }
}

template <typename T>
void softmax_block(const T* src, T* dst, int64_t n, int64_t inner, SoftmaxKind kind) {
  if (kind == SoftmaxKind::kHardmax) return hardmax_block(src, dst, n, inner);
  const bool log = kind == SoftmaxKind::kLogSoftmax;
  using Mat = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Mat> in(src, n, inner);
  Eigen::Map<Mat> out(dst, n, inner);
  if (inner == 1) {
    auto v = in.col(0);
    const T m = v.maxCoeff();
    if (log) {
      const T lse = std::log((v - m).exp().sum());
      out.col(0) = v - m - lse;
    } else {
      out.col(0) = (v - m).exp();
      out.col(0) /= out.col(0).sum();
    }
    return;
  }
  const Eigen::Array<T, 1, Eigen::Dynamic> m = in.colwise().maxCoeff();
  out = (in.rowwise() - m).exp();
  const Eigen::Array<T, 1, Eigen::Dynamic> s = out.colwise().sum();
  if (log) {
    out = (in.rowwise() - m).rowwise() - s.log();
  } else {
    out.rowwise() /= s;
  }
}

StatusOr<std::unique_ptr<Kernel>> make_softmax(const NodeView& view, SoftmaxKind kind) {
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0));
  const bool coerce = view.opset() < 13;
  const int64_t axis_attr = view.node().attr_int("axis", coerce ? 1 : -1);
  return make_kernel<exec::LambdaKernel>([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const auto& d = x.dims();
    int64_t axis = 0;
    if (x.rank() > 0) {
      COMPRESSOR_ASSIGN_OR_RETURN(axis, normalize_axis(axis_attr, x.rank(), ctx));
    }
    int64_t outer, n, inner;
    if (x.rank() == 0) {
      outer = n = inner = 1;
    } else if (coerce) {
      outer = product(d, 0, axis);
      n = product(d, axis, d.size());
      inner = 1;
    } else {
      outer = product(d, 0, axis);
      n = d[axis];
      inner = product(d, axis + 1, d.size());
    }
    return dispatch_float(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Tensor y = Tensor::zeros(x.dtype(), d);
      if (x.numel() > 0) {
        const T* src = x.span<T>().data();
        T* dst = y.mutable_span<T>().data();
        const int64_t block = n * inner;
        exec::parallel_for(ctx.pool, outer,
                           std::max<int64_t>(1, 16384 / std::max<int64_t>(block, 1)),
                           [&](int64_t begin, int64_t end) {
                             for (int64_t i = begin; i < end; ++i) {
                               softmax_block<T>(src + i * block, dst + i * block, n, inner, kind);
                             }
                           });
      }
      ctx.outputs[0] = std::move(y);
      return {};
    });
  });
}

// ---------------------------------------------------------------------------------------------
// MeanVarianceNormalization: y = (x - E[x]) / (sqrt(E[(x - E[x])^2]) + 1e-9), the expectations
// taken over `axes` (default [0, 2, 3]); the 1e-9 is the Epsilon of the op's function body.

/// Calls fn(i, g) for every element i of a row-major tensor of `dims`, with g = the sum of its
/// index times `gstrides` over the axes (the group of the element).
template <typename Fn>
void for_each_group(const Dims& dims, const std::vector<int64_t>& gstrides, Fn&& fn) {
  const int64_t count = ir::element_count(dims);
  if (count == 0) return;
  const size_t rank = dims.size();
  if (rank == 0) return fn(int64_t{0}, int64_t{0});
  const int64_t inner = dims[rank - 1], gs = gstrides[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t g = 0;
  for (int64_t i = 0; i < count; i += inner) {
    for (int64_t j = 0; j < inner; ++j) fn(i + j, g + j * gs);
    for (size_t d = rank - 1; d-- > 0;) {
      g += gstrides[d];
      if (++idx[d] < dims[d]) break;
      g -= gstrides[d] * dims[d];
      idx[d] = 0;
    }
  }
}

StatusOr<std::unique_ptr<Kernel>> make_mvn(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0));
  const ir::Attribute* a = view.node().attribute("axes");
  const std::vector<int64_t> axes_attr =
      a ? view.node().attr_ints("axes") : std::vector<int64_t>{0, 2, 3};
  return make_kernel<exec::LambdaKernel>([axes_attr](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const Dims& d = x.dims();
    std::vector<bool> reduced(d.size(), false);
    for (int64_t axis : axes_attr) {
      COMPRESSOR_ASSIGN_OR_RETURN(const int64_t k, normalize_axis(axis, x.rank(), ctx));
      if (reduced[k]) return ctx.error("axis " + std::to_string(axis) + " is repeated in axes");
      reduced[k] = true;
    }
    // Groups are indexed row-major over the kept axes.
    std::vector<int64_t> gstrides(d.size(), 0);
    int64_t groups = 1;
    for (size_t k = d.size(); k-- > 0;) {
      if (reduced[k]) continue;
      gstrides[k] = groups;
      groups *= d[k];
    }
    const int64_t per_group = groups > 0 ? x.numel() / groups : 0;
    return dispatch_float(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Tensor y = Tensor::zeros(x.dtype(), d);
      if (x.numel() == 0) {
        ctx.outputs[0] = std::move(y);
        return {};
      }
      const T* src = x.span<T>().data();
      T* dst = y.mutable_span<T>().data();
      std::vector<double> mean(groups, 0.0), dev(groups, 0.0);
      for_each_group(d, gstrides, [&](int64_t i, int64_t g) { mean[g] += double(src[i]); });
      for (double& m : mean) m /= double(per_group);
      for_each_group(d, gstrides, [&](int64_t i, int64_t g) {
        const double v = double(src[i]) - mean[g];
        dev[g] += v * v;
      });
      for (double& s : dev) s = std::sqrt(s / double(per_group)) + 1e-9;
      for_each_group(d, gstrides, [&](int64_t i, int64_t g) {
        dst[i] = T((double(src[i]) - mean[g]) / dev[g]);
      });
      ctx.outputs[0] = std::move(y);
      return {};
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Dropout, inference: the output is the input, the optional mask is all true. Opset >= 12
// takes ratio and training_mode as inputs; training with ratio > 0 is random and refused.

bool scalar_is_true(const Tensor& t) {
  if (t.numel() == 0) return false;
  switch (t.dtype()) {
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8:
      return t.span<uint8_t>()[0] != 0;
    case DType::kInt64:
      return t.span<int64_t>()[0] != 0;
    case DType::kInt32:
      return t.span<int32_t>()[0] != 0;
    default:
      return true;
  }
}

double scalar_double(const Tensor& t, double fallback) {
  if (t.numel() == 0) return fallback;
  if (t.dtype() == DType::kFloat) return t.span<float>()[0];
  if (t.dtype() == DType::kDouble) return t.span<double>()[0];
  return fallback;
}

StatusOr<std::unique_ptr<Kernel>> make_dropout(const NodeView& view) {
  const ir::Node& node = view.node();
  if (view.opset() < 7 && node.attr_int("is_test", 0) == 0) {
    return view.error("is_test=0 (training) is not supported");
  }
  const bool has_training = view.opset() >= 12 && view.has_input(2);
  if (has_training) {
    const Tensor* t = view.constant_input(2);
    const Tensor* r = view.constant_input(1);
    if (t != nullptr && scalar_is_true(*t) &&
        (!view.has_input(1) || (r != nullptr && scalar_double(*r, 0.5) != 0.0))) {
      return view.error("training_mode=true with a non-zero ratio is random and not supported");
    }
  }
  const bool mask_bool = view.opset() >= 10;
  return make_kernel<exec::LambdaKernel>([=](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (has_training && ctx.has_input(2) && scalar_is_true(ctx.input(2))) {
      const double ratio = ctx.has_input(1) ? scalar_double(ctx.input(1), 0.5) : 0.5;
      if (ratio != 0.0) {
        return ctx.error("training_mode=true with a non-zero ratio is random and not supported");
      }
    }
    ctx.outputs[0] = x;
    if (ctx.outputs.size() > 1) {
      if (mask_bool) {
        Tensor mask = Tensor::zeros(DType::kBool, x.dims());
        auto m = mask.mutable_span<uint8_t>();
        std::fill(m.begin(), m.end(), uint8_t{1});
        ctx.outputs[1] = std::move(mask);
      } else {
        Tensor mask = Tensor::zeros(x.dtype(), x.dims());
        COMPRESSOR_RETURN_IF_ERROR(dispatch_float(x.dtype(), ctx, [&](auto tag) -> Status {
          using T = decltype(tag);
          auto m = mask.mutable_span<T>();
          std::fill(m.begin(), m.end(), T(1));
          return {};
        }));
        ctx.outputs[1] = std::move(mask);
      }
    }
    return {};
  });
}

}  // namespace

void register_normalization_kernels(exec::KernelRegistry& r) {
  r.add("", "BatchNormalization", 6, 1 << 20, make_batch_norm);
  r.add("", "InstanceNormalization", 6, 1 << 20, make_instance_norm);
  r.add("", "LayerNormalization", 17, 1 << 20, make_layer_norm);
  r.add("", "LRN", 1, 1 << 20, make_lrn);
  r.add("", "Softmax", 1, 1 << 20,
        [](const NodeView& v) { return make_softmax(v, SoftmaxKind::kSoftmax); });
  r.add("", "LogSoftmax", 1, 1 << 20,
        [](const NodeView& v) { return make_softmax(v, SoftmaxKind::kLogSoftmax); });
  r.add("", "Hardmax", 1, 1 << 20,
        [](const NodeView& v) { return make_softmax(v, SoftmaxKind::kHardmax); });
  r.add("", "MeanVarianceNormalization", 9, 1 << 20, make_mvn);
  r.add("", "Dropout", 1, 1 << 20, make_dropout);
}

}  // namespace compressor::kernels
