// SparseGPT's pruning step: magnitude pruning when H is the identity, a smaller output error
// than magnitude pruning on correlated inputs with the exact sparsity or N:M structure, agreement
// with the paper's Algorithm 1 written out here without lazy batching (dense H^-1, explicit
// optimal-brain-surgeon updates column by column), dead inputs, and the errors.
#include "passes/prune/sparsegpt.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace compressor::passes {
namespace {

using Matrix = Eigen::MatrixXd;
using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Matrix gaussian(Eigen::Index rows, Eigen::Index cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist;
  Matrix m(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r) {
    for (Eigen::Index c = 0; c < cols; ++c) m(r, c) = dist(gen);
  }
  return m;
}

/// Correlated inputs X = Z A (samples x cols), Z with `latent` columns, plus `noise` times
/// independent Gaussian noise.
Matrix correlated_inputs(Eigen::Index samples, Eigen::Index cols, uint32_t seed,
                         Eigen::Index latent = 0, double noise = 0) {
  if (latent == 0) latent = cols;
  return gaussian(samples, latent, seed) * gaussian(latent, cols, seed + 1) +
         noise * gaussian(samples, cols, seed + 2);
}

std::vector<float> to_floats(const Matrix& w) {
  std::vector<float> out(static_cast<size_t>(w.size()));
  for (Eigen::Index r = 0; r < w.rows(); ++r) {
    for (Eigen::Index c = 0; c < w.cols(); ++c) {
      out[static_cast<size_t>(r * w.cols() + c)] = static_cast<float>(w(r, c));
    }
  }
  return out;
}

Matrix from_floats(const std::vector<float>& w, Eigen::Index rows, Eigen::Index cols) {
  Matrix m(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r) {
    for (Eigen::Index c = 0; c < cols; ++c) m(r, c) = w[static_cast<size_t>(r * cols + c)];
  }
  return m;
}

std::vector<double> row_major(const Matrix& h) {
  std::vector<double> out(static_cast<size_t>(h.size()));
  Eigen::Map<RowMajorD>(out.data(), h.rows(), h.cols()) = h;
  return out;
}

/// Zeros in the first c columns of `rows` rows: round(sparsity x rows x c), the documented rule.
Eigen::Index zeros_before(double sparsity, Eigen::Index rows, Eigen::Index c) {
  return static_cast<Eigen::Index>(
      std::llround(sparsity * static_cast<double>(rows) * static_cast<double>(c)));
}

/// The `count` indices of [first, first + len) with the smallest score; ties: lower index.
std::vector<Eigen::Index> smallest(const std::vector<double>& score, Eigen::Index first,
                                   Eigen::Index len, Eigen::Index count) {
  std::vector<Eigen::Index> idx(static_cast<size_t>(len));
  std::iota(idx.begin(), idx.end(), first);
  std::stable_sort(idx.begin(), idx.end(), [&](Eigen::Index a, Eigen::Index b) {
    return score[static_cast<size_t>(a)] < score[static_cast<size_t>(b)];
  });
  idx.resize(static_cast<size_t>(count));
  return idx;
}

/// The unstructured mask of one block [c, c + len): the `count` weights of smallest score over
/// every row (score(r, k)); ties: lower row, then lower column.
template <typename Score>
std::vector<std::pair<Eigen::Index, Eigen::Index>> block_mask(Eigen::Index rows, Eigen::Index c,
                                                              Eigen::Index len, Eigen::Index count,
                                                              Score score) {
  std::vector<double> flat(static_cast<size_t>(rows * len));
  for (Eigen::Index r = 0; r < rows; ++r) {
    for (Eigen::Index k = 0; k < len; ++k) flat[static_cast<size_t>(r * len + k)] = score(r, c + k);
  }
  std::vector<std::pair<Eigen::Index, Eigen::Index>> out;
  for (Eigen::Index i : smallest(flat, 0, rows * len, count)) out.push_back({i / len, c + i % len});
  return out;
}

/// Magnitude pruning with the same pattern: per block of `block` columns the documented share of
/// smallest |w| over every row (or per row and group of m the m - n smallest).
Matrix magnitude(Matrix w, double sparsity, int n, int m, Eigen::Index block) {
  const Eigen::Index rows = w.rows(), cols = w.cols();
  if (m == 0) {
    const Matrix original = w;
    for (Eigen::Index i1 = 0; i1 < cols; i1 += block) {
      const Eigen::Index i2 = std::min(i1 + block, cols);
      const Eigen::Index count =
          zeros_before(sparsity, rows, i2) - zeros_before(sparsity, rows, i1);
      for (auto [r, c] : block_mask(rows, i1, i2 - i1, count, [&](Eigen::Index r, Eigen::Index c) {
             return std::fabs(original(r, c));
           })) {
        w(r, c) = 0;
      }
    }
    return w;
  }
  for (Eigen::Index r = 0; r < rows; ++r) {
    std::vector<double> score(static_cast<size_t>(cols));
    for (Eigen::Index c = 0; c < cols; ++c) score[static_cast<size_t>(c)] = std::fabs(w(r, c));
    for (Eigen::Index i1 = 0; i1 < cols; i1 += m) {
      for (Eigen::Index c : smallest(score, i1, m, m - n)) w(r, c) = 0;
    }
  }
  return w;
}

/// The paper's Algorithm 1 without lazy batching: the inverse Hessian of the columns not yet
/// fixed is kept dense and shrunk by one Gaussian elimination step per column; a masked weight
/// w_c moves the row's later weights by -w_c / Hinv_cc * Hinv_c,: (optimal brain surgeon).
Matrix reference(Matrix w, Matrix h, const SparseGptOptions& o) {
  const Eigen::Index cols = w.cols();
  for (Eigen::Index j = 0; j < cols; ++j) {
    if (h(j, j) == 0) {
      h(j, j) = 1;
      w.col(j).setZero();
    }
  }
  h.diagonal().array() += o.damp * h.diagonal().mean();
  Matrix hinv = h.inverse();
  // Row c of the inverse Hessian once the columns before c are fixed.
  std::vector<Eigen::VectorXd> hrow(static_cast<size_t>(cols));
  for (Eigen::Index c = 0; c < cols; ++c) {
    hrow[static_cast<size_t>(c)] = hinv.row(c).transpose();
    const Matrix step = hinv.col(c) * hinv.row(c) / hinv(c, c);
    hinv -= step;
  }
  const auto diag = [&](Eigen::Index c) { return hrow[static_cast<size_t>(c)](c); };
  Eigen::Index block = static_cast<Eigen::Index>(o.block);
  if (o.m > 0) block = std::max<Eigen::Index>(o.m, block / o.m * o.m);
  // Columns in order; at a block start the mask of the block is chosen over every row from the
  // weights as updated so far (rows only interact there).
  const Eigen::Index rows = w.rows();
  std::vector<std::vector<bool>> mask(static_cast<size_t>(rows),
                                      std::vector<bool>(static_cast<size_t>(cols), false));
  for (Eigen::Index c = 0; c < cols; ++c) {
    if (o.m == 0 && c % block == 0) {
      const Eigen::Index len = std::min(block, cols - c);
      const Eigen::Index count =
          zeros_before(o.sparsity, rows, c + len) - zeros_before(o.sparsity, rows, c);
      for (auto [r, k] : block_mask(rows, c, len, count, [&](Eigen::Index r, Eigen::Index k) {
             return w(r, k) * w(r, k) / diag(k);
           })) {
        mask[static_cast<size_t>(r)][static_cast<size_t>(k)] = true;
      }
    }
    for (Eigen::Index r = 0; r < rows; ++r) {
      auto& row_mask = mask[static_cast<size_t>(r)];
      if (o.m > 0 && c % o.m == 0) {
        std::vector<double> saliency(static_cast<size_t>(cols), 0.0);
        for (Eigen::Index k = c; k < c + o.m; ++k) {
          saliency[static_cast<size_t>(k)] = w(r, k) * w(r, k) / diag(k);
        }
        for (Eigen::Index k : smallest(saliency, c, o.m, o.m - o.n)) {
          row_mask[static_cast<size_t>(k)] = true;
        }
      }
      if (!row_mask[static_cast<size_t>(c)]) continue;
      const double e = w(r, c) / diag(c);
      for (Eigen::Index k = c; k < cols; ++k) w(r, k) -= e * hrow[static_cast<size_t>(c)](k);
      w(r, c) = 0;
    }
  }
  return w;
}

Matrix prune(const Matrix& w, const Matrix& h, const SparseGptOptions& o) {
  std::vector<float> values = to_floats(w);
  const std::vector<double> gram = row_major(h);
  const Status s = sparsegpt_prune(values.data(), static_cast<size_t>(w.rows()),
                                   static_cast<size_t>(w.cols()), gram.data(), o);
  EXPECT_TRUE(s.ok()) << s.message();
  return from_floats(values, w.rows(), w.cols());
}

/// Zeros in row r over columns [first, first + len).
Eigen::Index zeros(const Matrix& w, Eigen::Index r, Eigen::Index first, Eigen::Index len) {
  return (w.row(r).segment(first, len).array() == 0).count();
}

TEST(SparseGpt, IdentityGramIsMagnitudePruningPerBlock) {
  const Eigen::Index rows = 5, cols = 23;
  const Matrix w = gaussian(rows, cols, 3);
  const Matrix h = Matrix::Identity(cols, cols);
  for (double sparsity : {0.5, 0.3, 0.9}) {
    SparseGptOptions o;
    o.sparsity = sparsity;
    o.block = 8;
    const Matrix got = prune(w, h, o);
    const Matrix want = magnitude(w, sparsity, 0, 0, 8);
    EXPECT_EQ(to_floats(got), to_floats(want)) << sparsity;
  }
  SparseGptOptions nm;
  nm.n = 2;
  nm.m = 4;
  const Matrix w24 = gaussian(rows, 24, 4);
  EXPECT_EQ(to_floats(prune(w24, Matrix::Identity(24, 24), nm)),
            to_floats(magnitude(w24, 0, 2, 4, 0)));
}

/// ||X W^T - X W'^T||_F.
double output_error(const Matrix& x, const Matrix& w, const Matrix& pruned) {
  return (x * (w - pruned).transpose()).norm();
}

TEST(SparseGpt, BeatsMagnitudeOnCorrelatedInputsWithTheExactStructure) {
  const Eigen::Index rows = 16, cols = 48;
  // Inputs driven by a few latent factors: what one pruned input carried, others can carry.
  const Matrix x = correlated_inputs(256, cols, 11, cols / 4, 0.3);
  const Matrix h = x.transpose() * x;
  const Matrix w = gaussian(rows, cols, 12);
  struct Case {
    double sparsity;
    int n, m;
  };
  for (const Case& c : {Case{0.5, 0, 0}, Case{0.75, 0, 0}, Case{0, 2, 4}, Case{0, 1, 4}}) {
    SparseGptOptions o;
    o.sparsity = c.sparsity;
    o.n = c.n;
    o.m = c.m;
    o.block = 16;
    const Matrix got = prune(w, h, o);
    const Matrix mag = magnitude(w, c.sparsity, c.n, c.m, 16);
    for (Eigen::Index r = 0; r < rows; ++r) {
      if (c.m > 0) {
        for (Eigen::Index g = 0; g < cols; g += c.m) {
          EXPECT_EQ(zeros(got, r, g, c.m), c.m - c.n) << "row " << r << " group " << g;
        }
      }
    }
    if (c.m == 0) {
      for (Eigen::Index b = 0; b < cols; b += 16) {
        EXPECT_EQ((got.middleCols(b, 16).array() == 0).count(),
                  zeros_before(c.sparsity, rows, b + 16) - zeros_before(c.sparsity, rows, b));
      }
      EXPECT_EQ((got.array() == 0).count(), zeros_before(c.sparsity, rows, cols));
    }
    const double ours = output_error(x, w, got), theirs = output_error(x, w, mag);
    EXPECT_LT(ours, 0.8 * theirs) << c.sparsity << " " << c.n << ":" << c.m;
  }
}

TEST(SparseGpt, MatchesAlgorithmOneWithoutLazyBatching) {
  const Eigen::Index rows = 9, cols = 40;
  const Matrix x = correlated_inputs(200, cols, 21);
  const Matrix h = x.transpose() * x;
  const Matrix w = gaussian(rows, cols, 22);
  struct Case {
    double sparsity;
    int n, m;
    size_t block;
  };
  for (const Case& c : {Case{0.5, 0, 0, 16}, Case{0.3, 0, 0, 7}, Case{0.6, 0, 0, 128},
                        Case{0, 2, 4, 16}, Case{0, 3, 8, 12}}) {
    SparseGptOptions o;
    o.sparsity = c.sparsity;
    o.n = c.n;
    o.m = c.m;
    o.block = c.block;
    const Matrix got = prune(w, h, o);
    const Matrix want = reference(w, h, o);
    EXPECT_LT((got - want).cwiseAbs().maxCoeff(), 1e-4) << c.sparsity << " block " << c.block;
    EXPECT_TRUE(((got.array() == 0) == (want.array() == 0)).all()) << c.sparsity;
  }
}

TEST(SparseGpt, DeadInputsAreZeroedAndTheRestStillMatches) {
  const Eigen::Index rows = 6, cols = 24;
  Matrix x = correlated_inputs(100, cols, 31);
  x.col(3).setZero();
  x.col(17).setZero();
  const Matrix h = x.transpose() * x;
  const Matrix w = gaussian(rows, cols, 32);
  for (int m : {0, 4}) {
    SparseGptOptions o;
    o.m = m;
    o.n = 2;
    o.block = 8;
    const Matrix got = prune(w, h, o);
    ASSERT_TRUE(got.allFinite());
    EXPECT_TRUE((got.col(3).array() == 0).all());
    EXPECT_TRUE((got.col(17).array() == 0).all());
    EXPECT_LT((got - reference(w, h, o)).cwiseAbs().maxCoeff(), 1e-4);
    if (m > 0) {
      for (Eigen::Index r = 0; r < rows; ++r) EXPECT_EQ(zeros(got, r, 0, cols), cols / 2);
    } else {
      EXPECT_EQ((got.array() == 0).count(), rows * cols / 2);
    }
  }
  // Every input dead: every weight goes.
  const Matrix none = prune(w, Matrix::Zero(cols, cols), SparseGptOptions{});
  EXPECT_TRUE((none.array() == 0).all());
}

TEST(SparseGpt, SameInputSameBytes) {
  const Matrix x = correlated_inputs(64, 32, 41);
  const Matrix h = x.transpose() * x;
  const Matrix w = gaussian(300, 32, 42);
  SparseGptOptions o;
  o.block = 8;
  const Matrix a = prune(w, h, o), b = prune(w, h, o);
  EXPECT_EQ(to_floats(a), to_floats(b));
}

TEST(SparseGpt, Errors) {
  std::vector<float> w(8, 1.0f);
  const std::vector<double> identity = row_major(Matrix::Identity(4, 4));
  const auto run = [&](const SparseGptOptions& o, const std::vector<double>& h,
                       const std::vector<float>& weights) {
    std::vector<float> copy = weights;
    return sparsegpt_prune(copy.data(), 2, 4, h.data(), o);
  };
  const auto message_of = [&](const SparseGptOptions& o, const std::vector<double>& h,
                              const std::vector<float>& weights = std::vector<float>(8, 1.0f)) {
    const Status s = run(o, h, weights);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    return s.message();
  };
  SparseGptOptions o;
  o.sparsity = 1.5;
  EXPECT_NE(message_of(o, identity).find("sparsity 1.5"), std::string::npos);
  o = {};
  o.n = 5;
  o.m = 4;
  EXPECT_NE(message_of(o, identity).find("1 <= n <= m"), std::string::npos);
  o = {};
  o.n = 2;
  o.m = 3;
  EXPECT_NE(message_of(o, identity).find("not a multiple of 3"), std::string::npos);
  o = {};
  o.block = 0;
  EXPECT_NE(message_of(o, identity).find("block"), std::string::npos);
  o = {};
  o.damp = -1;
  EXPECT_NE(message_of(o, identity).find("damp"), std::string::npos);
  o = {};
  std::vector<double> nan_gram = identity;
  nan_gram[5] = std::nan("");
  EXPECT_NE(message_of(o, nan_gram).find("Gram matrix is not all finite"), std::string::npos);
  std::vector<float> nan_w(8, 1.0f);
  nan_w[3] = std::numeric_limits<float>::infinity();
  EXPECT_NE(message_of(o, identity, nan_w).find("weights are not all finite"), std::string::npos);
  std::vector<double> negative = identity;
  negative[0] = -1;
  EXPECT_NE(message_of(o, negative).find("negative diagonal"), std::string::npos);
  // Indefinite beyond what the retries add: 1000 off the diagonal of ones.
  Matrix bad = Matrix::Identity(4, 4);
  bad(0, 1) = bad(1, 0) = 1000;
  EXPECT_NE(message_of(o, row_major(bad)).find("not positive definite"), std::string::npos);
  // Mildly indefinite: a larger damping rescues it.
  Matrix mild = Matrix::Identity(4, 4);
  mild(0, 1) = mild(1, 0) = 1.05;
  EXPECT_TRUE(run(o, row_major(mild), w).ok());
  EXPECT_EQ(sparsegpt_prune(w.data(), 2, 4, nullptr, o).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace compressor::passes
