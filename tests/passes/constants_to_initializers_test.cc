// constants-to-initializers: Constant values become initializers with the same name and bytes.
#include <gtest/gtest.h>

#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

TEST(ConstantsToInitializers, MovesTensorAndScalarConstants) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3] X) => (float[2, 3] Y) {
      W = Constant <value = float[3] {1.0, 2.0, 3.0}> ()
      S = Constant <value_float = 0.5> ()
      T = Mul(X, W)
      Y = Add(T, S)
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "constants-to-initializers");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 2u);
  EXPECT_EQ(count_ops(m->graph, "Constant"), 0u);
  ASSERT_NE(m->graph.find_initializer("W"), nullptr);
  EXPECT_EQ(m->graph.find_initializer("W")->tensor.span<float>()[2], 3.0f);
  EXPECT_EQ(m->graph.find_initializer("S")->tensor.rank(), 0);
  EXPECT_EQ(m->graph.find_initializer("S")->tensor.span<float>()[0], 0.5f);
}

TEST(ConstantsToInitializers, OldIrVersionsAlsoDeclareAGraphInput) {
  auto m = model_from_text(R"(
    <ir_version: 3, opset_import: ["" : 8]>
    g (float[3] X) => (float[3] Y) {
      W = Constant <value = float[3] {1.0, 2.0, 3.0}> ()
      Y = Add(X, W)
    })");
  ASSERT_OK(m);
  ASSERT_OK(run_pass(*m, "constants-to-initializers"));
  EXPECT_TRUE(m->graph.is_graph_input("W"));
}

TEST(ConstantsToInitializers, ConstantThatIsAGraphOutputNotApplied) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y, float[3] W) {
      W = Constant <value = float[3] {1.0, 2.0, 3.0}> ()
      Y = Add(X, W)
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "constants-to-initializers");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(r->skipped[0].reason.find("graph output"), std::string::npos);
  EXPECT_EQ(count_ops(m->graph, "Constant"), 1u);
}

}  // namespace
}  // namespace compressor
