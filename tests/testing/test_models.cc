// Test helpers implementation.
#include "test_models.h"

#include <gtest/gtest.h>
#include <onnx/defs/parser.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace compressor::testing {

StatusOr<ir::Model> model_from_text(std::string_view text) {
  onnx::ModelProto proto;
  auto st = onnx::OnnxParser::Parse(proto, text.data());
  if (!st.IsOK()) return invalid_argument("test model does not parse: " + st.ErrorMessage());
  std::string bytes;
  proto.SerializeToString(&bytes);
  return io::load_model_from_bytes(bytes, ".", "test model");
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "compressor_test_XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  path_ = made ? made : tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string save_to_bytes(const ir::Model& model, bool check) {
  TempDir dir;
  io::SaveOptions options;
  options.check = check;
  auto saved = io::save_model(model, dir.file("m.onnx"), options);
  EXPECT_TRUE(saved.ok()) << saved.status().message();
  return saved.ok() ? read_file(dir.file("m.onnx")) : std::string();
}

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

ir::Tensor float_tensor(ir::Dims dims, std::vector<float> values) {
  return ir::Tensor::from_values<float>(std::move(dims), values);
}

size_t count_ops(const ir::Graph& graph, std::string_view op_type) {
  return static_cast<size_t>(std::count_if(graph.nodes().begin(), graph.nodes().end(),
                                           [&](const auto& n) { return n->op_type == op_type; }));
}

std::vector<float> conv2d_reference(const std::vector<float>& x, const ir::Dims& xd,
                                    const ir::Tensor& w, const std::vector<float>& bias,
                                    int64_t group, std::vector<int64_t> strides,
                                    std::vector<int64_t> pads, std::vector<int64_t> dilations,
                                    ir::Dims* y_dims) {
  const auto& wd = w.dims();
  const auto wv = w.span<float>();
  const int64_t n = xd[0], c = xd[1], h = xd[2], wi = xd[3];
  const int64_t m = wd[0], cg = wd[1], kh = wd[2], kw = wd[3];
  const int64_t oh = (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) / strides[0] + 1;
  const int64_t ow = (wi + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) / strides[1] + 1;
  const int64_t mg = m / group;
  (void)c;
  std::vector<float> y(static_cast<size_t>(n * m * oh * ow), 0.0f);
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t oc = 0; oc < m; ++oc) {
      const int64_t g = oc / mg;
      for (int64_t i = 0; i < oh; ++i) {
        for (int64_t j = 0; j < ow; ++j) {
          double acc = bias.empty() ? 0.0 : bias[oc];
          for (int64_t ic = 0; ic < cg; ++ic) {
            for (int64_t p = 0; p < kh; ++p) {
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t yy = i * strides[0] - pads[0] + p * dilations[0];
                const int64_t xx = j * strides[1] - pads[1] + q * dilations[1];
                if (yy < 0 || yy >= h || xx < 0 || xx >= wi) continue;
                const int64_t cin = g * cg + ic;
                acc += double(x[((b * xd[1] + cin) * h + yy) * wi + xx]) *
                       wv[((oc * cg + ic) * kh + p) * kw + q];
              }
            }
          }
          y[((b * m + oc) * oh + i) * ow + j] = static_cast<float>(acc);
        }
      }
    }
  }
  *y_dims = {n, m, oh, ow};
  return y;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double scale = 1.0, worst = 0.0;
  for (float v : a) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  }
  if (a.size() != b.size()) return INFINITY;
  return worst / scale;
}

std::string demo_model(const std::string& name) {
  return std::string(COMPRESSOR_SOURCE_DIR) + "/models/" + name + "/model.onnx";
}

}  // namespace compressor::testing

#include "compressor/pass/pass_context.h"
#include "compressor/pass/registry.h"

namespace compressor::testing {

StatusOr<pass::PassResult> run_pass(ir::Model& model, const std::string& name,
                                    const pass::PassOptions& options) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto p, pass::PassRegistry::builtin().create(name, options));
  pass::PassContext ctx;
  COMPRESSOR_ASSIGN_OR_RETURN(pass::PassResult result, p->run(model, ctx));
  COMPRESSOR_RETURN_IF_ERROR(model.graph.validate());
  COMPRESSOR_RETURN_IF_ERROR(io::check_model(model));
  return result;
}

}  // namespace compressor::testing

namespace compressor::testing {

std::vector<float> run_float_output(const ir::Model& model,
                                    const std::vector<exec::NamedTensor>& inputs, size_t output) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return {};
  auto out = (*ex)->run(inputs);
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok() || out->size() <= output) return {};
  auto s = (*out)[output].span<float>();
  return {s.begin(), s.end()};
}

StatusOr<pass::CalibrationTable> minmax_calibration(
    const ir::Model& model, const std::vector<std::vector<exec::NamedTensor>>& samples,
    const std::vector<std::string>& names) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(model, {.threads = 1}));
  std::map<std::string, pass::TensorRange> seen;
  std::set<std::string> produced;
  auto observe = [&](const std::string& name, const ir::Tensor& t) {
    produced.insert(name);
    if (t.dtype() != ir::DType::kFloat) return;
    auto& r = seen[name];
    for (float v : t.span<float>()) {
      r.min = std::min(r.min, double(v));
      r.max = std::max(r.max, double(v));
    }
  };
  for (const auto& sample : samples) {
    // Graph inputs are fed, not produced: read them from the sample itself.
    for (const auto& in : sample) {
      if (std::find(names.begin(), names.end(), in.name) != names.end()) {
        observe(in.name, in.tensor);
      }
    }
    COMPRESSOR_RETURN_IF_ERROR(ex->run(sample, observe, names).status());
  }
  pass::CalibrationTable table;
  table.method = "minmax";
  table.samples = samples.size();
  for (const auto& name : names) {
    if (!produced.count(name)) return invalid_argument("no run produced '" + name + "'");
    if (auto it = seen.find(name); it != seen.end()) table.ranges[name] = it->second;
  }
  return table;
}

StatusOr<pass::PassResult> run_pass_calibrated(ir::Model& model, const std::string& name,
                                               const pass::CalibrationTable& table,
                                               const pass::PassOptions& options) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto p, pass::PassRegistry::builtin().create(name, options));
  pass::PassContext ctx;
  ctx.set_calibration(&table);
  COMPRESSOR_ASSIGN_OR_RETURN(pass::PassResult result, p->run(model, ctx));
  COMPRESSOR_RETURN_IF_ERROR(model.graph.validate());
  COMPRESSOR_RETURN_IF_ERROR(io::check_model(model));
  return result;
}

}  // namespace compressor::testing
