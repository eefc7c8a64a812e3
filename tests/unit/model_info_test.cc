// Tests for eval::summarize_model: op histogram, parameters, Constant-node weights, sparsity,
// external data and the MAC estimate, on small models written in ONNX text syntax.
#include "compressor/eval/model_info.h"

#include <gtest/gtest.h>
#include <onnx/defs/parser.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "compressor/io/onnx_io.h"

namespace compressor {
namespace {

// Parses ONNX text syntax, serializes it and loads it the way a file is loaded.
ir::Model parse_model(const std::string& text) {
  onnx::ModelProto proto;
  auto st = onnx::OnnxParser::Parse(proto, text.c_str());
  EXPECT_TRUE(st.IsOK()) << st.ErrorMessage();
  std::string bytes;
  proto.SerializeToString(&bytes);
  auto model = io::load_model_from_bytes(bytes, ".", "test model");
  EXPECT_TRUE(model.ok()) << model.status().message();
  return model.ok() ? std::move(model).value() : ir::Model();
}

// "{v0, v1, ...}" with values 1, 2, 3, ... (no zeros).
std::string counting_literal(int n) {
  std::ostringstream out;
  out << '{';
  for (int i = 0; i < n; ++i) out << (i ? ", " : "") << (i + 1) << ".0";
  out << '}';
  return out.str();
}

eval::ModelInfo summarize(const ir::Model& model, const eval::SummaryOptions& options = {}) {
  auto info = eval::summarize_model(model, "", options);
  EXPECT_TRUE(info.ok()) << info.status().message();
  return info.ok() ? std::move(info).value() : eval::ModelInfo();
}

uint64_t macs_of(const eval::ModelInfo& info, const std::string& op) {
  for (const auto& row : info.macs.by_op_type) {
    if (row.op_type == op) return row.macs;
  }
  return 0;
}

// Conv with group 2, stride 2 and padding 1 on a 9x9 input with a symbolic batch.
std::string grouped_conv_model() {
  return R"(
    <ir_version: 8, opset_import: ["" : 13]>
    conv_graph (float[N, 4, 9, 9] X) => (float[N, 8, 5, 5] Y)
    <float[8, 2, 3, 3] W = )" +
         counting_literal(8 * 2 * 3 * 3) + ", float[8] B = " + counting_literal(8) + R"(>
    {
      Y = Conv <group = 2, strides = [2, 2], pads = [1, 1, 1, 1], kernel_shape = [3, 3]> (X, W, B)
    }
  )";
}

TEST(ModelInfo, OpHistogramSortedByCountThenNameWithQualifiedDomains) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13, "com.example" : 1]>
    g (float[2] X) => (float[2] Y)
    {
      A = Relu (X)
      B = Relu (A)
      C = Add (B, A)
      D = com.example.Foo (C)
      Y = Abs (D)
    }
  )");
  eval::ModelInfo info = summarize(model);
  EXPECT_EQ(info.node_count, 5u);
  ASSERT_EQ(info.op_types.size(), 4u);
  EXPECT_EQ(info.op_types[0].op_type, "Relu");
  EXPECT_EQ(info.op_types[0].count, 2u);
  EXPECT_EQ(info.op_types[1].op_type, "Abs");
  EXPECT_EQ(info.op_types[2].op_type, "Add");
  EXPECT_EQ(info.op_types[3].op_type, "com.example.Foo");
  EXPECT_EQ(info.op_types[3].count, 1u);
  EXPECT_EQ(info.ir_version, 8);
  EXPECT_EQ(info.graph_name, "g");
  ASSERT_EQ(info.opsets.size(), 2u);
  EXPECT_EQ(info.constant_nodes, 0u);
  EXPECT_EQ(info.subgraph_nodes, 0u);
}

TEST(ModelInfo, InputsSkipInitializersAndKeepSymbolicDims) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[batch, 3] X, float[3] S = {1.0, 2.0, 3.0}) => (float[batch, 3] Y)
    {
      Y = Mul (X, S)
    }
  )");
  eval::ModelInfo info = summarize(model);
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "X");
  EXPECT_EQ(info.inputs[0].type, "float[batch, 3]");
  ASSERT_EQ(info.inputs[0].shape.size(), 2u);
  EXPECT_EQ(info.inputs[0].shape[0].param, "batch");
  EXPECT_EQ(info.initializer_inputs, 1u);
  ASSERT_EQ(info.outputs.size(), 1u);
  EXPECT_EQ(info.outputs[0].type, "float[batch, 3]");
  EXPECT_EQ(info.initializer_params.params, 3);
}

TEST(ModelInfo, ConvWithGroupsAndStrideCountsParamsAndMacs) {
  ir::Model model = parse_model(grouped_conv_model());
  eval::ModelInfo info = summarize(model);

  // Weights: W holds 8*2*3*3 = 144 floats, B 8 floats.
  EXPECT_EQ(info.initializer_params.tensors, 2u);
  EXPECT_EQ(info.initializer_params.params, 144 + 8);
  EXPECT_EQ(info.initializer_params.bytes, (144u + 8u) * 4u);
  EXPECT_EQ(info.params.params, 152);
  ASSERT_EQ(info.params.by_dtype.size(), 1u);
  EXPECT_EQ(info.params.by_dtype[0].dtype, ir::DType::kFloat);
  ASSERT_EQ(info.largest.size(), 2u);
  EXPECT_EQ(info.largest[0].name, "W");
  EXPECT_EQ(info.largest[0].dims, (ir::Dims{8, 2, 3, 3}));

  // Output spatial: floor((9 + 1 + 1 - 3) / 2) + 1 = 5 per axis. With the unbound batch N = 1:
  // N x Cout x out_h x out_w x (Cin / group) x k_h x k_w.
  const uint64_t n = 1, cout = 8, out_h = 5, out_w = 5, cin = 4, group = 2, kh = 3, kw = 3;
  const uint64_t expected = n * cout * out_h * out_w * (cin / group) * kh * kw;
  EXPECT_EQ(expected, 3600u);
  EXPECT_EQ(info.macs.total, expected);
  EXPECT_EQ(macs_of(info, "Conv"), expected);
  EXPECT_EQ(info.macs.counted_nodes, 1u);
  EXPECT_EQ(info.macs.unknown_nodes, 0u);
  ASSERT_EQ(info.macs.unbound_dims.size(), 1u);
  EXPECT_EQ(info.macs.unbound_dims[0], "N");
}

TEST(ModelInfo, DimBindingScalesMacs) {
  ir::Model model = parse_model(grouped_conv_model());
  eval::SummaryOptions options;
  options.dims["N"] = 4;
  eval::ModelInfo info = summarize(model, options);
  // The same Conv as above with N = 4: 4 x 8 x 5 x 5 x (4 / 2) x 3 x 3.
  EXPECT_EQ(info.macs.total, uint64_t{4} * 8 * 5 * 5 * 2 * 3 * 3);
  EXPECT_TRUE(info.macs.unbound_dims.empty());
  ASSERT_EQ(info.macs.dims.size(), 1u);
  EXPECT_EQ(info.macs.dims[0], (std::pair<std::string, int64_t>("N", 4)));
}

TEST(ModelInfo, UnknownDimNameIsInvalidArgument) {
  ir::Model model = parse_model(grouped_conv_model());
  eval::SummaryOptions options;
  options.dims["batch"] = 4;
  auto info = eval::summarize_model(model, "", options);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("'batch'"), std::string::npos);
  EXPECT_NE(info.status().message().find("N"), std::string::npos);
}

TEST(ModelInfo, ConvTransposeMacs) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 4, 5, 5] X) => (float[1, 6, 10, 10] Y)
    <float[4, 3, 2, 2] W = )" + counting_literal(4 * 3 * 2 * 2) +
                                R"(>
    {
      Y = ConvTranspose <group = 2, strides = [2, 2]> (X, W)
    }
  )");
  eval::ModelInfo info = summarize(model);
  // N x Cin x in_h x in_w x (Cout / group) x k_h x k_w, with W [Cin, Cout/group, kh, kw].
  const uint64_t n = 1, cin = 4, in_h = 5, in_w = 5, cout_per_group = 3, kh = 2, kw = 2;
  EXPECT_EQ(info.macs.total, n * cin * in_h * in_w * cout_per_group * kh * kw);
  EXPECT_EQ(macs_of(info, "ConvTranspose"), 1200u);
}

TEST(ModelInfo, GemmMacsHonourTranspose) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[3, 5] A) => (float[3, 4] Y)
    <float[4, 5] B = )" + counting_literal(20) +
                                R"(, float[4] C = {0.0, 0.0, 0.0, 0.0}>
    {
      Y = Gemm <transB = 1> (A, B, C)
    }
  )");
  eval::ModelInfo info = summarize(model);
  // A [M, K] = [3, 5], B^T [K, N] = [5, 4]: M x N x K.
  const uint64_t m = 3, n = 4, k = 5;
  EXPECT_EQ(info.macs.total, m * n * k);
  EXPECT_EQ(macs_of(info, "Gemm"), 60u);
}

TEST(ModelInfo, BatchedMatMulMacsBroadcast) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 1, 3, 4] A, float[5, 4, 6] B, float[4] V) => (float[2, 5, 3, 6] Y, float[6] Z)
    {
      B2 = Constant <value = float[4, 6] )" +
                                counting_literal(24) + R"(> ()
      Y = MatMul (A, B)
      Z = MatMul (V, B2)
    }
  )");
  eval::ModelInfo info = summarize(model);
  // Batch dims [2, 1] and [5] broadcast to [2, 5]; then M x N x K = 3 x 6 x 4.
  const uint64_t batch = 2 * 5, m = 3, n = 6, k = 4;
  // A 1-D left operand [4] is promoted to [1, 4]: 1 x 6 x 4.
  const uint64_t vector_macs = 1 * 6 * 4;
  EXPECT_EQ(macs_of(info, "MatMul"), batch * m * n * k + vector_macs);
  ASSERT_EQ(info.macs.by_op_type.size(), 1u);
  EXPECT_EQ(info.macs.by_op_type[0].nodes, 2u);
}

// "{0, 1, 2, ...}" with n small integers.
std::string int_literal(int n) {
  std::string out = "{";
  for (int i = 0; i < n; ++i) out += (i ? ", " : "") + std::to_string(i % 100);
  return out + "}";
}

TEST(ModelInfo, QuantizedConvAndMatMulMacsCountLikeTheirFloatForms) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (uint8[1, 2, 5, 5] X, uint8[3, 4] A) => (uint8[1, 3, 3, 3] Y, int32[3, 6] Z)
    <int8[3, 2, 3, 3] W = )" + int_literal(54) +
                                R"(, int8[4, 6] B = )" + int_literal(24) + R"(,
     float xs = {0.1}, uint8 xz = {0}, float ws = {0.2}, int8 wz = {0}, float ys = {0.3},
     uint8 yz = {0}>
    {
      Y = QLinearConv (X, xs, xz, W, ws, wz, ys, yz)
      Z = MatMulInteger (A, B)
    }
  )");
  eval::ModelInfo info = summarize(model);
  // QLinearConv: N x Cout x out spatial x Cin x kernel = 1 x 3 x 9 x 2 x 9.
  EXPECT_EQ(macs_of(info, "QLinearConv"), 1u * 3 * 9 * 2 * 9);
  // MatMulInteger: M x N x K = 3 x 6 x 4.
  EXPECT_EQ(macs_of(info, "MatMulInteger"), 3u * 6 * 4);

  // The same count from the shapes of a run, node by node.
  std::map<std::string, ir::Dims> shapes = {{"A", {3, 4}}, {"B", {4, 6}}, {"Z", {3, 6}}};
  auto shape_of = [&](const std::string& name) -> const ir::Dims* {
    auto it = shapes.find(name);
    return it == shapes.end() ? nullptr : &it->second;
  };
  const ir::Node& matmul = model.graph.node(1);
  EXPECT_EQ(eval::node_macs(matmul, shape_of), std::optional<uint64_t>(3u * 6 * 4));
  shapes.erase("B");
  EXPECT_EQ(eval::node_macs(matmul, shape_of), std::nullopt);
}

TEST(ModelInfo, ConstantNodeWeightsCountAsParams) {
  // paddle2onnx style: no initializers, every weight is a Constant node.
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 4, 4] X) => (float[1, 3, 4, 4] Y)
    {
      W = Constant <value = float[3, 2, 1, 1] {0.0, 1.0, 0.0, 2.0, 0.0, 3.0}> ()
      S = Constant <value_ints = [1, 3, 4, 4]> ()
      C = Conv (X, W)
      Y = Reshape (C, S)
    }
  )");
  eval::ModelInfo info = summarize(model);
  EXPECT_EQ(info.initializer_params.params, 0);
  EXPECT_EQ(info.constant_nodes, 2u);
  EXPECT_EQ(info.constant_params.tensors, 2u);
  EXPECT_EQ(info.constant_params.params, 6 + 4);
  EXPECT_EQ(info.constant_params.bytes, 6u * 4u + 4u * 8u);
  EXPECT_EQ(info.params.params, 10);
  ASSERT_EQ(info.params.by_dtype.size(), 2u);
  EXPECT_EQ(info.params.by_dtype[0].dtype, ir::DType::kInt64);  // 32 bytes before 24
  ASSERT_EQ(info.largest.size(), 2u);
  EXPECT_TRUE(info.largest[1].from_constant_node);
  EXPECT_EQ(info.largest[1].name, "W");
  EXPECT_EQ(info.largest[1].dims, (ir::Dims{3, 2, 1, 1}));
  ASSERT_TRUE(info.largest[1].zero_fraction.has_value());
  EXPECT_DOUBLE_EQ(*info.largest[1].zero_fraction, 0.5);
  // The Conv's weight shape comes from the Constant: 1 x 3 x 4 x 4 x 2 x 1 x 1.
  EXPECT_EQ(macs_of(info, "Conv"), 96u);
}

// The loader checks Constant-node tensors as it checks initializers, so info never sees one.
TEST(ModelInfo, MalformedConstantTensorIsRefusedAtLoadNamingTheNode) {
  onnx::ModelProto proto;
  auto st = onnx::OnnxParser::Parse(proto, R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g () => (float[2] Y)
    {
      Y = Constant <value = float[2] {1.0, 2.0}> ()
    }
  )");
  ASSERT_TRUE(st.IsOK()) << st.ErrorMessage();
  onnx::NodeProto* node = proto.mutable_graph()->mutable_node(0);
  node->set_name("c");
  node->mutable_attribute(0)->mutable_t()->set_dims(0, -2);
  std::string bytes;
  proto.SerializeToString(&bytes);
  auto model = io::load_model_from_bytes(bytes, ".", "test model");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), ErrorCode::kInvalidModel);
  EXPECT_NE(model.status().message().find("node 'c' (Constant)"), std::string::npos)
      << model.status().message();
}

TEST(ModelInfo, SparsityCountsExactZerosOfFloatWeightsOnly) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2, 4] X) => (float[2, 4] Y)
    <float[2, 4] W = {0.0, 1.0, -0.0, 0.0, 2.0, 3.0, 0.0, 1e-30}, int64[3] I = {0, 0, 0}>
    {
      Y = Mul (X, W)
    }
  )");
  eval::ModelInfo info = summarize(model);
  // 0.0, -0.0, 0.0, 0.0 are zeros; 1e-30 is not. The int64 tensor is not a float weight.
  EXPECT_EQ(info.sparsity.tensors, 1u);
  EXPECT_EQ(info.sparsity.elements, 8);
  EXPECT_EQ(info.sparsity.zeros, 4);
  EXPECT_DOUBLE_EQ(info.sparsity.fraction(), 0.5);
  ASSERT_EQ(info.largest.size(), 2u);
  EXPECT_EQ(info.largest[0].name, "W");
  EXPECT_DOUBLE_EQ(info.largest[0].zero_fraction.value_or(-1), 0.5);
  EXPECT_FALSE(info.largest[1].zero_fraction.has_value());
}

TEST(ModelInfo, UnknownShapeCountsNodeAsMacsUnknown) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1, 2, 4, 4] X, float W) => (float Y)
    {
      Y = Conv (X, W)
    }
  )");
  eval::ModelInfo info = summarize(model);
  EXPECT_EQ(info.macs.total, 0u);
  EXPECT_EQ(info.macs.counted_nodes, 0u);
  EXPECT_EQ(info.macs.unknown_nodes, 1u);
  ASSERT_EQ(info.macs.unknown_examples.size(), 1u);
  EXPECT_NE(info.macs.unknown_examples[0].find("Conv"), std::string::npos);
}

TEST(ModelInfo, LargestListIsLimitedAndOrderedBySize) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[1] X) => (float[1] Y)
    <float[1] a = {1.0}, float[3] b = {1.0, 2.0, 3.0}, float[2] c = {1.0, 2.0}>
    {
      P = Add (X, a)
      Q = Add (P, b)
      Y = Add (Q, c)
    }
  )");
  eval::SummaryOptions options;
  options.largest = 2;
  eval::ModelInfo info = summarize(model, options);
  ASSERT_EQ(info.largest.size(), 2u);
  EXPECT_EQ(info.largest[0].name, "b");
  EXPECT_EQ(info.largest[1].name, "c");
}

TEST(ModelInfo, ExternalDataFilesAreListedWithSizes) {
  ir::Model model = parse_model(grouped_conv_model());
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("model_info_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "m.onnx").string();
  io::SaveOptions save;
  save.external = io::ExternalData::kAlways;
  save.external_min_bytes = 100;  // W (576 bytes) goes out, B (32 bytes) stays in
  auto saved = io::save_model(model, path, save);
  ASSERT_TRUE(saved.ok()) << saved.status().message();

  auto loaded = io::load_model(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto info = eval::summarize_model(*loaded, path);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->file_bytes, saved->model_bytes);
  ASSERT_EQ(info->external_files.size(), 1u);
  const eval::ExternalFile& f = info->external_files[0];
  EXPECT_EQ(f.location, "m.onnx.data");
  EXPECT_TRUE(f.exists);
  EXPECT_EQ(f.bytes, saved->external_bytes);
  EXPECT_EQ(f.tensors, 1u);
  EXPECT_EQ(f.referenced_bytes, 144u * 4u);
  EXPECT_EQ(info->initializer_params.params, 152);

  // Without external data there is nothing to list.
  const std::string embedded = (dir / "e.onnx").string();
  ASSERT_TRUE(io::save_model(model, embedded).ok());
  auto files = eval::external_data_files(embedded);
  ASSERT_TRUE(files.ok()) << files.status().message();
  EXPECT_TRUE(files->empty());
  std::filesystem::remove_all(dir);
}

TEST(ModelInfo, SubgraphNodesAreCountedAndNotedForMacs) {
  ir::Model model = parse_model(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (bool C, float[2] X) => (float[2] Y)
    {
      Y = If (C) <
        then_branch = then_g () => (float[2] T) { T = Relu (X) },
        else_branch = else_g () => (float[2] E) { E = Abs (X) }
      >
    }
  )");
  eval::ModelInfo info = summarize(model);
  EXPECT_EQ(info.node_count, 1u);
  EXPECT_EQ(info.subgraph_nodes, 1u);
  bool noted = false;
  for (const auto& note : info.macs.notes)
    noted = noted || note.find("subgraph") != std::string::npos;
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace compressor
