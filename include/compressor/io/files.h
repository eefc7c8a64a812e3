// Small file helpers shared by the writers of reports and data files.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "compressor/core/status.h"

namespace compressor::io {

/// Writes the concatenated parts to `path` atomically: a temporary file in the same folder,
/// flushed, then renamed over `path`. Readers never see a half-written file. A `path` that is
/// not a regular file (/dev/null, /dev/stdout, a pipe) is written in place, never replaced.
Status write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts);
inline Status write_file_atomic(const std::string& path, std::string_view bytes) {
  return write_file_atomic(path, {bytes});
}

/// The size of the file's bytes compressed with deflate at zlib level 6, the default of `zip`
/// and of most archivers: the raw deflate stream a zip entry stores, without zip's or zlib's
/// headers. Reads the file in chunks; memory use does not grow with its size.
StatusOr<uint64_t> deflate_size(const std::string& path);

}  // namespace compressor::io
