// Declarations of every built-in pass's factory and info, generated from passes.def.
#pragma once

#include "compressor/pass/pass.h"
#include "compressor/pass/registry.h"

namespace compressor::passes {

#define COMPRESSOR_PASS(name, factory, info)                                       \
  StatusOr<std::unique_ptr<pass::Pass>> factory(const pass::PassOptions& options); \
  const pass::PassInfo& info();
#include "passes.def"
#undef COMPRESSOR_PASS

/// Adds every pass of passes.def to `registry`, in list order.
void register_builtin_passes(pass::PassRegistry& registry);

}  // namespace compressor::passes
