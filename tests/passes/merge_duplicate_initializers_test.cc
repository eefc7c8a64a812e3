// merge-duplicate-initializers: identical tensors are stored once.
#include <gtest/gtest.h>

#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

TEST(MergeDuplicateInitializers, IdenticalTensorsAreStoredOnce) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X) => (float[3] Y)
    <float[3] A = {1, 2, 3}, float[3] B = {1, 2, 3}, float[3] C = {1, 2, 4}, int32[3] D = {1, 2, 3}>
    {
      T = Add(X, A)
      U = Mul(T, B)
      Y = Sub(U, C)
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "merge-duplicate-initializers");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 1u);
  EXPECT_EQ(m->graph.find_initializer("B"), nullptr);
  EXPECT_EQ(m->graph.node(1).inputs[1], "A");
  EXPECT_NE(m->graph.find_initializer("C"), nullptr) << "different bytes are kept";
  EXPECT_NE(m->graph.find_initializer("D"), nullptr) << "same bytes, other dtype, are kept";
}

TEST(MergeDuplicateInitializers, DuplicateThatIsAGraphInputNotApplied) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3] X, float[3] B) => (float[3] Y)
    <float[3] A = {1, 2, 3}, float[3] B = {1, 2, 3}>
    {
      T = Add(X, A)
      Y = Mul(T, B)
    })");
  ASSERT_OK(m);
  auto r = run_pass(*m, "merge-duplicate-initializers");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);
  EXPECT_EQ(r->skipped.size(), 1u);
  EXPECT_NE(m->graph.find_initializer("B"), nullptr);
}

}  // namespace
}  // namespace compressor
