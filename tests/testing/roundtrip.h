// Lossless round-trip comparison of an original ONNX file and what we wrote for it.
#pragma once

#include <string>

namespace compressor::testing {

/// Loads `path`, saves it to a temporary folder without any pass and compares the two files:
/// same nodes in the same order, attributes, inputs, outputs, value_info, opset imports,
/// functions, metadata and other model fields, and bitwise-equal initializers.
/// Returns "" when they match, else what differs.
std::string roundtrip_difference(const std::string& path);

}  // namespace compressor::testing
