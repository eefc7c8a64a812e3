// Gram matrices of layer inputs (GramRequest): what calibrate() accumulates for SparseGPT.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/model.h"
#include "compressor/pass/calibration.h"

namespace compressor::pass {

/// Sums x x^T over the rows x a Conv, Gemm or MatMul reduces against its weight (see LayerGram),
/// one value of the layer's input at a time. Only the lower triangles are accumulated; result()
/// fills in the rest.
class GramAccumulator {
 public:
  /// Resolves `layer` (a node label) in `graph`; errors name the layer: no such node, an op
  /// other than Conv, Gemm or MatMul, a weight that is not a float initializer of the expected
  /// rank, attributes we cannot follow.
  static StatusOr<GramAccumulator> create(const ir::Graph& graph, const std::string& layer);

  /// The value whose rows are summed (the layer's first input).
  const std::string& input() const { return input_; }
  /// Adds one value of the input; shapes that do not match the weight, a dtype other than
  /// float32 and values that are not finite are errors naming the layer and `sample`.
  Status observe(const ir::Tensor& value, size_t sample);
  LayerGram result() const;

 private:
  enum class Kind { kMatMul, kGemm, kConv };

  Status fail(const std::string& what, size_t sample) const;
  /// Adds the columns of `block` (K x n, one x per column) to group g's Gram.
  void add(size_t g, const Eigen::Ref<const Eigen::MatrixXd>& block);
  Status observe_conv(const ir::Tensor& value, size_t sample);

  std::string layer_;
  std::string input_;
  Kind kind_ = Kind::kMatMul;
  size_t size_ = 0;  ///< K
  size_t groups_ = 1;
  bool trans_a_ = false;
  // Conv attributes, as written on the node (empty: default).
  std::vector<int64_t> kernel_, strides_, pads_, dilations_;
  std::string auto_pad_;
  uint64_t rows_ = 0;
  std::vector<Eigen::MatrixXd> grams_;  ///< Lower triangles, one per group.
  Eigen::MatrixXd block_;               ///< Scratch: K x (rows per block).
};

}  // namespace compressor::pass
