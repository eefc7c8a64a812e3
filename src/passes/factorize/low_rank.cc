// Low-rank approximation for factorize-svd: exact and randomized truncated SVD, whitening by the
// Cholesky factor of the layer-input Gram matrix, and the rank policies.
//
// Randomized SVD (Halko, Martinsson & Tropp 2011, algorithms 4.4 and 5.1): with a Gaussian sketch
// Ω [cols, k], the range of Y = M Ω captures the leading left singular subspace of M; q power
// iterations (M Mᵀ)^q M Ω sharpen it when the spectrum decays slowly, each step re-orthonormalised
// so that small singular directions are not lost to rounding. With Q an orthonormal basis of that
// range, M ≈ Q Qᵀ M = Q B, and the SVD of the small B = Qᵀ M [k, cols] gives M's leading triplets.
// B is wide, so its SVD is taken through a QR of Bᵀ = Q₂ R: the SVD of the square R costs a
// fraction of a bidiagonalisation of B itself.
#include "low_rank.h"

#include <Eigen/Cholesky>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <random>
#include <string>

namespace compressor::passes::low_rank {
namespace {

using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;

constexpr int kWhiteningRetries = 12;  // each multiplies the damping by 10
/// Energy fractions are met up to this share of the total: Σ s² of a decomposition and the
/// squared Frobenius norm differ by rounding, and fraction 1 must not count singular values
/// that only hold rounding noise.
constexpr double kEnergyTolerance = 1e-12;

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// Standard normal numbers from a 64-bit Mersenne twister by the Box–Muller transform, so that
/// the sketch is the same on every standard library (std::normal_distribution's algorithm is not
/// specified).
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : gen_(seed) {}

  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    // u1 in (0, 1] (log is finite), u2 in [0, 1), both with 53 random bits.
    const double u1 = 1.0 - static_cast<double>(gen_() >> 11) * 0x1.0p-53;
    const double u2 = static_cast<double>(gen_() >> 11) * 0x1.0p-53;
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  std::mt19937_64 gen_;
  double spare_ = 0;
  bool has_spare_ = false;
};

/// Overwrites `y` [rows, k] (rows >= k) by an orthonormal basis of its column space: the thin Q
/// of its Householder QR.
void orthonormalize(Matrix& y) {
  const Eigen::Index rows = y.rows(), k = y.cols();
  const Eigen::HouseholderQR<Matrix> qr(y);
  y.noalias() = qr.householderQ() * Matrix::Identity(rows, k);
}

/// Makes the largest |entry| of every column of u positive (the first such entry on ties),
/// flipping the matching column of v with it.
void fix_signs(Svd& svd) {
  for (Eigen::Index j = 0; j < svd.u.cols(); ++j) {
    Eigen::Index best = 0;
    double best_abs = -1;
    for (Eigen::Index i = 0; i < svd.u.rows(); ++i) {
      const double a = std::abs(svd.u(i, j));
      if (a > best_abs) {
        best_abs = a;
        best = i;
      }
    }
    if (svd.u.rows() > 0 && svd.u(best, j) < 0) {
      svd.u.col(j) *= -1;
      svd.v.col(j) *= -1;
    }
  }
}

StatusOr<Svd> exact_svd(const Eigen::Ref<const Matrix>& m) {
  Eigen::BDCSVD<Matrix> bdc(m, Eigen::ComputeThinU | Eigen::ComputeThinV);
  if (bdc.info() != Eigen::Success) {
    return internal_error("SVD: the decomposition of a " + std::to_string(m.rows()) + "x" +
                          std::to_string(m.cols()) + " matrix did not converge");
  }
  Svd out;
  out.u = bdc.matrixU();
  out.s = bdc.singularValues();
  out.v = bdc.matrixV();
  return out;
}

StatusOr<Svd> randomized_svd(const Eigen::Ref<const Matrix>& m, Eigen::Index k,
                             int64_t power_iterations, uint64_t seed) {
  const Eigen::Index rows = m.rows(), cols = m.cols();
  Matrix omega(cols, k);
  Gaussian gaussian(seed);
  for (Eigen::Index j = 0; j < k; ++j) {
    for (Eigen::Index i = 0; i < cols; ++i) omega(i, j) = gaussian.next();
  }
  Matrix q(rows, k);
  q.noalias() = m * omega;
  orthonormalize(q);
  Matrix z(cols, k);  // Mᵀ Q: a power iteration's half step, and at the end Bᵀ
  for (int64_t it = 0; it < power_iterations; ++it) {
    z.noalias() = m.transpose() * q;
    orthonormalize(z);
    q.noalias() = m * z;
    orthonormalize(q);
  }
  z.noalias() = m.transpose() * q;  // Bᵀ = Mᵀ Q [cols, k]
  // Bᵀ = Q₂ R and R = Ur S Vrᵀ give B = Vr S (Q₂ Ur)ᵀ, so M ≈ (Q Vr) S (Q₂ Ur)ᵀ.
  const Eigen::HouseholderQR<Matrix> qr(z);
  const Matrix r = qr.matrixQR().topRows(k).triangularView<Eigen::Upper>();
  Eigen::BDCSVD<Matrix> bdc(r, Eigen::ComputeThinU | Eigen::ComputeThinV);
  if (bdc.info() != Eigen::Success) {
    return internal_error("randomized SVD: the decomposition of the " + std::to_string(k) + "x" +
                          std::to_string(k) + " projected matrix did not converge");
  }
  Svd out;
  out.s = bdc.singularValues();
  out.u.noalias() = q * bdc.matrixV();
  Matrix v(cols, k);
  v.topRows(k) = bdc.matrixU();
  v.bottomRows(cols - k).setZero();
  v.applyOnTheLeft(qr.householderQ());
  out.v = std::move(v);
  return out;
}

}  // namespace

StatusOr<Svd> svd(const Eigen::Ref<const Eigen::MatrixXd>& m, const SvdOptions& options) {
  if (!m.allFinite()) return invalid_argument("SVD: the matrix holds NaN or infinite values");
  const Eigen::Index rows = m.rows(), cols = m.cols();
  const Eigen::Index p = std::min(rows, cols);
  Svd out;
  if (options.method == SvdMethod::kRandomized) {
    if (options.rank < 1) {
      return invalid_argument("randomized SVD: rank must be at least 1, got " +
                              std::to_string(options.rank));
    }
    if (options.oversampling < 0 || options.power_iterations < 0) {
      return invalid_argument("randomized SVD: oversampling and power_iterations must be >= 0");
    }
    // Each term clamped to p first, so the sum cannot overflow.
    const Eigen::Index k = std::min<int64_t>(
        std::min<int64_t>(options.rank, p) + std::min<int64_t>(options.oversampling, p), p);
    if (2 * k < p) {
      COMPRESSOR_ASSIGN_OR_RETURN(out,
                                  randomized_svd(m, k, options.power_iterations, options.seed));
    } else if (p > 0) {
      // No speed to gain from a sketch this wide: the leading k exact triplets, so that a
      // randomized SVD always has k of them.
      COMPRESSOR_ASSIGN_OR_RETURN(out, exact_svd(m));
      out.u.conservativeResize(Eigen::NoChange, k);
      out.s.conservativeResize(k);
      out.v.conservativeResize(Eigen::NoChange, k);
    }
  } else if (p > 0) {
    COMPRESSOR_ASSIGN_OR_RETURN(out, exact_svd(m));
  }
  if (p == 0) {
    out.u.resize(rows, 0);
    out.s.resize(0);
    out.v.resize(cols, 0);
  }
  fix_signs(out);
  out.total_energy = m.squaredNorm();
  return out;
}

int64_t rank_for_energy(const Svd& svd, double fraction) {
  const int64_t k = svd.s.size();
  const double target = (std::min(fraction, 1.0) - kEnergyTolerance) * svd.total_energy;
  double kept = 0;
  for (int64_t r = 0; r < k; ++r) {
    if (kept >= target) return r;
    kept += svd.s[r] * svd.s[r];
  }
  return k;
}

double energy_kept(const Svd& svd, int64_t r) {
  if (!(svd.total_energy > 0)) return 1;
  const int64_t n = std::clamp<int64_t>(r, 0, svd.s.size());
  return std::min(1.0, svd.s.head(n).squaredNorm() / svd.total_energy);
}

int64_t round_rank(int64_t r, int64_t round_to, int64_t limit) {
  if (round_to <= 1) return r;
  if (limit < round_to) return limit;
  const int64_t nearest = r <= 0 ? 0 : (r + round_to / 2) / round_to * round_to;
  return std::clamp(nearest, round_to, limit);
}

StatusOr<Whitening> whitening(const Eigen::Ref<const Eigen::MatrixXd>& gram, double damping) {
  if (gram.rows() != gram.cols()) {
    return invalid_argument("whitening: the Gram matrix is " + std::to_string(gram.rows()) + "x" +
                            std::to_string(gram.cols()) + ", not square");
  }
  if (!gram.allFinite()) {
    return invalid_argument("whitening: the Gram matrix holds NaN or infinite values");
  }
  if (!(damping >= 0) || !std::isfinite(damping)) {
    return invalid_argument("whitening: damping must be finite and >= 0, got " + number(damping));
  }
  const Eigen::Index m = gram.rows();
  if (m == 0) return Whitening{Matrix(0, 0), damping};
  if ((gram.diagonal().array() < 0).any()) {
    return invalid_argument("whitening: the Gram matrix has a negative diagonal entry");
  }
  const double mean = gram.diagonal().mean();
  const double scale = mean > 0 ? mean : 1.0;
  double lambda = damping * scale;
  Matrix damped = gram;
  for (int attempt = 0; attempt <= kWhiteningRetries; ++attempt) {
    if (attempt > 0) lambda = lambda > 0 ? lambda * 10 : 1e-12 * scale;
    damped.diagonal() = gram.diagonal().array() + lambda;
    Eigen::LLT<Matrix> llt(damped);
    if (llt.info() != Eigen::Success) continue;
    Whitening out;
    out.l = llt.matrixL();
    if (!out.l.allFinite() || (out.l.diagonal().array() <= 0).any()) continue;
    out.lambda = lambda;
    return out;
  }
  return invalid_argument("whitening: the Gram matrix is not positive definite even with " +
                          number(lambda) + " added to its diagonal");
}

Factors plain_factors(const Svd& svd, int64_t r) {
  const Eigen::Index k = svd.s.size();
  const Eigen::Index n = std::clamp<Eigen::Index>(r, std::min<Eigen::Index>(1, k), k);
  const Vector root = svd.s.head(n).cwiseSqrt();
  Factors out;
  out.a = svd.u.leftCols(n) * root.asDiagonal();
  out.b = root.asDiagonal() * svd.v.leftCols(n).transpose();
  out.energy_kept = energy_kept(svd, n);
  return out;
}

Factors whitened_factors(const Svd& svd, const Whitening& w, int64_t r) {
  Factors out = plain_factors(svd, r);
  // Lᵀ A = U_r sqrt(S_r): one triangular solve, no inverse of L.
  w.l.transpose().triangularView<Eigen::Upper>().solveInPlace(out.a);
  return out;
}

}  // namespace compressor::passes::low_rank
