// Process-wide logger writing to stderr.
#include "compressor/core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <memory>

namespace compressor {
namespace {

std::shared_ptr<spdlog::logger> make_logger() {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
  auto log = std::make_shared<spdlog::logger>("compressor", sink);
  log->set_pattern("%^%l%$: %v");
  log->set_level(spdlog::level::warn);
  return log;
}

std::shared_ptr<spdlog::logger>& logger_ptr() {
  static std::shared_ptr<spdlog::logger> log = make_logger();
  return log;
}

}  // namespace

void init_logging(LogLevel level) {
  spdlog::level::level_enum lv = spdlog::level::warn;
  switch (level) {
    case LogLevel::kError:
      lv = spdlog::level::err;
      break;
    case LogLevel::kWarn:
      lv = spdlog::level::warn;
      break;
    case LogLevel::kInfo:
      lv = spdlog::level::info;
      break;
    case LogLevel::kDebug:
      lv = spdlog::level::debug;
      break;
  }
  logger_ptr()->set_level(lv);
}

spdlog::logger& logger() { return *logger_ptr(); }

}  // namespace compressor
