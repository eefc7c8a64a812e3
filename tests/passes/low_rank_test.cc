// Low-rank approximation: the exact SVD against its definition (reconstruction, orthonormality,
// order, signs), Eckart–Young with Eigen's JacobiSVD as the oracle, the randomized SVD against the
// exact one on decaying and flat spectra, the rank policies, and whitening against the output
// error summed over the calibration samples themselves.
#include "passes/factorize/low_rank.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <cmath>
#include <limits>
#include <random>

namespace compressor::passes::low_rank {
namespace {

using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;

Matrix gaussian(Eigen::Index rows, Eigen::Index cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist;
  Matrix m(rows, cols);
  for (Eigen::Index c = 0; c < cols; ++c) {
    for (Eigen::Index r = 0; r < rows; ++r) m(r, c) = dist(gen);
  }
  return m;
}

/// A matrix with orthonormal columns [rows, cols].
Matrix orthonormal(Eigen::Index rows, Eigen::Index cols, uint32_t seed) {
  const Eigen::HouseholderQR<Matrix> qr(gaussian(rows, cols, seed));
  return qr.householderQ() * Matrix::Identity(rows, cols);
}

/// Q1 diag(0.8^i) Q2ᵀ [rows, cols] plus `noise` times Gaussian noise.
Matrix decaying(Eigen::Index rows, Eigen::Index cols, uint32_t seed, double noise) {
  const Eigen::Index p = std::min(rows, cols);
  Vector d(p);
  for (Eigen::Index i = 0; i < p; ++i) d[i] = std::pow(0.8, static_cast<double>(i));
  return orthonormal(rows, p, seed) * d.asDiagonal() * orthonormal(cols, p, seed + 1).transpose() +
         noise * gaussian(rows, cols, seed + 2);
}

/// The singular values of `m` by one-sided Jacobi rotations (a different algorithm than BDCSVD).
Vector oracle_singular_values(const Matrix& m) {
  return Eigen::JacobiSVD<Matrix>(m).singularValues();
}

double tail_energy(const Vector& s, Eigen::Index r) { return s.tail(s.size() - r).squaredNorm(); }

/// ||M - U_r S_r V_rᵀ||_F.
double truncation_error(const Matrix& m, const Svd& svd, Eigen::Index r) {
  return (m - svd.u.leftCols(r) * svd.s.head(r).asDiagonal() * svd.v.leftCols(r).transpose())
      .norm();
}

Svd exact(const Matrix& m) {
  auto result = svd(m, {});
  EXPECT_TRUE(result.ok()) << result.status().message();
  return std::move(result).value();
}

Svd randomized(const Matrix& m, int64_t rank, uint64_t seed = 0, int64_t power_iterations = 2) {
  SvdOptions options;
  options.method = SvdMethod::kRandomized;
  options.rank = rank;
  options.seed = seed;
  options.power_iterations = power_iterations;
  auto result = svd(m, options);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return std::move(result).value();
}

void expect_valid_svd(const Matrix& m, const Svd& s, Eigen::Index k) {
  ASSERT_EQ(s.u.rows(), m.rows());
  ASSERT_EQ(s.v.rows(), m.cols());
  ASSERT_EQ(s.u.cols(), k);
  ASSERT_EQ(s.v.cols(), k);
  ASSERT_EQ(s.s.size(), k);
  EXPECT_LT((s.u.transpose() * s.u - Matrix::Identity(k, k)).norm(), 1e-12);
  EXPECT_LT((s.v.transpose() * s.v - Matrix::Identity(k, k)).norm(), 1e-12);
  for (Eigen::Index i = 0; i < k; ++i) {
    EXPECT_GE(s.s[i], 0);
    if (i > 0) {
      EXPECT_LE(s.s[i], s.s[i - 1]);
    }
  }
  // The largest |entry| of every left vector is positive.
  for (Eigen::Index j = 0; j < k; ++j) {
    Eigen::Index best = 0;
    for (Eigen::Index i = 1; i < s.u.rows(); ++i) {
      if (std::abs(s.u(i, j)) > std::abs(s.u(best, j))) best = i;
    }
    EXPECT_GT(s.u(best, j), 0) << "column " << j;
  }
  double energy = 0;
  for (Eigen::Index c = 0; c < m.cols(); ++c) {
    for (Eigen::Index r = 0; r < m.rows(); ++r) energy += m(r, c) * m(r, c);
  }
  EXPECT_NEAR(s.total_energy, energy, 1e-12 * energy);
}

TEST(LowRankSvd, ExactReconstructsTallAndWideMatrices) {
  for (const auto& [rows, cols] : {std::pair<int, int>{30, 20}, {20, 30}, {17, 17}}) {
    const Matrix m = gaussian(rows, cols, 7);
    const Svd s = exact(m);
    expect_valid_svd(m, s, std::min(rows, cols));
    EXPECT_LT((s.u * s.s.asDiagonal() * s.v.transpose() - m).norm(), 1e-12 * m.norm());
    EXPECT_LT((s.s - oracle_singular_values(m)).norm(), 1e-12 * s.s[0]);
  }
}

TEST(LowRankSvd, ExactIsDeterministicAndSignsDependOnlyOnTheMatrix) {
  const Matrix m = gaussian(25, 15, 3);
  const Svd a = exact(m);
  const Svd b = exact(m);
  EXPECT_EQ(a.u, b.u);
  EXPECT_EQ(a.s, b.s);
  EXPECT_EQ(a.v, b.v);
  // -M = U S (-V)ᵀ: the signs follow u, so u stays and v flips.
  const Svd neg = exact(-m);
  EXPECT_LT((neg.u - a.u).norm(), 1e-10);
  EXPECT_LT((neg.v + a.v).norm(), 1e-10);
}

TEST(LowRankSvd, PlainFactorsMeetEckartYoung) {
  const Matrix m = gaussian(40, 25, 11);
  const Svd s = exact(m);
  const Vector oracle = oracle_singular_values(m);
  for (int64_t r : {1, 5, 12, 24, 25}) {
    const Factors f = plain_factors(s, r);
    ASSERT_EQ(f.a.rows(), 40);
    ASSERT_EQ(f.a.cols(), r);
    ASSERT_EQ(f.b.rows(), r);
    ASSERT_EQ(f.b.cols(), 25);
    const double error2 = (m - f.a * f.b).squaredNorm();
    const double tail = tail_energy(oracle, r);
    EXPECT_NEAR(error2, tail, 1e-10 * m.squaredNorm()) << "rank " << r;
    EXPECT_NEAR(f.energy_kept, 1 - tail / m.squaredNorm(), 1e-12) << "rank " << r;
    // Both factors carry sqrt(s): their column / row norms are equal.
    for (int64_t i = 0; i < r; ++i) EXPECT_NEAR(f.a.col(i).norm(), f.b.row(i).norm(), 1e-12);
  }
  // Out-of-range ranks are clamped to [1, 25].
  EXPECT_EQ(plain_factors(s, 0).a.cols(), 1);
  EXPECT_EQ(plain_factors(s, 99).a.cols(), 25);
}

TEST(LowRankSvd, RandomizedMatchesExactOnADecayingSpectrum) {
  const Matrix m = decaying(300, 200, 5, 1e-6);
  const Svd ex = exact(m);
  const int64_t r = 20;
  const Svd rnd = randomized(m, r);
  expect_valid_svd(m, rnd, r + 10);  // k = rank + oversampling
  for (int64_t i = 0; i < r; ++i) {
    EXPECT_NEAR(rnd.s[i], ex.s[i], 1e-6 * ex.s[i]) << "singular value " << i;
  }
  const double exact_error = truncation_error(m, ex, r);
  const double random_error = truncation_error(m, rnd, r);
  EXPECT_LE(random_error, 1.01 * exact_error);
  EXPECT_GE(random_error, exact_error * (1 - 1e-9));  // Eckart–Young: nothing beats exact
  EXPECT_EQ(rnd.total_energy, ex.total_energy);
}

TEST(LowRankSvd, RandomizedIsCloseOnAFlatSpectrum) {
  // A Gaussian matrix has no gap to exploit: the sketch misses part of the leading subspace and
  // power iterations win most of it back. Rank-r error / exact rank-r error measured for this
  // matrix (seeds 0, 1, 2): 1.059 with no power iteration, 1.024 with 1, 1.012 with 2 (the
  // default), 1.006 with 3. The bounds leave room for other seeds, not for a broken sketch.
  const Matrix m = gaussian(300, 200, 9);
  const Svd ex = exact(m);
  const int64_t r = 20;
  const double exact_error = truncation_error(m, ex, r);
  for (uint64_t seed : {0, 1}) {
    const double random_error = truncation_error(m, randomized(m, r, seed), r);
    EXPECT_LE(random_error, 1.03 * exact_error) << "seed " << seed;
    EXPECT_GE(random_error, exact_error * (1 - 1e-9)) << "seed " << seed;
  }
  const double no_power = truncation_error(m, randomized(m, r, 0, 0), r);
  EXPECT_LE(no_power, 1.10 * exact_error);
  EXPECT_LT(truncation_error(m, randomized(m, r, 0, 3), r), no_power);
}

TEST(LowRankSvd, RandomizedDependsOnlyOnMatrixAndSeed) {
  const Matrix m = decaying(120, 80, 2, 1e-6);
  const Svd a = randomized(m, 8, 42);
  const Svd b = randomized(m, 8, 42);
  EXPECT_EQ(a.u, b.u);
  EXPECT_EQ(a.s, b.s);
  EXPECT_EQ(a.v, b.v);
  const Svd c = randomized(m, 8, 43);
  EXPECT_NE(a.u, c.u);  // another sketch
  EXPECT_LT((a.s.head(8) - c.s.head(8)).norm(), 1e-8);
  // Same subspace and signs fixed the same way: the leading vectors agree.
  EXPECT_LT((a.u.leftCols(8) - c.u.leftCols(8)).norm(), 1e-5);
}

TEST(LowRankSvd, RandomizedFallsBackToExactForWideSketches) {
  const Matrix m = gaussian(40, 30, 4);
  const Svd ex = exact(m);
  // k = min(10 + 10, 30) = 20 >= 30 / 2: the leading 20 exact triplets.
  const Svd rnd = randomized(m, 10);
  expect_valid_svd(m, rnd, 20);
  EXPECT_EQ(rnd.s, ex.s.head(20));
  EXPECT_EQ(rnd.u, ex.u.leftCols(20));
  // k is capped at min(rows, cols).
  EXPECT_EQ(randomized(m, 1000).s.size(), 30);
}

TEST(LowRankSvd, BadInputIsAnError) {
  Matrix m = gaussian(6, 5, 1);
  m(2, 3) = std::numeric_limits<double>::quiet_NaN();
  auto result = svd(m, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("NaN or infinite"), std::string::npos);
  m(2, 3) = std::numeric_limits<double>::infinity();
  SvdOptions options;
  options.method = SvdMethod::kRandomized;
  options.rank = 1;
  EXPECT_EQ(svd(m, options).status().code(), ErrorCode::kInvalidArgument);
  options.rank = 0;
  auto zero_rank = svd(gaussian(6, 5, 1), options);
  ASSERT_FALSE(zero_rank.ok());
  EXPECT_NE(zero_rank.status().message().find("rank"), std::string::npos);
}

TEST(LowRankSvd, EmptyMatrixHasNoTriplets) {
  const Svd s = exact(Matrix(0, 5));
  EXPECT_EQ(s.s.size(), 0);
  EXPECT_EQ(s.v.rows(), 5);
  EXPECT_EQ(s.total_energy, 0);
}

TEST(LowRankRank, EnergyOfARankDeficientMatrix) {
  const Matrix m = gaussian(12, 5, 1) * gaussian(5, 10, 2);  // rank 5
  const Svd s = exact(m);
  ASSERT_EQ(s.s.size(), 10);
  EXPECT_EQ(rank_for_energy(s, 1.0), 5);
  EXPECT_EQ(rank_for_energy(s, 2.0), 5);
  EXPECT_EQ(rank_for_energy(s, 0.0), 0);
  EXPECT_NEAR(energy_kept(s, 5), 1.0, 1e-12);
  EXPECT_EQ(energy_kept(s, 0), 0.0);
  // Every fraction: the fewest leading values, from the oracle's spectrum.
  const Vector oracle = oracle_singular_values(m);
  for (double fraction : {0.3, 0.6, 0.9, 0.99}) {
    int64_t expected = 0;
    double kept = 0;
    while (kept < fraction * m.squaredNorm()) {
      kept += oracle[expected] * oracle[expected];
      ++expected;
    }
    EXPECT_EQ(rank_for_energy(s, fraction), expected) << fraction;
    EXPECT_GE(energy_kept(s, expected), fraction);
    EXPECT_LT(energy_kept(s, expected - 1), fraction);
  }
}

TEST(LowRankRank, ZeroMatrixAndRandomizedTotals) {
  const Svd zero = exact(Matrix::Zero(6, 4));
  EXPECT_EQ(zero.total_energy, 0);
  EXPECT_EQ(rank_for_energy(zero, 0.9), 0);
  EXPECT_EQ(energy_kept(zero, 0), 1.0);
  EXPECT_EQ(energy_kept(zero, 3), 1.0);
  // A randomized SVD keeps the full total: fractions count the energy it did not compute.
  const Matrix m = gaussian(100, 80, 6);
  const Svd rnd = randomized(m, 5);
  ASSERT_EQ(rnd.s.size(), 15);
  EXPECT_NEAR(energy_kept(rnd, 15), rnd.s.squaredNorm() / m.squaredNorm(), 1e-15);
  EXPECT_LT(energy_kept(rnd, 15), 0.5);
  EXPECT_EQ(rank_for_energy(rnd, 0.99), 15);  // more than it holds: all of it
}

TEST(LowRankRank, RoundRank) {
  EXPECT_EQ(round_rank(12, 8, 100), 16);  // a tie goes up
  EXPECT_EQ(round_rank(11, 8, 100), 8);
  EXPECT_EQ(round_rank(13, 8, 100), 16);
  EXPECT_EQ(round_rank(3, 8, 100), 8);  // never below round_to
  EXPECT_EQ(round_rank(0, 8, 100), 8);
  EXPECT_EQ(round_rank(99, 8, 100), 96);
  EXPECT_EQ(round_rank(101, 8, 100), 100);  // never above the limit
  EXPECT_EQ(round_rank(4, 3, 100), 3);
  EXPECT_EQ(round_rank(5, 3, 100), 6);
  EXPECT_EQ(round_rank(5, 8, 4), 4);  // round_to > limit: the limit
  EXPECT_EQ(round_rank(7, 1, 3), 7);  // no rounding: r itself
  EXPECT_EQ(round_rank(7, 0, 3), 7);
}

/// Samples [rows, cols] whose columns have scales from 1e-2 to 1e2, mixed so that they correlate.
Matrix anisotropic_inputs(Eigen::Index rows, Eigen::Index cols, uint32_t seed) {
  Vector scale(cols);
  for (Eigen::Index c = 0; c < cols; ++c) {
    scale[c] = std::pow(10.0, -2.0 + 4.0 * static_cast<double>(c) / static_cast<double>(cols - 1));
  }
  const Matrix mix = Matrix::Identity(cols, cols) + 0.3 * gaussian(cols, cols, seed + 1);
  return gaussian(rows, cols, seed) * mix * scale.asDiagonal();
}

TEST(LowRankWhitening, WhitenedNormIsTheOutputErrorOverTheSamples) {
  const Matrix x = anisotropic_inputs(200, 8, 1);
  const Matrix gram = x.transpose() * x;
  auto w = whitening(gram);
  ASSERT_TRUE(w.ok()) << w.status().message();
  const Matrix& l = w->l;
  EXPECT_TRUE(l.isLowerTriangular());
  EXPECT_NEAR(w->lambda, 1e-6 * gram.diagonal().mean(), 1e-20);
  const Matrix d = gaussian(8, 5, 2) - gaussian(8, 5, 3);  // W - W'
  double samples = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i) samples += (x.row(i) * d).squaredNorm();
  // L Lᵀ = G + λ I, so ||Lᵀ D||² = Σ ||x D||² + λ ||D||².
  EXPECT_NEAR((l.transpose() * d).squaredNorm(), samples + w->lambda * d.squaredNorm(),
              1e-10 * samples);
}

TEST(LowRankWhitening, WhitenedFactorsReachTheOptimalOutputError) {
  const Matrix x = anisotropic_inputs(400, 16, 4);
  const Matrix weight = gaussian(16, 12, 5);
  const int64_t r = 4;
  auto w = whitening(x.transpose() * x, 1e-14);
  ASSERT_TRUE(w.ok()) << w.status().message();
  const Factors plain = plain_factors(exact(weight), r);
  const Matrix lw = w->l.transpose() * weight;
  const Factors whitened = whitened_factors(exact(lw), *w, r);
  const double plain_error = (x * weight - x * plain.a * plain.b).norm();
  const double whitened_error = (x * weight - x * whitened.a * whitened.b).norm();
  // The best rank-r approximation of X W lies in the column space of X, so the optimum of
  // ||X W - X W'|| over rank-r W' is the tail of the singular values of X W.
  const double optimum = std::sqrt(tail_energy(oracle_singular_values(x * weight), r));
  EXPECT_NEAR(whitened_error, optimum, 1e-6 * optimum);
  EXPECT_LT(whitened_error, 0.5 * plain_error);  // measured: 0.134 x
  EXPECT_NEAR(whitened.energy_kept,
              1 - tail_energy(oracle_singular_values(lw), r) / lw.squaredNorm(), 1e-12);
}

TEST(LowRankWhitening, DeadInputStillWorks) {
  Matrix x = anisotropic_inputs(300, 10, 7);
  x.col(3).setZero();  // G is singular
  const Matrix gram = x.transpose() * x;
  const Matrix weight = gaussian(10, 6, 8);
  const int64_t r = 3;
  const double optimum = std::sqrt(tail_energy(oracle_singular_values(x * weight), r));
  for (double damping : {1e-6, 0.0}) {
    auto w = whitening(gram, damping);
    ASSERT_TRUE(w.ok()) << w.status().message();
    EXPECT_GT(w->lambda, 0);
    const Factors f = whitened_factors(exact(w->l.transpose() * weight), *w, r);
    ASSERT_TRUE(f.a.allFinite());
    ASSERT_TRUE(f.b.allFinite());
    EXPECT_NEAR((x * weight - x * f.a * f.b).norm(), optimum, 1e-3 * optimum) << damping;
  }
}

TEST(LowRankWhitening, ZeroGramUsesTheDampingItself) {
  auto w = whitening(Matrix::Zero(3, 3), 1e-4);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->lambda, 1e-4);
  EXPECT_LT((w->l - std::sqrt(1e-4) * Matrix::Identity(3, 3)).norm(), 1e-15);
}

TEST(LowRankWhitening, BadGramIsAnError) {
  auto non_square = whitening(Matrix::Identity(3, 4));
  ASSERT_FALSE(non_square.ok());
  EXPECT_EQ(non_square.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(non_square.status().message().find("3x4"), std::string::npos);
  Matrix nan = Matrix::Identity(3, 3);
  nan(0, 1) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(whitening(nan).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(whitening(-Matrix::Identity(3, 3)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(whitening(Matrix::Identity(3, 3), -1).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace compressor::passes::low_rank
