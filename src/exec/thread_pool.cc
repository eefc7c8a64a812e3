// ThreadPool: fixed workers, fixed chunking, so results never depend on scheduling.
//
// A job is published through `current_` and announced by bumping `generation_`. Workers spin on
// the generation for a short while after each job and then sleep on a condition variable, so a
// model run's many short parallel sections cost no system calls. A worker registers in
// `in_job_` before it looks at the job and the submitting thread closes the job (current_ =
// null) and then waits for in_job_ to drain, so no worker can read a job that is being reused.
#include "compressor/exec/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define COMPRESSOR_CPU_RELAX() _mm_pause()
#else
#define COMPRESSOR_CPU_RELAX() std::this_thread::yield()
#endif

namespace compressor::exec {
namespace {

// How long an idle worker spins before it sleeps.
constexpr auto kSpin = std::chrono::microseconds(200);

// Waits for `done()` by spinning, yielding the core now and then in case the thread it waits
// for was preempted.
template <typename Done>
void spin_until(Done done) {
  for (int polls = 1; !done(); ++polls) {
    COMPRESSOR_CPU_RELAX();
    if (polls % 1024 == 0) std::this_thread::yield();
  }
}

// True on a thread that is running a chunk of some pool's job (nested calls run inline).
thread_local bool t_in_chunk = false;

}  // namespace

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

ThreadPool::ThreadPool(int threads) {
  const int extra = std::max(0, threads - 1);
  for (int i = 0; i < extra; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(Job& job) {
  t_in_chunk = true;
  for (;;) {
    const int64_t c = job.next.fetch_add(1);
    if (c >= job.chunks) break;
    const int64_t begin = c * job.step, end = std::min(job.n, begin + job.step);
    if (begin < end) (*job.fn)(begin, end);
    job.done.fetch_add(1);
  }
  t_in_chunk = false;
}

void ThreadPool::worker_loop() {
  uint64_t seen = generation_.load();
  for (;;) {
    // Spin for a new generation, then sleep until one comes.
    auto sleep_at = std::chrono::steady_clock::now() + kSpin;
    int polls = 0;
    while (generation_.load() == seen && !stop_.load()) {
      COMPRESSOR_CPU_RELAX();
      if (++polls % 64 != 0 || std::chrono::steady_clock::now() < sleep_at) continue;
      std::unique_lock<std::mutex> lock(sleep_mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
      sleep_at = std::chrono::steady_clock::now() + kSpin;
    }
    if (stop_.load()) return;
    seen = generation_.load();
    in_job_.fetch_add(1);
    if (Job* job = current_.load()) work(*job);
    in_job_.fetch_sub(1);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t min_chunk,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  const int64_t chunks = std::min<int64_t>(threads(), max_chunks);
  std::unique_lock<std::mutex> owner(submit_, std::defer_lock);
  if (chunks <= 1 || t_in_chunk || !owner.try_lock()) {
    fn(0, n);
    return;
  }
  // Workers left over from the previous job must be gone before its fields change.
  spin_until([&] { return in_job_.load() == 0; });
  job_.fn = &fn;
  job_.n = n;
  job_.step = (n + chunks - 1) / chunks;
  job_.chunks = chunks;
  job_.next.store(0);
  job_.done.store(0);
  current_.store(&job_);
  {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  work(job_);
  spin_until([&] { return job_.done.load() == chunks; });
  current_.store(nullptr);
  spin_until([&] { return in_job_.load() == 0; });
}

void parallel_for(ThreadPool* pool, int64_t n, int64_t min_chunk,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (pool == nullptr || pool->threads() <= 1 || n < 2 * min_chunk) {
    if (n > 0) fn(0, n);
    return;
  }
  pool->parallel_for(n, min_chunk, fn);
}

}  // namespace compressor::exec
