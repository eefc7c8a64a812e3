// Sample data, one reader for everything that runs a model on samples (calibration, evaluation,
// drift): a folder of samples (one sub-folder per sample holding `<input name>.npy` or `.pb`, or
// the ONNX `test_data_set_N/input_K.pb` layout), or seeded random inputs from the declared types.
// Samples are read one at a time when asked for, so memory does not grow with their count.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/io/test_data.h"
#include "compressor/ir/model.h"
#include "compressor/ir/tensor.h"

namespace compressor::io {

/// Reads a NumPy .npy file (format versions 1.0-3.0, little-endian or byte-order-free dtypes
/// b1, i1/i2/i4/i8, u1/u2/u4/u8, f2/f4/f8, C order) into a tensor. Fortran order, object arrays
/// and big-endian data are refused with a message naming the file.
StatusOr<ir::Tensor> read_npy(const std::string& path);

/// Writes a tensor as a .npy file (version 1.0, C order), atomically.
Status write_npy(const ir::Tensor& tensor, const std::string& path);

/// The inputs a sample feeds: graph inputs that are not initializers, in graph order.
std::vector<const ir::ValueInfo*> user_inputs(const ir::Model& model);

/// Checks a tensor read from `from` against the declared input: dtype, rank, fixed dimensions
/// and symbolic dimensions bound in `dims`. The error (kInvalidModel) reads
/// "FROM: input 'x': shape [1, 3, 32, 32] does not match the declared float[1, 3, 224, 224]".
Status check_input_tensor(const ir::Tensor& tensor, const ir::ValueInfo& declared,
                          const std::string& from, const std::map<std::string, int64_t>& dims);

/// The random stream of sample `sample`: mt19937_64(seed) for sample 0 (the stream
/// `exec --seed S` has always drawn), std::seed_seq{seed, sample} for the others.
std::mt19937_64 sample_rng(uint64_t seed, uint64_t sample);

/// Seeded random data for a declared tensor input, drawn from `rng`: floats uniform in
/// [low, high), integers uniform in [ceil(low), floor(high)] clipped to the type, bool 0 or 1;
/// the default range (nullopt) is floats [0, 1), integers [0, 9]. Symbolic dimensions take their
/// value from `dims`, else 1, and are then appended to `unbound` (once each) when it is given.
/// A bad range is kInvalidArgument naming --random-range.
StatusOr<ir::Tensor> random_input(const ir::ValueInfo& declared,
                                  const std::map<std::string, int64_t>& dims,
                                  const std::optional<std::pair<double, double>>& range,
                                  std::mt19937_64& rng, std::vector<std::string>* unbound);

/// Where samples come from and how random ones are made.
struct SampleOptions {
  /// --data DIR; empty for random samples.
  std::string data_dir;
  /// --samples N: how many random samples to draw, or (with data_dir) the first N samples of
  /// the folder; 0 means all of the folder, or `default_random` random samples.
  size_t count = 0;
  size_t default_random = 8;
  /// --seed S for random samples: sample i draws from its own stream seeded by (S, i), so a
  /// sample's data does not depend on how many samples are drawn.
  uint64_t seed = 0;
  /// --random-range LOW,HIGH: floats uniform in [low, high), integers uniform in
  /// [ceil(low), floor(high)] (bool: 0 or 1). Default floats [0, 1), integers [0, 9].
  std::optional<std::pair<double, double>> random_range;
  /// --dim NAME=VALUE bindings for symbolic dimensions (unbound ones are taken as 1 for random
  /// samples and listed in `SampleSet::unbound_dims`).
  std::map<std::string, int64_t> dims;
  /// --labels FILE.npy: one integer class index per sample (shape [N] or [N, 1]).
  std::string labels_path;
};

/// A sample: one tensor per user input of the model, in the order of the model's inputs.
using Sample = std::vector<NamedFileTensor>;

/// An ordered, finite set of samples for one model. Opening validates the folder layout and the
/// labels; `get` reads (or generates) one sample and checks every tensor against the declared
/// input (dtype, rank, fixed and --dim-bound dimensions), naming the file on mismatch.
class SampleSet {
 public:
  /// Opens the samples for `model`. Errors: a missing or empty folder, a sub-folder that lacks
  /// an input, a file named after no input, labels whose count differs from the sample count,
  /// a --dim naming no input dimension (kInvalidArgument), inputs that are not tensors.
  static StatusOr<SampleSet> open(const ir::Model& model, const SampleOptions& options);

  SampleSet(SampleSet&&) noexcept;
  SampleSet& operator=(SampleSet&&) noexcept;
  ~SampleSet();

  size_t size() const;
  /// Sample `i` (0 <= i < size()); the same i always gives the same tensors.
  StatusOr<Sample> get(size_t i) const;
  /// Labels, one per sample; empty without --labels.
  const std::vector<int64_t>& labels() const;
  /// "12 samples from data/val (test_data_set layout)" or
  /// "8 random samples (seed 0; floats in [0, 1), integers in [0, 9])".
  std::string describe() const;
  /// Symbolic dimensions that random samples took as 1 because no --dim bound them.
  const std::vector<std::string>& unbound_dims() const;

 private:
  SampleSet();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace compressor::io
