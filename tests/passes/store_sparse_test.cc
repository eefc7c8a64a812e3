// store-sparse and sparse_initializer I/O: a tensor goes sparse exactly when its file gets
// smaller, the written SparseTensorProto holds the nonzeros at ascending INT64 linear indices,
// models holding sparse initializers load (linear or coordinate indices) and run, and the byte
// counts the pass decides on are those of the saved files.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>

#include "compressor/exec/executor.h"
#include "passes/layer_pass_testing.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

// Values with exactly `zeros` zeros out of n: every element not zeroed is in [0.5, 1.5), so
// none is zero by chance; the zeros are spread by a fixed stride.
std::vector<float> with_zeros(size_t n, size_t zeros, uint64_t seed) {
  std::vector<float> v = random_floats(n, seed, 0.5f, 1.5f);
  for (size_t k = 0, i = 0; k < zeros; ++k, i = (i + 7) % n) {
    while (v[i] == 0.0f) i = (i + 1) % n;
    v[i] = 0.0f;
  }
  return v;
}

// Gemm B [16, 32] (transB) and MatMul B [32, 8]; inputs A [2, 32].
std::string two_layers(const std::vector<float>& fc, const std::vector<float>& mm,
                       int ir_version = 8) {
  return "<ir_version: " + std::to_string(ir_version) + R"(, opset_import: ["" : 13]>
      g (float[2, 32] A) => (float[2, 16] F, float[2, 8] M)
      <float[16, 32] FW = )" +
         float_literal(fc) + ", float[32, 8] MW = " + float_literal(mm) + R"(>
      {
        F = Gemm <transB = 1> (A, FW)
        M = MatMul(A, MW)
      })";
}

std::string saved(const ir::Model& model, const TempDir& dir, const std::string& name) {
  const std::string path = dir.file(name);
  auto r = io::save_model(model, path);
  EXPECT_TRUE(r.ok()) << status_of(r);
  return path;
}

onnx::ModelProto parse_file(const std::string& path) {
  onnx::ModelProto p;
  EXPECT_TRUE(p.ParseFromString(read_file(path)));
  return p;
}

std::vector<ir::Tensor> run(const ir::Model& model, const std::vector<float>& a) {
  auto ex = exec::Executor::create(model);
  EXPECT_TRUE(ex.ok()) << status_of(ex);
  if (!ex.ok()) return {};
  auto out = (*ex)->run({{"A", float_tensor({2, 32}, a)}});
  EXPECT_TRUE(out.ok()) << status_of(out);
  return out.ok() ? *out : std::vector<ir::Tensor>{};
}

TEST(StoreSparse, SparseWeightIsWrittenAsNonzerosAtAscendingLinearIndices) {
  const std::vector<float> fc = with_zeros(16 * 32, 16 * 32 * 9 / 10, 1);  // 90% zeros
  const std::vector<float> mm = with_zeros(32 * 8, 32 * 8 / 2, 2);         // 50% zeros
  auto model = model_from_text(two_layers(fc, mm));
  ASSERT_OK(model);
  const ir::Model dense_model = *model;
  auto r = run_pass(*model, "store-sparse");
  ASSERT_OK(r);
  EXPECT_EQ(r->nodes_changed, 0u);  // the computation is unchanged
  EXPECT_TRUE(model->graph.find_initializer("FW")->sparse);
  EXPECT_FALSE(model->graph.find_initializer("MW")->sparse);
  ASSERT_EQ(r->changes.size(), 1u);
  EXPECT_EQ(r->changes[0].node, "FW");
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].node, "MW");
  EXPECT_NE(r->skipped[0].reason.find("50.0% zeros, sparse would be"), std::string::npos)
      << r->skipped[0].reason;
  EXPECT_NE(r->skipped[0].reason.find("larger; kept dense"), std::string::npos);

  TempDir dir;
  const std::string sparse_path = saved(*model, dir, "sparse.onnx");
  const std::string dense_path = saved(dense_model, dir, "dense.onnx");
  const onnx::ModelProto p = parse_file(sparse_path);
  ASSERT_EQ(p.graph().initializer_size(), 1);
  EXPECT_EQ(p.graph().initializer(0).name(), "MW");
  // A Constant node with the sparse tensor comes first (see store_sparse.cc for why not a
  // sparse_initializer).
  ASSERT_EQ(p.graph().node_size(), 3);
  const onnx::NodeProto& c = p.graph().node(0);
  EXPECT_EQ(c.op_type(), "Constant");
  ASSERT_EQ(c.output_size(), 1);
  EXPECT_EQ(c.output(0), "FW");
  ASSERT_EQ(c.attribute_size(), 1);
  EXPECT_EQ(c.attribute(0).name(), "sparse_value");
  const onnx::SparseTensorProto& s = c.attribute(0).sparse_tensor();
  EXPECT_EQ(std::vector<int64_t>(s.dims().begin(), s.dims().end()), (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(s.indices().data_type(), onnx::TensorProto::INT64);
  // By definition: the nonzeros of FW in row-major order, and their flat positions.
  std::vector<float> want_values;
  std::vector<int64_t> want_indices;
  for (size_t i = 0; i < fc.size(); ++i) {
    if (fc[i] == 0.0f) continue;
    want_values.push_back(fc[i]);
    want_indices.push_back(static_cast<int64_t>(i));
  }
  ASSERT_EQ(s.values().raw_data().size(), want_values.size() * sizeof(float));
  ASSERT_EQ(s.indices().raw_data().size(), want_indices.size() * sizeof(int64_t));
  EXPECT_EQ(std::memcmp(s.values().raw_data().data(), want_values.data(),
                        want_values.size() * sizeof(float)),
            0);
  EXPECT_EQ(std::memcmp(s.indices().raw_data().data(), want_indices.data(),
                        want_indices.size() * sizeof(int64_t)),
            0);

  // The byte counts the pass decided on are the files' difference, and serialized_size is the
  // file's size.
  const io::StorageSize size = io::initializer_storage(*dense_model.graph.find_initializer("FW"));
  const auto sparse_bytes = std::filesystem::file_size(sparse_path);
  const auto dense_bytes = std::filesystem::file_size(dense_path);
  EXPECT_EQ(dense_bytes - sparse_bytes, size.dense_bytes - size.sparse_bytes);
  EXPECT_EQ(io::serialized_size(*model), sparse_bytes);
  EXPECT_EQ(size.nonzeros, static_cast<int64_t>(want_values.size()));

  // Read back: a dense tensor flagged sparse, bitwise the original, and the executor runs it.
  auto back = io::load_model(sparse_path);
  ASSERT_OK(back);
  const ir::Initializer* fw = back->graph.find_initializer("FW");
  ASSERT_NE(fw, nullptr);
  EXPECT_TRUE(fw->sparse);
  EXPECT_TRUE(fw->tensor.bitwise_equal(dense_model.graph.find_initializer("FW")->tensor));
  const std::vector<float> a = random_floats(64, 3);
  const auto want = run(dense_model, a);
  const auto got = run(*back, a);
  ASSERT_EQ(want.size(), 2u);
  ASSERT_EQ(got.size(), 2u);
  for (size_t k = 0; k < 2; ++k) EXPECT_TRUE(got[k].bitwise_equal(want[k])) << k;
  // Saved again, the same bytes.
  EXPECT_EQ(read_file(saved(*back, dir, "again.onnx")), read_file(sparse_path));
}

TEST(StoreSparse, GoesSparseExactlyWhenTheFileGetsSmaller) {
  // Around 2/3 zeros the two encodings cross; the decision must follow the saved files' sizes.
  const size_t n = 16 * 32;
  for (size_t zeros = n * 60 / 100; zeros <= n * 72 / 100; zeros += 3) {
    SCOPED_TRACE(zeros);
    const std::vector<float> fc = with_zeros(n, zeros, 4);
    auto model = model_from_text(two_layers(fc, random_floats(32 * 8, 5)));
    ASSERT_OK(model);
    ir::Model forced = *model;
    forced.graph.find_initializer("FW")->sparse = true;
    TempDir dir;
    const auto dense_bytes = std::filesystem::file_size(saved(*model, dir, "d.onnx"));
    const auto sparse_bytes = std::filesystem::file_size(saved(forced, dir, "s.onnx"));
    ASSERT_OK(run_pass(*model, "store-sparse"));
    EXPECT_EQ(model->graph.find_initializer("FW")->sparse, sparse_bytes < dense_bytes);
  }
}

TEST(StoreSparse, MinSparsityKeepsATensorDenseNotApplied) {
  const std::vector<float> fc = with_zeros(16 * 32, 16 * 32 * 9 / 10, 6);
  auto model = model_from_text(two_layers(fc, random_floats(32 * 8, 7)));
  ASSERT_OK(model);
  auto r = run_pass(*model, "store-sparse", {{"min_sparsity", "0.95"}});
  ASSERT_OK(r);
  EXPECT_FALSE(model->graph.find_initializer("FW")->sparse);
  ASSERT_GE(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].node, "FW");
  // 460 of 512 are zero: 89.8%.
  EXPECT_EQ(r->skipped[0].reason, "89.8% zeros, below min_sparsity 95.0%; kept dense");
}

TEST(StoreSparse, IrVersionBeforeSixNotApplied) {
  const std::vector<float> fc = with_zeros(16 * 32, 16 * 32 * 9 / 10, 8);
  auto model = model_from_text(two_layers(fc, random_floats(32 * 8, 9), 5));
  ASSERT_OK(model);
  auto r = run_pass(*model, "store-sparse");
  ASSERT_OK(r);
  EXPECT_FALSE(model->graph.find_initializer("FW")->sparse);
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_NE(r->notes[0].find("IR version 5 predates sparse tensors"), std::string::npos);
}

TEST(StoreSparse, NegativeZeroAndNaNSurviveTheRoundTrip) {
  std::vector<float> fc = with_zeros(16 * 32, 16 * 32 * 95 / 100, 10);
  auto model = model_from_text(two_layers(fc, random_floats(32 * 8, 11)));
  ASSERT_OK(model);
  ir::Initializer* fw = model->graph.find_initializer("FW");
  fw->tensor.mutable_span<float>()[1] = -0.0f;
  fw->tensor.mutable_span<float>()[2] = std::numeric_limits<float>::quiet_NaN();
  fw->sparse = true;
  const std::string bytes = save_to_bytes(*model);
  auto back = io::load_model_from_bytes(bytes, ".", "m.onnx");
  ASSERT_OK(back);
  EXPECT_TRUE(back->graph.find_initializer("FW")->tensor.bitwise_equal(
      model->graph.find_initializer("FW")->tensor));
}

TEST(StoreSparse, FlaggedStringTensorIsWrittenDense) {
  auto model = model_from_text(two_layers(random_floats(16 * 32, 12), random_floats(32 * 8, 13)));
  ASSERT_OK(model);
  model->graph.set_initializer({"names", ir::Tensor::from_strings({2}, {"a", ""}), nullptr});
  model->graph.find_initializer("names")->sparse = true;
  const onnx::ModelProto p = [&] {
    onnx::ModelProto m;
    EXPECT_TRUE(m.ParseFromString(save_to_bytes(*model)));
    return m;
  }();
  EXPECT_EQ(p.graph().node_size(), 2);
  EXPECT_EQ(p.graph().initializer_size(), 3);
}

TEST(StoreSparse, BadOptionNamesIt) {
  auto p = make_pass("store-sparse", {{"min_sparsity", "1.5"}});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "store-sparse: option 'min_sparsity' must be in [0, 1], got '1.5'");
}

// A model whose weight [2, 3] is a sparse initializer with coordinate ([NNZ, rank]) indices.
onnx::ModelProto coordinate_model(const std::vector<int64_t>& coords) {
  onnx::ModelProto p;
  p.set_ir_version(8);
  p.add_opset_import()->set_version(13);
  auto* g = p.mutable_graph();
  g->set_name("g");
  auto* n = g->add_node();
  n->set_op_type("MatMul");
  n->add_input("A");
  n->add_input("W");
  n->add_output("Y");
  auto tensor_type = [](onnx::ValueInfoProto* v, const char* name, std::vector<int64_t> dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  tensor_type(g->add_input(), "A", {1, 2});
  tensor_type(g->add_output(), "Y", {1, 3});
  auto* s = g->add_sparse_initializer();
  s->add_dims(2);
  s->add_dims(3);
  s->mutable_values()->set_name("W");
  s->mutable_values()->set_data_type(onnx::TensorProto::FLOAT);
  s->mutable_values()->add_dims(2);
  s->mutable_values()->add_float_data(5.0f);
  s->mutable_values()->add_float_data(-2.0f);
  s->mutable_indices()->set_data_type(onnx::TensorProto::INT64);
  s->mutable_indices()->add_dims(2);
  s->mutable_indices()->add_dims(2);
  for (int64_t c : coords) s->mutable_indices()->add_int64_data(c);
  return p;
}

TEST(SparseInitializerIo, CoordinateIndicesLoadDenseAndRun) {
  // W[0, 1] = 5, W[1, 2] = -2.
  auto model = io::load_model_from_bytes(coordinate_model({0, 1, 1, 2}).SerializeAsString(), ".",
                                         "coo.onnx");
  ASSERT_OK(model);
  const ir::Initializer* w = model->graph.find_initializer("W");
  ASSERT_NE(w, nullptr);
  EXPECT_TRUE(w->sparse);
  auto v = w->tensor.span<float>();
  EXPECT_EQ(std::vector<float>(v.begin(), v.end()), (std::vector<float>{0, 5, 0, 0, 0, -2}));
  auto ex = exec::Executor::create(*model);
  ASSERT_OK(ex);
  auto out = (*ex)->run({{"A", float_tensor({1, 2}, {1.0f, 10.0f})}});
  ASSERT_OK(out);
  auto y = (*out)[0].span<float>();
  // [1, 10] x W = [0, 5, -20].
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()), (std::vector<float>{0, 5, -20}));
}

TEST(SparseInitializerIo, IndexOutsideTheShapeIsAnError) {
  auto model = io::load_model_from_bytes(coordinate_model({0, 1, 2, 0}).SerializeAsString(), ".",
                                         "coo.onnx");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(),
            "coo.onnx: sparse initializer 'W': index 1 lies outside its shape [2, 3]");
}

}  // namespace
}  // namespace compressor
