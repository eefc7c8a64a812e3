// Budget-driven structured pruning: the option group_ratios of prune-channels (a ratio per
// channel group, with its errors), and the search that chooses those ratios so the model's
// parameters or MACs reach a target at the smallest drift.
#include <gtest/gtest.h>

#include <sstream>

#include "compressor/eval/compare.h"
#include "compressor/io/samples.h"
#include "compressor/pass/budget.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/pipeline.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

// "float[dims] name = {...}" with pseudo-random values in [lo, hi) of mixed signs.
std::string init(const std::string& name, const ir::Dims& dims, uint64_t seed, float scale) {
  const auto v = random_floats(size_t(ir::element_count(dims)), seed, 0.2f, 1.0f);
  std::ostringstream out;
  out.precision(9);
  out << "float[";
  for (size_t i = 0; i < dims.size(); ++i) out << (i ? ", " : "") << dims[i];
  out << "] " << name << " = {";
  for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << (i % 3 ? 1 : -1) * v[i] * scale;
  out << '}';
  return out.str();
}

// Two branches from X, each a 1x1 Conv to 8 channels, Relu, and a 1x1 Conv back to 2, added:
// groups A and B (8 channels each); the closing Convs reach the graph output and are refused.
// Branch B's first weights are scaled by `b_scale`: near zero, its channels barely matter.
// Parameters: 4 weights of 16 (64); each channel of A or B holds 4 of them. MACs: 16 per
// parameter (4x4 pixels, 1x1 kernels).
std::string two_branch_model(float b_scale) {
  std::ostringstream out;
  out << "<ir_version: 8, opset_import: [\"\" : 13]>\n"
      << "g (float[1, 2, 4, 4] X) => (float[1, 2, 4, 4] Y)\n<" << init("WA", {8, 2, 1, 1}, 1, 1.0f)
      << ", " << init("WCA", {2, 8, 1, 1}, 2, 1.0f) << ", " << init("WB", {8, 2, 1, 1}, 3, b_scale)
      << ", " << init("WCB", {2, 8, 1, 1}, 4, 1.0f) << ">\n{\n"
      << R"(A = Conv(X, WA)
            RA = Relu(A)
            YA = Conv(RA, WCA)
            B = Conv(X, WB)
            RB = Relu(B)
            YB = Conv(RB, WCB)
            Y = Add(YA, YB)
            })";
  return out.str();
}

int64_t out_channels(const ir::Model& m, const std::string& w) {
  const ir::Initializer* i = m.graph.find_initializer(w);
  EXPECT_NE(i, nullptr) << w;
  return i ? i->tensor.dims()[0] : -1;
}

// --- group_ratios ---

TEST(PruneChannelsGroupRatios, ListedGroupTakesItsRatioOthersTakeRatio) {
  auto m = model_from_text(two_branch_model(1.0f));
  ASSERT_OK(m);
  ir::Model other = *m;
  ASSERT_OK(run_pass(*m, "prune-channels", {{"ratio", "0"}, {"group_ratios", "A=0.5"}}));
  EXPECT_EQ(out_channels(*m, "WA"), 4);
  EXPECT_EQ(out_channels(*m, "WB"), 8);
  // Groups not listed use `ratio` (floor(0.3 * 8) = 2 removed).
  ASSERT_OK(run_pass(other, "prune-channels", {{"group_ratios", "B=0.75"}}));
  EXPECT_EQ(out_channels(other, "WA"), 6);
  EXPECT_EQ(out_channels(other, "WB"), 2);
}

std::string residual_model() {
  std::ostringstream out;
  out << "<ir_version: 8, opset_import: [\"\" : 13]>\n"
      << "g (float[1, 2, 4, 4] X) => (float[1, 2, 4, 4] Y)\n<" << init("W1", {8, 2, 1, 1}, 1, 1.0f)
      << ", " << init("W2", {8, 2, 1, 1}, 2, 1.0f) << ", " << init("W3", {2, 8, 1, 1}, 3, 1.0f)
      << ">\n{\n"
      << R"(A1 = Conv(X, W1)
            A2 = Conv(X, W2)
            S = Add(A1, A2)
            Y = Conv(S, W3)
            })";
  return out.str();
}

TEST(PruneChannelsGroupRatios, AnyProducerNamesTheWholeGroup) {
  auto m = model_from_text(residual_model());
  ASSERT_OK(m);
  ASSERT_OK(run_pass(*m, "prune-channels", {{"ratio", "0"}, {"group_ratios", "A2=0.5|A1=0.5"}}));
  EXPECT_EQ(out_channels(*m, "W1"), 4);
  EXPECT_EQ(out_channels(*m, "W2"), 4);
  EXPECT_EQ(m->graph.find_initializer("W3")->tensor.dims()[1], 4);
}

void expect_error(const std::string& text, const std::string& ratios, const std::string& needle) {
  auto m = model_from_text(text);
  ASSERT_OK(m);
  auto r = run_pass(*m, "prune-channels", {{"group_ratios", ratios}});
  ASSERT_FALSE(r.ok()) << ratios;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("group_ratios"), std::string::npos) << r.status().message();
}

TEST(PruneChannelsGroupRatios, TwoRatiosForOneGroupNotApplied) {
  expect_error(residual_model(), "A1=0.5|A2=0.25", "'A2' and 'A1' are in one channel group");
}

TEST(PruneChannelsGroupRatios, LabelOfNoGroupNotApplied) {
  expect_error(two_branch_model(1.0f), "nope=0.5", "'nope'");
  // YA's group reaches the graph output: refused, with the reason.
  expect_error(two_branch_model(1.0f), "YA=0.5", "the channel group of 'YA' cannot be pruned");
}

TEST(PruneChannelsGroupRatios, MalformedEntriesNotApplied) {
  expect_error(two_branch_model(1.0f), "A", "LABEL=RATIO");
  expect_error(two_branch_model(1.0f), "=0.5", "LABEL=RATIO");
  expect_error(two_branch_model(1.0f), "A=1", "[0, 1)");
  expect_error(two_branch_model(1.0f), "A=half", "must be a number");
}

TEST(PruneChannelsGroupRatios, ListsTheGroups) {
  auto m = model_from_text(residual_model());
  ASSERT_OK(m);
  auto p = pass::PassRegistry::builtin().create("prune-channels", {});
  ASSERT_OK(p);
  auto groups = (*p)->channel_groups(*m);
  ASSERT_OK(groups);
  ASSERT_EQ(groups->size(), 1u);  // Y's group reaches the graph output
  EXPECT_EQ((*groups)[0].producers, (std::vector<std::string>{"A1", "A2"}));
  EXPECT_EQ((*groups)[0].channels, 8);
}

// --- the search ---

struct Searched {
  ir::Model model;
  pass::BudgetResult result;
};

Searched search(const std::string& text, const std::string& target,
                const std::vector<std::string>& gates = {}) {
  Searched s;
  auto m = model_from_text(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  s.model = *m;
  io::SampleOptions so;
  so.count = 4;
  auto samples = io::SampleSet::open(s.model, so);
  EXPECT_TRUE(samples.ok()) << samples.status().message();
  auto meter = eval::DriftMeter::create(s.model, *samples);
  EXPECT_TRUE(meter.ok()) << meter.status().message();
  std::vector<eval::Gate> parsed;
  for (const auto& g : gates) parsed.push_back(eval::parse_gate(g).value());
  pass::PassContext ctx;
  auto t = pass::parse_budget_target(target);
  EXPECT_TRUE(t.ok()) << t.status().message();
  auto r = pass::search_budget(s.model, "prune-channels", {{"ratio", "0.3"}}, *t, **meter, parsed,
                               {}, ctx);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (r.ok()) s.result = *r;
  return s;
}

const pass::BudgetGroup* group(const pass::BudgetResult& r, const std::string& label) {
  for (const auto& g : r.groups) {
    if (g.producers.front() == label) return &g;
  }
  ADD_FAILURE() << "no group " << label;
  return nullptr;
}

TEST(BudgetSearch, PrunesTheInsensitiveGroupFirst) {
  Searched s = search(two_branch_model(1e-3f), "params_ratio=0.6");
  const pass::BudgetResult& r = s.result;
  ASSERT_EQ(r.groups.size(), 2u);
  const auto* a = group(r, "A");
  const auto* b = group(r, "B");
  ASSERT_TRUE(a && b);
  // 64 parameters, 4 per channel: at most 25.6 left needs 7 channels gone, all from B
  // (ratio 0.875), whose channels barely matter.
  EXPECT_TRUE(r.reached);
  EXPECT_EQ(r.before, 64u);
  EXPECT_EQ(r.after, 64u - 7 * 4);
  EXPECT_DOUBLE_EQ(r.achieved, 36.0 / 64.0);
  EXPECT_EQ(b->ratio, 0.875);
  EXPECT_EQ(a->ratio, 0.0);
  EXPECT_EQ(r.group_ratios, "B=0.875");
  // Every grid ratio of both groups removes one more channel: 7 measured each.
  EXPECT_EQ(a->candidates.size(), 7u);
  EXPECT_EQ(b->candidates.size(), 7u);
  EXPECT_EQ(r.evaluations, 14u);
  EXPECT_EQ(r.ranking, "Y.cosine");
  EXPECT_LT(*a->candidates.back().value, *b->candidates.back().value);

  // The chosen ratios applied: B keeps 1 channel, A all 8.
  ir::Model m = s.model;
  ASSERT_OK(run_pass(m, "prune-channels", pass::budget_pass_options({{"ratio", "0.3"}}, r)));
  EXPECT_EQ(out_channels(m, "WA"), 8);
  EXPECT_EQ(out_channels(m, "WB"), 1);
  EXPECT_EQ(pass::parameter_count(m), r.after);
}

TEST(BudgetSearch, MacsTargetRankedByTheFirstDriftGate) {
  Searched s = search(two_branch_model(1e-3f), "macs_ratio=0.7", {"rel_l2<=0.5", "cosine>=0.9"});
  const pass::BudgetResult& r = s.result;
  // 1,024 MACs, 64 per channel: at most 716.8 left needs 5 channels gone, all from B.
  EXPECT_EQ(r.metric, "macs_ratio");
  EXPECT_EQ(r.ranking, "rel_l2<=0.5");
  EXPECT_EQ(r.ranking_metric, "rel_l2");
  EXPECT_TRUE(r.reached);
  EXPECT_EQ(r.before, 1024u);
  EXPECT_EQ(r.after, 1024u - 5 * 64);
  EXPECT_EQ(r.group_ratios, "B=0.625");
}

TEST(BudgetSearch, SensitiveBranchSparedWhenBothMustGive) {
  // Only 7 of B's channels can go (one is always kept): 0.4 of 64 (25.6) needs 39 gone, so 10
  // channels, 3 of them from A.
  Searched s = search(two_branch_model(1e-3f), "params_ratio=0.4");
  const pass::BudgetResult& r = s.result;
  EXPECT_TRUE(r.reached);
  EXPECT_EQ(group(r, "B")->ratio, 0.875);
  EXPECT_EQ(group(r, "A")->ratio, 0.375);
  EXPECT_EQ(r.after, 64u - 10 * 4);
}

TEST(BudgetSearch, UnreachableTargetSaysSo) {
  // Every group at its largest ratio keeps 1 channel of 8 each: 8 of 64 parameters remain.
  Searched s = search(two_branch_model(1e-3f), "params_ratio=0.1");
  const pass::BudgetResult& r = s.result;
  EXPECT_FALSE(r.reached);
  EXPECT_EQ(r.after, 8u);
  EXPECT_DOUBLE_EQ(r.achieved, 0.125);
  EXPECT_EQ(r.group_ratios, "A=0.875|B=0.875");
}

TEST(BudgetSearch, TargetParsing) {
  auto t = pass::parse_budget_target("macs_ratio=0.25");
  ASSERT_OK(t);
  EXPECT_EQ(t->metric, pass::BudgetTarget::Metric::kMacs);
  EXPECT_EQ(t->ratio, 0.25);
  for (const char* bad : {"params_ratio", "size_ratio=0.5", "params_ratio=1", "params_ratio=0",
                          "params_ratio=x", "params_ratio="}) {
    auto r = pass::parse_budget_target(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--target '" + std::string(bad) + "'"), std::string::npos)
        << r.status().message();
  }
}

TEST(BudgetSearch, GroupRatiosGivenNotApplied) {
  auto m = model_from_text(two_branch_model(1.0f));
  ASSERT_OK(m);
  io::SampleOptions so;
  so.count = 2;
  auto samples = io::SampleSet::open(*m, so);
  ASSERT_OK(samples);
  auto meter = eval::DriftMeter::create(*m, *samples);
  ASSERT_OK(meter);
  pass::PassContext ctx;
  auto r = pass::search_budget(*m, "prune-channels", {{"group_ratios", "A=0.5"}},
                               pass::BudgetTarget{}, **meter, {}, {}, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("group_ratios"), std::string::npos);
}

}  // namespace
}  // namespace compressor
