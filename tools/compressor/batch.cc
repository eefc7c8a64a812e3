// Manifest, shards, resume records, summaries and worker processes of `compressor batch`.
#include "batch.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "compressor/core/format.h"
#include "compressor/core/sha256.h"
#include "compressor/io/files.h"
#include "compressor/report/html.h"

namespace compressor::cli::batch {

namespace fs = std::filesystem;

namespace {

constexpr int kSummaryFormat = 1;

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

/// Checks that `obj` has only `valid` keys; the error names the key and lists the valid ones.
Status check_keys(const Json& obj, const std::vector<std::string>& valid,
                  const std::string& where) {
  for (const auto& [key, value] : obj.items()) {
    (void)value;
    if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
      return invalid_argument(where + ": unknown key '" + key +
                              "' (valid keys: " + join(valid, ", ") + ")");
    }
  }
  return ok_status();
}

StatusOr<std::string> string_field(const Json& obj, const std::string& key,
                                   const std::string& where) {
  if (!obj.contains(key)) return std::string();
  const Json& v = obj.at(key);
  if (!v.is_string() || v.get<std::string>().empty()) {
    return invalid_argument(where + ": '" + key + "' must be a non-empty string");
  }
  return v.get<std::string>();
}

/// `path` resolved against `base` unless absolute.
std::string resolve(const std::string& base, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base) / path).lexically_normal().string();
}

std::string name_from_path(const std::string& path) { return fs::path(path).stem().string(); }

Status check_file(const std::string& path, const std::string& what, const std::string& where) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return invalid_argument(where + ": " + what + " '" + path + "' is not a file");
  }
  return ok_status();
}

Status check_dir(const std::string& path, const std::string& what, const std::string& where) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    return invalid_argument(where + ": " + what + " '" + path + "' is not a folder");
  }
  return ok_status();
}

/// Names must be unique; the error names both entries.
Status check_unique(const std::vector<Entry>& entries, const std::string& where) {
  std::map<std::string, const Entry*> seen;
  for (const auto& e : entries) {
    if (auto reason = invalid_name_reason(e.name)) {
      return invalid_argument(where + ": model '" + e.model_rel + "': name '" + e.name + "' " +
                              *reason);
    }
    auto [it, inserted] = seen.emplace(e.name, &e);
    if (!inserted) {
      return invalid_argument(where + ": models '" + it->second->model_rel + "' and '" +
                              e.model_rel + "' both have the name '" + e.name +
                              "'; give one of them a \"name\"");
    }
  }
  return ok_status();
}

Json opt_json(const std::optional<uint64_t>& v) { return v ? Json(*v) : Json(nullptr); }
Json opt_json(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? Json(*v) : Json(nullptr);
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

std::string ratio_text(const std::optional<double>& r) { return r ? fmt("%.3f", *r) : ""; }
std::string metric_text(const std::optional<double>& v) { return v ? format_value(*v) : ""; }

/// A CSV field, quoted when it holds a comma, quote or line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

/// A Markdown table cell: pipes escaped, line breaks flattened.
std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string verdict_text(const Row& r) {
  if (r.status == "ok") return r.reused ? "ok (reused)" : "ok";
  if (r.status == "gate_failed") return r.reused ? "gate failed (reused)" : "gate failed";
  if (r.status == "not_run") return "not run";
  return "error";
}

}  // namespace

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> invalid_name_reason(const std::string& name) {
  if (name.empty() || name.size() > 200) return "must have 1 to 200 characters";
  for (char c : name) {
    const bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-' || c == '+' || c == '/';
    if (!okc) return "may only use letters, digits, '.', '_', '-', '+' and '/'";
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    const std::string part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return "has an empty, '.' or '..' part";
    }
    start = end + 1;
  }
  return std::nullopt;
}

StatusOr<Manifest> load_manifest(const std::string& path, const std::string& default_recipe) {
  COMPRESSOR_ASSIGN_OR_RETURN(Json j, load_structured_file(path));
  const std::string& where = path;
  if (!j.is_object()) return invalid_argument(where + ": a manifest is a mapping with 'models'");
  COMPRESSOR_RETURN_IF_ERROR(check_keys(j, {"recipe", "data", "models"}, where));
  const std::string base = fs::path(path).parent_path().string();
  COMPRESSOR_ASSIGN_OR_RETURN(std::string top_recipe, string_field(j, "recipe", where));
  COMPRESSOR_ASSIGN_OR_RETURN(std::string top_data, string_field(j, "data", where));
  // --recipe on the command line wins over the manifest's top-level recipe; a model's own
  // recipe wins over both.
  std::string fallback_recipe =
      !default_recipe.empty() ? default_recipe : resolve(base, top_recipe);
  if (!j.contains("models") || !j.at("models").is_array() || j.at("models").empty()) {
    return invalid_argument(where + ": 'models' must be a non-empty list");
  }
  Manifest m;
  m.source = path;
  size_t i = 0;
  for (const Json& item : j.at("models")) {
    const std::string at = where + ": models[" + std::to_string(i++) + "]";
    Entry e;
    std::string recipe, data = top_data.empty() ? "" : resolve(base, top_data);
    if (item.is_string()) {
      e.model_rel = item.get<std::string>();
      if (e.model_rel.empty()) return invalid_argument(at + ": empty model path");
    } else if (item.is_object()) {
      COMPRESSOR_RETURN_IF_ERROR(check_keys(item, {"model", "name", "recipe", "data"}, at));
      COMPRESSOR_ASSIGN_OR_RETURN(e.model_rel, string_field(item, "model", at));
      if (e.model_rel.empty()) return invalid_argument(at + ": 'model' is missing");
      COMPRESSOR_ASSIGN_OR_RETURN(e.name, string_field(item, "name", at));
      COMPRESSOR_ASSIGN_OR_RETURN(recipe, string_field(item, "recipe", at));
      std::string own_data;
      COMPRESSOR_ASSIGN_OR_RETURN(own_data, string_field(item, "data", at));
      if (!own_data.empty()) data = resolve(base, own_data);
    } else {
      return invalid_argument(at + ": a model is a path or a mapping with 'model'");
    }
    e.model = resolve(base, e.model_rel);
    if (e.name.empty()) e.name = name_from_path(e.model_rel);
    e.recipe = recipe.empty() ? fallback_recipe : resolve(base, recipe);
    e.data = data;
    if (e.recipe.empty()) {
      return invalid_argument(at + ": model '" + e.model_rel +
                              "' has no recipe (give 'recipe' in the manifest or --recipe)");
    }
    COMPRESSOR_RETURN_IF_ERROR(check_file(e.recipe, "recipe", at));
    if (!e.data.empty()) COMPRESSOR_RETURN_IF_ERROR(check_dir(e.data, "data", at));
    // A missing model is not fatal: it becomes that model's error row.
    m.entries.push_back(std::move(e));
  }
  COMPRESSOR_RETURN_IF_ERROR(check_unique(m.entries, where));
  return m;
}

StatusOr<Manifest> scan_directory(const std::string& dir, const std::string& recipe,
                                  const std::string& skip) {
  if (recipe.empty()) {
    return invalid_argument(dir + ": a folder of models needs --recipe FILE");
  }
  COMPRESSOR_RETURN_IF_ERROR(check_file(recipe, "recipe", "--recipe"));
  std::vector<std::string> rels;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return io_error(dir + ": cannot list the folder: " + ec.message());
  std::error_code sec;
  const fs::path skip_path = skip.empty() ? fs::path() : fs::weakly_canonical(skip, sec);
  for (auto de = it; de != fs::recursive_directory_iterator(); de.increment(ec)) {
    if (ec) return io_error(dir + ": cannot list the folder: " + ec.message());
    if (!skip_path.empty() && de->is_directory(sec) &&
        fs::weakly_canonical(de->path(), sec) == skip_path) {
      de.disable_recursion_pending();
      continue;
    }
    if (de->path().extension() != ".onnx") continue;
    std::error_code fec;
    if (!de->is_regular_file(fec)) continue;
    rels.push_back(fs::relative(de->path(), dir).generic_string());
  }
  std::sort(rels.begin(), rels.end());
  if (rels.empty()) return invalid_argument(dir + ": no .onnx file in the folder");
  Manifest m;
  m.source = dir;
  for (const auto& rel : rels) {
    Entry e;
    e.model_rel = rel;
    e.model = (fs::path(dir) / rel).string();
    e.name = rel.substr(0, rel.size() - 5);
    e.recipe = recipe;
    m.entries.push_back(std::move(e));
  }
  COMPRESSOR_RETURN_IF_ERROR(check_unique(m.entries, dir));
  return m;
}

StatusOr<Shard> parse_shard(const std::string& text) {
  const auto bad = [&] {
    return invalid_argument("--shard '" + text + "': expected I/N with 0 <= I < N, e.g. 0/3");
  };
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return bad();
  const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
  auto parse = [](const std::string& s, int& out) {
    if (s.empty() || s.size() > 6) return false;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    out = std::stoi(s);
    return true;
  };
  Shard s;
  if (!parse(a, s.index) || !parse(b, s.count) || s.count < 1 || s.index >= s.count) return bad();
  return s;
}

std::vector<size_t> shard_positions(size_t total, const Shard& shard) {
  std::vector<size_t> out;
  for (size_t i = static_cast<size_t>(shard.index); i < total;
       i += static_cast<size_t>(shard.count)) {
    out.push_back(i);
  }
  return out;
}

StatusOr<uint64_t> parse_memory_size(const std::string& text) {
  const auto bad = [&] {
    return invalid_argument("--memory-limit '" + text +
                            "': expected bytes or a size like 512M, 4G, 1.5G");
  };
  if (text.empty()) return bad();
  std::string num = text;
  double unit = 1;
  const char last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
  std::string suffixes = "KMGT";
  if (size_t p = suffixes.find(last); p != std::string::npos) {
    unit = std::pow(1024.0, static_cast<double>(p + 1));
    num.pop_back();
  } else if (last == 'B') {
    num.pop_back();
  }
  char* end = nullptr;
  const double v = std::strtod(num.c_str(), &end);
  if (num.empty() || end != num.c_str() + num.size() || !std::isfinite(v) || v <= 0) return bad();
  const double bytes = v * unit;
  if (bytes < 1024 * 1024 || bytes > 1e18) {
    return invalid_argument("--memory-limit '" + text + "': must be between 1M and 1E bytes");
  }
  return static_cast<uint64_t>(bytes);
}

StatusOr<double> parse_duration(const std::string& text) {
  const auto bad = [&] {
    return invalid_argument("--timeout '" + text + "': expected seconds or e.g. 90s, 10m, 1.5h");
  };
  if (text.empty()) return bad();
  std::string num = text;
  double unit = 1;
  switch (text.back()) {
    case 's':
      num.pop_back();
      break;
    case 'm':
      unit = 60;
      num.pop_back();
      break;
    case 'h':
      unit = 3600;
      num.pop_back();
      break;
    default:
      break;
  }
  char* end = nullptr;
  const double v = std::strtod(num.c_str(), &end);
  if (num.empty() || end != num.c_str() + num.size() || !std::isfinite(v) || v <= 0) return bad();
  return v * unit;
}

StatusOr<std::string> recipe_hash(const Entry& entry) {
  if (!std::ifstream(entry.recipe, std::ios::binary)) {
    return io_error(entry.recipe + ": cannot read the recipe");
  }
  Json overrides;
  overrides["data"] = entry.data;
  Sha256 h;
  h.update(read_text(entry.recipe));
  h.update(std::string_view("\n--- overrides ---\n"));
  h.update(overrides.dump());
  return h.hex_digest();
}

std::string manifest_id(const std::vector<Entry>& entries,
                        const std::vector<std::string>& recipe_hashes) {
  Sha256 h;
  for (size_t i = 0; i < entries.size(); ++i) {
    h.update(entries[i].name);
    h.update(std::string_view("\t"));
    h.update(entries[i].model_rel);
    h.update(std::string_view("\t"));
    h.update(i < recipe_hashes.size() ? recipe_hashes[i] : std::string());
    h.update(std::string_view("\n"));
  }
  return h.hex_digest();
}

ModelFiles model_files(const std::string& out_dir, const std::string& name) {
  ModelFiles f;
  f.dir = (fs::path(out_dir) / name).string();
  f.model = f.dir + "/model.onnx";
  f.report = f.dir + "/report.json";
  f.html = f.dir + "/report.html";
  f.log = f.dir + "/worker.log";
  f.record = f.dir + "/done.json";
  return f;
}

Status write_record(const std::string& path, const CompletionRecord& r) {
  Json j;
  j["input_sha256"] = r.input_sha256;
  j["recipe_sha256"] = r.recipe_sha256;
  j["exit_code"] = r.exit_code;
  j["seconds"] = r.seconds;
  return io::write_file_atomic(path, j.dump(2) + "\n");
}

StatusOr<CompletionRecord> read_record(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return not_found(path + ": no completion record");
  const std::string text = read_text(path);
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("input_sha256") ||
      !j["input_sha256"].is_string() || !j.contains("recipe_sha256") ||
      !j["recipe_sha256"].is_string() || !j.contains("exit_code") ||
      !j["exit_code"].is_number_integer()) {
    return invalid_argument(path + ": not a completion record");
  }
  CompletionRecord r;
  r.input_sha256 = j["input_sha256"].get<std::string>();
  r.recipe_sha256 = j["recipe_sha256"].get<std::string>();
  r.exit_code = j["exit_code"].get<int>();
  if (j.contains("seconds") && j["seconds"].is_number()) r.seconds = j["seconds"].get<double>();
  return r;
}

bool is_complete(const ModelFiles& files, const std::string& input_sha256,
                 const std::string& recipe_sha256) {
  auto record = read_record(files.record);
  if (!record.ok()) return false;
  const CompletionRecord& r = record.value();
  if (r.input_sha256 != input_sha256 || r.recipe_sha256 != recipe_sha256) return false;
  if (r.exit_code != 0 && r.exit_code != 3) return false;
  std::error_code ec;
  return fs::is_regular_file(files.model, ec) && fs::is_regular_file(files.report, ec) &&
         fs::is_regular_file(files.html, ec);
}

std::optional<double> ratio(const std::optional<uint64_t>& before,
                            const std::optional<uint64_t>& after) {
  if (!before || !after || *before == 0) return std::nullopt;
  return static_cast<double>(*after) / static_cast<double>(*before);
}

Status read_report_into(const std::string& report_path, Row& row) {
  std::error_code ec;
  if (!fs::is_regular_file(report_path, ec)) return not_found(report_path + ": no report");
  Json j = Json::parse(read_text(report_path), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return invalid_argument(report_path + ": not a JSON report");
  }
  auto u64 = [](const Json& obj, const char* key) -> std::optional<uint64_t> {
    if (!obj.is_object() || !obj.contains(key) || !obj[key].is_number_unsigned()) {
      return std::nullopt;
    }
    return obj[key].get<uint64_t>();
  };
  if (j.contains("model")) {
    const Json& m = j["model"];
    row.bytes_before = u64(m, "bytes");
    row.params_before = u64(m, "params");
    row.macs_before = u64(m, "macs");
  }
  if (j.contains("output") && j["output"].is_object()) {
    const Json& o = j["output"];
    row.bytes_after = u64(o, "bytes");
    row.params_after = u64(o, "params");
    row.macs_after = u64(o, "macs");
  }
  row.worst_cosine.reset();
  row.worst_rel_l2.reset();
  row.worst_output.clear();
  if (j.contains("drift") && j["drift"].is_object()) {
    for (const auto& [output, metrics] : j["drift"].items()) {
      if (!metrics.is_object()) continue;
      if (metrics.contains("cosine") && metrics["cosine"].is_number()) {
        const double c = metrics["cosine"].get<double>();
        if (!row.worst_cosine || c < *row.worst_cosine) {
          row.worst_cosine = c;
          row.worst_output = output;
        }
      }
      if (metrics.contains("rel_l2") && metrics["rel_l2"].is_number()) {
        const double r = metrics["rel_l2"].get<double>();
        if (!row.worst_rel_l2 || r > *row.worst_rel_l2) row.worst_rel_l2 = r;
      }
    }
  }
  row.failed_gates.clear();
  row.gates_total = 0;
  row.gates.clear();
  if (j.contains("gates") && j["gates"].is_array()) {
    for (const Json& g : j["gates"]) {
      if (!g.is_object()) continue;
      ++row.gates_total;
      if (g.contains("ok") && g["ok"].is_boolean() && !g["ok"].get<bool>()) {
        row.failed_gates.push_back(g.value("expr", std::string("?")));
      }
    }
    if (row.gates_total > 0) row.gates = row.failed_gates.empty() ? "pass" : "fail";
  }
  return ok_status();
}

std::string error_line_from_log(const std::string& log_text) {
  std::string last_error, last_line;
  std::istringstream in(log_text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    last_line = line;
    if (line.rfind("error: ", 0) == 0) last_error = line.substr(7);
  }
  std::string out = last_error.empty() ? last_line : last_error;
  if (out.size() > 300) out = out.substr(0, 297) + "...";
  return out;
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGXCPU:
      return "SIGXCPU";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal " + std::to_string(sig);
  }
}

void classify_exit(const WorkerExit& exit, const std::string& log_text, bool memory_limited,
                   double timeout_s, Row& row) {
  row.seconds = exit.seconds;
  row.exit_code = exit.exit_code;
  row.ended_by.clear();
  row.error.clear();
  const std::string line = error_line_from_log(log_text);
  if (exit.interrupted) {
    row.status = "error";
    row.exit_code = -1;
    row.ended_by = "interrupted";
    row.error = "stopped: the batch was interrupted";
    return;
  }
  if (exit.timed_out) {
    row.status = "error";
    row.exit_code = -1;
    row.ended_by = "timeout";
    row.error = "killed after the --timeout of " + format_value(timeout_s) + " s";
    return;
  }
  if (exit.signal != 0) {
    row.status = "error";
    row.exit_code = -1;
    row.ended_by = "signal";
    row.error = "worker killed by " + signal_name(exit.signal);
    if (exit.signal == SIGKILL) row.error += " (the out-of-memory killer sends this)";
    if (!line.empty()) row.error += "; last output: " + line;
    return;
  }
  if (exit.exit_code == 0 || exit.exit_code == 3) {
    row.status = exit.exit_code == 0 ? "ok" : "gate_failed";
    return;
  }
  row.status = "error";
  row.error = line.empty() ? "worker exited with code " + std::to_string(exit.exit_code) : line;
  // Under RLIMIT_AS an allocation fails (bad_alloc: "out of memory"), a thread's stack cannot
  // be mapped (EAGAIN from thread creation), or the loader cannot map a shared library.
  const bool memory_error = line.find("out of memory") != std::string::npos ||
                            line.find("Cannot allocate memory") != std::string::npos ||
                            line.find("Resource temporarily unavailable") != std::string::npos ||
                            line.find("failed to map segment") != std::string::npos;
  if (memory_limited && memory_error) {
    row.ended_by = "memory_limit";
    row.error += " (under --memory-limit)";
  }
}

int summary_exit_code(const Summary& s) {
  bool gate_failed = false;
  for (const auto& r : s.rows) {
    if (r.status == "error" || r.status == "not_run") return 1;
    if (r.status == "gate_failed") gate_failed = true;
  }
  return gate_failed ? 3 : 0;
}

Json summary_to_json(const Summary& s) {
  Json j;
  j["format"] = "compressor-batch-summary";
  j["format_version"] = kSummaryFormat;
  j["manifest"] = s.manifest;
  j["manifest_sha256"] = s.manifest_sha256;
  j["models_total"] = s.models_total;
  j["shard"] = s.shard ? Json{{"index", s.shard->index}, {"count", s.shard->count}} : Json(nullptr);
  j["worst_drift"] =
      "worst_cosine is the lowest cosine similarity over a model's outputs (worst_output names "
      "that output); worst_rel_l2 the largest relative L2 error";
  Json recipes = Json::object();
  for (const auto& [path, hash] : s.recipes) recipes[path] = hash;
  j["recipes"] = std::move(recipes);
  size_t ok = 0, gate_failed = 0, errors = 0, not_run = 0, reused = 0;
  Json rows = Json::array();
  for (const auto& r : s.rows) {
    ok += r.status == "ok";
    gate_failed += r.status == "gate_failed";
    errors += r.status == "error";
    not_run += r.status == "not_run";
    reused += r.reused;
    Json row;
    row["index"] = r.index;
    row["name"] = r.name;
    row["model"] = r.model;
    row["status"] = r.status;
    row["exit_code"] = r.exit_code;
    row["error"] = r.error.empty() ? Json(nullptr) : Json(r.error);
    row["ended_by"] = r.ended_by.empty() ? Json(nullptr) : Json(r.ended_by);
    row["reused"] = r.reused;
    row["input_sha256"] = r.input_sha256.empty() ? Json(nullptr) : Json(r.input_sha256);
    row["recipe_sha256"] = r.recipe_sha256;
    row["folder"] = r.folder;
    row["bytes_before"] = opt_json(r.bytes_before);
    row["bytes_after"] = opt_json(r.bytes_after);
    row["size_ratio"] = opt_json(ratio(r.bytes_before, r.bytes_after));
    row["params_before"] = opt_json(r.params_before);
    row["params_after"] = opt_json(r.params_after);
    row["params_ratio"] = opt_json(ratio(r.params_before, r.params_after));
    row["macs_before"] = opt_json(r.macs_before);
    row["macs_after"] = opt_json(r.macs_after);
    row["macs_ratio"] = opt_json(ratio(r.macs_before, r.macs_after));
    row["worst_cosine"] = opt_json(r.worst_cosine);
    row["worst_output"] = r.worst_output.empty() ? Json(nullptr) : Json(r.worst_output);
    row["worst_rel_l2"] = opt_json(r.worst_rel_l2);
    row["gates"] = r.gates.empty() ? Json(nullptr) : Json(r.gates);
    row["gates_total"] = r.gates_total;
    row["failed_gates"] = r.failed_gates;
    row["seconds"] = r.seconds;
    rows.push_back(std::move(row));
  }
  j["counts"] = Json{{"models", s.rows.size()}, {"ok", ok},           {"gate_failed", gate_failed},
                     {"error", errors},         {"not_run", not_run}, {"reused", reused}};
  j["exit_code"] = summary_exit_code(s);
  j["seconds"] = s.seconds;
  j["models"] = std::move(rows);
  return j;
}

StatusOr<Summary> summary_from_json(const Json& j, const std::string& origin) {
  const auto bad = [&](const std::string& what) {
    return invalid_argument(origin + ": not a batch summary (" + what + ")");
  };
  if (!j.is_object() || j.value("format", std::string()) != "compressor-batch-summary") {
    return bad("no \"format\": \"compressor-batch-summary\"");
  }
  if (!j.contains("format_version") || j["format_version"] != kSummaryFormat) {
    return bad("unknown format_version");
  }
  Summary s;
  try {
    s.manifest = j.at("manifest").get<std::string>();
    s.manifest_sha256 = j.at("manifest_sha256").get<std::string>();
    s.models_total = j.at("models_total").get<size_t>();
    if (!j.at("shard").is_null()) {
      s.shard = Shard{j["shard"].at("index").get<int>(), j["shard"].at("count").get<int>()};
    }
    for (const auto& [path, hash] : j.at("recipes").items())
      s.recipes[path] = hash.get<std::string>();
    s.seconds = j.at("seconds").get<double>();
    auto opt_u = [](const Json& r, const char* k) -> std::optional<uint64_t> {
      return r.at(k).is_null() ? std::nullopt : std::optional<uint64_t>(r[k].get<uint64_t>());
    };
    auto opt_d = [](const Json& r, const char* k) -> std::optional<double> {
      return r.at(k).is_null() ? std::nullopt : std::optional<double>(r[k].get<double>());
    };
    auto opt_s = [](const Json& r, const char* k) {
      return r.at(k).is_null() ? std::string() : r[k].get<std::string>();
    };
    for (const Json& r : j.at("models")) {
      Row row;
      row.index = r.at("index").get<size_t>();
      row.name = r.at("name").get<std::string>();
      row.model = r.at("model").get<std::string>();
      row.status = r.at("status").get<std::string>();
      row.exit_code = r.at("exit_code").get<int>();
      row.error = opt_s(r, "error");
      row.ended_by = opt_s(r, "ended_by");
      row.reused = r.at("reused").get<bool>();
      row.input_sha256 = opt_s(r, "input_sha256");
      row.recipe_sha256 = r.at("recipe_sha256").get<std::string>();
      row.folder = r.at("folder").get<std::string>();
      row.bytes_before = opt_u(r, "bytes_before");
      row.bytes_after = opt_u(r, "bytes_after");
      row.params_before = opt_u(r, "params_before");
      row.params_after = opt_u(r, "params_after");
      row.macs_before = opt_u(r, "macs_before");
      row.macs_after = opt_u(r, "macs_after");
      row.worst_cosine = opt_d(r, "worst_cosine");
      row.worst_output = opt_s(r, "worst_output");
      row.worst_rel_l2 = opt_d(r, "worst_rel_l2");
      row.gates = opt_s(r, "gates");
      row.gates_total = r.at("gates_total").get<int>();
      row.failed_gates = r.at("failed_gates").get<std::vector<std::string>>();
      row.seconds = r.at("seconds").get<double>();
      s.rows.push_back(std::move(row));
    }
  } catch (const Json::exception& e) {
    return bad(e.what());
  }
  return s;
}

std::string summary_to_csv(const Summary& s) {
  std::string out =
      "index,name,model,status,exit_code,reused,bytes_before,bytes_after,size_ratio,"
      "params_before,params_after,params_ratio,macs_before,macs_after,macs_ratio,worst_cosine,"
      "worst_output,worst_rel_l2,gates,failed_gates,seconds,ended_by,error\n";
  auto u = [](const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : std::string(); };
  auto d = [](const std::optional<double>& v) { return v ? fmt("%.9g", *v) : std::string(); };
  for (const auto& r : s.rows) {
    std::vector<std::string> f = {std::to_string(r.index),
                                  r.name,
                                  r.model,
                                  r.status,
                                  std::to_string(r.exit_code),
                                  r.reused ? "true" : "false",
                                  u(r.bytes_before),
                                  u(r.bytes_after),
                                  d(ratio(r.bytes_before, r.bytes_after)),
                                  u(r.params_before),
                                  u(r.params_after),
                                  d(ratio(r.params_before, r.params_after)),
                                  u(r.macs_before),
                                  u(r.macs_after),
                                  d(ratio(r.macs_before, r.macs_after)),
                                  d(r.worst_cosine),
                                  r.worst_output,
                                  d(r.worst_rel_l2),
                                  r.gates,
                                  join(r.failed_gates, "; "),
                                  fmt("%.3f", r.seconds),
                                  r.ended_by,
                                  r.error};
    for (size_t i = 0; i < f.size(); ++i) out += (i ? "," : "") + csv_field(f[i]);
    out += "\n";
  }
  return out;
}

std::string summary_to_markdown(const Summary& s) {
  std::string out =
      "| # | model | status | size | params | MACs | worst cosine | worst rel_l2 | gates | time "
      "| error |\n|---:|---|---|---:|---:|---:|---:|---:|---|---:|---|\n";
  for (const auto& r : s.rows) {
    std::string gates = r.gates;
    if (!r.failed_gates.empty()) gates += ": " + join(r.failed_gates, ", ");
    out += "| " + std::to_string(r.index) + " | " + md_cell(r.name) + " | " + verdict_text(r) +
           " | " + ratio_text(ratio(r.bytes_before, r.bytes_after)) + " | " +
           ratio_text(ratio(r.params_before, r.params_after)) + " | " +
           ratio_text(ratio(r.macs_before, r.macs_after)) + " | " + metric_text(r.worst_cosine) +
           " | " + metric_text(r.worst_rel_l2) + " | " + md_cell(gates) + " | " +
           fmt("%.2f s", r.seconds) + " | " + md_cell(r.error) + " |\n";
  }
  const Json j = summary_to_json(s);
  const Json& c = j["counts"];
  out += "\n" + std::to_string(c["models"].get<size_t>()) + " models";
  if (s.shard) {
    out += " (shard " + std::to_string(s.shard->index) + "/" + std::to_string(s.shard->count) +
           " of " + std::to_string(s.models_total) + ")";
  }
  out += ": " + std::to_string(c["ok"].get<size_t>()) + " ok, " +
         std::to_string(c["gate_failed"].get<size_t>()) + " gate failed, " +
         std::to_string(c["error"].get<size_t>()) +
         (c["error"].get<size_t>() == 1 ? " error" : " errors");
  if (c["not_run"].get<size_t>() > 0) {
    out += ", " + std::to_string(c["not_run"].get<size_t>()) + " not run";
  }
  if (c["reused"].get<size_t>() > 0) {
    out += ", " + std::to_string(c["reused"].get<size_t>()) + " reused by --resume";
  }
  out += "; size, params and MACs are output/input ratios; " + fmt("%.1f s", s.seconds) + "\n";
  return out;
}

std::string summary_to_html(const Summary& s) {
  using report::html_escape;
  const Json j = summary_to_json(s);
  const int code = summary_exit_code(s);
  std::string out = report::html_page_start("compressor batch: " + s.manifest);
  out += "<h1>compressor batch</h1>\n<p class=\"mono\">" + html_escape(s.manifest) + "</p>\n";
  out += std::string("<p><span class=\"status ") +
         (code == 0   ? "ok"
          : code == 3 ? "warn"
                      : "fail") +
         "\">exit code " + std::to_string(code) + "</span> ";
  const Json& c = j["counts"];
  out += std::to_string(c["models"].get<size_t>()) +
         " models: " + std::to_string(c["ok"].get<size_t>()) + " ok, " +
         std::to_string(c["gate_failed"].get<size_t>()) + " gate failed, " +
         std::to_string(c["error"].get<size_t>()) +
         (c["error"].get<size_t>() == 1 ? " error" : " errors");
  if (s.shard) {
    out += " (shard " + std::to_string(s.shard->index) + "/" + std::to_string(s.shard->count) +
           " of " + std::to_string(s.models_total) + " models)";
  }
  out += "</p>\n";
  // Size against drift: one point per model that has both.
  std::vector<report::Point> points;
  for (const auto& r : s.rows) {
    auto size = ratio(r.bytes_before, r.bytes_after);
    if (!size || !r.worst_cosine) continue;
    points.push_back({r.name, *size, 1 - *r.worst_cosine, r.status == "gate_failed"});
  }
  out += "<h2>Size against drift</h2>\n";
  if (points.empty()) {
    out += "<p>No model has both a size ratio and a measured drift.</p>\n";
  } else {
    out += report::svg_scatter_chart("Size ratio (output / input) against worst drift", points,
                                     "size ratio", "1 \xE2\x88\x92 worst cosine");
  }
  out +=
      "<h2>Models</h2>\n<div class=\"wide\"><table class=\"passes\"><tr><th>#</th>"
      "<th>model</th><th>status</th><th>size</th><th>params</th><th>MACs</th>"
      "<th>worst cosine</th><th>worst rel_l2</th><th>gates</th><th>time</th><th>error</th>"
      "</tr>\n";
  for (const auto& r : s.rows) {
    const bool bad = r.status == "error" || r.status == "not_run";
    out += std::string("<tr class=\"") +
           (bad || r.status == "gate_failed" ? "gate-fail" : "gate-ok") + "\">";
    out += "<td class=\"num\">" + std::to_string(r.index) + "</td>";
    out += "<td class=\"mono\">" + html_escape(r.name) + "<br><span class=\"sub\">" +
           html_escape(r.model) + "</span></td>";
    out += "<td class=\"verdict\">" + html_escape(verdict_text(r)) + "</td>";
    auto ratio_cell = [](const std::optional<uint64_t>& b, const std::optional<uint64_t>& a) {
      auto v = ratio(b, a);
      if (!v) return std::string("<td class=\"num\">-</td>");
      return "<td class=\"num\">x" + fmt("%.3f", *v) + "<br><span class=\"sub\">" +
             with_commas(*b) + " &rarr; " + with_commas(*a) + "</span></td>";
    };
    out += ratio_cell(r.bytes_before, r.bytes_after);
    out += ratio_cell(r.params_before, r.params_after);
    out += ratio_cell(r.macs_before, r.macs_after);
    out += "<td class=\"num\">" +
           html_escape(r.worst_cosine ? format_value(*r.worst_cosine) : "-") +
           (r.worst_output.empty()
                ? ""
                : "<br><span class=\"sub\">" + html_escape(r.worst_output) + "</span>") +
           "</td>";
    out += "<td class=\"num\">" +
           html_escape(r.worst_rel_l2 ? format_value(*r.worst_rel_l2) : "-") + "</td>";
    std::string gates = r.gates.empty() ? "-" : r.gates;
    if (!r.failed_gates.empty()) gates += ": " + join(r.failed_gates, ", ");
    out += "<td class=\"mono\">" + html_escape(gates) + "</td>";
    out += "<td class=\"num\">" + fmt("%.2f s", r.seconds) + "</td>";
    out += "<td>" + html_escape(r.error) + "</td></tr>\n";
  }
  out +=
      "</table></div>\n<p class=\"sub\">Ratios are output / input. Worst cosine is the lowest "
      "cosine similarity over a model's outputs (the output is named below it); worst rel_l2 "
      "the largest relative L2 error.</p>\n";
  return out + report::html_page_end();
}

StatusOr<Summary> merge_summaries(const std::vector<std::string>& dirs,
                                  const std::string& out_dir) {
  if (dirs.empty()) return invalid_argument("--merge: give the shard folders to merge");
  Summary merged;
  std::vector<int> seen;
  int count = 0;
  for (size_t i = 0; i < dirs.size(); ++i) {
    const std::string path = (fs::path(dirs[i]) / "summary.json").string();
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return not_found(path + ": no batch summary");
    Json j = Json::parse(read_text(path), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return invalid_argument(path + ": not valid JSON");
    COMPRESSOR_ASSIGN_OR_RETURN(Summary s, summary_from_json(j, path));
    if (!s.shard) {
      return invalid_argument(path + ": not a shard summary (it was run without --shard)");
    }
    if (i == 0) {
      merged.manifest = s.manifest;
      merged.manifest_sha256 = s.manifest_sha256;
      merged.models_total = s.models_total;
      count = s.shard->count;
      seen.assign(static_cast<size_t>(count), 0);
    } else if (s.manifest_sha256 != merged.manifest_sha256 ||
               s.models_total != merged.models_total) {
      return invalid_argument(path + ": comes from another manifest than " + dirs[0] +
                              "/summary.json (manifest_sha256 or model count differ)");
    } else if (s.shard->count != count) {
      return invalid_argument(path + ": shard " + std::to_string(s.shard->index) + "/" +
                              std::to_string(s.shard->count) + " does not match the /" +
                              std::to_string(count) + " of " + dirs[0]);
    }
    if (s.shard->index < 0 || s.shard->index >= count) {
      return invalid_argument(path + ": shard index out of range");
    }
    if (seen[static_cast<size_t>(s.shard->index)]++) {
      return invalid_argument(path + ": shard " + std::to_string(s.shard->index) + "/" +
                              std::to_string(count) + " is given twice");
    }
    const auto expected = shard_positions(s.models_total, *s.shard);
    std::vector<size_t> got;
    for (const auto& r : s.rows) got.push_back(r.index);
    if (got != expected) {
      return invalid_argument(path + ": does not hold exactly the models of shard " +
                              std::to_string(s.shard->index) + "/" + std::to_string(count));
    }
    for (const auto& [p, h] : s.recipes) merged.recipes[p] = h;
    merged.seconds = std::max(merged.seconds, s.seconds);
    for (auto& r : s.rows) {
      r.folder =
          fs::proximate(fs::absolute(fs::path(dirs[i]) / r.folder), fs::absolute(fs::path(out_dir)))
              .lexically_normal()
              .generic_string();
      merged.rows.push_back(std::move(r));
    }
  }
  std::vector<std::string> missing;
  for (int k = 0; k < count; ++k) {
    if (!seen[static_cast<size_t>(k)])
      missing.push_back(std::to_string(k) + "/" + std::to_string(count));
  }
  if (!missing.empty()) return invalid_argument("--merge: shards missing: " + join(missing, ", "));
  std::sort(merged.rows.begin(), merged.rows.end(),
            [](const Row& a, const Row& b) { return a.index < b.index; });
  return merged;
}

Status write_summary(const Summary& s, const std::string& dir) {
  COMPRESSOR_RETURN_IF_ERROR(io::write_file_atomic((fs::path(dir) / "summary.json").string(),
                                                   summary_to_json(s).dump(2) + "\n"));
  COMPRESSOR_RETURN_IF_ERROR(
      io::write_file_atomic((fs::path(dir) / "summary.csv").string(), summary_to_csv(s)));
  COMPRESSOR_RETURN_IF_ERROR(
      io::write_file_atomic((fs::path(dir) / "summary.md").string(), summary_to_markdown(s)));
  return io::write_file_atomic((fs::path(dir) / "report.html").string(), summary_to_html(s));
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

StatusOr<Worker> spawn_worker(const std::vector<std::string>& argv, const std::string& log_path,
                              const WorkerLimits& limits) {
  if (argv.empty()) return invalid_argument("spawn_worker: empty command");
  // Everything the child needs is prepared before fork: after it only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return io_error(log_path + ": cannot create: " + std::strerror(errno));
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    return io_error(std::string("/dev/null: cannot open: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    ::close(null_fd);
    return io_error(std::string("cannot start a worker: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    // The worker dies with the batch, even when the batch is killed with SIGKILL.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // Signals the batch ignores or handles are back to their defaults in the worker.
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (limits.memory_bytes > 0) {
      rlimit rl{static_cast<rlim_t>(limits.memory_bytes), static_cast<rlim_t>(limits.memory_bytes)};
      ::setrlimit(RLIMIT_AS, &rl);
    }
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(args[0], args.data());
    const char msg[] = "error: cannot start the worker program\n";
    [[maybe_unused]] ssize_t w = ::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  // Also set from the parent so a kill of the group cannot race the child's own setpgid.
  ::setpgid(pid, pid);
  ::close(log_fd);
  ::close(null_fd);
  return Worker{pid, now_seconds()};
}

std::vector<size_t> run_jobs(
    size_t count, int jobs, const WorkerLimits& limits,
    const std::function<StatusOr<JobSpec>(size_t)>& start,
    const std::function<void(size_t, const WorkerExit&, const Status&)>& done,
    const std::function<bool()>& interrupted) {
  struct Running {
    size_t index;
    Worker worker;
    bool timed_out = false;
    bool interrupted = false;
    double kill_sent = 0;
  };
  // SIGCHLD is blocked and waited for, so a finished worker is noticed at once rather than at
  // the next poll; the wait still times out to check timeouts and interruption.
  sigset_t chld, old_mask;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &chld, &old_mask);
  std::vector<Running> running;
  size_t next = 0;
  bool stopping = false;
  const size_t max_jobs = static_cast<size_t>(std::max(1, jobs));
  while (next < count || !running.empty()) {
    if (!stopping && interrupted()) {
      stopping = true;
      for (auto& r : running) {
        r.interrupted = true;
        ::kill(-r.worker.pid, SIGTERM);
        r.kill_sent = now_seconds();
      }
    }
    while (!stopping && next < count && running.size() < max_jobs) {
      const size_t i = next++;
      auto spec = start(i);
      if (!spec.ok()) {
        done(i, WorkerExit{}, spec.status());
        continue;
      }
      auto w = spawn_worker(spec.value().argv, spec.value().log_path, limits);
      if (!w.ok()) {
        done(i, WorkerExit{}, w.status());
        continue;
      }
      running.push_back({i, w.value()});
    }
    if (stopping && running.empty()) break;
    bool changed = false;
    const double now = now_seconds();
    for (size_t k = 0; k < running.size();) {
      Running& r = running[k];
      int wstatus = 0;
      const pid_t got = ::waitpid(r.worker.pid, &wstatus, WNOHANG);
      if (got == r.worker.pid) {
        // Whatever the worker left in its group goes with it.
        ::kill(-r.worker.pid, SIGKILL);
        WorkerExit e;
        e.seconds = now_seconds() - r.worker.started;
        // A worker that outlived --timeout while this loop was not running (a busy machine can
        // keep it off the CPU past a short limit) timed out all the same: the verdict depends on
        // the time taken, not on when the loop looked.
        e.timed_out = r.timed_out || (limits.timeout_s > 0 && e.seconds > limits.timeout_s);
        e.interrupted = r.interrupted;
        if (WIFEXITED(wstatus)) e.exit_code = WEXITSTATUS(wstatus);
        if (WIFSIGNALED(wstatus)) e.signal = WTERMSIG(wstatus);
        const size_t index = r.index;
        running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
        done(index, e, ok_status());
        changed = true;
        continue;
      }
      if (!r.timed_out && !r.interrupted && limits.timeout_s > 0 &&
          now - r.worker.started > limits.timeout_s) {
        r.timed_out = true;
        ::kill(-r.worker.pid, SIGKILL);
      }
      // An interrupted worker that ignores SIGTERM for two seconds is killed.
      if (r.interrupted && r.kill_sent > 0 && now - r.kill_sent > 2.0) {
        ::kill(-r.worker.pid, SIGKILL);
        r.kill_sent = 0;
      }
      ++k;
    }
    if (!changed) {
      const timespec wait{0, 20'000'000};
      sigtimedwait(&chld, nullptr, &wait);
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  std::vector<size_t> never;
  for (size_t i = next; i < count; ++i) never.push_back(i);
  return never;
}

}  // namespace compressor::cli::batch
