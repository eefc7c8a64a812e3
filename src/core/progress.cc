#include "compressor/core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "compressor/core/logging.h"

namespace compressor {

Progress::Progress(std::string what, uint64_t total, std::string unit)
    : Progress(std::move(what), total, std::move(unit), Options{}) {}

Progress::Progress(std::string what, uint64_t total, std::string unit, Options options)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), options_(std::move(options)) {
  if (!options_.sink) {
    enabled_ = logger().should_log(spdlog::level::warn);
    options_.terminal = isatty(fileno(stderr)) != 0;
    options_.sink = [](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stderr);
      std::fflush(stderr);
    };
  }
  if (!options_.now) options_.now = [] { return Clock::now(); };
  start_ = last_shown_ = options_.now();
}

Progress::~Progress() { finish(); }

double Progress::elapsed() const {
  return std::chrono::duration<double>(options_.now() - start_).count();
}

void Progress::advance(uint64_t n) {
  done_ += n;
  if (!enabled_ || finished_) return;
  const auto now = options_.now();
  // Plain lines start after a full interval: logs of short runs stay clean.
  const double delay = options_.terminal ? options_.delay_s : options_.line_every_s;
  if (std::chrono::duration<double>(now - start_).count() < delay) return;
  const double since = std::chrono::duration<double>(now - last_shown_).count();
  const double every = options_.terminal ? options_.redraw_s : options_.line_every_s;
  if (shown_ && since < every) return;
  show(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  // A plain line already showing the last count is not repeated; a terminal bar still needs its
  // line ended.
  if (enabled_ && shown_ && (options_.terminal || shown_done_ != done_)) show(true);
}

void Progress::show(bool final) {
  const std::string line = format(what_, done_, total_, unit_, elapsed(), options_.terminal);
  if (options_.terminal) {
    // \r and clear to the end of the line, so a shorter line leaves no tail.
    options_.sink("\r" + line + "\033[K" + (final ? "\n" : ""));
  } else {
    options_.sink(line + "\n");
  }
  shown_ = true;
  shown_done_ = done_;
  last_shown_ = options_.now();
}

std::string Progress::format(std::string_view what, uint64_t done, uint64_t total,
                             std::string_view unit, double elapsed_s, bool bar, int width) {
  const double fraction =
      total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 0.0;
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  char rate_text[48];
  std::snprintf(rate_text, sizeof(rate_text), rate >= 10 ? "%.0f %s/s" : "%.1f %s/s", rate,
                std::string(unit).c_str());
  std::string left;
  if (done >= total && total > 0) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "done in %.0f s", elapsed_s);
    left = buf;
  } else if (rate > 0 && total > done) {
    const double seconds = static_cast<double>(total - done) / rate;
    char buf[32];
    if (seconds >= 90) {
      std::snprintf(buf, sizeof(buf), "%.0f min left", std::ceil(seconds / 60));
    } else {
      std::snprintf(buf, sizeof(buf), "%.0f s left", std::ceil(seconds));
    }
    left = buf;
  }
  const std::string count =
      std::to_string(done) + "/" + std::to_string(total) + " " + std::string(unit);
  std::string out;
  if (bar) {
    const int cells = std::max(1, width);
    const int full = static_cast<int>(std::floor(fraction * cells));
    out = std::string(what) + "  [" + std::string(static_cast<size_t>(full), '#') +
          std::string(static_cast<size_t>(cells - full), '.') + "]  " + count + "  " + rate_text;
    if (!left.empty()) out += "  " + left;
  } else {
    char pct[16];
    std::snprintf(pct, sizeof(pct), " (%.0f%%)", fraction * 100);
    out = std::string(what) + ": " + count + pct + ", " + rate_text;
    if (!left.empty()) out += ", " + left;
  }
  return out;
}

}  // namespace compressor
