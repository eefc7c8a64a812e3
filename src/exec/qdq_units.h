// QDQ Conv and MatMul node units run on integers, the way int8 runtimes run them.
#pragma once

#include <cstddef>

#include "compressor/ir/graph.h"

namespace compressor::exec {

/// Rewrites each QDQ node unit of `graph` into the QLinear op on the quantized values, and removes
/// the units' DequantizeLinear nodes left unread:
/// - DequantizeLinear(x) -> Conv(x, DequantizeLinear(w), DequantizeLinear(b)) -> QuantizeLinear,
///   with an optional Relu before the QuantizeLinear when its zero point is the type's minimum
///   (where the QuantizeLinear clips what the Relu would), becomes one QLinearConv;
/// - DequantizeLinear(a) -> MatMul(a, DequantizeLinear(b)) -> QuantizeLinear becomes one
///   QLinearMatMul.
/// The sums are then exact integers with one rescale per output, as ONNX Runtime computes the unit
/// after its QDQ fusion, instead of float sums of dequantized values, whose rounding decides
/// values that fall on a rounding boundary of the QuantizeLinear. Only units that mean the same
/// either way are rewritten: per-tensor x (a) and y parameters; constant int8/uint8 weights per
/// tensor or per output channel (Conv: rank 4, axis 0; MatMul: [K, N], axis 1) or, for MatMul, a
/// per-tensor activation b; a Conv bias of int32 whose scale is x scale x weight scale; and a
/// layer output read by the unit alone. `graph` must be the executor's own copy. Returns how many
/// units were rewritten. Casts of constant float16 tensors to float32 (float16 weight scales) are
/// folded into float32 initializers first, as ONNX Runtime folds them.
size_t fuse_qdq_units(ir::Graph& graph);

}  // namespace compressor::exec
