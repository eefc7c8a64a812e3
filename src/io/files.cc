#include "compressor/io/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace compressor::io {

Status write_file_atomic(const std::string& path, std::initializer_list<std::string_view> parts) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::string tmpl = (target.parent_path().empty() ? fs::path(".") : target.parent_path()) /
                     ("." + target.filename().string() + ".XXXXXX");
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return io_error(path + ": cannot create a temporary file: " + std::strerror(errno));
  for (std::string_view bytes : parts) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const std::string why = std::strerror(errno);
        ::close(fd);
        ::unlink(tmpl.c_str());
        return io_error(path + ": cannot write: " + why);
      }
      done += static_cast<size_t>(n);
    }
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

}  // namespace compressor::io
