// eliminate-identity: Identity and inference Dropout are removed; output names survive.
#include <gtest/gtest.h>

#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

TEST(EliminateIdentity, RewiresReadersToTheInput) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y) {
      A = Relu(X)
      B = Identity(A)
      C = Dropout(B)
      Y = Neg(C)
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "eliminate-identity");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  ASSERT_EQ(m->graph.node_count(), 2u);
  EXPECT_EQ(m->graph.node(1).inputs[0], "A");
}

TEST(EliminateIdentity, IdentityIntoGraphOutputRenamesTheProducer) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y) {
      A = Relu(X)
      Y = Identity(A)
    })");
  ASSERT_OK(m);
  ASSERT_OK(run_pass(*m, "eliminate-identity"));
  ASSERT_EQ(m->graph.node_count(), 1u);
  EXPECT_EQ(m->graph.node(0).outputs[0], "Y");
  EXPECT_TRUE(m->graph.is_graph_output("Y"));
}

TEST(EliminateIdentity, InputToOutputIdentityNotApplied) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y) { Y = Identity(X) })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "eliminate-identity");
  ASSERT_OK(r);
  EXPECT_EQ(m->graph.node_count(), 1u);
  EXPECT_EQ(r->skipped.size(), 1u);
}

TEST(EliminateIdentity, DropoutInTrainingModeNotApplied) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y)
    <bool T = {1}, float R = {0.5}>
    {
      D = Dropout(X, R, T)
      Y = Neg(D)
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "eliminate-identity");
  ASSERT_OK(r);
  EXPECT_EQ(count_ops(m->graph, "Dropout"), 1u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("training"), std::string::npos);
}

TEST(EliminateIdentity, DropoutWithUsedMaskNotApplied) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y, bool[3] M) {
      D, M = Dropout(X)
      Y = Neg(D)
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "eliminate-identity");
  ASSERT_OK(r);
  EXPECT_EQ(count_ops(m->graph, "Dropout"), 1u);
}

}  // namespace
}  // namespace compressor
