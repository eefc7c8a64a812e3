// Helpers for passes that rewrite layer weights one layer at a time (prune, quantize): which
// layers carry a constant weight, the `nodes` option that restricts a pass to some of them, option
// parsing, fresh value names and the numbers shown in notes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "compressor/core/format.h"
#include "compressor/core/status.h"
#include "compressor/ir/graph.h"
#include "compressor/pass/pass.h"

namespace compressor::passes {

/// Which MatMul input may hold the weight.
enum class MatMulWeight {
  kEither,  ///< B when it is a constant float32 initializer, otherwise A.
  kBOnly,
};

/// A layer whose weight is a constant float32 initializer.
struct WeightLayer {
  size_t node = 0;  ///< Index into Graph::nodes() at the time of the scan.
  size_t slot = 0;  ///< Input slot of the weight.
  std::string label;
};

/// The Conv, ConvTranspose, Gemm (input B) and MatMul nodes of the default domain, split into
/// layers with a non-empty constant float32 weight and candidates that do not have one.
struct LayerScan {
  std::vector<WeightLayer> layers;         ///< In graph order.
  std::vector<pass::SkippedNode> skipped;  ///< Candidates without a usable weight, with why.
};

/// A further condition on a layer's weight: empty when the pass can use it, else why not.
using WeightCheck = std::function<std::string(const ir::Node& node, const ir::Initializer& weight)>;

/// Scans the main graph for weight layers; layers failing `check` (when given) are skipped.
LayerScan scan_weight_layers(const ir::Graph& graph, MatMulWeight matmul,
                             const WeightCheck& check = {});

/// Labels of `layers`, in order.
std::vector<std::string> layer_labels(const std::vector<WeightLayer>& layers);

/// Splits the `nodes` option ('|'-separated node labels; empty pieces are ignored).
std::vector<std::string> split_node_labels(const std::string& text);

/// Keeps the layers whose label is in `labels` (every layer when `labels` is empty). A label that
/// names no layer is an invalid argument naming `pass_name`, the label, why it is not eligible
/// when it names a skipped candidate, and a few eligible labels.
StatusOr<std::vector<WeightLayer>> select_layers(const LayerScan& scan,
                                                 const std::vector<std::string>& labels,
                                                 const std::string& pass_name);

/// The include/exclude options of the quantization passes: patterns one per line. A layer
/// matches a pattern equal to its label or its op type, or a regular expression (ECMAScript)
/// matching its whole label.
struct LayerFilter {
  std::vector<std::string> include;  ///< Empty: every layer is included.
  std::vector<std::string> exclude;
};

/// Parses the options' values; a malformed regular expression is an invalid argument naming
/// `pass_name`, the option and the pattern.
StatusOr<LayerFilter> parse_layer_filter(const std::string& pass_name, const std::string& include,
                                         const std::string& exclude);

/// The same, reading the `include` and `exclude` entries of a pass's options.
StatusOr<LayerFilter> parse_layer_filter(const std::string& pass_name,
                                         const pass::PassOptions& options);

/// `own` followed by the layer-selection options every quantization pass takes: `nodes`,
/// `include`, `exclude`.
std::vector<pass::PassOptionInfo> with_layer_selection_options(
    std::vector<pass::PassOptionInfo> own);

/// Applies the filter to `layers`: layers that are not included, or are excluded, move to
/// `skipped` with the reason ("excluded by --exclude 'conv.*'"). An include pattern that
/// matches no layer is an invalid argument (likely a typo).
StatusOr<std::vector<WeightLayer>> filter_layers(const ir::Graph& graph,
                                                 std::vector<WeightLayer> layers,
                                                 const LayerFilter& filter,
                                                 const std::string& pass_name,
                                                 std::vector<pass::SkippedNode>& skipped);

/// Parses a boolean option value ("true"/"false"/"1"/"0").
StatusOr<bool> parse_bool_option(const std::string& pass_name, const std::string& option,
                                 const std::string& value);

/// Parses the `group_ratios` option of the passes a budget search drives ('|'-separated
/// LABEL=FRACTION, each fraction in [0, 1)), in the order given; errors name the pass, the option
/// and the entry.
StatusOr<std::vector<std::pair<std::string, double>>> parse_group_ratios(
    const std::string& pass_name, const std::string& text);

/// Parses a finite number; the error names the pass and the option.
StatusOr<double> parse_number_option(const std::string& pass_name, const std::string& option,
                                     const std::string& value);

/// Hands out value and node names no one in the graph uses yet, deterministically: `hint`, else
/// `hint_1`, `hint_2`, ... Names handed out are reserved even before they are added to the graph.
class NameGenerator {
 public:
  explicit NameGenerator(const ir::Graph& graph);
  std::string value(const std::string& hint) { return fresh(values_, hint); }
  std::string node(const std::string& hint) { return fresh(nodes_, hint); }

 private:
  static std::string fresh(std::set<std::string>& used, const std::string& hint);
  std::set<std::string> values_;
  std::set<std::string> nodes_;
};

}  // namespace compressor::passes
