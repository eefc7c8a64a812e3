// Round-trip comparison over raw protobufs, independent of our IR except for tensor decoding.
#include "roundtrip.h"

#include <google/protobuf/util/message_differencer.h>
#include <onnx/onnx_pb.h>

#include <fstream>

#include "compressor/io/onnx_io.h"
#include "test_models.h"

namespace compressor::testing {
namespace {

bool parse_file(const std::string& path, onnx::ModelProto* proto) {
  std::ifstream in(path, std::ios::binary);
  return proto->ParseFromIstream(&in);
}

template <typename Repeated>
std::string compare_list(const char* what, const Repeated& a, const Repeated& b) {
  if (a.size() != b.size()) {
    return std::string(what) + " count " + std::to_string(a.size()) + " vs " +
           std::to_string(b.size());
  }
  for (int i = 0; i < a.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(a.Get(i), b.Get(i))) {
      return std::string(what) + " #" + std::to_string(i) + " differs";
    }
  }
  return {};
}

}  // namespace

std::string roundtrip_difference(const std::string& path) {
  auto loaded = io::load_model(path);
  if (!loaded.ok()) return "load failed: " + loaded.status().message();
  TempDir dir;
  const std::string out = dir.file("model.onnx");
  io::SaveOptions options;
  options.check = false;  // the input itself may not pass the checker
  auto saved = io::save_model(*loaded, out, options);
  if (!saved.ok()) return "save failed: " + saved.status().message();
  auto reloaded = io::load_model(out);
  if (!reloaded.ok()) return "reload failed: " + reloaded.status().message();

  onnx::ModelProto a, b;
  if (!parse_file(path, &a) || !parse_file(out, &b)) return "cannot parse files";
  const auto& ga = a.graph();
  const auto& gb = b.graph();
  for (const auto& d :
       {compare_list("node", ga.node(), gb.node()), compare_list("input", ga.input(), gb.input()),
        compare_list("output", ga.output(), gb.output()),
        compare_list("value_info", ga.value_info(), gb.value_info()),
        compare_list("sparse_initializer", ga.sparse_initializer(), gb.sparse_initializer()),
        compare_list("opset_import", a.opset_import(), b.opset_import()),
        compare_list("function", a.functions(), b.functions()),
        compare_list("metadata_props", a.metadata_props(), b.metadata_props()),
        compare_list("training_info", a.training_info(), b.training_info())}) {
    if (!d.empty()) return d;
  }
  if (ga.name() != gb.name() || ga.doc_string() != gb.doc_string()) return "graph name or doc";
  if (a.ir_version() != b.ir_version() || a.producer_name() != b.producer_name() ||
      a.producer_version() != b.producer_version() || a.domain() != b.domain() ||
      a.model_version() != b.model_version() || a.doc_string() != b.doc_string()) {
    return "model fields differ";
  }
  if (ga.initializer_size() != gb.initializer_size()) return "initializer count differs";
  const auto& ia = loaded->graph.initializers();
  const auto& ib = reloaded->graph.initializers();
  for (size_t i = 0; i < ia.size(); ++i) {
    if (ia[i].name != ib[i].name || ga.initializer(static_cast<int>(i)).name() != ia[i].name) {
      return "initializer order differs at #" + std::to_string(i);
    }
    if (!ia[i].tensor.bitwise_equal(ib[i].tensor)) return "initializer '" + ia[i].name + "' bytes";
  }
  return {};
}

}  // namespace compressor::testing
