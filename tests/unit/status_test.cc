// Status and StatusOr: codes, context chains, propagation macros.
#include "compressor/core/status.h"

#include <gtest/gtest.h>

namespace compressor {
namespace {

Status fails() { return invalid_model("node 'fc' (Gemm): weight is missing"); }
Status propagates() {
  COMPRESSOR_RETURN_IF_ERROR(fails().with_context("model.onnx"));
  return ok_status();
}
StatusOr<int> value_or_error(bool ok) {
  if (!ok) return not_found("x.onnx: no such file");
  return 7;
}
StatusOr<int> doubled(bool ok) {
  COMPRESSOR_ASSIGN_OR_RETURN(int v, value_or_error(ok));
  return 2 * v;
}

TEST(Status, ContextIsPrependedAndCodeKept) {
  Status st = propagates();
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::kInvalidModel);
  EXPECT_EQ(st.message(), "model.onnx: node 'fc' (Gemm): weight is missing");
}

TEST(Status, OkStatusIgnoresContext) {
  EXPECT_TRUE(ok_status().with_context("anything").ok());
  EXPECT_EQ(ok_status().with_context("anything").message(), "");
}

TEST(StatusOr, AssignOrReturnUnwrapsValuesAndForwardsErrors) {
  auto good = doubled(true);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 14);
  auto bad = doubled(false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kNotFound);
}

TEST(StatusOr, ConstructedFromOkStatusIsAnInternalError) {
  StatusOr<int> s{ok_status()};
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), ErrorCode::kInternal);
}

}  // namespace
}  // namespace compressor
