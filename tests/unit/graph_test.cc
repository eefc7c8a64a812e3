// Graph: use-def index, topological order, cycles, editing helpers and subgraph scope.
#include "compressor/ir/graph.h"

#include <gtest/gtest.h>

#include "testing/test_models.h"

namespace compressor::ir {
namespace {

using testing::model_from_text;

TEST(Graph, IndexFindsProducersAndConsumers) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] X) => (float[2] Y) {
      A = Relu(X)
      B = Neg(A)
      Y = Add(A, B)
    })");
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto idx = m->graph.index();
  EXPECT_EQ(idx.producer.at("A"), 0u);
  EXPECT_EQ(idx.consumer_count("A"), 2u);
  EXPECT_TRUE(idx.escapes("Y"));
  EXPECT_FALSE(idx.escapes("B"));
}

TEST(Graph, OutOfOrderNodesAreSortedOnLoad) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] X) => (float[2] Y) {
      Y = Neg(A)
      A = Relu(X)
    })");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->graph.node(0).op_type, "Relu");
  EXPECT_EQ(m->graph.node(1).op_type, "Neg");
}

TEST(Graph, CycleIsAnErrorNamingANode) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] X) => (float[2] Y) {
      A = Add(X, B)
      B = Relu(A)
      Y = Neg(B)
    })");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("cycle"), std::string::npos) << m.status().message();
}

TEST(Graph, UndefinedInputIsAnErrorNamingIt) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] X) => (float[2] Y) {
      Y = Add(X, Ghost)
    })");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("'Ghost'"), std::string::npos) << m.status().message();
}

TEST(Graph, ReplaceAllUsesReachesSubgraphsAndOutputs) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (bool C, float[2] X) => (float[2] Y, float[2] A) {
      A = Relu(X)
      B = Neg(X)
      Y = If(C) <then_branch = t () => (float[2] o) { o = Identity(A) },
                 else_branch = e () => (float[2] o) { o = Identity(X) }>
    })");
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto reads = subgraph_outer_reads(m->graph.node(2));
  EXPECT_TRUE(reads.count("A"));
  EXPECT_TRUE(reads.count("X"));
  m->graph.replace_all_uses("A", "B");
  EXPECT_TRUE(subgraph_outer_reads(m->graph.node(2)).count("B"));
  EXPECT_FALSE(subgraph_outer_reads(m->graph.node(2)).count("A"));
  EXPECT_TRUE(m->graph.is_graph_output("B"));
}

TEST(Graph, UniqueNameAvoidsExistingValues) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] X) => (float[2] Y) { Y = Relu(X) })");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->graph.unique_name("X"), "X_1");
  EXPECT_EQ(m->graph.unique_name("Z"), "Z");
}

}  // namespace
}  // namespace compressor::ir
