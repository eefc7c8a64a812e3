// `compressor passes [--json]`: every registered pass with its summary and its options (default
// and help), as the --passes lists of optimize and the recipes name them.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "compressor/pass/registry.h"

namespace compressor::cli {
namespace {

constexpr size_t kWidth = 100;

struct PassesOptions {
  bool json = false;
};

// `text` broken at spaces into lines of at most `width` characters (longer words stay whole).
std::vector<std::string> wrap(std::string_view text, size_t width) {
  std::vector<std::string> lines;
  std::string line;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find(' ', pos), text.size());
    const std::string_view word = text.substr(pos, end - pos);
    pos = end + 1;
    if (word.empty()) continue;
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(std::move(line));
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += word;
  }
  if (!line.empty() || lines.empty()) lines.push_back(std::move(line));
  return lines;
}

// "name=default", or "name" for an option without a default.
std::string option_head(const pass::PassOptionInfo& o) {
  return o.default_value.empty() ? o.name : o.name + "=" + o.default_value;
}

void print_text(const std::vector<pass::PassInfo>& passes) {
  std::printf(
      "%zu passes; run them with `compressor optimize MODEL -o OUT --passes "
      "'name,name{key=value,...}'`.\n",
      passes.size());
  for (const pass::PassInfo& p : passes) {
    std::printf("\n%s\n", p.name.c_str());
    for (const auto& line : wrap(p.summary, kWidth - 2)) std::printf("  %s\n", line.c_str());
    if (p.options.empty()) {
      std::printf("  (no options)\n");
      continue;
    }
    size_t head = 0;
    for (const auto& o : p.options) head = std::max(head, option_head(o).size());
    // Help in a column after the widest option, or on the next lines when that is too narrow.
    const bool beside = head + 6 + 40 <= kWidth;
    const size_t indent = beside ? 4 + head + 2 : 8;
    for (const auto& o : p.options) {
      const std::string h = option_head(o);
      const auto help = wrap(o.help, kWidth - indent);
      if (beside) {
        std::printf("    %-*s  %s\n", static_cast<int>(head), h.c_str(), help[0].c_str());
      } else {
        std::printf("    %s\n%*s%s\n", h.c_str(), static_cast<int>(indent), "", help[0].c_str());
      }
      for (size_t i = 1; i < help.size(); ++i) {
        std::printf("%*s%s\n", static_cast<int>(indent), "", help[i].c_str());
      }
    }
  }
}

void print_json(const std::vector<pass::PassInfo>& passes) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const pass::PassInfo& p : passes) {
    nlohmann::ordered_json options = nlohmann::ordered_json::array();
    for (const auto& o : p.options) {
      options.push_back({{"name", o.name}, {"default", o.default_value}, {"help", o.help}});
    }
    out.push_back({{"name", p.name}, {"summary", p.summary}, {"options", std::move(options)}});
  }
  std::printf("%s\n", nlohmann::ordered_json{{"passes", std::move(out)}}.dump(2).c_str());
}

Status run_passes(const PassesOptions& opts) {
  const auto& passes = pass::PassRegistry::builtin().passes();
  if (opts.json) {
    print_json(passes);
  } else {
    print_text(passes);
  }
  return ok_status();
}

}  // namespace

void setup_passes_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<PassesOptions>();
  CLI::App* cmd = app.add_subcommand(
      "passes", "List every pass with its summary and its options (default and help)");
  cmd->add_flag("--json", opts->json, "Print JSON instead of text");
  cmd->callback([opts, &run] { run = [opts] { return run_passes(*opts); }; });
}

}  // namespace compressor::cli
