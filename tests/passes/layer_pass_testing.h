// Shared helpers for the layer pass tests (prune, quantize, factorize): float literals for ONNX
// text models, lookups of nodes and initializers, and passes run with calibration samples.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "compressor/exec/executor.h"
#include "compressor/io/samples.h"
#include "compressor/ir/model.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/pipeline.h"
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

/// `count` random samples for the model's inputs, uniform in [-1, 1], seeded with `seed`.
inline io::SampleSet random_samples(const ir::Model& model, size_t count, uint64_t seed) {
  io::SampleOptions so;
  so.count = count;
  so.seed = seed;
  so.random_range = std::make_pair(-1.0, 1.0);
  auto samples = io::SampleSet::open(model, so);
  EXPECT_TRUE(samples.ok()) << samples.status().message();
  return std::move(samples).value();
}

/// Runs the pipeline `spec` on `model` with `samples` as its calibration samples.
inline StatusOr<std::vector<pass::PassRecord>> run_with_samples(ir::Model& model,
                                                                const std::string& spec,
                                                                const io::SampleSet& samples) {
  COMPRESSOR_ASSIGN_OR_RETURN(pass::PassPipeline pipeline, pass::PassPipeline::parse(spec));
  pipeline.set_calibration_samples(&samples, {});
  pass::PassContext ctx;
  return pipeline.run(model, ctx);
}

/// Σ over the samples of ||Y - Y'||² for output `output` of two models.
inline double output_error(const ir::Model& a, const ir::Model& b, const io::SampleSet& samples,
                           size_t output = 0) {
  auto ea = exec::Executor::create(a);
  auto eb = exec::Executor::create(b);
  EXPECT_TRUE(ea.ok() && eb.ok());
  if (!ea.ok() || !eb.ok()) return 0;
  double err = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    auto s = samples.get(i);
    EXPECT_TRUE(s.ok());
    if (!s.ok()) return 0;
    std::vector<exec::NamedTensor> feed;
    for (auto& t : *s) feed.push_back({t.name, t.tensor});
    auto ya = (*ea)->run(feed);
    auto yb = (*eb)->run(feed);
    EXPECT_TRUE(ya.ok() && yb.ok());
    if (!ya.ok() || !yb.ok()) return 0;
    const auto va = (*ya)[output].span<float>(), vb = (*yb)[output].span<float>();
    for (size_t k = 0; k < va.size(); ++k) err += double(va[k] - vb[k]) * double(va[k] - vb[k]);
  }
  return err;
}

}  // namespace compressor::testing
