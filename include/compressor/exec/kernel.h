// Kernel: the compute of one node, created once at plan time, run many times.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/graph.h"
#include "compressor/ir/model.h"
#include "compressor/ir/tensor.h"
#include "compressor/ir/value.h"

namespace compressor::exec {

class ThreadPool;

/// What a kernel factory may look at when it plans one node.
class NodeView {
 public:
  NodeView(const ir::Node& node, int64_t opset, std::vector<const ir::Tensor*> constant_inputs,
           std::vector<ir::DType> input_dtypes, const ir::Model* model = nullptr)
      : node_(node),
        opset_(opset),
        constants_(std::move(constant_inputs)),
        dtypes_(std::move(input_dtypes)),
        model_(model) {}

  const ir::Node& node() const { return node_; }
  /// Opset version imported for the node's domain.
  int64_t opset() const { return opset_; }
  size_t input_count() const { return node_.inputs.size(); }
  /// True when input `i` is given (not omitted and not an empty name).
  bool has_input(size_t i) const { return i < node_.inputs.size() && !node_.inputs[i].empty(); }
  /// The value of input `i` when it is a constant initializer, else null.
  const ir::Tensor* constant_input(size_t i) const {
    return i < constants_.size() ? constants_[i] : nullptr;
  }
  /// The element type of input `i` when known before running (declared or inferred), else
  /// kUndefined.
  ir::DType input_dtype(size_t i) const {
    return i < dtypes_.size() ? dtypes_[i] : ir::DType::kUndefined;
  }
  /// The model being planned (for opsets when planning subgraphs), or null.
  const ir::Model* model() const { return model_; }
  /// An error naming the node, its op, domain and opset.
  Status error(const std::string& what) const;

 private:
  const ir::Node& node_;
  int64_t opset_;
  std::vector<const ir::Tensor*> constants_;
  std::vector<ir::DType> dtypes_;
  const ir::Model* model_;
};

/// Inputs and outputs of one kernel call. Omitted optional inputs are null. The kernel assigns
/// every output it produces (outputs beyond what the node names may be left empty).
struct KernelContext {
  /// Tensor inputs. For kernels that take values (Kernel::takes_values), the inputs that are
  /// plain tensors; null for the others.
  std::span<const ir::Tensor* const> inputs;
  /// Tensor outputs; empty for kernels that take values.
  std::span<ir::Tensor> outputs;
  ThreadPool* pool = nullptr;
  /// The node, for error messages.
  const ir::Node* node = nullptr;
  /// For nodes with subgraphs: the value of a name of the enclosing scope (null when not
  /// defined or not alive), for the values the subgraphs read.
  std::function<const ir::Value*(const std::string&)> lookup = {};
  /// Only for kernels that take values: every input as a value (null when omitted), and the
  /// outputs to assign (tensors, sequences or optionals).
  std::span<const ir::Value* const> value_inputs = {};
  std::span<ir::Value> value_outputs = {};

  const ir::Tensor& input(size_t i) const { return *inputs[i]; }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  /// An error naming the node.
  Status error(const std::string& what) const;
};

/// The compute of one node. The factory validates attributes and parses them once; `compute`
/// only maps buffers and allocates outputs.
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual Status compute(KernelContext& ctx) const = 0;
  /// True for kernels that take or give sequences or optionals: they read
  /// KernelContext::value_inputs and assign value_outputs. Other kernels only ever see tensors.
  virtual bool takes_values() const { return false; }
};

using KernelFactory = std::function<StatusOr<std::unique_ptr<Kernel>>(const NodeView&)>;

/// A kernel made from a lambda, for simple ops.
class LambdaKernel : public Kernel {
 public:
  using Fn = std::function<Status(KernelContext&)>;
  explicit LambdaKernel(Fn fn) : fn_(std::move(fn)) {}
  Status compute(KernelContext& ctx) const override { return fn_(ctx); }

 private:
  Fn fn_;
};

}  // namespace compressor::exec
