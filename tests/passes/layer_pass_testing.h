// Shared helpers for the layer pass tests (prune-magnitude, quantize-weights): float literals for
// ONNX text models and lookups of nodes and initializers.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "compressor/ir/model.h"
#include "compressor/pass/registry.h"

namespace compressor::testing {

/// `{v0, v1, ...}` with enough digits to read back the same floats.
inline std::string float_literal(const std::vector<float>& v) {
  std::ostringstream out;
  out.precision(9);
  out << '{';
  for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
  out << '}';
  return out.str();
}

/// The node called `name`; fails the test when there is none.
inline const ir::Node* node_named(const ir::Graph& graph, const std::string& name) {
  for (const auto& n : graph.nodes()) {
    if (n->name == name) return n.get();
  }
  ADD_FAILURE() << "no node '" << name << "'";
  return nullptr;
}

/// The values of the float32 initializer `name` (empty, with a test failure, when missing).
inline std::vector<float> float_values(const ir::Graph& graph, const std::string& name) {
  const ir::Initializer* init = graph.find_initializer(name);
  if (init == nullptr || init->tensor.dtype() != ir::DType::kFloat) {
    ADD_FAILURE() << "no float initializer '" << name << "'";
    return {};
  }
  auto s = init->tensor.span<float>();
  return {s.begin(), s.end()};
}

/// A registered pass created with `options` (asserting in the caller is up to it).
inline StatusOr<std::unique_ptr<pass::Pass>> make_pass(const std::string& name,
                                                       const pass::PassOptions& options = {}) {
  return pass::PassRegistry::builtin().create(name, options);
}

}  // namespace compressor::testing
