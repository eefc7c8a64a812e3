#include "quant_util.h"

#include <Eigen/Core>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace compressor::passes {

int64_t weight_channel_axis(const ir::Node& node, const ir::Tensor& weight) {
  const int64_t rank = weight.rank();
  if (node.op_type == "Conv") return rank >= 1 ? 0 : kPerTensor;
  if (node.op_type == "ConvTranspose") {
    return rank >= 2 && node.attr_int("group", 1) == 1 ? 1 : kPerTensor;
  }
  if (node.op_type == "Gemm") {
    if (rank != 2) return kPerTensor;
    return node.attr_int("transB", 0) != 0 ? 0 : 1;
  }
  return rank == 2 ? 1 : kPerTensor;  // MatMul: B is [K, N]
}

ir::DType qtype_dtype(QType type) {
  return type == QType::kInt8 ? ir::DType::kInt8 : ir::DType::kUInt8;
}

QRange qrange(QType type, bool symmetric, bool reduce_range) {
  QRange r = type == QType::kInt8 ? QRange{-128, 127} : QRange{0, 255};
  if (reduce_range) r = type == QType::kInt8 ? QRange{-64, 63} : QRange{0, 127};
  if (symmetric && type == QType::kInt8) r.min = -r.max;
  return r;
}

QParams choose_qparams(double lo, double hi, QType type, bool symmetric, bool reduce_range) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  const QRange r = qrange(type, symmetric, reduce_range);
  QParams p;
  double scale = 0;
  if (symmetric) {
    scale = std::max(-lo, hi) / ((double(r.max) - double(r.min)) / 2.0);
  } else {
    scale = (hi - lo) / (double(r.max) - double(r.min));
  }
  const float s = static_cast<float>(scale);
  if (!(s > 0.0f) || !std::isfinite(s)) return p;  // zero range: scale 1, zero point 0
  p.scale = s;
  if (symmetric) {
    p.zero_point = type == QType::kInt8 ? 0 : (r.min + r.max + 1) / 2;
  } else {
    p.zero_point = static_cast<int32_t>(
        std::clamp(std::nearbyint(double(r.min) - lo / double(s)), double(r.min), double(r.max)));
  }
  return p;
}

int32_t quantize_value(double x, const QParams& p, QType type) {
  const double lo = type == QType::kInt8 ? -128.0 : 0.0;
  const double hi = type == QType::kInt8 ? 127.0 : 255.0;
  return static_cast<int32_t>(std::clamp(std::nearbyint(x / p.scale) + p.zero_point, lo, hi));
}

namespace {

// The least float16 value at or above `s`, as a float, or 0 when that is not a normal float16
// number (below 2^-14, past 65504, or not finite).
float half_at_least(float s) {
  if (!(s >= std::ldexp(1.0f, -14) && s <= 65504.0f)) return 0.0f;
  Eigen::half h(s);  // nearest
  if (static_cast<float>(h) < s)
    h = std::bit_cast<Eigen::half>(uint16_t(std::bit_cast<uint16_t>(h) + 1));
  const float up = static_cast<float>(h);
  return up <= 65504.0f ? up : 0.0f;
}

}  // namespace

QuantizedTensor quantize_weight(const ir::Tensor& w, int64_t axis, QType type, bool symmetric,
                                bool reduce_range, std::span<const float> min_scale,
                                bool half_scales) {
  // The weight as [outer, channels, inner]: each (outer, channel) pair is a contiguous run.
  const auto& dims = w.dims();
  const size_t channels = axis == kPerTensor ? 1 : static_cast<size_t>(dims[size_t(axis)]);
  size_t inner = static_cast<size_t>(w.numel());
  if (axis != kPerTensor) {
    inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= size_t(dims[d]);
  }
  const auto src = w.span<float>();
  const size_t runs = inner == 0 ? 0 : src.size() / inner;  // outer * channels

  std::vector<float> lo(channels, 0.0f), hi(channels, 0.0f);
  for (size_t r = 0; r < runs; ++r) {
    const size_t c = r % channels;
    const auto [mn, mx] =
        std::minmax_element(src.begin() + r * inner, src.begin() + (r + 1) * inner);
    lo[c] = std::min(lo[c], *mn);
    hi[c] = std::max(hi[c], *mx);
  }

  const ir::Dims param_dims =
      axis == kPerTensor ? ir::Dims{} : ir::Dims{static_cast<int64_t>(channels)};
  const ir::DType stored = qtype_dtype(type);
  QuantizedTensor q{ir::Tensor::uninitialized(stored, dims),
                    ir::Tensor::uninitialized(ir::DType::kFloat, param_dims),
                    ir::Tensor::uninitialized(stored, param_dims)};
  std::vector<QParams> params(channels);
  auto scale = q.scale.mutable_span<float>();
  for (size_t c = 0; c < channels; ++c) {
    params[c] = choose_qparams(lo[c], hi[c], type, symmetric, reduce_range);
    const float least = min_scale.empty() ? 0.0f : min_scale[min_scale.size() == 1 ? 0 : c];
    if (params[c].scale < least && std::isfinite(least)) {
      // Widen the range by the ratio of the scales; a zero range widens to [-1, 1] first.
      double l = lo[c], h = hi[c];
      if (!(h - l > 0.0)) l = -1.0, h = 1.0;
      const QParams unit = choose_qparams(l, h, type, symmetric, reduce_range);
      const double f = double(least) / double(unit.scale);
      params[c] = choose_qparams(l * f, h * f, type, symmetric, reduce_range);
      // The widened range may round a hair below the floor in float32.
      if (params[c].scale < least) params[c].scale = least;
    }
    scale[c] = params[c].scale;
  }
  if (half_scales && axis != kPerTensor && int64_t(channels) >= kHalfScaleMinChannels) {
    std::vector<float> up(channels);
    for (size_t c = 0; c < channels; ++c) up[c] = half_at_least(scale[c]);
    if (std::all_of(up.begin(), up.end(), [](float s) { return s > 0.0f; })) {
      for (size_t c = 0; c < channels; ++c) params[c].scale = scale[c] = up[c];
      q.half_scale = true;
    }
  }
  const QRange r = qrange(type, symmetric, reduce_range);
  auto store = [&](auto tag) {
    using T = decltype(tag);
    auto zero = q.zero_point.mutable_span<T>();
    for (size_t c = 0; c < channels; ++c) zero[c] = static_cast<T>(params[c].zero_point);
    auto dst = q.values.mutable_span<T>();
    for (size_t run = 0; run < runs; ++run) {
      const QParams& p = params[run % channels];
      const double s = p.scale, z = p.zero_point;
      for (size_t i = run * inner; i < (run + 1) * inner; ++i) {
        dst[i] = static_cast<T>(
            std::clamp(std::nearbyint(double(src[i]) / s) + z, double(r.min), double(r.max)));
      }
    }
  };
  if (type == QType::kInt8) {
    store(int8_t{});
  } else {
    store(uint8_t{});
  }
  return q;
}

bool all_zero(const ir::Tensor& zero_point) {
  switch (zero_point.dtype()) {
    case ir::DType::kInt8: {
      const auto v = zero_point.span<int8_t>();
      return std::all_of(v.begin(), v.end(), [](int8_t z) { return z == 0; });
    }
    case ir::DType::kUInt8: {
      const auto v = zero_point.span<uint8_t>();
      return std::all_of(v.begin(), v.end(), [](uint8_t z) { return z == 0; });
    }
    case ir::DType::kInt32: {
      const auto v = zero_point.span<int32_t>();
      return std::all_of(v.begin(), v.end(), [](int32_t z) { return z == 0; });
    }
    default:
      return false;
  }
}

ir::Tensor dequantize_weight(const QuantizedTensor& q, int64_t axis) {
  const auto& dims = q.values.dims();
  const auto scale = q.scale.span<float>();
  const size_t channels = scale.size();
  size_t inner = static_cast<size_t>(q.values.numel());
  if (channels > 1) {
    inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= size_t(dims[d]);
  }
  ir::Tensor out = ir::Tensor::uninitialized(ir::DType::kFloat, dims);
  auto dst = out.mutable_span<float>();
  auto load = [&](auto tag) {
    using T = decltype(tag);
    const auto v = q.values.span<T>();
    const auto zero = q.zero_point.span<T>();
    for (size_t i = 0; i < v.size(); ++i) {
      const size_t c = channels > 1 ? (i / inner) % channels : 0;
      const int32_t z = zero.size() > 1 ? int32_t(zero[c]) : int32_t(zero[0]);
      // As DequantizeLinear computes it: the integer difference times the float32 scale.
      dst[i] = static_cast<float>(int32_t(v[i]) - z) * scale[c];
    }
  };
  if (q.values.dtype() == ir::DType::kInt8) {
    load(int8_t{});
  } else {
    load(uint8_t{});
  }
  return out;
}

}  // namespace compressor::passes
