// Exact (Eigen's BDCSVD) against randomized SVD for factorize-svd: time and accuracy, same run.
//
//   svd_bench [--sizes 1024,2048,4096] [--ranks 256,1024] [--reps 5] [--no-warmup]
//
// Each size n builds M = G1 diag(d) G2 [n, n] with Gaussian G1, G2 and d_i = 1 / (i + 1), a
// spectrum that decays like a power law (as trained weights do, roughly), in one GEMM. Each
// repetition times one exact SVD, then the randomized SVD for every rank (rank + 10 oversampling,
// 2 power iterations), interleaved; the speed-up is the median over repetitions of exact time /
// randomized time. Accuracy is the relative rank-r error ||M - U_r S_r V_rᵀ||_F / ||M||_F of each
// method's result. A rank whose sketch would be at least n / 2 wide falls back to exact inside
// svd() and is reported as such. Eigen runs on as many threads as Eigen::nbThreads() prints
// (1 unless the build has OpenMP).
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "../src/passes/factorize/low_rank.h"

namespace {
using namespace compressor::passes::low_rank;
using Clock = std::chrono::steady_clock;
using Matrix = Eigen::MatrixXd;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int64_t> parse_list(const std::string& list) {
  std::vector<int64_t> out;
  for (size_t p = 0; p < list.size();) {
    const size_t q = list.find(',', p);
    out.push_back(std::atoll(list.substr(p, q - p).c_str()));
    p = q == std::string::npos ? list.size() : q + 1;
  }
  return out;
}

Matrix gaussian(Eigen::Index rows, Eigen::Index cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist;
  Matrix m(rows, cols);
  for (double* p = m.data(); p != m.data() + m.size(); ++p) *p = dist(gen);
  return m;
}

Matrix decaying(Eigen::Index n) {
  Eigen::VectorXd d(n);
  for (Eigen::Index i = 0; i < n; ++i) d[i] = 1.0 / static_cast<double>(i + 1);
  Matrix g1 = gaussian(n, n, 1);
  g1 = g1 * d.asDiagonal();
  Matrix m(n, n);
  m.noalias() = g1 * gaussian(n, n, 2);
  return m;
}

double relative_error(const Matrix& m, const Svd& svd, int64_t r) {
  Matrix approx(m.rows(), m.cols());
  approx.noalias() = svd.u.leftCols(r) * svd.s.head(r).asDiagonal() * svd.v.leftCols(r).transpose();
  return (m - approx).norm() / m.norm();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Svd run(const Matrix& m, const SvdOptions& options) {
  auto result = svd(m, options);
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n", result.status().message().c_str());
    std::exit(1);
  }
  return std::move(result).value();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {1024, 2048, 4096};
  std::vector<int64_t> ranks = {256, 1024};
  int reps = 5;
  bool warmup = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--sizes" && i + 1 < argc) {
      sizes = parse_list(argv[++i]);
    } else if (a == "--ranks" && i + 1 < argc) {
      ranks = parse_list(argv[++i]);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--no-warmup") {
      warmup = false;
    } else {
      std::fprintf(stderr,
                   "usage: svd_bench [--sizes 1024,2048,4096] [--ranks 256,1024] [--reps N] "
                   "[--no-warmup]\n");
      return 2;
    }
  }
  std::printf("Eigen %d.%d.%d, Eigen::nbThreads() = %d, %d repetition(s)%s\n\n",
              EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, Eigen::nbThreads(),
              reps, warmup ? " after one warm-up" : ", no warm-up");
  std::printf("%-6s %-6s %-10s %12s %12s %12s %10s %12s %12s\n", "n", "rank", "method", "exact s",
              "random s", "(min-max)", "speed-up", "exact err", "random err");
  for (int64_t n : sizes) {
    const auto build_start = Clock::now();
    const Matrix m = decaying(n);
    const double build_s = seconds_since(build_start);

    SvdOptions exact_options;
    std::vector<SvdOptions> random_options;
    for (int64_t r : ranks) {
      SvdOptions o;
      o.method = SvdMethod::kRandomized;
      o.rank = std::min(r, n);
      random_options.push_back(o);
    }
    if (warmup) {
      (void)run(m, exact_options);
      for (const SvdOptions& o : random_options) (void)run(m, o);
    }
    std::vector<double> exact_times;
    std::vector<std::vector<double>> random_times(ranks.size()), ratios(ranks.size());
    Svd exact_svd;
    std::vector<Svd> random_svds(ranks.size());
    for (int rep = 0; rep < reps; ++rep) {
      auto start = Clock::now();
      exact_svd = run(m, exact_options);
      exact_times.push_back(seconds_since(start));
      for (size_t i = 0; i < ranks.size(); ++i) {
        start = Clock::now();
        random_svds[i] = run(m, random_options[i]);
        random_times[i].push_back(seconds_since(start));
        ratios[i].push_back(exact_times.back() / random_times[i].back());
      }
    }
    const double exact_median = median(exact_times);
    for (size_t i = 0; i < ranks.size(); ++i) {
      const int64_t r = random_options[i].rank;
      const int64_t k = std::min(r + random_options[i].oversampling, n);
      const bool fallback = 2 * k >= n;
      char spread[40];
      std::snprintf(spread, sizeof spread, "%.2f-%.2f",
                    *std::min_element(random_times[i].begin(), random_times[i].end()),
                    *std::max_element(random_times[i].begin(), random_times[i].end()));
      std::printf("%-6lld %-6lld %-10s %12.2f %12.2f %12s %9.1fx %12.3e %12.3e\n",
                  static_cast<long long>(n), static_cast<long long>(r),
                  fallback ? "fallback" : "randomized", exact_median, median(random_times[i]),
                  spread, median(ratios[i]), relative_error(m, exact_svd, r),
                  relative_error(m, random_svds[i], r));
    }
    std::printf("%-6lld exact SVD min-max %.2f-%.2f s; building M took %.2f s\n",
                static_cast<long long>(n),
                *std::min_element(exact_times.begin(), exact_times.end()),
                *std::max_element(exact_times.begin(), exact_times.end()), build_s);
    std::fflush(stdout);
  }
  return 0;
}
