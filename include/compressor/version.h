// The compressor version, recorded in every model it writes.
#pragma once

namespace compressor {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace compressor
