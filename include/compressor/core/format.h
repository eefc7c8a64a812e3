// Number formatting shared by the report and the CLI tables.
#pragma once

#include <cstdint>
#include <string>

namespace compressor {

/// 1234567 -> "1,234,567".
std::string with_commas(uint64_t n);

/// Bytes in B, KiB, MiB or GiB ("1.5 MiB").
std::string human_bytes(uint64_t bytes);

/// A metric value: 6 significant digits between 1e-3 and 1e5, else "1.234e-05"; "nan", "inf".
std::string format_value(double v);

}  // namespace compressor
