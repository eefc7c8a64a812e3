// The run report as JSON (stable key order) and as text.
#include "compressor/report/report.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "compressor/core/format.h"
#include "compressor/core/sha256.h"
#include "compressor/eval/model_info.h"
#include "compressor/io/files.h"

namespace compressor::report {

using Json = nlohmann::ordered_json;

namespace {

Json number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }
Json number(const std::optional<double>& v) { return v ? number(*v) : Json(nullptr); }

Json metrics_json(const eval::DriftMetrics& m) {
  Json j;
  for (const auto& name : eval::metric_names()) {
    auto v = m.get(name);
    if (v) j[name] = number(*v);
  }
  j["samples"] = m.samples;
  j["elements"] = m.elements;
  return j;
}

Json drift_json(const std::vector<eval::OutputDrift>& drift) {
  Json j = Json::object();
  for (const auto& d : drift) j[d.output] = metrics_json(d.metrics);
  return j;
}

Json model_json(const ModelFile& m) {
  Json j;
  j["path"] = m.path;
  j["sha256"] = m.sha256;
  j["bytes"] = m.bytes;
  j["zip_bytes"] = m.zip_bytes;
  j["params"] = m.params;
  j["macs"] = m.macs;
  j["flops"] = 2 * m.macs;
  j["macs_complete"] = m.macs_known;
  return j;
}

Json gate_json(const eval::GateResult& g) {
  Json j;
  j["expr"] = g.expr;
  j["value"] = number(g.value);
  j["output"] = g.output.empty() ? Json(nullptr) : Json(g.output);
  j["ok"] = g.ok;
  return j;
}

Json pass_json(const pass::PassRecord& r, bool drift_measured) {
  Json j;
  j["name"] = r.name;
  j["options"] = r.options;
  j["seconds"] = r.seconds;
  j["bytes_before"] = r.before.file_bytes;
  j["bytes_after"] = r.after.file_bytes;
  j["params_before"] = r.before.params;
  j["params_after"] = r.after.params;
  j["macs_before"] = r.before.macs;
  j["macs_after"] = r.after.macs;
  j["flops_before"] = 2 * r.before.macs;
  j["flops_after"] = 2 * r.after.macs;
  j["nodes_before"] = r.before.nodes;
  j["nodes_after"] = r.after.nodes;
  j["nodes_changed"] = r.result.nodes_changed;
  Json skipped = Json::array();
  for (const auto& s : r.result.skipped)
    skipped.push_back({{"node", s.node}, {"reason", s.reason}});
  j["nodes_skipped"] = std::move(skipped);
  Json changes = Json::array();
  for (const auto& c : r.result.changes)
    changes.push_back({{"node", c.node}, {"detail", c.detail}});
  j["changes"] = std::move(changes);
  j["calibration"] = r.calibrated_tensors == 0 ? Json(nullptr)
                                               : Json{{"tensors", r.calibrated_tensors},
                                                      {"seconds", r.calibration_seconds}};
  j["notes"] = r.result.notes;
  j["drift"] = drift_measured ? drift_json(r.drift) : Json(nullptr);
  j["delta"] = drift_measured ? drift_json(r.delta) : Json(nullptr);
  j["drift_seconds"] = r.drift_seconds;
  Json exceeded = Json::array();
  for (const auto& g : r.exceeded) exceeded.push_back(gate_json(g));
  j["gates_exceeded"] = std::move(exceeded);
  j["verdict"] = verdict_name(r.verdict);
  return j;
}

std::string ratio(uint64_t before, uint64_t after) {
  if (before == 0) return "";
  char buf[24];
  std::snprintf(buf, sizeof(buf), " (x%.3f)",
                static_cast<double>(after) / static_cast<double>(before));
  return buf;
}

void append_model(std::string& out, const char* label, const ModelFile& m) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-10s %s\n%-10s %s (zip %s), %s params, %s MACs%s\n", label,
                m.path.c_str(), "", human_bytes(m.bytes).c_str(), human_bytes(m.zip_bytes).c_str(),
                with_commas(m.params).c_str(), with_commas(m.macs).c_str(),
                m.macs_known ? "" : " (some nodes unknown)");
  out += buf;
}

}  // namespace

StatusOr<ModelFile> describe_model_file(const std::string& path, const ir::Model& model,
                                        const std::map<std::string, int64_t>& dims) {
  ModelFile m;
  m.path = path;
  COMPRESSOR_ASSIGN_OR_RETURN(m.sha256, sha256_file(path));
  std::error_code ec;
  m.bytes = std::filesystem::file_size(path, ec);
  if (ec) return io_error(path + ": cannot read its size: " + ec.message());
  COMPRESSOR_ASSIGN_OR_RETURN(m.zip_bytes, io::deflate_size(path));
  auto external = eval::external_data_files(path);
  if (external.ok()) {
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    for (const auto& f : *external) {
      m.bytes += f.bytes;
      if (!f.exists) continue;
      COMPRESSOR_ASSIGN_OR_RETURN(uint64_t zipped, io::deflate_size((dir / f.location).string()));
      m.zip_bytes += zipped;
    }
  }
  const pass::ModelStats stats = pass::model_stats(model, dims);
  m.params = stats.params;
  m.macs = stats.macs;
  m.macs_known = stats.macs_known;
  return m;
}

std::vector<std::string> measured_metrics(const std::vector<eval::OutputDrift>& drift) {
  std::vector<std::string> columns;
  for (const auto& name : eval::metric_names()) {
    for (const auto& d : drift) {
      if (d.metrics.get(name)) {
        columns.push_back(name);
        break;
      }
    }
  }
  return columns;
}

std::string drift_table(const std::vector<eval::OutputDrift>& drift, const std::string& indent) {
  const std::vector<std::string> columns = measured_metrics(drift);
  size_t width = 6;
  for (const auto& d : drift) width = std::max(width, d.output.size());
  std::string out = indent;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%-*s", static_cast<int>(width), "output");
  out += buf;
  for (const auto& c : columns) {
    std::snprintf(buf, sizeof(buf), " %*s", static_cast<int>(std::max<size_t>(10, c.size())),
                  c.c_str());
    out += buf;
  }
  out += '\n';
  for (const auto& d : drift) {
    out += indent;
    std::snprintf(buf, sizeof(buf), "%-*s", static_cast<int>(width), d.output.c_str());
    out += buf;
    for (const auto& c : columns) {
      auto v = d.metrics.get(c);
      std::snprintf(buf, sizeof(buf), " %*s", static_cast<int>(std::max<size_t>(10, c.size())),
                    v ? format_value(*v).c_str() : "-");
      out += buf;
    }
    out += '\n';
  }
  return out;
}

std::string to_json(const Report& r) {
  Json j;
  j["command"] = r.command;
  j["model"] = model_json(r.model);
  if (r.candidate) j["candidate"] = model_json(*r.candidate);
  Json samples;
  samples["description"] = r.samples.empty() ? Json(nullptr) : Json(r.samples);
  samples["count"] = r.sample_count;
  samples["drift_note"] = r.drift_note.empty() ? Json(nullptr) : Json(r.drift_note);
  j["samples"] = std::move(samples);
  if (!r.calibration.empty()) j["calibration"] = r.calibration;
  const bool measured = !r.samples.empty();
  if (r.command != "eval" && r.command != "sensitivity") {
    j["on_exceed"] = r.on_exceed;
    Json passes = Json::array();
    for (const auto& p : r.passes) passes.push_back(pass_json(p, measured));
    j["passes"] = std::move(passes);
  }
  j["drift"] = measured ? drift_json(r.drift) : Json(nullptr);
  if (r.command == "sensitivity") {
    Json s;
    s["pass"] = r.sensitivity_pass;
    s["metric"] = r.sensitivity_metric;
    Json layers = Json::array();
    for (const auto& l : r.sensitivity) {
      Json row;
      row["node"] = l.node;
      row["op_type"] = l.op_type;
      row["score"] = number(l.score);
      row["params_before"] = l.params_before;
      row["params_after"] = l.params_after;
      row["skipped"] = l.skipped.empty() ? Json(nullptr) : Json(l.skipped);
      row["drift"] = l.skipped.empty() ? drift_json(l.drift) : Json(nullptr);
      layers.push_back(std::move(row));
    }
    s["layers"] = std::move(layers);
    j["sensitivity"] = std::move(s);
  }
  if (r.fallback) {
    const pass::FallbackResult& f = *r.fallback;
    Json fb;
    fb["pass"] = f.pass;
    fb["gate"] = f.gate;
    fb["metric"] = f.metric;
    fb["value_all_changed"] = number(f.value_all);
    fb["met"] = f.met;
    fb["seconds"] = f.seconds;
    Json steps = Json::array();
    for (const auto& st : f.steps) {
      steps.push_back(Json{
          {"float_layers", st.float_layers}, {"value", number(st.value)}, {"passed", st.passed}});
    }
    fb["steps"] = std::move(steps);
    Json layers = Json::array();
    Json in_float = Json::array();
    for (const auto& l : f.layers) {
      Json row;
      row["node"] = l.node;
      row["op_type"] = l.op_type;
      row["value_with_only_it_in_float"] = number(l.alone);
      row["step"] = l.step == 0 ? Json(nullptr) : Json(l.step);
      row["saved"] = number(l.saved);
      layers.push_back(std::move(row));
      if (l.step > 0 && f.met) in_float.push_back(l.node);
    }
    fb["ranking"] = std::move(layers);
    fb["float_layers"] = std::move(in_float);
    j["fallback"] = std::move(fb);
  }
  if (r.budget) {
    const pass::BudgetResult& b = *r.budget;
    Json bj;
    bj["pass"] = b.pass;
    bj["metric"] = b.metric;
    bj["target"] = b.target;
    bj["before"] = b.before;
    bj["after"] = b.after;
    bj["achieved"] = number(b.achieved);
    bj["reached"] = b.reached;
    bj["ranking"] = b.ranking;
    bj["ranking_metric"] = b.ranking_metric;
    bj["value_before"] = number(b.value_before);
    bj["group_ratios"] = b.group_ratios;
    bj["evaluations"] = b.evaluations;
    bj["applications"] = b.applications;
    bj["seconds"] = b.seconds;
    Json groups = Json::array();
    for (const auto& g : b.groups) {
      Json row;
      row["producers"] = g.producers;
      row["channels"] = g.channels;
      row["ratio"] = g.ratio;
      row["value"] = number(g.value);
      Json candidates = Json::array();
      for (const auto& c : g.candidates) {
        candidates.push_back(
            Json{{"ratio", c.ratio}, {"value", number(c.value)}, {"saved", c.saved}});
      }
      row["candidates"] = std::move(candidates);
      groups.push_back(std::move(row));
    }
    bj["groups"] = std::move(groups);
    j["budget"] = std::move(bj);
  }
  Json gates = Json::array();
  for (const auto& g : r.gates) gates.push_back(gate_json(g));
  j["gates"] = std::move(gates);
  j["output"] = r.output ? model_json(*r.output) : Json(nullptr);
  j["notes"] = r.notes;
  j["exit_code"] = r.exit_code;
  return j.dump(2) + "\n";
}

std::string to_text(const Report& r) {
  std::string out;
  char buf[1024];
  append_model(out, r.command == "eval" ? "reference" : "model", r.model);
  if (r.candidate) append_model(out, "candidate", *r.candidate);
  if (!r.samples.empty()) {
    out += "samples    " + r.samples + "\n";
  } else if (!r.drift_note.empty()) {
    out += "drift      not measured: " + r.drift_note + "\n";
  }
  if (!r.calibration.empty()) out += "calibrated " + r.calibration + "\n";
  const bool measured = !r.samples.empty();
  for (size_t i = 0; i < r.passes.size(); ++i) {
    const auto& p = r.passes[i];
    std::snprintf(buf, sizeof(buf),
                  "\npass %zu/%zu  %s%s  %.3fs, %zu node(s) changed, %zu skipped%s\n", i + 1,
                  r.passes.size(), p.name.c_str(),
                  p.options.empty() ? "" : ("{" + p.options + "}").c_str(), p.seconds,
                  p.result.nodes_changed, p.result.skipped.size(),
                  p.verdict == pass::PassRecord::Verdict::kRevert ? "  [REVERTED]"
                  : p.verdict == pass::PassRecord::Verdict::kStop ? "  [STOPPED HERE]"
                                                                  : "");
    out += buf;
    std::snprintf(
        buf, sizeof(buf),
        "  bytes   %s -> %s%s\n  params  %s -> %s%s\n  MACs    %s -> %s%s\n  nodes   %zu -> %zu\n",
        human_bytes(p.before.file_bytes).c_str(), human_bytes(p.after.file_bytes).c_str(),
        ratio(p.before.file_bytes, p.after.file_bytes).c_str(),
        with_commas(p.before.params).c_str(), with_commas(p.after.params).c_str(),
        ratio(p.before.params, p.after.params).c_str(), with_commas(p.before.macs).c_str(),
        with_commas(p.after.macs).c_str(), ratio(p.before.macs, p.after.macs).c_str(),
        p.before.nodes, p.after.nodes);
    out += buf;
    if (p.calibrated_tensors > 0) {
      std::snprintf(buf, sizeof(buf), "  calibrated %zu tensors in %.3fs\n", p.calibrated_tensors,
                    p.calibration_seconds);
      out += buf;
    }
    for (const auto& note : p.result.notes) out += "  note: " + note + "\n";
    for (const auto& c : p.result.changes) out += "  changed " + c.node + ": " + c.detail + "\n";
    for (const auto& s : p.result.skipped) out += "  skipped " + s.node + ": " + s.reason + "\n";
    if (measured && p.result.nodes_changed == 0) {
      out += "  drift: unchanged (the pass changed no node)\n";
    } else if (measured) {
      out += "  drift against the original:\n" + drift_table(p.drift, "    ");
      out += "  drift against the previous pass:\n" + drift_table(p.delta, "    ");
    }
    for (const auto& g : p.exceeded) {
      out += "  exceeded " + g.expr + " (" + (g.value ? format_value(*g.value) : "-") +
             (g.output.empty() ? "" : " at " + g.output) + ")\n";
    }
  }
  if (measured && (r.command == "eval" || !r.passes.empty())) {
    out += r.command == "eval" ? "\ndrift of the candidate against the reference:\n"
                               : "\ndrift of the result against the original:\n";
    out += drift_table(r.drift, "  ");
  }
  if (r.command == "sensitivity") {
    std::snprintf(buf, sizeof(buf), "\nper-layer sensitivity to %s, ranked by %s (worst first):\n",
                  r.sensitivity_pass.c_str(), r.sensitivity_metric.c_str());
    out += buf;
    size_t width = 4;
    for (const auto& l : r.sensitivity) width = std::max(width, l.node.size());
    std::snprintf(buf, sizeof(buf), "  %4s  %-*s  %-16s %12s  %s\n", "rank",
                  static_cast<int>(width), "node", "op", r.sensitivity_metric.c_str(), "params");
    out += buf;
    size_t rank = 0;
    for (const auto& l : r.sensitivity) {
      if (!l.skipped.empty()) continue;
      std::snprintf(buf, sizeof(buf), "  %4zu  %-*s  %-16s %12s  %s -> %s\n", ++rank,
                    static_cast<int>(width), l.node.c_str(), l.op_type.c_str(),
                    l.score ? format_value(*l.score).c_str() : "-",
                    with_commas(l.params_before).c_str(), with_commas(l.params_after).c_str());
      out += buf;
    }
    for (const auto& l : r.sensitivity) {
      if (!l.skipped.empty()) out += "  skipped " + l.node + ": " + l.skipped + "\n";
    }
  }
  if (r.fallback) {
    const pass::FallbackResult& f = *r.fallback;
    const size_t in_float =
        f.met && !f.steps.empty() ? f.steps.back().float_layers : static_cast<size_t>(0);
    std::snprintf(buf, sizeof(buf),
                  "\nauto-fallback on %s, ranked by %s (%s with every layer changed: %s), %.3fs:\n",
                  f.pass.c_str(), f.gate.c_str(), f.metric.c_str(),
                  f.value_all ? format_value(*f.value_all).c_str() : "-", f.seconds);
    out += buf;
    for (const auto& st : f.steps) {
      std::snprintf(buf, sizeof(buf), "  %zu layer(s) in float: %s = %s  %s\n", st.float_layers,
                    f.metric.c_str(), st.value ? format_value(*st.value).c_str() : "-",
                    st.passed ? "gates pass" : "gates fail");
      out += buf;
    }
    if (f.met) {
      std::snprintf(buf, sizeof(buf), "  left in float (%zu of %zu):\n", in_float, f.layers.size());
      out += buf;
      for (const auto& l : f.layers) {
        if (l.step == 0) continue;
        out += "    " + l.node + " (" + l.op_type + "): " + f.metric + " with only it in float " +
               (l.alone ? format_value(*l.alone) : "-") + ", step " + std::to_string(l.step) +
               " saved " + (l.saved ? format_value(*l.saved) : "-") + "\n";
      }
    } else {
      out += "  the gates cannot be met by returning layers to float\n";
    }
  }
  if (r.budget) {
    const pass::BudgetResult& b = *r.budget;
    std::snprintf(buf, sizeof(buf),
                  "\nbudget on %s: %s %s of the model before the pass (target %s, %s), ranked by "
                  "%s; %zu evaluations, %.3fs:\n",
                  b.pass.c_str(), b.metric.c_str(), format_value(b.achieved).c_str(),
                  format_value(b.target).c_str(), b.reached ? "reached" : "NOT reachable",
                  b.ranking.c_str(), b.evaluations, b.seconds);
    out += buf;
    for (const auto& g : b.groups) {
      std::string producers;
      for (const auto& p : g.producers) producers += (producers.empty() ? "" : ", ") + p;
      // Factorization groups are single layers whose "channels" are their full rank.
      const bool rank = b.pass == "factorize-svd";
      out += "  " + producers + " (" + (rank ? "rank " : "") + std::to_string(g.channels) +
             (rank ? "): rank cut " : " channels): ratio ") + format_value(g.ratio) +
             (g.value ? ", " + b.ranking_metric + " alone " + format_value(*g.value) : "") + "\n";
    }
  }
  if (r.output) {
    out += "\n";
    append_model(out, "output", *r.output);
    std::snprintf(
        buf, sizeof(buf), "%-10s size x%.3f (zip x%.3f), params x%.3f, MACs x%.3f\n", "",
        r.model.bytes ? static_cast<double>(r.output->bytes) / r.model.bytes : 0.0,
        r.model.zip_bytes ? static_cast<double>(r.output->zip_bytes) / r.model.zip_bytes : 0.0,
        r.model.params ? static_cast<double>(r.output->params) / r.model.params : 0.0,
        r.model.macs ? static_cast<double>(r.output->macs) / r.model.macs : 0.0);
    out += buf;
  }
  if (!r.gates.empty()) {
    out += "\ngates:\n";
    for (const auto& g : r.gates) {
      out += std::string("  ") + (g.ok ? "pass  " : "FAIL  ") + g.expr + "  = " +
             (g.value ? format_value(*g.value) : "-") +
             (g.output.empty() ? "" : " (" + g.output + ")") + "\n";
    }
  }
  for (const auto& n : r.notes) out += "note: " + n + "\n";
  return out;
}

Status write_json(const Report& report, const std::string& path) {
  return io::write_file_atomic(path, to_json(report));
}

const char* verdict_name(pass::PassRecord::Verdict v) {
  switch (v) {
    case pass::PassRecord::Verdict::kKeep:
      return "kept";
    case pass::PassRecord::Verdict::kRevert:
      return "reverted";
    case pass::PassRecord::Verdict::kStop:
      return "stopped";
  }
  return "kept";
}

}  // namespace compressor::report
