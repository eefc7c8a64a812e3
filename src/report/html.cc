// The run report as one self-contained HTML page: tables and inline-SVG bar charts, no scripts.
#include "compressor/report/html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "compressor/core/format.h"
#include "compressor/io/files.h"

namespace compressor::report {

namespace {

constexpr const char* kBarColor = "#3b6fb6";
constexpr const char* kFailColor = "#c62828";

constexpr const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
       max-width: 1140px; padding: 0 16px; color: #1d2330; background: #fff; font-size: 14px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d6dae2; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #d6dae2; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f1f3f7; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
              font-size: 12px; overflow-wrap: anywhere; }
table.passes { width: 100%; }
div.wide { overflow-x: auto; }
table.passes td:nth-child(2) { min-width: 160px; }
.sub { color: #5b6372; font-size: 12px; }
.status { display: inline-block; padding: 3px 10px; border-radius: 4px; color: #fff;
          font-weight: 600; }
.ok { background: #2e7d32; }
.fail { background: #c62828; }
.warn { background: #b26a00; }
tr.gate-ok td.verdict { color: #2e7d32; font-weight: 600; }
tr.gate-fail td { background: #fdecea; }
tr.gate-fail td.verdict { color: #c62828; font-weight: 600; }
details summary { cursor: pointer; color: #3b6fb6; }
details ul { margin: 4px 0; padding-left: 18px; }
figure.chart { margin: 10px 0 18px; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 12px;
           fill: #1d2330; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; }
dl.facts dt { color: #5b6372; }
dl.facts dd { margin: 0; }
)";

std::string esc(std::string_view s) { return html_escape(s); }

std::string printf_string(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

/// A coordinate in the SVG (one decimal).
std::string coord(double v) { return printf_string("%.1f", v); }

std::string value_text(const std::optional<double>& v) { return v ? format_value(*v) : "-"; }

/// after / before as "x0.700"; empty when before is 0.
std::string ratio_text(uint64_t before, uint64_t after) {
  if (before == 0) return "";
  return printf_string("x%.3f", static_cast<double>(after) / static_cast<double>(before));
}

std::string seconds_text(double s) { return printf_string("%.3f s", s); }

/// "12.1 KiB" over "12,345 B".
std::string bytes_cell(uint64_t bytes) {
  return "<td class=\"num\">" + human_bytes(bytes) + "<br><span class=\"sub\">" +
         with_commas(bytes) + " B</span></td>";
}

std::string num_cell(const std::string& text) { return "<td class=\"num\">" + text + "</td>"; }

/// "before &rarr; after", then the ratio, in one cell.
std::string change_cell(const std::string& before, const std::string& after,
                        const std::string& ratio) {
  return "<td class=\"num\">" + before + "<br>&rarr; " + after +
         (ratio.empty() ? "" : "<br><span class=\"sub\">" + ratio + "</span>") + "</td>";
}

/// Bytes before and after a pass: sizes over exact byte counts, then the ratio.
std::string bytes_change_cell(uint64_t before, uint64_t after) {
  return "<td class=\"num\">" + human_bytes(before) + " <span class=\"sub\">" +
         with_commas(before) + " B</span><br>&rarr; " + human_bytes(after) +
         " <span class=\"sub\">" + with_commas(after) + " B</span><br><span class=\"sub\">" +
         ratio_text(before, after) + "</span></td>";
}

std::string pass_title(const pass::PassRecord& p) {
  return p.options.empty() ? p.name : p.name + "{" + p.options + "}";
}

/// A table of drift rows: one per output, a column per measured metric.
std::string drift_table_html(const std::vector<eval::OutputDrift>& drift) {
  const std::vector<std::string> columns = measured_metrics(drift);
  std::string out = "<div class=\"wide\"><table class=\"drift\"><tr><th>output</th>";
  for (const auto& c : columns) out += "<th>" + esc(c) + "</th>";
  out += "<th>samples</th></tr>\n";
  for (const auto& d : drift) {
    out += "<tr><td class=\"mono\">" + esc(d.output) + "</td>";
    for (const auto& c : columns) out += num_cell(esc(value_text(d.metrics.get(c))));
    out += num_cell(with_commas(d.metrics.samples)) + "</tr>\n";
  }
  return out + "</table></div>\n";
}

/// How a metric is drawn as a bar whose length grows with the damage: metrics in [0, 1] where
/// higher is better are drawn as 1 - value (cosine distance, disagreement); the others as is.
bool drawn_inverted(const std::string& metric) {
  return eval::higher_is_better(metric) && metric != "snr_db";
}

std::string bar_axis_title(const std::string& metric) {
  return drawn_inverted(metric) ? "1 \xE2\x88\x92 " + metric : metric;
}

double bar_length(const std::string& metric, double v) {
  return drawn_inverted(metric) ? 1 - v : v;
}

std::string gate_rows(const std::vector<eval::GateResult>& gates) {
  std::string out;
  for (const auto& g : gates) {
    out += std::string("<tr class=\"") + (g.ok ? "gate-ok" : "gate-fail") + "\"><td><code>" +
           esc(g.expr) + "</code></td>" + num_cell(esc(value_text(g.value))) +
           "<td class=\"mono\">" + esc(g.output) + "</td><td class=\"verdict\">" +
           (g.ok ? "pass" : "FAIL") + "</td></tr>\n";
  }
  return out;
}

void append_models(std::string& out, const Report& r) {
  out +=
      "<h2>Models</h2>\n<table><tr><th></th><th>path</th><th>size</th><th>zip</th>"
      "<th>params</th><th>MACs</th><th>FLOPs</th><th>sha256</th></tr>\n";
  auto row = [&](const char* role, const ModelFile& m) {
    out += std::string("<tr><th>") + role + "</th><td class=\"mono\">" + esc(m.path) + "</td>" +
           bytes_cell(m.bytes) + bytes_cell(m.zip_bytes) + num_cell(with_commas(m.params)) +
           num_cell(with_commas(m.macs) +
                    (m.macs_known ? "" : "<br><span class=\"sub\">some nodes unknown</span>")) +
           num_cell(with_commas(2 * m.macs)) + "<td class=\"mono sub\">" + esc(m.sha256) +
           "</td></tr>\n";
  };
  row(r.command == "eval" ? "reference" : "input", r.model);
  if (r.candidate) row("candidate", *r.candidate);
  if (r.output) row("output", *r.output);
  out += "</table>\n";
  const ModelFile* result = r.output ? &*r.output : r.candidate ? &*r.candidate : nullptr;
  if (result) {
    out += std::string("<p>") + (r.output ? "output" : "candidate") +
           " against the input: size <b>" + ratio_text(r.model.bytes, result->bytes) +
           "</b>, zip <b>" + ratio_text(r.model.zip_bytes, result->zip_bytes) + "</b>, params <b>" +
           ratio_text(r.model.params, result->params) + "</b>, MACs <b>" +
           ratio_text(r.model.macs, result->macs) + "</b></p>\n";
  }
}

void append_samples(std::string& out, const Report& r) {
  out += "<dl class=\"facts\">";
  if (!r.samples.empty()) {
    out += "<dt>samples</dt><dd>" + esc(r.samples) + " (" + with_commas(r.sample_count) + ")</dd>";
  } else {
    out += "<dt>drift</dt><dd>not measured" +
           (r.drift_note.empty() ? std::string() : ": " + esc(r.drift_note)) + "</dd>";
  }
  if (!r.calibration.empty()) out += "<dt>calibration</dt><dd>" + esc(r.calibration) + "</dd>";
  if (r.command != "eval" && r.command != "sensitivity" && !r.on_exceed.empty()) {
    out += "<dt>on exceed</dt><dd>" + esc(r.on_exceed) + "</dd>";
  }
  out += "</dl>\n";
}

/// Size, parameters and MACs of the input and after every pass, one chart each.
void append_pass_charts(std::string& out, const Report& r) {
  struct Series {
    const char* title;
    uint64_t pass::ModelStats::*field;
    bool bytes;
  };
  const Series series[] = {
      {"Size after every pass (bytes, every tensor embedded)", &pass::ModelStats::file_bytes, true},
      {"Parameters after every pass", &pass::ModelStats::params, false},
      {"MACs after every pass", &pass::ModelStats::macs, false}};
  for (const auto& s : series) {
    const uint64_t first = r.passes.front().before.*s.field;
    std::vector<Bar> bars;
    auto text = [&](uint64_t v) {
      std::string t = s.bytes ? human_bytes(v) + " (" + with_commas(v) + " B)" : with_commas(v);
      const std::string ratio = ratio_text(first, v);
      return ratio.empty() ? t : t + "  " + ratio;
    };
    bars.push_back({"input", static_cast<double>(first), text(first), "#8a94a6"});
    for (size_t i = 0; i < r.passes.size(); ++i) {
      const auto& p = r.passes[i];
      const uint64_t v = p.after.*s.field;
      bars.push_back({std::to_string(i + 1) + ". " + p.name, static_cast<double>(v), text(v),
                      p.verdict == pass::PassRecord::Verdict::kKeep ? "" : "#b26a00"});
    }
    out += svg_bar_chart(s.title, bars);
  }
}

/// Drift against the original after every pass: a chart per metric (rel_l2, cosine and the
/// class-score agreements when measured), a bar per pass and output.
void append_pass_drift(std::string& out, const Report& r) {
  std::vector<eval::OutputDrift> all;
  for (const auto& p : r.passes) all.insert(all.end(), p.drift.begin(), p.drift.end());
  if (all.empty()) return;
  const std::vector<std::string> measured = measured_metrics(all);
  out += "<h3>Drift against the original after every pass</h3>\n";
  for (const char* metric : {"rel_l2", "cosine", "top1_agreement", "accuracy_drop"}) {
    if (std::find(measured.begin(), measured.end(), metric) == measured.end()) continue;
    std::vector<Bar> bars;
    for (size_t i = 0; i < r.passes.size(); ++i) {
      const auto& p = r.passes[i];
      for (const auto& d : p.drift) {
        auto v = d.metrics.get(metric);
        if (!v) continue;
        std::string label = std::to_string(i + 1) + ". " + p.name;
        if (p.drift.size() > 1) label += " \xC2\xB7 " + d.output;
        std::string text = std::string(metric) + " " + format_value(*v);
        if (drawn_inverted(metric)) text = format_value(1 - *v) + "  (" + text + ")";
        const bool broke = std::any_of(p.exceeded.begin(), p.exceeded.end(), [&](const auto& g) {
          return g.output.empty() || g.output == d.output;
        });
        bars.push_back({label, bar_length(metric, *v), text, broke ? kFailColor : ""});
      }
    }
    out += svg_bar_chart(bar_axis_title(metric) + " after every pass", bars);
  }
  for (size_t i = 0; i < r.passes.size(); ++i) {
    const auto& p = r.passes[i];
    if (p.drift.empty()) continue;
    out += "<details><summary>pass " + std::to_string(i + 1) + " " + esc(pass_title(p)) +
           ": drift against the original and the previous pass</summary>\n";
    out += "<p>against the original</p>\n" + drift_table_html(p.drift);
    out += "<p>against the model before the pass</p>\n" + drift_table_html(p.delta);
    out += "<p class=\"sub\">measured in " + seconds_text(p.drift_seconds) + "</p></details>\n";
  }
}

/// Charts of rel_l2 and cosine per output (eval).
void append_output_drift_charts(std::string& out, const std::vector<eval::OutputDrift>& drift) {
  for (const char* metric : {"rel_l2", "cosine"}) {
    std::vector<Bar> bars;
    for (const auto& d : drift) {
      auto v = d.metrics.get(metric);
      if (!v) continue;
      std::string text = std::string(metric) + " " + format_value(*v);
      if (drawn_inverted(metric)) text = format_value(1 - *v) + "  (" + text + ")";
      bars.push_back({d.output, bar_length(metric, *v), text, ""});
    }
    if (!bars.empty()) out += svg_bar_chart(bar_axis_title(metric) + " per output", bars);
  }
}

void append_passes(std::string& out, const Report& r) {
  out += "<h2>Passes</h2>\n";
  if (r.passes.empty()) {
    out += "<p>No pass ran.</p>\n";
    return;
  }
  out +=
      "<table class=\"passes\"><tr><th>#</th><th>pass</th><th>time</th><th>size</th>"
      "<th>params</th><th>MACs</th><th>nodes</th><th>changed</th><th>skipped</th>"
      "<th>notes</th><th>changes</th><th>verdict</th></tr>\n";
  for (size_t i = 0; i < r.passes.size(); ++i) {
    const auto& p = r.passes[i];
    out += "<tr><td class=\"num\">" + std::to_string(i + 1) + "</td><td><code>" +
           esc(pass_title(p)) + "</code>";
    if (p.calibrated_tensors > 0) {
      out += "<br><span class=\"sub\">calibrated " + std::to_string(p.calibrated_tensors) +
             " tensors in " + seconds_text(p.calibration_seconds) + "</span>";
    }
    out += "</td>" + num_cell(seconds_text(p.seconds)) +
           bytes_change_cell(p.before.file_bytes, p.after.file_bytes) +
           change_cell(with_commas(p.before.params), with_commas(p.after.params),
                       ratio_text(p.before.params, p.after.params)) +
           change_cell(with_commas(p.before.macs), with_commas(p.after.macs),
                       ratio_text(p.before.macs, p.after.macs)) +
           change_cell(std::to_string(p.before.nodes), std::to_string(p.after.nodes), "") +
           num_cell(std::to_string(p.result.nodes_changed));
    out += "<td>";
    if (!p.result.skipped.empty()) {
      out +=
          "<details><summary>" + std::to_string(p.result.skipped.size()) + " skipped</summary><ul>";
      for (const auto& s : p.result.skipped) {
        out += "<li><code>" + esc(s.node) + "</code>: " + esc(s.reason) + "</li>";
      }
      out += "</ul></details>";
    } else {
      out += "0";
    }
    out += "</td><td>";
    for (const auto& n : p.result.notes) out += "<div>" + esc(n) + "</div>";
    out += "</td><td>";
    if (!p.result.changes.empty()) {
      out +=
          "<details><summary>" + std::to_string(p.result.changes.size()) + " changed</summary><ul>";
      for (const auto& c : p.result.changes) {
        out += "<li><code>" + esc(c.node) + "</code>: " + esc(c.detail) + "</li>";
      }
      out += "</ul></details>";
    }
    out += "</td><td>";
    const bool kept = p.verdict == pass::PassRecord::Verdict::kKeep;
    out += std::string("<span class=\"status ") + (kept ? "ok" : "warn") + "\">" +
           verdict_name(p.verdict) + "</span>";
    for (const auto& g : p.exceeded) {
      out += "<div class=\"sub\">exceeded <code>" + esc(g.expr) +
             "</code> = " + esc(value_text(g.value)) +
             (g.output.empty() ? "" : " at " + esc(g.output)) + "</div>";
    }
    out += "</td></tr>\n";
  }
  out += "</table>\n";
  append_pass_charts(out, r);
  if (!r.samples.empty()) append_pass_drift(out, r);
}

void append_sensitivity(std::string& out, const Report& r) {
  out += "<h2>Per-layer sensitivity</h2>\n<p>Each layer changed alone by <code>" +
         esc(r.sensitivity_pass) + "</code>, ranked by <code>" + esc(r.sensitivity_metric) +
         "</code> (worst over outputs), most damaging first.</p>\n";
  std::vector<Bar> bars;
  std::string table = "<table><tr><th>rank</th><th>node</th><th>op</th><th>" +
                      esc(r.sensitivity_metric) + "</th><th>params</th></tr>\n";
  size_t rank = 0;
  for (const auto& l : r.sensitivity) {
    if (!l.skipped.empty()) continue;
    ++rank;
    const std::string label = std::to_string(rank) + ". " + l.node + " (" + l.op_type + ")";
    std::string text = r.sensitivity_metric + " " + value_text(l.score);
    if (l.score && drawn_inverted(r.sensitivity_metric)) {
      text = format_value(1 - *l.score) + "  (" + text + ")";
    }
    bars.push_back(
        {label, l.score ? bar_length(r.sensitivity_metric, *l.score) : std::nan(""), text, ""});
    table += "<tr>" + num_cell(std::to_string(rank)) + "<td><code>" + esc(l.node) +
             "</code></td><td>" + esc(l.op_type) + "</td>" + num_cell(esc(value_text(l.score))) +
             change_cell(with_commas(l.params_before), with_commas(l.params_after),
                         ratio_text(l.params_before, l.params_after)) +
             "</tr>\n";
  }
  table += "</table>\n";
  if (!bars.empty()) {
    out +=
        svg_bar_chart(bar_axis_title(r.sensitivity_metric) + " with only this layer changed", bars);
  }
  out += table;
  std::string skipped;
  size_t skipped_count = 0;
  for (const auto& l : r.sensitivity) {
    if (l.skipped.empty()) continue;
    ++skipped_count;
    skipped += "<li><code>" + esc(l.node) + "</code> (" + esc(l.op_type) + "): " + esc(l.skipped) +
               "</li>";
  }
  if (skipped_count > 0) {
    out += "<details><summary>" + std::to_string(skipped_count) +
           " layer(s) skipped</summary><ul>" + skipped + "</ul></details>\n";
  }
  std::string details;
  for (const auto& l : r.sensitivity) {
    if (!l.skipped.empty() || l.drift.empty()) continue;
    details += "<p><code>" + esc(l.node) + "</code></p>\n" + drift_table_html(l.drift);
  }
  if (!details.empty()) {
    out +=
        "<details><summary>drift per output of every layer</summary>\n" + details + "</details>\n";
  }
}

void append_fallback(std::string& out, const pass::FallbackResult& f) {
  out += "<h2>Auto-fallback</h2>\n<p>Layers of <code>" + esc(f.pass) +
         "</code> returned to float, ranked by <code>" + esc(f.gate) + "</code> (" + esc(f.metric) +
         " with every layer changed: " + esc(value_text(f.value_all)) + "), " +
         seconds_text(f.seconds) + ": " +
         (f.met ? "the gates are met." : "the gates cannot be met by returning layers to float.") +
         "</p>\n";
  out += "<table><tr><th>layers in float</th><th>" + esc(f.metric) + "</th><th>gates</th></tr>\n";
  for (const auto& st : f.steps) {
    out += std::string("<tr class=\"") + (st.passed ? "gate-ok" : "gate-fail") + "\">" +
           num_cell(std::to_string(st.float_layers)) + num_cell(esc(value_text(st.value))) +
           "<td class=\"verdict\">" + (st.passed ? "pass" : "FAIL") + "</td></tr>\n";
  }
  out += "</table>\n<table><tr><th>node</th><th>op</th><th>" + esc(f.metric) +
         " with only it in float</th><th>step</th><th>saved</th></tr>\n";
  for (const auto& l : f.layers) {
    out += "<tr><td><code>" + esc(l.node) + "</code></td><td>" + esc(l.op_type) + "</td>" +
           num_cell(esc(value_text(l.alone))) +
           num_cell(l.step == 0 ? std::string("-") : std::to_string(l.step)) +
           num_cell(esc(value_text(l.saved))) + "</tr>\n";
  }
  out += "</table>\n";
}

void append_budget(std::string& out, const pass::BudgetResult& b) {
  const bool rank = b.pass == "factorize-svd";
  out += "<h2>Budget search</h2>\n<p><code>" + esc(b.pass) + "</code>: " + esc(b.metric) + " " +
         format_value(b.achieved) + " of the model before the pass (target " +
         format_value(b.target) + ", " + (b.reached ? "reached" : "<b>not reachable</b>") + "), " +
         with_commas(b.before) + " &rarr; " + with_commas(b.after) + "; ranked by " +
         esc(b.ranking) + " (" + esc(b.ranking_metric) + ", " + esc(value_text(b.value_before)) +
         " before); " + std::to_string(b.evaluations) + " evaluations, " +
         std::to_string(b.applications) + " applications, " + seconds_text(b.seconds) + "</p>\n";
  if (!b.group_ratios.empty()) {
    out += "<p>group ratios: <code>" + esc(b.group_ratios) + "</code></p>\n";
  }
  out += std::string("<table><tr><th>layers</th><th>") + (rank ? "rank" : "channels") +
         "</th><th>" + (rank ? "rank cut" : "ratio") + "</th><th>" + esc(b.ranking_metric) +
         " alone</th><th>candidates</th></tr>\n";
  for (const auto& g : b.groups) {
    out += "<tr><td>";
    for (size_t i = 0; i < g.producers.size(); ++i) {
      out += (i ? "<br>" : "") + std::string("<code>") + esc(g.producers[i]) + "</code>";
    }
    out += "</td>" + num_cell(std::to_string(g.channels)) + num_cell(format_value(g.ratio)) +
           num_cell(esc(value_text(g.value))) + "<td>";
    if (!g.candidates.empty()) {
      out += "<details><summary>" + std::to_string(g.candidates.size()) +
             " tried</summary><table><tr><th>ratio</th><th>" + esc(b.ranking_metric) +
             "</th><th>saved</th></tr>";
      for (const auto& c : g.candidates) {
        out += "<tr>" + num_cell(format_value(c.ratio)) + num_cell(esc(value_text(c.value))) +
               num_cell(with_commas(c.saved)) + "</tr>";
      }
      out += "</table></details>";
    }
    out += "</td></tr>\n";
  }
  out += "</table>\n";
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string svg_bar_chart(const std::string& title, const std::vector<Bar>& bars) {
  constexpr double kWidth = 1000, kRow = 22, kBar = 14, kTop = 4, kValueWidth = 250;
  constexpr size_t kMaxLabel = 48;
  // Labels longer than kMaxLabel characters are cut (the full label is in the bar's tooltip).
  auto shown = [&](const std::string& label) {
    if (label.size() <= kMaxLabel) return label;
    size_t cut = kMaxLabel - 1;
    while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;
    return label.substr(0, cut) + "\xE2\x80\xA6";
  };
  size_t longest = 4;
  for (const auto& b : bars) longest = std::max(longest, std::min(b.label.size(), kMaxLabel));
  const double label_width = std::clamp(7.0 * static_cast<double>(longest) + 12, 80.0, 360.0);
  const double track = kWidth - label_width - kValueWidth;
  double max = 0;
  for (const auto& b : bars) {
    if (std::isfinite(b.value) && b.value > max) max = b.value;
  }
  const double height = kTop * 2 + kRow * static_cast<double>(bars.size());
  std::string out = "<figure class=\"chart\"><figcaption>" + esc(title) + "</figcaption>\n";
  out += "<svg width=\"" + coord(kWidth) + "\" height=\"" + coord(height) + "\" viewBox=\"0 0 " +
         coord(kWidth) + " " + coord(height) + "\" role=\"img\" aria-label=\"" + esc(title) +
         "\">\n";
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double y = kTop + kRow * static_cast<double>(i);
    const double bar_y = y + (kRow - kBar) / 2;
    const double text_y = y + kRow / 2 + 4;
    double w = 0;
    if (max > 0 && std::isfinite(b.value) && b.value > 0) w = track * b.value / max;
    out += "<text x=\"" + coord(label_width - 8) + "\" y=\"" + coord(text_y) +
           "\" text-anchor=\"end\">" + esc(shown(b.label)) + "</text>";
    out += "<rect x=\"" + coord(label_width) + "\" y=\"" + coord(bar_y) + "\" width=\"" +
           coord(track) + "\" height=\"" + coord(kBar) + "\" fill=\"#eef0f4\"/>";
    out += "<rect x=\"" + coord(label_width) + "\" y=\"" + coord(bar_y) + "\" width=\"" + coord(w) +
           "\" height=\"" + coord(kBar) + "\" fill=\"" +
           esc(b.color.empty() ? kBarColor : b.color) + "\"><title>" + esc(b.label) + ": " +
           esc(b.value_text) + "</title></rect>";
    out += "<text x=\"" + coord(label_width + track + 8) + "\" y=\"" + coord(text_y) + "\">" +
           esc(b.value_text) + "</text>\n";
  }
  return out + "</svg></figure>\n";
}

std::string render_html(const Report& r) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\">\n<title>compressor " +
      esc(r.command) + ": " + esc(r.model.path) + "</title>\n<style>" + kStyle +
      "</style>\n</head>\n<body>\n";
  out += "<h1>compressor " + esc(r.command) + "</h1>\n<p class=\"mono\">" + esc(r.model.path) +
         "</p>\n";
  out += std::string("<p><span class=\"status ") + (r.exit_code == 0 ? "ok" : "fail") +
         "\">exit code " + std::to_string(r.exit_code) + "</span> " +
         (r.exit_code == 0   ? (r.gates.empty() ? "" : "every gate passed")
          : r.exit_code == 3 ? "a gate failed"
                             : "") +
         "</p>\n";
  append_models(out, r);
  append_samples(out, r);
  if (r.command != "eval" && r.command != "sensitivity") append_passes(out, r);
  if (r.fallback) append_fallback(out, *r.fallback);
  if (r.budget) append_budget(out, *r.budget);
  if (!r.samples.empty() && (r.command == "eval" || !r.passes.empty())) {
    out += r.command == "eval" ? "<h2>Drift of the candidate against the reference</h2>\n"
                               : "<h2>Drift of the result against the original</h2>\n";
    if (r.command == "eval") append_output_drift_charts(out, r.drift);
    out += drift_table_html(r.drift);
  }
  if (r.command == "sensitivity") append_sensitivity(out, r);
  if (r.command != "sensitivity") out += "<h2>Gates</h2>\n";
  if (r.gates.empty()) {
    if (r.command != "sensitivity") out += "<p>No gate was given.</p>\n";
  } else {
    out += "<table><tr><th>gate</th><th>value</th><th>output</th><th>verdict</th></tr>\n" +
           gate_rows(r.gates) + "</table>\n";
  }
  if (!r.notes.empty()) {
    out += "<h2>Notes</h2>\n<ul>";
    for (const auto& n : r.notes) out += "<li>" + esc(n) + "</li>";
    out += "</ul>\n";
  }
  return out + "</body>\n</html>\n";
}

Status write_html(const Report& report, const std::string& path) {
  return io::write_file_atomic(path, render_html(report));
}

}  // namespace compressor::report

namespace compressor::report {

std::string html_page_start(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
         esc(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
}

std::string html_page_end() { return "</body>\n</html>\n"; }

std::string svg_scatter_chart(const std::string& title, const std::vector<Point>& points,
                              const std::string& x_title, const std::string& y_title) {
  constexpr double kWidth = 720, kHeight = 420, kLeft = 70, kRight = 150, kTop = 14, kBottom = 46;
  constexpr int kTicks = 5;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto usable = [](const Point& p) {
    return std::isfinite(p.x) && std::isfinite(p.y) && p.x >= 0 && p.y >= 0;
  };
  double max_x = 1, max_y = 0;
  for (const auto& p : points) {
    if (!usable(p)) continue;
    max_x = std::max(max_x, p.x);
    max_y = std::max(max_y, p.y);
  }
  if (max_y <= 0) max_y = 1;
  auto px = [&](double x) { return kLeft + plot_w * x / max_x; };
  auto py = [&](double y) { return kTop + plot_h * (1 - y / max_y); };
  std::string out = "<figure class=\"chart\"><figcaption>" + esc(title) + "</figcaption>\n";
  out += "<svg width=\"" + coord(kWidth) + "\" height=\"" + coord(kHeight) + "\" viewBox=\"0 0 " +
         coord(kWidth) + " " + coord(kHeight) + "\" role=\"img\" aria-label=\"" + esc(title) +
         "\">\n";
  out += "<rect x=\"" + coord(kLeft) + "\" y=\"" + coord(kTop) + "\" width=\"" + coord(plot_w) +
         "\" height=\"" + coord(plot_h) + "\" fill=\"#f7f8fa\" stroke=\"#d6dae2\"/>\n";
  for (int t = 0; t <= kTicks; ++t) {
    const double fx = max_x * t / kTicks, fy = max_y * t / kTicks;
    out += "<line x1=\"" + coord(px(fx)) + "\" y1=\"" + coord(kTop) + "\" x2=\"" + coord(px(fx)) +
           "\" y2=\"" + coord(kTop + plot_h) + "\" stroke=\"#e3e6ec\"/>";
    out += "<text x=\"" + coord(px(fx)) + "\" y=\"" + coord(kTop + plot_h + 16) +
           "\" text-anchor=\"middle\">" + esc(format_value(fx)) + "</text>";
    out += "<line x1=\"" + coord(kLeft) + "\" y1=\"" + coord(py(fy)) + "\" x2=\"" +
           coord(kLeft + plot_w) + "\" y2=\"" + coord(py(fy)) + "\" stroke=\"#e3e6ec\"/>";
    out += "<text x=\"" + coord(kLeft - 6) + "\" y=\"" + coord(py(fy) + 4) +
           "\" text-anchor=\"end\">" + esc(format_value(fy)) + "</text>\n";
  }
  out += "<text x=\"" + coord(kLeft + plot_w / 2) + "\" y=\"" + coord(kHeight - 8) +
         "\" text-anchor=\"middle\">" + esc(x_title) + "</text>";
  out += "<text x=\"14\" y=\"" + coord(kTop + plot_h / 2) + "\" text-anchor=\"middle\" " +
         "transform=\"rotate(-90 14 " + coord(kTop + plot_h / 2) + ")\">" + esc(y_title) +
         "</text>\n";
  for (const auto& p : points) {
    if (!usable(p)) continue;
    const std::string color = p.highlight ? kFailColor : kBarColor;
    out += "<circle cx=\"" + coord(px(p.x)) + "\" cy=\"" + coord(py(p.y)) + "\" r=\"5\" fill=\"" +
           color + "\"><title>" + esc(p.label) + ": " + esc(x_title) + " " +
           esc(format_value(p.x)) + ", " + esc(y_title) + " " + esc(format_value(p.y)) +
           "</title></circle>";
    out += "<text x=\"" + coord(px(p.x) + 8) + "\" y=\"" + coord(py(p.y) + 4) + "\">" +
           esc(p.label) + "</text>\n";
  }
  return out + "</svg></figure>\n";
}

}  // namespace compressor::report
