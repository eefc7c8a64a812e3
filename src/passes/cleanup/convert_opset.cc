// convert-opset: moves the model to a newer default-domain opset with ONNX's version converter
// (int8 per-channel scales need opset 13, DynamicQuantizeLinear 11). A model already at or
// above the target is left as it is; a conversion ONNX cannot do is an error that says so.
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <charconv>

#include "../pass_util.h"
#include "compressor/io/onnx_io.h"

namespace compressor::passes {
namespace {

class ConvertOpset : public pass::Pass {
 public:
  explicit ConvertOpset(int64_t target) : target_(target) {}
  const pass::PassInfo& info() const override;

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext&) override {
    pass::PassResult result;
    const int64_t from = model.opset_version("");
    if (from >= target_) return result;
    if (from == 0) return invalid_model("the model imports no default-domain opset");
    std::unique_ptr<onnx::ModelProto> proto = io::to_proto(model);
    onnx::ModelProto converted;
    try {
      // Some adapters (Softmax 12 -> 13) need the ranks of their inputs: infer shapes first.
      onnx::ShapeInferenceOptions lenient(/*check_type=*/false, /*strict_mode=*/0);
      onnx::shape_inference::InferShapes(*proto, onnx::OpSchemaRegistry::Instance(), lenient);
    } catch (const std::exception&) {
      // Shape inference is a help here, not a requirement; the converter says what it lacks.
    }
    try {
      converted = onnx::version_conversion::ConvertVersion(*proto, static_cast<int>(target_));
    } catch (const std::exception& e) {
      std::string why = e.what();
      if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
      return unsupported("ONNX's version converter cannot move the model from opset " +
                         std::to_string(from) + " to " + std::to_string(target_) + ": " + why);
    }
    proto.reset();
    std::string bytes;
    if (!converted.SerializeToString(&bytes)) {
      return internal_error("the converted model does not serialize");
    }
    COMPRESSOR_ASSIGN_OR_RETURN(ir::Model out, io::load_model_from_bytes(bytes, ".", "converted"));
    const size_t before = model.graph.node_count();
    model = std::move(out);
    result.nodes_changed = std::max(before, model.graph.node_count());
    result.notes.push_back("opset " + std::to_string(from) + " -> " + std::to_string(target_) +
                           " with ONNX's version converter");
    return result;
  }

 private:
  int64_t target_;
};

const pass::PassInfo& info_ref() {
  static const pass::PassInfo info{
      "convert-opset",
      "Moves the model to a newer default-domain opset with ONNX's version converter.",
      {{"opset", "13", "Target opset (models already at or above it are left alone)"}}};
  return info;
}

const pass::PassInfo& ConvertOpset::info() const { return info_ref(); }

}  // namespace

const pass::PassInfo& convert_opset_info() { return info_ref(); }

StatusOr<std::unique_ptr<pass::Pass>> create_convert_opset(const pass::PassOptions& options) {
  int64_t target = 13;
  if (auto it = options.find("opset"); it != options.end()) {
    const std::string& v = it->second;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), target);
    if (ec != std::errc() || end != v.data() + v.size() || target < 7 ||
        target > io::kNewestCheckedOpset) {
      return invalid_argument(
          "pass 'convert-opset': option 'opset' must be a whole number from 7 "
          "to " +
          std::to_string(io::kNewestCheckedOpset) + ", got '" + v + "'");
    }
  }
  return std::unique_ptr<pass::Pass>(new ConvertOpset(target));
}

}  // namespace compressor::passes
