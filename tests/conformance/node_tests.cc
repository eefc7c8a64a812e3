// The executor against the ONNX backend node suite (libonnx-testdata): every test whose ops the
// executor claims must pass with the backend tolerances (rtol 1e-3, atol 1e-7), or be listed
// in expected_failures.txt with a measured reason. A listed test that passes fails this test,
// so the list only shrinks.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "compressor/exec/executor.h"
#include "compressor/exec/kernel_registry.h"
#include "compressor/io/onnx_io.h"
#include "compressor/io/test_data.h"

namespace compressor {
namespace {
namespace fs = std::filesystem;

std::map<std::string, std::string> expected_failures() {
  std::map<std::string, std::string> out;
  std::ifstream in(std::string(COMPRESSOR_SOURCE_DIR) + "/tests/conformance/expected_failures.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto end = line.find_first_of(" \t");
    out[line.substr(0, end)] = end == std::string::npos ? "" : line.substr(end);
  }
  return out;
}

template <typename T>
std::string compare_values(const ir::Tensor& got, const ir::Tensor& want) {
  auto g = got.span<T>();
  auto w = want.span<T>();
  for (size_t i = 0; i < w.size(); ++i) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(double(w[i])) && std::isnan(double(g[i]))) continue;
      if (std::isinf(double(w[i])) && g[i] == w[i]) continue;
      const double diff = std::fabs(double(g[i]) - double(w[i]));
      if (!(diff <= 1e-7 + 1e-3 * std::fabs(double(w[i])))) {
        return "element " + std::to_string(i) + ": " + std::to_string(double(g[i])) + " vs " +
               std::to_string(double(w[i]));
      }
    } else if (g[i] != w[i]) {
      return "element " + std::to_string(i) + " differs";
    }
  }
  return {};
}

std::string compare(const ir::Tensor& got, const ir::Tensor& want) {
  if (got.dtype() != want.dtype()) {
    return "dtype " + std::string(ir::dtype_name(got.dtype())) + " vs " +
           std::string(ir::dtype_name(want.dtype()));
  }
  if (got.dims() != want.dims()) {
    return "shape " + ir::dims_to_string(got.dims()) + " vs " + ir::dims_to_string(want.dims());
  }
  switch (want.dtype()) {
    case ir::DType::kFloat:
      return compare_values<float>(got, want);
    case ir::DType::kDouble:
      return compare_values<double>(got, want);
    case ir::DType::kString:
      return got.strings() == want.strings() ? "" : "strings differ";
    default:
      return got.bitwise_equal(want) ? "" : "values differ";
  }
}

// Compares values of every kind: tensors, sequences element by element, optionals by presence
// and content.
std::string compare(const ir::Value& got, const ir::Value& want) {
  if (got.is_optional() != want.is_optional() || got.kind() != want.kind()) {
    return got.kind_string() + " vs " + want.kind_string();
  }
  if (want.kind() == ir::Value::Kind::kTensor) return compare(got.tensor(), want.tensor());
  if (want.kind() != ir::Value::Kind::kSequence) return {};
  if (got.elements().size() != want.elements().size()) {
    return "sequence of " + std::to_string(got.elements().size()) + " vs " +
           std::to_string(want.elements().size()) + " tensors";
  }
  for (size_t i = 0; i < want.elements().size(); ++i) {
    const std::string d = compare(got.elements()[i], want.elements()[i]);
    if (!d.empty()) return "element " + std::to_string(i) + ": " + d;
  }
  return {};
}

// The ONNX 1.12 test generator has no numpy bfloat16, so it writes bfloat16 tensors as uint16
// TensorProtos holding the same 16-bit patterns. A uint16 tensor read for a value the model
// declares bfloat16 is therefore re-tagged as bfloat16: same bytes, shared, not copied.
ir::Tensor as_declared(const ir::Tensor& t, const ir::ValueInfo& declared) {
  if (t.dtype() != ir::DType::kUInt16 || declared.dtype() != ir::DType::kBFloat16) return t;
  auto keep = std::make_shared<const ir::Tensor>(t);
  return ir::Tensor::borrow(ir::DType::kBFloat16, t.dims(), keep, keep->data(), keep->nbytes());
}

// Why the test fails, or "" when it passes.
std::string run_case(const fs::path& dir, const ir::Model& model) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  if (!ex.ok()) return "plan: " + ex.status().message();
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("test_data_set_", 0) != 0) continue;
    std::vector<ir::ValueInfo> fed_inputs;
    for (const auto& v : model.graph.inputs) {
      if (!model.graph.find_initializer(v.name())) fed_inputs.push_back(v);
    }
    auto inputs = io::read_value_set(entry.path().string(), "input", fed_inputs);
    auto outputs = io::read_value_set(entry.path().string(), "output", model.graph.outputs);
    if (!inputs.ok()) return "cannot read test data: " + inputs.status().message();
    if (!outputs.ok()) return "cannot read test data: " + outputs.status().message();
    std::vector<exec::NamedValue> feed;
    for (size_t k = 0; k < fed_inputs.size() && k < inputs->size(); ++k) {
      const ir::Value& read = (*inputs)[k].value;
      feed.push_back(
          {fed_inputs[k].name(),
           read.is_tensor() ? ir::Value(as_declared(read.tensor(), fed_inputs[k])) : read});
    }
    auto got = (*ex)->run_values(feed);
    if (!got.ok()) return "run: " + got.status().message();
    if (got->size() != outputs->size()) return "output count differs";
    for (size_t i = 0; i < got->size(); ++i) {
      const ir::Value& read = (*outputs)[i].value;
      const ir::Value want = read.is_tensor() && i < model.graph.outputs.size()
                                 ? ir::Value(as_declared(read.tensor(), model.graph.outputs[i]))
                                 : read;
      const std::string d = compare((*got)[i], want);
      if (!d.empty()) return "output " + std::to_string(i) + ": " + d;
    }
  }
  return {};
}

// True when every node's op has a kernel and every graph input and output is a tensor, a
// sequence or an optional (not a map or a sparse tensor).
bool claimed(const ir::Model& model) {
  for (const auto* list : {&model.graph.inputs, &model.graph.outputs}) {
    for (const auto& v : *list) {
      const std::string kind = v.type_string();
      if (!v.is_tensor() && kind != "sequence" && kind != "optional") return false;
    }
  }
  return exec::unsupported_ops(model).empty();
}

TEST(NodeSuite, ClaimedOpsPassOrAreExpectedFailures) {
  const fs::path root = ONNX_NODE_TEST_DIR;
  if (!fs::is_directory(root)) GTEST_SKIP() << "libonnx-testdata is not installed at " << root;
  const auto expected = expected_failures();
  size_t total = 0, claimed_count = 0, passed = 0;
  std::set<std::string> seen;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root)) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    if (!fs::exists(dir / "model.onnx")) continue;
    ++total;
    const std::string name = dir.filename().string();
    auto model = io::load_model((dir / "model.onnx").string());
    if (!model.ok() || !claimed(*model)) continue;
    ++claimed_count;
    seen.insert(name);
    const std::string why = run_case(dir, *model);
    const bool listed = expected.count(name) > 0;
    if (why.empty()) {
      ++passed;
      EXPECT_FALSE(listed) << name << " passes now: remove it from expected_failures.txt";
    } else {
      EXPECT_TRUE(listed) << name << ": " << why;
    }
  }
  for (const auto& [name, reason] : expected) {
    EXPECT_TRUE(seen.count(name)) << name << " is listed as an expected failure but not claimed";
  }
  std::printf("node suite: %zu passed / %zu claimed / %zu total\n", passed, claimed_count, total);
}

}  // namespace
}  // namespace compressor
