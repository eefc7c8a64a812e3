#include "recipe.h"

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include "commands.h"
#include "compressor/core/format.h"
#include "compressor/pass/budget.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pipeline.h"
#include "compressor/pass/registry.h"
#include "pipeline_command.h"

namespace compressor::cli {
namespace {

constexpr const char* kTopKeys[] = {
    "description", "model",       "output",    "external_data", "external_min_bytes",
    "data",        "calibration", "passes",    "gates",         "on_exceed",
    "report",      "report_html", "dump_after"};
constexpr const char* kDataKeys[] = {"folder", "samples", "seed",  "random_range",
                                     "dims",   "labels",  "drift", "threads"};
constexpr const char* kCalibrationKeys[] = {"method",  "percentile", "data",
                                            "samples", "table",      "save"};
constexpr const char* kStepKeys[] = {"pass", "options", "target", "auto_fallback"};

template <size_t N>
std::string key_list(const char* const (&keys)[N]) {
  std::string out;
  for (const char* k : keys) out += std::string(out.empty() ? "" : ", ") + k;
  return out;
}

/// Reads a recipe tree, remembering where it is for errors.
class Reader {
 public:
  Reader(std::string origin, std::string base_dir)
      : origin_(std::move(origin)), base_dir_(std::move(base_dir)) {}

  Status error(const std::string& where, const std::string& what) const {
    return invalid_argument(origin_ + ": " + where + ": " + what);
  }

  template <size_t N>
  Status check_keys(const Json& object, const std::string& where,
                    const char* const (&keys)[N]) const {
    if (!object.is_object()) return error(where, "must be a mapping of keys to values");
    for (const auto& [key, value] : object.items()) {
      bool known = false;
      for (const char* k : keys) known = known || key == k;
      if (!known) {
        return error(where.empty() ? key : where + "." + key,
                     "unknown key; valid keys: " + key_list(keys));
      }
    }
    return ok_status();
  }

  StatusOr<std::string> string(const Json& v, const std::string& where) const {
    if (!v.is_string()) return error(where, "must be a string");
    return v.get<std::string>();
  }
  StatusOr<std::string> path(const Json& v, const std::string& where) const {
    COMPRESSOR_ASSIGN_OR_RETURN(std::string p, string(v, where));
    if (p.empty()) return error(where, "must not be empty");
    if (base_dir_.empty() || std::filesystem::path(p).is_absolute()) return p;
    return (std::filesystem::path(base_dir_) / p).lexically_normal().string();
  }
  StatusOr<uint64_t> count(const Json& v, const std::string& where) const {
    if (!v.is_number_integer() || v.get<int64_t>() < 0) {
      return error(where, "must be a whole number of at least 0");
    }
    return v.get<uint64_t>();
  }
  StatusOr<double> number(const Json& v, const std::string& where) const {
    if (!v.is_number()) return error(where, "must be a number");
    return v.get<double>();
  }
  StatusOr<bool> boolean(const Json& v, const std::string& where) const {
    if (!v.is_boolean()) return error(where, "must be true or false");
    return v.get<bool>();
  }
  /// A pass option: strings as they are, numbers and booleans as the passes read them, a list of
  /// strings as one pattern per line.
  StatusOr<std::string> option(const Json& v, const std::string& where) const {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
    if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
    if (v.is_number()) return format_value(v.get<double>());
    if (v.is_array()) {
      std::vector<std::string> lines;
      for (size_t i = 0; i < v.size(); ++i) {
        COMPRESSOR_ASSIGN_OR_RETURN(std::string line,
                                    string(v[i], where + "[" + std::to_string(i) + "]"));
        lines.push_back(std::move(line));
      }
      return join_lines(lines);
    }
    return error(where, "must be a string, number, boolean or list of strings");
  }

 private:
  std::string origin_;
  std::string base_dir_;
};

/// How a pass option reads back best in a recipe: a boolean, a number, a list for pattern
/// lists, else the string; only where reading it back gives the same string.
Json option_json(const std::string& v) {
  if (v.find('\n') != std::string::npos) {
    Json lines = Json::array();
    size_t start = 0;
    while (true) {
      const size_t end = v.find('\n', start);
      lines.push_back(v.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    return lines;
  }
  if (v == "true") return true;
  if (v == "false") return false;
  const char* begin = v.data();
  const char* end = v.data() + v.size();
  int64_t i = 0;
  if (auto r = std::from_chars(begin, end, i); r.ec == std::errc() && r.ptr == end) {
    if (std::to_string(i) == v) return i;
  }
  double d = 0;
  if (auto r = std::from_chars(begin, end, d); r.ec == std::errc() && r.ptr == end) {
    if (format_value(d) == v) return d;
  }
  return v;
}

/// The search grid of a budget over `pass_name`'s groups.
pass::BudgetOptions budget_search(const std::string& pass_name) {
  pass::BudgetOptions search;
  if (pass_name == "factorize-svd") {
    // Fractions of each layer's rank removed. A square layer saves nothing until more than half
    // goes, so the grid is dense at the top.
    search.grid = {0.25, 0.5, 0.625, 0.75, 0.8125, 0.875, 0.9375};
  }
  return search;
}

bool has_option(const pass::PassInfo& info, const std::string& name) {
  for (const auto& o : info.options) {
    if (o.name == name) return true;
  }
  return false;
}

}  // namespace

Recipe recipe_of(const PipelineCommand& cmd) {
  Recipe r;
  r.command = cmd.command;
  r.model = cmd.model;
  r.output = cmd.output;
  r.data = cmd.data;
  r.gates = cmd.gates;
  r.dump_after = cmd.dump_after;
  return r;
}

StatusOr<RecipeCalibration> calibration_of(const DataOptions& data,
                                           const std::string& calibration_data,
                                           size_t calibration_samples) {
  COMPRESSOR_RETURN_IF_ERROR(
      calibration_spec(data, calibration_data, calibration_samples).status());
  RecipeCalibration calibration;
  calibration.data = calibration_data;
  calibration.samples = calibration_samples;
  return calibration;
}

Status append_steps(Recipe& recipe, const std::string& spec) {
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<pass::PassSpec> specs, pass::parse_pass_specs(spec));
  for (auto& s : specs) recipe.steps.push_back({std::move(s.name), std::move(s.options), {}, {}});
  return ok_status();
}

Json recipe_to_json(const Recipe& r) {
  Json j = Json::object();
  if (!r.model.empty()) j["model"] = r.model;
  if (!r.output.path.empty()) j["output"] = r.output.path;
  if (r.output.external != "auto") j["external_data"] = r.output.external;
  if (r.output.external_min_bytes != OutputOptions{}.external_min_bytes) {
    j["external_min_bytes"] = r.output.external_min_bytes;
  }
  Json data = Json::object();
  if (!r.data.data.empty()) data["folder"] = r.data.data;
  if (r.data.samples > 0) data["samples"] = r.data.samples;
  if (r.data.seed != 0) data["seed"] = r.data.seed;
  if (!r.data.random_range.empty()) data["random_range"] = r.data.random_range;
  if (!r.data.dims.empty()) {
    Json dims = Json::object();
    for (const auto& d : r.data.dims) {
      const size_t eq = d.find('=');
      const std::string value = eq == std::string::npos ? "" : d.substr(eq + 1);
      dims[d.substr(0, eq)] = option_json(value);
    }
    data["dims"] = std::move(dims);
  }
  if (!r.data.labels.empty()) data["labels"] = r.data.labels;
  if (r.data.no_drift) data["drift"] = false;
  if (r.data.threads != 0) data["threads"] = r.data.threads;
  if (!data.empty()) j["data"] = std::move(data);
  if (r.calibration) {
    const RecipeCalibration& c = *r.calibration;
    Json cal = Json::object();
    cal["method"] = c.method;
    if (c.method == "percentile") cal["percentile"] = c.percentile;
    if (!c.data.empty()) cal["data"] = c.data;
    if (c.samples > 0) cal["samples"] = c.samples;
    if (!c.table.empty()) cal["table"] = c.table;
    if (!c.save.empty()) cal["save"] = c.save;
    j["calibration"] = std::move(cal);
  }
  Json passes = Json::array();
  for (const auto& step : r.steps) {
    Json s = Json::object();
    s["pass"] = step.pass;
    if (!step.options.empty()) {
      Json options = Json::object();
      for (const auto& [k, v] : step.options) options[k] = option_json(v);
      s["options"] = std::move(options);
    }
    if (!step.target.empty()) s["target"] = step.target;
    if (step.fallback_step) {
      s["auto_fallback"] =
          *step.fallback_step == 0 ? Json(true) : Json{{"step", *step.fallback_step}};
    }
    passes.push_back(std::move(s));
  }
  j["passes"] = std::move(passes);
  if (!r.gates.gates.empty()) j["gates"] = r.gates.gates;
  if (r.gates.on_exceed != "fail") j["on_exceed"] = r.gates.on_exceed;
  if (!r.gates.report.empty()) j["report"] = r.gates.report;
  if (!r.gates.report_html.empty()) j["report_html"] = r.gates.report_html;
  if (!r.dump_after.empty()) j["dump_after"] = r.dump_after;
  return j;
}

StatusOr<Recipe> recipe_from_json(const Json& tree, const std::string& origin,
                                  const std::string& base_dir) {
  const Reader in(origin, base_dir);
  if (!tree.is_object()) {
    return invalid_argument(origin + ": a recipe is a mapping with at least 'passes'");
  }
  COMPRESSOR_RETURN_IF_ERROR(in.check_keys(tree, "", kTopKeys));
  Recipe r;
  if (tree.contains("description")) {
    COMPRESSOR_RETURN_IF_ERROR(in.string(tree["description"], "description").status());
  }
  if (tree.contains("model") && !tree["model"].is_null()) {
    COMPRESSOR_ASSIGN_OR_RETURN(r.model, in.path(tree["model"], "model"));
  }
  if (tree.contains("output") && !tree["output"].is_null()) {
    COMPRESSOR_ASSIGN_OR_RETURN(r.output.path, in.path(tree["output"], "output"));
  }
  if (tree.contains("external_data")) {
    COMPRESSOR_ASSIGN_OR_RETURN(r.output.external,
                                in.string(tree["external_data"], "external_data"));
    if (r.output.external != "auto" && r.output.external != "always" &&
        r.output.external != "never") {
      return in.error("external_data", "must be one of auto, always, never");
    }
  }
  if (tree.contains("external_min_bytes")) {
    COMPRESSOR_ASSIGN_OR_RETURN(r.output.external_min_bytes,
                                in.count(tree["external_min_bytes"], "external_min_bytes"));
  }
  if (tree.contains("data")) {
    const Json& d = tree["data"];
    COMPRESSOR_RETURN_IF_ERROR(in.check_keys(d, "data", kDataKeys));
    if (d.contains("folder")) {
      COMPRESSOR_ASSIGN_OR_RETURN(r.data.data, in.path(d["folder"], "data.folder"));
    }
    if (d.contains("samples")) {
      COMPRESSOR_ASSIGN_OR_RETURN(r.data.samples, in.count(d["samples"], "data.samples"));
      if (r.data.samples == 0) return in.error("data.samples", "must be at least 1");
    }
    if (d.contains("seed")) {
      COMPRESSOR_ASSIGN_OR_RETURN(r.data.seed, in.count(d["seed"], "data.seed"));
    }
    if (d.contains("random_range")) {
      COMPRESSOR_ASSIGN_OR_RETURN(r.data.random_range,
                                  in.string(d["random_range"], "data.random_range"));
    }
    if (d.contains("dims")) {
      const Json& dims = d["dims"];
      if (!dims.is_object()) return in.error("data.dims", "must map dimension names to sizes");
      for (const auto& [name, value] : dims.items()) {
        COMPRESSOR_ASSIGN_OR_RETURN(uint64_t size, in.count(value, "data.dims." + name));
        r.data.dims.push_back(name + "=" + std::to_string(size));
      }
    }
    if (d.contains("labels")) {
      COMPRESSOR_ASSIGN_OR_RETURN(r.data.labels, in.path(d["labels"], "data.labels"));
    }
    if (d.contains("drift")) {
      COMPRESSOR_ASSIGN_OR_RETURN(bool drift, in.boolean(d["drift"], "data.drift"));
      r.data.no_drift = !drift;
    }
    if (d.contains("threads")) {
      COMPRESSOR_ASSIGN_OR_RETURN(uint64_t threads, in.count(d["threads"], "data.threads"));
      r.data.threads = static_cast<int>(threads);
    }
  }
  if (tree.contains("calibration")) {
    const Json& c = tree["calibration"];
    COMPRESSOR_RETURN_IF_ERROR(in.check_keys(c, "calibration", kCalibrationKeys));
    RecipeCalibration cal;
    if (c.contains("method")) {
      COMPRESSOR_ASSIGN_OR_RETURN(cal.method, in.string(c["method"], "calibration.method"));
    }
    if (c.contains("percentile")) {
      COMPRESSOR_ASSIGN_OR_RETURN(cal.percentile,
                                  in.number(c["percentile"], "calibration.percentile"));
    }
    if (c.contains("data")) {
      COMPRESSOR_ASSIGN_OR_RETURN(cal.data, in.path(c["data"], "calibration.data"));
    }
    if (c.contains("samples")) {
      COMPRESSOR_ASSIGN_OR_RETURN(cal.samples, in.count(c["samples"], "calibration.samples"));
      if (cal.samples == 0) return in.error("calibration.samples", "must be at least 1");
    }
    if (c.contains("table")) {
      COMPRESSOR_ASSIGN_OR_RETURN(cal.table, in.path(c["table"], "calibration.table"));
    }
    if (c.contains("save")) {
      COMPRESSOR_ASSIGN_OR_RETURN(cal.save, in.path(c["save"], "calibration.save"));
    }
    r.calibration = std::move(cal);
  }
  if (!tree.contains("passes")) return in.error("passes", "missing: list the passes to run");
  const Json& passes = tree["passes"];
  if (!passes.is_array() || passes.empty()) {
    return in.error("passes", "must be a non-empty list of passes");
  }
  for (size_t i = 0; i < passes.size(); ++i) {
    const std::string where = "passes[" + std::to_string(i) + "]";
    const Json& p = passes[i];
    RecipeStep step;
    if (p.is_string()) {
      step.pass = p.get<std::string>();
    } else {
      COMPRESSOR_RETURN_IF_ERROR(in.check_keys(p, where, kStepKeys));
      if (!p.contains("pass")) return in.error(where, "missing key 'pass' (the pass's name)");
      COMPRESSOR_ASSIGN_OR_RETURN(step.pass, in.string(p["pass"], where + ".pass"));
      if (p.contains("options")) {
        const Json& options = p["options"];
        if (!options.is_object()) {
          return in.error(where + ".options", "must map option names to values");
        }
        for (const auto& [key, value] : options.items()) {
          COMPRESSOR_ASSIGN_OR_RETURN(step.options[key],
                                      in.option(value, where + ".options." + key));
        }
      }
      if (p.contains("target")) {
        COMPRESSOR_ASSIGN_OR_RETURN(step.target, in.string(p["target"], where + ".target"));
      }
      if (p.contains("auto_fallback")) {
        const Json& f = p["auto_fallback"];
        if (f.is_boolean()) {
          if (f.get<bool>()) step.fallback_step = 0;
        } else if (f.is_object()) {
          static constexpr const char* kFallbackKeys[] = {"step"};
          COMPRESSOR_RETURN_IF_ERROR(in.check_keys(f, where + ".auto_fallback", kFallbackKeys));
          step.fallback_step = 0;
          if (f.contains("step")) {
            COMPRESSOR_ASSIGN_OR_RETURN(*step.fallback_step,
                                        in.count(f["step"], where + ".auto_fallback.step"));
          }
        } else {
          return in.error(where + ".auto_fallback", "must be true, false or {step: N}");
        }
      }
    }
    r.steps.push_back(std::move(step));
  }
  if (tree.contains("gates")) {
    const Json& g = tree["gates"];
    if (g.is_string()) {
      r.gates.gates.push_back(g.get<std::string>());
    } else if (g.is_array()) {
      for (size_t i = 0; i < g.size(); ++i) {
        COMPRESSOR_ASSIGN_OR_RETURN(std::string gate,
                                    in.string(g[i], "gates[" + std::to_string(i) + "]"));
        r.gates.gates.push_back(std::move(gate));
      }
    } else {
      return in.error("gates", "must be a list of gates such as 'cosine>=0.999'");
    }
  }
  if (tree.contains("on_exceed")) {
    COMPRESSOR_ASSIGN_OR_RETURN(r.gates.on_exceed, in.string(tree["on_exceed"], "on_exceed"));
  }
  if (tree.contains("report")) {
    COMPRESSOR_ASSIGN_OR_RETURN(r.gates.report, in.path(tree["report"], "report"));
  }
  if (tree.contains("report_html")) {
    COMPRESSOR_ASSIGN_OR_RETURN(r.gates.report_html, in.path(tree["report_html"], "report_html"));
  }
  if (tree.contains("dump_after")) {
    COMPRESSOR_ASSIGN_OR_RETURN(r.dump_after, in.path(tree["dump_after"], "dump_after"));
  }
  return r;
}

StatusOr<Recipe> load_recipe(const std::string& path) {
  COMPRESSOR_ASSIGN_OR_RETURN(Json tree, load_structured_file(path));
  return recipe_from_json(tree, path, std::filesystem::path(path).parent_path().string());
}

Status validate_recipe(const Recipe& r, const std::string& origin) {
  // A recipe file's errors name the file and the key; a command's recipe comes from flags whose
  // own messages already name them.
  const bool from_file = !origin.empty();
  const auto error = [&](const std::string& where, const std::string& what) {
    return invalid_argument(from_file ? origin + ": " + where + ": " + what : what);
  };
  const auto in_origin = [&](const Status& st) {
    return invalid_argument(from_file ? origin + ": " + st.message() : st.message());
  };
  if (r.steps.empty()) return error("passes", "no pass given");
  const auto& registry = pass::PassRegistry::builtin();
  size_t targets = 0;
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const RecipeStep& step = r.steps[i];
    const std::string where = "passes[" + std::to_string(i) + "]";
    auto created = registry.create(step.pass, step.options);
    if (!created.ok()) return error(where, created.status().message());
    const pass::PassInfo& info = (*created)->info();
    if (!step.target.empty()) {
      if (++targets > 1)
        return error(where + ".target", "only one pass of a recipe takes a target");
      if (!has_option(info, "group_ratios")) {
        std::string valid;
        for (const auto& p : registry.passes()) {
          if (has_option(p, "group_ratios")) valid += (valid.empty() ? "" : ", ") + p.name;
        }
        return error(where + ".target", "pass '" + step.pass +
                                            "' has no per-group ratios to search; passes that "
                                            "take a target: " +
                                            valid);
      }
      auto parsed = pass::parse_budget_target(step.target, where + ".target");
      if (!parsed.ok()) return in_origin(parsed.status());
      for (const char* policy : {"ratio", "rank", "rank_ratio", "energy", "group_ratios"}) {
        if (step.options.count(policy) != 0) {
          return error(where, "'target' chooses the per-group ratios; drop option '" +
                                  std::string(policy) + "'");
        }
      }
      if (r.data.no_drift) {
        return error(where + ".target", "needs drift samples; drop data.drift: false");
      }
    }
    if (step.fallback_step && i + 1 != r.steps.size()) {
      return error(where + ".auto_fallback", "applies to the recipe's last pass only");
    }
  }
  if (r.calibration) {
    const RecipeCalibration& c = *r.calibration;
    auto method = pass::parse_calibration_method(c.method);
    if (!method.ok()) return error("calibration.method", method.status().message());
    if (!(c.percentile > 0 && c.percentile <= 100)) {
      return error("calibration.percentile", "must be in (0, 100]");
    }
    if (!c.table.empty() && (!c.data.empty() || c.samples > 0)) {
      return error("calibration.table", "cannot be combined with calibration.data or .samples");
    }
    if (!c.data.empty() && !std::filesystem::is_directory(c.data)) {
      return error("calibration.data", c.data + ": no such folder");
    }
    if (Status st =
            check_writable_path(from_file ? "calibration.save" : "--save-calibration", c.save);
        !st.ok()) {
      return in_origin(st);
    }
  }
  for (const auto& [key, flag, path] :
       {std::tuple{"report", "--report", &r.gates.report},
        std::tuple{"report_html", "--report-html", &r.gates.report_html}}) {
    if (Status st = check_writable_path(from_file ? key : flag, *path); !st.ok()) {
      return in_origin(st);
    }
  }
  if (r.gates.on_exceed != "fail" && r.gates.on_exceed != "revert") {
    return error("on_exceed", "must be fail or revert, got '" + r.gates.on_exceed + "'");
  }
  if (auto gates = parse_gates(r.gates); !gates.ok()) {
    return in_origin(gates.status());
  }
  if (auto samples = sample_options(r.data); !samples.ok()) {
    return in_origin(samples.status());
  }
  if (r.model.empty()) {
    return in_origin(
        invalid_argument("no model: give MODEL on the command line or 'model' in the recipe"));
  }
  if (r.output.path.empty()) {
    return in_origin(
        invalid_argument("no output: give -o OUT on the command line or 'output' in the recipe"));
  }
  return ok_status();
}

Status run_recipe(const Recipe& r) {
  PipelineCommand cmd;
  cmd.command = r.command;
  cmd.model = r.model;
  cmd.output = r.output;
  cmd.data = r.data;
  cmd.gates = r.gates;
  cmd.dump_after = r.dump_after;

  // Calibration: as the recipe says, else minmax on the drift samples for passes that need it.
  const RecipeCalibration cal = r.calibration.value_or(RecipeCalibration{});
  COMPRESSOR_ASSIGN_OR_RETURN(cmd.calibration, calibration_spec(r.data, cal.data, cal.samples));
  COMPRESSOR_ASSIGN_OR_RETURN(cmd.calibration->options.method,
                              pass::parse_calibration_method(cal.method));
  cmd.calibration->options.percentile = cal.percentile;
  cmd.calibration->save_path = cal.save;
  cmd.calibration->table_path = cal.table;
  cmd.calibration->implicit = !r.calibration.has_value();

  const auto& registry = pass::PassRegistry::builtin();
  pass::PassPipeline pipeline;
  for (const RecipeStep& step : r.steps) {
    std::unique_ptr<pass::Pass> p;
    if (!step.target.empty()) {
      BudgetSpec spec;
      spec.pass = step.pass;
      COMPRESSOR_ASSIGN_OR_RETURN(spec.target, pass::parse_budget_target(step.target, "target"));
      spec.search = budget_search(step.pass);
      COMPRESSOR_ASSIGN_OR_RETURN(p, make_budget_pass(step.options, spec));
      cmd.budget = std::move(spec);
    } else {
      COMPRESSOR_ASSIGN_OR_RETURN(p, registry.create(step.pass, step.options));
    }
    if (step.fallback_step) {
      cmd.fallback = FallbackSpec{step.pass, step.options, {.step = *step.fallback_step}};
    }
    pipeline.add(std::move(p), options_text(step.options));
  }
  return run_pipeline_command(cmd, std::move(pipeline));
}

void add_print_recipe_flag(CLI::App& cmd, bool& flag) {
  cmd.add_flag("--print-recipe", flag,
               "Print the equivalent recipe (JSON, for `compressor run`) instead of running");
}

Status print_recipe(const Recipe& recipe) {
  const std::string text = recipe_to_json(recipe).dump(2) + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return ok_status();
}

Status finish_recipe(const Recipe& recipe, bool print) {
  COMPRESSOR_RETURN_IF_ERROR(validate_recipe(recipe));
  return print ? print_recipe(recipe) : run_recipe(recipe);
}

namespace {

struct RunOptions {
  std::string recipe;
  std::string model;
  std::string output;
  bool force = false;
  std::string data;
  std::string labels;
  std::string calibration_data;
  std::string report;
  std::string report_html;
  std::optional<int> threads;
  bool print = false;
};

Status run_run(const RunOptions& opts) {
  COMPRESSOR_ASSIGN_OR_RETURN(Recipe recipe, load_recipe(opts.recipe));
  if (!opts.model.empty()) recipe.model = opts.model;
  if (!opts.output.empty()) recipe.output.path = opts.output;
  recipe.output.force = opts.force;
  if (!opts.data.empty()) recipe.data.data = opts.data;
  if (!opts.labels.empty()) recipe.data.labels = opts.labels;
  if (!opts.calibration_data.empty()) {
    if (!recipe.calibration) recipe.calibration.emplace();
    recipe.calibration->data = opts.calibration_data;
    recipe.calibration->samples = 0;
    recipe.calibration->table.clear();
  }
  if (!opts.report.empty()) recipe.gates.report = opts.report;
  if (!opts.report_html.empty()) recipe.gates.report_html = opts.report_html;
  if (opts.threads) recipe.data.threads = *opts.threads;
  COMPRESSOR_RETURN_IF_ERROR(validate_recipe(recipe, opts.recipe));
  return opts.print ? print_recipe(recipe) : run_recipe(recipe);
}

}  // namespace

void setup_run_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run a recipe (JSON or YAML): the passes in order with their options, drift after every "
      "pass, gates and the report. prune, quantize, factorize and optimize --print-recipe print "
      "one");
  cmd->add_option("recipe", opts->recipe, "Recipe file (.json, .yaml or .yml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("model", opts->model, "Input .onnx model (instead of the recipe's 'model')");
  cmd->add_option("-o,--output", opts->output,
                  "Output .onnx path, written atomically (instead of the recipe's 'output')");
  cmd->add_flag("--force", opts->force, "Allow the output to overwrite the input model");
  cmd->add_option("--data", opts->data, "Sample folder (instead of the recipe's data.folder)");
  cmd->add_option("--labels", opts->labels,
                  "Labels .npy for the samples (instead of the recipe's data.labels)");
  cmd->add_option("--calibration-data", opts->calibration_data,
                  "Calibration sample folder (instead of the recipe's calibration data, samples "
                  "or table)");
  cmd->add_option("--report", opts->report, "Write the JSON report here (instead of 'report')");
  cmd->add_option("--report-html", opts->report_html,
                  "Write the HTML report here (instead of 'report_html')");
  cmd->add_option("--threads", opts->threads,
                  "Worker threads for running the models (instead of data.threads; results do "
                  "not depend on it)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--print-recipe", opts->print,
                "Print the recipe as it would run (with the command line's overrides) instead "
                "of running it");
  cmd->callback([opts, &run] { run = [opts] { return run_run(*opts); }; });
}

}  // namespace compressor::cli
