// Layer-input Gram statistics (GramRequest, CalibrationTable::grams): calibrate() against Grams
// the test computes from the samples with explicit loops (MatMul with batch dimensions, Gemm with
// transA, Conv with pads, auto_pad, strides, dilations and groups in 1-D, 2-D and 3-D), errors
// naming the layer, and the pipeline handing them to a pass (and refusing a table alone).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "compressor/exec/executor.h"
#include "compressor/io/samples.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/pipeline.h"
#include "testing/test_models.h"

namespace compressor::pass {
namespace {

using testing::model_from_text;
using testing::random_floats;

/// "{v0, v1, ...}" with n deterministic values.
std::string literal(size_t n, uint64_t seed) {
  std::string s = "{";
  for (float v : random_floats(n, seed)) s += (s.size() > 1 ? ", " : "") + std::to_string(v);
  return s + "}";
}

ir::Model load(const std::string& text) {
  auto m = model_from_text(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : ir::Model();
}

io::SampleSet open_samples(const ir::Model& model, size_t count) {
  io::SampleOptions o;
  o.count = count;
  o.seed = 5;
  o.random_range = std::make_pair(-2.0, 2.0);
  auto s = io::SampleSet::open(model, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

/// The values of input `name` in every sample.
std::vector<ir::Tensor> inputs_named(const io::SampleSet& samples, const std::string& name) {
  std::vector<ir::Tensor> out;
  for (size_t i = 0; i < samples.size(); ++i) {
    auto sample = samples.get(i);
    EXPECT_TRUE(sample.ok());
    for (auto& t : *sample) {
      if (t.name == name) out.push_back(t.tensor);
    }
  }
  return out;
}

/// Adds x x^T to h (k x k, row-major).
void add_outer(const std::vector<double>& x, std::vector<double>& h) {
  const size_t k = x.size();
  for (size_t a = 0; a < k; ++a) {
    for (size_t b = 0; b < k; ++b) h[a * k + b] += x[a] * x[b];
  }
}

void expect_gram(const LayerGram* got, size_t groups, size_t size, uint64_t rows,
                 const std::vector<double>& want, const std::string& what) {
  ASSERT_NE(got, nullptr) << what;
  EXPECT_EQ(got->groups, groups) << what;
  EXPECT_EQ(got->size, size) << what;
  EXPECT_EQ(got->rows, rows) << what;
  ASSERT_EQ(got->data.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got->data[i], want[i], 1e-9 * std::max(1.0, std::fabs(want[i])))
        << what << " entry " << i;
  }
}

TEST(Gram, MatMulRowsOverBatchDimsAndGemmRowsOfATransposed) {
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 3, 5] x, float[5, 3] a) => (float[2, 3, 4] y, float[3, 4] z, float[3, 4] u)
    <float[5, 4] w = )" + literal(20, 1) +
                           R"(, float[5, 4] v = )" + literal(20, 2) + R"(, float[4, 5] t = )" +
                           literal(20, 3) + R"(>
    {
      y = MatMul(x, w)
      z = Gemm<transA = 1>(a, v)
      r = Relu(a)
      u = Gemm<transA = 1, transB = 1>(r, t)
    })";
  const ir::Model model = load(text);
  const io::SampleSet samples = open_samples(model, 3);
  auto table = calibrate(model, samples, {}, {}, {}, {{"y"}, {"z"}, {"u"}, {"y"}});
  ASSERT_TRUE(table.ok()) << table.status().message();
  EXPECT_EQ(table->grams.size(), 3u);
  EXPECT_TRUE(table->ranges.empty());

  std::vector<double> hy(25, 0.0), hz(25, 0.0), hu(25, 0.0);
  for (const ir::Tensor& x : inputs_named(samples, "x")) {
    const auto v = x.span<float>();
    for (size_t row = 0; row < 6; ++row)
      add_outer({v.begin() + row * 5, v.begin() + row * 5 + 5}, hy);
  }
  for (const ir::Tensor& a : inputs_named(samples, "a")) {
    const auto v = a.span<float>();
    for (size_t col = 0; col < 3; ++col) {  // the rows of A^T are the columns of A [5, 3]
      std::vector<double> x(5), r(5);
      for (size_t k = 0; k < 5; ++k) {
        x[k] = v[k * 3 + col];
        r[k] = std::max(0.0, x[k]);
      }
      add_outer(x, hz);
      add_outer(r, hu);
    }
  }
  expect_gram(table->find_gram("y"), 1, 5, 18, hy, "MatMul");
  expect_gram(table->find_gram("z"), 1, 5, 9, hz, "Gemm transA");
  expect_gram(table->find_gram("u"), 1, 5, 9, hu, "Gemm on a computed input");
  EXPECT_EQ(table->find_gram("r"), nullptr);
  // Grams stay out of the saved table.
  EXPECT_EQ(table->to_json().find("gram"), std::string::npos);
  CalibrationTable merged;
  merged.merge(*table);
  EXPECT_EQ(merged.grams.size(), 3u);
}

/// A Conv's geometry as the ONNX spec defines it, for the oracle.
struct ConvCase {
  std::string label;
  std::string input;
  ir::Dims x_dims;
  ir::Dims w_dims;
  int64_t group = 1;
  std::vector<int64_t> pads, strides, dilations;
  std::string auto_pad;
};

/// sum over samples, batch items and output positions of the im2col row of each group.
std::vector<double> conv_gram(const ConvCase& c, const std::vector<ir::Tensor>& inputs, bool relu,
                              uint64_t* rows) {
  const size_t nd = c.x_dims.size() - 2;
  const int64_t cg = c.w_dims[1];
  std::vector<int64_t> k(c.w_dims.begin() + 2, c.w_dims.end()), out(nd), pb(nd), s(nd), d(nd);
  int64_t ksize = 1, positions = 1;
  for (size_t i = 0; i < nd; ++i) {
    ksize *= k[i];
    const int64_t in = c.x_dims[2 + i];
    s[i] = c.strides.empty() ? 1 : c.strides[i];
    d[i] = c.dilations.empty() ? 1 : c.dilations[i];
    const int64_t eff = (k[i] - 1) * d[i] + 1;
    if (c.auto_pad.empty()) {
      pb[i] = c.pads.empty() ? 0 : c.pads[i];
      const int64_t pe = c.pads.empty() ? 0 : c.pads[i + nd];
      out[i] = (in + pb[i] + pe - eff) / s[i] + 1;
    } else {
      out[i] = (in + s[i] - 1) / s[i];
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * s[i] + eff - in);
      pb[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    }
    positions *= out[i];
  }
  const size_t kk = static_cast<size_t>(cg * ksize);
  std::vector<double> h(static_cast<size_t>(c.group) * kk * kk, 0.0);
  *rows = 0;
  for (const ir::Tensor& x : inputs) {
    const auto v = x.span<float>();
    const auto at = [&](int64_t b, int64_t ch, const std::vector<int64_t>& idx) -> double {
      int64_t flat = b * c.x_dims[1] + ch;
      for (size_t i = 0; i < nd; ++i) {
        if (idx[i] < 0 || idx[i] >= c.x_dims[2 + i]) return 0.0;
        flat = flat * c.x_dims[2 + i] + idx[i];
      }
      const double value = v[static_cast<size_t>(flat)];
      return relu ? std::max(0.0, value) : value;
    };
    for (int64_t b = 0; b < c.x_dims[0]; ++b) {
      for (int64_t p = 0; p < positions; ++p) {
        std::vector<int64_t> o(nd);
        for (size_t i = nd, rest = static_cast<size_t>(p); i-- > 0;) {
          o[i] = static_cast<int64_t>(rest) % out[i];
          rest /= static_cast<size_t>(out[i]);
        }
        for (int64_t g = 0; g < c.group; ++g) {
          std::vector<double> row;
          for (int64_t ch = 0; ch < cg; ++ch) {
            for (int64_t t = 0; t < ksize; ++t) {  // kernel offset, last axis fastest
              std::vector<int64_t> idx(nd);
              for (size_t i = nd, rest = static_cast<size_t>(t); i-- > 0;) {
                const int64_t ki = static_cast<int64_t>(rest) % k[i];
                rest /= static_cast<size_t>(k[i]);
                idx[i] = o[i] * s[i] - pb[i] + ki * d[i];
              }
              row.push_back(at(b, g * cg + ch, idx));
            }
          }
          std::vector<double> hg(kk * kk, 0.0);
          add_outer(row, hg);
          for (size_t i = 0; i < hg.size(); ++i) h[static_cast<size_t>(g) * kk * kk + i] += hg[i];
        }
      }
      *rows += static_cast<uint64_t>(positions);
    }
  }
  return h;
}

std::string ints(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

TEST(Gram, ConvIm2colRowsWithPadsStridesDilationsGroupsAndAutoPad) {
  const std::vector<ConvCase> cases = {
      {"c1", "x", {2, 4, 7, 6}, {6, 2, 3, 2}, 2, {1, 0, 2, 1}, {2, 1}, {1, 2}, ""},
      {"c2", "x", {2, 4, 7, 6}, {3, 4, 2, 3}, 1, {}, {2, 2}, {}, "SAME_UPPER"},
      {"c3", "x1", {2, 3, 9}, {2, 3, 3}, 1, {}, {2}, {2}, "SAME_LOWER"},
      {"c4", "x3", {1, 2, 4, 5, 3}, {2, 2, 2, 3, 2}, 1, {1, 0, 1, 0, 1, 1}, {1, 2, 1}, {}, ""},
      {"c5", "r", {2, 4, 7, 6}, {4, 1, 3, 3}, 4, {1, 1, 1, 1}, {}, {}, ""},
  };
  std::string inits, nodes;
  for (size_t i = 0; i < cases.size(); ++i) {
    const ConvCase& c = cases[i];
    inits += (i ? ", " : "") + std::string("float") + ints(c.w_dims) + " w" + c.label + " = " +
             literal(static_cast<size_t>(ir::element_count(c.w_dims)), 10 + i);
    std::string attrs = "group = " + std::to_string(c.group);
    if (!c.pads.empty()) attrs += ", pads = " + ints(c.pads);
    if (!c.strides.empty()) attrs += ", strides = " + ints(c.strides);
    if (!c.dilations.empty()) attrs += ", dilations = " + ints(c.dilations);
    if (!c.auto_pad.empty()) attrs += ", auto_pad = \"" + c.auto_pad + "\"";
    nodes += "  " + c.label + " = Conv<" + attrs + ">(" + c.input + ", w" + c.label + ")\n";
  }
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 4, 7, 6] x, float[2, 3, 9] x1, float[1, 2, 4, 5, 3] x3)
      => (float[a, b, c, d] c1, float[e, f, g, h] c2, float[i, j, k] c3,
          float[l, m, n, o, p] c4, float[q, r, s, t] c5)
    <)" + inits + R"(>
    {
      r = Relu(x)
    )" + nodes + "}";
  const ir::Model model = load(text);
  const io::SampleSet samples = open_samples(model, 2);
  std::vector<GramRequest> requests;
  for (const auto& c : cases) requests.push_back({c.label});
  auto table = calibrate(model, samples, {}, {}, {}, requests);
  ASSERT_TRUE(table.ok()) << table.status().message();
  // The oracle's output positions are the ones the executor computes.
  auto executor = exec::Executor::create(model, {.threads = 1});
  ASSERT_TRUE(executor.ok());
  auto first = samples.get(0);
  ASSERT_TRUE(first.ok());
  std::vector<exec::NamedTensor> feed;
  for (auto& t : *first) feed.push_back({t.name, t.tensor});
  auto outputs = (*executor)->run(feed);
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  for (size_t i = 0; i < cases.size(); ++i) {
    const ConvCase& c = cases[i];
    const bool relu = c.input == "r";
    uint64_t rows = 0;
    const auto want = conv_gram(c, inputs_named(samples, relu ? "x" : c.input), relu, &rows);
    const ir::Dims& y = (*outputs)[i].dims();
    EXPECT_EQ(rows, samples.size() * static_cast<uint64_t>(ir::element_count(y) / y[1])) << c.label;
    const size_t k = static_cast<size_t>(ir::element_count(c.w_dims) / c.w_dims[0]);
    expect_gram(table->find_gram(c.label), static_cast<size_t>(c.group), k, rows, want, c.label);
  }
}

TEST(Gram, ErrorsNameTheLayer) {
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 4] x, float[4, 2] b) => (float[3, 2] y, float[3, 4] r, float[3, 2] z)
    <float[4, 2] w = )" + literal(8, 4) +
                           R"(>
    {
      y = MatMul(x, b)
      r = Relu(x)
      z = MatMul(x, w)
    })";
  const ir::Model model = load(text);
  const io::SampleSet samples = open_samples(model, 1);
  const auto message = [&](const std::string& layer) {
    auto t = calibrate(model, samples, {}, {}, {}, {{layer}});
    EXPECT_FALSE(t.ok()) << layer;
    return t.ok() ? std::string() : t.status().message();
  };
  EXPECT_NE(message("nope").find("layer 'nope': no node"), std::string::npos);
  EXPECT_NE(message("y").find("layer 'y': its weight 'b' is not a constant"), std::string::npos);
  EXPECT_NE(message("r").find("layer 'r': Relu is not supported"), std::string::npos);
  EXPECT_TRUE(calibrate(model, samples, {}, {}, {}, {{"z"}}).ok());
}

/// A pass that asks for the Gram of one layer and checks that it has it.
class GramUser : public Pass {
 public:
  explicit GramUser(bool* saw) : saw_(saw) {}
  const PassInfo& info() const override {
    static const PassInfo info{"gram-user", "asks for a Gram", {}};
    return info;
  }
  StatusOr<PassResult> run(ir::Model&, PassContext& ctx) override {
    *saw_ = ctx.calibration() != nullptr && ctx.calibration()->find_gram("z") != nullptr &&
            ctx.calibration()->find_gram("z")->rows == 6;
    return PassResult{};
  }
  std::vector<GramRequest> gram_statistics(const ir::Model&) const override { return {{"z"}}; }
  std::vector<std::string> calibration_tensors(const ir::Model&) const override { return {"z"}; }

 private:
  bool* saw_;
};

TEST(Gram, PipelineGathersThemFromSamplesAndRefusesATableAlone) {
  const std::string text = R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 4] x) => (float[3, 2] z)
    <float[4, 2] w = )" + literal(8, 4) +
                           R"(>
    {
      z = MatMul(x, w)
    })";
  const ir::Model original = load(text);
  const io::SampleSet samples = open_samples(original, 2);

  bool saw = false;
  PassPipeline with_samples;
  with_samples.add(std::make_unique<GramUser>(&saw));
  with_samples.set_calibration_samples(&samples, {});
  ir::Model a = original;
  PassContext ctx;
  ASSERT_TRUE(with_samples.run(a, ctx).ok());
  EXPECT_TRUE(saw);
  // The table kept for saving has the range but not the Gram.
  ASSERT_NE(with_samples.calibration_table(), nullptr);
  EXPECT_NE(with_samples.calibration_table()->find("z"), nullptr);
  EXPECT_TRUE(with_samples.calibration_table()->grams.empty());
  const CalibrationTable saved = *with_samples.calibration_table();

  saw = false;
  PassPipeline table_only;
  table_only.add(std::make_unique<GramUser>(&saw));
  table_only.set_calibration_table(saved);
  ir::Model b = original;
  auto refused = table_only.run(b, ctx);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("pass 'gram-user' needs calibration samples"),
            std::string::npos)
      << refused.status().message();
  EXPECT_FALSE(saw);

  // A table and samples: the table's ranges, Grams from the samples.
  PassPipeline both;
  both.add(std::make_unique<GramUser>(&saw));
  both.set_calibration_table(saved);
  both.set_calibration_samples(&samples, {});
  ir::Model c = original;
  ASSERT_TRUE(both.run(c, ctx).ok());
  EXPECT_TRUE(saw);
}

}  // namespace
}  // namespace compressor::pass
