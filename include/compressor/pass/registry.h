// PassRegistry: pass name -> factory, filled from the one list in src/passes/passes.def.
#pragma once

#include <string>
#include <vector>

#include "compressor/pass/pass.h"

namespace compressor::pass {

/// The registered passes, in the order of passes.def.
class PassRegistry {
 public:
  /// The registry of every built-in pass.
  static const PassRegistry& builtin();

  void add(PassInfo info, PassFactory factory);
  /// Creates a pass; unknown names and options are errors that list the valid ones.
  StatusOr<std::unique_ptr<Pass>> create(const std::string& name, const PassOptions& options) const;
  const PassInfo* find(const std::string& name) const;
  const std::vector<PassInfo>& passes() const { return infos_; }

 private:
  std::vector<PassInfo> infos_;
  std::vector<PassFactory> factories_;
};

}  // namespace compressor::pass
