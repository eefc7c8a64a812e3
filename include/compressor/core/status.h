// Status and StatusOr<T>: errors as values that name the file, node and option at fault.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace compressor {

/// What kind of failure a Status carries; `main` maps it to an exit code.
enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  ///< A bad option value or usage (exit code 2).
  kNotFound,         ///< A file or name that does not exist.
  kInvalidModel,     ///< A model or data file that is malformed or inconsistent.
  kUnsupported,      ///< Valid input that this build cannot handle.
  kIo,               ///< Reading or writing failed.
  kGateFailed,       ///< A quality gate was not met (exit code 3).
  kInternal,         ///< A broken invariant of our own.
};

/// Short lower-case name of a code, for logs ("invalid model").
const char* error_code_name(ErrorCode code);

/// The outcome of an operation: ok, or a code with a one-line message.
/// Context is prepended as the error travels up ("model.onnx: node 'fc' (Gemm): ...").
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  /// Returns this status with `context + ": "` prepended to the message (no-op when ok).
  Status with_context(const std::string& context) const&;
  Status with_context(const std::string& context) &&;

  /// Marks a status as deliberately ignored.
  void ignore() const {}

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status ok_status() { return {}; }
inline Status invalid_argument(std::string m) {
  return {ErrorCode::kInvalidArgument, std::move(m)};
}
inline Status not_found(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status invalid_model(std::string m) { return {ErrorCode::kInvalidModel, std::move(m)}; }
inline Status unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status io_error(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Status internal_error(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

/// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = internal_error("StatusOr constructed from an ok Status");
  }
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace compressor

#define COMPRESSOR_CONCAT_INNER(a, b) a##b
#define COMPRESSOR_CONCAT(a, b) COMPRESSOR_CONCAT_INNER(a, b)

/// Returns from the enclosing function when `expr` yields a non-ok Status.
#define COMPRESSOR_RETURN_IF_ERROR(expr)                     \
  do {                                                       \
    ::compressor::Status _compressor_status = (expr);        \
    if (!_compressor_status.ok()) return _compressor_status; \
  } while (0)

#define COMPRESSOR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                     \
  if (!tmp.ok()) return tmp.status();                    \
  lhs = std::move(tmp).value()

/// `COMPRESSOR_ASSIGN_OR_RETURN(auto x, f());` unwraps a StatusOr or returns its error.
#define COMPRESSOR_ASSIGN_OR_RETURN(lhs, expr) \
  COMPRESSOR_ASSIGN_OR_RETURN_IMPL(COMPRESSOR_CONCAT(_compressor_or_, __LINE__), lhs, expr)
