// Executor: plan-time refusal, inputs checks, capture hook, release after last use, threads.
#include "compressor/exec/executor.h"

#include <gtest/gtest.h>

#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

TEST(Executor, UnsupportedOpFailsAtPlanTimeNamingNodeOpDomainAndOpset) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13, "custom.ops" : 2]>
    g (float[2] X) => (float[2] Y) { Y = custom.ops.Frobnicate(X) })");
  ASSERT_OK(m);
  m->graph.node(0).name = "frob1";
  auto ex = exec::Executor::create(*m);
  ASSERT_FALSE(ex.ok());
  const std::string msg = ex.status().message();
  EXPECT_EQ(ex.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("frob1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Frobnicate"), std::string::npos) << msg;
  EXPECT_NE(msg.find("custom.ops"), std::string::npos) << msg;
  EXPECT_NE(msg.find("opset 2"), std::string::npos) << msg;
  EXPECT_EQ(exec::unsupported_ops(*m), std::vector<std::string>{"custom.ops.Frobnicate (opset 2)"});
}

constexpr const char* kChain = R"(
  <ir_version: 8, opset_import: ["" : 13]>
  g (float[4] X) => (float[4] Y)
  <float[4] B = {1, 2, 3, 4}>
  {
    A = Relu(X)
    C = Add(A, B)
    Y = Neg(C)
  })";

TEST(Executor, RunsAChainAndChecksInputs) {
  auto m = model_from_text(kChain);
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  EXPECT_EQ((*ex)->input_names(), std::vector<std::string>{"X"});
  std::vector<float> x{-1, 0.5f, -2, 3};
  auto y = (*ex)->run({{"X", float_tensor({4}, x)}});
  ASSERT_OK(y);
  const std::vector<float> b{1, 2, 3, 4};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ((*y)[0].span<float>()[i], -(std::max(x[i], 0.0f) + b[i]));
  }
  auto missing = (*ex)->run({});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("'X'"), std::string::npos);
  auto unknown = (*ex)->run({{"X", float_tensor({4}, x)}, {"Nope", float_tensor({1}, {0})}});
  ASSERT_FALSE(unknown.ok());
}

TEST(Executor, CaptureHookSeesChosenValuesAsProduced) {
  auto m = model_from_text(kChain);
  ASSERT_OK(m);
  auto ex = exec::Executor::create(*m);
  ASSERT_OK(ex);
  std::vector<std::string> seen;
  std::vector<float> a_values;
  auto y = (*ex)->run({{"X", float_tensor({4}, {-1, 1, -1, 1})}},
                      [&](const std::string& name, const ir::Tensor& t) {
                        seen.push_back(name);
                        if (name == "A")
                          a_values.assign(t.span<float>().begin(), t.span<float>().end());
                      },
                      {"A", "C"});
  ASSERT_OK(y);
  EXPECT_EQ(seen, (std::vector<std::string>{"A", "C"}));
  EXPECT_EQ(a_values, (std::vector<float>{0, 1, 0, 1}));
}

TEST(Executor, ResultsDoNotDependOnThreadCount) {
  auto model = io::load_model(demo_model("tiny_cnn"));
  ASSERT_OK(model);
  auto one = exec::Executor::create(*model, {.threads = 1});
  auto two = exec::Executor::create(*model, {.threads = 2});
  ASSERT_OK(one);
  ASSERT_OK(two);
  auto x = float_tensor({4, 1, 8, 8}, random_floats(256, 3, 0.0f, 1.0f));
  auto a = (*one)->run({{"input", x}});
  auto b = (*two)->run({{"input", x}});
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_TRUE((*a)[0].bitwise_equal((*b)[0]));
}

}  // namespace
}  // namespace compressor
