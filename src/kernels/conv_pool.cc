// Kernel family 'conv_pool': Conv, ConvTranspose, MaxPool, AveragePool, GlobalAveragePool and
// GlobalMaxPool for 1-D, 2-D and 3-D inputs (NC + spatial).
//
// Every spatial op is computed on a 3-D geometry: 1-D and 2-D inputs get leading unit spatial
// dimensions (kernel 1, stride 1, no pads), so one code path serves all ranks.
//
// Conv: per (batch, group, tile of output positions) an im2col of the tile into a per-thread
// buffer, then one Eigen GEMM W_g[M/g x C/g*k] * col[C/g*k x tile] into the output block. 1x1
// stride-1 unpadded convs read the input directly as the GEMM operand; depthwise convs (one
// input and one output channel per group) accumulate directly. ConvTranspose: per (batch,
// group) col = W_g^T * X_g, then col2im. Tiles depend only on the shapes, never on the thread
// count, so results do not depend on it.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "kernel_util.h"
#include "sgemm.h"

namespace compressor::kernels {
namespace {

// Elements of the per-thread im2col buffer a Conv tile aims for (1 MiB of float).
constexpr int64_t kColBudget = int64_t{1} << 18;
constexpr int64_t kMinTile = 64;
// Independent (batch, group, tile) units a Conv aims for when its planes are small.
constexpr int64_t kMinUnits = 4;

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

StatusOr<AutoPad> parse_auto_pad(const NodeView& view) {
  const ir::Attribute* a = view.node().attribute("auto_pad");
  if (a == nullptr) return AutoPad::kNotSet;
  const std::string& s = a->s();
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "VALID") return AutoPad::kValid;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  return view.error("auto_pad '" + s +
                    "' is not supported (expected NOTSET, VALID, SAME_UPPER or SAME_LOWER)");
}

// Window attributes as written on the node (empty = default), checked at plan time.
struct WindowAttrs {
  std::vector<int64_t> kernel, strides, pads, dilations;
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
};

StatusOr<WindowAttrs> parse_window(const NodeView& view, bool need_kernel) {
  const ir::Node& node = view.node();
  WindowAttrs w;
  COMPRESSOR_ASSIGN_OR_RETURN(w.auto_pad, parse_auto_pad(view));
  w.kernel = node.attr_ints("kernel_shape");
  w.strides = node.attr_ints("strides");
  w.pads = node.attr_ints("pads");
  w.dilations = node.attr_ints("dilations");
  const int64_t ceil_mode = node.attr_int("ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1) return view.error("ceil_mode must be 0 or 1");
  w.ceil_mode = ceil_mode == 1;
  if (need_kernel && w.kernel.empty()) return view.error("kernel_shape is required");
  size_t nd = w.kernel.size();
  for (const auto* v : {&w.strides, &w.dilations}) {
    if (nd == 0) nd = v->size();
    if (!v->empty() && v->size() != nd) {
      return view.error("kernel_shape, strides and dilations have different lengths");
    }
  }
  if (nd == 0 && !w.pads.empty()) nd = w.pads.size() / 2;
  if (!w.pads.empty() && w.pads.size() != 2 * nd) {
    return view.error("pads must have 2 values per spatial axis");
  }
  if (nd > 3) return view.error("only 1-D, 2-D and 3-D windows are supported");
  for (int64_t k : w.kernel) {
    if (k < 1) return view.error("kernel_shape values must be >= 1");
  }
  for (int64_t s : w.strides) {
    if (s < 1) return view.error("strides must be >= 1");
  }
  for (int64_t d : w.dilations) {
    if (d < 1) return view.error("dilations must be >= 1");
  }
  for (int64_t p : w.pads) {
    if (p < 0) return view.error("negative pads are not supported");
  }
  return w;
}

// A 3-D window geometry; 1-D and 2-D windows occupy the trailing axes.
struct Geom {
  std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, pe{0, 0, 0},
      out{1, 1, 1};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Fills kernel, strides, dilations and pads of the trailing `nd` axes and computes the output
// size of a forward window (Conv, pooling).
Status forward_geom(const WindowAttrs& w, const Dims& x_dims, const std::vector<int64_t>& kernel,
                    const KernelContext& ctx, Geom* g) {
  const size_t nd = kernel.size();
  if (x_dims.size() != nd + 2) {
    return ctx.error("input " + ir::dims_to_string(x_dims) + " does not match a " +
                     std::to_string(nd) + "-D window");
  }
  if ((!w.strides.empty() && w.strides.size() != nd) ||
      (!w.dilations.empty() && w.dilations.size() != nd) ||
      (!w.pads.empty() && w.pads.size() != 2 * nd)) {
    return ctx.error("strides, dilations or pads do not match the " + std::to_string(nd) +
                     "-D kernel");
  }
  for (size_t i = 0; i < nd; ++i) {
    const size_t a = 3 - nd + i;
    const int64_t in = x_dims[2 + i], k = kernel[i];
    const int64_t s = w.strides.empty() ? 1 : w.strides[i];
    const int64_t d = w.dilations.empty() ? 1 : w.dilations[i];
    const int64_t eff = (k - 1) * d + 1;
    int64_t pb = 0, pe = 0, out = 0;
    switch (w.auto_pad) {
      case AutoPad::kNotSet: {
        pb = w.pads.empty() ? 0 : w.pads[i];
        pe = w.pads.empty() ? 0 : w.pads[i + nd];
        const int64_t span = in + pb + pe - eff;
        if (span < 0) {
          return ctx.error("window " + std::to_string(eff) + " is larger than the padded input " +
                           std::to_string(in + pb + pe));
        }
        out = (w.ceil_mode ? ceil_div(span, s) : span / s) + 1;
        // A last window starting inside the end padding is dropped (as PyTorch and ORT do).
        if (w.ceil_mode && (out - 1) * s >= in + pb) --out;
        break;
      }
      case AutoPad::kValid:
        if (in < eff) {
          return ctx.error("window " + std::to_string(eff) + " is larger than the input " +
                           std::to_string(in));
        }
        out = (in - eff) / s + 1;
        break;
      case AutoPad::kSameUpper:
      case AutoPad::kSameLower: {
        out = ceil_div(in, s);
        const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
        pb = w.auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
        pe = total - pb;
        break;
      }
    }
    g->in[a] = in;
    g->k[a] = k;
    g->s[a] = s;
    g->d[a] = d;
    g->pb[a] = pb;
    g->pe[a] = pe;
    g->out[a] = std::max<int64_t>(out, 0);
  }
  return ok_status();
}

// The spatial kernel size of a Conv or ConvTranspose weight [*, *, k...] (1-D to 3-D), checked
// against the kernel_shape attribute when one is given.
StatusOr<std::vector<int64_t>> weight_kernel(const Tensor& w, const std::vector<int64_t>& attr,
                                             const KernelContext& ctx) {
  if (w.rank() < 3 || w.rank() > 5) {
    return ctx.error("weight " + ir::dims_to_string(w.dims()) + " is not a 1-D, 2-D or 3-D kernel");
  }
  std::vector<int64_t> kernel(w.dims().begin() + 2, w.dims().end());
  if (!attr.empty() && attr != kernel) {
    return ctx.error("kernel_shape does not match the weight " + ir::dims_to_string(w.dims()));
  }
  return kernel;
}

Dims with_spatial(int64_t n, int64_t c, const Geom& g, size_t nd) {
  Dims out{n, c};
  for (size_t i = 0; i < nd; ++i) out.push_back(g.out[3 - nd + i]);
  return out;
}

// Range [lo, hi) of output positions o with 0 <= o * s + offset < in.
void valid_range(int64_t offset, int64_t s, int64_t in, int64_t n_out, int64_t* lo, int64_t* hi) {
  *lo = offset >= 0 ? 0 : ceil_div(-offset, s);
  *hi = in - offset <= 0 ? 0 : std::min(n_out, ceil_div(in - offset, s));
  if (*hi < *lo) *hi = *lo;
}

// ---------------------------------------------------------------------------------------------
// Conv

// Copies the receptive fields of output positions [p0, p1) of `channels` input planes into
// col (rows: channel x kernel offset, columns: positions), zero where the window is in the pads.
template <typename T>
void im2col(const T* x, int64_t channels, const Geom& g, int64_t p0, int64_t p1, T* col) {
  const int64_t len = p1 - p0, in_size = g.in_size();
  const int64_t ow_n = g.out[2], oh_n = g.out[1];
  T* dst = col;
  for (int64_t c = 0; c < channels; ++c) {
    const T* xc = x + c * in_size;
    for (int64_t kd = 0; kd < g.k[0]; ++kd) {
      for (int64_t kh = 0; kh < g.k[1]; ++kh) {
        for (int64_t kw = 0; kw < g.k[2]; ++kw, dst += len) {
          const int64_t iw_off = kw * g.d[2] - g.pb[2];
          int64_t lo = 0, hi = 0;
          valid_range(iw_off, g.s[2], g.in[2], ow_n, &lo, &hi);
          for (int64_t p = p0; p < p1;) {
            const int64_t ow0 = p % ow_n, row = p / ow_n;
            const int64_t oh = row % oh_n, od = row / oh_n;
            const int64_t seg = std::min(p1 - p, ow_n - ow0);
            T* out = dst + (p - p0);
            const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
            const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
            if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
              std::fill(out, out + seg, T(0));
            } else {
              const T* xrow = xc + (id * g.in[1] + ih) * g.in[2];
              const int64_t a = std::clamp(lo, ow0, ow0 + seg), b = std::clamp(hi, a, ow0 + seg);
              std::fill(out, out + (a - ow0), T(0));
              if (b > a && g.s[2] == 1) {
                std::copy(xrow + a + iw_off, xrow + b + iw_off, out + (a - ow0));
              } else {
                for (int64_t o = a; o < b; ++o) out[o - ow0] = xrow[o * g.s[2] + iw_off];
              }
              std::fill(out + (b - ow0), out + seg, T(0));
            }
            p += seg;
          }
        }
      }
    }
  }
}

// One output plane of a depthwise conv, row by row: each output row accumulates its kernel
// taps while it stays in L1, reading input rows through contiguous maps. With a stride s along
// the width, the input row is first split into s phases (elements r, r + s, r + 2s, ...) so that
// every tap reads one phase contiguously. `scratch` holds the phases.
template <typename T>
void depthwise_plane(const T* x, const T* w, const Geom& g, T* y, std::vector<T>& scratch) {
  const int64_t ow_n = g.out[2], iw_n = g.in[2], s = g.s[2];
  const int64_t phase_len = ceil_div(iw_n, s);
  if (s > 1 && static_cast<int64_t>(scratch.size()) < s * phase_len) scratch.resize(s * phase_len);
  for (int64_t od = 0; od < g.out[0]; ++od) {
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      T* yrow = y + (od * g.out[1] + oh) * ow_n;
      for (int64_t kd = 0; kd < g.k[0]; ++kd) {
        const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
        if (id < 0 || id >= g.in[0]) continue;
        for (int64_t kh = 0; kh < g.k[1]; ++kh) {
          const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
          if (ih < 0 || ih >= g.in[1]) continue;
          const T* xrow = x + (id * g.in[1] + ih) * iw_n;
          const T* phases = xrow;
          if (s > 1) {
            for (int64_t r = 0; r < s; ++r) {
              T* ph = scratch.data() + r * phase_len;
              for (int64_t j = 0, i = r; i < iw_n; ++j, i += s) ph[j] = xrow[i];
            }
            phases = scratch.data();
          }
          for (int64_t kw = 0; kw < g.k[2]; ++kw) {
            const T wv = w[(kd * g.k[1] + kh) * g.k[2] + kw];
            const int64_t off = kw * g.d[2] - g.pb[2];
            int64_t lo = 0, hi = 0;
            valid_range(off, s, iw_n, ow_n, &lo, &hi);
            if (lo >= hi) continue;
            // x[o * s + off] is element o + shift of phase r.
            const int64_t r = ((off % s) + s) % s, shift = (off - r) / s;
            const T* src = phases + r * phase_len + shift;
            ir::VectorMap<T>(yrow + lo, hi - lo) += wv * ir::ConstVectorMap<T>(src + lo, hi - lo);
          }
        }
      }
    }
  }
}

class ConvKernel final : public Kernel {
 public:
  ConvKernel(WindowAttrs w, int64_t group) : w_(std::move(w)), group_(group) {}

  Status compute(KernelContext& ctx) const override {
    const DType t = ctx.input(0).dtype();
    if (ctx.input(1).dtype() != t || (ctx.has_input(2) && ctx.input(2).dtype() != t)) {
      return ctx.error("Conv inputs have different data types");
    }
    if (t == DType::kFloat) return typed<float>(ctx);
    if (t == DType::kDouble) return typed<double>(ctx);
    return ctx.error("unsupported data type " + std::string(ir::dtype_name(t)) +
                     " (expected float or double)");
  }

 private:
  template <typename T>
  Status typed(KernelContext& ctx) const {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    COMPRESSOR_ASSIGN_OR_RETURN(const std::vector<int64_t> kernel,
                                weight_kernel(w, w_.kernel, ctx));
    const size_t nd = kernel.size();
    Geom g;
    COMPRESSOR_RETURN_IF_ERROR(forward_geom(w_, x.dims(), kernel, ctx, &g));
    const int64_t n = x.dims()[0], c = x.dims()[1], m = w.dims()[0];
    if (c % group_ != 0 || m % group_ != 0 || w.dims()[1] * group_ != c) {
      return ctx.error("input " + ir::dims_to_string(x.dims()) + " and weight " +
                       ir::dims_to_string(w.dims()) + " do not match group " +
                       std::to_string(group_));
    }
    if (ctx.has_input(2) && ctx.input(2).numel() != m) {
      return ctx.error("bias " + ir::dims_to_string(ctx.input(2).dims()) + " does not have " +
                       std::to_string(m) + " values");
    }
    const int64_t cg = c / group_, mg = m / group_, ks = g.k_size(), kk = cg * ks;
    // The depthwise path accumulates into zeros; the GEMM path assigns every element.
    const bool depthwise = cg == 1 && mg == 1;
    Tensor y = depthwise ? Tensor::zeros(x.dtype(), with_spatial(n, m, g, nd))
                         : Tensor::uninitialized(x.dtype(), with_spatial(n, m, g, nd));
    const int64_t p_out = g.out_size(), in_size = g.in_size();
    if (y.numel() == 0) {
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }
    const T* xp = x.span<T>().data();
    const T* wp = w.span<T>().data();
    const T* bp = ctx.has_input(2) ? ctx.input(2).span<T>().data() : nullptr;
    T* yp = y.mutable_span<T>().data();
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Strided = Eigen::OuterStride<>;

    if (depthwise) {
      // Depthwise: one plane per (batch, channel).
      exec::parallel_for(ctx.pool, n * m, 1, [&](int64_t begin, int64_t end) {
        std::vector<T> scratch;
        for (int64_t u = begin; u < end; ++u) {
          const int64_t ch = u % m;
          T* yplane = yp + u * p_out;
          depthwise_plane(xp + u * in_size, wp + ch * ks, g, yplane, scratch);
          if (bp != nullptr) ir::VectorMap<T>(yplane, p_out) += bp[ch];
        }
      });
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }

    bool pointwise = ks == 1;
    for (int a = 0; a < 3; ++a)
      pointwise = pointwise && g.s[a] == 1 && g.pb[a] == 0 && g.pe[a] == 0;
    int64_t tile = std::min(p_out, std::max(kMinTile, kColBudget / std::max<int64_t>(kk, 1)));
    // Small planes (late layers, text-line models) still get a few independent tiles, so that
    // threads have work; the split depends on shapes only.
    if (n * group_ * ceil_div(p_out, tile) < kMinUnits) {
      tile = std::min(tile, std::max(kMinTile, ceil_div(p_out, kMinUnits)));
    }
    const int64_t tiles = ceil_div(p_out, tile);
    exec::parallel_for(ctx.pool, n * group_ * tiles, 1, [&](int64_t begin, int64_t end) {
      thread_local std::vector<T> col;
      for (int64_t u = begin; u < end; ++u) {
        const int64_t t = u % tiles, ng = u / tiles, gi = ng % group_, ni = ng / group_;
        const int64_t p0 = t * tile, len = std::min(tile, p_out - p0);
        const T* xg = xp + (ni * c + gi * cg) * in_size;
        Eigen::Map<const Mat> wg(wp + gi * mg * kk, mg, kk);
        Eigen::Map<Mat, 0, Strided> yb(yp + (ni * m + gi * mg) * p_out + p0, mg, len,
                                       Strided(p_out));
        // Y block [mg, len] = W [mg, kk] x (input rows or im2col columns) [kk, len].
        const T* rhs = xg + p0;
        int64_t rhs_stride = p_out;
        if (!pointwise) {
          if (static_cast<int64_t>(col.size()) < kk * len) col.resize(kk * len);
          im2col(xg, cg, g, p0, p0 + len, col.data());
          rhs = col.data();
          rhs_stride = len;
        }
        if constexpr (std::is_same_v<T, float>) {
          sgemm(mg, len, kk, wp + gi * mg * kk, kk, 1, rhs, rhs_stride, 1,
                yp + (ni * m + gi * mg) * p_out + p0, p_out, false);
        } else {
          yb.noalias() = wg * Eigen::Map<const Mat, 0, Strided>(rhs, kk, len, Strided(rhs_stride));
        }
        if (bp != nullptr) {
          yb.colwise() += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(bp + gi * mg, mg);
        }
      }
    });
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }

  WindowAttrs w_;
  int64_t group_;
};

Status check_float_inputs(const NodeView& view, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const DType t = view.input_dtype(i);
    if (t != DType::kUndefined && t != DType::kFloat && t != DType::kDouble) {
      return view.error("input " + std::to_string(i) + " has unsupported data type " +
                        std::string(ir::dtype_name(t)) + " (expected float or double)");
    }
  }
  return ok_status();
}

StatusOr<std::unique_ptr<Kernel>> make_conv(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_float_inputs(view, 3));
  COMPRESSOR_ASSIGN_OR_RETURN(WindowAttrs w, parse_window(view, false));
  if (w.ceil_mode) return view.error("Conv has no ceil_mode");
  const int64_t group = view.node().attr_int("group", 1);
  if (group < 1) return view.error("group must be >= 1");
  return make_kernel<ConvKernel>(std::move(w), group);
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose

// Adds col (rows: output channel x kernel offset, columns: input positions) into `channels`
// output planes.
template <typename T>
void col2im(const T* col, int64_t channels, const Geom& g, T* y) {
  // Here g.in is the ConvTranspose input (the columns) and g.out its output.
  const int64_t p_in = g.in_size(), out_size = g.out_size();
  const T* src = col;
  for (int64_t c = 0; c < channels; ++c) {
    T* yc = y + c * out_size;
    for (int64_t kd = 0; kd < g.k[0]; ++kd) {
      for (int64_t kh = 0; kh < g.k[1]; ++kh) {
        for (int64_t kw = 0; kw < g.k[2]; ++kw, src += p_in) {
          // Output position o = i * s - pb + k * d; valid input range of i along w.
          const int64_t ow_off = kw * g.d[2] - g.pb[2];
          int64_t lo = 0, hi = 0;
          valid_range(ow_off, g.s[2], g.out[2], g.in[2], &lo, &hi);
          if (lo >= hi) continue;
          for (int64_t id = 0; id < g.in[0]; ++id) {
            const int64_t od = id * g.s[0] - g.pb[0] + kd * g.d[0];
            if (od < 0 || od >= g.out[0]) continue;
            for (int64_t ih = 0; ih < g.in[1]; ++ih) {
              const int64_t oh = ih * g.s[1] - g.pb[1] + kh * g.d[1];
              if (oh < 0 || oh >= g.out[1]) continue;
              const T* srow = src + (id * g.in[1] + ih) * g.in[2];
              T* yrow = yc + (od * g.out[1] + oh) * g.out[2];
              for (int64_t i = lo; i < hi; ++i) yrow[i * g.s[2] + ow_off] += srow[i];
            }
          }
        }
      }
    }
  }
}

class ConvTransposeKernel final : public Kernel {
 public:
  ConvTransposeKernel(WindowAttrs w, int64_t group, std::vector<int64_t> output_padding,
                      std::vector<int64_t> output_shape)
      : w_(std::move(w)),
        group_(group),
        output_padding_(std::move(output_padding)),
        output_shape_(std::move(output_shape)) {}

  Status compute(KernelContext& ctx) const override {
    const DType t = ctx.input(0).dtype();
    if (ctx.input(1).dtype() != t || (ctx.has_input(2) && ctx.input(2).dtype() != t)) {
      return ctx.error("ConvTranspose inputs have different data types");
    }
    if (t == DType::kFloat) return typed<float>(ctx);
    if (t == DType::kDouble) return typed<double>(ctx);
    return ctx.error("unsupported data type " + std::string(ir::dtype_name(t)) +
                     " (expected float or double)");
  }

 private:
  Status geometry(const Dims& x_dims, const std::vector<int64_t>& kernel, const KernelContext& ctx,
                  Geom* g) const {
    const size_t nd = kernel.size();
    if (x_dims.size() != nd + 2) {
      return ctx.error("input " + ir::dims_to_string(x_dims) + " does not match a " +
                       std::to_string(nd) + "-D kernel");
    }
    auto sized = [&](const std::vector<int64_t>& v, size_t want) {
      return v.empty() || v.size() == want;
    };
    if (!sized(w_.strides, nd) || !sized(w_.dilations, nd) || !sized(w_.pads, 2 * nd) ||
        !sized(output_padding_, nd) ||
        !(output_shape_.empty() || output_shape_.size() == nd || output_shape_.size() == nd + 2)) {
      return ctx.error(
          "strides, dilations, pads, output_padding or output_shape do not match the " +
          std::to_string(nd) + "-D kernel");
    }
    for (size_t i = 0; i < nd; ++i) {
      const size_t a = 3 - nd + i;
      const int64_t in = x_dims[2 + i], k = kernel[i];
      const int64_t s = w_.strides.empty() ? 1 : w_.strides[i];
      const int64_t d = w_.dilations.empty() ? 1 : w_.dilations[i];
      const int64_t op = output_padding_.empty() ? 0 : output_padding_[i];
      const int64_t full = s * (in - 1) + op + (k - 1) * d + 1;
      int64_t pb = 0, pe = 0, out = 0;
      int64_t target = -1;
      if (!output_shape_.empty()) {
        target = output_shape_[output_shape_.size() - nd + i];
      } else if (w_.auto_pad == AutoPad::kSameUpper || w_.auto_pad == AutoPad::kSameLower) {
        target = in * s;
      }
      if (target >= 0) {
        // A target beyond the full output extends it at the end with zeros (as an implicit
        // output_padding), like the ONNX reference does.
        const int64_t total = full - target;
        if (total >= 0) {
          pb = w_.auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
          pe = total - pb;
        } else {
          pe = total;
        }
        out = target;
      } else {
        if (w_.auto_pad == AutoPad::kNotSet && !w_.pads.empty()) {
          pb = w_.pads[i];
          pe = w_.pads[i + nd];
        }
        out = full - pb - pe;
        if (out < 0) return ctx.error("pads exceed the output size");
      }
      g->in[a] = in;
      g->k[a] = k;
      g->s[a] = s;
      g->d[a] = d;
      g->pb[a] = pb;
      g->pe[a] = pe;
      g->out[a] = out;
    }
    return ok_status();
  }

  template <typename T>
  Status typed(KernelContext& ctx) const {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    COMPRESSOR_ASSIGN_OR_RETURN(const std::vector<int64_t> kernel,
                                weight_kernel(w, w_.kernel, ctx));
    const size_t nd = kernel.size();
    Geom g;
    COMPRESSOR_RETURN_IF_ERROR(geometry(x.dims(), kernel, ctx, &g));
    const int64_t n = x.dims()[0], c = x.dims()[1];
    if (w.dims()[0] != c || c % group_ != 0) {
      return ctx.error("input " + ir::dims_to_string(x.dims()) + " and weight " +
                       ir::dims_to_string(w.dims()) + " do not match group " +
                       std::to_string(group_));
    }
    const int64_t cg = c / group_, mg = w.dims()[1], m = mg * group_, ks = g.k_size();
    if (ctx.has_input(2) && ctx.input(2).numel() != m) {
      return ctx.error("bias " + ir::dims_to_string(ctx.input(2).dims()) + " does not have " +
                       std::to_string(m) + " values");
    }
    Tensor y = Tensor::zeros(x.dtype(), with_spatial(n, m, g, nd));
    const int64_t p_in = g.in_size(), p_out = g.out_size();
    if (y.numel() == 0) {
      ctx.outputs[0] = std::move(y);
      return ok_status();
    }
    const T* xp = x.span<T>().data();
    const T* wp = w.span<T>().data();
    const T* bp = ctx.has_input(2) ? ctx.input(2).span<T>().data() : nullptr;
    T* yp = y.mutable_span<T>().data();
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    exec::parallel_for(ctx.pool, n * group_, 1, [&](int64_t begin, int64_t end) {
      thread_local std::vector<T> col;
      for (int64_t u = begin; u < end; ++u) {
        const int64_t gi = u % group_, ni = u / group_;
        T* yg = yp + (ni * m + gi * mg) * p_out;
        if (p_in > 0 && cg > 0) {
          const int64_t rows = mg * ks;
          if (static_cast<int64_t>(col.size()) < rows * p_in) col.resize(rows * p_in);
          Eigen::Map<Mat> cm(col.data(), rows, p_in);
          cm.noalias() = Eigen::Map<const Mat>(wp + gi * cg * rows, cg, rows).transpose() *
                         Eigen::Map<const Mat>(xp + (ni * c + gi * cg) * p_in, cg, p_in);
          col2im(col.data(), mg, g, yg);
        }
        if (bp != nullptr) {
          for (int64_t j = 0; j < mg; ++j)
            ir::VectorMap<T>(yg + j * p_out, p_out) += bp[gi * mg + j];
        }
      }
    });
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }

  WindowAttrs w_;
  int64_t group_;
  std::vector<int64_t> output_padding_, output_shape_;
};

StatusOr<std::unique_ptr<Kernel>> make_conv_transpose(const NodeView& view) {
  COMPRESSOR_RETURN_IF_ERROR(check_float_inputs(view, 3));
  COMPRESSOR_ASSIGN_OR_RETURN(WindowAttrs w, parse_window(view, false));
  if (w.ceil_mode) return view.error("ConvTranspose has no ceil_mode");
  if (w.auto_pad == AutoPad::kValid) w.pads.clear();
  const int64_t group = view.node().attr_int("group", 1);
  if (group < 1) return view.error("group must be >= 1");
  auto output_padding = view.node().attr_ints("output_padding");
  for (size_t i = 0; i < output_padding.size(); ++i) {
    const int64_t s = i < w.strides.size() ? w.strides[i] : 1;
    const int64_t d = i < w.dilations.size() ? w.dilations[i] : 1;
    if (output_padding[i] < 0 || output_padding[i] >= std::max(s, d)) {
      return view.error("output_padding must be >= 0 and less than the stride or dilation");
    }
  }
  return make_kernel<ConvTransposeKernel>(std::move(w), group, std::move(output_padding),
                                          view.node().attr_ints("output_shape"));
}

// ---------------------------------------------------------------------------------------------
// Pooling

// Valid kernel offsets [lo, hi) along one axis for output position o, and the count of
// offsets inside the padded extent (for count_include_pad).
struct AxisWindow {
  int64_t start, lo, hi, padded;
};

AxisWindow axis_window(const Geom& g, int a, int64_t o) {
  AxisWindow w;
  w.start = o * g.s[a] - g.pb[a];
  w.lo = w.start >= 0 ? 0 : ceil_div(-w.start, g.d[a]);
  w.hi = g.in[a] - w.start <= 0 ? 0 : std::min(g.k[a], ceil_div(g.in[a] - w.start, g.d[a]));
  if (w.hi < w.lo) w.hi = w.lo;
  const int64_t end_pad = g.in[a] + g.pe[a];
  w.padded = end_pad - w.start <= 0 ? 0 : std::min(g.k[a], ceil_div(end_pad - w.start, g.d[a]));
  return w;
}

template <typename T>
void max_pool_plane(const T* x, const Geom& g, T* y, int64_t* idx, int64_t idx_base,
                    bool col_major) {
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const AxisWindow wd = axis_window(g, 0, od);
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const AxisWindow wh = axis_window(g, 1, oh);
      for (int64_t ow = 0; ow < g.out[2]; ++ow) {
        const AxisWindow ww = axis_window(g, 2, ow);
        T best = std::numeric_limits<T>::lowest();
        if constexpr (std::numeric_limits<T>::has_infinity)
          best = -std::numeric_limits<T>::infinity();
        int64_t best_at = -1;
        for (int64_t kd = wd.lo; kd < wd.hi; ++kd) {
          const int64_t id = wd.start + kd * g.d[0];
          for (int64_t kh = wh.lo; kh < wh.hi; ++kh) {
            const int64_t ih = wh.start + kh * g.d[1];
            const T* row = x + (id * g.in[1] + ih) * g.in[2];
            for (int64_t kw = ww.lo; kw < ww.hi; ++kw) {
              const int64_t iw = ww.start + kw * g.d[2];
              if (row[iw] > best || best_at < 0) {
                best = row[iw];
                best_at = col_major ? (iw * g.in[1] + ih) * g.in[0] + id
                                    : (id * g.in[1] + ih) * g.in[2] + iw;
              }
            }
          }
        }
        const int64_t o = (od * g.out[1] + oh) * g.out[2] + ow;
        y[o] = best;
        if (idx != nullptr) idx[o] = best_at < 0 ? -1 : idx_base + best_at;
      }
    }
  }
}

template <typename T>
void avg_pool_plane(const T* x, const Geom& g, bool count_include_pad, T* y) {
  for (int64_t od = 0; od < g.out[0]; ++od) {
    const AxisWindow wd = axis_window(g, 0, od);
    for (int64_t oh = 0; oh < g.out[1]; ++oh) {
      const AxisWindow wh = axis_window(g, 1, oh);
      for (int64_t ow = 0; ow < g.out[2]; ++ow) {
        const AxisWindow ww = axis_window(g, 2, ow);
        T sum = 0;
        for (int64_t kd = wd.lo; kd < wd.hi; ++kd) {
          const int64_t id = wd.start + kd * g.d[0];
          for (int64_t kh = wh.lo; kh < wh.hi; ++kh) {
            const int64_t ih = wh.start + kh * g.d[1];
            const T* row = x + (id * g.in[1] + ih) * g.in[2];
            for (int64_t kw = ww.lo; kw < ww.hi; ++kw) sum += row[ww.start + kw * g.d[2]];
          }
        }
        const int64_t count = count_include_pad
                                  ? wd.padded * wh.padded * ww.padded
                                  : (wd.hi - wd.lo) * (wh.hi - wh.lo) * (ww.hi - ww.lo);
        y[(od * g.out[1] + oh) * g.out[2] + ow] =
            count > 0 ? sum / static_cast<T>(count) : std::numeric_limits<T>::quiet_NaN();
      }
    }
  }
}

enum class PoolKind { kMax, kAverage };

class PoolKernel final : public Kernel {
 public:
  PoolKernel(PoolKind kind, WindowAttrs w, bool count_include_pad, bool col_major)
      : kind_(kind),
        w_(std::move(w)),
        count_include_pad_(count_include_pad),
        col_major_(col_major) {}

  Status compute(KernelContext& ctx) const override {
    const DType t = ctx.input(0).dtype();
    switch (t) {
      case DType::kFloat:
        return typed<float>(ctx);
      case DType::kDouble:
        return typed<double>(ctx);
      case DType::kInt8:
        if (kind_ == PoolKind::kMax) return typed<int8_t>(ctx);
        break;
      case DType::kUInt8:
        if (kind_ == PoolKind::kMax) return typed<uint8_t>(ctx);
        break;
      default:
        break;
    }
    return ctx.error("unsupported data type " + std::string(ir::dtype_name(t)));
  }

 private:
  template <typename T>
  Status typed(KernelContext& ctx) const {
    const Tensor& x = ctx.input(0);
    Geom g;
    COMPRESSOR_RETURN_IF_ERROR(forward_geom(w_, x.dims(), w_.kernel, ctx, &g));
    const size_t nd = w_.kernel.size();
    const int64_t n = x.dims()[0], c = x.dims()[1];
    const Dims out_dims = with_spatial(n, c, g, nd);
    Tensor y = Tensor::zeros(x.dtype(), out_dims);
    const bool want_idx = kind_ == PoolKind::kMax && ctx.outputs.size() > 1;
    Tensor idx = want_idx ? Tensor::zeros(DType::kInt64, out_dims) : Tensor();
    const int64_t p_in = g.in_size(), p_out = g.out_size();
    if (y.numel() > 0) {
      const T* xp = x.span<T>().data();
      T* yp = y.mutable_span<T>().data();
      int64_t* ip = want_idx ? idx.mutable_span<int64_t>().data() : nullptr;
      const int64_t min_chunk = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, p_out));
      exec::parallel_for(ctx.pool, n * c, min_chunk, [&](int64_t begin, int64_t end) {
        for (int64_t u = begin; u < end; ++u) {
          if (kind_ == PoolKind::kMax) {
            max_pool_plane(xp + u * p_in, g, yp + u * p_out, ip ? ip + u * p_out : nullptr,
                           u * p_in, col_major_);
          } else {
            if constexpr (std::is_floating_point_v<T>) {
              avg_pool_plane(xp + u * p_in, g, count_include_pad_, yp + u * p_out);
            }
          }
        }
      });
    }
    ctx.outputs[0] = std::move(y);
    if (want_idx) ctx.outputs[1] = std::move(idx);
    return ok_status();
  }

  PoolKind kind_;
  WindowAttrs w_;
  bool count_include_pad_, col_major_;
};

StatusOr<std::unique_ptr<Kernel>> make_pool(const NodeView& view, PoolKind kind) {
  const DType t = view.input_dtype(0);
  const bool int8ok = kind == PoolKind::kMax && (t == DType::kInt8 || t == DType::kUInt8);
  if (t != DType::kUndefined && t != DType::kFloat && t != DType::kDouble && !int8ok) {
    return view.error("unsupported data type " + std::string(ir::dtype_name(t)));
  }
  COMPRESSOR_ASSIGN_OR_RETURN(WindowAttrs w, parse_window(view, true));
  const int64_t cip = view.node().attr_int("count_include_pad", 0);
  if (cip != 0 && cip != 1) return view.error("count_include_pad must be 0 or 1");
  const int64_t order = view.node().attr_int("storage_order", 0);
  if (order != 0 && order != 1) return view.error("storage_order must be 0 or 1");
  return make_kernel<PoolKernel>(kind, std::move(w), cip == 1, order == 1);
}

// The mean of one plane, summed in ONNX Runtime's order (MLAS's global pooling kernel): four
// running sums over elements i, i + 4, i + 8, ..., combined as (s0 + s2) + (s1 + s3), then the
// n % 4 last elements one by one, then one division. Quantized models round the mean to the
// integer grid, so a float sum in another order puts a value near a rounding boundary on the
// other side of it from ONNX Runtime. The order depends only on n, never on the address.
template <typename T>
T plane_mean(const T* x, int64_t n) {
  T s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; ++j) s[j] += x[i + j];
  }
  T sum = (s[0] + s[2]) + (s[1] + s[3]);
  for (; i < n; ++i) sum += x[i];
  return sum / static_cast<T>(n);
}

// GlobalAveragePool / GlobalMaxPool: reduce every (batch, channel) plane to one value.
template <typename T>
Status global_pool_typed(KernelContext& ctx, PoolKind kind) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) return ctx.error("input " + ir::dims_to_string(x.dims()) + " has rank < 2");
  Dims out_dims = x.dims();
  for (size_t i = 2; i < out_dims.size(); ++i) out_dims[i] = 1;
  const int64_t planes = x.dims()[0] * x.dims()[1];
  const int64_t p = planes == 0 ? 0 : x.numel() / planes;
  Tensor y = Tensor::zeros(x.dtype(), out_dims);
  if (planes > 0) {
    if (p == 0) return ctx.error("input " + ir::dims_to_string(x.dims()) + " has empty planes");
    const auto xm = ir::matrix<T>(x, planes, p);
    auto yv = ir::mutable_flat<T>(y);
    if (kind == PoolKind::kMax) {
      yv = xm.rowwise().maxCoeff().array();
    } else {
      const T* xp = x.span<T>().data();
      for (int64_t r = 0; r < planes; ++r) yv[r] = plane_mean(xp + r * p, p);
    }
  }
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

StatusOr<std::unique_ptr<Kernel>> make_global_pool(const NodeView& view, PoolKind kind) {
  COMPRESSOR_RETURN_IF_ERROR(check_float_inputs(view, 1));
  return std::unique_ptr<Kernel>(new exec::LambdaKernel([kind](KernelContext& ctx) -> Status {
    const DType t = ctx.input(0).dtype();
    if (t == DType::kFloat) return global_pool_typed<float>(ctx, kind);
    if (t == DType::kDouble) return global_pool_typed<double>(ctx, kind);
    return ctx.error("unsupported data type " + std::string(ir::dtype_name(t)));
  }));
}

}  // namespace

void register_conv_pool_kernels(exec::KernelRegistry& r) {
  r.add("", "Conv", 1, 1 << 20, make_conv);
  r.add("", "ConvTranspose", 1, 1 << 20, make_conv_transpose);
  r.add("", "MaxPool", 1, 1 << 20, [](const NodeView& v) { return make_pool(v, PoolKind::kMax); });
  r.add("", "AveragePool", 1, 1 << 20,
        [](const NodeView& v) { return make_pool(v, PoolKind::kAverage); });
  r.add("", "GlobalAveragePool", 1, 1 << 20,
        [](const NodeView& v) { return make_global_pool(v, PoolKind::kAverage); });
  r.add("", "GlobalMaxPool", 1, 1 << 20,
        [](const NodeView& v) { return make_global_pool(v, PoolKind::kMax); });
}

}  // namespace compressor::kernels
