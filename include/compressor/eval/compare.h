// Model-vs-model comparison on samples: drift of a candidate against a reference, streamed over
// the samples, with the reference's outputs computed once and kept for repeated comparisons
// (one per pass of a pipeline).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/eval/drift.h"
#include "compressor/exec/executor.h"
#include "compressor/io/samples.h"
#include "compressor/ir/model.h"

namespace compressor::eval {

/// The outputs of one model on every sample of a set, in sample order. Kept in memory up to a
/// budget; beyond it, tensors are written to an unnamed temporary file and read back when asked
/// for, so holding the outputs of many samples does not grow memory.
class OutputStore {
 public:
  explicit OutputStore(size_t memory_budget_bytes = size_t{64} << 20);
  OutputStore(OutputStore&&) noexcept;
  OutputStore& operator=(OutputStore&&) noexcept;
  ~OutputStore();

  /// Appends one sample's outputs.
  Status append(std::vector<ir::Tensor> outputs);
  size_t size() const;
  /// Sample i's outputs.
  StatusOr<std::vector<ir::Tensor>> get(size_t i) const;
  /// Bytes held in memory and on disk.
  uint64_t memory_bytes() const;
  uint64_t spilled_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// How models are run for a comparison.
struct CompareOptions {
  exec::ExecutorOptions executor;
};

/// Drift of `candidate` against `reference` on every sample, streaming: each sample's outputs
/// of both models are compared and dropped. Outputs are matched by name; the candidate must
/// have every output of the reference. Errors name the model ("candidate"/"reference"), the
/// sample and the output.
StatusOr<std::vector<OutputDrift>> compare_models(const ir::Model& reference,
                                                  const ir::Model& candidate,
                                                  const io::SampleSet& samples,
                                                  const CompareOptions& options = {});

/// Measures the drift of successive candidates (the model after each pass) against one
/// reference, whose outputs are computed once. It also keeps the last measured candidate's
/// outputs, so each measurement gives the drift against the previous candidate too.
class DriftMeter {
 public:
  /// Runs `reference` on every sample and keeps its outputs.
  static StatusOr<std::unique_ptr<DriftMeter>> create(const ir::Model& reference,
                                                      const io::SampleSet& samples,
                                                      const CompareOptions& options = {});

  struct Measurement {
    std::vector<OutputDrift> cumulative;  ///< Against the reference.
    std::vector<OutputDrift> delta;       ///< Against the previously accepted candidate.
  };
  /// Runs `candidate` on every sample and compares. The candidate's outputs become the new
  /// "previous" only when `accept` is called (a reverted pass does not count).
  StatusOr<Measurement> measure(const ir::Model& candidate);
  /// Makes the last measured candidate the base of the next delta.
  void accept();
  /// The drift the model as it stands has (zero drift before any pass was accepted).
  const std::vector<OutputDrift>& current() const { return current_; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  const io::SampleSet& samples() const { return samples_; }
  double reference_seconds() const { return reference_seconds_; }

 private:
  DriftMeter(const io::SampleSet& samples, CompareOptions options);
  const io::SampleSet& samples_;
  CompareOptions options_;
  std::vector<std::string> output_names_;
  OutputStore reference_;
  std::unique_ptr<OutputStore> previous_;  ///< null: previous is the reference.
  std::unique_ptr<OutputStore> pending_;   ///< The last measured candidate's outputs.
  std::vector<OutputDrift> current_;
  std::vector<OutputDrift> pending_drift_;
  double reference_seconds_ = 0;
};

}  // namespace compressor::eval
