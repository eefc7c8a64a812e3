// Low-rank approximation of weight matrices for factorize-svd: truncated SVD (exact with Eigen's
// BDCSVD, or randomized for large matrices), data-aware whitening by the Cholesky factor of the
// layer-input Gram matrix (as in SVD-LLM), and the rank policies of the pass.
//
// Conventions: a weight is a matrix W [m, n] with one row per input (m) and one column per output
// (n), so a layer computes y = x W for an input row x. A rank-r factorization is W ≈ A B with
// A [m, r] and B [r, n]; both factors carry sqrt of the singular values.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <optional>

#include "compressor/core/status.h"

namespace compressor::passes::low_rank {

enum class SvdMethod {
  kExact,       ///< Eigen::BDCSVD, thin, in double precision.
  kRandomized,  ///< Halko, Martinsson & Tropp: range sketch with power iterations.
};

/// A (possibly truncated) singular value decomposition M ≈ U diag(s) Vᵀ.
struct Svd {
  Eigen::MatrixXd u;  ///< [rows, k], orthonormal columns.
  Eigen::VectorXd s;  ///< [k], descending, >= 0.
  Eigen::MatrixXd v;  ///< [cols, k], orthonormal columns.
  /// Σ of all squared singular values of M (its squared Frobenius norm), also when only k of
  /// them were computed, so kept-energy fractions are exact for both methods.
  double total_energy = 0;
};

struct SvdOptions {
  SvdMethod method = SvdMethod::kExact;
  /// Randomized only: singular triplets wanted (k = min(rank + oversampling, min(rows, cols))).
  int64_t rank = 0;
  int64_t oversampling = 10;
  int64_t power_iterations = 2;
  uint64_t seed = 0;  ///< The Gaussian sketch's seed (the result depends only on M and options).
};

/// The SVD of `m`. Exact: every min(rows, cols) triplet. Randomized: k triplets (see SvdOptions),
/// falling back to exact when k would be at least min(rows, cols) / 2 (no speed to gain; the
/// leading k exact triplets are returned then, so a randomized SVD always has k). Signs are
/// fixed so that the largest |entry| of every column of u is positive: the result depends only on
/// the matrix. A matrix with NaN or infinite entries, or a decomposition that fails, is an error.
StatusOr<Svd> svd(const Eigen::Ref<const Eigen::MatrixXd>& m, const SvdOptions& options);

/// The fewest leading singular values of `svd` whose squares sum to at least `fraction` of
/// svd.total_energy (at most svd.s.size()).
int64_t rank_for_energy(const Svd& svd, double fraction);

/// Σ of the first r squared singular values / total_energy (1 for a zero matrix).
double energy_kept(const Svd& svd, int64_t r);

/// `r` rounded to a multiple of `round_to` (>= 1), to the nearest one, never below round_to
/// nor above `limit`; r itself when round_to <= 1.
int64_t round_rank(int64_t r, int64_t round_to, int64_t limit);

/// The whitening of a layer input with Gram matrix G = Σ x xᵀ [m, m]: the lower Cholesky factor L
/// of G + λ I, λ = damping · mean(diag G) (raised tenfold until the factorization succeeds, so
/// dead inputs are fine). Then ||x W - x W'||² summed over the samples is ||Lᵀ (W - W')||_F².
struct Whitening {
  Eigen::MatrixXd l;  ///< [m, m] lower triangular.
  double lambda = 0;  ///< The damping added to the diagonal.
};
StatusOr<Whitening> whitening(const Eigen::Ref<const Eigen::MatrixXd>& gram, double damping = 1e-6);

/// The two factors of a rank-r approximation of W [m, n].
struct Factors {
  Eigen::MatrixXd a;       ///< [m, r]
  Eigen::MatrixXd b;       ///< [r, n]
  double energy_kept = 1;  ///< Of the decomposed matrix (W, or Lᵀ W when whitened).
};

/// Plain: W ≈ U_r S_r V_rᵀ with A = U_r sqrt(S_r), B = sqrt(S_r) V_rᵀ, from `svd` = SVD of W.
/// r is clamped to [1, svd.s.size()].
Factors plain_factors(const Svd& svd, int64_t r);

/// Data-aware: from `svd` = SVD of Lᵀ W, the rank-r W' minimising ||Lᵀ (W - W')||_F (the output
/// error on the calibration inputs): A = L⁻ᵀ U_r sqrt(S_r), B = sqrt(S_r) V_rᵀ. r is clamped as in
/// plain_factors; w.l must be [m, m] with m = svd.u.rows() (the Whitening that made Lᵀ W).
Factors whitened_factors(const Svd& svd, const Whitening& w, int64_t r);

}  // namespace compressor::passes::low_rank
