// `compressor batch MANIFEST|DIR --out-dir DIR`: compresses a model zoo, each model by a
// `compressor run` worker process of its own (so a crash or an out-of-memory kill costs one
// model, not the batch), -j at a time, resumable, sliceable into shards, with one summary.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "batch.h"
#include "commands.h"
#include "compressor/core/format.h"
#include "compressor/core/logging.h"
#include "compressor/core/progress.h"
#include "compressor/core/sha256.h"

namespace compressor::cli {
namespace {

namespace fs = std::filesystem;

struct BatchOptions {
  std::string source;
  std::string out_dir;
  std::string recipe;
  int jobs = 1;
  int threads = 0;
  bool resume = false;
  std::string shard;
  std::vector<std::string> merge;
  std::string memory_limit;
  std::string timeout;
};

volatile sig_atomic_t g_interrupt = 0;

void on_interrupt(int sig) { g_interrupt = sig; }

/// Handles SIGINT, SIGTERM and SIGHUP while alive (so the workers are stopped, not orphaned),
/// then puts the previous handlers back.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupt = 0;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~InterruptGuard() {
    for (size_t i = 0; i < 3; ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  static constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction old_[3];
};

/// Refuses an --out-dir whose model folders would write over an input (model, recipe, data).
Status check_inputs_outside(const batch::Manifest& m, const std::string& out_dir) {
  std::error_code ec;
  const fs::path out = fs::weakly_canonical(fs::absolute(out_dir), ec);
  for (const auto& e : m.entries) {
    const fs::path folder = fs::weakly_canonical(fs::absolute(out / e.name), ec);
    for (const std::string& input : {e.model, e.recipe, e.data}) {
      if (input.empty()) continue;
      const fs::path p = fs::weakly_canonical(fs::absolute(input), ec);
      auto rel = p.lexically_relative(folder);
      if (!rel.empty() && *rel.begin() != "..") {
        return invalid_argument("--out-dir '" + out_dir + "': the folder for model '" + e.name +
                                "' would hold the input '" + input +
                                "'; choose an output folder apart from the inputs");
      }
    }
  }
  return ok_status();
}

Status finish(const batch::Summary& summary, const std::string& out_dir, const std::string& note) {
  COMPRESSOR_RETURN_IF_ERROR(batch::write_summary(summary, out_dir));
  std::fputs(batch::summary_to_markdown(summary).c_str(), stdout);
  std::fflush(stdout);
  if (!note.empty()) return io_error(note);
  const int code = batch::summary_exit_code(summary);
  size_t errors = 0, gates = 0;
  for (const auto& r : summary.rows) {
    errors += r.status == "error" || r.status == "not_run";
    gates += r.status == "gate_failed";
  }
  const std::string where = " (summary in " + out_dir + "/summary.json)";
  if (code == 1) {
    return io_error(std::to_string(errors) + " of " + std::to_string(summary.rows.size()) +
                    " models failed" + where);
  }
  if (code == 3) {
    return Status(ErrorCode::kGateFailed, std::to_string(gates) + " of " +
                                              std::to_string(summary.rows.size()) +
                                              " models failed a gate" + where);
  }
  return ok_status();
}

Status run_merge(const BatchOptions& opts) {
  if (!opts.source.empty()) {
    return invalid_argument("--merge takes shard folders, not a manifest ('" + opts.source + "')");
  }
  if (!opts.shard.empty() || opts.resume || !opts.recipe.empty() || !opts.memory_limit.empty() ||
      !opts.timeout.empty()) {
    return invalid_argument(
        "--merge only reads shard summaries: --shard, --resume, --recipe, --memory-limit and "
        "--timeout do not apply");
  }
  COMPRESSOR_ASSIGN_OR_RETURN(batch::Summary merged,
                              batch::merge_summaries(opts.merge, opts.out_dir));
  std::error_code ec;
  fs::create_directories(opts.out_dir, ec);
  if (ec) return io_error(opts.out_dir + ": cannot create the folder: " + ec.message());
  return finish(merged, opts.out_dir, "");
}

Status run_batch(const BatchOptions& opts) {
  if (!opts.merge.empty()) return run_merge(opts);
  if (opts.source.empty()) return invalid_argument("batch: give a MANIFEST or a folder of models");
  if (opts.jobs < 1) return invalid_argument("-j must be at least 1");
  batch::WorkerLimits limits;
  if (!opts.memory_limit.empty()) {
    COMPRESSOR_ASSIGN_OR_RETURN(limits.memory_bytes, batch::parse_memory_size(opts.memory_limit));
  }
  if (!opts.timeout.empty()) {
    COMPRESSOR_ASSIGN_OR_RETURN(limits.timeout_s, batch::parse_duration(opts.timeout));
  }
  std::optional<batch::Shard> shard;
  if (!opts.shard.empty()) {
    COMPRESSOR_ASSIGN_OR_RETURN(shard, batch::parse_shard(opts.shard));
  }
  std::error_code ec;
  batch::Manifest manifest;
  if (fs::is_directory(opts.source, ec)) {
    COMPRESSOR_ASSIGN_OR_RETURN(manifest,
                                batch::scan_directory(opts.source, opts.recipe, opts.out_dir));
  } else if (fs::is_regular_file(opts.source, ec)) {
    COMPRESSOR_ASSIGN_OR_RETURN(manifest, batch::load_manifest(opts.source, opts.recipe));
  } else {
    return not_found(opts.source + ": no such manifest or folder");
  }
  COMPRESSOR_RETURN_IF_ERROR(check_inputs_outside(manifest, opts.out_dir));
  fs::create_directories(opts.out_dir, ec);
  if (ec) return io_error(opts.out_dir + ": cannot create the folder: " + ec.message());
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) return internal_error("cannot find the compressor binary: " + ec.message());

  const size_t total = manifest.entries.size();
  std::vector<std::string> recipe_hashes;
  batch::Summary summary;
  summary.manifest = opts.source;
  summary.models_total = total;
  summary.shard = shard;
  for (const auto& e : manifest.entries) {
    COMPRESSOR_ASSIGN_OR_RETURN(std::string h, batch::recipe_hash(e));
    recipe_hashes.push_back(h);
  }
  summary.manifest_sha256 = batch::manifest_id(manifest.entries, recipe_hashes);
  const std::vector<size_t> positions =
      shard ? batch::shard_positions(total, *shard) : batch::shard_positions(total, {0, 1});

  const double start = batch::now_seconds();
  std::vector<batch::Row> rows;
  std::vector<size_t> queue;  // indices into rows
  for (size_t pos : positions) {
    const batch::Entry& e = manifest.entries[pos];
    auto recipe_bytes = sha256_file(e.recipe);
    if (recipe_bytes.ok()) summary.recipes[e.recipe] = recipe_bytes.value();
    batch::Row row;
    row.index = pos;
    row.name = e.name;
    row.model = e.model_rel;
    row.recipe_sha256 = recipe_hashes[pos];
    row.folder = e.name;
    auto input = sha256_file(e.model);
    if (!input.ok()) {
      row.status = "error";
      row.error = input.status().message();
      rows.push_back(std::move(row));
      continue;
    }
    row.input_sha256 = input.value();
    const batch::ModelFiles files = batch::model_files(opts.out_dir, e.name);
    if (opts.resume && batch::is_complete(files, row.input_sha256, row.recipe_sha256)) {
      auto record = batch::read_record(files.record);
      Status s = batch::read_report_into(files.report, row);
      if (record.ok() && s.ok()) {
        row.reused = true;
        row.exit_code = record.value().exit_code;
        row.status = row.exit_code == 0 ? "ok" : "gate_failed";
        row.seconds = record.value().seconds;
        rows.push_back(std::move(row));
        continue;
      }
    }
    queue.push_back(rows.size());
    rows.push_back(std::move(row));
  }

  const bool terminal = isatty(fileno(stderr)) != 0;
  const bool chatty = !terminal && logger().should_log(spdlog::level::warn);
  size_t reused = 0;
  for (const auto& r : rows) reused += r.reused;
  if (reused > 0 && logger().should_log(spdlog::level::warn)) {
    std::fprintf(stderr, "batch: %zu of %zu models reused by --resume\n", reused, rows.size());
  }
  size_t finished = 0;
  Progress progress("batch", queue.size(), "models");
  InterruptGuard guard;
  // The cores are shared among the workers (results do not depend on the thread count).
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const unsigned threads = opts.threads > 0
                               ? static_cast<unsigned>(opts.threads)
                               : std::max(1u, cores / static_cast<unsigned>(opts.jobs));
  auto start_job = [&](size_t k) -> StatusOr<batch::JobSpec> {
    batch::Row& row = rows[queue[k]];
    const batch::Entry& e = manifest.entries[row.index];
    const batch::ModelFiles files = batch::model_files(opts.out_dir, e.name);
    std::error_code mk;
    fs::create_directories(files.dir, mk);
    if (mk) return io_error(files.dir + ": cannot create the folder: " + mk.message());
    // Stale results of an earlier run must not pass for this one's.
    for (const auto& f : {files.record, files.model, files.report, files.html}) {
      fs::remove(f, mk);
    }
    batch::JobSpec spec;
    spec.argv = {self,      "run",      e.recipe,     e.model,         "-o",      files.model,
                 "--force", "--report", files.report, "--report-html", files.html};
    spec.argv.push_back("--threads");
    spec.argv.push_back(std::to_string(threads));
    if (!e.data.empty()) {
      spec.argv.push_back("--data");
      spec.argv.push_back(e.data);
    }
    spec.log_path = files.log;
    return spec;
  };
  auto job_done = [&](size_t k, const batch::WorkerExit& exit, const Status& spawn) {
    batch::Row& row = rows[queue[k]];
    const batch::ModelFiles files = batch::model_files(opts.out_dir, row.name);
    if (!spawn.ok()) {
      row.status = "error";
      row.error = spawn.message();
    } else {
      batch::classify_exit(exit, batch::read_text(files.log), limits.memory_bytes > 0,
                           limits.timeout_s, row);
      std::error_code fe;
      if (fs::is_regular_file(files.report, fe)) {
        Status s = batch::read_report_into(files.report, row);
        if (!s.ok() && row.status != "error") {
          row.status = "error";
          row.error = s.message();
        }
      } else if (row.status != "error") {
        row.status = "error";
        row.error = "the worker wrote no report (" + files.report + ")";
      }
      if (!exit.interrupted) {
        batch::CompletionRecord record{row.input_sha256, row.recipe_sha256, row.exit_code,
                                       row.seconds};
        Status w = batch::write_record(files.record, record);
        if (!w.ok() && row.status != "error") {
          row.status = "error";
          row.error = w.message();
        }
      }
    }
    ++finished;
    if (chatty) {
      std::fprintf(stderr, "batch: [%zu/%zu] %s: %s (%.1f s)%s%s\n", finished, queue.size(),
                   row.name.c_str(), row.status.c_str(), row.seconds, row.error.empty() ? "" : ": ",
                   row.error.c_str());
    }
    progress.advance();
  };
  const std::vector<size_t> never = batch::run_jobs(queue.size(), opts.jobs, limits, start_job,
                                                    job_done, [] { return g_interrupt != 0; });
  progress.finish();
  for (size_t k : never) {
    rows[queue[k]].status = "not_run";
    rows[queue[k]].error = "not run: the batch was interrupted";
  }
  summary.rows = std::move(rows);
  summary.seconds = batch::now_seconds() - start;
  std::string note;
  if (g_interrupt != 0) {
    note = "interrupted by " + batch::signal_name(g_interrupt) + " after " +
           std::to_string(finished) + " of " + std::to_string(queue.size()) +
           " models; rerun with --resume to finish";
  }
  return finish(summary, opts.out_dir, note);
}

}  // namespace

void setup_batch_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<BatchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "batch", "Compress many models, each in a worker process of its own, and summarize them");
  cmd->footer(
      "MANIFEST (JSON or YAML) lists the models, paths relative to its folder:\n"
      "  {\"recipe\": \"default.yaml\", \"data\": \"samples/\",\n"
      "   \"models\": [\"a.onnx\", {\"model\": \"b.onnx\", \"name\": \"b\", \"recipe\": "
      "\"b.json\",\n"
      "               \"data\": \"b_samples/\"}]}\n"
      "A folder instead of a manifest means every .onnx under it (recursive, sorted), each with\n"
      "--recipe. Each model gets OUT_DIR/NAME/ with model.onnx, report.json, report.html,\n"
      "worker.log and done.json (the input's and the recipe's SHA-256, exit code, time);\n"
      "OUT_DIR gets summary.json, summary.csv, summary.md and report.html, and the table is\n"
      "printed on stdout.\n"
      "Exit code: 0 every model ok; 1 any model errored (or the batch was interrupted);\n"
      "3 no error but a gate failed; 2 usage error.\n"
      "Shards: run `--shard I/N` for I = 0..N-1 (models I, I+N, I+2N, ... of the manifest),\n"
      "each into its own --out-dir, then `compressor batch --merge DIR... --out-dir OUT`.");
  cmd->add_option("source", opts->source,
                  "Manifest file (JSON or YAML) or a folder of .onnx models");
  cmd->add_option("--out-dir", opts->out_dir, "Folder for the results and the summary")->required();
  cmd->add_option("--recipe", opts->recipe,
                  "Recipe for a folder of models, or for the manifest's models without their own");
  cmd->add_option("-j,--jobs", opts->jobs, "Workers at a time (default 1)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--threads", opts->threads,
                  "Threads per worker (default: the cores divided by -j)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--resume", opts->resume,
                "Skip models whose results in --out-dir are complete for the same input and "
                "recipe (by SHA-256); rerun the others, failed ones included");
  cmd->add_option("--shard", opts->shard,
                  "Run only shard I of N: the models at positions I, I+N, ... (e.g. "
                  "--shard $JOB_COMPLETION_INDEX/3)");
  cmd->add_option("--merge", opts->merge,
                  "Merge the summaries in these shard folders into --out-dir instead of running")
      ->expected(1, -1);
  cmd->add_option("--memory-limit", opts->memory_limit,
                  "Address-space limit per worker, e.g. 4G (a worker over it fails alone)");
  cmd->add_option("--timeout", opts->timeout, "Kill a worker after this long, e.g. 600, 10m, 1h");
  cmd->callback([opts, &run] { run = [opts] { return run_batch(*opts); }; });
}

}  // namespace compressor::cli
