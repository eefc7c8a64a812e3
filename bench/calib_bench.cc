// What calibration costs over plain inference: the same model (after the cleanup passes and the
// move to opset 13 that `compressor quantize` makes first), the same samples, the same thread
// count, in one process. Each round times plain inference of every sample with our executor, then
// calibrate() for the tensors quantize-static asks for with each method, alternating; the table
// gives per method the median over rounds of calibration time / inference time, with its range.
//
//   calib_bench MODEL [--dim NAME=VALUE]... [--samples 16] [--random-range LO,HI] [--rounds 5]
//               [--threads 1] [--methods minmax,percentile,entropy,mse]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "compressor/exec/executor.h"
#include "compressor/io/onnx_io.h"
#include "compressor/io/samples.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/pipeline.h"
#include "compressor/pass/registry.h"

namespace {
using namespace compressor;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "calib_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T value_or_fail(StatusOr<T> v) {
  if (!v.ok()) fail(v.status().message());
  return std::move(v).value();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) out.push_back(part);
  return out;
}

/// Plain inference of every sample, as calibrate() runs them (executor planned in the timing).
double time_inference(const ir::Model& model, const io::SampleSet& samples, int threads) {
  const auto start = Clock::now();
  auto executor = value_or_fail(exec::Executor::create(model, {.threads = threads}));
  for (size_t i = 0; i < samples.size(); ++i) {
    std::vector<exec::NamedValue> feed;
    for (auto& t : value_or_fail(samples.get(i))) {
      feed.push_back({t.name, ir::Value(std::move(t.tensor))});
    }
    value_or_fail(executor->run_values(feed));
  }
  return seconds_since(start);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) fail("usage: calib_bench MODEL [--dim NAME=VALUE]... [--samples N] [--rounds N]");
  const std::string path = argv[1];
  io::SampleOptions sample_options;
  sample_options.count = 16;
  int rounds = 5, threads = 1;
  std::vector<std::string> methods = {"minmax", "percentile", "entropy", "mse"};
  for (int i = 2; i < argc; ++i) try {
      const std::string a = argv[i];
      if (i + 1 >= argc) fail("option " + a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--dim") {
        const auto eq = v.find('=');
        if (eq == std::string::npos) fail("--dim takes NAME=VALUE, got " + v);
        sample_options.dims[v.substr(0, eq)] = std::stoll(v.substr(eq + 1));
      } else if (a == "--samples") {
        sample_options.count = std::stoul(v);
      } else if (a == "--random-range") {
        const auto parts = split(v, ',');
        if (parts.size() != 2) fail("--random-range takes LO,HI, got " + v);
        sample_options.random_range = {std::stod(parts[0]), std::stod(parts[1])};
      } else if (a == "--rounds") {
        rounds = std::max(1, std::stoi(v));
      } else if (a == "--threads") {
        threads = std::stoi(v);
      } else if (a == "--methods") {
        methods = split(v, ',');
      } else {
        fail("unknown option " + a);
      }
    } catch (const std::logic_error&) {  // std::stoi and friends on a bad number
      fail("option " + std::string(argv[i - 1]) + ": not a number: " + argv[i]);
    }

  ir::Model model = value_or_fail(io::load_model(path));
  {
    pass::PassPipeline cleanup = value_or_fail(
        pass::PassPipeline::parse(pass::cleanup_pipeline_spec() + ",convert-opset{opset=13}"));
    pass::PassContext ctx;
    ctx.set_dims(sample_options.dims);
    value_or_fail(cleanup.run(model, ctx));
  }
  const auto quantizer = value_or_fail(pass::PassRegistry::builtin().create("quantize-static", {}));
  const std::vector<std::string> tensors = quantizer->calibration_tensors(model);
  const io::SampleSet samples = value_or_fail(io::SampleSet::open(model, sample_options));

  std::vector<pass::CalibrationOptions> options;
  for (const auto& m : methods) {
    pass::CalibrationOptions o;
    o.method = value_or_fail(pass::parse_calibration_method(m));
    o.threads = threads;
    options.push_back(o);
  }
  // One untimed round warms caches and the allocator.
  time_inference(model, samples, threads);
  std::vector<double> inference;
  std::vector<std::vector<double>> ratio(options.size());
  for (int r = 0; r < rounds; ++r) {
    const double base = time_inference(model, samples, threads);
    inference.push_back(base);
    for (size_t m = 0; m < options.size(); ++m) {
      const auto start = Clock::now();
      value_or_fail(pass::calibrate(model, samples, tensors, options[m]));
      ratio[m].push_back(seconds_since(start) / base);
    }
  }
  std::printf("%s: %zu tensors, %s, %d thread(s), %d rounds; inference %.3f s (median)\n",
              path.c_str(), tensors.size(), samples.describe().c_str(), threads, rounds,
              median(inference));
  std::printf("| method | calibration / inference (median) | min | max |\n|---|---|---|---|\n");
  for (size_t m = 0; m < options.size(); ++m) {
    const auto [lo, hi] = std::minmax_element(ratio[m].begin(), ratio[m].end());
    std::printf("| %s | %.2f | %.2f | %.2f |\n", methods[m].c_str(), median(ratio[m]), *lo, *hi);
  }
  return 0;
}
