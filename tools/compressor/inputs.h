// Model inputs for the commands that run a model: --input NAME=FILE, --test-data-dir DIR,
// seeded random data from the declared types, --dim NAME=VALUE for symbolic dimensions.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "compressor/exec/executor.h"
#include "compressor/io/test_data.h"
#include "compressor/ir/model.h"

namespace compressor::cli {

struct InputOptions {
  std::vector<std::string> inputs;  ///< NAME=FILE
  std::string test_data_dir;
  uint64_t seed = 0;
  std::vector<std::string> dims;  ///< NAME=VALUE
};

/// Adds --input, --test-data-dir, --seed and --dim to `cmd`.
void add_input_options(CLI::App& cmd, InputOptions& opts);

/// A feed for every user input of the model, and the expected outputs of --test-data-dir.
struct PreparedInputs {
  std::vector<exec::NamedTensor> feed;
  std::vector<io::NamedFileTensor> expected;
};

/// Validates the options (before loading anything heavy) and builds the feed for `model`,
/// loaded from `model_path`: --input files win over --test-data-dir files, the rest is seeded
/// random data (floats in [0, 1), integers in [0, 10)). Every fed tensor is checked against
/// the declared type; unbound symbolic dimensions are taken as 1 with a note on stderr.
/// `sample` > 0 draws the random data of that sample index (same seed, independent stream).
StatusOr<PreparedInputs> prepare_inputs(const ir::Model& model, const std::string& model_path,
                                        const InputOptions& opts, uint64_t sample = 0);

/// Element i of a numeric (or bool) tensor as double; false for other dtypes.
bool numeric_at(const ir::Tensor& t, int64_t i, double* out);

}  // namespace compressor::cli
