// The drift instrumentation in a pipeline: drift after every pass, passes that change nothing
// are not rerun, and a pass that breaks a drift gate is undone (revert) or ends the run (fail).
#include <gtest/gtest.h>

#include "compressor/eval/compare.h"
#include "compressor/io/samples.h"
#include "compressor/pass/pipeline.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

/// y = x · W with a random 16x12 weight.
ir::Model matmul_model() {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 16] x) => (float[1, 12] y) <float[1] w = {0.0}> {
      y = MatMul(x, w)
    })");
  EXPECT_TRUE(m.ok());
  m->graph.set_initializer({"w", float_tensor({16, 12}, random_floats(16 * 12, 5)), nullptr});
  return std::move(m).value();
}

struct PipelineRun {
  std::vector<pass::PassRecord> records;
  ir::Model model;
};

PipelineRun run_pipeline(const std::string& spec, const std::vector<std::string>& gates,
                         pass::OnExceed on_exceed) {
  ir::Model model = matmul_model();
  io::SampleOptions opts;
  opts.count = 4;
  auto samples = io::SampleSet::open(model, opts);
  EXPECT_TRUE(samples.ok());
  auto meter = eval::DriftMeter::create(model, *samples);
  EXPECT_TRUE(meter.ok());
  std::vector<eval::Gate> parsed;
  for (const auto& g : gates) parsed.push_back(eval::parse_gate(g).value());
  auto pipeline = pass::PassPipeline::parse(spec);
  EXPECT_TRUE(pipeline.ok());
  pipeline->add_instrumentation(
      std::make_unique<pass::DriftInstrumentation>(**meter, parsed, on_exceed));
  pass::PassContext ctx;
  auto records = pipeline->run(model, ctx);
  EXPECT_TRUE(records.ok()) << records.status().message();
  return {std::move(records).value(), std::move(model)};
}

TEST(DriftPipeline, EveryPassGetsCumulativeAndDeltaDrift) {
  PipelineRun r =
      run_pipeline("eliminate-identity,prune-magnitude{sparsity=0.3},prune-magnitude{sparsity=0.6}",
                   {}, pass::OnExceed::kFail);
  ASSERT_EQ(r.records.size(), 3u);
  // A pass that changed nothing: drift as before (zero), delta zero.
  EXPECT_EQ(r.records[0].drift[0].metrics.max_abs, 0);
  EXPECT_EQ(r.records[0].delta[0].metrics.max_abs, 0);
  const auto& p1 = r.records[1].drift[0].metrics;
  const auto& p2 = r.records[2].drift[0].metrics;
  EXPECT_GT(p1.rel_l2, 0);
  EXPECT_GT(p2.rel_l2, p1.rel_l2);  // more pruning, more drift from the original
  EXPECT_EQ(r.records[1].delta[0].metrics.rel_l2, p1.rel_l2);  // first change: delta = cumulative
  EXPECT_GT(r.records[2].delta[0].metrics.rel_l2, 0);
  EXPECT_LT(r.records[2].delta[0].metrics.rel_l2, p2.rel_l2);
  for (const auto& rec : r.records) EXPECT_EQ(rec.verdict, pass::PassRecord::Verdict::kKeep);
}

TEST(DriftPipeline, RevertUndoesThePassThatBreaksAGateAndGoesOn) {
  ir::Model only_small = matmul_model();
  {
    auto p = pass::PassPipeline::parse("prune-magnitude{sparsity=0.05}");
    pass::PassContext ctx;
    auto result = p->run(only_small, ctx);
    ASSERT_OK(result);
  }
  PipelineRun r = run_pipeline("prune-magnitude{sparsity=0.9},prune-magnitude{sparsity=0.05}",
                               {"cosine>=0.99"}, pass::OnExceed::kRevert);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].verdict, pass::PassRecord::Verdict::kRevert);
  ASSERT_EQ(r.records[0].exceeded.size(), 1u);
  EXPECT_EQ(r.records[0].exceeded[0].expr, "cosine>=0.99");
  EXPECT_EQ(r.records[1].verdict, pass::PassRecord::Verdict::kKeep);
  // The second pass's delta is measured against the model before the reverted pass.
  EXPECT_EQ(r.records[1].delta[0].metrics.rel_l2, r.records[1].drift[0].metrics.rel_l2);
  EXPECT_EQ(save_to_bytes(r.model), save_to_bytes(only_small));
}

TEST(DriftPipeline, FailStopsAfterThePassAndKeepsIt) {
  PipelineRun r = run_pipeline("prune-magnitude{sparsity=0.9},prune-magnitude{sparsity=0.05}",
                               {"cosine>=0.99"}, pass::OnExceed::kFail);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].verdict, pass::PassRecord::Verdict::kStop);
  const auto w = r.model.graph.find_initializer("w");
  ASSERT_NE(w, nullptr);
  size_t zeros = 0;
  for (float v : w->tensor.span<float>()) zeros += v == 0.0f;
  EXPECT_EQ(zeros, static_cast<size_t>(0.9 * 16 * 12));
}

}  // namespace
}  // namespace compressor
