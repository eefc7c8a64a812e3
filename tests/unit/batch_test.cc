// `compressor batch` pieces without models: manifests, shards, resume records, summaries and
// their merge, the HTML page, and worker processes (with /bin/sh as the worker).
#include "batch.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "compressor/core/sha256.h"
#include "compressor/report/html.h"

namespace compressor::cli::batch {
namespace {

namespace fs = std::filesystem;

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("batch_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& rel, const std::string& text) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  std::string path(const std::string& rel) const { return (dir_ / rel).string(); }

  fs::path dir_;
};

std::string read(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(BatchTest, ManifestResolvesPathsNamesRecipesAndData) {
  write("r.json", "{}");
  write("own.yaml", "passes: []\n");
  fs::create_directories(dir_ / "samples");
  fs::create_directories(dir_ / "b_samples");
  const std::string m = write("zoo/../manifest.json",
                              R"({"recipe": "r.json", "data": "samples",
      "models": ["models/a.onnx",
                 {"model": "models/b.onnx", "name": "bee", "recipe": "own.yaml",
                  "data": "b_samples"}]})");
  auto got = load_manifest(m, "");
  ASSERT_TRUE(got.ok()) << got.status().message();
  const auto& e = got.value().entries;
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].name, "a");
  EXPECT_EQ(e[0].model, path("models/a.onnx"));
  EXPECT_EQ(e[0].model_rel, "models/a.onnx");
  EXPECT_EQ(e[0].recipe, path("r.json"));
  EXPECT_EQ(e[0].data, path("samples"));
  EXPECT_EQ(e[1].name, "bee");
  EXPECT_EQ(e[1].recipe, path("own.yaml"));
  EXPECT_EQ(e[1].data, path("b_samples"));
}

TEST_F(BatchTest, YamlManifestAndCommandLineRecipe) {
  write("r.json", "{}");
  write("cli.json", "{}");
  const std::string m = write("m.yaml", "models:\n  - a.onnx\n  - model: b.onnx\n");
  auto none = load_manifest(m, "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("has no recipe"), std::string::npos);
  auto got = load_manifest(m, path("cli.json"));
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got.value().entries[1].recipe, path("cli.json"));
  EXPECT_EQ(got.value().entries[1].name, "b");
}

TEST_F(BatchTest, ManifestErrorsNameTheKeyTheModelsAndTheFile) {
  write("r.json", "{}");
  auto unknown_top = load_manifest(write("m1.json", R"({"recipe": "r.json", "modles": []})"), "");
  ASSERT_FALSE(unknown_top.ok());
  EXPECT_NE(unknown_top.status().message().find(
                "unknown key 'modles' (valid keys: recipe, data, models)"),
            std::string::npos)
      << unknown_top.status().message();
  auto unknown_model =
      load_manifest(write("m2.json", R"({"recipe": "r.json", "models": [{"model": "a.onnx",
                                          "recpie": "x"}]})"),
                    "");
  ASSERT_FALSE(unknown_model.ok());
  EXPECT_NE(unknown_model.status().message().find("models[0]: unknown key 'recpie'"),
            std::string::npos)
      << unknown_model.status().message();
  auto clash = load_manifest(
      write("m3.json", R"({"recipe": "r.json", "models": ["x/model.onnx", "y/model.onnx"]})"), "");
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.status().message().find(
                "models 'x/model.onnx' and 'y/model.onnx' both have the name 'model'"),
            std::string::npos)
      << clash.status().message();
  auto bad_name = load_manifest(
      write("m4.json", R"({"recipe": "r.json", "models": [{"model": "a.onnx", "name": "../up"}]})"),
      "");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_NE(bad_name.status().message().find("'..'"), std::string::npos);
  auto missing_recipe =
      load_manifest(write("m5.json", R"({"recipe": "nope.json", "models": ["a.onnx"]})"), "");
  ASSERT_FALSE(missing_recipe.ok());
  EXPECT_NE(missing_recipe.status().message().find("nope.json' is not a file"), std::string::npos);
  auto empty = load_manifest(write("m6.json", R"({"recipe": "r.json", "models": []})"), "");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("m6.json"), std::string::npos);
}

TEST_F(BatchTest, DirectoryIsEveryOnnxFileRecursiveSorted) {
  write("r.json", "{}");
  write("zoo/b.onnx", "x");
  write("zoo/a/model.onnx", "x");
  write("zoo/c/model.onnx", "x");
  write("zoo/notes.txt", "x");
  auto got = scan_directory(path("zoo"), path("r.json"));
  ASSERT_TRUE(got.ok()) << got.status().message();
  std::vector<std::string> names;
  for (const auto& e : got.value().entries) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a/model", "b", "c/model"}));
  EXPECT_FALSE(scan_directory(path("zoo"), "").ok());
  // The batch's own output folder inside the zoo is not part of it.
  write("zoo/out/b/model.onnx", "x");
  auto skipped = scan_directory(path("zoo"), path("r.json"), path("zoo/out"));
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped.value().entries.size(), 3u);
  EXPECT_EQ(scan_directory(path("zoo"), path("r.json")).value().entries.size(), 4u);
}

TEST(BatchShard, ParsesAndRejects) {
  auto s = parse_shard("2/3");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value().index, 2);
  EXPECT_EQ(s.value().count, 3);
  for (const char* bad : {"3/3", "-1/3", "1/0", "1", "a/3", "1/3/4", "", "/3", "1/"}) {
    auto r = parse_shard(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("0 <= I < N"), std::string::npos);
  }
}

TEST(BatchShard, ShardsCoverEveryPositionOnce) {
  for (size_t total : {0u, 1u, 7u, 8u, 11u}) {
    for (int n : {1, 2, 3, 5}) {
      std::vector<int> hits(total, 0);
      for (int i = 0; i < n; ++i) {
        const auto p = shard_positions(total, {i, n});
        EXPECT_TRUE(std::is_sorted(p.begin(), p.end()));
        for (size_t k : p) {
          ASSERT_LT(k, total);
          EXPECT_EQ(static_cast<int>(k % static_cast<size_t>(n)), i);
          ++hits[k];
        }
      }
      for (int h : hits) EXPECT_EQ(h, 1);
    }
  }
}

TEST(BatchLimits, MemorySizesAndDurations) {
  EXPECT_EQ(parse_memory_size("4G").value(), 4ull << 30);
  EXPECT_EQ(parse_memory_size("512M").value(), 512ull << 20);
  EXPECT_EQ(parse_memory_size("1.5g").value(), 3ull << 29);
  EXPECT_EQ(parse_memory_size("2097152").value(), 2097152u);
  for (const char* bad : {"", "G", "4X", "-1G", "1K", "abc"}) {
    EXPECT_FALSE(parse_memory_size(bad).ok()) << bad;
  }
  EXPECT_EQ(parse_duration("90").value(), 90);
  EXPECT_EQ(parse_duration("90s").value(), 90);
  EXPECT_EQ(parse_duration("10m").value(), 600);
  EXPECT_EQ(parse_duration("1.5h").value(), 5400);
  for (const char* bad : {"", "s", "0", "-5", "5d"}) EXPECT_FALSE(parse_duration(bad).ok()) << bad;
}

TEST_F(BatchTest, RecipeHashCoversTheBytesAndTheOverrides) {
  Entry e;
  e.recipe = write("r.json", "{\"a\": 1}");
  const std::string h1 = recipe_hash(e).value();
  EXPECT_EQ(h1.size(), 64u);
  EXPECT_EQ(recipe_hash(e).value(), h1);
  e.data = "samples";
  const std::string h2 = recipe_hash(e).value();
  EXPECT_NE(h2, h1);
  write("r.json", "{\"a\": 2}");
  EXPECT_NE(recipe_hash(e).value(), h2);
  e.recipe = path("missing.json");
  EXPECT_FALSE(recipe_hash(e).ok());

  Entry a{"a", "/x/a.onnx", "a.onnx", "r", ""}, b{"b", "/x/b.onnx", "b.onnx", "r", ""};
  EXPECT_NE(manifest_id({a, b}, {"h", "h"}), manifest_id({b, a}, {"h", "h"}));
  EXPECT_NE(manifest_id({a, b}, {"h", "h"}), manifest_id({a, b}, {"h", "g"}));
  // Where the manifest lives does not matter, only what it says.
  Entry a2 = a;
  a2.model = "/elsewhere/a.onnx";
  EXPECT_EQ(manifest_id({a, b}, {"h", "h"}), manifest_id({a2, b}, {"h", "h"}));
}

TEST_F(BatchTest, CompletionRecordDecidesResume) {
  const ModelFiles f = model_files(dir_.string(), "zoo/m");
  EXPECT_EQ(f.dir, path("zoo/m"));
  fs::create_directories(f.dir);
  EXPECT_FALSE(is_complete(f, "in", "re"));
  ASSERT_TRUE(write_record(f.record, {"in", "re", 0, 1.5}).ok());
  auto r = read_record(f.record);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().input_sha256, "in");
  EXPECT_EQ(r.value().seconds, 1.5);
  EXPECT_FALSE(is_complete(f, "in", "re"));  // no outputs yet
  write("zoo/m/model.onnx", "m");
  write("zoo/m/report.json", "{}");
  EXPECT_FALSE(is_complete(f, "in", "re"));  // no page
  write("zoo/m/report.html", "<html>");
  EXPECT_TRUE(is_complete(f, "in", "re"));
  EXPECT_FALSE(is_complete(f, "other input", "re"));
  EXPECT_FALSE(is_complete(f, "in", "other recipe"));
  ASSERT_TRUE(write_record(f.record, {"in", "re", 3, 1.5}).ok());
  EXPECT_TRUE(is_complete(f, "in", "re"));  // a failed gate is a complete result
  ASSERT_TRUE(write_record(f.record, {"in", "re", 1, 1.5}).ok());
  EXPECT_FALSE(is_complete(f, "in", "re"));  // errors are retried
  write("zoo/m/done.json", "{\"input_sha256\": ");
  EXPECT_FALSE(is_complete(f, "in", "re"));
  EXPECT_FALSE(read_record(f.record).ok());
}

constexpr const char* kReport = R"({
  "command": "run",
  "model": {"path": "in.onnx", "sha256": "x", "bytes": 4000, "zip_bytes": 3000, "params": 1000,
            "macs": 20000, "flops": 40000, "macs_complete": true},
  "drift": {"logits": {"cosine": 0.998, "rel_l2": 0.05, "samples": 4, "elements": 40},
            "aux": {"cosine": 0.9991, "rel_l2": 0.07, "samples": 4, "elements": 8}},
  "gates": [{"expr": "cosine>=0.999", "value": 0.998, "output": "logits", "ok": false},
            {"expr": "size_ratio<=0.5", "value": 0.25, "output": null, "ok": true}],
  "output": {"path": "out.onnx", "sha256": "y", "bytes": 1000, "zip_bytes": 900, "params": 500,
             "macs": 10000, "flops": 20000, "macs_complete": true},
  "exit_code": 3
})";

TEST_F(BatchTest, RowTakesItsNumbersFromTheReport) {
  Row row;
  ASSERT_TRUE(read_report_into(write("report.json", kReport), row).ok());
  EXPECT_EQ(row.bytes_before, 4000u);
  EXPECT_EQ(row.bytes_after, 1000u);
  EXPECT_DOUBLE_EQ(ratio(row.bytes_before, row.bytes_after).value(), 0.25);
  EXPECT_DOUBLE_EQ(ratio(row.params_before, row.params_after).value(), 0.5);
  EXPECT_DOUBLE_EQ(ratio(row.macs_before, row.macs_after).value(), 0.5);
  EXPECT_DOUBLE_EQ(row.worst_cosine.value(), 0.998);
  EXPECT_EQ(row.worst_output, "logits");
  EXPECT_DOUBLE_EQ(row.worst_rel_l2.value(), 0.07);
  EXPECT_EQ(row.gates, "fail");
  EXPECT_EQ(row.gates_total, 2);
  EXPECT_EQ(row.failed_gates, std::vector<std::string>{"cosine>=0.999"});
  EXPECT_FALSE(ratio(std::optional<uint64_t>(0), std::optional<uint64_t>(5)).has_value());
  Row bad;
  EXPECT_FALSE(read_report_into(write("bad.json", "not json"), bad).ok());
  EXPECT_FALSE(read_report_into(path("none.json"), bad).ok());
}

TEST(BatchExit, ErrorLineAndClassification) {
  EXPECT_EQ(error_line_from_log("[warn] x\nerror: m.onnx: not an ONNX model\n\n"),
            "m.onnx: not an ONNX model");
  EXPECT_EQ(error_line_from_log("Segmentation fault\n"), "Segmentation fault");
  EXPECT_EQ(error_line_from_log(""), "");
  EXPECT_EQ(error_line_from_log(std::string(500, 'x')).size(), 300u);
  Row r;
  WorkerExit e;
  e.exit_code = 3;
  e.seconds = 2;
  classify_exit(e, "", false, 0, r);
  EXPECT_EQ(r.status, "gate_failed");
  EXPECT_EQ(r.seconds, 2);
  e.exit_code = 1;
  classify_exit(e, "error: out of memory\n", true, 0, r);
  EXPECT_EQ(r.status, "error");
  EXPECT_EQ(r.ended_by, "memory_limit");
  EXPECT_EQ(r.error, "out of memory (under --memory-limit)");
  classify_exit(e, "error: internal error: Resource temporarily unavailable\n", true, 0, r);
  EXPECT_EQ(r.ended_by, "memory_limit");
  classify_exit(e, "error: out of memory\n", false, 0, r);
  EXPECT_EQ(r.ended_by, "");
  e.exit_code = -1;
  e.signal = SIGSEGV;
  classify_exit(e, "", false, 0, r);
  EXPECT_EQ(r.ended_by, "signal");
  EXPECT_EQ(r.error, "worker killed by SIGSEGV");
  e.signal = SIGKILL;
  e.timed_out = true;
  classify_exit(e, "", false, 30, r);
  EXPECT_EQ(r.ended_by, "timeout");
  EXPECT_EQ(r.error, "killed after the --timeout of 30 s");
}

Summary three_rows() {
  Summary s;
  s.manifest = "zoo.yaml";
  s.manifest_sha256 = "m";
  s.models_total = 3;
  s.recipes["r.json"] = "abc";
  s.seconds = 9;
  Row a;
  a.index = 0;
  a.name = "a";
  a.model = "a.onnx";
  a.status = "ok";
  a.exit_code = 0;
  a.recipe_sha256 = "r";
  a.input_sha256 = "i";
  a.folder = "a";
  a.bytes_before = 100;
  a.bytes_after = 25;
  a.params_before = 10;
  a.params_after = 5;
  a.macs_before = 8;
  a.macs_after = 8;
  a.worst_cosine = 0.99;
  a.worst_output = "y";
  a.worst_rel_l2 = 0.1;
  a.gates = "pass";
  a.gates_total = 1;
  a.seconds = 1.25;
  Row b = a;
  b.index = 1;
  b.name = "b|<x>";
  b.model = "b,1.onnx";
  b.status = "gate_failed";
  b.exit_code = 3;
  b.gates = "fail";
  b.failed_gates = {"cosine>=0.999"};
  b.folder = "b|<x>";
  Row c;
  c.index = 2;
  c.name = "c";
  c.model = "c.onnx";
  c.status = "error";
  c.exit_code = 1;
  c.error = "c.onnx: \"not\" a model";
  c.recipe_sha256 = "r";
  c.folder = "c";
  s.rows = {a, b, c};
  return s;
}

TEST(BatchSummary, JsonRoundTripsAndCountsAndExitCode) {
  Summary s = three_rows();
  EXPECT_EQ(summary_exit_code(s), 1);
  const Json j = summary_to_json(s);
  EXPECT_EQ(j["counts"]["ok"], 1);
  EXPECT_EQ(j["counts"]["gate_failed"], 1);
  EXPECT_EQ(j["counts"]["error"], 1);
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_DOUBLE_EQ(j["models"][0]["size_ratio"].get<double>(), 0.25);
  EXPECT_TRUE(j["models"][2]["size_ratio"].is_null());
  auto back = summary_from_json(j, "s.json");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(summary_to_json(back.value()).dump(), j.dump());
  s.rows.pop_back();
  EXPECT_EQ(summary_exit_code(s), 3);
  s.rows.pop_back();
  EXPECT_EQ(summary_exit_code(s), 0);
  EXPECT_FALSE(summary_from_json(Json::object(), "x.json").ok());
}

TEST(BatchSummary, CsvQuotesAndMarkdownEscapes) {
  const Summary s = three_rows();
  const std::string csv = summary_to_csv(s);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  EXPECT_NE(csv.find("\"b,1.onnx\""), std::string::npos);
  EXPECT_NE(csv.find("\"c.onnx: \"\"not\"\" a model\""), std::string::npos);
  EXPECT_NE(csv.find(",0.25,"), std::string::npos);
  const std::string md = summary_to_markdown(s);
  EXPECT_NE(md.find("b\\|<x>"), std::string::npos);
  EXPECT_NE(md.find("| 0.250 | 0.500 | 1.000 |"), std::string::npos);
  EXPECT_NE(md.find("3 models: 1 ok, 1 gate failed, 1 error;"), std::string::npos);
}

TEST(BatchSummary, HtmlIsSelfContainedWithAScatterOfSizeAgainstDrift) {
  const std::string h = summary_to_html(three_rows());
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(h.find("http"), std::string::npos);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("<link"), std::string::npos);
  EXPECT_NE(h.find("<svg"), std::string::npos);
  EXPECT_EQ(std::count(h.begin(), h.end(), 'c') > 0, true);
  // Two models have a size ratio and a drift: two points.
  size_t circles = 0;
  for (size_t p = h.find("<circle"); p != std::string::npos; p = h.find("<circle", p + 1)) {
    ++circles;
  }
  EXPECT_EQ(circles, 2u);
  EXPECT_EQ(h.find("b|<x>"), std::string::npos);
  EXPECT_NE(h.find("b|&lt;x&gt;"), std::string::npos);
  EXPECT_NE(h.find("c.onnx: &quot;not&quot; a model"), std::string::npos);
}

TEST(BatchSummary, ScatterPlacesPointsOnLinearAxesFromZero) {
  // Plot area: x from 70 to 570 (720 wide, 70 left, 150 right), y from 14 to 374 (420 high, 14
  // top, 46 bottom); x runs to max(1, largest x), y to the largest y.
  const std::string svg = report::svg_scatter_chart("t",
                                                    {{"a", 0.5, 0.02, false},
                                                     {"b<", 0.25, 0.01, true},
                                                     {"nan", NAN, 1, false},
                                                     {"neg", -1, 1, false}},
                                                    "size", "drift");
  EXPECT_NE(svg.find("<circle cx=\"320.0\" cy=\"14.0\""), std::string::npos) << svg;
  EXPECT_NE(svg.find("<circle cx=\"195.0\" cy=\"194.0\" r=\"5\" fill=\"#c62828\""),
            std::string::npos);
  EXPECT_EQ(svg.find(">nan<"), std::string::npos);
  EXPECT_EQ(svg.find(">neg<"), std::string::npos);
  EXPECT_NE(svg.find(">b&lt;<"), std::string::npos);
  EXPECT_EQ(svg.find("b<"), std::string::npos);
}

TEST_F(BatchTest, MergeOfShardsEqualsTheWholeAndChecksCoverage) {
  const Summary whole = three_rows();
  std::vector<std::string> dirs;
  for (int i = 0; i < 2; ++i) {
    Summary part = whole;
    part.shard = Shard{i, 2};
    part.rows.clear();
    for (size_t k : shard_positions(3, {i, 2})) part.rows.push_back(whole.rows[k]);
    const std::string d = path("shard" + std::to_string(i));
    fs::create_directories(d);
    ASSERT_TRUE(write_summary(part, d).ok());
    dirs.push_back(d);
  }
  auto merged = merge_summaries({dirs[1], dirs[0]}, path("shard0/../shard0"));
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  Json a = summary_to_json(merged.value()), b = summary_to_json(whole);
  // Folders are rebased to the merged summary's folder.
  EXPECT_EQ(a["models"][1]["folder"], "../shard1/b|<x>");
  EXPECT_EQ(a["models"][0]["folder"], "a");
  for (auto* j : {&a, &b}) {
    for (auto& r : (*j)["models"]) r.erase("folder");
  }
  EXPECT_EQ(a.dump(), b.dump());

  auto missing = merge_summaries({dirs[0]}, path("out"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("shards missing: 1/2"), std::string::npos);
  auto twice = merge_summaries({dirs[0], dirs[0]}, path("out"));
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("given twice"), std::string::npos);

  Summary other = whole;
  other.manifest_sha256 = "another";
  other.shard = Shard{1, 2};
  other.rows = {whole.rows[1]};
  fs::create_directories(path("other"));
  ASSERT_TRUE(write_summary(other, path("other")).ok());
  auto foreign = merge_summaries({dirs[0], path("other")}, path("out"));
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("another manifest"), std::string::npos);

  fs::create_directories(path("whole"));
  ASSERT_TRUE(write_summary(whole, path("whole")).ok());
  auto unsharded = merge_summaries({path("whole")}, path("out"));
  ASSERT_FALSE(unsharded.ok());
  EXPECT_NE(unsharded.status().message().find("without --shard"), std::string::npos);
  for (const char* f : {"summary.json", "summary.csv", "summary.md", "report.html"}) {
    EXPECT_TRUE(fs::is_regular_file(path(std::string("whole/") + f))) << f;
  }
}

/// Runs shell snippets as jobs and collects how each ended.
struct JobRun {
  std::map<size_t, WorkerExit> exits;
  std::map<size_t, std::string> errors;
  std::vector<size_t> order;
  std::vector<size_t> never;
};

JobRun run_shell(
    const std::vector<std::string>& scripts, int jobs, const WorkerLimits& limits,
    const std::string& log_dir, const std::function<bool()>& interrupted = [] { return false; }) {
  JobRun out;
  out.never = run_jobs(
      scripts.size(), jobs, limits,
      [&](size_t i) -> StatusOr<JobSpec> {
        return JobSpec{{"/bin/sh", "-c", scripts[i]}, log_dir + "/" + std::to_string(i) + ".log"};
      },
      [&](size_t i, const WorkerExit& e, const Status& s) {
        out.exits[i] = e;
        if (!s.ok()) out.errors[i] = s.message();
        out.order.push_back(i);
      },
      interrupted);
  return out;
}

TEST_F(BatchTest, WorkersReportExitCodesSignalsAndLogs) {
  const JobRun r = run_shell({"echo hello; echo 'error: broken model' >&2; exit 1", "exit 3",
                              "ulimit -c 0; kill -SEGV $$", "exit 0"},
                             2, {}, dir_.string());
  ASSERT_EQ(r.order.size(), 4u);
  EXPECT_TRUE(r.never.empty());
  EXPECT_EQ(r.exits.at(0).exit_code, 1);
  EXPECT_EQ(r.exits.at(1).exit_code, 3);
  EXPECT_EQ(r.exits.at(2).signal, SIGSEGV);
  EXPECT_EQ(r.exits.at(2).exit_code, -1);
  EXPECT_EQ(r.exits.at(3).exit_code, 0);
  EXPECT_EQ(read(path("0.log")), "hello\nerror: broken model\n");
}

TEST_F(BatchTest, MissingProgramIsAnErrorOfThatJobOnly) {
  JobRun out;
  run_jobs(
      2, 1, {},
      [&](size_t i) -> StatusOr<JobSpec> {
        if (i == 0) return JobSpec{{"/nonexistent/compressor"}, path("0.log")};
        return JobSpec{{"/bin/sh", "-c", "exit 0"}, path("1.log")};
      },
      [&](size_t i, const WorkerExit& e, const Status&) { out.exits[i] = e; },
      [] { return false; });
  EXPECT_EQ(out.exits.at(0).exit_code, 127);
  EXPECT_EQ(error_line_from_log(read(path("0.log"))), "cannot start the worker program");
  EXPECT_EQ(out.exits.at(1).exit_code, 0);
}

TEST_F(BatchTest, TimeoutKillsTheWorkerAndItsChildren) {
  WorkerLimits limits;
  limits.timeout_s = 0.3;
  // The worker starts a grandchild in its group; both must be gone after the timeout.
  const std::string pidfile = path("child.pid");
  const JobRun r =
      run_shell({"sleep 30 & echo $! > " + pidfile + "; wait", "exit 0"}, 2, limits, dir_.string());
  EXPECT_TRUE(r.exits.at(0).timed_out);
  EXPECT_EQ(r.exits.at(0).signal, SIGKILL);
  EXPECT_LT(r.exits.at(0).seconds, 20);
  EXPECT_EQ(r.exits.at(1).exit_code, 0);
  const pid_t child = std::stoi(read(pidfile));
  // Killed: gone, or a zombie until init reaps it. SIGKILL is delivered asynchronously, so the
  // grandchild gets a few seconds to be gone (it would sleep for 30).
  const auto alive = [&] {
    if (::kill(child, 0) != 0) return false;
    const std::string stat = read("/proc/" + std::to_string(child) + "/stat");
    return !stat.empty() && stat.find(") Z") == std::string::npos;
  };
  for (int i = 0; i < 500 && alive(); ++i) ::usleep(10'000);
  EXPECT_FALSE(alive());
}

TEST_F(BatchTest, MemoryLimitAppliesToTheWorker) {
  WorkerLimits limits;
  limits.memory_bytes = 64ull << 20;
  // The limit is the worker's own: ulimit -v shows it in KiB.
  const JobRun r = run_shell({"ulimit -v > " + path("limit.txt")}, 1, limits, dir_.string());
  EXPECT_EQ(r.exits.at(0).exit_code, 0);
  EXPECT_EQ(read(path("limit.txt")), "65536\n");
}

TEST_F(BatchTest, WorkersDieWithTheBatchEvenOnSigkill) {
  const std::string pidfile = path("worker.pid");
  const pid_t batch = ::fork();
  ASSERT_GE(batch, 0);
  if (batch == 0) {
    run_shell(
        {"echo $$ > " + pidfile + ".tmp; mv " + pidfile + ".tmp " + pidfile + "; exec sleep 30"}, 1,
        {}, dir_.string());
    ::_exit(0);
  }
  while (!fs::exists(pidfile)) ::usleep(10'000);
  const pid_t worker = std::stoi(read(pidfile));
  ::kill(batch, SIGKILL);
  int status = 0;
  ::waitpid(batch, &status, 0);
  // The worker is not our child: it is gone once it cannot be signalled or is a zombie.
  auto alive = [&] {
    if (::kill(worker, 0) != 0) return false;
    return read("/proc/" + std::to_string(worker) + "/stat").find(") Z") == std::string::npos;
  };
  for (int i = 0; i < 1000 && alive(); ++i) ::usleep(10'000);
  EXPECT_FALSE(alive());
}

TEST_F(BatchTest, InterruptStopsRunningWorkersAndStartsNoMore) {
  const std::string marker = path("started");
  const auto interrupted = [&] { return fs::exists(marker); };
  const JobRun r = run_shell({"touch " + marker + "; sleep 30", "exit 0", "exit 0"}, 1, {},
                             dir_.string(), interrupted);
  EXPECT_EQ(r.order, std::vector<size_t>{0});
  EXPECT_TRUE(r.exits.at(0).interrupted);
  EXPECT_EQ(r.exits.at(0).signal, SIGTERM);
  EXPECT_EQ(r.never, (std::vector<size_t>{1, 2}));
}

}  // namespace
}  // namespace compressor::cli::batch
