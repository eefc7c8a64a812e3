// Expands passes.def into registrations.
#include <cassert>

#include "passes.h"

namespace compressor::passes {

void register_builtin_passes(pass::PassRegistry& registry) {
#define COMPRESSOR_PASS(cli_name, factory, info) \
  assert(info().name == (cli_name));             \
  registry.add(info(), &factory);
#include "passes.def"
#undef COMPRESSOR_PASS
}

}  // namespace compressor::passes
