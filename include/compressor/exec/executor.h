// Executor: plan a graph once (one kernel per node, last use of every value), run it many times.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/model.h"
#include "compressor/ir/tensor.h"
#include "compressor/ir/value.h"

namespace compressor::exec {

class Kernel;
class ThreadPool;

struct ExecutorOptions {
  /// Worker threads for kernels that split work; 0 means all cores. Results do not depend on it.
  int threads = 0;
  /// Runs each QDQ Conv or MatMul node unit (DequantizeLinear -> Conv -> QuantizeLinear) as one
  /// integer QLinearConv or QLinearMatMul, as ONNX Runtime does after its QDQ fusion (see
  /// src/exec/qdq_units.h); the layer's float output is then never computed, so it cannot be
  /// captured.
  bool integer_qdq_units = true;
};

/// Called with a value as soon as it is produced; the executor keeps nothing for it. Only
/// tensor values are captured (sequences and optionals are not).
using CaptureHook = std::function<void(const std::string& name, const ir::Tensor& value)>;

/// Called after each node of the graph has run, with the wall time its kernel took.
using NodeTimeHook = std::function<void(const ir::Node& node, double seconds)>;

/// A named tensor fed to or read from a model.
struct NamedTensor {
  std::string name;
  ir::Tensor tensor;
};

/// A named value (tensor, sequence or optional) fed to or read from a model.
struct NamedValue {
  std::string name;
  ir::Value value;
};

/// Runs one graph. Creating it plans every node (an unsupported op, dtype or attribute fails
/// here, before anything runs); `run` may be called many times and from several threads.
class Executor {
 public:
  static StatusOr<std::unique_ptr<Executor>> create(const ir::Model& model,
                                                    const ExecutorOptions& options = {});
  /// Plans a graph (a subgraph of `model`, or its main graph) whose reads of names it does not
  /// define come from `outer_scope` at run time.
  static StatusOr<std::unique_ptr<Executor>> create_for_graph(
      const ir::Graph& graph, const ir::Model& model, const std::vector<std::string>& outer_scope,
      const ExecutorOptions& options);
  ~Executor();

  /// Graph inputs a caller must feed (initializers that are also inputs are optional).
  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& output_names() const { return output_names_; }

  /// Runs the graph. `capture`, when given, sees every value named in `capture_names` (all
  /// values when that is empty) as it is produced. `on_node`, when given, is told how long
  /// each node took (nodes inside subgraphs count toward the node that owns the subgraph).
  /// Every output must be a tensor (use run_values for graphs with sequence or optional
  /// outputs).
  StatusOr<std::vector<ir::Tensor>> run(const std::vector<NamedTensor>& inputs,
                                        const CaptureHook& capture = {},
                                        const std::vector<std::string>& capture_names = {},
                                        const NodeTimeHook& on_node = {}) const;
  /// Same, for graphs whose inputs or outputs may be sequences or optionals.
  StatusOr<std::vector<ir::Value>> run_values(const std::vector<NamedValue>& inputs,
                                              const CaptureHook& capture = {},
                                              const std::vector<std::string>& capture_names = {},
                                              const NodeTimeHook& on_node = {}) const;
  /// Same, with values of an enclosing graph visible (for If/Loop/Scan/SequenceMap bodies).
  StatusOr<std::vector<ir::Value>> run_with_scope(
      const std::vector<NamedValue>& inputs,
      const std::map<std::string, const ir::Value*>& outer_scope) const;

 private:
  Executor();
  struct Plan;
  std::unique_ptr<Plan> plan_;
  std::vector<std::string> input_names_;
  std::vector<std::string> output_names_;
};

/// Ops of the model (main graph and subgraphs) the executor has no kernel for, as
/// "Op (opset N)" strings; empty when it can run the whole model.
std::vector<std::string> unsupported_ops(const ir::Model& model);

}  // namespace compressor::exec
