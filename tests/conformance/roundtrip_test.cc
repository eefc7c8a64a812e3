// Lossless round trip over every model of the ONNX backend node suite and the PaddleOCR models.
#include "testing/roundtrip.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace compressor {
namespace {
namespace fs = std::filesystem;

TEST(RoundTrip, EveryOnnxNodeTestModel) {
  const fs::path root = ONNX_NODE_TEST_DIR;
  if (!fs::is_directory(root)) GTEST_SKIP() << "libonnx-testdata is not installed at " << root;
  size_t total = 0, same = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    const fs::path model = entry.path() / "model.onnx";
    if (!fs::exists(model)) continue;
    ++total;
    const std::string diff = testing::roundtrip_difference(model.string());
    if (diff.empty()) {
      ++same;
    } else {
      ADD_FAILURE() << entry.path().filename().string() << ": " << diff;
    }
  }
  std::printf("round trip: %zu of %zu node-suite models identical\n", same, total);
  EXPECT_GT(total, 900u);
  EXPECT_EQ(same, total);
}

// The OCR models are fetched by tools/scripts/fetch_test_deps.sh (the deps_fetch CTest fixture).
std::string ocr_model(const std::string& name) {
  const char* env = std::getenv("COMPRESSOR_DEPS_DIR");
  fs::path dir = env ? fs::path(env) : fs::path(COMPRESSOR_SOURCE_DIR) / ".deps";
  fs::path p = dir / "ocr" / (name + ".onnx");
  return fs::exists(p) ? p.string() : std::string();
}

class OcrRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(OcrRoundTrip, IsLossless) {
  const std::string path = ocr_model(GetParam());
  if (path.empty()) GTEST_SKIP() << "OCR models not fetched (run tools/scripts/fetch_test_deps.sh)";
  EXPECT_EQ(testing::roundtrip_difference(path), "");
}

INSTANTIATE_TEST_SUITE_P(PaddleOcr, OcrRoundTrip, ::testing::Values("det", "rec", "cls"));

}  // namespace
}  // namespace compressor
