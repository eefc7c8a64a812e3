// Small file helpers shared by the writers of reports and data files.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "compressor/core/status.h"

namespace compressor::io {

/// Writes the concatenated parts to `path` atomically: a temporary file in the same folder,
/// flushed, then renamed over `path`. Readers never see a half-written file.
Status write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts);
inline Status write_file_atomic(const std::string& path, std::string_view bytes) {
  return write_file_atomic(path, {bytes});
}

}  // namespace compressor::io
