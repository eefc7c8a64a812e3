// convert-opset: moves the model to a newer default-domain opset with ONNX's version converter
// (int8 per-channel scales need opset 13, DynamicQuantizeLinear 11). A model already at or
// above the target is left as it is; a conversion ONNX cannot do is an error that says so.
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <charconv>

#include "../pass_util.h"
#include "compressor/exec/executor.h"
#include "compressor/io/onnx_io.h"
#include "compressor/io/samples.h"
#include "compressor/pass/pass_context.h"

namespace compressor::passes {
namespace {

/// Ops that, before opset 13, coerce their input to 2-D at `axis` (default 1).
bool coerces_to_2d(const onnx::NodeProto& n) {
  return (n.domain().empty() || n.domain() == "ai.onnx") &&
         (n.op_type() == "Softmax" || n.op_type() == "LogSoftmax" || n.op_type() == "Hardmax");
}

/// The converter's 12 -> 13 adapter for Softmax, LogSoftmax and Hardmax needs its input's rank,
/// which shape inference often cannot give (shapes computed at run time, as in PaddleOCR's
/// exports). Where a node's axis is the last one, the old and new meanings agree, and axis -1
/// says so without a rank: find the ranks by running the model once on a random input (the
/// --dim bindings apply) and write -1 for those nodes. Returns what was rewritten.
std::vector<std::string> mark_last_axis(onnx::ModelProto& proto, const ir::Model& model,
                                        const std::map<std::string, int64_t>& dims) {
  std::map<std::string, int64_t> rank;  // known from shape inference
  auto note_rank = [&](const onnx::ValueInfoProto& v) {
    if (v.type().has_tensor_type() && v.type().tensor_type().has_shape()) {
      rank[v.name()] = v.type().tensor_type().shape().dim_size();
    }
  };
  for (const auto& v : proto.graph().value_info()) note_rank(v);
  for (const auto& v : proto.graph().input()) note_rank(v);
  std::vector<int> todo;
  std::vector<std::string> names;
  for (int i = 0; i < proto.graph().node_size(); ++i) {
    const auto& n = proto.graph().node(i);
    if (!coerces_to_2d(n) || n.input_size() == 0 || rank.count(n.input(0))) continue;
    int64_t axis = 1;
    for (const auto& a : n.attribute()) {
      if (a.name() == "axis") axis = a.i();
    }
    if (axis < 0) continue;  // -1 needs no rank; other negatives are left to the converter
    todo.push_back(i);
    names.push_back(n.input(0));
  }
  std::vector<std::string> rewritten;
  if (todo.empty()) return rewritten;
  io::SampleOptions options;
  options.count = 1;
  options.dims = dims;
  auto samples = io::SampleSet::open(model, options);
  if (!samples.ok()) return rewritten;
  auto sample = samples->get(0);
  auto executor = exec::Executor::create(model, {.threads = 1, .integer_qdq_units = false});
  if (!sample.ok() || !executor.ok()) return rewritten;
  std::vector<exec::NamedValue> feed;
  for (auto& t : *sample) feed.push_back({t.name, ir::Value(std::move(t.tensor))});
  std::map<std::string, int64_t> measured;
  auto capture = [&](const std::string& name, const ir::Tensor& value) {
    measured[name] = value.rank();
  };
  if (!(*executor)->run_values(feed, capture, names).ok()) return rewritten;
  for (int i : todo) {
    auto* n = proto.mutable_graph()->mutable_node(i);
    auto it = measured.find(n->input(0));
    if (it == measured.end()) continue;
    onnx::AttributeProto* axis = nullptr;
    for (auto& a : *n->mutable_attribute()) {
      if (a.name() == "axis") axis = &a;
    }
    const int64_t value = axis != nullptr ? axis->i() : 1;
    if (value != it->second - 1) continue;  // not the last axis: the converter reshapes
    if (axis == nullptr) {
      axis = n->add_attribute();
      axis->set_name("axis");
      axis->set_type(onnx::AttributeProto::INT);
    }
    axis->set_i(-1);
    rewritten.push_back(n->op_type() + " '" + (n->name().empty() ? n->output(0) : n->name()) +
                        "' (axis " + std::to_string(value) + " of rank " +
                        std::to_string(it->second) + ")");
  }
  return rewritten;
}

class ConvertOpset : public pass::Pass {
 public:
  explicit ConvertOpset(int64_t target) : target_(target) {}
  const pass::PassInfo& info() const override;

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext& ctx) override {
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
    std::vector<std::string> last_axis;
    if (from < 13 && target_ >= 13) last_axis = mark_last_axis(*proto, model, ctx.dims());
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
    if (!last_axis.empty()) {
      std::string list;
      for (const auto& n : last_axis) list += (list.empty() ? "" : ", ") + n;
      result.notes.push_back(
          "axis written as -1 for the converter, measured on one run (the last axis means the "
          "same in every opset): " +
          list);
    }
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
