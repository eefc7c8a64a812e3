// Eigen views over Tensor bytes (no copies). Only kernels and passes include this header.
#pragma once

#include <Eigen/Core>

#include "compressor/ir/tensor.h"

namespace compressor::ir {

template <typename T>
using ConstVectorMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using VectorMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstMatrixMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <typename T>
using MatrixMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

/// All elements as a 1-D array view.
template <typename T>
ConstVectorMap<T> flat(const Tensor& t) {
  return ConstVectorMap<T>(reinterpret_cast<const T*>(t.data()), t.numel());
}
template <typename T>
VectorMap<T> mutable_flat(Tensor& t) {
  return VectorMap<T>(reinterpret_cast<T*>(t.mutable_data()), t.numel());
}

/// A row-major rows x cols view; rows * cols must equal numel().
template <typename T>
ConstMatrixMap<T> matrix(const Tensor& t, int64_t rows, int64_t cols) {
  return ConstMatrixMap<T>(reinterpret_cast<const T*>(t.data()), rows, cols);
}
template <typename T>
MatrixMap<T> mutable_matrix(Tensor& t, int64_t rows, int64_t cols) {
  return MatrixMap<T>(reinterpret_cast<T*>(t.mutable_data()), rows, cols);
}

}  // namespace compressor::ir
