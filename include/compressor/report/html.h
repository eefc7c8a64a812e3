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

/// The start of a self-contained page: doctype, head with `title` (escaped) and the report's
/// stylesheet, and the opening <body>; close it with html_page_end().
std::string html_page_start(const std::string& title);
std::string html_page_end();

/// One point of a scatter chart; `highlight` draws it in the failure colour.
struct Point {
  std::string label;
  double x = 0;
  double y = 0;
  bool highlight = false;
};

/// A scatter chart as an inline <svg> element with linear axes from 0 to the largest finite
/// value (at least 1 on x), ticks, axis titles and each point labelled; points with a
/// non-finite or negative coordinate are left out.
std::string svg_scatter_chart(const std::string& title, const std::vector<Point>& points,
                              const std::string& x_title, const std::string& y_title);

}  // namespace compressor::report
