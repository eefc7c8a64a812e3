// Declarations of every kernel family's registration function, generated from the .def list.
#pragma once

#include "compressor/exec/kernel_registry.h"

namespace compressor::kernels {

#define COMPRESSOR_KERNEL_FAMILY(family) void register_##family##_kernels(exec::KernelRegistry& r);
#include "kernel_families.def"
#undef COMPRESSOR_KERNEL_FAMILY

/// Registers every family of kernel_families.def.
inline void register_builtin_kernels(exec::KernelRegistry& r) {
#define COMPRESSOR_KERNEL_FAMILY(family) register_##family##_kernels(r);
#include "kernel_families.def"
#undef COMPRESSOR_KERNEL_FAMILY
}

}  // namespace compressor::kernels
