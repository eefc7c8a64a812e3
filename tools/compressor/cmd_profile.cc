// `compressor profile MODEL [input options] [--runs N] [--warmup N] [--samples N] [--batch B]
// [--threads N] [--top N] [--json]`: runs a model on the reference executor and shows where the
// time goes: wall time per run, and time, share of the total and MACs per op type and per node,
// slowest first.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "commands.h"
#include "compressor/eval/model_info.h"
#include "compressor/exec/batching.h"
#include "compressor/exec/executor.h"
#include "compressor/io/onnx_io.h"
#include "inputs.h"
#include "options.h"

namespace compressor::cli {
namespace {

using nlohmann::json;

struct ProfileOptions {
  std::string model;
  InputOptions in;
  int runs = 10;
  int warmup = 1;
  int samples = 1;
  int batch = 1;
  int threads = 0;
  int top = 20;
  bool json = false;
};

struct NodeRow {
  const ir::Node* node = nullptr;
  std::string label;
  std::vector<double> per_run;  // time in each timed run (all samples of the run)
  double seconds = 0;           // the median of per_run
  std::optional<uint64_t> macs;
  std::string output_shape;
};

struct OpRow {
  std::string op_type;
  size_t nodes = 0;
  double seconds = 0;
  uint64_t macs = 0;
};

// Resident bytes of this process now (from /proc/self/statm), 0 when unavailable.
uint64_t current_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Peak resident bytes of this process so far.
uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

std::string node_label(const ir::Node& n, size_t index) {
  return n.name.empty() ? n.op_type + "#" + std::to_string(index) : n.name;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// GMAC/s of `macs` done in `seconds`, or "-" when either is unknown or zero.
std::string gmacs_per_s(std::optional<uint64_t> macs, double seconds) {
  if (!macs || *macs == 0 || seconds <= 0) return "-";
  return fmt("%.2f", static_cast<double>(*macs) / seconds * 1e-9);
}

Status run_profile(const ProfileOptions& opts) {
  if (opts.runs < 1) return invalid_argument("--runs must be >= 1");
  if (opts.warmup < 0) return invalid_argument("--warmup must be >= 0");
  if (opts.samples < 1) return invalid_argument("--samples must be >= 1");
  if (opts.batch < 1) return invalid_argument("--batch must be >= 1");
  if (opts.threads < 0) return invalid_argument("--threads must be >= 0");
  if (opts.top < 0) return invalid_argument("--top must be >= 0");
  COMPRESSOR_RETURN_IF_ERROR(parse_dims(opts.in.dims).status());
  const uint64_t startup_rss = current_rss_bytes();
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model model, io::load_model(opts.model));
  const auto missing = exec::unsupported_ops(model);
  if (!missing.empty()) {
    std::string list;
    for (const auto& op : missing) list += (list.empty() ? "" : ", ") + op;
    return unsupported(opts.model + ": the executor has no kernel for " + list);
  }
  std::vector<std::vector<exec::NamedTensor>> samples;
  for (int s = 0; s < opts.samples; ++s) {
    COMPRESSOR_ASSIGN_OR_RETURN(
        PreparedInputs p, prepare_inputs(model, opts.model, opts.in, static_cast<uint64_t>(s)));
    samples.push_back(std::move(p.feed));
  }
  auto ex = exec::Executor::create(model, {.threads = opts.threads});
  if (!ex.ok()) return ex.status().with_context(opts.model);
  const exec::BatchAxis axis = exec::batch_axis(model);
  if (opts.batch > 1 && !axis.stackable) {
    std::fprintf(stderr, "note: samples run one at a time: %s\n", axis.why_not.c_str());
  }

  // Shapes of one run, for the MACs of each node: inputs, initializers and every produced value.
  std::unordered_map<std::string, ir::Dims> shapes;
  for (const auto& init : model.graph.initializers()) shapes[init.name] = init.tensor.dims();
  for (const auto& in : samples[0]) shapes[in.name] = in.tensor.dims();
  {
    auto record = [&](const std::string& name, const ir::Tensor& t) { shapes[name] = t.dims(); };
    auto r = (*ex)->run(samples[0], record);
    if (!r.ok()) return r.status().with_context(opts.model);
  }

  std::vector<NodeRow> rows;
  std::unordered_map<const ir::Node*, size_t> row_of;
  int timed_run = -1;  // index of the timed run in progress, -1 while warming up
  auto on_node = [&](const ir::Node& n, double seconds) {
    auto [it, inserted] = row_of.emplace(&n, rows.size());
    if (inserted) {
      NodeRow row;
      row.node = &n;
      row.label = node_label(n, rows.size());
      row.macs = eval::node_macs(n, [&](const std::string& name) -> const ir::Dims* {
        auto s = shapes.find(name);
        return s == shapes.end() ? nullptr : &s->second;
      });
      if (!n.outputs.empty()) {
        auto s = shapes.find(n.outputs[0]);
        if (s != shapes.end()) row.output_shape = ir::dims_to_string(s->second);
      }
      rows.push_back(std::move(row));
    }
    if (timed_run >= 0) {
      auto& per_run = rows[it->second].per_run;
      per_run.resize(static_cast<size_t>(opts.runs), 0.0);
      per_run[static_cast<size_t>(timed_run)] += seconds;
    }
  };
  const size_t max_batch = static_cast<size_t>(opts.batch);
  for (int w = 0; w < opts.warmup; ++w) {
    auto r = exec::run_samples(**ex, model, samples, max_batch, on_node);
    if (!r.ok()) return r.status().with_context(opts.model);
  }
  std::vector<double> run_seconds;
  for (int k = 0; k < opts.runs; ++k) {
    timed_run = k;
    const auto start = std::chrono::steady_clock::now();
    auto r = exec::run_samples(**ex, model, samples, max_batch, on_node);
    run_seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!r.ok()) return r.status().with_context(opts.model);
  }

  // The shapes above are of sample 0 alone; a run goes through every sample.
  for (auto& r : rows) {
    if (r.macs) *r.macs *= static_cast<uint64_t>(opts.samples);
  }
  // Medians, so that one run disturbed by another process does not skew a node's figure.
  for (auto& r : rows) {
    r.per_run.resize(static_cast<size_t>(opts.runs), 0.0);
    r.seconds = median(r.per_run);
  }
  double node_total = 0;
  for (const auto& r : rows) node_total += r.seconds;
  std::map<std::string, OpRow> by_op;
  for (const auto& r : rows) {
    const std::string op =
        r.node->in_default_domain() ? r.node->op_type : r.node->domain + "." + r.node->op_type;
    OpRow& o = by_op[op];
    o.op_type = op;
    ++o.nodes;
    o.seconds += r.seconds;
    if (r.macs) o.macs += *r.macs;
  }
  std::vector<OpRow> ops;
  for (auto& [name, o] : by_op) ops.push_back(o);
  std::stable_sort(ops.begin(), ops.end(),
                   [](const OpRow& a, const OpRow& b) { return a.seconds > b.seconds; });
  std::vector<const NodeRow*> slowest;
  for (const auto& r : rows) slowest.push_back(&r);
  std::stable_sort(slowest.begin(), slowest.end(),
                   [](const NodeRow* a, const NodeRow* b) { return a->seconds > b->seconds; });
  uint64_t total_macs = 0;
  for (const auto& o : ops) total_macs += o.macs;
  auto share = [&](double s) { return node_total > 0 ? s / node_total : 0.0; };
  const double med = median(run_seconds);
  const double mn = *std::min_element(run_seconds.begin(), run_seconds.end());
  const double mx = *std::max_element(run_seconds.begin(), run_seconds.end());
  const bool batched = opts.batch > 1 && axis.stackable;

  if (opts.json) {
    json j;
    j["model"] = opts.model;
    j["threads"] = opts.threads;
    j["runs"] = opts.runs;
    j["warmup"] = opts.warmup;
    j["samples"] = opts.samples;
    j["batch"] = batched ? opts.batch : 1;
    j["run_ms"] = {{"min", mn * 1e3}, {"median", med * 1e3}, {"max", mx * 1e3}};
    j["macs_per_run"] = total_macs;
    j["startup_rss_bytes"] = startup_rss;
    j["peak_rss_bytes"] = peak_rss_bytes();
    json jops = json::array();
    for (const auto& o : ops) {
      jops.push_back({{"op_type", o.op_type},
                      {"nodes", o.nodes},
                      {"ms", o.seconds * 1e3},
                      {"share", share(o.seconds)},
                      {"macs_per_run", o.macs}});
    }
    j["op_types"] = std::move(jops);
    json jnodes = json::array();
    for (const NodeRow* r : slowest) {
      json n = {{"node", r->label},
                {"op_type", r->node->op_type},
                {"ms", r->seconds * 1e3},
                {"share", share(r->seconds)},
                {"output_shape", r->output_shape}};
      n["macs_per_run"] = r->macs ? json(*r->macs) : json(nullptr);
      jnodes.push_back(std::move(n));
    }
    j["nodes"] = std::move(jnodes);
    std::printf("%s\n", j.dump(2).c_str());
    return ok_status();
  }

  std::printf("model    %s\n", opts.model.c_str());
  std::printf("runs     %d timed after %d warm-up, %d sample%s per run%s, threads %s\n", opts.runs,
              opts.warmup, opts.samples, opts.samples == 1 ? "" : "s",
              batched ? (" in batches of " + std::to_string(opts.batch)).c_str() : "",
              opts.threads == 0 ? "all cores" : std::to_string(opts.threads).c_str());
  std::printf("time     median %.3f ms per run (min %.3f, max %.3f)\n", med * 1e3, mn * 1e3,
              mx * 1e3);
  std::printf("memory   peak RSS %s (%s at start)\n", human_bytes(peak_rss_bytes()).c_str(),
              human_bytes(startup_rss).c_str());
  std::printf("MACs     %s per run (%s GMAC/s)\n\n", with_commas(total_macs).c_str(),
              gmacs_per_s(total_macs, med).c_str());
  std::printf("%-24s %6s %11s %7s %16s %8s\n", "op type", "nodes", "ms/run", "share", "MACs/run",
              "GMAC/s");
  for (const auto& o : ops) {
    const double sec = o.seconds;
    std::printf("%-24s %6zu %11.3f %6.1f%% %16s %8s\n", o.op_type.c_str(), o.nodes, sec * 1e3,
                100 * share(o.seconds), o.macs ? with_commas(o.macs).c_str() : "-",
                gmacs_per_s(o.macs, sec).c_str());
  }
  const size_t shown = std::min(slowest.size(), static_cast<size_t>(opts.top));
  std::printf("\n%zu slowest of %zu nodes\n", shown, slowest.size());
  std::printf("%-32s %-20s %11s %7s %16s %8s  %s\n", "node", "op type", "ms/run", "share",
              "MACs/run", "GMAC/s", "output shape");
  for (size_t i = 0; i < shown; ++i) {
    const NodeRow& r = *slowest[i];
    const double sec = r.seconds;
    std::printf("%-32s %-20s %11.3f %6.1f%% %16s %8s  %s\n", r.label.c_str(),
                r.node->op_type.c_str(), sec * 1e3, 100 * share(r.seconds),
                r.macs ? with_commas(*r.macs).c_str() : "-", gmacs_per_s(r.macs, sec).c_str(),
                r.output_shape.c_str());
  }
  return ok_status();
}

}  // namespace

void setup_profile_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<ProfileOptions>();
  CLI::App* cmd =
      app.add_subcommand("profile", "Time a model on the reference executor, per op type and node");
  cmd->add_option("model", opts->model, "Input .onnx model")->required();
  add_input_options(*cmd, opts->in);
  cmd->add_option("--runs", opts->runs, "Timed runs (default 10)");
  cmd->add_option("--warmup", opts->warmup, "Untimed runs first (default 1)");
  cmd->add_option(
      "--samples", opts->samples,
      "Samples per run (given inputs repeat, random ones are drawn per sample; default 1)");
  cmd->add_option("--batch", opts->batch,
                  "Stack up to this many samples into one run when the model's axis 0 allows it");
  cmd->add_option("--threads", opts->threads, "Worker threads (0 = all cores)");
  cmd->add_option("--top", opts->top, "Nodes to list (default 20)");
  cmd->add_flag("--json", opts->json, "Print JSON instead of tables");
  cmd->callback([opts, &run] { run = [opts] { return run_profile(*opts); }; });
}

}  // namespace compressor::cli
