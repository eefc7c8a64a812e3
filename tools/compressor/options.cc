// Shared option handling and the per-pass table.
#include "options.h"

#include <charconv>
#include <cstdio>
#include <filesystem>

#include "compressor/eval/model_info.h"

namespace compressor::cli {

void add_output_options(CLI::App& cmd, OutputOptions& out) {
  cmd.add_option("-o,--output", out.path, "Output .onnx path (written atomically)")->required();
  cmd.add_flag("--force", out.force, "Allow the output to overwrite the input model");
  cmd.add_option("--external-data", out.external,
                 "Store tensors in a .data file beside the model: auto (only above 2 GiB), "
                 "always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  cmd.add_option("--external-min-bytes", out.external_min_bytes,
                 "Tensors smaller than this stay inside the .onnx file")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

Status check_output_path(const std::string& input, const OutputOptions& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!out.force && fs::exists(out.path, ec) && fs::exists(input, ec) &&
      fs::equivalent(input, out.path, ec)) {
    return invalid_argument(out.path + ": refusing to overwrite the input model (pass --force)");
  }
  if (fs::exists(out.path, ec) && !fs::is_regular_file(out.path, ec) &&
      !fs::is_directory(out.path, ec)) {
    return invalid_argument("-o " + out.path +
                            ": not a regular file; the model is written to a file (a temporary "
                            "beside it, renamed into place)");
  }
  fs::path parent = fs::path(out.path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    return invalid_argument("-o " + out.path + ": folder '" + parent.string() + "' does not exist");
  }
  return ok_status();
}

StatusOr<io::SaveResult> save_output(const ir::Model& model, const std::string& input,
                                     const OutputOptions& out) {
  io::SaveOptions options;
  options.protected_paths = {input};
  // The input's external data files are part of the input too.
  auto external = eval::external_data_files(input);
  if (external.ok()) {
    const std::string dir = std::filesystem::path(input).parent_path().string();
    for (const auto& f : *external) {
      options.protected_paths.push_back(
          (std::filesystem::path(dir.empty() ? "." : dir) / f.location).string());
    }
  }
  options.force = out.force;
  options.external_min_bytes = out.external_min_bytes;
  options.external = out.external == "always"  ? io::ExternalData::kAlways
                     : out.external == "never" ? io::ExternalData::kNever
                                               : io::ExternalData::kAuto;
  return io::save_model(model, out.path, options);
}

// "NAME=VALUE" strings to a map; VALUE must be a positive integer.
StatusOr<std::map<std::string, int64_t>> parse_dims(const std::vector<std::string>& specs) {
  std::map<std::string, int64_t> dims;
  for (const std::string& spec : specs) {
    const size_t eq = spec.rfind('=');
    int64_t value = 0;
    const char* first = spec.data() + (eq == std::string::npos ? 0 : eq + 1);
    const char* last = spec.data() + spec.size();
    auto [end, ec] = std::from_chars(first, last, value);
    if (eq == std::string::npos || eq == 0 || ec != std::errc() || end != last || value <= 0) {
      return invalid_argument("--dim '" + spec +
                              "': expected NAME=VALUE with a positive integer VALUE, e.g. "
                              "--dim batch=8");
    }
    const std::string name = spec.substr(0, eq);
    auto [it, inserted] = dims.emplace(name, value);
    if (!inserted && it->second != value) {
      return invalid_argument("--dim '" + name + "' is given twice with different values (" +
                              std::to_string(it->second) + " and " + std::to_string(value) + ")");
    }
  }
  return dims;
}

}  // namespace compressor::cli
