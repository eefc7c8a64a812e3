// Executor: plans once (slots for values, one kernel per node, last use of every value) and runs
// many times, releasing every intermediate after its last reader.
#include "compressor/exec/executor.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>

#include "compressor/exec/kernel.h"
#include "compressor/exec/kernel_registry.h"
#include "compressor/exec/thread_pool.h"
#include "compressor/io/onnx_io.h"
#include "cpu_caches.h"
#include "qdq_units.h"

namespace compressor::exec {

struct Executor::Plan {
  struct Step {
    const ir::Node* node;
    std::unique_ptr<Kernel> kernel;
    std::vector<int> inputs;     // slot per input, -1 when omitted
    std::vector<int> outputs;    // slot per output, -1 when unnamed
    std::vector<int> release;    // slots whose last reader is this step
    bool has_subgraphs = false;  // gets KernelContext::lookup for outer-scope reads
    bool takes_values = false;   // reads and writes ir::Value (sequences, optionals)
  };
  ir::Graph graph;  // own copy: kernels keep pointers to its nodes and initializers
  std::vector<std::string> slot_names;
  std::unordered_map<std::string, int> slot_of;
  std::vector<const ir::Tensor*> constants;  // per slot: initializer value or null
  std::vector<ir::Value> constant_values;    // per slot: the initializer as a value, for
                                             // kernels that take values
  std::vector<int> input_slots;
  std::vector<int> outer_slots;
  std::vector<std::string> outer_names;
  std::vector<int> output_slots;
  std::vector<Step> steps;
  std::unique_ptr<ThreadPool> pool;
};

Executor::Executor() = default;
Executor::~Executor() = default;

StatusOr<std::unique_ptr<Executor>> Executor::create(const ir::Model& model,
                                                     const ExecutorOptions& options) {
  return create_for_graph(model.graph, model, {}, options);
}

StatusOr<std::unique_ptr<Executor>> Executor::create_for_graph(
    const ir::Graph& source, const ir::Model& model, const std::vector<std::string>& outer_scope,
    const ExecutorOptions& options) {
  configure_eigen_caches();
  std::unique_ptr<Executor> ex(new Executor());
  ex->plan_ = std::make_unique<Plan>();
  Plan& plan = *ex->plan_;
  plan.graph = source;
  if (options.integer_qdq_units) fuse_qdq_units(plan.graph);
  const ir::Graph& g = plan.graph;

  auto slot = [&](const std::string& name) {
    auto [it, inserted] = plan.slot_of.emplace(name, static_cast<int>(plan.slot_names.size()));
    if (inserted) {
      plan.slot_names.push_back(name);
      plan.constants.push_back(nullptr);
    }
    return it->second;
  };

  // Known element types, for kernels that check dtypes at plan time.
  std::unordered_map<std::string, ir::DType> dtypes;
  if (&source == &model.graph) {
    auto inferred = io::infer_value_info(model);
    if (inferred.ok()) {
      for (const auto& v : *inferred) {
        if (v.dtype() != ir::DType::kUndefined) dtypes[v.name()] = v.dtype();
      }
    }
  }
  for (const auto& v : g.inputs) {
    if (v.dtype() != ir::DType::kUndefined) dtypes[v.name()] = v.dtype();
  }

  for (const auto& init : g.initializers()) {
    const int s = slot(init.name);
    plan.constants[s] = &init.tensor;
    dtypes[init.name] = init.tensor.dtype();
  }
  for (const auto& v : g.inputs) {
    const int s = slot(v.name());
    if (plan.constants[s] == nullptr) {
      plan.input_slots.push_back(s);
      ex->input_names_.push_back(v.name());
    }
  }
  for (const auto& name : outer_scope) {
    if (plan.slot_of.count(name)) continue;
    plan.outer_slots.push_back(slot(name));
    plan.outer_names.push_back(name);
  }

  const KernelRegistry& registry = KernelRegistry::builtin();
  for (const auto& node_ptr : g.nodes()) {
    const ir::Node& node = *node_ptr;
    Plan::Step step;
    step.node = &node;
    std::vector<const ir::Tensor*> consts;
    std::vector<ir::DType> in_types;
    for (const auto& in : node.inputs) {
      if (in.empty()) {
        step.inputs.push_back(-1);
        consts.push_back(nullptr);
        in_types.push_back(ir::DType::kUndefined);
        continue;
      }
      auto it = plan.slot_of.find(in);
      if (it == plan.slot_of.end()) {
        for (const auto& sparse : g.sparse_initializers) {
          if (sparse->values().name() == in) {
            return unsupported(node.label() + ": input '" + in +
                               "' is a sparse initializer that was kept sparse at load time "
                               "(string values, non-INT64 indices, or too large to densify); "
                               "the executor cannot run it");
          }
        }
        return invalid_model(node.label() + ": input '" + in + "' is not defined before use");
      }
      step.inputs.push_back(it->second);
      consts.push_back(plan.constants[it->second]);
      auto t = dtypes.find(in);
      in_types.push_back(t == dtypes.end() ? ir::DType::kUndefined : t->second);
    }
    // Values a subgraph reads from this scope must stay alive until this node has run.
    if (node.has_subgraphs()) {
      step.has_subgraphs = true;
      for (const auto& r : ir::subgraph_outer_reads(node)) {
        auto it = plan.slot_of.find(r);
        if (it != plan.slot_of.end()) step.release.push_back(-2 - it->second);  // marks a read
      }
    }
    const int64_t opset = model.opset_version(node.domain);
    const KernelFactory* factory = registry.find(node.domain, node.op_type, opset);
    NodeView view(node, opset, std::move(consts), std::move(in_types), &model);
    if (factory == nullptr) return view.error("no kernel for this op in the executor");
    COMPRESSOR_ASSIGN_OR_RETURN(step.kernel, (*factory)(view));
    step.takes_values = step.kernel->takes_values();
    for (const auto& out : node.outputs) step.outputs.push_back(out.empty() ? -1 : slot(out));
    plan.steps.push_back(std::move(step));
  }
  for (const auto& o : g.outputs) {
    auto it = plan.slot_of.find(o.name());
    if (it == plan.slot_of.end()) {
      return invalid_model("graph output '" + o.name() + "' is not produced by any node");
    }
    plan.output_slots.push_back(it->second);
    ex->output_names_.push_back(o.name());
  }

  // Last use: an intermediate is released right after the last step that reads it.
  std::vector<int> last(plan.slot_names.size(), -1);
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    for (int s : plan.steps[i].inputs) {
      if (s >= 0) last[s] = static_cast<int>(i);
    }
    for (int r : plan.steps[i].release) last[-2 - r] = static_cast<int>(i);
    plan.steps[i].release.clear();
    for (int s : plan.steps[i].outputs) {
      if (s >= 0 && last[s] < static_cast<int>(i)) last[s] = static_cast<int>(i);
    }
  }
  std::set<int> keep(plan.output_slots.begin(), plan.output_slots.end());
  for (size_t s = 0; s < last.size(); ++s) {
    if (last[s] < 0 || keep.count(static_cast<int>(s)) || plan.constants[s] != nullptr) continue;
    plan.steps[last[s]].release.push_back(static_cast<int>(s));
  }
  plan.constant_values.resize(plan.slot_names.size());
  for (size_t s = 0; s < plan.constants.size(); ++s) {
    if (plan.constants[s] != nullptr) plan.constant_values[s] = *plan.constants[s];
  }
  const int threads = resolve_threads(options.threads);
  if (threads > 1) plan.pool = std::make_unique<ThreadPool>(threads);
  return ex;
}

StatusOr<std::vector<ir::Tensor>> Executor::run(const std::vector<NamedTensor>& inputs,
                                                const CaptureHook& capture,
                                                const std::vector<std::string>& capture_names,
                                                const NodeTimeHook& on_node) const {
  std::vector<NamedValue> values;
  values.reserve(inputs.size());
  for (const auto& in : inputs) values.push_back({in.name, in.tensor});
  COMPRESSOR_ASSIGN_OR_RETURN(auto outs, run_values(values, capture, capture_names, on_node));
  std::vector<ir::Tensor> result;
  result.reserve(outs.size());
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!outs[k].is_tensor()) {
      return invalid_argument("output '" + output_names_[k] + "' is a " + outs[k].kind_string() +
                              ", not a tensor");
    }
    result.push_back(std::move(outs[k].tensor()));
  }
  return result;
}

StatusOr<std::vector<ir::Value>> Executor::run_values(const std::vector<NamedValue>& inputs,
                                                      const CaptureHook& capture,
                                                      const std::vector<std::string>& capture_names,
                                                      const NodeTimeHook& on_node) const {
  const Plan& plan = *plan_;
  std::vector<ir::Value> values(plan.slot_names.size());
  std::vector<bool> fed(plan.slot_names.size(), false);
  for (const auto& in : inputs) {
    auto it = plan.slot_of.find(in.name);
    if (it == plan.slot_of.end()) {
      return invalid_argument("input '" + in.name + "' is not an input of the model");
    }
    values[it->second] = in.value;
    fed[it->second] = true;
  }
  for (size_t k = 0; k < plan.input_slots.size(); ++k) {
    if (!fed[plan.input_slots[k]]) {
      return invalid_argument("input '" + input_names_[k] + "' was not given");
    }
  }
  // The slots to capture (all when no names are given).
  const bool capture_all = capture_names.empty();
  std::vector<char> wanted;
  if (capture && !capture_all) {
    wanted.assign(plan.slot_names.size(), 0);
    for (const std::string& name : capture_names) {
      if (auto it = plan.slot_of.find(name); it != plan.slot_of.end()) wanted[it->second] = 1;
    }
  }
  auto value_ptr = [&](int s) -> const ir::Value* {
    if (fed[s] || plan.constants[s] == nullptr) return &values[s];
    return &plan.constant_values[s];
  };
  auto tensor_ptr = [&](int s) -> const ir::Tensor* {
    if (fed[s] || plan.constants[s] == nullptr) return &values[s].tensor();
    return plan.constants[s];
  };

  std::vector<const ir::Tensor*> in_ptrs;
  std::vector<const ir::Value*> value_in_ptrs;
  for (const auto& step : plan.steps) {
    in_ptrs.clear();
    if (!step.takes_values) {
      for (int s : step.inputs) {
        if (s >= 0 && (values[s].kind() == ir::Value::Kind::kSequence || values[s].is_optional())) {
          return invalid_argument(step.node->label() + ": input '" + plan.slot_names[s] +
                                  "' is a " + values[s].kind_string() + ", the op takes tensors");
        }
        in_ptrs.push_back(s < 0 ? nullptr : tensor_ptr(s));
      }
    }
    std::vector<ir::Tensor> outs(step.takes_values ? 0 : step.outputs.size());
    KernelContext ctx{in_ptrs, outs, plan.pool.get(), step.node};
    std::vector<ir::Value> value_outs;
    if (step.takes_values) {
      value_in_ptrs.clear();
      for (int s : step.inputs) {
        const ir::Value* v = s < 0 ? nullptr : value_ptr(s);
        value_in_ptrs.push_back(v);
        in_ptrs.push_back(v != nullptr && v->is_tensor() ? &v->tensor() : nullptr);
      }
      value_outs.resize(step.outputs.size());
      ctx.inputs = in_ptrs;
      ctx.value_inputs = value_in_ptrs;
      ctx.value_outputs = value_outs;
    }
    if (step.has_subgraphs) {
      ctx.lookup = [&](const std::string& name) -> const ir::Value* {
        auto it = plan.slot_of.find(name);
        if (it == plan.slot_of.end()) return nullptr;
        const ir::Value* v = value_ptr(it->second);
        return v->is_unset() ? nullptr : v;
      };
    }
    const auto start =
        on_node ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    COMPRESSOR_RETURN_IF_ERROR(step.kernel->compute(ctx));
    if (on_node) {
      on_node(*step.node,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    for (size_t k = 0; k < step.outputs.size(); ++k) {
      const int s = step.outputs[k];
      if (s < 0) continue;
      if (step.takes_values) {
        values[s] = std::move(value_outs[k]);
      } else {
        values[s] = ir::Value(std::move(outs[k]));
      }
      if (capture && values[s].is_tensor() && (capture_all || wanted[s])) {
        capture(plan.slot_names[s], values[s].tensor());
      }
    }
    for (int s : step.release) values[s] = ir::Value();
  }
  std::vector<ir::Value> result;
  result.reserve(plan.output_slots.size());
  for (int s : plan.output_slots) result.push_back(*value_ptr(s));
  return result;
}

StatusOr<std::vector<ir::Value>> Executor::run_with_scope(
    const std::vector<NamedValue>& inputs,
    const std::map<std::string, const ir::Value*>& outer_scope) const {
  std::vector<NamedValue> all = inputs;
  for (const auto& name : plan_->outer_names) {
    auto it = outer_scope.find(name);
    if (it != outer_scope.end() && it->second != nullptr) all.push_back({name, *it->second});
  }
  return run_values(all);
}

namespace {

void collect_missing(const onnx::GraphProto& g, const ir::Model& model,
                     const KernelRegistry& registry, std::set<std::string>& missing);

void check_op(const std::string& domain, const std::string& op_type, const ir::Model& model,
              const KernelRegistry& registry, std::set<std::string>& missing) {
  const int64_t opset = model.opset_version(domain);
  if (registry.find(domain, op_type, opset) == nullptr) {
    const bool default_domain = domain.empty() || domain == "ai.onnx";
    missing.insert((default_domain ? "" : domain + ".") + op_type + " (opset " +
                   std::to_string(opset) + ")");
  }
}

void collect_missing(const onnx::GraphProto& g, const ir::Model& model,
                     const KernelRegistry& registry, std::set<std::string>& missing) {
  for (const auto& n : g.node()) {
    check_op(n.domain(), n.op_type(), model, registry, missing);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_missing(a.g(), model, registry, missing);
      for (const auto& sg : a.graphs()) collect_missing(sg, model, registry, missing);
    }
  }
}

}  // namespace

std::vector<std::string> unsupported_ops(const ir::Model& model) {
  std::set<std::string> missing;
  const KernelRegistry& registry = KernelRegistry::builtin();
  for (const auto& n : model.graph.nodes()) {
    check_op(n->domain, n->op_type, model, registry, missing);
    for (const auto& a : n->attributes) {
      if (a.proto().has_g()) collect_missing(a.proto().g(), model, registry, missing);
      for (const auto& sg : a.proto().graphs()) collect_missing(sg, model, registry, missing);
    }
  }
  return {missing.begin(), missing.end()};
}

}  // namespace compressor::exec
