// The pieces of `compressor batch` that do not need a model: the manifest and its validation,
// shard slicing, resume keys and completion records, per-model results read from the workers'
// reports, the summary (JSON, CSV, Markdown, HTML) and the merge of shard summaries, and running
// worker processes with limits.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "structured_file.h"

namespace compressor::cli::batch {

/// One model of the batch: what to compress and with which recipe.
struct Entry {
  std::string name;       ///< Unique; also the model's folder under --out-dir ("a", "zoo/b").
  std::string model;      ///< The input model path (as the manifest resolves it).
  std::string model_rel;  ///< The model path as the manifest wrote it (or relative to the DIR).
  std::string recipe;     ///< The recipe file.
  std::string data;       ///< Sample data folder for the worker's --data; empty for none.
};

/// The models of a batch, in manifest order, and what identifies the manifest.
struct Manifest {
  std::string source;  ///< The manifest file or folder as given.
  std::vector<Entry> entries;
};

/// Reads a JSON or YAML manifest: `{"recipe": R, "data": D, "models": [M...]}` where each M is
/// a model path or `{"model", "name", "recipe", "data"}`. Paths are relative to the manifest's
/// folder; every model needs a recipe (its own or the top-level one, or `default_recipe` from
/// --recipe). Unknown keys, missing files and clashing names are errors naming them.
StatusOr<Manifest> load_manifest(const std::string& path, const std::string& default_recipe);

/// Every .onnx file under `dir` (recursive, sorted by relative path), each with `recipe`; the
/// name is the relative path without ".onnx". Files under `skip` (the batch's own output folder
/// when it lies inside `dir`) are left out.
StatusOr<Manifest> scan_directory(const std::string& dir, const std::string& recipe,
                                  const std::string& skip = "");

/// A name as it may be used for a folder: 1-200 characters of [A-Za-z0-9._+-] in '/'-separated
/// parts, none of them empty, "." or "..". Returns the reason when it is not.
std::optional<std::string> invalid_name_reason(const std::string& name);

/// The part of the batch one process runs: models i with i % count == index.
struct Shard {
  int index = 0;
  int count = 1;
};

/// Parses "I/N" (0 <= I < N).
StatusOr<Shard> parse_shard(const std::string& text);

/// Manifest positions in `shard`, in order.
std::vector<size_t> shard_positions(size_t total, const Shard& shard);

/// Parses a memory size: bytes, or a number with K, M, G or T (powers of 1024), e.g. "4G",
/// "1.5G", "512M".
StatusOr<uint64_t> parse_memory_size(const std::string& text);

/// Parses a duration: seconds, or a number with s, m or h, e.g. "90", "90s", "10m", "1.5h".
StatusOr<double> parse_duration(const std::string& text);

/// The recipe's key for --resume: SHA-256 of the recipe file's bytes and the per-model
/// overrides (the data folder as given).
StatusOr<std::string> recipe_hash(const Entry& entry);

/// SHA-256 over the whole manifest (names, model paths as written, recipe hashes), so shard
/// summaries can be checked to come from the same manifest.
std::string manifest_id(const std::vector<Entry>& entries,
                        const std::vector<std::string>& recipe_hashes);

/// What a finished model leaves in its folder (done.json), keyed by its inputs.
struct CompletionRecord {
  std::string input_sha256;
  std::string recipe_sha256;
  int exit_code = 1;
  double seconds = 0;
};

/// The files of a model's folder.
struct ModelFiles {
  std::string dir;
  std::string model;   ///< <dir>/model.onnx
  std::string report;  ///< <dir>/report.json
  std::string html;    ///< <dir>/report.html
  std::string log;     ///< <dir>/worker.log
  std::string record;  ///< <dir>/done.json
};
ModelFiles model_files(const std::string& out_dir, const std::string& name);

Status write_record(const std::string& path, const CompletionRecord& record);
StatusOr<CompletionRecord> read_record(const std::string& path);

/// True when the folder holds a completed run for these hashes: the record matches, the worker
/// succeeded or only failed a gate (exit 0 or 3), and the model and both reports exist.
bool is_complete(const ModelFiles& files, const std::string& input_sha256,
                 const std::string& recipe_sha256);

/// What one worker process did.
struct WorkerExit {
  int exit_code = -1;        ///< The process's exit code; -1 when it was killed.
  int signal = 0;            ///< The signal that ended it, or 0.
  bool timed_out = false;    ///< Killed by the batch because it ran past --timeout.
  bool interrupted = false;  ///< Killed because the batch itself was interrupted.
  double seconds = 0;
};

/// One row of the summary.
struct Row {
  size_t index = 0;  ///< Position in the manifest.
  std::string name;
  std::string model;  ///< As the manifest wrote it.
  std::string recipe_sha256;
  std::string input_sha256;
  std::string status;  ///< "ok", "gate_failed", "error" or "not_run".
  int exit_code = 1;
  std::string error;     ///< One line; empty unless status is "error" or "not_run".
  std::string ended_by;  ///< "", "signal", "timeout", "memory_limit" or "interrupted".
  bool reused = false;   ///< Taken from an earlier run by --resume.
  double seconds = 0;
  std::string folder;  ///< The model's folder, relative to the summary's folder.
  // From the worker's report.json (absent when it wrote none).
  std::optional<uint64_t> bytes_before, bytes_after, params_before, params_after, macs_before,
      macs_after;
  std::optional<double> worst_cosine;  ///< Lowest cosine over the outputs.
  std::optional<double> worst_rel_l2;  ///< Largest rel_l2 over the outputs.
  std::string worst_output;            ///< The output with the lowest cosine.
  std::string gates;                   ///< "pass", "fail" or "" (no gate).
  std::vector<std::string> failed_gates;
  int gates_total = 0;
};

/// Fills a row's numbers, gates and worker verdict from report.json; an unreadable report is
/// an error naming the file.
Status read_report_into(const std::string& report_path, Row& row);

/// The error line of a worker's log: the last line starting "error: " (without the prefix), or
/// the last non-empty line, cut to 300 characters.
std::string error_line_from_log(const std::string& log_text);

/// The file's bytes; empty when it cannot be read (a worker's missing log or report).
std::string read_text(const std::string& path);

/// Turns a worker's exit into the row's status, error and ended_by (the report's numbers are
/// read separately). `memory_limited` says whether --memory-limit was set.
void classify_exit(const WorkerExit& exit, const std::string& log_text, bool memory_limited,
                   double timeout_s, Row& row);

/// size/params/MACs ratio (after / before); nullopt when unknown or before is 0.
std::optional<double> ratio(const std::optional<uint64_t>& before,
                            const std::optional<uint64_t>& after);

/// The whole batch's (or one shard's) summary.
struct Summary {
  std::string manifest;  ///< The manifest or folder as given.
  std::string manifest_sha256;
  size_t models_total = 0;  ///< Models in the manifest (not only this shard).
  std::optional<Shard> shard;
  std::map<std::string, std::string> recipes;  ///< Recipe file -> SHA-256 of its bytes.
  std::vector<Row> rows;                       ///< Manifest order.
  double seconds = 0;                          ///< Wall time of the batch.
};

/// 1 when any model errored (or did not run), else 3 when any gate failed, else 0.
int summary_exit_code(const Summary& s);

Json summary_to_json(const Summary& s);
StatusOr<Summary> summary_from_json(const Json& j, const std::string& origin);
std::string summary_to_csv(const Summary& s);
std::string summary_to_markdown(const Summary& s);
std::string summary_to_html(const Summary& s);

/// Merges shard summaries (each read from `<dir>/summary.json`): they must share the manifest,
/// be shards of the same count and together cover every model exactly once. Row folders are
/// rebased from `dirs[i]` to `out_dir`. The result has no shard and rows in manifest order.
StatusOr<Summary> merge_summaries(const std::vector<std::string>& dirs, const std::string& out_dir);

/// Writes summary.json, summary.csv, summary.md and report.html into `dir`, atomically.
Status write_summary(const Summary& s, const std::string& dir);

/// Limits on one worker process.
struct WorkerLimits {
  uint64_t memory_bytes = 0;  ///< RLIMIT_AS; 0 for none.
  double timeout_s = 0;       ///< 0 for none.
};

/// A started worker.
struct Worker {
  pid_t pid = -1;  ///< Also its process group.
  double started = 0;
};

/// Starts `argv` in its own process group with stdin from /dev/null and stdout and stderr into
/// `log_path`, under `limits`; the worker is killed when the batch process dies.
StatusOr<Worker> spawn_worker(const std::vector<std::string>& argv, const std::string& log_path,
                              const WorkerLimits& limits);

/// Seconds on a monotonic clock.
double now_seconds();

/// Runs commands `jobs` at a time. `start(i)` returns the argv and log path of job i;
/// `done(i, exit)` is called as each ends, in the order they end. Stops starting new jobs and
/// kills running ones (their process groups) when `interrupted()` turns true; those get
/// `exit.interrupted`. Returns the indices that never started.
struct JobSpec {
  std::vector<std::string> argv;
  std::string log_path;
};
std::vector<size_t> run_jobs(
    size_t count, int jobs, const WorkerLimits& limits,
    const std::function<StatusOr<JobSpec>(size_t)>& start,
    const std::function<void(size_t, const WorkerExit&, const Status&)>& done,
    const std::function<bool()>& interrupted);

/// The signal's name ("SIGSEGV"), or "signal N".
std::string signal_name(int sig);

}  // namespace compressor::cli::batch
