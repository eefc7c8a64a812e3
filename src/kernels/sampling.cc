// Kernel family 'sampling': GridSample (opset 16-19, 4-D) and MaxUnpool (opset 9 on).
//
// GridSample maps every output point to a few (input offset, weight) taps: the grid value is
// taken from [-1, 1] to pixel coordinates, a coordinate outside the border is clamped (border)
// or reflected (reflection), and every tap index that still falls outside the input reads zero,
// the border pixel or the reflected pixel by the same padding mode. The taps depend only on the
// grid, so they are computed once per output point and applied to every channel.
//
// MaxUnpool scatters every input value to its linear index in the output tensor (zeros
// elsewhere). The output shape is the one MaxPool's geometry implies, or the optional
// output_shape input; indices are linear in the output tensor either way.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

// ---------------------------------------------------------------------------------------------
// GridSample

enum class SampleMode { kBilinear, kNearest, kBicubic };
enum class Padding { kZeros, kBorder, kReflection };

struct GridSampleParams {
  SampleMode mode = SampleMode::kBilinear;
  Padding padding = Padding::kZeros;
  bool align_corners = false;
};

/// Reflects x at lo and hi until it lies in [lo, hi].
double reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (!(range > 0)) return lo;
  if (x < lo) {
    const double d = lo - x;
    const double n = std::floor(d / range);
    const double r = d - n * range;
    return std::fmod(n, 2.0) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double d = x - hi;
    const double n = std::floor(d / range);
    const double r = d - n * range;
    return std::fmod(n, 2.0) == 0 ? hi - r : lo + r;
  }
  return x;
}

/// Cubic convolution weights (Keys, a = -0.75) of the taps at -1, 0, 1, 2 for fraction t.
std::array<double, 4> cubic_weights(double t) {
  constexpr double a = -0.75;
  auto near = [](double d) { return ((a + 2) * d - (a + 3)) * d * d + 1; };       // |d| <= 1
  auto far = [](double d) { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a; };  // 1 < |d| < 2
  return {far(t + 1), near(t), near(1 - t), far(2 - t)};
}

/// Taps along one axis of length `len` for pixel coordinate x (after border handling).
struct AxisTaps {
  int64_t index[4];
  double weight[4];
  int count = 0;
};

class GridSampler {
 public:
  GridSampler(const GridSampleParams& p, int64_t len) : p_(p), len_(len) {
    lo_ = p.align_corners ? 0.0 : -0.5;
    hi_ = p.align_corners ? double(len - 1) : double(len) - 0.5;
  }

  /// Taps of normalized coordinate g; indices < 0 mark taps that read zero.
  AxisTaps taps(double g) const {
    double x = p_.align_corners ? (g + 1) / 2 * double(len_ - 1) : ((g + 1) * double(len_) - 1) / 2;
    if (p_.padding == Padding::kZeros) {
      // Every tap of a point this far out reads zero; clamping keeps the index arithmetic finite.
      x = std::clamp(x, lo_ - 8, hi_ + 8);
    }
    if (p_.mode == SampleMode::kNearest) x = std::nearbyint(x);
    if (x < lo_ || x > hi_) {
      if (p_.padding == Padding::kBorder) {
        x = std::clamp(x, 0.0, double(len_ - 1));
      } else if (p_.padding == Padding::kReflection) {
        x = reflect(x, lo_, hi_);
      }
    }
    AxisTaps t;
    if (!std::isfinite(x)) {  // NaN grid values read zero whatever the padding
      t.count = 1;
      t.index[0] = -1;
      t.weight[0] = 0;
      return t;
    }
    if (p_.mode == SampleMode::kNearest) {
      t.count = 1;
      t.index[0] = pixel(static_cast<int64_t>(x));
      t.weight[0] = 1;
      return t;
    }
    const double f = std::floor(x);
    const double frac = x - f;
    const int64_t i0 = static_cast<int64_t>(f);
    if (p_.mode == SampleMode::kBilinear) {
      t.count = 2;
      t.index[0] = pixel(i0);
      t.index[1] = pixel(i0 + 1);
      t.weight[0] = 1 - frac;
      t.weight[1] = frac;
      return t;
    }
    const auto w = cubic_weights(frac);
    t.count = 4;
    for (int k = 0; k < 4; ++k) {
      t.index[k] = pixel(i0 - 1 + k);
      t.weight[k] = w[k];
    }
    return t;
  }

 private:
  /// The input index that tap i reads under the padding mode, or -1 for zero.
  int64_t pixel(int64_t i) const {
    if (i >= 0 && i < len_) return i;
    switch (p_.padding) {
      case Padding::kZeros:
        return -1;
      case Padding::kBorder:
        return std::clamp<int64_t>(i, 0, len_ - 1);
      case Padding::kReflection:
        return std::clamp<int64_t>(static_cast<int64_t>(reflect(double(i), lo_, hi_)), 0, len_ - 1);
    }
    return -1;
  }

  GridSampleParams p_;
  int64_t len_;
  double lo_, hi_;
};

template <typename T>
Status grid_sample_typed(KernelContext& ctx, const GridSampleParams& p) {
  const Tensor& x = ctx.input(0);
  const Tensor& grid = ctx.input(1);
  if (x.rank() != 4) {
    return ctx.error("only 4-D inputs (N, C, H, W) are supported, got " +
                     ir::dims_to_string(x.dims()));
  }
  if (grid.rank() != 4 || grid.dims()[0] != x.dims()[0] || grid.dims()[3] != 2) {
    return ctx.error("grid must have shape [N, H_out, W_out, 2] with N = " +
                     std::to_string(x.dims()[0]) + ", got " + ir::dims_to_string(grid.dims()));
  }
  if (grid.dtype() != x.dtype()) return ctx.error("grid must have the data type of X");
  const int64_t n = x.dims()[0], c = x.dims()[1], h = x.dims()[2], w = x.dims()[3];
  const int64_t ho = grid.dims()[1], wo = grid.dims()[2];
  Tensor y = Tensor::zeros(x.dtype(), {n, c, ho, wo});
  const int64_t points = ho * wo;
  if (y.numel() == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  if (h == 0 || w == 0) {
    return ctx.error("cannot sample an empty input plane " + ir::dims_to_string(x.dims()));
  }
  const GridSampler sx(p, w), sy(p, h);
  const T* xd = x.span<T>().data();
  const T* gd = grid.span<T>().data();
  T* yd = reinterpret_cast<T*>(y.mutable_data());
  const int64_t plane = h * w;
  exec::parallel_for(ctx.pool, n * points, std::max<int64_t>(1, 1024 / std::max<int64_t>(c, 1)),
                     [&](int64_t begin, int64_t end) {
                       for (int64_t np = begin; np < end; ++np) {
                         const int64_t b = np / points, pt = np % points;
                         const AxisTaps tx = sx.taps(double(gd[2 * np]));
                         const AxisTaps ty = sy.taps(double(gd[2 * np + 1]));
                         const T* src = xd + b * c * plane;
                         T* dst = yd + b * c * points + pt;
                         for (int64_t ch = 0; ch < c; ++ch) {
                           const T* s = src + ch * plane;
                           double acc = 0;
                           for (int i = 0; i < ty.count; ++i) {
                             if (ty.index[i] < 0) continue;
                             double row = 0;
                             for (int j = 0; j < tx.count; ++j) {
                               if (tx.index[j] < 0) continue;
                               row += tx.weight[j] * double(s[ty.index[i] * w + tx.index[j]]);
                             }
                             acc += ty.weight[i] * row;
                           }
                           dst[ch * points] = static_cast<T>(acc);
                         }
                       }
                     });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

StatusOr<std::unique_ptr<Kernel>> make_grid_sample(const NodeView& view) {
  const ir::Node& node = view.node();
  GridSampleParams p;
  const ir::Attribute* mode = node.attribute("mode");
  const std::string m = mode ? mode->s() : "bilinear";
  if (m == "bilinear") {
    p.mode = SampleMode::kBilinear;
  } else if (m == "nearest") {
    p.mode = SampleMode::kNearest;
  } else if (m == "bicubic") {
    p.mode = SampleMode::kBicubic;
  } else {
    return view.error("mode '" + m + "' is not supported");
  }
  const ir::Attribute* pad = node.attribute("padding_mode");
  const std::string pm = pad ? pad->s() : "zeros";
  if (pm == "zeros") {
    p.padding = Padding::kZeros;
  } else if (pm == "border") {
    p.padding = Padding::kBorder;
  } else if (pm == "reflection") {
    p.padding = Padding::kReflection;
  } else {
    return view.error("padding_mode '" + pm + "' is not supported");
  }
  const int64_t ac = node.attr_int("align_corners", 0);
  if (ac != 0 && ac != 1) return view.error("align_corners must be 0 or 1");
  p.align_corners = ac == 1;
  for (size_t i = 0; i < 2; ++i) {
    const DType t = view.input_dtype(i);
    if (t != DType::kUndefined && t != DType::kFloat && t != DType::kDouble) {
      return view.error(std::string(i == 0 ? "X" : "grid") + " must be float or double, got " +
                        std::string(ir::dtype_name(t)));
    }
  }
  return make_kernel<exec::LambdaKernel>([p](KernelContext& ctx) -> Status {
    const DType t = ctx.input(0).dtype();
    if (t == DType::kFloat) return grid_sample_typed<float>(ctx, p);
    if (t == DType::kDouble) return grid_sample_typed<double>(ctx, p);
    return ctx.error("X must be float or double, got " + std::string(ir::dtype_name(t)));
  });
}

// ---------------------------------------------------------------------------------------------
// MaxUnpool

struct UnpoolParams {
  std::vector<int64_t> kernel, strides, pads;
};

template <typename T>
void scatter(const Tensor& x, const std::vector<int64_t>& index, Tensor& y) {
  const T* xd = reinterpret_cast<const T*>(x.data());
  T* yd = reinterpret_cast<T*>(y.mutable_data());
  for (size_t i = 0; i < index.size(); ++i) yd[index[i]] = xd[i];
}

Status max_unpool(KernelContext& ctx, const UnpoolParams& p) {
  const Tensor& x = ctx.input(0);
  const Tensor& ind = ctx.input(1);
  const size_t nd = p.kernel.size();
  if (x.rank() != static_cast<int64_t>(nd) + 2) {
    return ctx.error("X must have rank " + std::to_string(nd + 2) + " for a " + std::to_string(nd) +
                     "-D kernel_shape, got " + ir::dims_to_string(x.dims()));
  }
  if (ind.dims() != x.dims()) {
    return ctx.error("indices shape " + ir::dims_to_string(ind.dims()) + " differs from X shape " +
                     ir::dims_to_string(x.dims()));
  }
  if (ind.dtype() != DType::kInt64) return ctx.error("indices must be int64");
  Dims out = x.dims();
  for (size_t d = 0; d < nd; ++d) {
    out[d + 2] = (x.dims()[d + 2] - 1) * p.strides[d] - (p.pads[d] + p.pads[nd + d]) + p.kernel[d];
    if (out[d + 2] < 0) {
      return ctx.error("kernel_shape, strides and pads give a negative output size on axis " +
                       std::to_string(d + 2));
    }
  }
  if (ctx.has_input(2)) {
    const Tensor& s = ctx.input(2);
    if (s.dtype() != DType::kInt64 && s.dtype() != DType::kInt32) {
      return ctx.error("output_shape must be int64");
    }
    const std::vector<int64_t> shape = to_int64_vector(s);
    if (shape.size() != x.dims().size()) {
      return ctx.error("output_shape has " + std::to_string(shape.size()) +
                       " values for an input of rank " + std::to_string(x.rank()));
    }
    if (shape[0] != x.dims()[0] || shape[1] != x.dims()[1]) {
      return ctx.error("output_shape must keep the batch and channel sizes of X");
    }
    for (int64_t v : shape) {
      if (v < 0) return ctx.error("output_shape values must be >= 0");
    }
    out = Dims(shape.begin(), shape.end());
  }
  Tensor y = Tensor::zeros(x.dtype(), out);
  const std::vector<int64_t> index = to_int64_vector(ind);
  const int64_t size = y.numel();
  for (int64_t i : index) {
    if (i < 0 || i >= size) {
      return ctx.error("index " + std::to_string(i) + " is out of range for an output of " +
                       std::to_string(size) + " elements " + ir::dims_to_string(out));
    }
  }
  switch (ir::traits(x.dtype()).bits) {
    case 8:
      scatter<uint8_t>(x, index, y);
      break;
    case 16:
      scatter<uint16_t>(x, index, y);
      break;
    case 32:
      scatter<uint32_t>(x, index, y);
      break;
    case 64:
      scatter<uint64_t>(x, index, y);
      break;
    default:
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(x.dtype())));
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

StatusOr<std::unique_ptr<Kernel>> make_max_unpool(const NodeView& view) {
  const ir::Node& node = view.node();
  UnpoolParams p;
  p.kernel = node.attr_ints("kernel_shape");
  if (p.kernel.empty()) return view.error("kernel_shape is required");
  const size_t nd = p.kernel.size();
  p.strides = node.attr_ints("strides");
  if (p.strides.empty()) p.strides.assign(nd, 1);
  p.pads = node.attr_ints("pads");
  if (p.pads.empty()) p.pads.assign(2 * nd, 0);
  if (p.strides.size() != nd) return view.error("strides must have one value per kernel axis");
  if (p.pads.size() != 2 * nd) return view.error("pads must have two values per kernel axis");
  for (int64_t k : p.kernel) {
    if (k < 1) return view.error("kernel_shape values must be >= 1");
  }
  for (int64_t s : p.strides) {
    if (s < 1) return view.error("strides must be >= 1");
  }
  for (int64_t v : p.pads) {
    if (v < 0) return view.error("pads must be >= 0");
  }
  const DType t = view.input_dtype(0);
  if (t == DType::kString || t == DType::kBool ||
      (t != DType::kUndefined && ir::traits(t).bits < 8)) {
    return view.error("unsupported data type " + std::string(ir::dtype_name(t)));
  }
  return make_kernel<exec::LambdaKernel>([p](KernelContext& ctx) { return max_unpool(ctx, p); });
}

}  // namespace

void register_sampling_kernels(exec::KernelRegistry& r) {
  r.add("", "GridSample", 16, 19, make_grid_sample);
  r.add("", "MaxUnpool", 9, 1 << 20, make_max_unpool);
}

}  // namespace compressor::kernels
