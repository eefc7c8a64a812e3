// Thin wrapper over spdlog: one logger for the library and the CLI, level set once.
#pragma once

#include <spdlog/spdlog.h>

namespace compressor {

/// Log verbosity chosen on the command line (-q, default, -v, -vv).
enum class LogLevel { kError, kWarn, kInfo, kDebug };

/// Sets up the process-wide logger (stderr, no colours when stderr is not a terminal).
void init_logging(LogLevel level);

/// The logger every module writes to.
spdlog::logger& logger();

}  // namespace compressor

#define COMPRESSOR_LOG_DEBUG(...) ::compressor::logger().debug(__VA_ARGS__)
#define COMPRESSOR_LOG_INFO(...) ::compressor::logger().info(__VA_ARGS__)
#define COMPRESSOR_LOG_WARN(...) ::compressor::logger().warn(__VA_ARGS__)
#define COMPRESSOR_LOG_ERROR(...) ::compressor::logger().error(__VA_ARGS__)
