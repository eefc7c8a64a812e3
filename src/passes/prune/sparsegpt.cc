// SparseGPT's pruning step on one weight matrix.
//
// With H the (dampened) Gram matrix of the layer inputs and U the upper Cholesky factor of H^-1
// (H^-1 = U^T U), row j of U is row j of the inverse Hessian that remains once the columns
// before j are fixed, scaled by 1 / sqrt of its diagonal. Removing weight w_j of a row (the
// optimal brain surgeon step) then costs w_j^2 / U_jj^2 and moves the row's later weights by
// -(w_j / U_jj) U_j,j: . Columns are walked in blocks: the block's mask is chosen at its start
// from the saliencies of every row's weights in the block together, as the paper's adaptive mask
// selection does (N:M masks per row at the start of each group, from the weights as updated so
// far),
// updates inside the block are applied column by column, and the accumulated errors reach the
// columns after the block in one GEMM (the paper's lazy batch updates).
#include "sparsegpt.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

namespace compressor::passes {
namespace {

using Matrix = Eigen::MatrixXd;
using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int kDampRetries = 3;  // each multiplies the damping by 10

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// U with (H + lambda I)^-1 = U^T U, growing the damping when a factorization fails.
StatusOr<Matrix> inverse_upper_factor(const Matrix& h, double damp) {
  const Eigen::Index n = h.rows();
  const double mean = h.diagonal().mean();
  double fraction = damp;
  for (int attempt = 0; attempt <= kDampRetries; ++attempt) {
    if (attempt > 0) fraction = std::max(fraction, 1e-4) * 10;
    // With P the reversal permutation, P H P = L L^T gives H = V V^T with V = P L P upper, so
    // H^-1 = V^-T V^-1 and U = V^-1: one Cholesky and one triangular inverse, no H^-1.
    Matrix reversed = h.reverse();
    reversed.diagonal().array() += fraction * mean;
    Eigen::LLT<Matrix> llt(reversed);
    if (llt.info() != Eigen::Success) continue;
    const Matrix v = Matrix(llt.matrixL()).reverse();
    Matrix u = v.triangularView<Eigen::Upper>().solve(Matrix::Identity(n, n));
    u.triangularView<Eigen::StrictlyLower>().setZero();
    if (!u.allFinite() || (u.diagonal().array() <= 0).any()) continue;
    return u;
  }
  return invalid_argument("SparseGPT: the Gram matrix is not positive definite even with " +
                          number(fraction) + " x its mean diagonal added");
}

/// Marks in `mask` (per column offset from `first`) the `count` columns of `first..first+len)
/// with the smallest saliency w^2 / U_jj^2 in row `r` of `w`; ties go to the lower column.
void mask_smallest(const Matrix& w, Eigen::Index r, const Matrix& u, Eigen::Index first,
                   Eigen::Index len, Eigen::Index count, std::vector<size_t>& order,
                   std::vector<double>& saliency, uint8_t* mask) {
  order.resize(static_cast<size_t>(len));
  saliency.resize(static_cast<size_t>(len));
  for (Eigen::Index c = 0; c < len; ++c) {
    const double d = u(first + c, first + c);
    saliency[static_cast<size_t>(c)] = w(r, first + c) * w(r, first + c) / (d * d);
  }
  std::iota(order.begin(), order.end(), size_t{0});
  const auto less = [&](size_t a, size_t b) {
    return saliency[a] < saliency[b] || (saliency[a] == saliency[b] && a < b);
  };
  std::nth_element(order.begin(), order.begin() + count, order.end(), less);
  for (Eigen::Index k = 0; k < count; ++k) mask[order[static_cast<size_t>(k)]] = 1;
}

/// Marks in `mask` (rows x block, row-major) the `count` weights of columns first..first+len)
/// over every row with the smallest saliency; ties go to the lower row, then the lower column.
void mask_smallest_block(const Matrix& w, const Matrix& u, Eigen::Index first, Eigen::Index len,
                         Eigen::Index block, Eigen::Index count, std::vector<size_t>& order,
                         std::vector<double>& saliency, uint8_t* mask) {
  const Eigen::Index rows = w.rows();
  const auto n = static_cast<size_t>(rows * len);
  order.resize(n);
  saliency.resize(n);
  for (Eigen::Index r = 0; r < rows; ++r) {
    for (Eigen::Index c = 0; c < len; ++c) {
      const double d = u(first + c, first + c);
      saliency[static_cast<size_t>(r * len + c)] = w(r, first + c) * w(r, first + c) / (d * d);
    }
  }
  std::iota(order.begin(), order.end(), size_t{0});
  const auto less = [&](size_t a, size_t b) {
    return saliency[a] < saliency[b] || (saliency[a] == saliency[b] && a < b);
  };
  std::nth_element(order.begin(), order.begin() + count, order.end(), less);
  for (Eigen::Index k = 0; k < count; ++k) {
    const auto i = static_cast<Eigen::Index>(order[static_cast<size_t>(k)]);
    mask[static_cast<size_t>(i / len * block + i % len)] = 1;
  }
}

/// Prunes the rows of `w` (a tile, updated in place).
void prune_rows(Matrix& w, const Matrix& u, const SparseGptOptions& o, Eigen::Index block) {
  const Eigen::Index rows = w.rows(), cols = w.cols();
  std::vector<size_t> order;
  std::vector<double> saliency;
  // mask: rows x block, row-major, 1 = prune.
  std::vector<uint8_t> mask(static_cast<size_t>(rows * block));
  Matrix err(rows, block);
  // Zeros over every row in the first c columns: round(sparsity x rows x c).
  const auto zeros_before = [&](Eigen::Index c) {
    return static_cast<Eigen::Index>(
        std::llround(o.sparsity * static_cast<double>(rows) * static_cast<double>(c)));
  };
  for (Eigen::Index i1 = 0; i1 < cols; i1 += block) {
    const Eigen::Index i2 = std::min(i1 + block, cols), count = i2 - i1;
    std::fill(mask.begin(), mask.end(), uint8_t{0});
    if (o.m == 0) {
      const Eigen::Index prune = zeros_before(i2) - zeros_before(i1);
      if (prune > 0) {
        mask_smallest_block(w, u, i1, count, block, prune, order, saliency, mask.data());
      }
    }
    for (Eigen::Index j = 0; j < count; ++j) {
      const Eigen::Index col = i1 + j;
      if (o.m > 0 && col % o.m == 0) {
        for (Eigen::Index r = 0; r < rows; ++r) {
          mask_smallest(w, r, u, col, o.m, o.m - o.n, order, saliency, &mask[r * block + j]);
        }
      }
      const double d = u(col, col);
      for (Eigen::Index r = 0; r < rows; ++r) {
        err(r, j) = mask[r * block + j] ? w(r, col) / d : 0.0;
      }
      w.middleCols(col, i2 - col).noalias() -= err.col(j) * u.row(col).segment(col, i2 - col);
      for (Eigen::Index r = 0; r < rows; ++r) {
        if (mask[r * block + j]) w(r, col) = 0.0;
      }
    }
    if (i2 < cols) {
      w.rightCols(cols - i2).noalias() -= err.leftCols(count) * u.block(i1, i2, count, cols - i2);
    }
  }
}

}  // namespace

Status sparsegpt_prune(float* w, size_t rows, size_t cols, const double* gram,
                       const SparseGptOptions& o) {
  if (o.m < 0 || (o.m > 0 && (o.n < 1 || o.n > o.m))) {
    return invalid_argument("SparseGPT: N:M needs 1 <= n <= m (got " + std::to_string(o.n) + ":" +
                            std::to_string(o.m) + ")");
  }
  if (o.m == 0 && !(o.sparsity >= 0 && o.sparsity <= 1)) {
    return invalid_argument("SparseGPT: sparsity " + number(o.sparsity) + " is outside [0, 1]");
  }
  if (!(o.damp >= 0) || !std::isfinite(o.damp)) {
    return invalid_argument("SparseGPT: damp " + number(o.damp) + " is not a number >= 0");
  }
  if (o.block == 0) return invalid_argument("SparseGPT: block must be >= 1");
  if (o.m > 0 && cols % static_cast<size_t>(o.m) != 0) {
    return invalid_argument("SparseGPT: " + std::to_string(cols) +
                            " columns are not a multiple of " + std::to_string(o.m) +
                            " (N:M groups)");
  }
  if (rows == 0 || cols == 0) return ok_status();
  if (w == nullptr || gram == nullptr) return invalid_argument("SparseGPT: no weights or Gram");
  const auto n = static_cast<Eigen::Index>(cols);
  const auto r = static_cast<Eigen::Index>(rows);
  Eigen::Map<RowMajorF> weights(w, r, n);
  if (!weights.allFinite()) return invalid_argument("SparseGPT: the weights are not all finite");
  Matrix h = Eigen::Map<const RowMajorD>(gram, n, n);
  if (!h.allFinite()) return invalid_argument("SparseGPT: the Gram matrix is not all finite");
  std::vector<Eigen::Index> dead;
  for (Eigen::Index j = 0; j < n; ++j) {
    if (h(j, j) < 0) {
      return invalid_argument("SparseGPT: the Gram matrix has a negative diagonal entry (column " +
                              std::to_string(j) + ")");
    }
    if (h(j, j) == 0) {
      dead.push_back(j);
      h(j, j) = 1;
    }
  }
  COMPRESSOR_ASSIGN_OR_RETURN(const Matrix u, inverse_upper_factor(h, o.damp));
  auto block = static_cast<Eigen::Index>(std::min(o.block, cols));
  if (o.m > 0) block = std::max<Eigen::Index>(o.m, block / o.m * o.m);
  // Every row at once: a block's mask is chosen over all of them.
  Matrix all = weights.cast<double>();
  for (Eigen::Index j : dead) all.col(j).setZero();
  prune_rows(all, u, o, block);
  weights = all.cast<float>();
  return ok_status();
}

}  // namespace compressor::passes
