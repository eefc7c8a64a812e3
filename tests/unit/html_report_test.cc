// The HTML report: a self-contained page with the JSON report's numbers, every user string
// escaped, one inline SVG per chart, and the same bytes for the same report.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "compressor/core/format.h"
#include "compressor/report/html.h"
#include "testing/test_models.h"

namespace compressor::report {
namespace {

using Json = nlohmann::json;

// A node name and an option that must be escaped.
const char* const kNastyNode = "/net/net.0/Gemm<b>&\"x\"";
const char* const kNastyNodeEscaped = "/net/net.0/Gemm&lt;b&gt;&amp;&quot;x&quot;";

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

eval::OutputDrift drift(const std::string& output, double rel_l2, double cosine,
                        std::optional<double> top1) {
  eval::OutputDrift d;
  d.output = output;
  d.metrics.samples = 8;
  d.metrics.elements = 80;
  d.metrics.max_abs = rel_l2 * 3.5;
  d.metrics.mean_abs = rel_l2 * 0.75;
  d.metrics.rmse = rel_l2 * 1.25;
  d.metrics.rel_l2 = rel_l2;
  d.metrics.cosine = cosine;
  d.metrics.snr_db = 41.5;
  d.metrics.top1_agreement = top1;
  return d;
}

ModelFile model_file(const std::string& path, uint64_t bytes, uint64_t params, uint64_t macs) {
  ModelFile m;
  m.path = path;
  m.sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  m.bytes = bytes;
  m.zip_bytes = bytes * 9 / 10;
  m.params = params;
  m.macs = macs;
  m.macs_known = true;
  return m;
}

pass::PassRecord pass_record(const std::string& name, const std::string& options,
                             uint64_t bytes_before, uint64_t bytes_after, uint64_t params_before,
                             uint64_t params_after) {
  pass::PassRecord p;
  p.name = name;
  p.options = options;
  p.seconds = 0.125;
  p.before.nodes = 7;
  p.after.nodes = 7;
  p.before.file_bytes = bytes_before;
  p.after.file_bytes = bytes_after;
  p.before.params = params_before;
  p.after.params = params_after;
  p.before.macs = params_before * 9;
  p.after.macs = params_after * 9;
  p.drift_seconds = 0.25;
  return p;
}

/// A prune run: two passes with drift on two outputs, one node name that needs escaping, two
/// gates of which one fails.
Report pipeline_report() {
  Report r;
  r.command = "prune";
  r.model = model_file("models/in.onnx", 1234567, 300000, 4500000);
  r.output = model_file("out/model <pruned>.onnx", 876543, 210000, 3150000);
  r.samples = "8 random samples (seed 0)";
  r.sample_count = 8;
  r.on_exceed = "fail";

  pass::PassRecord a =
      pass_record("prune-channels", "ratio=0.3,exclude=a<b&c", 1234567, 901234, 300000, 210000);
  a.result.nodes_changed = 3;
  a.result.changes.push_back({kNastyNode, "kept 45 of 64 channels"});
  a.result.changes.push_back({"/net/net.2/Conv", "kept 22 of 32 channels"});
  a.result.skipped.push_back({"/head/Gemm", "feeds a graph output"});
  a.result.notes.push_back("2 channel groups");
  a.drift = {drift("logits", 0.0421, 0.99911, 0.97), drift("features", 0.0733, 0.99734, {})};
  a.delta = a.drift;
  pass::PassRecord b = pass_record("eliminate-dead-nodes", "", 901234, 876543, 210000, 210000);
  b.result.nodes_changed = 1;
  b.drift = {drift("logits", 0.0422, 0.99910, 0.96), drift("features", 0.0734, 0.99733, {})};
  b.delta = {drift("logits", 0.0001, 0.999999, 1.0), drift("features", 0.0002, 0.999998, {})};
  eval::GateResult exceeded{"cosine>=0.9995", 0.99733, "features", false};
  b.exceeded.push_back(exceeded);
  b.verdict = pass::PassRecord::Verdict::kStop;
  r.passes = {a, b};
  r.drift = b.drift;
  r.gates.push_back({"size_ratio<=0.8", 0.7100, "", true});
  r.gates.push_back(exceeded);
  r.notes.push_back("dim batch is unbound, taken as 1");
  r.exit_code = 3;
  return r;
}

/// A sensitivity run: three ranked layers (one named to need escaping) and one skipped.
Report sensitivity_report() {
  Report r;
  r.command = "sensitivity";
  r.model = model_file("models/in.onnx", 1234567, 300000, 4500000);
  r.samples = "8 random samples (seed 0)";
  r.sample_count = 8;
  r.sensitivity_pass = "prune-magnitude{sparsity=0.7}";
  r.sensitivity_metric = "rel_l2";
  const std::pair<std::string, double> layers[] = {
      {kNastyNode, 0.312}, {"/net/net.2/Conv", 0.0871}, {"/net/net.4/Conv", 0.00123}};
  for (const auto& [node, score] : layers) {
    LayerSensitivity l;
    l.node = node;
    l.op_type = "Conv";
    l.score = score;
    l.drift = {drift("logits", score, 0.99, {})};
    l.params_before = 300000;
    l.params_after = 296000;
    r.sensitivity.push_back(l);
  }
  LayerSensitivity skipped;
  skipped.node = "/head/Gemm";
  skipped.op_type = "Gemm";
  skipped.skipped = "too small to prune";
  r.sensitivity.push_back(skipped);
  return r;
}

void expect_self_contained(const std::string& html) {
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  EXPECT_EQ(html.substr(html.size() - 8), "</html>\n");
  EXPECT_EQ(html.find("http"), std::string::npos) << "no URL, no external reference";
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
  EXPECT_EQ(count(html, "<table"), count(html, "</table>"));
  EXPECT_EQ(count(html, "<details"), count(html, "</details>"));
  EXPECT_EQ(count(html, "<tr"), count(html, "</tr>"));
  // Escaped user strings appear escaped and never raw.
  EXPECT_NE(html.find(kNastyNodeEscaped), std::string::npos);
  EXPECT_EQ(html.find("Gemm<b>"), std::string::npos);
}

/// The text a drift metric of the JSON report is shown as (null: not finite).
std::string shown(const Json& v) { return v.is_null() ? "-" : format_value(v.get<double>()); }

TEST(HtmlReport, PipelineShowsTheJsonNumbers) {
  const Report r = pipeline_report();
  const std::string html = render_html(r);
  expect_self_contained(html);
  EXPECT_EQ(html.find("a<b&c"), std::string::npos);
  EXPECT_NE(html.find("ratio=0.3,exclude=a&lt;b&amp;c"), std::string::npos);
  EXPECT_NE(html.find("out/model &lt;pruned&gt;.onnx"), std::string::npos);

  // Charts: size, parameters and MACs after every pass; rel_l2, cosine and top1_agreement
  // (measured on logits) after every pass.
  EXPECT_EQ(count(html, "<svg"), 6u);

  const Json j = Json::parse(to_json(r));
  for (const char* key : {"model", "output"}) {
    for (const char* field : {"bytes", "zip_bytes", "params", "macs", "flops"}) {
      EXPECT_NE(html.find(with_commas(j[key][field].get<uint64_t>())), std::string::npos)
          << key << "." << field;
    }
    EXPECT_NE(html.find(j[key]["sha256"].get<std::string>()), std::string::npos);
  }
  // The ratios of the output against the input.
  EXPECT_NE(html.find("size <b>x0.710</b>"), std::string::npos);
  EXPECT_NE(html.find("params <b>x0.700</b>"), std::string::npos);
  for (const auto& p : j["passes"]) {
    const std::string name = p["name"].get<std::string>();
    EXPECT_NE(html.find(name), std::string::npos) << name;
    for (const char* field : {"bytes_before", "bytes_after", "params_before", "params_after",
                              "macs_before", "macs_after"}) {
      EXPECT_NE(html.find(with_commas(p[field].get<uint64_t>())), std::string::npos)
          << name << " " << field;
    }
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.3f s", p["seconds"].get<double>());
    EXPECT_NE(html.find(seconds), std::string::npos);
    for (const auto& [output, metrics] : p["drift"].items()) {
      for (const char* metric : {"rel_l2", "cosine", "max_abs", "snr_db"}) {
        EXPECT_NE(html.find(shown(metrics[metric])), std::string::npos)
            << name << " " << output << " " << metric;
      }
    }
    for (const auto& s : p["nodes_skipped"]) {
      EXPECT_NE(html.find(html_escape(s["reason"].get<std::string>())), std::string::npos);
    }
    for (const auto& c : p["changes"]) {
      EXPECT_NE(html.find(html_escape(c["detail"].get<std::string>())), std::string::npos);
    }
  }
  EXPECT_NE(html.find(j["passes"][0]["notes"][0].get<std::string>()), std::string::npos);
  EXPECT_NE(html.find(j["passes"][1]["verdict"].get<std::string>()), std::string::npos);
  // Gates: each with its value and verdict, the failing one marked as failing.
  ASSERT_EQ(j["gates"].size(), 2u);
  for (const auto& g : j["gates"]) {
    const std::string row = std::string("<tr class=\"") +
                            (g["ok"].get<bool>() ? "gate-ok" : "gate-fail") + "\"><td><code>" +
                            html_escape(g["expr"].get<std::string>()) + "</code></td>";
    EXPECT_NE(html.find(row), std::string::npos) << row;
    EXPECT_NE(html.find(shown(g["value"])), std::string::npos);
  }
  EXPECT_NE(html.find("FAIL"), std::string::npos);
  EXPECT_NE(html.find("exit code 3"), std::string::npos);
  EXPECT_NE(html.find(j["notes"][0].get<std::string>()), std::string::npos);
}

TEST(HtmlReport, SensitivityRankingChart) {
  const Report r = sensitivity_report();
  const std::string html = render_html(r);
  expect_self_contained(html);
  EXPECT_EQ(count(html, "<svg"), 1u);
  const Json j = Json::parse(to_json(r));
  size_t ranked = 0;
  for (const auto& l : j["sensitivity"]["layers"]) {
    EXPECT_NE(html.find(html_escape(l["node"].get<std::string>())), std::string::npos);
    if (!l["skipped"].is_null()) {
      EXPECT_NE(html.find(l["skipped"].get<std::string>()), std::string::npos);
      continue;
    }
    ++ranked;
    EXPECT_NE(html.find(shown(l["score"])), std::string::npos);
  }
  EXPECT_EQ(ranked, 3u);
  // One bar per ranked layer, plus its track; the longest bar is the worst layer's.
  const size_t svg = html.find("<svg");
  const std::string chart = html.substr(svg, html.find("</svg>") - svg);
  EXPECT_EQ(count(chart, "<rect"), 2 * ranked);
  EXPECT_NE(chart.find("1. " + std::string(kNastyNodeEscaped)), std::string::npos);
  EXPECT_EQ(chart.find("/head/Gemm"), std::string::npos);
}

TEST(HtmlReport, BudgetAndFallbackTables) {
  Report r = pipeline_report();
  pass::FallbackResult f;
  f.pass = "quantize-int8";
  f.gate = "cosine>=0.999";
  f.metric = "cosine";
  f.value_all = 0.9912;
  f.layers.push_back({kNastyNode, "Gemm", 0.9981, 1, 0.0061});
  f.layers.push_back({"/net/net.2/Conv", "Conv", 0.9954, 0, {}});
  f.steps.push_back({1, 0.99873, false});
  f.steps.push_back({2, 0.99931, true});
  f.met = true;
  r.fallback = f;
  pass::BudgetResult b;
  b.pass = "prune-channels";
  b.metric = "params_ratio";
  b.target = 0.6;
  b.before = 300000;
  b.after = 178500;
  b.achieved = 0.595;
  b.reached = true;
  b.ranking = "cosine>=0.999";
  b.ranking_metric = "cosine";
  b.value_before = 1;
  b.group_ratios = "conv1=0.25|a<b=0.5";
  b.evaluations = 15;
  b.applications = 22;
  pass::BudgetGroup g;
  g.producers = {kNastyNode, "/net/net.2/Conv"};
  g.channels = 64;
  g.ratio = 0.375;
  g.value = 0.99912;
  g.candidates = {{0.125, 0.99991, 4321}, {0.375, 0.99912, 12963}};
  b.groups.push_back(g);
  r.budget = b;

  const std::string html = render_html(r);
  expect_self_contained(html);
  EXPECT_EQ(html.find("a<b=0.5"), std::string::npos);
  const Json j = Json::parse(to_json(r));
  for (const auto& st : j["fallback"]["steps"]) {
    const std::string row =
        std::string("<tr class=\"") + (st["passed"].get<bool>() ? "gate-ok" : "gate-fail") + "\">" +
        "<td class=\"num\">" + std::to_string(st["float_layers"].get<size_t>()) + "</td>" +
        "<td class=\"num\">" + shown(st["value"]) + "</td>";
    EXPECT_NE(html.find(row), std::string::npos) << row;
  }
  for (const auto& l : j["fallback"]["ranking"]) {
    EXPECT_NE(html.find(shown(l["value_with_only_it_in_float"])), std::string::npos);
  }
  EXPECT_NE(html.find(shown(j["fallback"]["value_all_changed"])), std::string::npos);
  EXPECT_NE(html.find(html_escape(j["budget"]["group_ratios"].get<std::string>())),
            std::string::npos);
  EXPECT_NE(html.find(with_commas(j["budget"]["after"].get<uint64_t>())), std::string::npos);
  EXPECT_NE(html.find(format_value(j["budget"]["achieved"].get<double>())), std::string::npos);
  for (const auto& c : j["budget"]["groups"][0]["candidates"]) {
    EXPECT_NE(html.find(with_commas(c["saved"].get<uint64_t>())), std::string::npos);
    EXPECT_NE(html.find(shown(c["value"])), std::string::npos);
  }
}

TEST(HtmlReport, SameReportSameBytes) {
  EXPECT_EQ(render_html(pipeline_report()), render_html(pipeline_report()));
  EXPECT_EQ(render_html(sensitivity_report()), render_html(sensitivity_report()));
}

TEST(HtmlReport, WritesTheFile) {
  testing::TempDir dir;
  const Report r = pipeline_report();
  ASSERT_OK(write_html(r, dir.file("report.html")));
  EXPECT_EQ(testing::read_file(dir.file("report.html")), render_html(r));
  EXPECT_FALSE(write_html(r, dir.file("missing/report.html")).ok());
}

TEST(HtmlReport, BarChartScalesToTheLargestValue) {
  const std::string svg =
      svg_bar_chart("t<", {{"a", 2, "two", ""}, {"b", 1, "one", "#123456"}, {"c", -1, "neg", ""}});
  EXPECT_EQ(svg.find("t<"), std::string::npos);
  EXPECT_NE(svg.find("t&lt;"), std::string::npos);
  // Tracks are as wide as the longest bar; the half-value bar is half as wide; negative: empty.
  const size_t first = svg.find("fill=\"#3b6fb6\"");
  ASSERT_NE(first, std::string::npos);
  auto width_before = [&](size_t at) {
    const size_t w = svg.rfind("width=\"", at);
    return std::stod(svg.substr(w + 7));
  };
  const double full = width_before(first);
  const double half = width_before(svg.find("fill=\"#123456\""));
  EXPECT_GT(full, 100);
  EXPECT_NEAR(half, full / 2, 0.1);
  EXPECT_EQ(width_before(svg.find("fill=\"#3b6fb6\"", first + 1)), 0);
}

TEST(HtmlReport, Escape) {
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html_escape("plain /net/net.0/Gemm"), "plain /net/net.0/Gemm");
}

}  // namespace
}  // namespace compressor::report
