// prune-channels{reconstruct=true}: the layers that lose input channels are re-fitted by least
// squares on calibration samples. The expected weights are computed here independently: the
// consumer's input is captured from the executor on the same samples, its rows (im2col for a
// Conv) are built in the test, and the normal equations of min ||X W^T - X_S W_S^T|| are solved
// directly.
#include <gtest/gtest.h>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <sstream>

#include "compressor/exec/executor.h"
#include "compressor/io/samples.h"
#include "compressor/pass/pipeline.h"
#include "compressor/pass/registry.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;
using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::string init(const std::string& name, const ir::Dims& dims, const std::vector<float>& v) {
  std::ostringstream out;
  out.precision(9);
  out << "float[";
  for (size_t i = 0; i < dims.size(); ++i) out << (i ? ", " : "") << dims[i];
  out << "] " << name << " = {";
  for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << v[i];
  out << '}';
  return out.str();
}

std::string rand_init(const std::string& name, const ir::Dims& dims, uint64_t seed) {
  return init(name, dims, random_floats(size_t(ir::element_count(dims)), seed, -1.0f, 1.0f));
}

std::string model_text(const std::string& signature, const std::vector<std::string>& inits,
                       const std::string& body) {
  std::ostringstream out;
  out << "<ir_version: 8, opset_import: [\"\" : 13]>\n" << signature << "\n<";
  for (size_t i = 0; i < inits.size(); ++i) out << (i ? ",\n " : "") << inits[i];
  out << ">\n{\n" << body << "\n}";
  return out.str();
}

ir::Model load(const std::string& text) {
  auto m = model_from_text(text);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : ir::Model();
}

io::SampleSet open_samples(const ir::Model& model, size_t count, uint64_t seed = 3) {
  io::SampleOptions o;
  o.count = count;
  o.seed = seed;
  o.random_range = std::make_pair(-2.0, 2.0);
  auto s = io::SampleSet::open(model, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

// Runs prune-channels with `options` through a pipeline fed with `samples` (none: nullptr).
StatusOr<pass::PassResult> prune(ir::Model& model, const io::SampleSet* samples,
                                 const pass::PassOptions& options) {
  COMPRESSOR_ASSIGN_OR_RETURN(auto p,
                              pass::PassRegistry::builtin().create("prune-channels", options));
  pass::PassPipeline pipeline;
  pipeline.add(std::move(p), "");
  if (samples) pipeline.set_calibration_samples(samples, {});
  pass::PassContext ctx;
  COMPRESSOR_ASSIGN_OR_RETURN(auto records, pipeline.run(model, ctx));
  return records.at(0).result;
}

std::vector<float> run_one(const ir::Model& model, const ir::Tensor& x) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  if (!ex.ok()) return {};
  auto out = (*ex)->run({{"X", x}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return {};
  return {(*out)[0].span<float>().begin(), (*out)[0].span<float>().end()};
}

const ir::Tensor& weight(const ir::Model& m, const std::string& name) {
  const ir::Initializer* i = m.graph.find_initializer(name);
  EXPECT_NE(i, nullptr) << name;
  static const ir::Tensor empty;
  return i ? i->tensor : empty;
}

// The values `name` takes on every sample of the original model.
std::vector<ir::Tensor> captured(const ir::Model& model, const io::SampleSet& samples,
                                 const std::string& name) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  EXPECT_TRUE(ex.ok()) << ex.status().message();
  std::vector<ir::Tensor> out;
  for (size_t i = 0; i < samples.size(); ++i) {
    auto sample = samples.get(i);
    EXPECT_TRUE(sample.ok());
    std::vector<exec::NamedTensor> in;
    for (auto& t : *sample) in.push_back({t.name, t.tensor});
    auto r =
        (*ex)->run(in, [&](const std::string&, const ir::Tensor& v) { out.push_back(v); }, {name});
    EXPECT_TRUE(r.ok()) << r.status().message();
  }
  return out;
}

// Rows of a [..., K] value (MatMul, Gemm input A).
void append_rows(const ir::Tensor& v, std::vector<std::vector<double>>& rows) {
  const int64_t k = v.dims().back();
  const auto s = v.span<float>();
  for (size_t r = 0; r < s.size() / size_t(k); ++r)
    rows.emplace_back(s.begin() + long(r * size_t(k)), s.begin() + long((r + 1) * size_t(k)));
}

// im2col rows of an [N, C, H, W] value for a k x k kernel, stride 1, padding p on every side,
// in [c][kh][kw] order.
void append_im2col(const ir::Tensor& v, int64_t k, int64_t p,
                   std::vector<std::vector<double>>& rows) {
  const auto& d = v.dims();
  const int64_t n = d[0], c = d[1], h = d[2], w = d[3];
  const auto x = v.span<float>();
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t oy = 0; oy < h + 2 * p - k + 1; ++oy) {
      for (int64_t ox = 0; ox < w + 2 * p - k + 1; ++ox) {
        std::vector<double> row;
        for (int64_t ch = 0; ch < c; ++ch) {
          for (int64_t ky = 0; ky < k; ++ky) {
            for (int64_t kx = 0; kx < k; ++kx) {
              const int64_t y = oy + ky - p, xx = ox + kx - p;
              row.push_back(y < 0 || y >= h || xx < 0 || xx >= w
                                ? 0.0
                                : x[size_t(((b * c + ch) * h + y) * w + xx)]);
            }
          }
        }
        rows.push_back(std::move(row));
      }
    }
  }
}

// Least-squares weights (out x |S|) for rows X (n x K), weights W (out x K) and kept columns S,
// from the normal equations (X_S^T X_S) W_S^T = X_S^T X W^T.
Eigen::MatrixXd least_squares(const std::vector<std::vector<double>>& rows,
                              const Eigen::MatrixXd& w, const std::vector<int64_t>& kept) {
  const auto n = Eigen::Index(rows.size()), k = w.cols(), s = Eigen::Index(kept.size());
  Eigen::MatrixXd x(n, k), xs(n, s);
  for (Eigen::Index r = 0; r < n; ++r) {
    for (Eigen::Index j = 0; j < k; ++j) x(r, j) = rows[size_t(r)][size_t(j)];
    for (Eigen::Index j = 0; j < s; ++j) xs(r, j) = x(r, kept[size_t(j)]);
  }
  const Eigen::MatrixXd y = x * w.transpose();
  const Eigen::MatrixXd normal = xs.transpose() * xs;
  return normal.ldlt().solve(xs.transpose() * y).transpose();
}

Eigen::MatrixXd as_matrix(const ir::Tensor& t, int64_t rows, int64_t cols, bool transposed) {
  Eigen::Map<const RowMajorF> m(t.span<float>().data(), transposed ? cols : rows,
                                transposed ? rows : cols);
  if (transposed) return m.transpose().cast<double>();
  return m.cast<double>();
}

// Expects `actual` (out x |S|) to match `expected` within a relative tolerance, and to differ
// from the original weight's kept columns (the re-fit changed something).
void expect_close(const Eigen::MatrixXd& expected, const Eigen::MatrixXd& actual,
                  const Eigen::MatrixXd& original, const std::vector<int64_t>& kept) {
  ASSERT_EQ(expected.rows(), actual.rows());
  ASSERT_EQ(expected.cols(), actual.cols());
  const double scale = expected.cwiseAbs().maxCoeff();
  Eigen::MatrixXd sliced(original.rows(), Eigen::Index(kept.size()));
  for (size_t j = 0; j < kept.size(); ++j) sliced.col(Eigen::Index(j)) = original.col(kept[j]);
  EXPECT_GT((sliced - actual).cwiseAbs().maxCoeff(), 1e-2 * scale);
  EXPECT_LT((expected - actual).cwiseAbs().maxCoeff(), 1e-3 * scale) << "expected\n"
                                                                     << expected << "\nactual\n"
                                                                     << actual;
}

const pass::ChangedNode* change_of(const pass::PassResult& r, const std::string& node) {
  for (const auto& c : r.changes) {
    if (c.node == node) return &c;
  }
  return nullptr;
}

// Conv1 (4 channels, channel 3 = 0.3 x channel 1, bias too) -> Relu -> Conv2 3x3 pad 1.
std::string dependent_conv_model() {
  auto w1 = random_floats(4 * 3 * 9, 21, -1.0f, 1.0f);
  auto b1 = random_floats(4, 22, -0.5f, 0.5f);
  for (size_t i = 0; i < 27; ++i) w1[3 * 27 + i] = 0.3f * w1[1 * 27 + i];
  b1[3] = 0.3f * b1[1];
  return model_text(
      "g (float[1, 3, 6, 6] X) => (float[1, 5, 6, 6] Y)",
      {init("W1", {4, 3, 3, 3}, w1), init("B1", {4}, b1), rand_init("W2", {5, 4, 3, 3}, 23)},
      "C1 = Conv <pads = [1, 1, 1, 1]> (X, W1, B1)\n"
      "R = Relu(C1)\n"
      "Y = Conv <pads = [1, 1, 1, 1]> (R, W2)");
}

TEST(PruneReconstruct, DependentChannelIsRecoveredExactly) {
  const ir::Model original = load(dependent_conv_model());
  const io::SampleSet samples = open_samples(original, 4);
  ir::Model plain = original, refit = original;
  auto r0 = prune(plain, &samples, {{"ratio", "0.25"}});
  ASSERT_TRUE(r0.ok()) << r0.status().message();
  auto r1 = prune(refit, &samples, {{"ratio", "0.25"}, {"reconstruct", "true"}});
  ASSERT_TRUE(r1.ok()) << r1.status().message();
  // Channel 3 (the smallest l1 norm) is the one removed: Conv1 keeps rows 0..2.
  const auto w1 = weight(original, "W1").span<float>();
  const auto w1p = weight(refit, "W1").span<float>();
  ASSERT_EQ(w1p.size(), size_t(3 * 27));
  for (size_t i = 0; i < w1p.size(); ++i) ASSERT_EQ(w1p[i], w1[i]);
  ASSERT_EQ(weight(refit, "W2").dims(), (ir::Dims{5, 3, 3, 3}));

  for (uint64_t seed = 40; seed < 43; ++seed) {
    const auto x = float_tensor({1, 3, 6, 6}, random_floats(108, seed, -2.0f, 2.0f));
    const auto expected = run_one(original, x);
    EXPECT_LT(max_rel_diff(expected, run_one(refit, x)), 1e-4) << "seed " << seed;
    EXPECT_GT(max_rel_diff(expected, run_one(plain, x)), 1e-2) << "seed " << seed;
  }
  const pass::ChangedNode* c = change_of(*r1, "Y");
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->detail.find("re-fitted on 4 samples (144 rows): output error "), std::string::npos)
      << c->detail;
  bool noted = false;
  for (const auto& n : r1->notes) {
    noted = noted || n.find(
                         "reconstruct: re-fitted 1 layer of 1 losing inputs by least squares "
                         "on 4 samples; mean output error ") == 0;
  }
  EXPECT_TRUE(noted);
  // Without reconstruct the report says nothing about it.
  for (const auto& n : r0->notes) EXPECT_EQ(n.find("reconstruct"), std::string::npos);
}

TEST(PruneReconstruct, ConvWeightsAreTheLeastSquaresSolution) {
  const std::string text =
      model_text("g (float[2, 3, 5, 5] X) => (float[2, 4, 5, 5] Y)",
                 {rand_init("W1", {6, 3, 3, 3}, 31), rand_init("W2", {4, 6, 3, 3}, 32)},
                 "C1 = Conv <pads = [1, 1, 1, 1]> (X, W1)\n"
                 "R = Relu(C1)\n"
                 "Y = Conv <pads = [1, 1, 1, 1]> (R, W2)");
  const ir::Model original = load(text);
  const io::SampleSet samples = open_samples(original, 3);
  ir::Model m = original;
  auto r = prune(m, &samples, {{"ratio", "0.34"}, {"reconstruct", "true"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // Which channels Conv1 kept: its rows that survive.
  const auto w1 = weight(original, "W1").span<float>();
  const auto w1p = weight(m, "W1").span<float>();
  std::vector<int64_t> kept_channels;
  for (size_t q = 0; q < w1p.size() / 27; ++q) {
    for (int64_t c = 0; c < 6; ++c) {
      if (std::equal(w1p.begin() + long(q * 27), w1p.begin() + long(q * 27 + 27),
                     w1.begin() + c * 27)) {
        kept_channels.push_back(c);
      }
    }
  }
  ASSERT_EQ(kept_channels.size(), 4u);
  std::vector<int64_t> kept;
  for (int64_t c : kept_channels) {
    for (int64_t j = 0; j < 9; ++j) kept.push_back(c * 9 + j);
  }
  std::vector<std::vector<double>> rows;
  for (const auto& v : captured(original, samples, "R")) append_im2col(v, 3, 1, rows);
  ASSERT_EQ(rows.size(), 3u * 2 * 25);
  const Eigen::MatrixXd w2 = as_matrix(weight(original, "W2"), 4, 54, false);
  expect_close(least_squares(rows, w2, kept), as_matrix(weight(m, "W2"), 4, 36, false), w2, kept);
  // The reported errors: plain slicing loses more than the re-fit.
  const pass::ChangedNode* c = change_of(*r, "Y");
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->detail.find("re-fitted on 3 samples (150 rows)"), std::string::npos) << c->detail;
}

// Gemm/MatMul consumers: X -> producer -> Relu -> consumer; the consumer's re-fitted weight
// against the independent solution.
struct MatrixCase {
  std::string name;
  std::string text;
  std::string consumer_input;  ///< The consumer's input value (rows of the fit).
  std::string consumer_weight;
  int64_t out = 0, k = 0;
  bool transposed = false;  ///< The weight is stored [K, out].
  int64_t block = 1;        ///< Features per channel (Flatten of a Conv output).
  std::string producer_weight;
  int64_t producer_channels = 0;
  bool producer_rows = false;  ///< Producer channels are the rows of its weight (else columns).
};

std::vector<MatrixCase> matrix_cases() {
  std::vector<MatrixCase> cases;
  cases.push_back({"GemmTransB0",
                   model_text("g (float[12, 6] X) => (float[12, 3] Y)",
                              {rand_init("W1", {6, 5}, 41), rand_init("B1", {5}, 42),
                               rand_init("W2", {5, 3}, 43), rand_init("B2", {3}, 44)},
                              "H = Gemm(X, W1, B1)\nR = Relu(H)\nY = Gemm(R, W2, B2)"),
                   "R", "W2", 3, 5, true, 1, "W1", 5, false});
  cases.push_back({"GemmTransB1",
                   model_text("g (float[12, 6] X) => (float[12, 3] Y)",
                              {rand_init("W1", {5, 6}, 51), rand_init("W2", {3, 5}, 53)},
                              "H = Gemm <transB = 1> (X, W1)\nR = Relu(H)\n"
                              "Y = Gemm <transB = 1> (R, W2)"),
                   "R", "W2", 3, 5, false, 1, "W1", 5, true});
  cases.push_back({"MatMul",
                   model_text("g (float[2, 6, 6] X) => (float[2, 6, 3] Y)",
                              {rand_init("W1", {6, 5}, 61), rand_init("W2", {5, 3}, 63)},
                              "H = MatMul(X, W1)\nR = Relu(H)\nY = MatMul(R, W2)"),
                   "R", "W2", 3, 5, true, 1, "W1", 5, false});
  cases.push_back({"FlattenGemm",
                   model_text("g (float[16, 2, 4, 4] X) => (float[16, 3] Y)",
                              {rand_init("W1", {5, 2, 3, 3}, 71), rand_init("W2", {3, 80}, 73),
                               rand_init("B2", {3}, 74)},
                              "C = Conv <pads = [1, 1, 1, 1]> (X, W1)\nR = Relu(C)\n"
                              "F = Flatten(R)\nY = Gemm <transB = 1> (F, W2, B2)"),
                   "F", "W2", 3, 80, false, 16, "W1", 5, true});
  return cases;
}

class PruneReconstructMatrix : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(PruneReconstructMatrix, WeightsAreTheLeastSquaresSolution) {
  const MatrixCase& mc = GetParam();
  const ir::Model original = load(mc.text);
  const io::SampleSet samples = open_samples(original, 6);
  ir::Model m = original;
  auto r = prune(m, &samples, {{"ratio", "0.4"}, {"reconstruct", "true"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // Kept producer channels: compare the producer's surviving channel slices with the original.
  const ir::Tensor& p0 = weight(original, mc.producer_weight);
  const ir::Tensor& p1 = weight(m, mc.producer_weight);
  const int64_t per = p0.numel() / mc.producer_channels;
  const int64_t kept_n = p1.numel() / per;
  ASSERT_EQ(kept_n, 3);
  auto slice = [&](const ir::Tensor& t, int64_t channels, int64_t c) {
    std::vector<float> v;
    const auto s = t.span<float>();
    for (int64_t j = 0; j < per; ++j) {
      v.push_back(mc.producer_rows ? s[size_t(c * per + j)] : s[size_t(j * channels + c)]);
    }
    return v;
  };
  std::vector<int64_t> kept;
  for (int64_t q = 0; q < kept_n; ++q) {
    for (int64_t c = 0; c < mc.producer_channels; ++c) {
      if (slice(p1, kept_n, q) == slice(p0, mc.producer_channels, c)) {
        for (int64_t b = 0; b < mc.block; ++b) kept.push_back(c * mc.block + b);
      }
    }
  }
  ASSERT_EQ(int64_t(kept.size()), 3 * mc.block);
  std::vector<std::vector<double>> rows;
  for (const auto& v : captured(original, samples, mc.consumer_input)) append_rows(v, rows);
  const Eigen::MatrixXd w =
      as_matrix(weight(original, mc.consumer_weight), mc.out, mc.k, mc.transposed);
  expect_close(
      least_squares(rows, w, kept),
      as_matrix(weight(m, mc.consumer_weight), mc.out, int64_t(kept.size()), mc.transposed), w,
      kept);
  const pass::ChangedNode* c = change_of(*r, "Y");
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->detail.find("re-fitted on 6 samples"), std::string::npos) << c->detail;
}

INSTANTIATE_TEST_SUITE_P(Consumers, PruneReconstructMatrix, ::testing::ValuesIn(matrix_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(PruneReconstruct, NeedsSamples) {
  const ir::Model original = load(dependent_conv_model());
  // Through a pipeline without samples or table.
  ir::Model a = original;
  auto r = prune(a, nullptr, {{"ratio", "0.25"}, {"reconstruct", "true"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("needs calibration"), std::string::npos)
      << r.status().message();
  // Run directly without calibration: the layer is named.
  ir::Model b = original;
  auto direct = run_pass(b, "prune-channels", {{"ratio", "0.25"}, {"reconstruct", "true"}});
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(direct.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(direct.status().message().find(
                "prune-channels: reconstruct: layer 'Y' has no input Gram statistics"),
            std::string::npos)
      << direct.status().message();
  // A calibration table without samples: Grams are not stored in tables.
  ir::Model c = original;
  auto p = pass::PassRegistry::builtin().create("prune-channels",
                                                {{"ratio", "0.25"}, {"reconstruct", "true"}});
  ASSERT_TRUE(p.ok());
  pass::PassPipeline pipeline;
  pipeline.add(std::move(p).value(), "");
  pipeline.set_calibration_table(pass::CalibrationTable{});
  pass::PassContext ctx;
  auto t = pipeline.run(c, ctx);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("needs calibration samples"), std::string::npos)
      << t.status().message();
  // A bad value.
  auto bad = pass::PassRegistry::builtin().create("prune-channels", {{"reconstruct", "maybe"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("reconstruct"), std::string::npos);
}

TEST(PruneReconstruct, RequestsGramsOnlyWhenAsked) {
  const ir::Model original = load(dependent_conv_model());
  auto off = pass::PassRegistry::builtin().create("prune-channels", {});
  auto on = pass::PassRegistry::builtin().create("prune-channels", {{"reconstruct", "true"}});
  ASSERT_TRUE(off.ok() && on.ok());
  EXPECT_TRUE((*off)->gram_statistics(original).empty());
  const auto grams = (*on)->gram_statistics(original);
  ASSERT_EQ(grams.size(), 1u);
  EXPECT_EQ(grams[0].layer, "Y");
}

TEST(PruneReconstruct, Deterministic) {
  const ir::Model original = load(dependent_conv_model());
  const io::SampleSet samples = open_samples(original, 3, 9);
  std::string first;
  for (int run = 0; run < 2; ++run) {
    ir::Model m = original;
    auto r = prune(m, &samples, {{"ratio", "0.5"}, {"reconstruct", "true"}});
    ASSERT_TRUE(r.ok()) << r.status().message();
    const std::string bytes = save_to_bytes(m);
    if (run == 0) {
      first = bytes;
    } else {
      EXPECT_EQ(first, bytes);
    }
  }
}

}  // namespace
}  // namespace compressor
