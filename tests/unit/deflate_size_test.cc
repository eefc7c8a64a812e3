// deflate_size: the zip (deflate, zlib level 6) size of a file, streamed in chunks, equals a
// one-shot zlib compress2 of the same bytes less zlib's 2-byte header and 4-byte Adler-32 trailer
// (RFC 1950), which a zip entry does not store.
#include <gtest/gtest.h>
#include <zlib.h>

#include "compressor/io/files.h"
#include "testing/test_models.h"

namespace compressor {
namespace {
using namespace testing;

uint64_t zlib_compress2_size(const std::string& bytes) {
  uLongf out_len = compressBound(bytes.size());
  std::string out(out_len, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(out.data()), &out_len,
                      reinterpret_cast<const Bytef*>(bytes.data()), bytes.size(), 6),
            Z_OK);
  return out_len;
}

TEST(DeflateSize, MatchesZlibCompressOfTheSameBytes) {
  // Over one 1 MiB read chunk: random floats with every other one zero, like a pruned weight.
  std::vector<float> v = random_floats(300 * 1024, 1);
  for (size_t i = 0; i < v.size(); i += 2) v[i] = 0.0f;
  const std::string bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  TempDir dir;
  write_file(dir.file("w.bin"), bytes);
  auto size = io::deflate_size(dir.file("w.bin"));
  ASSERT_OK(size);
  EXPECT_EQ(*size + 6, zlib_compress2_size(bytes));
  EXPECT_LT(*size, bytes.size());
}

TEST(DeflateSize, EmptyFile) {
  TempDir dir;
  write_file(dir.file("empty"), "");
  auto size = io::deflate_size(dir.file("empty"));
  ASSERT_OK(size);
  EXPECT_EQ(*size + 6, zlib_compress2_size(""));
}

TEST(DeflateSize, MissingFileNamesIt) {
  TempDir dir;
  auto size = io::deflate_size(dir.file("nope.onnx"));
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().message(),
            dir.file("nope.onnx") + ": cannot open: No such file or directory");
}

}  // namespace
}  // namespace compressor
