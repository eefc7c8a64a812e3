// Shared arithmetic of the quantization passes: scales and zero points from a float range, and
// weights quantized per tensor or per output channel.
#pragma once

#include <cstdint>
#include <span>

#include "compressor/ir/graph.h"
#include "compressor/ir/tensor.h"

namespace compressor::passes {

/// A weight quantized with one scale for the whole tensor.
inline constexpr int64_t kPerTensor = -1;

/// The output-channel axis of `node`'s weight where a per-channel scale is possible: 0 for
/// Conv, 1 for ConvTranspose with group 1, 1 for Gemm (0 with transB), 1 for a 2-D MatMul B;
/// kPerTensor otherwise.
int64_t weight_channel_axis(const ir::Node& node, const ir::Tensor& weight);

/// The integer type values are stored in.
enum class QType { kInt8, kUInt8 };

/// ONNX element type and name of a QType.
ir::DType qtype_dtype(QType type);

/// The integer range of a type: int8 [-128, 127], uint8 [0, 255]; with `reduce_range` one bit
/// less ([-64, 63], [0, 127]) for CPUs whose int8 dot products can overflow; with `symmetric`
/// int8 drops -128 so that the range is symmetric around the zero point.
struct QRange {
  int32_t min = 0;
  int32_t max = 0;
};
QRange qrange(QType type, bool symmetric, bool reduce_range);

/// Scale and zero point for the float range [lo, hi] (widened to include 0, so 0 is exact).
/// Symmetric: zero point at the middle of the integer range (0 for int8, 128 for uint8) and
/// scale max(|lo|, |hi|) / ((max - min) / 2); asymmetric: [lo, hi] maps onto [min, max]. A zero
/// range gives scale 1.
struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
};
QParams choose_qparams(double lo, double hi, QType type, bool symmetric, bool reduce_range);

/// round(x / scale) + zero_point, half to even, clamped to the type's full range.
int32_t quantize_value(double x, const QParams& p, QType type);

/// A quantized weight: values of the weight's dims, scale (float32) and zero point of the
/// stored type, each [channels] or a scalar. `half_scale`: every scale is a float16 value (see
/// quantize_weight's `half_scales`), so a float16 copy of `scale` holds it exactly.
struct QuantizedTensor {
  ir::Tensor values;
  ir::Tensor scale;
  ir::Tensor zero_point;
  bool half_scale = false;
};

/// Per-channel weights of at least this many channels may keep their scales as float16 (see
/// quantize_weight). With fewer, the Cast node that turns the float16 scales back into float32
/// costs about as many bytes as they save.
inline constexpr int64_t kHalfScaleMinChannels = 64;

/// Quantizes a float32 tensor with one scale per index of `axis` (or kPerTensor). `min_scale`,
/// when not empty (one value, or one per index of `axis`), is a floor for each scale: a channel
/// whose range would give a smaller scale gets its range widened to reach it (the zero point
/// keeps its place), so that, e.g., an int32 bias at input scale x weight scale stays in range.
/// `half_scales`: with at least kHalfScaleMinChannels channels on `axis`, each scale is rounded
/// up to the next float16 value and the weight quantized with those (a scale only grows, so no
/// value clips and floors still hold), when every scale stays a normal float16 number
/// (2^-14..65504); `half_scale` then says so. Opsets up to 17 give DequantizeLinear float32
/// scales only: a float16 copy read through a Cast to float32 stores them in half the bytes
/// (ONNX Runtime folds the Cast when it loads the model). Depthwise 3x3 layers hold 9 int8
/// weights per channel, so their float32 scales weigh almost half as much as the weights.
QuantizedTensor quantize_weight(const ir::Tensor& w, int64_t axis, QType type, bool symmetric,
                                bool reduce_range = false, std::span<const float> min_scale = {},
                                bool half_scales = false);

/// True when every value of the integer tensor `zero_point` is 0. DequantizeLinear may then
/// leave its x_zero_point out: it defaults to 0 of the quantized input's type, which the
/// quantized input already fixes (QuantizeLinear keeps its zero point, which fixes its output
/// type, and QLinear ops need theirs).
bool all_zero(const ir::Tensor& zero_point);

/// The float32 values a DequantizeLinear computes from `q`: (value - zero point) * scale, with
/// scale and zero point each a scalar (or one value) or one per index of `axis`.
ir::Tensor dequantize_weight(const QuantizedTensor& q, int64_t axis);

}  // namespace compressor::passes
