// `compressor info MODEL [--json] [--dim NAME=VALUE]...`: what a model contains and costs.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "compressor/eval/model_info.h"
#include "compressor/exec/executor.h"
#include "compressor/io/onnx_io.h"
#include "options.h"

namespace compressor::cli {
namespace {

using nlohmann::json;

struct InfoOptions {
  std::string model;
  bool json = false;
  std::vector<std::string> dims;
};

// ---------------------------------------------------------------------------------------------
// Formatting

// 1234567 -> "1.23 M"; plain digits below a thousand.
std::string si(uint64_t n) {
  static const char* kSuffix[] = {"", " K", " M", " G", " T", " P", " E"};
  double v = static_cast<double>(n);
  size_t i = 0;
  while (v >= 1000.0 && i + 1 < std::size(kSuffix)) {
    v /= 1000.0;
    ++i;
  }
  if (i == 0) return std::to_string(n);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%s", v, kSuffix[i]);
  return buf;
}

// "1 node", "3 nodes".
std::string plural(size_t n, const std::string& noun) {
  return with_commas(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%%", 100.0 * fraction);
  return buf;
}

std::string domain_name(const std::string& domain) {
  return domain.empty() ? std::string("ai.onnx") : domain;
}

// Rows of cells printed with aligned columns; columns listed in `right` are right-aligned.
class Table {
 public:
  explicit Table(std::vector<size_t> right = {}) : right_(std::move(right)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void print(const char* indent = "  ") const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      if (row.size() > width.size()) width.resize(row.size(), 0);
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    for (const auto& row : rows_) {
      std::string line = indent;
      for (size_t c = 0; c < row.size(); ++c) {
        const bool right = std::find(right_.begin(), right_.end(), c) != right_.end();
        const std::string pad(width[c] - row[c].size(), ' ');
        line += right ? pad + row[c] : row[c] + (c + 1 < row.size() ? pad : "");
        if (c + 1 < row.size()) line += "  ";
      }
      std::printf("%s\n", line.c_str());
    }
  }

 private:
  std::vector<size_t> right_;
  std::vector<std::vector<std::string>> rows_;
};

// "MACs assume batch=1, seq=128".
std::string dims_assumption(const eval::MacsSummary& macs) {
  std::string out;
  for (const auto& [name, value] : macs.dims) {
    out += (out.empty() ? "" : ", ") + name + "=" + std::to_string(value);
  }
  return "MACs assume " + out;
}

std::string source_of(const eval::TensorSummary& t) {
  if (!t.from_constant_node) return "initializer";
  return t.constant_node.empty() ? "Constant node" : "Constant '" + t.constant_node + "'";
}

void print_text(const eval::ModelInfo& info) {
  uint64_t external_bytes = 0;
  for (const auto& f : info.external_files) external_bytes += f.bytes;

  Table head;
  head.add({"model", info.path});
  std::string size = with_commas(info.file_bytes) + " bytes (" + human_bytes(info.file_bytes) + ")";
  if (external_bytes > 0) size += " + " + human_bytes(external_bytes) + " external data";
  head.add({"size", size});
  head.add({"ir_version", std::to_string(info.ir_version)});
  std::string producer = info.producer_name;
  if (!info.producer_version.empty()) producer += " " + info.producer_version;
  head.add({"producer", producer.empty() ? "(not recorded)" : producer});
  std::string opsets;
  for (const auto& o : info.opsets) {
    opsets +=
        (opsets.empty() ? "" : ", ") + domain_name(o.domain) + " " + std::to_string(o.version);
  }
  head.add({"opsets", opsets.empty() ? "(none)" : opsets});
  head.add({"graph", info.graph_name.empty() ? "(unnamed)" : info.graph_name});
  head.add({"functions", std::to_string(info.function_count)});
  if (info.metadata.empty()) head.add({"metadata", "(none)"});
  for (size_t i = 0; i < info.metadata.size(); ++i) {
    head.add({i == 0 ? "metadata" : "", info.metadata[i].first + " = " + info.metadata[i].second});
  }
  head.print("");

  std::printf("\n");
  Table io;
  for (size_t i = 0; i < info.inputs.size(); ++i) {
    io.add({i == 0 ? "inputs" : "", info.inputs[i].name, info.inputs[i].type});
  }
  if (info.inputs.empty()) io.add({"inputs", "(none)"});
  if (info.initializer_inputs > 0) {
    io.add({"", "(+" + with_commas(info.initializer_inputs) +
                    " graph inputs that are initializers, not listed)"});
  }
  for (size_t i = 0; i < info.outputs.size(); ++i) {
    io.add({i == 0 ? "outputs" : "", info.outputs[i].name, info.outputs[i].type});
  }
  io.print("");

  std::printf("\nnodes  %s (%zu Constant holding tensors, %zu with subgraphs",
              with_commas(info.node_count).c_str(), info.constant_nodes, info.subgraph_nodes);
  if (info.sparse_initializers > 0)
    std::printf(", %zu sparse initializers", info.sparse_initializers);
  std::printf(")\n");
  Table ops({1});
  for (const auto& op : info.op_types) ops.add({op.op_type, with_commas(op.count)});
  ops.print();

  std::printf("\nparameters  %s (%s) in %s, %zu tensors\n", with_commas(info.params.params).c_str(),
              si(info.params.params).c_str(), human_bytes(info.params.bytes).c_str(),
              info.params.tensors);
  Table params({1, 2, 3});
  params.add({"", "tensors", "params", "bytes"});
  auto add_stats = [&](const std::string& label, const eval::ParamStats& s) {
    params.add({label, with_commas(s.tensors), with_commas(s.params), human_bytes(s.bytes)});
  };
  add_stats("initializers", info.initializer_params);
  add_stats("constant nodes", info.constant_params);
  if (!info.params.by_dtype.empty()) params.add({"by dtype:"});
  for (const auto& row : info.params.by_dtype) {
    params.add({"  " + std::string(ir::dtype_name(row.dtype)), with_commas(row.tensors),
                with_commas(row.params), human_bytes(row.bytes)});
  }
  params.print();

  if (!info.largest.empty()) {
    std::printf("\nlargest tensors\n");
    Table largest({3, 4});
    largest.add({"name", "dtype", "shape", "bytes", "zeros", "source"});
    for (const auto& t : info.largest) {
      largest.add({t.name, std::string(ir::dtype_name(t.dtype)), ir::dims_to_string(t.dims),
                   human_bytes(t.bytes), t.zero_fraction ? percent(*t.zero_fraction) : "-",
                   source_of(t)});
    }
    largest.print();
  }

  std::printf("\nsparsity  ");
  if (info.sparsity.elements == 0) {
    std::printf("no float weights\n");
  } else {
    std::printf("%s of %s float weight elements are exactly zero (%s in %zu tensors)\n",
                percent(info.sparsity.fraction()).c_str(),
                with_commas(info.sparsity.elements).c_str(),
                with_commas(info.sparsity.zeros).c_str(), info.sparsity.tensors);
  }

  std::printf("\nexternal data  ");
  if (info.external_files.empty()) {
    std::printf("none\n");
  } else {
    std::printf("%zu file%s\n", info.external_files.size(),
                info.external_files.size() == 1 ? "" : "s");
    Table files({1});
    for (const auto& f : info.external_files) {
      files.add({f.location, f.exists ? human_bytes(f.bytes) : "MISSING",
                 with_commas(f.tensors) + " tensors, " + human_bytes(f.referenced_bytes) +
                     " referenced"});
    }
    files.print();
  }

  const eval::MacsSummary& macs = info.macs;
  std::printf("\nMACs  %s (%s) in %s\n", with_commas(macs.total).c_str(), si(macs.total).c_str(),
              plural(macs.counted_nodes, "node").c_str());
  Table by_op({2, 3});
  for (const auto& row : macs.by_op_type) {
    const double share =
        macs.total > 0 ? static_cast<double>(row.macs) / static_cast<double>(macs.total) : 0.0;
    by_op.add({row.op_type, plural(row.nodes, "node"), with_commas(row.macs), percent(share)});
  }
  by_op.print();
  if (macs.unknown_nodes > 0) {
    constexpr size_t kExamples = 3;
    std::string examples;
    for (size_t i = 0; i < macs.unknown_examples.size() && i < kExamples; ++i) {
      examples += (i ? ", " : "") + macs.unknown_examples[i];
    }
    if (macs.unknown_nodes > kExamples) examples += ", ...";
    std::printf("  MACs unknown for %s (shapes not inferred): %s\n",
                plural(macs.unknown_nodes, "node").c_str(), examples.c_str());
  }
  if (!macs.dims.empty()) std::printf("  %s\n", dims_assumption(macs).c_str());
  if (!macs.unbound_dims.empty()) {
    std::string names;
    for (const auto& n : macs.unbound_dims) names += (names.empty() ? "" : ", ") + n;
    std::printf("  unbound, taken as 1: %s (bind with --dim NAME=VALUE)\n", names.c_str());
  }
  for (const auto& note : macs.notes) std::printf("  %s\n", note.c_str());
}

// ---------------------------------------------------------------------------------------------
// JSON

json shape_json(const eval::ValueSummary& v) {
  if (!v.has_shape) return nullptr;
  json dims = json::array();
  for (const ir::Dim& d : v.shape) {
    if (d.value) {
      dims.push_back(*d.value);
    } else if (!d.param.empty()) {
      dims.push_back(d.param);
    } else {
      dims.push_back(nullptr);
    }
  }
  return dims;
}

json values_json(const std::vector<eval::ValueSummary>& values) {
  json out = json::array();
  for (const auto& v : values) {
    out.push_back({{"name", v.name},
                   {"type", v.type},
                   {"dtype", v.is_tensor ? json(ir::dtype_name(v.dtype)) : json(nullptr)},
                   {"shape", shape_json(v)}});
  }
  return out;
}

json params_json(const eval::ParamStats& s) {
  json by_dtype = json::object();
  for (const auto& row : s.by_dtype) {
    by_dtype[std::string(ir::dtype_name(row.dtype))] = {
        {"tensors", row.tensors}, {"params", row.params}, {"bytes", row.bytes}};
  }
  return {{"tensors", s.tensors}, {"total", s.params}, {"bytes", s.bytes}, {"by_dtype", by_dtype}};
}

json to_json(const eval::ModelInfo& info) {
  uint64_t external_bytes = 0;
  for (const auto& f : info.external_files) external_bytes += f.bytes;
  json opsets = json::array();
  for (const auto& o : info.opsets) {
    opsets.push_back({{"domain", domain_name(o.domain)}, {"version", o.version}});
  }
  json metadata = json::object();
  for (const auto& [k, v] : info.metadata) metadata[k] = v;

  json op_types = json::array();
  for (const auto& op : info.op_types) {
    op_types.push_back({{"op_type", op.op_type}, {"count", op.count}});
  }

  json params = params_json(info.params);
  params["initializers"] = params_json(info.initializer_params);
  params["constant_nodes"] = params_json(info.constant_params);

  json largest = json::array();
  for (const auto& t : info.largest) {
    json row = {{"name", t.name},
                {"source", t.from_constant_node ? "constant_node" : "initializer"},
                {"dtype", ir::dtype_name(t.dtype)},
                {"shape", t.dims},
                {"bytes", t.bytes},
                {"zero_fraction", t.zero_fraction ? json(*t.zero_fraction) : json(nullptr)}};
    if (t.from_constant_node) row["constant_node"] = t.constant_node;
    largest.push_back(std::move(row));
  }

  json external = json::array();
  for (const auto& f : info.external_files) {
    external.push_back({{"location", f.location},
                        {"exists", f.exists},
                        {"bytes", f.bytes},
                        {"tensors", f.tensors},
                        {"referenced_bytes", f.referenced_bytes}});
  }

  const eval::MacsSummary& m = info.macs;
  json by_op = json::array();
  for (const auto& row : m.by_op_type) {
    by_op.push_back({{"op_type", row.op_type}, {"nodes", row.nodes}, {"macs", row.macs}});
  }
  json dims = json::object();
  for (const auto& [name, value] : m.dims) dims[name] = value;
  json assumptions = json::array();
  for (const auto& [name, value] : m.dims) {
    const bool unbound =
        std::find(m.unbound_dims.begin(), m.unbound_dims.end(), name) != m.unbound_dims.end();
    assumptions.push_back(name + "=" + std::to_string(value) + (unbound ? " (unbound)" : ""));
  }
  for (const auto& note : m.notes) assumptions.push_back(note);

  return {
      {"model",
       {{"path", info.path},
        {"bytes", info.file_bytes},
        {"total_bytes", info.file_bytes + external_bytes},
        {"ir_version", info.ir_version},
        {"producer", {{"name", info.producer_name}, {"version", info.producer_version}}},
        {"opsets", opsets},
        {"graph_name", info.graph_name},
        {"functions", info.function_count},
        {"metadata", metadata}}},
      {"inputs", values_json(info.inputs)},
      {"initializer_inputs", info.initializer_inputs},
      {"outputs", values_json(info.outputs)},
      {"nodes",
       {{"count", info.node_count},
        {"op_types", op_types},
        {"constant_nodes", info.constant_nodes},
        {"subgraph_nodes", info.subgraph_nodes},
        {"sparse_initializers", info.sparse_initializers}}},
      {"params", params},
      {"largest_initializers", largest},
      {"external_data", external},
      {"macs",
       {{"total", m.total},
        {"by_op_type", by_op},
        {"counted_nodes", m.counted_nodes},
        {"unknown_nodes", m.unknown_nodes},
        {"unknown_examples", m.unknown_examples},
        {"dims", dims},
        {"unbound_dims", m.unbound_dims},
        {"assumptions", assumptions}}},
      {"sparsity",
       {{"tensors", info.sparsity.tensors},
        {"elements", info.sparsity.elements},
        {"zeros", info.sparsity.zeros},
        {"fraction", info.sparsity.fraction()}}},
  };
}

Status run_info(const InfoOptions& opts) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto dims, parse_dims(opts.dims));
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model model, io::load_model(opts.model));
  eval::SummaryOptions options;
  options.dims = std::move(dims);
  auto info = eval::summarize_model(model, opts.model, options);
  if (!info.ok()) {
    if (info.status().code() == ErrorCode::kInvalidArgument) {
      return info.status().with_context(opts.model + ": --dim");
    }
    return info.status();
  }
  const std::vector<std::string> missing = exec::unsupported_ops(model);
  if (opts.json) {
    json out = to_json(*info);
    out["executor"] = {{"unsupported_ops", missing}};
    // Names in a model are not guaranteed to be UTF-8; replace bad bytes rather than throw.
    std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    print_text(*info);
    std::string line;
    for (const auto& op : missing) line += (line.empty() ? "" : ", ") + op;
    std::printf("\nexecutor  %s\n", missing.empty() ? "runs every op of the main graph"
                                                    : ("cannot run " + line).c_str());
  }
  return ok_status();
}

}  // namespace

void setup_info_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "info", "Show a model's inputs, operators, parameters, external data, MACs and sparsity");
  cmd->add_option("model", opts->model, "Input .onnx model")->required();
  cmd->add_flag("--json", opts->json, "Print one JSON object instead of the text summary");
  cmd->add_option("--dim", opts->dims,
                  "Bind a symbolic input dimension for the MAC estimate (repeatable); unbound "
                  "ones are taken as 1")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
  cmd->callback([opts, &run] { run = [opts] { return run_info(*opts); }; });
}

}  // namespace compressor::cli
