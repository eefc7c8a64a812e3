// ONNX I/O: decoding, lossless round trip, deterministic atomic saves, external data rules.
#include "compressor/io/onnx_io.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "testing/roundtrip.h"
#include "testing/test_models.h"

namespace compressor::io {
namespace {
namespace fs = std::filesystem;
using testing::model_from_text;
using testing::TempDir;

constexpr const char* kGemmModel = R"(
  <ir_version: 8, opset_import: ["" : 13]>
  g (float[N, 4] X) => (float[N, 2] Y)
  <float[4,2] W = {1,2,3,4,5,6,7,8}, float[2] B = {0.5, 0.25}, int64[2] S = {-1, 2}>
  {
    T = Gemm(X, W, B)
    Y = Reshape(T, S)
  })";

TEST(OnnxIo, TypedFieldsDecodeToValues) {
  auto m = model_from_text(kGemmModel);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const auto* w = m->graph.find_initializer("W");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->tensor.dims(), (ir::Dims{4, 2}));
  EXPECT_EQ(w->tensor.span<float>()[7], 8.0f);
  EXPECT_EQ(m->graph.find_initializer("S")->tensor.span<int64_t>()[0], -1);
}

TEST(OnnxIo, SaveIsDeterministicAndAtomic) {
  auto m = model_from_text(kGemmModel);
  ASSERT_TRUE(m.ok());
  TempDir dir;
  ASSERT_TRUE(save_model(*m, dir.file("a.onnx")).ok());
  ASSERT_TRUE(save_model(*m, dir.file("b.onnx")).ok());
  EXPECT_EQ(testing::read_file(dir.file("a.onnx")), testing::read_file(dir.file("b.onnx")));
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 2u) << "no temporary files are left behind";
}

TEST(OnnxIo, RoundTripKeepsFunctionsMetadataAndUnknownFields) {
  auto m = model_from_text(kGemmModel);
  ASSERT_TRUE(m.ok());
  auto proto = to_proto(*m);
  auto* f = proto->add_functions();
  f->set_name("Twice");
  f->set_domain("custom");
  f->add_input("x");
  f->add_output("y");
  auto* fn = f->add_node();
  fn->set_op_type("Add");
  fn->add_input("x");
  fn->add_input("x");
  fn->add_output("y");
  auto* md = proto->add_metadata_props();
  md->set_key("author");
  md->set_value("tests");
  proto->mutable_graph()->mutable_node(0)->set_doc_string("the gemm");
  proto->mutable_graph()
      ->mutable_node(0)
      ->GetReflection()
      ->MutableUnknownFields(proto->mutable_graph()->mutable_node(0))
      ->AddVarint(4242, 7);  // a field from a newer ONNX
  proto->GetReflection()->MutableUnknownFields(proto.get())->AddLengthDelimited(4243, "future");
  TempDir dir;
  std::string bytes;
  proto->SerializeToString(&bytes);
  testing::write_file(dir.file("in.onnx"), bytes);
  EXPECT_EQ(testing::roundtrip_difference(dir.file("in.onnx")), "");

  auto loaded = load_model(dir.file("in.onnx"));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->function_count(), 1u);
  SaveOptions unchecked;
  unchecked.check = false;
  ASSERT_TRUE(save_model(*loaded, dir.file("out.onnx"), unchecked).ok());
  onnx::ModelProto back;
  ASSERT_TRUE(back.ParseFromString(testing::read_file(dir.file("out.onnx"))));
  EXPECT_EQ(back.GetReflection()->GetUnknownFields(back).field_count(), 1);
  EXPECT_EQ(
      back.graph().node(0).GetReflection()->GetUnknownFields(back.graph().node(0)).field_count(),
      1);
  EXPECT_EQ(back.graph().node(0).doc_string(), "the gemm");
}

TEST(OnnxIo, ExternalDataRoundTripIsAlignedAndLossless) {
  auto m = model_from_text(kGemmModel);
  ASSERT_TRUE(m.ok());
  TempDir dir;
  SaveOptions options;
  options.external = ExternalData::kAlways;
  options.external_min_bytes = 0;
  auto saved = save_model(*m, dir.file("ext.onnx"), options);
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  EXPECT_EQ(saved->external_path, dir.file("ext.onnx.data"));
  EXPECT_TRUE(fs::exists(dir.file("ext.onnx.data")));
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(testing::read_file(dir.file("ext.onnx"))));
  for (const auto& t : proto.graph().initializer()) {
    EXPECT_EQ(t.data_location(), onnx::TensorProto::EXTERNAL);
    for (const auto& e : t.external_data()) {
      if (e.key() == "offset") {
        EXPECT_EQ(std::stoull(e.value()) % 4096, 0u);
      }
    }
  }
  auto back = load_model(dir.file("ext.onnx"));
  ASSERT_TRUE(back.ok()) << back.status().message();
  for (const auto& init : m->graph.initializers()) {
    EXPECT_TRUE(back->graph.find_initializer(init.name)->tensor.bitwise_equal(init.tensor));
  }
}

// Writes a one-initializer model whose data is external with the given entries.
std::string external_model(const TempDir& dir,
                           const std::vector<std::pair<std::string, std::string>>& entries) {
  onnx::ModelProto proto;
  proto.set_ir_version(8);
  proto.add_opset_import()->set_version(13);
  auto* g = proto.mutable_graph();
  auto* t = g->add_initializer();
  t->set_name("W");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(4);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [k, v] : entries) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  }
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->add_input("W");
  n->add_output("Y");
  auto* out = g->add_output();
  out->set_name("Y");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(1);
  std::string bytes;
  proto.SerializeToString(&bytes);
  testing::write_file(dir.file("m.onnx"), bytes);
  return dir.file("m.onnx");
}

std::string load_error(const std::string& path) {
  auto m = load_model(path);
  return m.ok() ? std::string("loaded") : m.status().message();
}

TEST(OnnxIo, ExternalDataInsideTheFolderLoads) {
  TempDir dir;
  testing::write_file(dir.file("w.bin"), std::string(16, '\0'));
  EXPECT_EQ(load_error(external_model(dir, {{"location", "w.bin"}})), "loaded");
}

TEST(OnnxIo, ExternalDataEscapesAreRefused) {
  TempDir dir;
  testing::write_file(dir.file("w.bin"), std::string(16, '\0'));
  EXPECT_NE(load_error(external_model(dir, {{"location", "/etc/passwd"}})).find("absolute"),
            std::string::npos);
  EXPECT_NE(load_error(external_model(dir, {{"location", "../w.bin"}})).find("escapes"),
            std::string::npos);
  fs::create_symlink(dir.file("w.bin"), dir.file("link.bin"));
  EXPECT_NE(load_error(external_model(dir, {{"location", "link.bin"}})).find("symbolic link"),
            std::string::npos);
  fs::create_hard_link(dir.file("w.bin"), dir.file("hard.bin"));
  EXPECT_NE(load_error(external_model(dir, {{"location", "hard.bin"}})).find("hard links"),
            std::string::npos);
}

TEST(OnnxIo, ExternalDataBoundsAndKeysAreChecked) {
  TempDir dir;
  testing::write_file(dir.file("w.bin"), std::string(16, '\0'));
  EXPECT_NE(load_error(external_model(dir, {{"location", "w.bin"}, {"offset", "8"}}))
                .find("beyond the end"),
            std::string::npos);
  EXPECT_NE(load_error(external_model(dir, {{"location", "w.bin"}, {"length", "12"}}))
                .find("does not match"),
            std::string::npos);
  EXPECT_NE(load_error(external_model(dir, {{"location", "w.bin"}, {"basepath", "/"}}))
                .find("unknown external data key 'basepath'"),
            std::string::npos);
  EXPECT_NE(load_error(external_model(dir, {{"location", "missing.bin"}})).find("not found"),
            std::string::npos);
  EXPECT_NE(load_error(external_model(dir, {{"location", "w.bin"}, {"offset", "-1"}}))
                .find("not a non-negative integer"),
            std::string::npos);
}

TEST(OnnxIo, ModelOver2GiBWithoutExternalDataIsRefusedWithAFix) {
  TempDir dir;
  const std::string path = dir.file("huge.onnx");
  testing::write_file(path, "x");
  ASSERT_EQ(::truncate(path.c_str(), (int64_t{1} << 31) + 10), 0);  // sparse: no disk used
  const std::string err = load_error(path);
  EXPECT_NE(err.find("external data"), std::string::npos) << err;
}

TEST(OnnxIo, OverwritingAProtectedPathNeedsForce) {
  auto m = model_from_text(kGemmModel);
  ASSERT_TRUE(m.ok());
  TempDir dir;
  ASSERT_TRUE(save_model(*m, dir.file("in.onnx")).ok());
  const std::string before = testing::read_file(dir.file("in.onnx"));
  SaveOptions options;
  options.protected_paths = {dir.file("in.onnx")};
  auto refused = save_model(*m, dir.file("in.onnx"), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(testing::read_file(dir.file("in.onnx")), before);
  options.force = true;
  EXPECT_TRUE(save_model(*m, dir.file("in.onnx"), options).ok());
}

TEST(OnnxIo, CheckerFailureNamesTheNode) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] X) => (float[2] Y) { Y = Relu <bogus = 1> (X) })");
  ASSERT_TRUE(m.ok());
  m->graph.node(0).name = "act1";
  TempDir dir;
  auto saved = save_model(*m, dir.file("bad.onnx"));
  ASSERT_FALSE(saved.ok());
  EXPECT_NE(saved.status().message().find("Relu"), std::string::npos) << saved.status().message();
  EXPECT_FALSE(fs::exists(dir.file("bad.onnx")));
}

TEST(OnnxIo, OpsetNewerThanTheLibraryPassesThroughUnchecked) {
  auto m = model_from_text(R"(
    <ir_version: 8, opset_import: ["" : 13]>
    g (float[2] X) => (float[2] Y) { Y = Relu(X) })");
  ASSERT_TRUE(m.ok());
  m->set_opset_version("", 21);
  TempDir dir;
  auto saved = save_model(*m, dir.file("new.onnx"));
  ASSERT_TRUE(saved.ok()) << saved.status().message();
  EXPECT_FALSE(saved->checked);
  auto back = load_model(dir.file("new.onnx"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->opset_version(""), 21);
}

TEST(OnnxIo, BadFilesGiveOneLineErrors) {
  TempDir dir;
  testing::write_file(dir.file("empty.onnx"), "");
  testing::write_file(dir.file("junk.onnx"), std::string("\xff\xff\xff\xff\x0f garbage", 14));
  for (const auto& [path, needle] :
       std::vector<std::pair<std::string, std::string>>{{dir.file("empty.onnx"), "empty"},
                                                        {dir.file("junk.onnx"), "not a valid"},
                                                        {dir.path().string(), "directory"},
                                                        {dir.file("none.onnx"), "no such file"}}) {
    const std::string err = load_error(path);
    EXPECT_NE(err.find(needle), std::string::npos) << err;
    EXPECT_NE(err.find(path), std::string::npos) << "names the file: " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace compressor::io
