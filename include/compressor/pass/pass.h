// Pass: one rewrite of the whole model, its options, and what it reports back.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/model.h"

namespace compressor::pass {

class PassContext;

/// A pass's request for per-channel statistics of a float tensor (see CalibrationTable::channels):
/// channels lie along `axis` (negative counts from the end, as ONNX axes do).
struct ChannelRequest {
  std::string tensor;
  int64_t axis = 1;
  /// The pass copes without these statistics (it then leaves the layer as it is and says why):
  /// a given calibration table that lacks them is not an error.
  bool optional = false;
};

/// A pass's request for the Gram matrix of a layer's inputs (see CalibrationTable::grams): `layer`
/// is the node label (node_label) of a Conv, Gemm or MatMul whose weight is an initializer.
struct GramRequest {
  std::string layer;
};

/// A node a pass left as it was, with the reason (shown in the report).
struct SkippedNode {
  std::string node;  ///< Node name (or op type when unnamed).
  std::string reason;
};

/// A node a pass rewrote, with what it did ("int8 per channel, scales 1.2e-3..4.5e-2").
struct ChangedNode {
  std::string node;  ///< node_label of the node.
  std::string detail;
};

/// Layers whose output channels a pass removes together (one keep-set for all of them).
struct ChannelGroupInfo {
  std::vector<std::string> producers;  ///< Node labels of the layers, in graph order.
  int64_t channels = 0;                ///< Channels in the group.
};

/// What one pass did.
struct PassResult {
  /// Nodes rewritten, added or removed (or weights changed). Zero promises that the model
  /// computes exactly what it did before the pass: drift is then not measured again.
  size_t nodes_changed = 0;
  std::vector<SkippedNode> skipped;
  /// Per-node ledger of what changed, for passes that report it (quantization lists every
  /// layer it quantized; with `skipped`, every candidate appears once).
  std::vector<ChangedNode> changes;
  /// One-line facts worth showing the user ("12 Constant nodes became initializers").
  std::vector<std::string> notes;
};

/// One option a pass accepts, for validation and `--help`.
struct PassOptionInfo {
  std::string name;
  std::string default_value;
  std::string help;
};

/// Static description of a pass.
struct PassInfo {
  std::string name;  ///< kebab-case, verb first ("fold-batchnorm").
  std::string summary;
  std::vector<PassOptionInfo> options;
};

/// Option values as given ("name{k=v,...}"), validated against PassInfo by the registry.
using PassOptions = std::map<std::string, std::string>;

/// A pass rewrites the model and nothing else: verification, statistics and drift are measured
/// by pipeline instrumentations. A node the pass cannot handle stays byte-identical and is
/// reported in `PassResult::skipped`.
class Pass {
 public:
  virtual ~Pass() = default;
  virtual const PassInfo& info() const = 0;
  virtual StatusOr<PassResult> run(ir::Model& model, PassContext& ctx) = 0;
  const std::string& name() const { return info().name; }
  /// The layers this pass would rewrite in `model`, by node label (see node_label), in graph
  /// order; empty for passes that do not work layer by layer. A pass that lists layers accepts
  /// the option `nodes` ('|'-separated labels) restricting it to those layers, which is how
  /// per-layer sensitivity applies it to one layer at a time.
  virtual std::vector<std::string> eligible_nodes(const ir::Model& /*model*/) const { return {}; }
  /// Float tensors whose calibrated ranges this pass needs (PassContext::calibration must then
  /// hold them when it runs); empty for passes that need no calibration.
  virtual std::vector<std::string> calibration_tensors(const ir::Model& /*model*/) const {
    return {};
  }
  /// Float tensors whose per-channel statistics (CalibrationTable::channels) this pass needs;
  /// the pipeline gathers them in the same calibration run as calibration_tensors.
  virtual std::vector<ChannelRequest> channel_statistics(const ir::Model& /*model*/) const {
    return {};
  }
  /// Layers whose input Gram matrices (CalibrationTable::grams) this pass needs, as SparseGPT
  /// does; gathered in the same calibration run. Grams are not stored in calibration tables, so
  /// a pass that asks for them needs calibration samples.
  virtual std::vector<GramRequest> gram_statistics(const ir::Model& /*model*/) const { return {}; }
  /// The channel groups this pass would prune in `model`, in graph order; empty for passes that
  /// do not remove channels. A pass that lists groups accepts the option `group_ratios`
  /// ('|'-separated LABEL=RATIO, LABEL any producer of a group) giving a group its own ratio,
  /// which is how budget searches (pass/budget.h) prune one group at a time.
  virtual StatusOr<std::vector<ChannelGroupInfo>> channel_groups(const ir::Model& /*model*/) const {
    return std::vector<ChannelGroupInfo>{};
  }
};

/// How passes and reports name a node: its name, or its first output when it has none.
std::string node_label(const ir::Node& node);

/// Creates a pass from validated options.
using PassFactory = StatusOr<std::unique_ptr<Pass>> (*)(const PassOptions& options);

}  // namespace compressor::pass
