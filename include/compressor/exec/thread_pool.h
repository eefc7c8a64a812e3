// ThreadPool: a fixed set of workers for kernels that split work into independent ranges.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace compressor::exec {

/// Runs `fn(begin, end)` over [0, n) split into contiguous chunks. Chunks are fixed by n and
/// the thread count only, so results never depend on scheduling.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  /// Splits [0, n) into at most threads() chunks of at least `min_chunk` and waits for all.
  void parallel_for(int64_t n, int64_t min_chunk,
                    const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void worker_loop();
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::function<void()>> queue_;
  int pending_ = 0;
  bool stop_ = false;
};

/// Runs fn over [0, n) on `pool` when given (and worthwhile), else inline.
void parallel_for(ThreadPool* pool, int64_t n, int64_t min_chunk,
                  const std::function<void(int64_t, int64_t)>& fn);

}  // namespace compressor::exec
