// Gradient-free recovery after structured pruning: the layers that reduce over pruned channels
// (Conv with group 1, Gemm, MatMul) get their remaining weights re-fitted by least squares on
// calibration activations, so their outputs match the original ones as closely as a linear map
// of the kept inputs can (channel pruning with reconstruction, as AIMET does).
//
// With H = sum x x^T the Gram of the layer's input rows in the ORIGINAL model (im2col rows for a
// Conv, in the weight's [c][kh][kw] order) and S the kept columns, every output row w becomes
//   w'_S = w H[:, S] (H[S, S] + lambda I)^-1,
// all rows at once from one Cholesky factorization of H[S, S] + lambda I. lambda is 1e-6 of the
// mean diagonal of H[S, S]; when the factorization fails it grows tenfold, up to the mean
// diagonal itself. The fit is exact when the removed inputs are linear combinations of the kept
// ones (over the samples), otherwise it is the best linear fit. Biases are left as they are.
//
// Single shot: every layer is fitted against the Gram of its ORIGINAL inputs, also when those
// inputs themselves come from a pruned (and re-fitted) layer upstream; the fit is then to the
// original model's activations rather than to the pruned model's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "channel_groups.h"
#include "compressor/pass/calibration.h"

namespace compressor::passes {

/// A layer whose weight loses input columns when channels are removed: the InitializerEdit on
/// its weight along the reduction axis.
struct ReductionReader {
  size_t node = 0;
  size_t edit = 0;  ///< Index into ChannelAnalysis::edits.
};

/// The Conv (group 1), Gemm and MatMul readers of the analysis's groups that are not refused,
/// in graph order, one per node (what reconstruction may need Grams for).
std::vector<ReductionReader> reduction_readers(const ir::Graph& graph,
                                               const ChannelAnalysis& analysis);

/// The outcome for one layer.
struct ReconstructedLayer {
  size_t node = 0;
  bool refitted = false;  ///< False: the weights are only sliced; `reason` says why.
  std::string reason;
  uint64_t rows = 0;  ///< Rows x the Gram summed.
  /// ||W X - W'_S X_S||^2 / ||W X||^2 over the calibration rows: `before` with the columns just
  /// dropped, `after` with the re-fitted weights (as stored, in float32).
  double before = 0;
  double after = 0;
};

/// Re-fits, in place and in full width (columns that `keep` removes are left as they were, for
/// apply_channel_keep to slice away), the weights of every reduction reader that loses inputs
/// under `keep`. Each needs the Gram of its input in `table` (by node label); a missing or empty
/// one is a kInvalidArgument error naming the layer.
StatusOr<std::vector<ReconstructedLayer>> reconstruct_readers(ir::Model& model,
                                                              const ChannelAnalysis& analysis,
                                                              const ChannelKeep& keep,
                                                              const pass::CalibrationTable* table,
                                                              const std::string& pass_name);

}  // namespace compressor::passes
