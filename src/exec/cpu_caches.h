// Tells Eigen the data cache sizes of this machine, read from sysfs, so that its GEMM blocking
// fits the real caches (its own CPUID probe can report a last-level cache ten times too large
// in virtual machines, which makes large products spill).
#pragma once

namespace compressor::exec {

/// Reads the L1d, L2 and L3 sizes of cpu0 from /sys/devices/system/cpu and passes them to
/// Eigen::setCpuCacheSizes, once per process; keeps Eigen's own values when sysfs is unreadable.
void configure_eigen_caches();

}  // namespace compressor::exec
