// Subcommand setup functions; each binds an options struct and sets the command's callback.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "compressor/core/status.h"

namespace compressor::cli {

/// The status of the subcommand that ran; `main` turns it into the exit code.
using Runner = std::function<Status()>;

/// Each setup function adds one subcommand to `app` and stores its runner in `run` when the
/// subcommand is chosen.
void setup_info_command(CLI::App& app, Runner& run);
void setup_optimize_command(CLI::App& app, Runner& run);
void setup_exec_command(CLI::App& app, Runner& run);
void setup_profile_command(CLI::App& app, Runner& run);
void setup_eval_command(CLI::App& app, Runner& run);
void setup_sensitivity_command(CLI::App& app, Runner& run);
void setup_quantize_command(CLI::App& app, Runner& run);
void setup_prune_command(CLI::App& app, Runner& run);
void setup_factorize_command(CLI::App& app, Runner& run);
void setup_passes_command(CLI::App& app, Runner& run);
void setup_run_command(CLI::App& app, Runner& run);
void setup_batch_command(CLI::App& app, Runner& run);

}  // namespace compressor::cli
