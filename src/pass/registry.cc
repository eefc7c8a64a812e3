// PassRegistry: lookup, option validation, and the built-in list from passes.def.
#include "compressor/pass/registry.h"

#include "../passes/passes.h"

namespace compressor::pass {

void PassRegistry::add(PassInfo info, PassFactory factory) {
  infos_.push_back(std::move(info));
  factories_.push_back(factory);
}

const PassInfo* PassRegistry::find(const std::string& name) const {
  for (const auto& info : infos_) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

StatusOr<std::unique_ptr<Pass>> PassRegistry::create(const std::string& name,
                                                     const PassOptions& options) const {
  for (size_t i = 0; i < infos_.size(); ++i) {
    if (infos_[i].name != name) continue;
    for (const auto& [key, value] : options) {
      bool known = false;
      std::string valid;
      for (const auto& opt : infos_[i].options) {
        known = known || opt.name == key;
        valid += (valid.empty() ? "" : ", ") + opt.name;
      }
      if (!known) {
        return invalid_argument("pass '" + name + "': unknown option '" + key +
                                "' (valid: " + (valid.empty() ? "none" : valid) + ")");
      }
    }
    return factories_[i](options);
  }
  std::string valid;
  for (const auto& info : infos_) valid += (valid.empty() ? "" : ", ") + info.name;
  return invalid_argument("unknown pass '" + name + "' (valid: " + valid + ")");
}

const PassRegistry& PassRegistry::builtin() {
  static const PassRegistry registry = [] {
    PassRegistry r;
    passes::register_builtin_passes(r);
    return r;
  }();
  return registry;
}

}  // namespace compressor::pass

namespace compressor::pass {

std::string node_label(const ir::Node& node) {
  if (!node.name.empty()) return node.name;
  for (const auto& out : node.outputs) {
    if (!out.empty()) return out;
  }
  return node.op_type;
}

}  // namespace compressor::pass
