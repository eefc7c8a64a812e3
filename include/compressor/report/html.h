// The run report as one self-contained HTML page (written with --report-html): the same numbers
// as the JSON report, with tables and horizontal bar charts drawn as inline SVG. No scripts, no
// external assets; every string from the model or the user is HTML-escaped. The same report
// gives the same bytes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/report/report.h"

namespace compressor::report {

/// The page.
std::string render_html(const Report& report);

/// Writes the page atomically.
Status write_html(const Report& report, const std::string& path);

/// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string html_escape(std::string_view text);

/// One bar of a horizontal bar chart. `value` is the bar's length on the chart's scale;
/// `label` and `value_text` are drawn to its left and right (escaped when drawn).
struct Bar {
  std::string label;
  double value = 0;
  std::string value_text;
  /// A CSS colour; empty takes the chart's default.
  std::string color;
};

/// A horizontal bar chart as an inline <svg> element: one row per bar, scaled to the largest
/// finite value (bars with non-finite or negative values are drawn empty with their text).
std::string svg_bar_chart(const std::string& title, const std::vector<Bar>& bars);

}  // namespace compressor::report
