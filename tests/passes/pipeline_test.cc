// PassPipeline: spec parsing, unknown names and options, verification naming the pass.
#include "compressor/pass/pipeline.h"

#include <gtest/gtest.h>

#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

TEST(PassPipeline, ParsesNamesAndOptions) {
  auto p = pass::PassPipeline::parse("eliminate-identity, fold-batchnorm{}");
  ASSERT_OK(p);
  EXPECT_EQ(p->size(), 2u);
  EXPECT_EQ(p->spec(), "eliminate-identity,fold-batchnorm");
}

TEST(PassPipeline, UnknownPassListsValidNames) {
  auto p = pass::PassPipeline::parse("fold-batchnrm");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("fold-batchnorm"), std::string::npos);
}

TEST(PassPipeline, UnknownOptionIsAUsageError) {
  auto p = pass::PassPipeline::parse("fold-batchnorm{ratio=2}");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("unknown option 'ratio'"), std::string::npos);
}

// A pass that breaks the model, to prove the verifier names it.
class BreakingPass : public pass::Pass {
 public:
  const pass::PassInfo& info() const override {
    static const pass::PassInfo i{"break-things", "test", {}};
    return i;
  }
  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext&) override {
    model.graph.node(0).set_attribute(ir::Attribute::make_int("bogus", 1));
    return pass::PassResult{};
  }
};

TEST(PassPipeline, VerifierNamesThePassThatBrokeTheModel) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y) { Y = Relu(X) })");
  ASSERT_OK(m);
  pass::PassPipeline p;
  p.add(std::make_unique<BreakingPass>());
  p.add_instrumentation(std::make_unique<pass::VerifyInstrumentation>());
  pass::PassContext ctx;
  auto r = p.run(*m, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pass 'break-things'"), std::string::npos)
      << r.status().message();
}

TEST(PassPipeline, InvalidInputIsNotBlamedOnThePass) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y) { Y = Relu <bogus = 1> (X) })");
  ASSERT_OK(m);
  auto p = pass::PassPipeline::parse("eliminate-identity");
  ASSERT_OK(p);
  p->add_instrumentation(std::make_unique<pass::VerifyInstrumentation>());
  pass::PassContext ctx;
  auto r = p->run(*m, ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("input model is invalid"), std::string::npos)
      << r.status().message();
}

TEST(PassPipeline, RecordsStatsPerPassAndStampsMetadata) {
  auto loaded = io::load_model(demo_model("tiny_cnn"));
  ASSERT_OK(loaded);
  auto p = pass::PassPipeline::parse(pass::optimize_pipeline_spec());
  ASSERT_OK(p);
  pass::PassContext ctx;
  auto records = p->run(*loaded, ctx);
  ASSERT_OK(records);
  ASSERT_EQ(records->size(), 7u);
  EXPECT_EQ((*records)[2].name, "fold-batchnorm");
  EXPECT_LT((*records)[2].after.nodes, (*records)[2].before.nodes);
  EXPECT_EQ((*records)[3].name, "fold-conv-affine");
  pass::stamp_metadata(*loaded, p->spec());
  bool found = false;
  for (const auto& [k, v] : loaded->metadata())
    found = found || (k == "compressor.passes" && v == p->spec());
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace compressor
