// Options and output helpers shared by the subcommands.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compressor/core/format.h"
#include "compressor/io/onnx_io.h"
#include "compressor/pass/pipeline.h"

namespace compressor::cli {

/// -o/--output, --force, --external-data, --external-min-bytes.
struct OutputOptions {
  std::string path;
  bool force = false;
  std::string external = "auto";
  size_t external_min_bytes = 1024;
};
void add_output_options(CLI::App& cmd, OutputOptions& out);

/// Fails early (before any work) when the output would overwrite the input without --force,
/// or the output folder does not exist.
Status check_output_path(const std::string& input, const OutputOptions& out);

/// Saves atomically with the checker on, protecting the input file.
StatusOr<io::SaveResult> save_output(const ir::Model& model, const std::string& input,
                                     const OutputOptions& out);

/// Parses repeated `--dim NAME=VALUE` options (VALUE a positive integer) into a map; a
/// malformed entry or a name given twice with different values is a usage error.
StatusOr<std::map<std::string, int64_t>> parse_dims(const std::vector<std::string>& specs);

using compressor::human_bytes;
using compressor::with_commas;

}  // namespace compressor::cli
