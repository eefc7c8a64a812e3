// QDQ Conv node units run on integers, the way int8 runtimes run them.
#pragma once

#include <cstddef>

#include "compressor/ir/graph.h"

namespace compressor::exec {

/// Rewrites each QDQ Conv node unit of `graph` -- DequantizeLinear(x) -> Conv(x,
/// DequantizeLinear(w), DequantizeLinear(b)) -> QuantizeLinear, with an optional Relu before the
/// QuantizeLinear when its zero point is the type's minimum (where the QuantizeLinear clips what
/// the Relu would) -- into one QLinearConv on the quantized values, and removes the units'
/// DequantizeLinear nodes left unread. The sums are then exact integers with one rescale per
/// output, as ONNX Runtime computes the unit after its QDQ fusion, instead of float sums of
/// dequantized values, whose rounding decides values that fall on a rounding boundary of the
/// QuantizeLinear. Only units that mean the same either way are rewritten: per-tensor x and y
/// parameters, constant int8/uint8 rank-4 weights per tensor or per output channel, an int32 bias
/// whose scale is x scale x weight scale, and a Conv output read by the unit alone. `graph` must be
/// the executor's own copy. Returns how many units were rewritten.
size_t fuse_qdq_conv_units(ir::Graph& graph);

}  // namespace compressor::exec
