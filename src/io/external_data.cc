// External data: path confinement (no absolute paths, `..`, links) and bounds checks.
#include "external_data.h"

#include <fcntl.h>
#include <onnx/onnx_pb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <filesystem>

namespace compressor::io {
namespace fs = std::filesystem;

StatusOr<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return io_error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error(path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return io_error(path + ": cannot map: " + std::strerror(errno));
    }
    file->data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);
  return file;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

namespace {

StatusOr<uint64_t> parse_u64(const std::string& text, const std::string& key,
                             const std::string& what) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return invalid_model(what + ": external data '" + key + "' is not a non-negative integer: '" +
                         text + "'");
  }
  return value;
}

}  // namespace

StatusOr<std::shared_ptr<MappedFile>> ExternalDataReader::map_confined(const std::string& location,
                                                                       const std::string& what) {
  auto it = files_.find(location);
  if (it != files_.end()) return it->second;

  if (location.empty()) return invalid_model(what + ": external data location is empty");
  if (location.find('\0') != std::string::npos) {
    return invalid_model(what + ": external data location contains a NUL byte");
  }
  fs::path rel(location);
  if (rel.is_absolute() || location.front() == '/' || location.front() == '\\' ||
      location.find(':') != std::string::npos) {
    return invalid_model(what + ": external data location '" + location +
                         "' is absolute; it must be relative to the model's folder");
  }
  for (const auto& part : rel) {
    if (part == "..") {
      return invalid_model(what + ": external data location '" + location +
                           "' escapes the model's folder ('..')");
    }
  }
  if (location.find('\\') != std::string::npos) {
    return invalid_model(what + ": external data location '" + location + "' contains a backslash");
  }
  // Walk every component below the base folder, refusing symbolic links on the way.
  fs::path base = base_dir_.empty() ? fs::path(".") : fs::path(base_dir_);
  fs::path current = base;
  struct stat st {};
  for (const auto& part : rel) {
    if (part.empty() || part == ".") continue;
    current /= part;
    if (::lstat(current.c_str(), &st) != 0) {
      return not_found(what + ": external data file '" + location +
                       "' not found beside the model (" + current.string() + ")");
    }
    if (S_ISLNK(st.st_mode)) {
      return invalid_model(what + ": external data location '" + location +
                           "' goes through a symbolic link, which is refused");
    }
  }
  if (!S_ISREG(st.st_mode)) {
    return invalid_model(what + ": external data location '" + location +
                         "' is not a regular file");
  }
  if (st.st_nlink > 1) {
    return invalid_model(what + ": external data file '" + location +
                         "' has other hard links, which is refused");
  }
  // Belt and braces: the resolved path must still be inside the resolved base folder.
  std::error_code ec;
  fs::path real_base = fs::canonical(base, ec);
  fs::path real_file = ec ? fs::path() : fs::canonical(current, ec);
  if (ec) return io_error(what + ": cannot resolve external data path '" + location + "'");
  auto rb = real_base.string() + "/";
  if (real_file.string().compare(0, rb.size(), rb) != 0) {
    return invalid_model(what + ": external data location '" + location +
                         "' resolves outside the model's folder");
  }
  COMPRESSOR_ASSIGN_OR_RETURN(auto file, MappedFile::open(current.string()));
  files_.emplace(location, file);
  return file;
}

StatusOr<ir::Tensor> ExternalDataReader::read(const onnx::TensorProto& proto, ir::DType dtype,
                                              ir::Dims dims, const std::string& what) {
  std::string location;
  bool has_offset = false, has_length = false;
  uint64_t offset = 0, length = 0;
  for (const auto& entry : proto.external_data()) {
    const std::string& key = entry.key();
    if (key == "location") {
      location = entry.value();
    } else if (key == "offset") {
      COMPRESSOR_ASSIGN_OR_RETURN(offset, parse_u64(entry.value(), key, what));
      has_offset = true;
    } else if (key == "length") {
      COMPRESSOR_ASSIGN_OR_RETURN(length, parse_u64(entry.value(), key, what));
      has_length = true;
    } else if (key == "checksum") {
      // Informational; ONNX defines no algorithm for it.
    } else {
      return invalid_model(what + ": unknown external data key '" + key +
                           "' (valid: location, offset, length, checksum)");
    }
  }
  (void)has_offset;
  if (dtype == ir::DType::kString) {
    return invalid_model(what + ": string tensors cannot be stored as external data");
  }
  const uint64_t expected = ir::storage_bytes(dtype, ir::element_count(dims));
  if (has_length && length != expected) {
    return invalid_model(what + ": external data length " + std::to_string(length) +
                         " does not match the tensor's " + std::to_string(expected) + " bytes");
  }
  COMPRESSOR_ASSIGN_OR_RETURN(auto file, map_confined(location, what));
  if (offset > file->size() || expected > file->size() - offset) {
    return invalid_model(what + ": external data [" + std::to_string(offset) + ", +" +
                         std::to_string(expected) + ") lies beyond the end of '" + location +
                         "' (" + std::to_string(file->size()) + " bytes)");
  }
  const std::byte* data = file->data() == nullptr ? nullptr : file->data() + offset;
  return ir::Tensor::borrow(dtype, std::move(dims), file, data, expected);
}

}  // namespace compressor::io
