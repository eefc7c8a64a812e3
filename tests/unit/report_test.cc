// SHA-256, the serialized size that per-pass byte counts use, the output store with spill to
// disk, the drift meter's cumulative and delta drift, and the report's JSON contract.
#include "compressor/report/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "compressor/core/sha256.h"
#include "compressor/eval/compare.h"
#include "compressor/io/onnx_io.h"
#include "compressor/io/samples.h"
#include "testing/test_models.h"

namespace compressor {
namespace {

using testing::TempDir;

// FIPS 180-2 appendix B test vectors.
TEST(Sha256, PublishedVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(chunk);
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FileMatchesSha256sum) {
  TempDir dir;
  std::string bytes;
  for (int i = 0; i < 300000; ++i) bytes += static_cast<char>((i * 7919) & 0xFF);
  testing::write_file(dir.file("f.bin"), bytes);
  auto h = sha256_file(dir.file("f.bin"));
  ASSERT_OK(h);
  std::string cmd = "sha256sum " + dir.file("f.bin");
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char out[65] = {};
  ASSERT_EQ(std::fread(out, 1, 64, p), 64u);
  ::pclose(p);
  EXPECT_EQ(*h, std::string(out));
  EXPECT_FALSE(sha256_file(dir.file("missing")).ok());
}

TEST(SerializedSize, EqualsTheSavedFileSize) {
  for (const char* name : {"tiny_cnn", "tiny_mlp", "tiny_transformer"}) {
    auto model = io::load_model(testing::demo_model(name));
    ASSERT_OK(model);
    EXPECT_EQ(io::serialized_size(*model), testing::save_to_bytes(*model).size()) << name;
  }
  // Empty and large tensors (multi-byte length prefixes).
  auto model = testing::model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 70000] x) => (float[1, 70000] y)
      <float[1] b = {0.0}, float[1] empty = {0.0}> {
      y = Add(x, b)
    })");
  ASSERT_OK(model);
  model->graph.set_initializer({"b", ir::Tensor::zeros(ir::DType::kFloat, {1, 70000}), nullptr});
  model->graph.set_initializer({"empty", ir::Tensor::zeros(ir::DType::kFloat, {0}), nullptr});
  EXPECT_EQ(io::serialized_size(*model), testing::save_to_bytes(*model).size());
}

TEST(OutputStore, SpillsPastTheBudgetAndReadsBack) {
  eval::OutputStore store(/*memory_budget_bytes=*/1000);
  std::vector<std::vector<ir::Tensor>> kept;
  for (int i = 0; i < 5; ++i) {
    auto v = testing::random_floats(100 + 50 * i, i);
    std::vector<ir::Tensor> outs{testing::float_tensor({static_cast<int64_t>(v.size())}, v),
                                 ir::Tensor::from_values<int64_t>({1}, std::vector<int64_t>{i})};
    kept.push_back(outs);
    ASSERT_OK(store.append(outs));
  }
  EXPECT_LE(store.memory_bytes(), 1000u);
  EXPECT_GT(store.spilled_bytes(), 0u);
  for (int i = 4; i >= 0; --i) {
    auto got = store.get(i);
    ASSERT_OK(got);
    ASSERT_EQ(got->size(), 2u);
    EXPECT_TRUE((*got)[0].bitwise_equal(kept[i][0])) << i;
    EXPECT_TRUE((*got)[1].bitwise_equal(kept[i][1])) << i;
  }
  EXPECT_FALSE(store.get(5).ok());
}

constexpr const char* kScale = R"(
  <ir_version: 8, opset_import: ["" : 13]>
  g (float[1, 4] x) => (float[1, 4] y) <float[1] s = {1.0}> {
    y = Mul(x, s)
  })";

ir::Model scaled(float s) {
  auto m = testing::model_from_text(kScale);
  EXPECT_TRUE(m.ok());
  m->graph.set_initializer({"s", testing::float_tensor({1}, {s}), nullptr});
  return std::move(m).value();
}

TEST(DriftMeter, CumulativeAgainstTheOriginalDeltaAgainstTheLastAccepted) {
  ir::Model ref = scaled(1.0f);
  io::SampleOptions opts;
  opts.count = 3;
  auto samples = io::SampleSet::open(ref, opts);
  ASSERT_OK(samples);
  auto meter = eval::DriftMeter::create(ref, *samples);
  ASSERT_OK(meter);
  EXPECT_EQ((*meter)->current()[0].metrics.max_abs, 0.0);

  // y = 1.5 x: rel_l2 0.5 against the original and against the (accepted) start.
  auto m1 = (*meter)->measure(scaled(1.5f));
  ASSERT_OK(m1);
  EXPECT_NEAR(m1->cumulative[0].metrics.rel_l2, 0.5, 1e-6);
  EXPECT_NEAR(m1->delta[0].metrics.rel_l2, 0.5, 1e-6);
  (*meter)->accept();
  // y = 3 x: 2.0 against the original, 1.0 against 1.5 x.
  auto m2 = (*meter)->measure(scaled(3.0f));
  ASSERT_OK(m2);
  EXPECT_NEAR(m2->cumulative[0].metrics.rel_l2, 2.0, 1e-6);
  EXPECT_NEAR(m2->delta[0].metrics.rel_l2, 1.0, 1e-6);
  // Not accepted (a reverted pass): the next delta is still against 1.5 x.
  auto m3 = (*meter)->measure(scaled(0.75f));
  ASSERT_OK(m3);
  EXPECT_NEAR(m3->delta[0].metrics.rel_l2, 0.5, 1e-6);
  EXPECT_NEAR((*meter)->current()[0].metrics.rel_l2, 0.5, 1e-6);
}

TEST(CompareModels, ModelAgainstItselfHasNoDrift) {
  auto model = io::load_model(testing::demo_model("tiny_cnn"));
  ASSERT_OK(model);
  io::SampleOptions opts;
  opts.count = 2;
  auto samples = io::SampleSet::open(*model, opts);
  ASSERT_OK(samples);
  auto drift = eval::compare_models(*model, *model, *samples);
  ASSERT_OK(drift);
  ASSERT_EQ(drift->size(), 1u);
  const auto& m = (*drift)[0].metrics;
  EXPECT_EQ(m.max_abs, 0.0);
  EXPECT_EQ(m.cosine, 1.0);
  EXPECT_TRUE(std::isinf(m.snr_db));
  EXPECT_EQ(m.top1_agreement.value_or(-1), 1.0);
}

TEST(CompareModels, CandidateMissingAnOutputIsAnError) {
  ir::Model ref = scaled(1.0f);
  ir::Model cand = scaled(1.0f);
  cand.graph.outputs[0] =
      ir::ValueInfo::make_tensor("x", ir::DType::kFloat, {ir::Dim{1, ""}, ir::Dim{4, ""}});
  io::SampleOptions opts;
  auto samples = io::SampleSet::open(ref, opts);
  ASSERT_OK(samples);
  auto drift = eval::compare_models(ref, cand, *samples);
  ASSERT_FALSE(drift.ok());
  EXPECT_NE(drift.status().message().find("no output 'y'"), std::string::npos);
}

TEST(ReportJson, StableKeysAndNullForInfinity) {
  report::Report r;
  r.command = "eval";
  r.model.path = "a.onnx";
  r.candidate = r.model;
  r.samples = "2 random samples";
  r.sample_count = 2;
  eval::DriftMetrics m;
  m.samples = 2;
  m.snr_db = std::numeric_limits<double>::infinity();
  r.drift.push_back({"y", m});
  eval::GateResult g;
  g.expr = "cosine>=0.9";
  g.value = 1.0;
  g.ok = true;
  r.gates.push_back(g);
  auto j = nlohmann::ordered_json::parse(report::to_json(r));
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"command", "model", "candidate", "samples", "drift",
                                            "gates", "output", "notes", "exit_code"}));
  EXPECT_TRUE(j["drift"]["y"]["snr_db"].is_null());
  EXPECT_EQ(j["drift"]["y"]["cosine"], 1.0);
  EXPECT_EQ(j["model"]["flops"], 0);
  EXPECT_EQ(report::to_json(r), report::to_json(r));
}

}  // namespace
}  // namespace compressor
