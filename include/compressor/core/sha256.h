// SHA-256 (FIPS 180-4) of bytes and files, for the report's model and output hashes and for
// keying cached results.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "compressor/core/status.h"

namespace compressor {

/// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  /// The digest as 64 lower-case hex digits; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

/// SHA-256 of `bytes` in hex.
std::string sha256_hex(std::string_view bytes);

/// SHA-256 of a file's contents in hex, read in chunks.
StatusOr<std::string> sha256_file(const std::string& path);

}  // namespace compressor
