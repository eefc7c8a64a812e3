// SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned in
// One-Shot", 2023): prunes a weight matrix to a given sparsity or N:M pattern while updating the
// weights that remain so that the layer's output on the calibration inputs changes as little as
// possible, using the Gram matrix H = sum x x^T of those inputs (CalibrationTable::grams).
#pragma once

#include <cstddef>

#include "compressor/core/status.h"

namespace compressor::passes {

struct SparseGptOptions {
  /// Fraction of the weights set to zero (unstructured), in [0, 1]. Each block of columns is
  /// masked over all rows together (the paper's adaptive mask selection: rows that matter less
  /// give more), and at each block boundary c the first c columns hold round(sparsity x rows x c)
  /// zeros, so every block carries its share and the matrix exactly round(sparsity x rows x cols).
  double sparsity = 0.5;
  /// N:M when m > 0: in every group of m consecutive columns (from column 0), each row keeps
  /// the n weights of largest saliency (1 <= n <= m); `sparsity` is then ignored.
  int n = 0, m = 0;
  /// Dampening: this fraction of the mean of diag(H) is added to the diagonal, >= 0.
  double damp = 0.01;
  /// Columns per block (the mask of a block is chosen at its start; updates to later columns
  /// are applied once per block). With N:M it is rounded down to a multiple of m (at least m).
  size_t block = 128;
};

/// Prunes `w` (row-major, `rows` outputs x `cols` reduction inputs, updated in place) with the
/// Gram matrix `gram` of its inputs (cols x cols, row-major, symmetric). Inputs that never
/// fire (H_jj == 0) get their weights zeroed. Within each block of columns, the mask is chosen
/// over every row by the saliency w^2 / U_jj^2 (U: the upper Cholesky factor of the dampened
/// H^-1; ties: lower row, then lower column);
/// then each column in turn has its masked weights zeroed and the error w / U_jj propagated to
/// the columns after it along row j of U. The result is deterministic.
/// When H + damping is not positive definite the damping grows tenfold, up to three times.
/// Errors (kInvalidArgument): options out of range, cols not a multiple of m, a null buffer,
/// weights or Gram entries that are not finite, a negative diagonal, a Gram that stays
/// indefinite.
Status sparsegpt_prune(float* w, size_t rows, size_t cols, const double* gram,
                       const SparseGptOptions& options);

}  // namespace compressor::passes
