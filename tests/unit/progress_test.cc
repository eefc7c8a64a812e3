// Progress: nothing for short work, a bar redrawn in place at most every redraw interval on a
// terminal, one plain line per interval otherwise (none before the first), and a final line; rates
// and time left computed from the items done so far.
#include "compressor/core/progress.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace compressor {
namespace {

/// A progress display writing into `out`, on a clock the test moves.
struct Fixture {
  std::vector<std::string> out;
  Progress::Clock::time_point now{};
  Progress::Options options(bool terminal) {
    Progress::Options o;
    o.sink = [this](std::string_view text) { out.emplace_back(text); };
    o.terminal = terminal;
    o.now = [this] { return now; };
    return o;
  }
  void tick(double seconds) {
    now += std::chrono::duration_cast<Progress::Clock::duration>(
        std::chrono::duration<double>(seconds));
  }
};

TEST(Progress, ShortWorkShowsNothing) {
  Fixture f;
  {
    Progress p("calibration", 100, "samples", f.options(true));
    for (int i = 0; i < 100; ++i) {
      f.tick(0.005);  // 0.5 s in all, under the 1 s delay
      p.advance();
    }
  }
  EXPECT_TRUE(f.out.empty());
}

TEST(Progress, PlainLinesAtTheIntervalThenAFinalOne) {
  Fixture f;
  {
    Progress p("drift", 100, "samples", f.options(false));
    for (int i = 0; i < 100; ++i) {
      f.tick(0.5);  // 2 samples per second, 50 s in all
      p.advance();
    }
  }
  // One line per 10 s (at 10, 20, 30, 40 s), then the final one.
  ASSERT_EQ(f.out.size(), 5u);
  EXPECT_EQ(f.out.front(), "drift: 20/100 samples (20%), 2.0 samples/s, 40 s left\n");
  EXPECT_EQ(f.out.back(), "drift: 100/100 samples (100%), 2.0 samples/s, done in 50 s\n");
  for (const auto& line : f.out) EXPECT_EQ(line.find('\r'), std::string::npos);
}

TEST(Progress, TerminalBarIsRedrawnInPlaceAndEndsItsLine) {
  Fixture f;
  {
    Progress p("calibration", 40, "samples", f.options(true));
    for (int i = 0; i < 40; ++i) {
      f.tick(0.05);  // 20 per second, 2 s in all
      p.advance();
    }
  }
  ASSERT_GE(f.out.size(), 2u);
  // At most one redraw per 0.1 s over the second after the delay, plus the final one.
  EXPECT_LE(f.out.size(), 12u);
  for (const auto& text : f.out) EXPECT_EQ(text.rfind("\rcalibration  [", 0), 0u) << text;
  EXPECT_EQ(f.out.back(),
            "\rcalibration  [########################]  40/40 samples  20 samples/s  done in 2 s"
            "\033[K\n");
  for (size_t i = 0; i + 1 < f.out.size(); ++i) {
    EXPECT_EQ(f.out[i].find('\n'), std::string::npos) << "only the final draw ends the line";
  }
}

TEST(Progress, FormatComputesRateAndTimeLeft) {
  EXPECT_EQ(Progress::format("batch", 3, 12, "models", 60.0, false),
            "batch: 3/12 models (25%), 0.1 models/s, 3 min left");
  EXPECT_EQ(Progress::format("batch", 6, 12, "models", 30.0, true, 8),
            "batch  [####....]  6/12 models  0.2 models/s  30 s left");
  EXPECT_EQ(Progress::format("x", 0, 0, "items", 0.0, false), "x: 0/0 items (0%), 0.0 items/s");
}

}  // namespace
}  // namespace compressor
