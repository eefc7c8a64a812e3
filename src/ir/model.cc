// Model accessors over the kept ModelProto fields.
#include "compressor/ir/model.h"

#include <onnx/onnx_pb.h>

namespace compressor::ir {

Model::Model() : rest_(std::make_unique<onnx::ModelProto>()) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::Model(const Model& other)
    : graph(other.graph), rest_(std::make_unique<onnx::ModelProto>(*other.rest_)) {}
Model& Model::operator=(const Model& other) {
  if (this != &other) {
    graph = other.graph;
    rest_ = std::make_unique<onnx::ModelProto>(*other.rest_);
  }
  return *this;
}

int64_t Model::ir_version() const { return rest_->ir_version(); }
void Model::set_ir_version(int64_t version) { rest_->set_ir_version(version); }
const std::string& Model::producer_name() const { return rest_->producer_name(); }
const std::string& Model::producer_version() const { return rest_->producer_version(); }

std::vector<OpsetImport> Model::opset_imports() const {
  std::vector<OpsetImport> out;
  for (const auto& o : rest_->opset_import()) out.push_back({o.domain(), o.version()});
  return out;
}

namespace {
bool same_domain(const std::string& a, const std::string& b) {
  auto norm = [](const std::string& d) { return d == "ai.onnx" ? std::string() : d; };
  return norm(a) == norm(b);
}
}  // namespace

int64_t Model::opset_version(const std::string& domain) const {
  for (const auto& o : rest_->opset_import()) {
    if (same_domain(o.domain(), domain)) return o.version();
  }
  return 0;
}

void Model::set_opset_version(const std::string& domain, int64_t version) {
  for (auto& o : *rest_->mutable_opset_import()) {
    if (same_domain(o.domain(), domain)) {
      o.set_version(version);
      return;
    }
  }
  auto* o = rest_->add_opset_import();
  o->set_domain(domain);
  o->set_version(version);
}

std::vector<std::pair<std::string, std::string>> Model::metadata() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : rest_->metadata_props()) out.emplace_back(p.key(), p.value());
  return out;
}

void Model::set_metadata(const std::string& key, const std::string& value) {
  for (auto& p : *rest_->mutable_metadata_props()) {
    if (p.key() == key) {
      p.set_value(value);
      return;
    }
  }
  auto* p = rest_->add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

size_t Model::function_count() const { return static_cast<size_t>(rest_->functions_size()); }

}  // namespace compressor::ir
