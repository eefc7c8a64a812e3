// eliminate-dead-nodes: what no output depends on goes; subgraph reads keep producers alive.
#include <gtest/gtest.h>

#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

TEST(EliminateDeadNodes, RemovesUnreadChainsAndInitializers) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y)
    <float[3] A = {1, 2, 3}, float[3] Unused = {4, 5, 6}>
    {
      D1 = Add(X, A)
      D2 = Relu(D1)
      Y = Neg(X)
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "eliminate-dead-nodes");
  ASSERT_OK(r);
  EXPECT_EQ(m->graph.node_count(), 1u);
  EXPECT_TRUE(m->graph.initializers().empty());
}

TEST(EliminateDeadNodes, ValueReadOnlyInsideASubgraphNotApplied) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (bool C, float[2] X) => (float[2] Y) {
      A = Relu(X)
      Y = If(C) <then_branch = t () => (float[2] o) { o = Identity(A) },
                 else_branch = e () => (float[2] o) { o = Identity(X) }>
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "eliminate-dead-nodes");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  EXPECT_EQ(m->graph.node_count(), 2u);
}

TEST(EliminateDeadNodes, InitializerThatIsAGraphInputNotApplied) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X, float[3] Opt) => (float[3] Y)
    <float[3] Opt = {1, 2, 3}>
    { Y = Neg(X) })");
  ASSERT_OK(m);
  ASSERT_OK(run_pass(*m, "eliminate-dead-nodes"));
  EXPECT_NE(m->graph.find_initializer("Opt"), nullptr);
}

}  // namespace
}  // namespace compressor
