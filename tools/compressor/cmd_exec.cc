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
#include "options.h"

namespace compressor::cli {
namespace {

namespace fs = std::filesystem;

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-5;

struct ExecOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string test_data_dir;
  std::string output_dir;
  uint64_t seed = 0;
  std::vector<std::string> dims;
  int threads = 0;
};

/// Element i of a numeric tensor as double; false for non-numeric dtypes.
bool numeric_at(const ir::Tensor& t, int64_t i, double* out) {
  switch (t.dtype()) {
    case ir::DType::kFloat:
      *out = t.span<float>()[i];
      return true;
    case ir::DType::kDouble:
      *out = t.span<double>()[i];
      return true;
    case ir::DType::kInt64:
      *out = static_cast<double>(t.span<int64_t>()[i]);
      return true;
    case ir::DType::kInt32:
      *out = t.span<int32_t>()[i];
      return true;
    case ir::DType::kInt16:
      *out = t.span<int16_t>()[i];
      return true;
    case ir::DType::kInt8:
      *out = t.span<int8_t>()[i];
      return true;
    case ir::DType::kUInt8:
    case ir::DType::kBool:
      *out = t.span<uint8_t>()[i];
      return true;
    case ir::DType::kUInt16:
      *out = t.span<uint16_t>()[i];
      return true;
    case ir::DType::kUInt32:
      *out = t.span<uint32_t>()[i];
      return true;
    case ir::DType::kUInt64:
      *out = static_cast<double>(t.span<uint64_t>()[i]);
      return true;
    default:
      return false;
  }
}

std::string describe_declared(const ir::ValueInfo& v) { return v.type_string(); }

/// Checks a fed tensor against the declared input type (dtype, rank, fixed and bound dims).
Status check_against_declared(const ir::Tensor& t, const ir::ValueInfo& v, const std::string& from,
                              const std::map<std::string, int64_t>& dims) {
  const std::string what = "input '" + v.name() + "' from " + from + ": ";
  if (v.dtype() != ir::DType::kUndefined && t.dtype() != v.dtype()) {
    return invalid_model(what + "dtype " + std::string(ir::dtype_name(t.dtype())) +
                         " does not match the declared " + describe_declared(v));
  }
  if (!v.has_shape()) return ok_status();
  const auto shape = v.shape();
  bool ok = shape.size() == t.dims().size();
  for (size_t i = 0; ok && i < shape.size(); ++i) {
    if (shape[i].value) {
      ok = *shape[i].value == t.dims()[i];
    } else if (!shape[i].param.empty()) {
      auto it = dims.find(shape[i].param);
      ok = it == dims.end() || it->second == t.dims()[i];
    }
  }
  if (!ok) {
    return invalid_model(what + "shape " + ir::dims_to_string(t.dims()) +
                         " does not match the declared " + describe_declared(v));
  }
  return ok_status();
}

/// Seeded random data for a declared input: floats in [0, 1), integers in [0, 10).
StatusOr<ir::Tensor> random_input(const ir::ValueInfo& v,
                                  const std::map<std::string, int64_t>& dims, std::mt19937_64& rng,
                                  std::vector<std::string>& unbound) {
  if (!v.is_tensor()) {
    return unsupported("input '" + v.name() + "' has type " + v.type_string() +
                       "; only tensor inputs can be generated");
  }
  ir::Dims shape;
  if (v.has_shape()) {
    for (const auto& d : v.shape()) {
      if (d.value) {
        shape.push_back(*d.value);
        continue;
      }
      auto it = d.param.empty() ? dims.end() : dims.find(d.param);
      if (it != dims.end()) {
        shape.push_back(it->second);
        continue;
      }
      const std::string name = d.param.empty() ? "(unnamed) of '" + v.name() + "'" : d.param;
      if (std::find(unbound.begin(), unbound.end(), name) == unbound.end()) unbound.push_back(name);
      shape.push_back(1);
    }
  }
  ir::Tensor t =
      ir::Tensor::zeros(v.dtype() == ir::DType::kUndefined ? ir::DType::kFloat : v.dtype(), shape);
  std::uniform_real_distribution<double> real(0.0, 1.0);
  std::uniform_int_distribution<int> integer(0, 9);
  auto fill = [&](auto tag, auto gen) {
    using T = decltype(tag);
    for (auto& x : t.mutable_span<T>()) x = static_cast<T>(gen());
  };
  auto r = [&] { return real(rng); };
  auto n = [&] { return integer(rng); };
  switch (t.dtype()) {
    case ir::DType::kFloat:
      fill(float{}, r);
      break;
    case ir::DType::kDouble:
      fill(double{}, r);
      break;
    case ir::DType::kInt64:
      fill(int64_t{}, n);
      break;
    case ir::DType::kInt32:
      fill(int32_t{}, n);
      break;
    case ir::DType::kInt16:
      fill(int16_t{}, n);
      break;
    case ir::DType::kInt8:
      fill(int8_t{}, n);
      break;
    case ir::DType::kUInt8:
      fill(uint8_t{}, n);
      break;
    case ir::DType::kUInt16:
      fill(uint16_t{}, n);
      break;
    case ir::DType::kUInt32:
      fill(uint32_t{}, n);
      break;
    case ir::DType::kUInt64:
      fill(uint64_t{}, n);
      break;
    case ir::DType::kBool:
      fill(uint8_t{}, [&] { return integer(rng) % 2; });
      break;
    default:
      return unsupported("input '" + v.name() + "': cannot generate random " +
                         std::string(ir::dtype_name(t.dtype())) + " data (give --input)");
  }
  return t;
}

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
  COMPRESSOR_ASSIGN_OR_RETURN(auto dims, parse_dims(opts.dims));
  if (opts.threads < 0) return invalid_argument("--threads must be >= 0");
  if (!opts.output_dir.empty() && !fs::is_directory(opts.output_dir)) {
    return invalid_argument("--output-dir '" + opts.output_dir + "' is not an existing folder");
  }
  if (!opts.test_data_dir.empty() && !fs::is_directory(opts.test_data_dir)) {
    return invalid_argument("--test-data-dir '" + opts.test_data_dir +
                            "' is not an existing folder");
  }
  // --input NAME=FILE, parsed before loading anything.
  std::vector<std::pair<std::string, std::string>> given;
  for (const auto& spec : opts.inputs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return invalid_argument("--input '" + spec + "': expected NAME=FILE");
    }
    given.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }

  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model model, io::load_model(opts.model));
  std::map<std::string, const ir::ValueInfo*> declared;
  std::vector<const ir::ValueInfo*> feedable;  // graph inputs that are not initializers
  for (const auto& v : model.graph.inputs) {
    declared[v.name()] = &v;
    if (model.graph.find_initializer(v.name()) == nullptr) feedable.push_back(&v);
  }

  for (const auto* list : {&model.graph.inputs, &model.graph.outputs}) {
    for (const auto& v : *list) {
      if (!v.is_tensor()) {
        return unsupported(opts.model + ": '" + v.name() + "' has type " + v.type_string() +
                           "; exec supports tensor inputs and outputs only");
      }
    }
  }
  std::map<std::string, ir::Tensor> feed;
  for (const auto& [name, file] : given) {
    auto it = declared.find(name);
    if (it == declared.end()) {
      std::string names;
      for (const auto* v : feedable) names += (names.empty() ? "" : ", ") + v->name();
      return invalid_argument("--input '" + name + "': the model has no input of that name" +
                              (names.empty() ? std::string() : " (inputs: " + names + ")"));
    }
    COMPRESSOR_ASSIGN_OR_RETURN(io::NamedFileTensor t, io::read_tensor_pb(file));
    COMPRESSOR_RETURN_IF_ERROR(check_against_declared(t.tensor, *it->second, file, dims));
    feed[name] = std::move(t.tensor);
  }
  std::vector<io::NamedFileTensor> expected;
  if (!opts.test_data_dir.empty()) {
    COMPRESSOR_ASSIGN_OR_RETURN(auto set, io::read_tensor_set(opts.test_data_dir, "input"));
    if (set.size() > feedable.size()) {
      return invalid_model(opts.test_data_dir + ": " + std::to_string(set.size()) +
                           " input files for a model with " + std::to_string(feedable.size()) +
                           " inputs");
    }
    for (size_t k = 0; k < set.size(); ++k) {
      const ir::ValueInfo& v = *feedable[k];
      if (feed.count(v.name())) continue;  // --input wins
      const std::string file =
          (fs::path(opts.test_data_dir) / ("input_" + std::to_string(k) + ".pb")).string();
      COMPRESSOR_RETURN_IF_ERROR(check_against_declared(set[k].tensor, v, file, dims));
      feed[v.name()] = std::move(set[k].tensor);
    }
    COMPRESSOR_ASSIGN_OR_RETURN(expected, io::read_tensor_set(opts.test_data_dir, "output"));
  }
  std::mt19937_64 rng(opts.seed);
  std::vector<std::string> unbound;
  for (const auto* v : feedable) {
    if (feed.count(v->name())) continue;
    COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor t, random_input(*v, dims, rng, unbound));
    feed[v->name()] = std::move(t);
  }
  for (const auto& name : unbound) {
    std::fprintf(stderr, "note: dim %s is unbound, taken as 1 (bind with --dim NAME=VALUE)\n",
                 name.c_str());
  }

  const auto missing = exec::unsupported_ops(model);
  if (!missing.empty()) {
    std::string list;
    for (const auto& op : missing) list += (list.empty() ? "" : ", ") + op;
    return unsupported(opts.model + ": the executor has no kernel for " + list);
  }
  auto ex = exec::Executor::create(model, {.threads = opts.threads});
  if (!ex.ok()) return ex.status().with_context(opts.model);
  std::vector<exec::NamedTensor> inputs;
  for (auto& [name, t] : feed) inputs.push_back({name, std::move(t)});
  auto outs = (*ex)->run(inputs);
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
  if (!opts.test_data_dir.empty()) {
    if (expected.size() != outs->size()) {
      return invalid_model(opts.test_data_dir + ": " + std::to_string(expected.size()) +
                           " output files for a model with " + std::to_string(outs->size()) +
                           " outputs");
    }
    for (size_t k = 0; k < outs->size(); ++k) {
      const std::string why = compare((*outs)[k], expected[k].tensor);
      if (!why.empty()) {
        return invalid_model(
            "output '" + names[k] + "' differs from " +
            (fs::path(opts.test_data_dir) / ("output_" + std::to_string(k) + ".pb")).string() +
            ": " + why);
      }
    }
    std::printf("all %zu outputs match %s (rtol %g, atol %g)\n", outs->size(),
                opts.test_data_dir.c_str(), kRtol, kAtol);
  }
  return ok_status();
}

}  // namespace

void setup_exec_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<ExecOptions>();
  CLI::App* cmd = app.add_subcommand("exec", "Run a model on the reference executor");
  cmd->add_option("model", opts->model, "Input .onnx model")->required();
  cmd->add_option("--input", opts->inputs, "NAME=FILE: feed a graph input from a TensorProto .pb");
  cmd->add_option("--test-data-dir", opts->test_data_dir,
                  "ONNX test_data_set_N folder: inputs from input_K.pb, compare with output_K.pb");
  cmd->add_option("--output-dir", opts->output_dir, "Write outputs there as output_K.pb");
  cmd->add_option("--seed", opts->seed, "Seed for random inputs (default 0)");
  cmd->add_option("--dim", opts->dims, "NAME=VALUE: bind a symbolic input dimension");
  cmd->add_option("--threads", opts->threads, "Worker threads (0 = all cores)");
  cmd->callback([opts, &run] { run = [opts] { return run_exec(*opts); }; });
}

}  // namespace compressor::cli
