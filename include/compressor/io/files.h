// Small file helpers shared by the writers of reports and data files.
#pragma once

#include <string>
#include <string_view>

#include "compressor/core/status.h"

namespace compressor::io {

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, then
/// renamed over `path`. Readers never see a half-written file.
Status write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace compressor::io
