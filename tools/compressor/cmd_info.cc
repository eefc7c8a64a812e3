// `compressor info MODEL [--json]`: what a model contains.
#include "commands.h"

namespace compressor::cli {

void setup_info_command(CLI::App& app, Runner& run) {
  (void)app;
  (void)run;
}

}  // namespace compressor::cli
