#include "compressor/io/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace compressor::io {

namespace {

/// Writes every part to `fd`; false with errno set on failure.
bool write_all(int fd, std::initializer_list<std::string_view> parts) {
  for (std::string_view bytes : parts) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      done += static_cast<size_t>(n);
    }
  }
  return true;
}

}  // namespace

Status write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts) {
  namespace fs = std::filesystem;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) return io_error(path + ": is a folder");
    // /dev/null, /dev/stdout, a pipe: written in place (renaming over it would replace it).
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return io_error(path + ": cannot open: " + std::strerror(errno));
    const bool written = write_all(fd, parts);
    const std::string why = std::strerror(errno);
    ::close(fd);
    if (!written) return io_error(path + ": cannot write: " + why);
    return ok_status();
  }
  const fs::path target(path);
  std::string tmpl = (target.parent_path().empty() ? fs::path(".") : target.parent_path()) /
                     ("." + target.filename().string() + ".XXXXXX");
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return io_error(path + ": cannot create a temporary file: " + std::strerror(errno));
  if (!write_all(fd, parts)) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(tmpl.c_str());
    return io_error(path + ": cannot write: " + why);
  }
  ::fchmod(fd, 0644);  // mkstemp creates 0600; data files are shared like any output
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmpl.c_str());
    return io_error(path + ": cannot write: " + std::strerror(errno));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmpl.c_str());
    return io_error(path + ": cannot rename into place: " + why);
  }
  return ok_status();
}

StatusOr<uint64_t> deflate_size(const std::string& path) {
  constexpr size_t kChunk = size_t{1} << 20;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path + ": cannot open: " + std::strerror(errno));
  z_stream z{};
  // windowBits -15: a raw deflate stream, as zip stores it; memLevel 8 is zlib's default.
  if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    ::close(fd);
    return io_error(path + ": cannot start deflate");
  }
  std::vector<unsigned char> in(kChunk), out(kChunk);
  uint64_t total = 0;
  std::string error;
  bool done = false;
  while (!done && error.empty()) {
    const ssize_t n = ::read(fd, in.data(), in.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::string("cannot read: ") + std::strerror(errno);
      break;
    }
    const int flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
    z.next_in = in.data();
    z.avail_in = static_cast<uInt>(n);
    int rc = Z_OK;
    do {
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) {
        error = "deflate failed";
        break;
      }
      total += out.size() - z.avail_out;
    } while (z.avail_out == 0);
    done = rc == Z_STREAM_END;
  }
  deflateEnd(&z);
  ::close(fd);
  if (!error.empty()) return io_error(path + ": " + error);
  return total;
}

}  // namespace compressor::io
