// GEMM efficiency of the executor's MatMul against the measured FMA peak of one core.
//
//   gemm_bench [--runs 10] [--sizes 256,512,1024]
//
// The peak comes from a tight loop of independent fused multiply-adds on this machine (AVX2+FMA
// when the build targets them, else whatever the compiler vectorizes), not from a datasheet.
// Each size runs a MatMul model [n, n] x [n, n] through the executor with one thread; GFLOP/s =
// 2 n^3 / median seconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "compressor/exec/executor.h"
#include "compressor/ir/model.h"

namespace {
using namespace compressor;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// FLOP/s of one core doing nothing but independent FMAs: the best of `runs` short bursts (a
// peak, so the best; short, so a busy machine rarely interrupts every burst).
double fma_peak(int runs, const char** kind) {
  constexpr long kIters = 2'000'000;
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
#if defined(__AVX2__) && defined(__FMA__)
    *kind = "AVX2 FMA, 8 floats x 10 chains";
    // Ten named accumulators, so that they live in registers (an array would be spilled).
    __m256 c0 = _mm256_set1_ps(0.0f), c1 = _mm256_set1_ps(0.1f), c2 = _mm256_set1_ps(0.2f),
           c3 = _mm256_set1_ps(0.3f), c4 = _mm256_set1_ps(0.4f), c5 = _mm256_set1_ps(0.5f),
           c6 = _mm256_set1_ps(0.6f), c7 = _mm256_set1_ps(0.7f), c8 = _mm256_set1_ps(0.8f),
           c9 = _mm256_set1_ps(0.9f);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    const auto start = Clock::now();
    for (long it = 0; it < kIters; ++it) {
      c0 = _mm256_fmadd_ps(c0, a, b);
      c1 = _mm256_fmadd_ps(c1, a, b);
      c2 = _mm256_fmadd_ps(c2, a, b);
      c3 = _mm256_fmadd_ps(c3, a, b);
      c4 = _mm256_fmadd_ps(c4, a, b);
      c5 = _mm256_fmadd_ps(c5, a, b);
      c6 = _mm256_fmadd_ps(c6, a, b);
      c7 = _mm256_fmadd_ps(c7, a, b);
      c8 = _mm256_fmadd_ps(c8, a, b);
      c9 = _mm256_fmadd_ps(c9, a, b);
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                               _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    sum = _mm256_add_ps(sum, _mm256_add_ps(c8, c9));
    float out[8];
    _mm256_storeu_ps(out, sum);
    if (out[0] == 12345.0f) std::puts("");  // keep the loop alive
    rates.push_back(2.0 * 8 * 10 * static_cast<double>(kIters) / s);
#else
    *kind = "scalar multiply-adds, 16 chains (build without AVX2/FMA)";
    float acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = 0.001f * static_cast<float>(i);
    const auto start = Clock::now();
    for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    float sum = 0;
    for (float v : acc) sum += v;
    if (sum == 12345.0f) std::puts("");
    rates.push_back(2.0 * 16 * static_cast<double>(kIters) / s);
#endif
  }
  return *std::max_element(rates.begin(), rates.end());
}

ir::Model matmul_model(int64_t n) {
  ir::Model model;
  model.set_ir_version(8);
  model.set_opset_version("", 13);
  ir::Graph& g = model.graph;
  g.name = "gemm_bench";
  g.inputs.push_back(ir::ValueInfo::make_tensor("a", ir::DType::kFloat, {{n, {}}, {n, {}}}));
  ir::Tensor w = ir::Tensor::zeros(ir::DType::kFloat, {n, n});
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (float& v : w.mutable_span<float>()) v = dist(rng);
  g.set_initializer({"b", std::move(w), nullptr});
  ir::Node node;
  node.op_type = "MatMul";
  node.name = "matmul";
  node.inputs = {"a", "b"};
  node.outputs = {"y"};
  g.add_node(std::move(node));
  g.outputs.push_back(ir::ValueInfo::make_tensor("y", ir::DType::kFloat, {{n, {}}, {n, {}}}));
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 10;
  std::vector<int64_t> sizes = {256, 512, 1024};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::max(3, std::atoi(argv[++i]));
    } else if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string list = argv[++i];
      for (size_t p = 0; p < list.size();) {
        const size_t q = list.find(',', p);
        sizes.push_back(std::atoll(list.substr(p, q - p).c_str()));
        p = q == std::string::npos ? list.size() : q + 1;
      }
    } else {
      std::fprintf(stderr, "usage: gemm_bench [--runs N] [--sizes 256,512,1024]\n");
      return 2;
    }
  }
  const char* kind = "";
  const double peak = fma_peak(25, &kind);
  std::printf("FMA peak of one core: %.1f GFLOP/s (%s)\n\n", peak * 1e-9, kind);
  std::printf("%-8s %12s %12s %10s\n", "n", "median ms", "GFLOP/s", "of peak");
  for (int64_t n : sizes) {
    ir::Model model = matmul_model(n);
    auto ex = exec::Executor::create(model, {.threads = 1});
    if (!ex.ok()) {
      std::fprintf(stderr, "error: %s\n", ex.status().message().c_str());
      return 1;
    }
    ir::Tensor a = ir::Tensor::zeros(ir::DType::kFloat, {n, n});
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (float& v : a.mutable_span<float>()) v = dist(rng);
    std::vector<exec::NamedTensor> feed = {{"a", a}};
    std::vector<double> times;
    for (int r = 0; r <= runs; ++r) {
      const auto start = Clock::now();
      auto out = (*ex)->run(feed);
      const double s = std::chrono::duration<double>(Clock::now() - start).count();
      if (!out.ok()) {
        std::fprintf(stderr, "error: %s\n", out.status().message().c_str());
        return 1;
      }
      if (r > 0) times.push_back(s);  // run 0 warms up
    }
    const double s = median(times);
    const double flops =
        2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
    std::printf("%-8lld %12.3f %12.1f %9.0f%%\n", static_cast<long long>(n), s * 1e3,
                flops / s * 1e-9, 100 * flops / s / peak);
  }
  return 0;
}
