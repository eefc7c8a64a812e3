#include "testing/kernel_testing.h"

namespace compressor::testing {

StatusOr<std::vector<ir::Tensor>> run_text(const std::string& text,
                                           const std::vector<exec::NamedTensor>& inputs,
                                           int threads) {
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model m, model_from_text(text));
  COMPRESSOR_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(m, {.threads = threads}));
  return ex->run(inputs);
}

StatusOr<ir::Tensor> run_text1(const std::string& text,
                               const std::vector<exec::NamedTensor>& inputs, int threads) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto outs, run_text(text, inputs, threads));
  if (outs.empty()) return Status(ErrorCode::kInternal, "the model has no outputs");
  return std::move(outs[0]);
}

StatusOr<std::vector<ir::Value>> run_text_values(const std::string& text,
                                                 const std::vector<exec::NamedValue>& inputs,
                                                 int threads) {
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model m, model_from_text(text));
  COMPRESSOR_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(m, {.threads = threads}));
  return ex->run_values(inputs);
}

Status plan_status(const std::string& text) {
  COMPRESSOR_ASSIGN_OR_RETURN(ir::Model m, model_from_text(text));
  COMPRESSOR_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(m));
  (void)ex;
  return ok_status();
}

ir::Tensor bool_tensor(ir::Dims dims, const std::vector<int>& v) {
  ir::Tensor t = ir::Tensor::zeros(ir::DType::kBool, std::move(dims));
  auto* p = reinterpret_cast<uint8_t*>(t.mutable_data());
  for (size_t i = 0; i < v.size(); ++i) p[i] = v[i] != 0;
  return t;
}

}  // namespace compressor::testing
