#include "inputs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "compressor/io/samples.h"
#include "options.h"

namespace compressor::cli {

namespace fs = std::filesystem;

void add_input_options(CLI::App& cmd, InputOptions& opts) {
  cmd.add_option("--input", opts.inputs, "NAME=FILE: feed a graph input from a TensorProto .pb");
  cmd.add_option("--test-data-dir", opts.test_data_dir,
                 "ONNX test_data_set_N folder: inputs from input_K.pb (outputs in output_K.pb)");
  cmd.add_option("--seed", opts.seed, "Seed for random inputs (default 0)");
  cmd.add_option("--dim", opts.dims, "NAME=VALUE: bind a symbolic input dimension");
}

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

StatusOr<PreparedInputs> prepare_inputs(const ir::Model& model, const std::string& model_path,
                                        const InputOptions& opts, uint64_t sample) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto dims, parse_dims(opts.dims));
  if (!opts.test_data_dir.empty() && !fs::is_directory(opts.test_data_dir)) {
    return invalid_argument("--test-data-dir '" + opts.test_data_dir +
                            "' is not an existing folder");
  }
  std::vector<std::pair<std::string, std::string>> given;
  for (const auto& spec : opts.inputs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      return invalid_argument("--input '" + spec + "': expected NAME=FILE");
    }
    given.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }
  std::map<std::string, const ir::ValueInfo*> declared;
  for (const auto& v : model.graph.inputs) declared[v.name()] = &v;
  const std::vector<const ir::ValueInfo*> feedable = io::user_inputs(model);
  for (const auto* list : {&model.graph.inputs, &model.graph.outputs}) {
    for (const auto& v : *list) {
      if (!v.is_tensor()) {
        return unsupported(model_path + ": '" + v.name() + "' has type " + v.type_string() +
                           "; only tensor inputs and outputs can be fed and read");
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
    COMPRESSOR_RETURN_IF_ERROR(io::check_input_tensor(t.tensor, *it->second, file, dims));
    feed[name] = std::move(t.tensor);
  }
  PreparedInputs out;
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
      COMPRESSOR_RETURN_IF_ERROR(io::check_input_tensor(set[k].tensor, v, file, dims));
      feed[v.name()] = std::move(set[k].tensor);
    }
    COMPRESSOR_ASSIGN_OR_RETURN(out.expected, io::read_tensor_set(opts.test_data_dir, "output"));
  }
  // Sample 0 is the stream `exec --seed S` has always drawn; others get their own stream.
  std::mt19937_64 rng = io::sample_rng(opts.seed, sample);
  std::vector<std::string> unbound;
  for (const auto* v : feedable) {
    if (feed.count(v->name())) continue;
    COMPRESSOR_ASSIGN_OR_RETURN(ir::Tensor t,
                                io::random_input(*v, dims, std::nullopt, rng, &unbound));
    feed[v->name()] = std::move(t);
  }
  if (sample == 0) {
    for (const auto& name : unbound) {
      std::fprintf(stderr, "note: dim %s is unbound, taken as 1 (bind with --dim NAME=VALUE)\n",
                   name.c_str());
    }
  }
  for (auto& [name, t] : feed) out.feed.push_back({name, std::move(t)});
  return out;
}

}  // namespace compressor::cli
