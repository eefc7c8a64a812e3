// Model: the graph plus everything else an ONNX file carries (opsets, metadata, functions).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compressor/ir/graph.h"

namespace onnx {
class ModelProto;
}  // namespace onnx

namespace compressor::ir {

/// One opset import (domain "" is the default ONNX domain).
struct OpsetImport {
  std::string domain;
  int64_t version = 0;
};

/// A loaded model. The fields that passes read or change are modelled; the rest of the
/// ModelProto (functions, training info, newer fields) is kept verbatim in `rest`.
class Model {
 public:
  Model();
  ~Model();
  Model(const Model& other);
  Model& operator=(const Model& other);
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  Graph graph;

  int64_t ir_version() const;
  void set_ir_version(int64_t version);
  const std::string& producer_name() const;
  const std::string& producer_version() const;
  std::vector<OpsetImport> opset_imports() const;
  /// The imported version of `domain` ("" and "ai.onnx" are the same); 0 when not imported.
  int64_t opset_version(const std::string& domain = "") const;
  void set_opset_version(const std::string& domain, int64_t version);
  std::vector<std::pair<std::string, std::string>> metadata() const;
  /// Sets (or replaces) one metadata_props entry.
  void set_metadata(const std::string& key, const std::string& value);
  size_t function_count() const;

  /// The non-graph part of the ModelProto (its `graph` field is always empty).
  const onnx::ModelProto& rest() const { return *rest_; }
  onnx::ModelProto& mutable_rest() { return *rest_; }

 private:
  std::unique_ptr<onnx::ModelProto> rest_;
};

}  // namespace compressor::ir
