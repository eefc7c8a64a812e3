// Kernel family 'resize_pad': Resize (opset 10-19), Upsample (opset 7-9) and Pad (opset 2-19).
//
// Resize is separable: the output is computed one axis at a time, each pass mapping every output
// coordinate to a few (input index, weight) taps chosen by the mode and coordinate transform, as
// in the ONNX reference implementation. Pad maps every output coordinate to an input coordinate
// (or to the constant) per axis, which also covers negative pads (cropping).
#include <cmath>
#include <string>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

int64_t product(const Dims& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= d[i];
  return p;
}

/// Calls fn(T{}) for the numeric dtypes and bool (as uint8_t).
template <typename Fn>
Status dispatch_copyable(DType dtype, const KernelContext& ctx, Fn&& fn) {
  if (dtype == DType::kBool) return fn(uint8_t{});
  return dispatch_numeric(dtype, ctx, fn);
}

std::vector<double> floats_of(const Tensor& t) {
  std::vector<double> out;
  if (t.dtype() == DType::kFloat) {
    for (float v : t.span<float>()) out.push_back(v);
  } else if (t.dtype() == DType::kDouble) {
    for (double v : t.span<double>()) out.push_back(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Resize / Upsample

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord {
  kHalfPixel,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNearest,
  kTfCropAndResize
};
enum class Nearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };

struct ResizeParams {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  Nearest nearest = Nearest::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  int scales_input = 2;  // -1: scales come from the attribute
  int sizes_input = 3;   // -1: none
  int roi_input = 1;     // -1: none
  std::vector<double> attr_scales;
};

/// Taps of one output coordinate along one axis: input indices and weights, or extrapolation.
struct Taps {
  std::vector<int64_t> index;  // k per output coordinate
  std::vector<double> weight;  // k per output coordinate
  std::vector<uint8_t> outside;
  int k = 1;
};

Taps make_taps(const ResizeParams& p, int64_t in_len, int64_t out_len, double scale,
               double roi_start, double roi_end) {
  Taps t;
  t.k = p.mode == Mode::kNearest ? 1 : p.mode == Mode::kLinear ? 2 : 4;
  t.index.resize(static_cast<size_t>(out_len * t.k));
  t.weight.resize(static_cast<size_t>(out_len * t.k));
  t.outside.assign(static_cast<size_t>(out_len), 0);
  // The reference uses the unrounded output length scale * in_len in its transforms.
  const double out_width = scale * double(in_len);
  auto clamp = [&](int64_t i) { return std::min(std::max<int64_t>(i, 0), in_len - 1); };
  for (int64_t o = 0; o < out_len; ++o) {
    const double x = double(o);
    double xi = 0;
    switch (p.coord) {
      case Coord::kHalfPixel:
        xi = (x + 0.5) / scale - 0.5;
        break;
      case Coord::kPytorchHalfPixel:
        xi = out_width == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
        break;
      case Coord::kAlignCorners:
        xi = out_width == 1 ? 0.0 : x * double(in_len - 1) / (out_width - 1);
        break;
      case Coord::kAsymmetric:
        xi = x / scale;
        break;
      case Coord::kTfHalfPixelForNearest:
        xi = (x + 0.5) / scale;
        break;
      case Coord::kTfCropAndResize:
        xi = out_width == 1 ? (roi_end - roi_start) * double(in_len - 1) / 2
                            : x * (roi_end - roi_start) * double(in_len - 1) / (out_width - 1);
        xi += roi_start * double(in_len - 1);
        if (xi < 0 || xi > double(in_len - 1)) t.outside[o] = 1;
        break;
    }
    int64_t* idx = &t.index[o * t.k];
    double* w = &t.weight[o * t.k];
    const double fl = std::floor(xi);
    const double r = xi - fl;
    const int64_t i0 = static_cast<int64_t>(fl);
    if (p.mode == Mode::kNearest) {
      int64_t i = i0;
      if (r != 0) {
        switch (p.nearest) {
          case Nearest::kRoundPreferFloor:
            i = r <= 0.5 ? i0 : i0 + 1;
            break;
          case Nearest::kRoundPreferCeil:
            i = r < 0.5 ? i0 : i0 + 1;
            break;
          case Nearest::kFloor:
            i = i0;
            break;
          case Nearest::kCeil:
            i = i0 + 1;
            break;
          case Nearest::kSimple:  // ONNX Runtime's rule for Resize-10 and Upsample
            i = scale < 1 ? i0 + 1 : i0;
            break;
        }
      }
      idx[0] = clamp(i);
      w[0] = 1;
    } else if (p.mode == Mode::kLinear) {
      idx[0] = clamp(i0);
      idx[1] = clamp(i0 + 1);
      w[0] = 1 - r;
      w[1] = r;
    } else {
      const double a = p.cubic_a;
      const double s0 = r + 1, s3 = 2 - r, q = 1 - r;
      double c[4] = {((a * s0 - 5 * a) * s0 + 8 * a) * s0 - 4 * a,
                     ((a + 2) * r - (a + 3)) * r * r + 1, ((a + 2) * q - (a + 3)) * q * q + 1,
                     ((a * s3 - 5 * a) * s3 + 8 * a) * s3 - 4 * a};
      if (p.exclude_outside) {
        double sum = 0;
        for (int j = 0; j < 4; ++j) {
          const int64_t raw = i0 - 1 + j;
          if (raw < 0 || raw >= in_len) c[j] = 0;
          sum += c[j];
        }
        for (double& v : c) v /= sum;
      }
      for (int j = 0; j < 4; ++j) {
        idx[j] = clamp(i0 - 1 + j);
        w[j] = c[j];
      }
    }
  }
  return t;
}

/// One separable pass along an axis: (outer, in_len, inner) -> (outer, out_len, inner).
template <typename T>
void resize_axis(const T* src, T* dst, int64_t outer, int64_t in_len, int64_t out_len,
                 int64_t inner, const Taps& taps, double extrapolation, exec::ThreadPool* pool) {
  if (inner == 1) {
    // The innermost axis: each output element gathers from its own row, so the loop runs over
    // whole rows with the taps read in order (no per-element index arithmetic).
    const T fill = T(extrapolation);
    exec::parallel_for(pool, outer, std::max<int64_t>(1, 4096 / std::max<int64_t>(out_len, 1)),
                       [&](int64_t begin, int64_t end) {
                         for (int64_t b = begin; b < end; ++b) {
                           const T* row = src + b * in_len;
                           T* out = dst + b * out_len;
                           const int64_t* idx = taps.index.data();
                           if (taps.k == 1) {
                             for (int64_t o = 0; o < out_len; ++o) {
                               out[o] = taps.outside[o] ? fill : row[idx[o]];
                             }
                             continue;
                           }
                           if constexpr (std::is_floating_point_v<T>) {
                             const double* w = taps.weight.data();
                             const int k = taps.k;
                             for (int64_t o = 0; o < out_len; ++o) {
                               if (taps.outside[o]) {
                                 out[o] = fill;
                                 continue;
                               }
                               T acc = T(w[o * k]) * row[idx[o * k]];
                               for (int q = 1; q < k; ++q) {
                                 if (w[o * k + q] == 0) continue;  // as the outer-axis path
                                 acc += T(w[o * k + q]) * row[idx[o * k + q]];
                               }
                               out[o] = acc;
                             }
                           }
                         }
                       });
    return;
  }
  exec::parallel_for(pool, outer * out_len,
                     std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1)),
                     [&](int64_t begin, int64_t end) {
                       for (int64_t j = begin; j < end; ++j) {
                         const int64_t b = j / out_len, o = j % out_len;
                         T* out = dst + j * inner;
                         if (taps.outside[o]) {
                           std::fill(out, out + inner, T(extrapolation));
                           continue;
                         }
                         const T* base = src + b * in_len * inner;
                         const int64_t* idx = &taps.index[o * taps.k];
                         const double* w = &taps.weight[o * taps.k];
                         if (taps.k == 1) {
                           std::copy(base + idx[0] * inner, base + (idx[0] + 1) * inner, out);
                           continue;
                         }
                         if constexpr (std::is_floating_point_v<T>) {
                           ir::VectorMap<T> o_map(out, inner);
                           o_map = ir::ConstVectorMap<T>(base + idx[0] * inner, inner) * T(w[0]);
                           for (int q = 1; q < taps.k; ++q) {
                             if (w[q] == 0) continue;
                             o_map += ir::ConstVectorMap<T>(base + idx[q] * inner, inner) * T(w[q]);
                           }
                         }
                       }
                     });
}

StatusOr<std::unique_ptr<Kernel>> make_resize_kernel(const NodeView& view, ResizeParams p) {
  if (p.mode != Mode::kNearest) {
    const DType dt = view.input_dtype(0);
    if (dt != DType::kUndefined && dt != DType::kFloat && dt != DType::kDouble) {
      return view.error("linear and cubic modes support float and double only, got " +
                        std::string(ir::dtype_name(dt)));
    }
  }
  return make_kernel<exec::LambdaKernel>([p](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const size_t rank = x.dims().size();
    std::vector<double> scales(rank, 1.0);
    Dims out_dims = x.dims();
    bool have_sizes = false;
    if (p.sizes_input >= 0 && ctx.has_input(p.sizes_input) &&
        ctx.input(p.sizes_input).numel() > 0) {
      const auto sizes = to_int64_vector(ctx.input(p.sizes_input));
      if (sizes.size() != rank) {
        return ctx.error("'sizes' has " + std::to_string(sizes.size()) +
                         " values for an input of rank " + std::to_string(rank));
      }
      for (size_t i = 0; i < rank; ++i) {
        if (sizes[i] < 0) return ctx.error("'sizes' values must be >= 0");
        out_dims[i] = sizes[i];
        scales[i] = x.dims()[i] == 0 ? 1.0 : double(sizes[i]) / double(x.dims()[i]);
      }
      have_sizes = true;
    }
    if (!have_sizes) {
      std::vector<double> s = p.attr_scales;
      if (p.scales_input >= 0) {
        if (!ctx.has_input(p.scales_input) || ctx.input(p.scales_input).numel() == 0) {
          return ctx.error("one of 'scales' and 'sizes' must be given");
        }
        s = floats_of(ctx.input(p.scales_input));
      }
      if (s.size() != rank) {
        return ctx.error("'scales' has " + std::to_string(s.size()) +
                         " values for an input of rank " + std::to_string(rank));
      }
      for (size_t i = 0; i < rank; ++i) {
        if (!(s[i] > 0)) return ctx.error("'scales' values must be > 0");
        scales[i] = s[i];
        out_dims[i] = static_cast<int64_t>(s[i] * double(x.dims()[i]));
      }
    }
    std::vector<double> roi;
    if (p.coord == Coord::kTfCropAndResize) {
      if (p.roi_input < 0 || !ctx.has_input(p.roi_input)) {
        return ctx.error("tf_crop_and_resize needs the 'roi' input");
      }
      roi = floats_of(ctx.input(p.roi_input));
      if (roi.size() != 2 * rank) {
        return ctx.error("'roi' must hold 2 * rank float values");
      }
    }
    return dispatch_copyable(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      if (p.mode != Mode::kNearest && !std::is_floating_point_v<T>) {
        return ctx.error("linear and cubic modes support float and double only");
      }
      Tensor cur = x;
      Dims dims = x.dims();
      for (size_t a = 0; a < rank; ++a) {
        const bool identity = out_dims[a] == dims[a] && scales[a] == 1.0 &&
                              p.coord != Coord::kTfCropAndResize &&
                              p.coord != Coord::kTfHalfPixelForNearest;
        if (identity) continue;
        Dims next = dims;
        next[a] = out_dims[a];
        Tensor out = Tensor::uninitialized(x.dtype(), next);  // every element is written
        if (out.numel() > 0 && cur.numel() > 0) {
          const Taps taps =
              make_taps(p, dims[a], out_dims[a], scales[a], roi.empty() ? 0.0 : roi[a],
                        roi.empty() ? 1.0 : roi[rank + a]);
          resize_axis<T>(cur.span<T>().data(), out.mutable_span<T>().data(), product(dims, 0, a),
                         dims[a], out_dims[a], product(dims, a + 1, rank), taps, p.extrapolation,
                         ctx.pool);
        } else if (out.numel() > 0) {
          return ctx.error("cannot resize an empty input to a non-empty output");
        }
        cur = std::move(out);
        dims = std::move(next);
      }
      ctx.outputs[0] = std::move(cur);
      return {};
    });
  });
}

StatusOr<Mode> parse_mode(const NodeView& view, bool allow_cubic) {
  const ir::Attribute* a = view.node().attribute("mode");
  const std::string m = a ? a->s() : "nearest";
  if (m == "nearest") return Mode::kNearest;
  if (m == "linear" || m == "bilinear") return Mode::kLinear;
  if (m == "cubic" && allow_cubic) return Mode::kCubic;
  return view.error("mode '" + m + "' is not supported");
}

StatusOr<std::unique_ptr<Kernel>> make_resize(const NodeView& view) {
  const ir::Node& node = view.node();
  ResizeParams p;
  COMPRESSOR_ASSIGN_OR_RETURN(p.mode, parse_mode(view, view.opset() >= 11));
  if (view.opset() < 11) {
    p.coord = Coord::kAsymmetric;
    p.nearest = Nearest::kSimple;
    p.scales_input = 1;
    p.sizes_input = -1;
    p.roi_input = -1;
    return make_resize_kernel(view, p);
  }
  const ir::Attribute* ct = node.attribute("coordinate_transformation_mode");
  const std::string coord = ct ? ct->s() : "half_pixel";
  if (coord == "half_pixel") {
    p.coord = Coord::kHalfPixel;
  } else if (coord == "pytorch_half_pixel") {
    p.coord = Coord::kPytorchHalfPixel;
  } else if (coord == "align_corners") {
    p.coord = Coord::kAlignCorners;
  } else if (coord == "asymmetric") {
    p.coord = Coord::kAsymmetric;
  } else if (coord == "tf_half_pixel_for_nn" || coord == "tf_half_pixel_for_nearest") {
    p.coord = Coord::kTfHalfPixelForNearest;
  } else if (coord == "tf_crop_and_resize") {
    p.coord = Coord::kTfCropAndResize;
  } else {
    return view.error("coordinate_transformation_mode '" + coord + "' is not supported");
  }
  const ir::Attribute* nm = node.attribute("nearest_mode");
  const std::string nearest = nm ? nm->s() : "round_prefer_floor";
  if (nearest == "round_prefer_floor") {
    p.nearest = Nearest::kRoundPreferFloor;
  } else if (nearest == "round_prefer_ceil") {
    p.nearest = Nearest::kRoundPreferCeil;
  } else if (nearest == "floor") {
    p.nearest = Nearest::kFloor;
  } else if (nearest == "ceil") {
    p.nearest = Nearest::kCeil;
  } else {
    return view.error("nearest_mode '" + nearest + "' is not supported");
  }
  p.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  p.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  p.extrapolation = node.attr_float("extrapolation_value", 0.0f);
  if (view.opset() >= 18) {
    if (node.attr_int("antialias", 0) != 0) return view.error("antialias=1 is not supported");
    if (node.attribute("axes") != nullptr) return view.error("attribute 'axes' is not supported");
    const ir::Attribute* k = node.attribute("keep_aspect_ratio_policy");
    if (k != nullptr && k->s() != "stretch") {
      return view.error("keep_aspect_ratio_policy '" + k->s() + "' is not supported");
    }
  }
  return make_resize_kernel(view, p);
}

StatusOr<std::unique_ptr<Kernel>> make_upsample(const NodeView& view) {
  ResizeParams p;
  COMPRESSOR_ASSIGN_OR_RETURN(p.mode, parse_mode(view, false));
  p.coord = Coord::kAsymmetric;
  p.nearest = Nearest::kSimple;
  p.sizes_input = -1;
  p.roi_input = -1;
  if (view.opset() < 9) {
    p.scales_input = -1;
    const ir::Attribute* s = view.node().attribute("scales");
    if (s == nullptr) return view.error("attribute 'scales' is required");
    for (float v : s->floats()) p.attr_scales.push_back(v);
  } else {
    p.scales_input = 1;
  }
  return make_resize_kernel(view, p);
}

// ---------------------------------------------------------------------------------------------
// Pad

enum class PadMode { kConstant, kReflect, kEdge };

struct PadParams {
  PadMode mode = PadMode::kConstant;
  bool from_inputs = false;  // opset >= 11: pads, constant_value (and axes, opset 18) inputs
  std::vector<int64_t> attr_pads;
  double attr_value = 0.0;
};

/// Output-to-input index map of one axis; -1 means the constant.
std::vector<int64_t> pad_map(PadMode mode, int64_t in_len, int64_t begin, int64_t out_len) {
  std::vector<int64_t> m(static_cast<size_t>(out_len));
  for (int64_t o = 0; o < out_len; ++o) {
    int64_t j = o - begin;
    if (j < 0 || j >= in_len) {
      if (mode == PadMode::kConstant) {
        j = -1;
      } else if (mode == PadMode::kEdge) {
        j = std::min(std::max<int64_t>(j, 0), in_len - 1);
      } else if (in_len == 1) {
        j = 0;
      } else {
        const int64_t period = 2 * (in_len - 1);
        j = ((j % period) + period) % period;
        if (j >= in_len) j = period - j;
      }
    }
    m[o] = j;
  }
  return m;
}

template <typename T>
void pad_copy(const Tensor& x, Tensor& y, const std::vector<std::vector<int64_t>>& maps, T value) {
  const Dims& in = x.dims();
  const Dims& out = y.dims();
  const size_t rank = out.size();
  const T* src = x.span<T>().data();
  T* dst = y.mutable_span<T>().data();
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  const auto in_strides = strides_of(in);
  const int64_t last = out[rank - 1];
  const int64_t rows = product(out, 0, rank - 1);
  const auto& lmap = maps[rank - 1];
  std::vector<int64_t> idx(rank - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    T* row = dst + r * last;
    int64_t base = 0;
    bool constant = false;
    for (size_t d = 0; d + 1 < rank; ++d) {
      const int64_t j = maps[d][idx[d]];
      if (j < 0) {
        constant = true;
        break;
      }
      base += j * in_strides[d];
    }
    if (constant) {
      std::fill(row, row + last, value);
    } else {
      for (int64_t o = 0; o < last; ++o) row[o] = lmap[o] < 0 ? value : src[base + lmap[o]];
    }
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
}

StatusOr<std::unique_ptr<Kernel>> make_pad(const NodeView& view) {
  const ir::Node& node = view.node();
  PadParams p;
  const ir::Attribute* m = node.attribute("mode");
  const std::string mode = m ? m->s() : "constant";
  if (mode == "constant") {
    p.mode = PadMode::kConstant;
  } else if (mode == "reflect") {
    p.mode = PadMode::kReflect;
  } else if (mode == "edge") {
    p.mode = PadMode::kEdge;
  } else {
    return view.error("mode '" + mode + "' is not supported");
  }
  p.from_inputs = view.opset() >= 11;
  if (!p.from_inputs) {
    if (node.attribute("pads") == nullptr) return view.error("attribute 'pads' is required");
    p.attr_pads = node.attr_ints("pads");
    p.attr_value = node.attr_float("value", 0.0f);
  } else if (!view.has_input(1)) {
    return view.error("input 'pads' is required");
  }
  return make_kernel<exec::LambdaKernel>([p](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    std::vector<int64_t> pads = p.attr_pads;
    std::vector<int64_t> axes;
    if (p.from_inputs) {
      pads = to_int64_vector(ctx.input(1));
      if (ctx.has_input(3)) {
        for (int64_t a : to_int64_vector(ctx.input(3))) {
          COMPRESSOR_ASSIGN_OR_RETURN(const int64_t na, normalize_axis(a, rank, ctx));
          axes.push_back(na);
        }
      }
    }
    if (axes.empty()) {
      for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
    }
    if (pads.size() != 2 * axes.size()) {
      return ctx.error("'pads' has " + std::to_string(pads.size()) + " values, expected " +
                       std::to_string(2 * axes.size()));
    }
    std::vector<int64_t> begin(rank, 0), end(rank, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      begin[axes[i]] = pads[i];
      end[axes[i]] = pads[i + axes.size()];
    }
    Dims out_dims = x.dims();
    std::vector<std::vector<int64_t>> maps(rank);
    for (int64_t a = 0; a < rank; ++a) {
      out_dims[a] = x.dims()[a] + begin[a] + end[a];
      if (out_dims[a] < 0) {
        return ctx.error("pads crop axis " + std::to_string(a) + " below zero length");
      }
      if (x.dims()[a] == 0 && out_dims[a] > 0 && p.mode != PadMode::kConstant) {
        return ctx.error("cannot pad an empty axis in reflect or edge mode");
      }
      maps[a] = pad_map(p.mode, x.dims()[a], begin[a], out_dims[a]);
    }
    return dispatch_copyable(x.dtype(), ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      T value = T(p.attr_value);
      if (p.from_inputs && ctx.has_input(2) && ctx.input(2).numel() > 0) {
        if (ctx.input(2).dtype() != x.dtype()) {
          return ctx.error("'constant_value' must have the data type of the input");
        }
        value = ctx.input(2).span<T>()[0];
      }
      Tensor y = Tensor::zeros(x.dtype(), out_dims);
      if (y.numel() > 0) pad_copy<T>(x, y, maps, value);
      ctx.outputs[0] = std::move(y);
      return {};
    });
  });
}

}  // namespace

void register_resize_pad_kernels(exec::KernelRegistry& r) {
  r.add("", "Resize", 10, 19, make_resize);
  r.add("", "Upsample", 7, 9, make_upsample);
  r.add("", "Pad", 2, 19, make_pad);
}

}  // namespace compressor::kernels
