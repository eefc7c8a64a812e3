// libFuzzer target for the ONNX loader: arbitrary bytes must either load or fail with a Status,
// and whatever loads must save (unchecked) and load back, with a stable second save.
//
// Build and run: see tests/fuzz/run_fuzzer.sh (configure with CC=clang CXX=clang++
// -DCOMPRESSOR_FUZZ=ON -DCOMPRESSOR_BUILD_TESTS=ON).
//
// The loader resolves external data against a fixed temporary folder that holds one file,
// `weights.bin` (16 bytes: four float 1.0, the file the bad-input corpus refers to), so that
// inputs can reach the mapping and bounds checks; nothing else is readable from it.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "compressor/core/logging.h"
#include "compressor/io/onnx_io.h"

namespace {

namespace fs = std::filesystem;
using compressor::io::load_model;
using compressor::io::load_model_from_bytes;
using compressor::io::save_model;

struct FuzzDirs {
  std::string base;  // external data is resolved here (holds weights.bin only)
  std::string out;   // round-trip saves go here
};

std::string make_temp_dir(const char* prefix) {
  // $TMPDIR (run_fuzzer.sh points it at a folder it removes), else tmpfs: every save fsyncs.
  const char* env = std::getenv("TMPDIR");
  const char* root = env && *env ? env : fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string tmpl = std::string(root) + "/" + prefix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("load_fuzzer: mkdtemp");
    std::abort();
  }
  return tmpl;
}

// Set once in LLVMFuzzerInitialize; plain pointers so nothing is destroyed before the atexit
// handler that removes the folders runs.
FuzzDirs* g_dirs = nullptr;

void remove_dirs() {
  std::error_code ec;
  fs::remove_all(g_dirs->base, ec);
  fs::remove_all(g_dirs->out, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "load_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  compressor::init_logging(compressor::LogLevel::kError);  // no warning per input
  g_dirs =
      new FuzzDirs{make_temp_dir("compressor-fuzz-base-"), make_temp_dir("compressor-fuzz-out-")};
  std::ofstream(g_dirs->base + "/weights.bin", std::ios::binary)
      .write("\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f", 16);
  std::atexit(remove_dirs);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const FuzzDirs& d = *g_dirs;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto model = load_model_from_bytes(bytes, d.base, "fuzz");
  if (!model.ok()) {
    if (model.status().message().empty()) fail("load failed without a message", "");
    return 0;
  }

  compressor::io::SaveOptions options;
  options.check = false;
  const std::string first = d.out + "/first.onnx";
  auto saved = save_model(*model, first, options);
  if (!saved.ok()) fail("save of a loaded model failed", saved.status().message());

  auto reloaded = load_model(first);
  if (!reloaded.ok()) fail("saved model does not load back", reloaded.status().message());

  // Saving what was loaded back gives the same bytes (save and load are inverse).
  const std::string second = d.out + "/second.onnx";
  auto resaved = save_model(*reloaded, second, options);
  if (!resaved.ok()) fail("second save failed", resaved.status().message());
  if (read_file(first) != read_file(second)) {
    fail("save -> load -> save is not byte-identical", first + " vs " + second);
  }
  return 0;
}
