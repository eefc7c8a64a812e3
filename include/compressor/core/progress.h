// Progress of long loops (calibration and drift measurement over many samples, batch runs) on
// stderr: a bar redrawn in place on a terminal (after a second), a plain line every ten seconds
// otherwise (the first after ten seconds, so logs of short runs stay clean), and a final line
// when anything was shown. -q (log level error) silences it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace compressor {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    /// Where text goes; default: stderr (and whether it is a terminal decides `terminal`).
    std::function<void(std::string_view)> sink;
    bool terminal = false;  ///< Only used with a custom sink.
    /// The clock; default Clock::now (tests step their own).
    std::function<Clock::time_point()> now;
    double delay_s = 1.0;      ///< Terminal: nothing is shown before this much time has passed.
    double redraw_s = 0.1;     ///< Terminal: at most one redraw per this interval.
    double line_every_s = 10;  ///< Not a terminal: one line per this interval (the first too).
  };

  /// `what` names the work ("calibration"), `unit` the items ("samples"). Shown only when the
  /// process logs warnings (not under -q) or when a custom sink is given.
  Progress(std::string what, uint64_t total, std::string unit = "samples");
  Progress(std::string what, uint64_t total, std::string unit, Options options);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// `n` more items done.
  void advance(uint64_t n = 1);
  /// Ends the display: a terminal bar is completed and ends its line; a plain final line is
  /// printed when any line was. Called by the destructor if not before.
  void finish();

  /// "calibration  [#######.....]  40/200 samples  12.5 samples/s  13 s left" (terminal, with a
  /// bar of `width` cells) or "calibration: 40/200 samples (20%), 12.5 samples/s, 13 s left".
  static std::string format(std::string_view what, uint64_t done, uint64_t total,
                            std::string_view unit, double elapsed_s, bool bar, int width = 24);

 private:
  void show(bool final);
  double elapsed() const;

  std::string what_;
  std::string unit_;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
  Options options_;
  bool enabled_ = true;
  bool shown_ = false;
  uint64_t shown_done_ = 0;  ///< The count the last line showed.
  bool finished_ = false;
  Clock::time_point start_;
  Clock::time_point last_shown_;
};

}  // namespace compressor
