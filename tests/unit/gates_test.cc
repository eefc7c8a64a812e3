// Tests for gate expressions: parsing of every form and every error, evaluation as the worst
// over outputs or for a named output, model metrics, and the errors for unmeasured metrics.
#include "compressor/eval/gates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace compressor::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const char* kValidList =
    "(valid: max_abs, mean_abs, rmse, rel_l2, cosine, snr_db, top1_agreement, top5_agreement, "
    "reference_accuracy, accuracy, accuracy_drop, size_ratio, params_ratio, macs_ratio, "
    "zip_ratio)";

Gate parse_ok(std::string_view expr) {
  auto g = parse_gate(expr);
  EXPECT_TRUE(g.ok()) << expr << ": " << g.status().message();
  return g.ok() ? *g : Gate{};
}

TEST(GateNames, DriftMetricsThenModelMetrics) {
  const std::vector<std::string> model = {"size_ratio", "params_ratio", "macs_ratio", "zip_ratio"};
  EXPECT_EQ(model_metric_names(), model);
  std::vector<std::string> all = metric_names();
  all.insert(all.end(), model.begin(), model.end());
  EXPECT_EQ(gate_metric_names(), all);
}

TEST(ParseGate, EveryOperator) {
  struct Case {
    const char* expr;
    Gate::Op op;
  };
  for (const Case& c :
       {Case{"cosine>=0.999", Gate::Op::kGe}, Case{"cosine>0.999", Gate::Op::kGt},
        Case{"cosine<=0.999", Gate::Op::kLe}, Case{"cosine<0.999", Gate::Op::kLt}}) {
    const Gate g = parse_ok(c.expr);
    EXPECT_EQ(g.expr, c.expr);
    EXPECT_EQ(g.output, "");
    EXPECT_EQ(g.metric, "cosine");
    EXPECT_EQ(g.op, c.op) << c.expr;
    EXPECT_EQ(g.bound, 0.999);
  }
}

TEST(ParseGate, WhitespaceIsRemovedEverywhere) {
  const Gate g = parse_ok("  logits . top1_agreement\t>= 0.99 ");
  EXPECT_EQ(g.expr, "logits.top1_agreement>=0.99");
  EXPECT_EQ(g.output, "logits");
  EXPECT_EQ(g.metric, "top1_agreement");
  EXPECT_EQ(g.op, Gate::Op::kGe);
  EXPECT_EQ(g.bound, 0.99);
}

TEST(ParseGate, OutputNamesMayContainDots) {
  const Gate g = parse_ok("head.out.cosine>=0.9");
  EXPECT_EQ(g.output, "head.out");
  EXPECT_EQ(g.metric, "cosine");
  // An output named like a metric is still an output when a metric follows.
  const Gate h = parse_ok("rmse.max_abs<1");
  EXPECT_EQ(h.output, "rmse");
  EXPECT_EQ(h.metric, "max_abs");
  // "::" and other punctuation in output names are kept as they are.
  const Gate k = parse_ok("model/head:0.snr_db>30");
  EXPECT_EQ(k.output, "model/head:0");
  EXPECT_EQ(k.metric, "snr_db");
}

TEST(ParseGate, NumberForms) {
  EXPECT_EQ(parse_ok("max_abs<1e-3").bound, 1e-3);
  EXPECT_EQ(parse_ok("max_abs<2.5E2").bound, 250);
  EXPECT_EQ(parse_ok("snr_db>-3").bound, -3);
  EXPECT_EQ(parse_ok("snr_db>+3").bound, 3);
  EXPECT_EQ(parse_ok("accuracy_drop<=.01").bound, 0.01);
  EXPECT_EQ(parse_ok("size_ratio<=1").bound, 1);
}

TEST(ParseGate, ModelMetricsTakeNoOutput) {
  for (const char* m : {"size_ratio", "params_ratio", "macs_ratio", "zip_ratio"}) {
    const Gate g = parse_ok(std::string(m) + "<=0.3");
    EXPECT_EQ(g.metric, m);
    EXPECT_FALSE(needs_drift(g));
  }
  EXPECT_TRUE(needs_drift(parse_ok("cosine>0")));
  EXPECT_TRUE(needs_drift(parse_ok("y.accuracy_drop<0.01")));
}

TEST(ParseGate, EveryErrorQuotesTheExpressionAndListsTheMetrics) {
  struct Case {
    const char* expr;
    const char* quoted;  // the expression as quoted (whitespace removed)
    const char* reason;  // a part of the message
  };
  const Case cases[] = {
      {"cosin>=0.9", "cosin>=0.9", "unknown metric 'cosin'"},
      {"logits.cosin>=0.9", "logits.cosin>=0.9", "unknown metric 'cosin'"},
      {"logits>=0.9", "logits>=0.9", "unknown metric 'logits'"},
      {"cosine", "cosine", "expected [output.]metric"},
      {"", "", "expected [output.]metric"},
      {"cosine==0.9", "cosine==0.9", "operator '==' is not supported"},
      {"cosine=0.9", "cosine=0.9", "operator '=' is not supported"},
      {"cosine!=0.9", "cosine!=0.9", "operator '!=' is not supported"},
      {"cosine=>0.9", "cosine=>0.9", "operator '=' is not supported"},
      {"cosine>>0.9", "cosine>>0.9", "malformed comparison operator"},
      {"cosine<>0.9", "cosine<>0.9", "malformed comparison operator"},
      {"cosine>==0.9", "cosine>==0.9", "malformed comparison operator"},
      {">=0.9", ">=0.9", "missing metric"},
      {"cosine>=", "cosine>=", "missing number"},
      {"cosine >= 0.9x", "cosine>=0.9x", "bound '0.9x' is not a number"},
      {"cosine>=abc", "cosine>=abc", "bound 'abc' is not a number"},
      {"cosine>=0x10", "cosine>=0x10", "bound '0x10' is not a number"},
      {"cosine>=++1", "cosine>=++1", "bound '++1' is not a number"},
      {"cosine>=+-1", "cosine>=+-1", "bound '+-1' is not a number"},
      {"cosine>=0.9<1", "cosine>=0.9<1", "bound '0.9<1' is not a number"},
      {"cosine>=nan", "cosine>=nan", "must be a finite number"},
      {"cosine>=-inf", "cosine>=-inf", "must be a finite number"},
      {"cosine>=infinity", "cosine>=infinity", "must be a finite number"},
      {"cosine>=1e999", "cosine>=1e999", "out of range"},
      {".cosine>=0.9", ".cosine>=0.9", "empty output name"},
      {"logits.size_ratio<=0.3", "logits.size_ratio<=0.3",
       "'size_ratio' is a model metric and takes no output name"},
  };
  for (const Case& c : cases) {
    auto g = parse_gate(c.expr);
    ASSERT_FALSE(g.ok()) << c.expr;
    const std::string& msg = g.status().message();
    EXPECT_EQ(g.status().code(), ErrorCode::kInvalidArgument) << c.expr;
    EXPECT_EQ(msg.rfind("--gate '" + std::string(c.quoted) + "': ", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.reason), std::string::npos) << msg;
    EXPECT_NE(msg.find(kValidList), std::string::npos) << msg;
  }
  EXPECT_EQ(parse_gate("cosin>=0.9").status().message(),
            std::string("--gate 'cosin>=0.9': unknown metric 'cosin' ") + kValidList);
}

// Drift of three outputs: a class-score output with labels, one without, a feature map.
std::vector<OutputDrift> three_outputs() {
  std::vector<OutputDrift> d(3);
  d[0].output = "logits";
  d[0].metrics.max_abs = 0.5;
  d[0].metrics.cosine = 0.99;
  d[0].metrics.snr_db = 30;
  d[0].metrics.top1_agreement = 0.97;
  d[0].metrics.top5_agreement = 1.0;
  d[0].metrics.reference_accuracy = 0.8;
  d[0].metrics.accuracy = 0.78;
  d[0].metrics.accuracy_drop = 0.02;
  d[1].output = "head.aux";
  d[1].metrics.max_abs = 2.0;
  d[1].metrics.cosine = 0.995;
  d[1].metrics.snr_db = 25;
  d[1].metrics.top1_agreement = 0.99;
  d[2].output = "features";
  d[2].metrics.max_abs = 1.0;
  d[2].metrics.cosine = 0.9;
  d[2].metrics.snr_db = 40;
  return d;
}

GateResult eval_ok(std::string_view expr, const GateInputs& in) {
  auto r = evaluate_gate(parse_ok(expr), in);
  EXPECT_TRUE(r.ok()) << expr << ": " << r.status().message();
  return r.ok() ? *r : GateResult{};
}

TEST(EvaluateGate, WorstOverOutputs) {
  const auto drift = three_outputs();
  const GateInputs in{&drift, {}};
  // Lower is better: the maximum.
  GateResult r = eval_ok("max_abs<=1.5", in);
  EXPECT_EQ(r.expr, "max_abs<=1.5");
  EXPECT_EQ(r.value, 2.0);
  EXPECT_EQ(r.output, "head.aux");
  EXPECT_FALSE(r.ok);
  // Higher is better: the minimum.
  r = eval_ok("cosine>=0.85", in);
  EXPECT_EQ(r.value, 0.9);
  EXPECT_EQ(r.output, "features");
  EXPECT_TRUE(r.ok);
  r = eval_ok("snr_db>25", in);
  EXPECT_EQ(r.value, 25);
  EXPECT_EQ(r.output, "head.aux");
  EXPECT_FALSE(r.ok);  // strict
  r = eval_ok("snr_db>=25", in);
  EXPECT_TRUE(r.ok);
  // Only the outputs that measured the metric take part.
  r = eval_ok("top1_agreement>=0.98", in);
  EXPECT_EQ(r.value, 0.97);
  EXPECT_EQ(r.output, "logits");
  EXPECT_FALSE(r.ok);
  r = eval_ok("accuracy_drop<0.05", in);
  EXPECT_EQ(r.value, 0.02);
  EXPECT_TRUE(r.ok);
  r = eval_ok("top5_agreement<1", in);
  EXPECT_FALSE(r.ok);
}

TEST(EvaluateGate, NaNIsTheWorstAndFailsEveryComparison) {
  auto drift = three_outputs();
  drift[2].metrics.cosine = kNaN;
  drift[0].metrics.max_abs = kNaN;
  const GateInputs in{&drift, {}};
  for (const char* expr : {"cosine>=-1", "cosine<=2", "max_abs<1e9", "max_abs>=0"}) {
    const GateResult r = eval_ok(expr, in);
    ASSERT_TRUE(r.value) << expr;
    EXPECT_TRUE(std::isnan(*r.value)) << expr;
    EXPECT_FALSE(r.ok) << expr;
  }
  EXPECT_EQ(eval_ok("cosine>0", in).output, "features");
  EXPECT_EQ(eval_ok("max_abs<1", in).output, "logits");
}

TEST(EvaluateGate, NamedOutput) {
  const auto drift = three_outputs();
  const GateInputs in{&drift, {}};
  GateResult r = eval_ok("logits.max_abs<1", in);
  EXPECT_EQ(r.value, 0.5);
  EXPECT_EQ(r.output, "logits");
  EXPECT_TRUE(r.ok);
  r = eval_ok("head.aux.cosine>=0.99", in);
  EXPECT_EQ(r.value, 0.995);
  EXPECT_EQ(r.output, "head.aux");
  EXPECT_TRUE(r.ok);

  auto missing = evaluate_gate(parse_ok("head.cosine>=0.9"), in);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(),
            "--gate 'head.cosine>=0.9': the model has no output 'head' (outputs: logits, "
            "head.aux, features)");
}

TEST(EvaluateGate, UnmeasuredMetricsSayWhy) {
  const auto drift = three_outputs();
  const GateInputs in{&drift, {}};
  auto no_class = evaluate_gate(parse_ok("features.top1_agreement>=0.9"), in);
  ASSERT_FALSE(no_class.ok());
  EXPECT_EQ(no_class.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(no_class.status().message(),
            "--gate 'features.top1_agreement>=0.9': output 'features' holds no class scores "
            "(rank 1-3 float with a last axis of 2 or more)");
  auto few = evaluate_gate(parse_ok("head.aux.top5_agreement>=0.9"), in);
  ASSERT_FALSE(few.ok());
  EXPECT_NE(few.status().message().find("output 'head.aux' has 5 classes or fewer"),
            std::string::npos)
      << few.status().message();
  auto unlabelled = evaluate_gate(parse_ok("head.aux.accuracy>=0.9"), in);
  ASSERT_FALSE(unlabelled.ok());
  EXPECT_NE(unlabelled.status().message().find("accuracy needs --labels"), std::string::npos)
      << unlabelled.status().message();

  // No class-score output at all.
  std::vector<OutputDrift> features_only(1, three_outputs()[2]);
  const GateInputs f{&features_only, {}};
  auto top1 = evaluate_gate(parse_ok("top1_agreement>=0.99"), f);
  ASSERT_FALSE(top1.ok());
  EXPECT_EQ(top1.status().message(),
            "--gate 'top1_agreement>=0.99': no output of the model holds class scores (rank 1-3 "
            "float with a last axis of 2 or more)");
  // Class scores but no labels.
  std::vector<OutputDrift> aux_only(1, three_outputs()[1]);
  const GateInputs a{&aux_only, {}};
  auto drop = evaluate_gate(parse_ok("accuracy_drop<=0.01"), a);
  ASSERT_FALSE(drop.ok());
  EXPECT_EQ(drop.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(drop.status().message().find("--gate 'accuracy_drop<=0.01': accuracy_drop needs "
                                         "--labels"),
            std::string::npos)
      << drop.status().message();
  auto top5 = evaluate_gate(parse_ok("top5_agreement>=0.9"), a);
  ASSERT_FALSE(top5.ok());
  EXPECT_NE(top5.status().message().find("no class-score output has more than 5 classes"),
            std::string::npos)
      << top5.status().message();
}

TEST(EvaluateGate, DriftGatesNeedSampleData) {
  const GateInputs in{nullptr, {{"size_ratio", 0.25}}};
  auto r = evaluate_gate(parse_ok("cosine>=0.99"), in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "--gate 'cosine>=0.99': cosine needs sample data to measure drift");
  const std::vector<OutputDrift> none;
  const GateInputs empty{&none, {}};
  EXPECT_EQ(evaluate_gate(parse_ok("cosine>=0.99"), empty).status().code(),
            ErrorCode::kInvalidArgument);
}

TEST(EvaluateGate, ModelMetrics) {
  const GateInputs in{nullptr, {{"size_ratio", 0.25}, {"params_ratio", 0.5}}};
  GateResult r = eval_ok("size_ratio<=0.3", in);
  EXPECT_EQ(r.value, 0.25);
  EXPECT_EQ(r.output, "");
  EXPECT_TRUE(r.ok);
  r = eval_ok("params_ratio<0.5", in);
  EXPECT_EQ(r.value, 0.5);
  EXPECT_FALSE(r.ok);
  r = eval_ok("params_ratio>0.4", in);
  EXPECT_TRUE(r.ok);
  auto macs = evaluate_gate(parse_ok("macs_ratio<=0.5"), in);
  ASSERT_FALSE(macs.ok());
  EXPECT_EQ(macs.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(macs.status().message(), "--gate 'macs_ratio<=0.5': macs_ratio was not measured");
}

TEST(EvaluateGate, WorksOnMeasuredDrift) {
  DriftAccumulator logits, aux;
  std::vector<float> r = {0.1f, 0.7f, 0.2f}, c = {0.1f, 0.2f, 0.7f};
  ASSERT_TRUE(logits
                  .add("logits", ir::Tensor::from_values<float>({1, 3}, r),
                       ir::Tensor::from_values<float>({1, 3}, r), int64_t{1})
                  .ok());
  ASSERT_TRUE(aux.add("aux", ir::Tensor::from_values<float>({1, 3}, r),
                      ir::Tensor::from_values<float>({1, 3}, c))
                  .ok());
  const std::vector<OutputDrift> drift = {{"logits", logits.result()}, {"aux", aux.result()}};
  const GateInputs in{&drift, {}};
  const GateResult top1 = eval_ok("top1_agreement>=0.5", in);
  EXPECT_EQ(top1.value, 0.0);
  EXPECT_EQ(top1.output, "aux");
  EXPECT_FALSE(top1.ok);
  const GateResult acc = eval_ok("accuracy_drop<=0", in);
  EXPECT_EQ(acc.value, 0.0);
  EXPECT_EQ(acc.output, "logits");
  EXPECT_TRUE(acc.ok);
  const GateResult snr = eval_ok("logits.snr_db>100", in);
  EXPECT_TRUE(snr.ok);  // identical outputs: +infinity
}

}  // namespace
}  // namespace compressor::eval
