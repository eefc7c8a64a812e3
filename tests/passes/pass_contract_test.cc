// The contract every registered pass keeps, checked on small real and synthetic models:
// the result is valid, the same input gives the same bytes, and skipped nodes are untouched.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <map>
#include <optional>

#include "compressor/io/samples.h"
#include "compressor/pass/registry.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

// Demo models, plus a text model in which every pass meets a node it must leave alone.
std::vector<StatusOr<ir::Model>> contract_models() {
  std::vector<StatusOr<ir::Model>> models;
  for (const char* name : {"tiny_cnn", "tiny_transformer", "tiny_mlp"}) {
    models.push_back(io::load_model(demo_model(name)));
  }
  models.push_back(model_from_text(
      read_file(std::string(COMPRESSOR_SOURCE_DIR) + "/tests/data/contract/skips.onnxtxt")));
  for (auto& m : models) {
    if (!m.ok()) continue;
    for (size_t i = 0; i < m->graph.node_count(); ++i) {
      if (m->graph.node(i).name.empty()) m->graph.node(i).name = "n" + std::to_string(i);
    }
  }
  return models;
}

std::map<std::string, std::string> nodes_by_name(const ir::Model& m) {
  std::map<std::string, std::string> out;
  auto proto = io::to_proto(m);
  for (const auto& n : proto->graph().node()) out[n.name()] = n.SerializeAsString();
  return out;
}

// A calibration table for the tensors `pass_name` asks for in `model`: observed ranges from a
// float run on two seeded random samples, or [-1, 1] for models the executor cannot run (the
// contract is about structure, not numerics). Built once per model, so that both runs of the
// determinism check see the same table.
std::optional<pass::CalibrationTable> contract_calibration(const ir::Model& model,
                                                           const std::string& pass_name) {
  auto p = pass::PassRegistry::builtin().create(pass_name, {});
  if (!p.ok()) return std::nullopt;
  const std::vector<std::string> tensors = (*p)->calibration_tensors(model);
  if (tensors.empty()) return std::nullopt;
  std::vector<std::vector<exec::NamedTensor>> samples;
  for (uint64_t s = 0; s < 2; ++s) {
    std::mt19937_64 rng = io::sample_rng(7, s);
    std::vector<exec::NamedTensor> sample;
    for (const ir::ValueInfo* in : io::user_inputs(model)) {
      auto t = io::random_input(*in, {}, std::nullopt, rng, nullptr);
      if (t.ok()) sample.push_back({in->name(), std::move(*t)});
    }
    samples.push_back(std::move(sample));
  }
  auto table = minmax_calibration(model, samples, tensors);
  if (table.ok()) return *table;
  pass::CalibrationTable fixed;
  for (const auto& t : tensors) fixed.ranges[t] = {-1.0, 1.0};
  return fixed;
}

// Runs the pass, with `table` as calibration when there is one.
StatusOr<pass::PassResult> run_contract_pass(ir::Model& model, const std::string& name,
                                             const std::optional<pass::CalibrationTable>& table,
                                             const pass::PassOptions& options = {}) {
  if (!table) return run_pass(model, name, options);
  return run_pass_calibrated(model, name, *table, options);
}

class PassContract : public ::testing::TestWithParam<std::string> {};

TEST_P(PassContract, ValidDeterministicAndSkipsUntouched) {
  size_t skipped_total = 0;
  for (const auto& original : contract_models()) {
    ASSERT_OK(original);
    SCOPED_TRACE(original->graph.name);
    ir::Model a = *original, b = *original;
    const auto table = contract_calibration(*original, GetParam());
    auto ra = run_contract_pass(a, GetParam(), table);
    ASSERT_OK(ra);
    auto rb = run_contract_pass(b, GetParam(), table);
    ASSERT_OK(rb);
    EXPECT_EQ(save_to_bytes(a, true), save_to_bytes(b, true)) << "not deterministic";
    const auto before = nodes_by_name(*original);
    const auto after = nodes_by_name(a);
    for (const auto& skipped : ra->skipped) {
      auto it = after.find(skipped.node);
      if (it == after.end()) continue;  // skipped initializers are not nodes
      ASSERT_TRUE(before.count(skipped.node));
      EXPECT_EQ(it->second, before.at(skipped.node)) << skipped.node << " was changed";
    }
    skipped_total += ra->skipped.size();
  }
  // Whole-model passes have no node they could leave alone.
  if (GetParam() != "eliminate-dead-nodes" && GetParam() != "convert-opset") {
    EXPECT_GT(skipped_total, 0u) << "the contract models exercise a skip of every pass";
  }
}

// A pass that works layer by layer lists its layers in graph order, accepts `nodes`, refuses a
// label that is no layer, and restricted to one layer leaves every other node and the
// initializers those nodes read byte-identical.
TEST_P(PassContract, LayerRestrictionTouchesOnlyTheSelectedLayer) {
  const pass::PassRegistry& registry = pass::PassRegistry::builtin();
  for (const auto& original : contract_models()) {
    ASSERT_OK(original);
    SCOPED_TRACE(original->graph.name);
    auto p = registry.create(GetParam(), {});
    ASSERT_OK(p);
    const std::vector<std::string> labels = (*p)->eligible_nodes(*original);
    if (labels.empty()) continue;
    const auto& options = registry.find(GetParam())->options;
    ASSERT_TRUE(std::any_of(options.begin(), options.end(), [](const auto& o) {
      return o.name == "nodes";
    })) << "a pass that lists layers accepts the option 'nodes'";
    size_t next = 0;
    for (const auto& label : labels) {
      while (next < original->graph.node_count() &&
             pass::node_label(original->graph.node(next)) != label) {
        ++next;
      }
      ASSERT_LT(next, original->graph.node_count()) << "'" << label << "' out of graph order";
    }

    ir::Model bad = *original;
    const auto table = contract_calibration(*original, GetParam());
    auto refused = run_contract_pass(bad, GetParam(), table, {{"nodes", "no such layer"}});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);

    const auto before = nodes_by_name(*original);
    for (const std::string& label : {labels.front(), labels.back()}) {
      SCOPED_TRACE(label);
      ir::Model m = *original;
      auto r = run_contract_pass(m, GetParam(), table, {{"nodes", label}});
      ASSERT_OK(r);
      EXPECT_LE(r->nodes_changed, 1u);
      const auto after = nodes_by_name(m);
      for (const auto& node : original->graph.nodes()) {
        if (node->name == label) continue;
        ASSERT_TRUE(after.count(node->name)) << node->name << " was removed";
        EXPECT_EQ(after.at(node->name), before.at(node->name)) << node->name << " was changed";
        for (const auto& in : node->inputs) {
          const ir::Initializer* was = original->graph.find_initializer(in);
          if (was == nullptr) continue;
          const ir::Initializer* now = m.graph.find_initializer(in);
          ASSERT_NE(now, nullptr) << in;
          EXPECT_TRUE(now->tensor.bitwise_equal(was->tensor))
              << "'" << in << "' read by " << node->name << " was changed";
        }
      }
    }
  }
}

std::vector<std::string> registered_passes() {
  std::vector<std::string> names;
  for (const auto& info : pass::PassRegistry::builtin().passes()) names.push_back(info.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(AllPasses, PassContract, ::testing::ValuesIn(registered_passes()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace compressor
