// Bias correction for the quantization passes (Nagel et al. 2019, "Data-Free Quantization
// Through Weight Equalization and Bias Correction"; AIMET's bias correction). A quantized weight
// shifts each output channel on average by E[(W_q - W) x] = (W_q - W) E[x]; subtracting that
// expected error from the layer's bias removes the shift. E[x] is the mean of the layer's input
// per channel, measured on calibration samples (CalibrationTable::channels).
//
// Where the corrected bias goes: Conv input 2 (added as a new initializer when the Conv has no
// bias), Gemm C (a new 1-D [N] initializer when there is none; C is multiplied by beta, so the
// correction is divided by beta and multiplied by alpha), and for a MatMul the constant 1-D [N]
// operand of the Add that alone reads its output. A bias initializer that other nodes read too
// is copied under a fresh name instead of being changed. ConvTranspose, a MatMul without such an
// Add, and layers whose input statistics are missing are left as they are, with the reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "../weight_layers.h"
#include "compressor/ir/graph.h"
#include "compressor/ir/tensor.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass.h"

namespace compressor::passes {

/// How a layer's float weight relates to its output channels.
enum class WeightLayout {
  kConv,        ///< [M, C/group, k...]: output channels first.
  kMatrix,      ///< [K, N]: Y = X W (MatMul B, Gemm B).
  kTransposed,  ///< [N, K]: Y = X W^T (Gemm B with transB = 1).
};

/// The layout of the weight (input 1) of a Conv, MatMul or Gemm node as it is in the graph.
WeightLayout weight_layout(const ir::Node& node);

/// e[o] = sum over i (and kernel positions) of (w_dq - w)[o, i, ...] * mean[i]: the mean shift
/// the quantized weight adds to output channel o. Conv sums over the input channels of o's group
/// (grouped and depthwise convolutions). `w` and `w_dq` are float32 of the same dims. Empty, with
/// `problem` set, when `mean` does not have one value per input channel.
std::vector<double> expected_output_error(const ir::Tensor& w, const ir::Tensor& w_dq,
                                          WeightLayout layout, int64_t group,
                                          std::span<const double> mean, std::string* problem);

/// The option every quantization pass takes.
inline constexpr const char* kBiasCorrectionOption = "bias_correction";
pass::PassOptionInfo bias_correction_option_info();

/// The statistics bias correction needs for the layers at `nodes` (node indices of `graph`), each
/// tensor once, in order.
std::vector<pass::ChannelRequest> bias_correction_requests(const ir::Graph& graph,
                                                           const std::vector<size_t>& nodes);

/// Corrects layer biases one layer at a time and keeps the tallies for the pass's notes. Node
/// indices, and the names of each node's inputs 0 and 1 and output 0, are those of the graph given
/// to the constructor; the caller may rewire those before correcting, but must not insert or remove
/// nodes, nor change bias inputs, until it is done correcting.
class BiasCorrector {
 public:
  BiasCorrector(const ir::Graph& graph, const pass::CalibrationTable* table);

  /// The statistics the correction of the layer at `node` needs (its input 0, channels on axis
  /// 1 for Conv, -1 for MatMul, 1 or 0 for Gemm by transA), marked optional; none when the layer
  /// cannot be corrected whatever the statistics (ConvTranspose, MatMul without a bias Add).
  std::optional<pass::ChannelRequest> request(const ir::Graph& graph, size_t node) const;

  /// Corrects the bias of the layer at `node`, whose float weight `w` the pass replaced by
  /// `w_dq` (dequant(quant(w)), in `layout`, which may differ from the node's own when the pass
  /// stores the weight transposed). Returns the text for the layer's ledger entry:
  /// ", bias corrected (max |shift| 3.1e-03)" or ", bias not corrected: <why>".
  std::string correct(ir::Graph& graph, NameGenerator& names, size_t node, const ir::Tensor& w,
                      const ir::Tensor& w_dq, WeightLayout layout);

  /// Bias initializers the correction stopped reading (the caller removes them when unread).
  const std::set<std::string>& replaced() const { return replaced_; }
  /// Float bias initializers the correction created or rewrote.
  const std::set<std::string>& written() const { return written_; }
  /// "bias correction: 2 layers corrected, 1 not (1 MatMul without a constant bias Add)";
  /// empty when no layer was tried.
  std::string note() const;

 private:
  struct Target;
  Target find_target(const ir::Graph& graph, size_t node) const;

  ir::UseDefIndex index_;
  // Inputs 0 and 1 and output 0 of every node as constructed: a pass may rewire them (to
  // DequantizeLinear outputs) before it corrects the layer.
  std::vector<std::string> input0_, input1_, output0_;
  const pass::CalibrationTable* table_;
  size_t corrected_ = 0;
  std::map<std::string, size_t> not_corrected_;  // reason category -> layers
  std::set<std::string> replaced_, written_;
};

}  // namespace compressor::passes
