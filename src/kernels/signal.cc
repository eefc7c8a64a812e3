// Kernel family 'signal': DFT (opset 17-19), STFT, HannWindow, HammingWindow, BlackmanWindow
// and MelWeightMatrix (opset 17 on).
//
// Transforms run in complex<double>. A length that is a power of two takes an iterative radix-2
// FFT; a short other length takes the direct sum over a table of roots of unity; a long one is
// rewritten as a convolution with a chirp (Bluestein) and done with power-of-two FFTs, so every
// length costs O(n log n). Twiddles are computed from their exact angles (k * j reduced mod n),
// not by repeated multiplication, to keep the error at a few ulps of double.
#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <string>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

using Complex = std::complex<double>;

/// The longest transform (and window) these kernels accept.
constexpr int64_t kMaxLength = int64_t{1} << 30;

/// exp(-2 pi i k / n) for 0 <= k < n.
Complex root(int64_t k, int64_t n) {
  return std::polar(1.0, -2.0 * std::numbers::pi * double(k) / double(n));
}

/// A forward DFT of one length: X[k] = sum_j x[j] exp(-2 pi i j k / n).
class FftPlan {
 public:
  explicit FftPlan(int64_t n) : n_(n) {
    if (n <= 1) {
      kind_ = Kind::kTrivial;
    } else if ((n & (n - 1)) == 0) {
      kind_ = Kind::kPow2;
      twiddle_.resize(static_cast<size_t>(n / 2));
      for (int64_t k = 0; k < n / 2; ++k) twiddle_[k] = root(k, n);
      bitrev_.resize(static_cast<size_t>(n));
      int bits = 0;
      while ((int64_t{1} << bits) < n) ++bits;
      for (int64_t i = 0; i < n; ++i) {
        int64_t r = 0;
        for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
        bitrev_[i] = r;
      }
    } else if (n <= kDirectMax) {
      kind_ = Kind::kDirect;
      twiddle_.resize(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) twiddle_[k] = root(k, n);
    } else {
      kind_ = Kind::kBluestein;
      int64_t m = 1;
      while (m < 2 * n - 1) m <<= 1;
      inner_ = std::make_unique<FftPlan>(m);
      // chirp[k] = exp(-pi i k^2 / n), with k^2 reduced mod 2n so the angle stays exact.
      chirp_.resize(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) {
        const int64_t q = (k * k) % (2 * n);  // k < n <= kMaxLength: no overflow
        chirp_[k] = std::polar(1.0, -std::numbers::pi * double(q) / double(n));
      }
      // The filter conj(chirp) laid out circularly over m points, transformed once.
      filter_.assign(static_cast<size_t>(m), Complex(0));
      for (int64_t k = 0; k < n; ++k) {
        filter_[k] = std::conj(chirp_[k]);
        if (k > 0) filter_[m - k] = std::conj(chirp_[k]);
      }
      std::vector<Complex> scratch;
      inner_->forward(filter_.data(), scratch);
    }
  }

  int64_t size() const { return n_; }

  /// Transforms data[0, n) in place; `scratch` is reused between calls by one thread.
  void forward(Complex* data, std::vector<Complex>& scratch) const {
    switch (kind_) {
      case Kind::kTrivial:
        return;
      case Kind::kPow2:
        return radix2(data);
      case Kind::kDirect: {
        scratch.assign(data, data + n_);
        for (int64_t k = 0; k < n_; ++k) {
          Complex acc(0);
          int64_t idx = 0;
          for (int64_t j = 0; j < n_; ++j) {
            acc += scratch[j] * twiddle_[idx];
            idx += k;
            if (idx >= n_) idx -= n_;
          }
          data[k] = acc;
        }
        return;
      }
      case Kind::kBluestein: {
        const int64_t m = inner_->size();
        scratch.assign(static_cast<size_t>(m), Complex(0));
        for (int64_t k = 0; k < n_; ++k) scratch[k] = data[k] * chirp_[k];
        std::vector<Complex> unused;
        inner_->forward(scratch.data(), unused);
        // Inverse transform of the product by conjugating around a forward transform.
        for (int64_t k = 0; k < m; ++k) scratch[k] = std::conj(scratch[k] * filter_[k]);
        inner_->forward(scratch.data(), unused);
        const double scale = 1.0 / double(m);
        for (int64_t k = 0; k < n_; ++k) data[k] = std::conj(scratch[k]) * scale * chirp_[k];
        return;
      }
    }
  }

 private:
  static constexpr int64_t kDirectMax = 64;
  enum class Kind { kTrivial, kPow2, kDirect, kBluestein };

  void radix2(Complex* a) const {
    for (int64_t i = 0; i < n_; ++i) {
      if (i < bitrev_[i]) std::swap(a[i], a[bitrev_[i]]);
    }
    for (int64_t len = 2; len <= n_; len <<= 1) {
      const int64_t half = len / 2, step = n_ / len;
      for (int64_t start = 0; start < n_; start += len) {
        for (int64_t j = 0; j < half; ++j) {
          const Complex t = a[start + j + half] * twiddle_[j * step];
          a[start + j + half] = a[start + j] - t;
          a[start + j] += t;
        }
      }
    }
  }

  int64_t n_;
  Kind kind_ = Kind::kTrivial;
  std::vector<Complex> twiddle_;
  std::vector<int64_t> bitrev_;
  std::unique_ptr<FftPlan> inner_;
  std::vector<Complex> chirp_, filter_;
};

/// Reads a scalar (rank 0 or one element) int32/int64 input.
StatusOr<int64_t> scalar_int(const KernelContext& ctx, size_t i, const char* name) {
  const Tensor& t = ctx.input(i);
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32) {
    return ctx.error(std::string(name) + " must be int32 or int64, got " +
                     std::string(ir::dtype_name(t.dtype())));
  }
  if (t.numel() != 1) {
    return ctx.error(std::string(name) + " must be a scalar, got shape " +
                     ir::dims_to_string(t.dims()));
  }
  return to_int64_vector(t)[0];
}

/// Reads a scalar float/double input.
StatusOr<double> scalar_float(const KernelContext& ctx, size_t i, const char* name) {
  const Tensor& t = ctx.input(i);
  if (t.numel() != 1) {
    return ctx.error(std::string(name) + " must be a scalar, got shape " +
                     ir::dims_to_string(t.dims()));
  }
  if (t.dtype() == DType::kFloat) return double(t.span<float>()[0]);
  if (t.dtype() == DType::kDouble) return t.span<double>()[0];
  return ctx.error(std::string(name) + " must be float or double, got " +
                   std::string(ir::dtype_name(t.dtype())));
}

Status check_float_input(const NodeView& view, size_t i, const char* name) {
  const DType t = view.input_dtype(i);
  if (t != DType::kUndefined && t != DType::kFloat && t != DType::kDouble) {
    return view.error(std::string(name) + " must be float or double, got " +
                      std::string(ir::dtype_name(t)));
  }
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// DFT

struct DftParams {
  int64_t axis = 1;
  bool inverse = false;
  bool onesided = false;
};

template <typename T>
Status dft_typed(KernelContext& ctx, const DftParams& p) {
  const Tensor& x = ctx.input(0);
  const int64_t rank = x.rank();
  if (rank < 2 || (x.dims().back() != 1 && x.dims().back() != 2)) {
    return ctx.error("input must have a last dimension of 1 (real) or 2 (complex), got shape " +
                     ir::dims_to_string(x.dims()));
  }
  const bool complex_in = x.dims().back() == 2;
  // The axis counts the signal dimensions only (every dimension but the last).
  COMPRESSOR_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(p.axis, rank - 1, ctx));
  const int64_t in_len = x.dims()[axis];
  int64_t n = in_len;
  if (ctx.has_input(1)) {
    COMPRESSOR_ASSIGN_OR_RETURN(n, scalar_int(ctx, 1, "dft_length"));
    if (n < 1 || n > kMaxLength) {
      return ctx.error("dft_length must be in [1, 2^30], got " + std::to_string(n));
    }
  }
  if (n < 1) return ctx.error("the DFT axis " + std::to_string(axis) + " has length 0");
  if (p.onesided && complex_in) {
    return ctx.error("onesided output needs a real input (last dimension 1)");
  }
  const int64_t out_len = p.onesided ? n / 2 + 1 : n;
  Dims out_dims = x.dims();
  out_dims[axis] = out_len;
  out_dims.back() = 2;
  Tensor y = Tensor::zeros(x.dtype(), out_dims);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dims()[d];
  for (int64_t d = axis + 1; d < rank - 1; ++d) inner *= x.dims()[d];
  if (y.numel() == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  const FftPlan plan(n);
  const T* xd = x.span<T>().data();
  T* yd = reinterpret_cast<T*>(y.mutable_data());
  const int64_t comps = complex_in ? 2 : 1, copy = std::min(in_len, n);
  const double scale = p.inverse ? 1.0 / double(n) : 1.0;
  exec::parallel_for(ctx.pool, outer * inner, std::max<int64_t>(1, 4096 / n),
                     [&](int64_t begin, int64_t end) {
                       std::vector<Complex> buf(static_cast<size_t>(n)), scratch;
                       for (int64_t line = begin; line < end; ++line) {
                         const int64_t o = line / inner, i = line % inner;
                         const T* src = xd + (o * in_len * inner + i) * comps;
                         std::fill(buf.begin(), buf.end(), Complex(0));
                         for (int64_t j = 0; j < copy; ++j) {
                           const T* e = src + j * inner * comps;
                           buf[j] = Complex(double(e[0]), complex_in ? double(e[1]) : 0.0);
                         }
                         // The inverse transform is the conjugate of the forward transform of the
                         // conjugate.
                         if (p.inverse) {
                           for (auto& v : buf) v = std::conj(v);
                         }
                         plan.forward(buf.data(), scratch);
                         T* dst = yd + (o * out_len * inner + i) * 2;
                         for (int64_t k = 0; k < out_len; ++k) {
                           const Complex v = p.inverse ? std::conj(buf[k]) * scale : buf[k];
                           dst[k * inner * 2] = static_cast<T>(v.real());
                           dst[k * inner * 2 + 1] = static_cast<T>(v.imag());
                         }
                       }
                     });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

StatusOr<std::unique_ptr<Kernel>> make_dft(const NodeView& view) {
  const ir::Node& node = view.node();
  DftParams p;
  p.axis = node.attr_int("axis", 1);
  const int64_t inverse = node.attr_int("inverse", 0);
  const int64_t onesided = node.attr_int("onesided", 0);
  if (inverse != 0 && inverse != 1) return view.error("inverse must be 0 or 1");
  if (onesided != 0 && onesided != 1) return view.error("onesided must be 0 or 1");
  p.inverse = inverse == 1;
  p.onesided = onesided == 1;
  if (p.inverse && p.onesided) {
    return view.error("onesided inverse DFT is not supported");
  }
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0, "input"));
  return make_kernel<exec::LambdaKernel>([p](KernelContext& ctx) -> Status {
    const DType t = ctx.input(0).dtype();
    if (t == DType::kFloat) return dft_typed<float>(ctx, p);
    if (t == DType::kDouble) return dft_typed<double>(ctx, p);
    return ctx.error("input must be float or double, got " + std::string(ir::dtype_name(t)));
  });
}

// ---------------------------------------------------------------------------------------------
// STFT

template <typename T>
Status stft_typed(KernelContext& ctx, bool onesided) {
  const Tensor& x = ctx.input(0);
  if (x.rank() != 3 || (x.dims()[2] != 1 && x.dims()[2] != 2)) {
    return ctx.error("signal must have shape [batch, length, 1 or 2], got " +
                     ir::dims_to_string(x.dims()));
  }
  const bool complex_in = x.dims()[2] == 2;
  if (onesided && complex_in) {
    return ctx.error("onesided output needs a real signal (last dimension 1)");
  }
  const int64_t batch = x.dims()[0], length = x.dims()[1];
  COMPRESSOR_ASSIGN_OR_RETURN(const int64_t step, scalar_int(ctx, 1, "frame_step"));
  if (step < 1) return ctx.error("frame_step must be >= 1, got " + std::to_string(step));
  const T* window = nullptr;
  int64_t frame = length;
  if (ctx.has_input(2)) {
    const Tensor& w = ctx.input(2);
    if (w.rank() != 1) {
      return ctx.error("window must be 1-D, got shape " + ir::dims_to_string(w.dims()));
    }
    if (w.dtype() != x.dtype()) return ctx.error("window must have the data type of signal");
    window = w.span<T>().data();
    frame = w.dims()[0];
  }
  if (ctx.has_input(3)) {
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t fl, scalar_int(ctx, 3, "frame_length"));
    if (window != nullptr && fl != frame) {
      return ctx.error("frame_length " + std::to_string(fl) + " differs from the window length " +
                       std::to_string(frame));
    }
    frame = fl;
  }
  if (frame < 1 || frame > kMaxLength) {
    return ctx.error("frame length must be in [1, 2^30], got " + std::to_string(frame));
  }
  const int64_t frames = length >= frame ? (length - frame) / step + 1 : 0;
  const int64_t bins = onesided ? frame / 2 + 1 : frame;
  Tensor y = Tensor::zeros(x.dtype(), {batch, frames, bins, 2});
  if (y.numel() == 0) {
    ctx.outputs[0] = std::move(y);
    return ok_status();
  }
  const FftPlan plan(frame);
  const T* xd = x.span<T>().data();
  T* yd = reinterpret_cast<T*>(y.mutable_data());
  const int64_t comps = complex_in ? 2 : 1;
  exec::parallel_for(ctx.pool, batch * frames, std::max<int64_t>(1, 4096 / frame),
                     [&](int64_t begin, int64_t end) {
                       std::vector<Complex> buf(static_cast<size_t>(frame)), scratch;
                       for (int64_t bf = begin; bf < end; ++bf) {
                         const int64_t b = bf / frames, f = bf % frames;
                         const T* src = xd + (b * length + f * step) * comps;
                         for (int64_t j = 0; j < frame; ++j) {
                           const double w = window ? double(window[j]) : 1.0;
                           const T* e = src + j * comps;
                           buf[j] = Complex(double(e[0]) * w, complex_in ? double(e[1]) * w : 0.0);
                         }
                         plan.forward(buf.data(), scratch);
                         T* dst = yd + bf * bins * 2;
                         for (int64_t k = 0; k < bins; ++k) {
                           dst[2 * k] = static_cast<T>(buf[k].real());
                           dst[2 * k + 1] = static_cast<T>(buf[k].imag());
                         }
                       }
                     });
  ctx.outputs[0] = std::move(y);
  return ok_status();
}

StatusOr<std::unique_ptr<Kernel>> make_stft(const NodeView& view) {
  const int64_t onesided = view.node().attr_int("onesided", 1);
  if (onesided != 0 && onesided != 1) return view.error("onesided must be 0 or 1");
  COMPRESSOR_RETURN_IF_ERROR(check_float_input(view, 0, "signal"));
  return make_kernel<exec::LambdaKernel>([onesided](KernelContext& ctx) -> Status {
    const DType t = ctx.input(0).dtype();
    if (t == DType::kFloat) return stft_typed<float>(ctx, onesided == 1);
    if (t == DType::kDouble) return stft_typed<double>(ctx, onesided == 1);
    return ctx.error("signal must be float or double, got " + std::string(ir::dtype_name(t)));
  });
}

// ---------------------------------------------------------------------------------------------
// Windows and the mel weight matrix

/// The output_datatype attribute, limited to float and double.
StatusOr<DType> output_datatype(const NodeView& view) {
  const int64_t v = view.node().attr_int("output_datatype", 1);
  if (v == static_cast<int64_t>(DType::kFloat)) return DType::kFloat;
  if (v == static_cast<int64_t>(DType::kDouble)) return DType::kDouble;
  return view.error("output_datatype " + std::to_string(v) +
                    " is not supported (float or double only)");
}

/// Fills a float or double tensor from doubles.
Tensor tensor_from(DType dtype, Dims dims, const std::vector<double>& v) {
  Tensor t = Tensor::zeros(dtype, std::move(dims));
  if (dtype == DType::kDouble) {
    std::copy(v.begin(), v.end(), reinterpret_cast<double*>(t.mutable_data()));
  } else {
    float* o = reinterpret_cast<float*>(t.mutable_data());
    for (size_t i = 0; i < v.size(); ++i) o[i] = static_cast<float>(v[i]);
  }
  return t;
}

/// A generalized cosine window: a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N).
struct CosineWindow {
  double a0, a1, a2;
};

StatusOr<std::unique_ptr<Kernel>> make_window(const NodeView& view, CosineWindow w) {
  const int64_t periodic = view.node().attr_int("periodic", 1);
  if (periodic != 0 && periodic != 1) return view.error("periodic must be 0 or 1");
  COMPRESSOR_ASSIGN_OR_RETURN(const DType out, output_datatype(view));
  return make_kernel<exec::LambdaKernel>([w, periodic, out](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t size, scalar_int(ctx, 0, "size"));
    if (size < 0 || size > kMaxLength) {
      return ctx.error("size must be in [0, 2^30], got " + std::to_string(size));
    }
    // A periodic window of `size` points is the start of a symmetric one of size + 1.
    const int64_t denom = std::max<int64_t>(periodic == 1 ? size : size - 1, 1);
    std::vector<double> v(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) {
      const double t = 2 * std::numbers::pi * double(i) / double(denom);
      v[i] = w.a0 - w.a1 * std::cos(t) + w.a2 * std::cos(2 * t);
    }
    ctx.outputs[0] = tensor_from(out, {size}, v);
    return ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_mel_weight_matrix(const NodeView& view) {
  COMPRESSOR_ASSIGN_OR_RETURN(const DType out, output_datatype(view));
  return make_kernel<exec::LambdaKernel>([out](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t mel_bins, scalar_int(ctx, 0, "num_mel_bins"));
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t dft_length, scalar_int(ctx, 1, "dft_length"));
    COMPRESSOR_ASSIGN_OR_RETURN(const int64_t sample_rate, scalar_int(ctx, 2, "sample_rate"));
    COMPRESSOR_ASSIGN_OR_RETURN(const double lower, scalar_float(ctx, 3, "lower_edge_hertz"));
    COMPRESSOR_ASSIGN_OR_RETURN(const double upper, scalar_float(ctx, 4, "upper_edge_hertz"));
    if (mel_bins < 0 || mel_bins > kMaxLength) {
      return ctx.error("num_mel_bins must be in [0, 2^30]");
    }
    if (dft_length < 1 || dft_length > kMaxLength) {
      return ctx.error("dft_length must be in [1, 2^30]");
    }
    if ((dft_length / 2 + 1) * mel_bins > kMaxLength) {
      return ctx.error("the mel weight matrix would have more than 2^30 elements");
    }
    if (sample_rate < 1) return ctx.error("sample_rate must be >= 1");
    if (!(lower >= 0 && lower <= upper && std::isfinite(upper))) {
      return ctx.error("need 0 <= lower_edge_hertz <= upper_edge_hertz < infinity");
    }
    const int64_t spectrum_bins = dft_length / 2 + 1;
    auto mel = [](double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); };
    const double low_mel = mel(lower);
    const double mel_step = (mel(upper) - low_mel) / double(mel_bins + 2);
    // Band edges as DFT bin numbers: mel_bins + 2 points equally spaced on the mel scale.
    std::vector<int64_t> edge(static_cast<size_t>(mel_bins + 2));
    for (int64_t i = 0; i < mel_bins + 2; ++i) {
      const double hz = 700.0 * (std::pow(10.0, (double(i) * mel_step + low_mel) / 2595.0) - 1);
      const double bin = std::floor(double(dft_length + 1) * hz / double(sample_rate));
      edge[i] = static_cast<int64_t>(std::min(bin, 0x1p52));  // far past the last bin either way
    }
    std::vector<double> m(static_cast<size_t>(spectrum_bins * mel_bins), 0.0);
    auto set = [&](int64_t bin, int64_t band, double v) {
      if (bin >= 0 && bin < spectrum_bins) m[bin * mel_bins + band] = v;
    };
    // Triangle i rises from edge[i] to 1 at edge[i + 1] and falls to 0 at edge[i + 2].
    for (int64_t i = 0; i < mel_bins; ++i) {
      const int64_t left = edge[i], center = edge[i + 1], right = edge[i + 2];
      if (center == left) {
        set(center, i, 1.0);
      } else {
        for (int64_t j = left; j <= std::min(center, spectrum_bins - 1); ++j) {
          set(j, i, double(j - left) / double(center - left));
        }
      }
      if (right > center) {
        for (int64_t j = center; j < std::min(right, spectrum_bins); ++j) {
          set(j, i, double(right - j) / double(right - center));
        }
      }
    }
    ctx.outputs[0] = tensor_from(out, {spectrum_bins, mel_bins}, m);
    return ok_status();
  });
}

}  // namespace

void register_signal_kernels(exec::KernelRegistry& r) {
  r.add("", "DFT", 17, 19, make_dft);
  r.add("", "STFT", 17, 1 << 20, make_stft);
  r.add("", "HannWindow", 17, 1 << 20, [](const NodeView& v) {
    return make_window(v, {0.5, 0.5, 0.0});
  });
  r.add("", "HammingWindow", 17, 1 << 20, [](const NodeView& v) {
    return make_window(v, {25.0 / 46.0, 21.0 / 46.0, 0.0});
  });
  r.add("", "BlackmanWindow", 17, 1 << 20, [](const NodeView& v) {
    return make_window(v, {0.42, 0.5, 0.08});
  });
  r.add("", "MelWeightMatrix", 17, 1 << 20, make_mel_weight_matrix);
}

}  // namespace compressor::kernels
