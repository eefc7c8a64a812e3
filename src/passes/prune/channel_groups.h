// Channel groups: which channel dimensions of a graph are coupled, so that removing channels from
// one layer's output is only possible together with the matching slices of every reader.
//
// A group starts at a producer (a Conv with group=1, a Gemm or a MatMul whose weight is a
// constant) and follows its output channels through BatchNormalization, elementwise activations,
// per-channel constants, pooling, Resize, depthwise Conv, residual Add/Sub/Mul/Div (the branches
// become one group), Concat and Split on the channel axis, and Flatten/Reshape into a Gemm or
// MatMul. Conv, Gemm and MatMul readers lose the matching input slices of their weights. A group
// that reaches anything else (a graph output, another op, a non-constant weight, a shared
// initializer, ...) is refused with the reason and must be left as it is.
//
// The analysis only describes the edits; apply_channel_keep performs them for chosen keep-sets,
// so the same analysis serves structured pruning, reconstruction and budget searches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/model.h"

namespace compressor::passes {

/// A run of channels of one group: channels [start, start + size) of group `group`; group -1 is
/// a fixed run (channels that come from outside every group and are never removed).
struct ChannelSlice {
  int group = -1;
  int64_t start = 0;
  int64_t size = 0;
};

/// How the channel axis of one value is made of group channels. After a Flatten of
/// [N, C, H, W], each channel is a block of H*W consecutive features (`block` = H*W).
struct ChannelLayout {
  int64_t rank = 0;  ///< Rank of the value.
  int64_t axis = 1;  ///< Non-negative channel axis.
  int64_t block = 1;
  std::vector<ChannelSlice> slices;  ///< In order along the axis.
  /// Channels along the axis (before the block expansion).
  int64_t channels() const;
};

/// An initializer whose elements along `axis` follow a layout: the kept positions are the kept
/// channels of `layout` (expanded by its block).
struct InitializerEdit {
  std::string initializer;
  int64_t axis = 0;
  size_t layout = 0;  ///< Index into ChannelAnalysis::layouts.
  size_t node = 0;    ///< The node that reads it.
};

/// A node whose attribute or shape input depends on the channel count of a layout.
struct NodeEdit {
  enum class Kind {
    kGroupAttribute,  ///< Depthwise Conv: group = kept channels of `layout`.
    kSplitSizes,      ///< Split: sizes (attribute `split` or input 1) = kept channels of `layouts`.
    kReshapeShape,    ///< Reshape: shape[1] = kept features of `layout` (when it was explicit).
  };
  Kind kind = Kind::kGroupAttribute;
  size_t node = 0;
  std::vector<size_t> layouts;  ///< One per output for kSplitSizes, else one.
};

/// A set of coupled channels sharing one keep-set. Only root groups (root(g) == g) are
/// meaningful after unions.
struct ChannelGroup {
  int64_t size = 0;
  /// Nodes whose output channels are the group's channels (channel i of each is channel i of
  /// the group), in graph order.
  std::vector<size_t> producers;
  /// Every node the group reaches (producers, pass-through nodes and readers), in graph order.
  std::vector<size_t> members;
  /// Channel indices where a Split cuts the group; keep-sets are chosen per piece between cuts,
  /// so no Split output loses all its channels and pieces shrink in proportion.
  std::set<int64_t> cuts;
  bool refused = false;
  std::string reason;  ///< Why it is refused (the first problem met).
};

/// The result of analyze_channel_groups.
struct ChannelAnalysis {
  std::vector<ChannelGroup> groups;
  std::vector<int> parent;  ///< Union-find links; use root().
  std::vector<ChannelLayout> layouts;
  std::map<std::string, size_t> value_layout;  ///< Value name -> index into layouts.
  std::vector<InitializerEdit> edits;
  std::vector<NodeEdit> node_edits;

  int root(int group) const;
  /// Root groups in order of creation (the order of their first producer in the graph).
  std::vector<int> roots() const;
};

/// Kept channels per root group, ascending; a group absent from the map keeps every channel.
using ChannelKeep = std::map<int, std::vector<int64_t>>;

/// Builds the channel groups of `model`'s main graph. `producers` lists the node indices allowed
/// to start a group (e.g. after a user's layer selection); a layer not in it keeps its output
/// channels, and a group joined with its output is refused. Shapes come from ONNX shape
/// inference on the model.
StatusOr<ChannelAnalysis> analyze_channel_groups(const ir::Model& model,
                                                 const std::set<size_t>& producers);

/// The positions kept along a layout's axis (blocks expanded) for the keep-sets `keep`.
std::vector<int64_t> layout_keep(const ChannelAnalysis& analysis, const ChannelLayout& layout,
                                 const ChannelKeep& keep);

/// Removes every channel not in `keep` from the model: initializers are sliced, depthwise group
/// attributes, Split sizes and Reshape shapes rewritten, and value_info entries of values whose
/// channel count changed are dropped (ONNX shape inference derives them again). Refused groups
/// must not appear in `keep`. Returns the indices of nodes that changed.
StatusOr<std::set<size_t>> apply_channel_keep(ir::Model& model, const ChannelAnalysis& analysis,
                                              const ChannelKeep& keep);

}  // namespace compressor::passes
