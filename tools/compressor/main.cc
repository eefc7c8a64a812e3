// compressor: the command-line entry point. Maps every outcome to the exit-code contract:
// 0 success, 1 error, 2 usage error, 3 gate failed.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "commands.h"
#include "compressor/core/logging.h"
#include "compressor/version.h"

namespace {

int exit_code_for(const compressor::Status& status) {
  using compressor::ErrorCode;
  switch (status.code()) {
    case ErrorCode::kOk:
      return 0;
    case ErrorCode::kInvalidArgument:
      return 2;
    case ErrorCode::kGateFailed:
      return 3;
    default:
      return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"compressor: makes ONNX models smaller and faster, and measures what they lost"};
  app.set_version_flag("--version", std::string(compressor::kVersion));
  app.require_subcommand(1);
  int verbose = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "More log output (-vv for debug)");
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");

  compressor::cli::Runner run;
  compressor::cli::setup_info_command(app, run);
  compressor::cli::setup_optimize_command(app, run);
  compressor::cli::setup_exec_command(app, run);
  compressor::cli::setup_profile_command(app, run);
  compressor::cli::setup_eval_command(app, run);
  compressor::cli::setup_sensitivity_command(app, run);
  compressor::cli::setup_prune_command(app, run);
  compressor::cli::setup_quantize_command(app, run);
  compressor::cli::setup_factorize_command(app, run);
  compressor::cli::setup_passes_command(app, run);
  compressor::cli::setup_run_command(app, run);
  compressor::cli::setup_batch_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    std::fprintf(stderr, "Run with --help for usage.\n");
    return 2;
  }

  compressor::init_logging(quiet          ? compressor::LogLevel::kError
                           : verbose >= 2 ? compressor::LogLevel::kDebug
                           : verbose == 1 ? compressor::LogLevel::kInfo
                                          : compressor::LogLevel::kWarn);
  try {
    compressor::Status status = run ? run() : compressor::internal_error("no command ran");
    if (!status.ok()) std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return exit_code_for(status);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal error: %s\n", e.what());
  }
  return 1;
}
