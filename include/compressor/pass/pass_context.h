// PassContext: what passes may read besides the model (seed, thread count, notes).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace compressor::pass {

class CalibrationTable;

/// Shared state handed to every pass of a pipeline run.
class PassContext {
 public:
  PassContext() = default;
  explicit PassContext(uint64_t seed) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  int threads() const { return threads_; }
  void set_threads(int threads) { threads_ = threads; }
  /// Values of symbolic input dimensions (--dim), for MAC counts and shapes.
  const std::map<std::string, int64_t>& dims() const { return dims_; }
  void set_dims(std::map<std::string, int64_t> dims) { dims_ = std::move(dims); }
  /// Activation ranges for passes that quantize activations (set by the pipeline before such a
  /// pass runs); null when none are available.
  const CalibrationTable* calibration() const { return calibration_; }
  void set_calibration(const CalibrationTable* table) { calibration_ = table; }

 private:
  uint64_t seed_ = 0;
  int threads_ = 0;  ///< 0: all cores.
  std::map<std::string, int64_t> dims_;
  const CalibrationTable* calibration_ = nullptr;
};

}  // namespace compressor::pass
