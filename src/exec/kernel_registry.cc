// KernelRegistry and the built-in list from kernel_families.def.
#include "compressor/exec/kernel_registry.h"

#include <algorithm>
#include <set>

#include "../kernels/kernel_families.h"

namespace compressor::exec {

namespace {
std::string normalize_domain(const std::string& d) { return d == "ai.onnx" ? std::string() : d; }
}  // namespace

Status NodeView::error(const std::string& what) const {
  return unsupported(node_.label() + " [domain '" + node_.domain + "', opset " +
                     std::to_string(opset_) + "]: " + what);
}

Status KernelContext::error(const std::string& what) const {
  return invalid_model((node ? node->label() + ": " : std::string()) + what);
}

void KernelRegistry::add(const std::string& domain, const std::string& op_type, int since_version,
                         int until_version, KernelFactory factory) {
  entries_.push_back(
      {normalize_domain(domain), op_type, since_version, until_version, std::move(factory)});
}

const KernelFactory* KernelRegistry::find(const std::string& domain, const std::string& op_type,
                                          int64_t opset) const {
  const std::string d = normalize_domain(domain);
  for (const auto& e : entries_) {
    if (e.op_type == op_type && e.domain == d && opset >= e.since && opset <= e.until) {
      return &e.factory;
    }
  }
  return nullptr;
}

std::vector<std::string> KernelRegistry::op_names() const {
  std::set<std::string> names;
  for (const auto& e : entries_)
    names.insert(e.domain.empty() ? e.op_type : e.domain + "." + e.op_type);
  return {names.begin(), names.end()};
}

const KernelRegistry& KernelRegistry::builtin() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    kernels::register_builtin_kernels(r);
    return r;
  }();
  return registry;
}

}  // namespace compressor::exec
