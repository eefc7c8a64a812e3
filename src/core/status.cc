// Status helpers.
#include "compressor/core/status.h"

namespace compressor {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kInvalidModel:
      return "invalid model";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kIo:
      return "i/o error";
    case ErrorCode::kGateFailed:
      return "gate failed";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

Status Status::with_context(const std::string& context) const& {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

Status Status::with_context(const std::string& context) && {
  if (ok()) return std::move(*this);
  message_ = context + ": " + message_;
  return std::move(*this);
}

}  // namespace compressor
