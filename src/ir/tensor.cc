// Tensor storage: shared bytes with copy on write.
#include "compressor/ir/tensor.h"

#include <sstream>

namespace compressor::ir {

int64_t element_count(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string dims_to_string(const Dims& dims) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < dims.size(); ++i) out << (i ? ", " : "") << dims[i];
  out << ']';
  return out.str();
}

Tensor Tensor::zeros(DType dtype, Dims dims) {
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  if (dtype == DType::kString) {
    t.strings_ = std::make_shared<std::vector<std::string>>(static_cast<size_t>(t.numel()));
    return t;
  }
  t.size_ = storage_bytes(dtype, t.numel());
  auto bytes = std::make_shared<std::vector<std::byte>>(t.size_);
  t.data_ = bytes->data();
  t.owner_ = std::move(bytes);
  t.writable_ = true;
  return t;
}

Tensor Tensor::borrow(DType dtype, Dims dims, std::shared_ptr<const void> owner,
                      const std::byte* data, size_t size) {
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.owner_ = std::move(owner);
  t.data_ = data;
  t.size_ = size;
  return t;
}

Tensor Tensor::adopt(DType dtype, Dims dims, std::string bytes) {
  auto owned = std::make_shared<std::string>(std::move(bytes));
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.data_ = reinterpret_cast<const std::byte*>(owned->data());
  t.size_ = owned->size();
  t.owner_ = std::move(owned);
  t.writable_ = true;
  return t;
}

Tensor Tensor::from_strings(Dims dims, std::vector<std::string> strings) {
  Tensor t;
  t.dtype_ = DType::kString;
  t.dims_ = std::move(dims);
  t.strings_ = std::make_shared<std::vector<std::string>>(std::move(strings));
  return t;
}

std::byte* Tensor::mutable_data() {
  if (!writable_ || owner_.use_count() > 1) {
    auto bytes = std::make_shared<std::vector<std::byte>>(data_, data_ + size_);
    data_ = bytes->data();
    owner_ = std::move(bytes);
    writable_ = true;
  }
  return const_cast<std::byte*>(data_);
}

bool Tensor::bitwise_equal(const Tensor& other) const {
  if (dtype_ != other.dtype_ || dims_ != other.dims_) return false;
  if (dtype_ == DType::kString) return *strings_ == *other.strings_;
  return size_ == other.size_ && (size_ == 0 || std::memcmp(data_, other.data_, size_) == 0);
}

Tensor Tensor::reshaped(Dims dims) const {
  Tensor t = *this;
  t.dims_ = std::move(dims);
  return t;
}

}  // namespace compressor::ir
