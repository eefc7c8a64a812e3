// Running many samples through one executor, several samples stacked into one batch where the
// model allows it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/exec/executor.h"
#include "compressor/ir/model.h"

namespace compressor::exec {

/// Whether samples of a model can be stacked along axis 0: every user input and every output
/// declares a shape whose axis 0 is the same symbolic dimension (e.g. "batch", or "N" from an
/// exporter). `why_not` says what prevents it otherwise.
struct BatchAxis {
  bool stackable = false;
  std::string dim;  ///< The symbolic dimension's name, when stackable.
  std::string why_not;
};
BatchAxis batch_axis(const ir::Model& model);

/// Runs every sample (a full feed each) and returns each sample's outputs, in order. With
/// `max_batch` > 1 and a stackable model, up to `max_batch` consecutive samples whose inputs
/// agree on every axis but 0 run as one batch, concatenated along axis 0, and the outputs are
/// split back (views, no copies); otherwise samples run one at a time. A batch whose outputs do
/// not have the stacked size along axis 0 is run again one sample at a time, so the results
/// are always per sample. `on_node` is passed to every run.
StatusOr<std::vector<std::vector<ir::Tensor>>> run_samples(
    const Executor& executor, const ir::Model& model,
    const std::vector<std::vector<NamedTensor>>& samples, size_t max_batch,
    const NodeTimeHook& on_node = {});

}  // namespace compressor::exec
