// ThreadPool: a fixed set of workers for kernels that split work into independent ranges.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace compressor::exec {

/// Runs `fn(begin, end)` over [0, n) split into contiguous chunks. Chunk boundaries are fixed by
/// n, `min_chunk` and the thread count only (which thread runs a chunk may vary), so results
/// never depend on scheduling. Workers spin briefly after a job before they sleep, so the
/// back-to-back calls of a model run do not pay a wake-up each; one job runs at a time, and a
/// call made while the pool is busy (another thread's run, or a nested call) runs inline.
/// A thread count as options give it: `requested` when positive, else every core (at least 1).
int resolve_threads(int requested);

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
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn = nullptr;
    int64_t n = 0, step = 0, chunks = 0;
    std::atomic<int64_t> next{0};  // next chunk to claim
    std::atomic<int64_t> done{0};  // chunks finished
  };
  void worker_loop();
  // Claims and runs chunks of job_ until none is left.
  void work(Job& job);

  std::vector<std::thread> workers_;
  std::mutex submit_;  // held by the thread whose job is running
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  Job job_;
  std::atomic<Job*> current_{nullptr};   // &job_ while a job is open, else null
  std::atomic<uint64_t> generation_{0};  // bumped when a job opens
  std::atomic<int> in_job_{0};           // workers that may be reading job_
  std::atomic<bool> stop_{false};
};

/// Runs fn over [0, n) on `pool` when given (and worthwhile), else inline.
void parallel_for(ThreadPool* pool, int64_t n, int64_t min_chunk,
                  const std::function<void(int64_t, int64_t)>& fn);

}  // namespace compressor::exec
