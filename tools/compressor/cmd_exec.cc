// `compressor exec MODEL [--input NAME=FILE]... [--test-data-dir DIR] [--output-dir DIR]
// [--seed S] [--dim NAME=VALUE]... [--threads N]`: runs a model on the reference executor with
// inputs from .pb files, an ONNX test_data_set_N folder or seeded random data; prints a summary
// of every output, writes them as output_K.pb, and compares them with the folder's outputs.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "commands.h"
#include "compressor/exec/executor.h"
#include "compressor/io/onnx_io.h"
#include "compressor/io/test_data.h"
#include "inputs.h"
#include "options.h"

namespace compressor::cli {
namespace {

namespace fs = std::filesystem;

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-5;

struct ExecOptions {
  std::string model;
  InputOptions in;
  std::string output_dir;
  int threads = 0;
};

/// "" when `got` matches `want` (rtol/atol for floats, exact otherwise), else why not.
std::string compare(const ir::Tensor& got, const ir::Tensor& want) {
  if (got.dtype() != want.dtype()) {
    return "dtype " + std::string(ir::dtype_name(got.dtype())) + " vs expected " +
           std::string(ir::dtype_name(want.dtype()));
  }
  if (got.dims() != want.dims()) {
    return "shape " + ir::dims_to_string(got.dims()) + " vs expected " +
           ir::dims_to_string(want.dims());
  }
  if (got.dtype() == ir::DType::kString) {
    return got.strings() == want.strings() ? "" : "strings differ";
  }
  const bool is_float = ir::traits(got.dtype()).is_float;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = 0, w = 0;
    if (!numeric_at(got, i, &g) || !numeric_at(want, i, &w)) {
      return got.bitwise_equal(want) ? "" : "values differ";
    }
    if (is_float) {
      if (std::isnan(g) && std::isnan(w)) continue;
      if (std::isinf(w) && g == w) continue;
      if (std::fabs(g - w) <= kAtol + kRtol * std::fabs(w)) continue;
    } else if (g == w) {
      continue;
    }
    char buf[128];
    std::snprintf(buf, sizeof(buf), "element %lld: %.9g vs expected %.9g",
                  static_cast<long long>(i), g, w);
    return buf;
  }
  return "";
}

void print_summary(const std::string& name, const ir::Tensor& t) {
  std::string stats;
  double mn = INFINITY, mx = -INFINITY, sum = 0;
  bool numeric = t.numel() > 0;
  for (int64_t i = 0; numeric && i < t.numel(); ++i) {
    double v = 0;
    if (!numeric_at(t, i, &v)) {
      numeric = false;
      break;
    }
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    sum += v;
  }
  if (numeric) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "min %.6g  max %.6g  mean %.6g", mn, mx,
                  sum / static_cast<double>(t.numel()));
    stats = buf;
  } else {
    stats = t.numel() == 0 ? "(empty)" : "(non-numeric)";
  }
  std::printf("%s  %s  %s  %s\n", name.c_str(), std::string(ir::dtype_name(t.dtype())).c_str(),
              ir::dims_to_string(t.dims()).c_str(), stats.c_str());
}

Status run_exec(const ExecOptions& opts) {
  if (opts.threads < 0) return invalid_argument("--threads must be >= 0");
  if (!opts.output_dir.empty() && !fs::is_directory(opts.output_dir)) {
    return invalid_argument("--output-dir '" + opts.output_dir + "' is not an existing folder");
  }
  COMPRESSOR_RETURN_IF_ERROR(parse_dims(opts.in.dims).status());
  if (!opts.in.test_data_dir.empty() && !fs::is_directory(opts.in.test_data_dir)) {
    return invalid_argument("--test-data-dir '" + opts.in.test_data_dir +
                            "' is not an existing folder");
  }
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model model, io::load_model(opts.model));
  COMPRESSOR_ASSIGN_OR_RETURN(PreparedInputs prepared, prepare_inputs(model, opts.model, opts.in));
  std::vector<io::NamedFileTensor>& expected = prepared.expected;

  const auto missing = exec::unsupported_ops(model);
  if (!missing.empty()) {
    std::string list;
    for (const auto& op : missing) list += (list.empty() ? "" : ", ") + op;
    return unsupported(opts.model + ": the executor has no kernel for " + list);
  }
  auto ex = exec::Executor::create(model, {.threads = opts.threads});
  if (!ex.ok()) return ex.status().with_context(opts.model);
  auto outs = (*ex)->run(prepared.feed);
  if (!outs.ok()) return outs.status().with_context(opts.model);

  const auto& names = (*ex)->output_names();
  for (size_t k = 0; k < outs->size(); ++k) {
    print_summary(names[k], (*outs)[k]);
    if (!opts.output_dir.empty()) {
      const std::string path =
          (fs::path(opts.output_dir) / ("output_" + std::to_string(k) + ".pb")).string();
      COMPRESSOR_RETURN_IF_ERROR(io::write_tensor_pb((*outs)[k], names[k], path));
    }
  }
  if (!opts.in.test_data_dir.empty()) {
    if (expected.size() != outs->size()) {
      return invalid_model(opts.in.test_data_dir + ": " + std::to_string(expected.size()) +
                           " output files for a model with " + std::to_string(outs->size()) +
                           " outputs");
    }
    for (size_t k = 0; k < outs->size(); ++k) {
      const std::string why = compare((*outs)[k], expected[k].tensor);
      if (!why.empty()) {
        return invalid_model(
            "output '" + names[k] + "' differs from " +
            (fs::path(opts.in.test_data_dir) / ("output_" + std::to_string(k) + ".pb")).string() +
            ": " + why);
      }
    }
    std::printf("all %zu outputs match %s (rtol %g, atol %g)\n", outs->size(),
                opts.in.test_data_dir.c_str(), kRtol, kAtol);
  }
  return ok_status();
}

}  // namespace

void setup_exec_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<ExecOptions>();
  CLI::App* cmd = app.add_subcommand("exec", "Run a model on the reference executor");
  cmd->add_option("model", opts->model, "Input .onnx model")->required();
  add_input_options(*cmd, opts->in);
  cmd->add_option("--output-dir", opts->output_dir, "Write outputs there as output_K.pb");
  cmd->add_option("--threads", opts->threads, "Worker threads (0 = all cores)");
  cmd->callback([opts, &run] { run = [opts] { return run_exec(*opts); }; });
}

}  // namespace compressor::cli
