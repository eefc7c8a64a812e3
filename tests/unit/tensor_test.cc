// Tensor: dtype traits, element counts, sharing and copy on write.
#include "compressor/ir/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace compressor::ir {
namespace {

TEST(DType, TraitsFollowOnnxWireValues) {
  EXPECT_EQ(dtype_name(DType::kFloat), "float");
  EXPECT_EQ(traits(DType::kInt64).bits, 64);
  EXPECT_EQ(dtype_from_onnx(7), DType::kInt64);
  EXPECT_FALSE(dtype_from_onnx(0).has_value());
  EXPECT_FALSE(dtype_from_onnx(99).has_value());
  EXPECT_EQ(storage_bytes(DType::kInt4, 5), 3u);  // two per byte, rounded up
  EXPECT_EQ(storage_bytes(DType::kFloat16, 3), 6u);
}

TEST(DType, StorageBytesDoNotOverflowForHugeCounts) {
  const int64_t n = int64_t{1} << 62;
  EXPECT_EQ(storage_bytes(DType::kFloat, n), static_cast<size_t>(n) * 4);
  EXPECT_EQ(storage_bytes(DType::kInt4, n), static_cast<size_t>(n) / 2);
}

TEST(Tensor, ScalarHasOneElement) {
  Tensor t = Tensor::zeros(DType::kFloat, {});
  EXPECT_EQ(t.numel(), 1);
  EXPECT_EQ(t.nbytes(), 4u);
}

TEST(Tensor, CopiesShareUntilWritten) {
  std::vector<float> v{1, 2, 3, 4};
  Tensor a = Tensor::from_values<float>({2, 2}, v);
  Tensor b = a;
  EXPECT_EQ(a.data(), b.data());
  b.mutable_span<float>()[0] = 9;
  EXPECT_NE(a.data(), b.data());
  EXPECT_EQ(a.span<float>()[0], 1);
  EXPECT_EQ(b.span<float>()[0], 9);
  EXPECT_FALSE(a.bitwise_equal(b));
}

TEST(Tensor, BorrowedBytesAreNeverWrittenInPlace) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{5, 6});
  Tensor t = Tensor::borrow(DType::kFloat, {2}, owner,
                            reinterpret_cast<const std::byte*>(owner->data()), 8);
  t.mutable_span<float>()[1] = 0;
  EXPECT_EQ((*owner)[1], 6);
  EXPECT_EQ(t.span<float>()[1], 0);
}

TEST(Tensor, AdoptTakesStringBytes) {
  std::string bytes(8, '\0');
  Tensor t = Tensor::adopt(DType::kInt32, {2}, std::move(bytes));
  EXPECT_EQ(t.nbytes(), 8u);
  EXPECT_EQ(t.span<int32_t>()[1], 0);
}

// Kernels start their vector packets where the data is aligned, so a tensor whose address moved
// between runs would sum in another order and give other bits; every tensor is 64-byte aligned.
TEST(Tensor, OwnedAndAdoptedBytesAre64ByteAligned) {
  const auto aligned = [](const Tensor& t) {
    return reinterpret_cast<uintptr_t>(t.data()) % 64 == 0;
  };
  for (int64_t n : {1, 3, 17, 1000, 20000, 100000}) {
    EXPECT_TRUE(aligned(Tensor::zeros(DType::kFloat, {n}))) << n;
    EXPECT_TRUE(aligned(Tensor::uninitialized(DType::kFloat, {n}))) << n;
    // A string's heap bytes sit at any 16-byte boundary; adopting copies them when unaligned.
    for (size_t skew : {0, 1, 2, 3}) {
      std::vector<std::string> keep(skew);
      for (auto& k : keep) k.assign(40, 'x');
      std::string bytes(static_cast<size_t>(n) * 4, '\x01');
      Tensor t = Tensor::adopt(DType::kFloat, {n}, std::move(bytes));
      EXPECT_TRUE(aligned(t)) << n << " " << skew;
      EXPECT_EQ(t.nbytes(), static_cast<size_t>(n) * 4);
      EXPECT_EQ(std::to_integer<int>(t.data()[t.nbytes() - 1]), 1);
    }
  }
}

TEST(Tensor, ReshapedKeepsBytes) {
  std::vector<int64_t> v{1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::from_values<int64_t>({2, 3}, v);
  Tensor r = t.reshaped({3, 2});
  EXPECT_EQ(r.data(), t.data());
  EXPECT_EQ(dims_to_string(r.dims()), "[3, 2]");
}

}  // namespace
}  // namespace compressor::ir
