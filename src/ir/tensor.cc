// Tensor storage: shared bytes with copy on write.
#include "compressor/ir/tensor.h"

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

namespace compressor::ir {
namespace {

// Large buffers come from a cache of recently freed ones of the same (page-rounded) size: a
// model run allocates the same activation sizes over and over, and fresh pages from the
// operating system cost a page fault each. The cache holds at most kCacheLimit bytes; beyond
// that, freed buffers go back to the system.
constexpr size_t kPooledMin = size_t{64} << 10;
constexpr size_t kCacheLimit = size_t{256} << 20;
constexpr size_t kAlign = 64;

class BufferCache {
 public:
  static BufferCache& instance() {
    static BufferCache* cache = new BufferCache();  // never destroyed: buffers may outlive main
    return *cache;
  }
  // A buffer of exactly `bytes` (a multiple of 4 KiB), reused when one is cached.
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cached_ -= bytes;
        return p;
      }
    }
    return std::aligned_alloc(kAlign, bytes);
  }
  void give(void* p, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + bytes <= kCacheLimit) {
        free_.emplace(bytes, p);
        cached_ += bytes;
        return;
      }
    }
    std::free(p);
  }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

// Owned storage of `size` bytes; zero-filled when `zero`.
std::shared_ptr<const void> allocate(size_t size, bool zero, std::byte** data) {
  if (size < kPooledMin) {
    // Aligned like the large ones: vectorized kernels start their packets where the data is
    // aligned, so an address that differs from run to run would change the order of sums.
    const size_t rounded = std::max<size_t>((size + kAlign - 1) & ~(kAlign - 1), kAlign);
    void* p = std::aligned_alloc(kAlign, rounded);
    if (p == nullptr) throw std::bad_alloc();
    if (zero) std::memset(p, 0, size);
    *data = static_cast<std::byte*>(p);
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }
  const size_t rounded = (size + 4095) & ~size_t{4095};
  void* p = BufferCache::instance().take(rounded);
  if (p == nullptr) throw std::bad_alloc();
  if (zero) std::memset(p, 0, size);
  *data = static_cast<std::byte*>(p);
  return std::shared_ptr<void>(p, [rounded](void* q) { BufferCache::instance().give(q, rounded); });
}

}  // namespace

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

Tensor Tensor::zeros(DType dtype, Dims dims) { return make_owned(dtype, std::move(dims), true); }

Tensor Tensor::uninitialized(DType dtype, Dims dims) {
  return make_owned(dtype, std::move(dims), false);
}

Tensor Tensor::make_owned(DType dtype, Dims dims, bool zero) {
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  if (dtype == DType::kString) {
    t.strings_ = std::make_shared<std::vector<std::string>>(static_cast<size_t>(t.numel()));
    return t;
  }
  t.size_ = storage_bytes(dtype, t.numel());
  std::byte* data = nullptr;
  t.owner_ = allocate(t.size_, zero, &data);
  t.data_ = data;
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
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.size_ = bytes.size();
  t.writable_ = true;
  // Short strings keep their bytes inside the string object, so the address is known only once
  // the string sits where it stays.
  auto owned = std::make_shared<std::string>(std::move(bytes));
  if (reinterpret_cast<uintptr_t>(owned->data()) % kAlign != 0) {
    // Bytes from the protobuf parser sit wherever the heap put them; tensors are aligned so that
    // kernels compute the same sums on every run (see allocate).
    std::byte* data = nullptr;
    t.owner_ = allocate(t.size_, false, &data);
    if (!owned->empty()) std::memcpy(data, owned->data(), owned->size());
    t.data_ = data;
    return t;
  }
  t.data_ = reinterpret_cast<const std::byte*>(owned->data());
  t.owner_ = std::move(owned);
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
    std::byte* data = nullptr;
    auto owner = allocate(size_, false, &data);
    if (size_ > 0) std::memcpy(data, data_, size_);
    data_ = data;
    owner_ = std::move(owner);
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

Tensor half_to_float(const Tensor& t) {
  Tensor out = Tensor::uninitialized(DType::kFloat, t.dims());
  const auto* src = reinterpret_cast<const Eigen::half*>(t.data());
  auto dst = out.mutable_span<float>();
  for (size_t i = 0; i < dst.size(); ++i) dst[i] = static_cast<float>(src[i]);
  return out;
}

Tensor float_to_half(const Tensor& t) {
  Tensor out = Tensor::uninitialized(DType::kFloat16, t.dims());
  const auto src = t.span<float>();
  auto* dst = reinterpret_cast<Eigen::half*>(out.mutable_data());
  for (size_t i = 0; i < src.size(); ++i) dst[i] = Eigen::half(src[i]);
  return out;
}

}  // namespace compressor::ir
