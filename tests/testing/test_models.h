// Test helpers: models from ONNX text syntax, temporary folders, saving to bytes, and a tiny
// float reference for Gemm and Conv used to check that rewrites keep numerics.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "compressor/io/onnx_io.h"
#include "compressor/ir/model.h"
#include "compressor/pass/pass.h"

namespace compressor::testing {

#define ASSERT_OK(expr)                                             \
  do {                                                              \
    const auto& _st = (expr);                                       \
    ASSERT_TRUE(_st.ok()) << ::compressor::testing::status_of(_st); \
  } while (0)
#define EXPECT_OK(expr)                                             \
  do {                                                              \
    const auto& _st = (expr);                                       \
    EXPECT_TRUE(_st.ok()) << ::compressor::testing::status_of(_st); \
  } while (0)

inline std::string status_of(const Status& s) { return s.message(); }
template <typename T>
std::string status_of(const StatusOr<T>& s) {
  return s.status().message();
}

/// Parses a model in ONNX text syntax (onnx::OnnxParser) and loads it through our loader.
StatusOr<ir::Model> model_from_text(std::string_view text);

/// A fresh, empty folder removed at the end of the test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

/// Saves (without the checker unless asked) and returns the file's bytes.
std::string save_to_bytes(const ir::Model& model, bool check = false);

/// Deterministic pseudo-random floats in [lo, hi).
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

/// A float32 initializer tensor.
ir::Tensor float_tensor(ir::Dims dims, std::vector<float> values);

/// Number of nodes of an op type.
size_t count_ops(const ir::Graph& graph, std::string_view op_type);

/// Reference 2-D convolution, NCHW, float, with groups, strides, pads (top, left, bottom, right)
/// and dilations; bias may be empty.
std::vector<float> conv2d_reference(const std::vector<float>& x, const ir::Dims& x_dims,
                                    const ir::Tensor& w, const std::vector<float>& bias,
                                    int64_t group, std::vector<int64_t> strides,
                                    std::vector<int64_t> pads, std::vector<int64_t> dilations,
                                    ir::Dims* y_dims);

/// Largest |a - b| relative to max(1, max |a|).
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b);

/// The directory holding the demo models (models/ in the source tree).
std::string demo_model(const std::string& name);

}  // namespace compressor::testing

namespace compressor::testing {

/// Runs one registered pass (by CLI name) on the model and checks the result with the ONNX
/// checker; the returned result is the pass's own.
StatusOr<pass::PassResult> run_pass(ir::Model& model, const std::string& name,
                                    const pass::PassOptions& options = {});

}  // namespace compressor::testing

#include "compressor/exec/executor.h"
#include "compressor/pass/calibration.h"

namespace compressor::testing {

/// A calibration table holding the observed min and max (widened to include 0) of each named
/// float32 tensor over runs of `model` on `samples` (other types are left out, as calibrate()
/// does); a name no run produced is an error.
StatusOr<pass::CalibrationTable> minmax_calibration(
    const ir::Model& model, const std::vector<std::vector<exec::NamedTensor>>& samples,
    const std::vector<std::string>& names);

/// Runs `model` once on one thread and returns output `output` as floats; a model that does not
/// plan or run is a test failure (and an empty vector).
std::vector<float> run_float_output(const ir::Model& model,
                                    const std::vector<exec::NamedTensor>& inputs,
                                    size_t output = 0);

/// run_pass with `table` as the context's calibration.
StatusOr<pass::PassResult> run_pass_calibrated(ir::Model& model, const std::string& name,
                                               const pass::CalibrationTable& table,
                                               const pass::PassOptions& options = {});

}  // namespace compressor::testing
