// KernelRegistry: (domain, op type, opset range) -> kernel factory.
#pragma once

#include <string>
#include <vector>

#include "compressor/exec/kernel.h"

namespace compressor::exec {

/// The kernels the executor can run. Each kernel family registers its ops in one function
/// listed in src/kernels/kernel_families.def.
class KernelRegistry {
 public:
  /// Every built-in kernel.
  static const KernelRegistry& builtin();

  /// Registers `factory` for `op_type` in `domain` ("" is the default ONNX domain) for opset
  /// versions since_version..until_version inclusive.
  void add(const std::string& domain, const std::string& op_type, int since_version,
           int until_version, KernelFactory factory);
  /// Same, for every opset version from 1 on.
  void add(const std::string& op_type, KernelFactory factory) {
    add("", op_type, 1, 1 << 20, std::move(factory));
  }

  /// The factory for the op at this opset, or null.
  const KernelFactory* find(const std::string& domain, const std::string& op_type,
                            int64_t opset) const;
  /// "Op" or "domain.Op" of every registered op, sorted.
  std::vector<std::string> op_names() const;

 private:
  struct Entry {
    std::string domain;
    std::string op_type;
    int since;
    int until;
    KernelFactory factory;
  };
  std::vector<Entry> entries_;
};

}  // namespace compressor::exec
