// Helpers for kernel tests: run a model written in ONNX text syntax through the executor, build
// small tensors and read their values back.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "compressor/exec/executor.h"
#include "compressor/ir/tensor.h"
#include "testing/test_models.h"

namespace compressor::testing {

/// Parses `text`, plans it and runs it once on `inputs`; every output, or the first error.
StatusOr<std::vector<ir::Tensor>> run_text(const std::string& text,
                                           const std::vector<exec::NamedTensor>& inputs,
                                           int threads = 1);

/// The first output of run_text.
StatusOr<ir::Tensor> run_text1(const std::string& text,
                               const std::vector<exec::NamedTensor>& inputs, int threads = 1);

/// Same as run_text for models whose inputs or outputs may be sequences or optionals.
StatusOr<std::vector<ir::Value>> run_text_values(const std::string& text,
                                                 const std::vector<exec::NamedValue>& inputs,
                                                 int threads = 1);

/// Parses and plans `text`; the planning error, or OK.
Status plan_status(const std::string& text);

/// A tensor of `dims` holding `v`.
template <typename T>
ir::Tensor make_tensor(ir::Dims dims, const std::vector<T>& v) {
  return ir::Tensor::from_values<T>(std::move(dims), std::span<const T>(v));
}

/// A bool tensor from 0/1 values.
ir::Tensor bool_tensor(ir::Dims dims, const std::vector<int>& v);

/// The elements of `t` (T must match its dtype; bool tensors read as uint8_t).
template <typename T>
std::vector<T> values_of(const ir::Tensor& t) {
  auto s = t.span<T>();
  return {s.begin(), s.end()};
}

}  // namespace compressor::testing
