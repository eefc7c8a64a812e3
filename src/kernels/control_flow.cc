// Kernel family 'control_flow': If and Loop. Each body is converted and planned once, in the
// factory, as a nested Executor; at run time the body reads enclosing-scope values through
// KernelContext::lookup (filled by the executor for nodes with subgraphs), so nested bodies (an
// If inside a Loop body) see every scope above them.
#include <cstring>
#include <map>
#include <set>

#include "compressor/exec/executor.h"
#include "compressor/io/onnx_io.h"
#include "kernel_util.h"
#include "onnx/onnx_pb.h"

namespace compressor::kernels {
namespace {

/// One planned body: its executor, input names and declared outputs.
struct Body {
  std::unique_ptr<exec::Executor> executor;
  std::vector<std::string> inputs;
  std::vector<ir::ValueInfo> outputs;
};

/// Converts and plans the graph attribute `attr_name` of the node.
StatusOr<Body> plan_body(const NodeView& view, const std::string& attr_name,
                         const std::vector<std::string>& outer_names) {
  const ir::Attribute* attr = view.node().attribute(attr_name);
  if (attr == nullptr || attr->type() != ir::Attribute::Type::kGraph) {
    return view.error("attribute '" + attr_name + "' (a graph) is missing");
  }
  if (view.model() == nullptr) return view.error("cannot plan a subgraph without its model");
  auto graph = io::subgraph_from_proto(attr->proto().g());
  if (!graph.ok()) return view.error(attr_name + ": " + graph.status().message());
  Body body;
  for (const auto* list : {&graph->inputs, &graph->outputs}) {
    for (const auto& v : *list) {
      if (!v.is_tensor()) {
        return view.error(attr_name + ": value '" + v.name() + "' is a " + v.type_string() +
                          ", only tensors are supported");
      }
    }
  }
  for (const auto& v : graph->inputs) body.inputs.push_back(v.name());
  body.outputs = graph->outputs;
  // Bodies run inside one kernel call: no pool of their own.
  auto ex = exec::Executor::create_for_graph(*graph, *view.model(), outer_names, {.threads = 1});
  if (!ex.ok()) return view.error(attr_name + ": " + ex.status().message());
  body.executor = std::move(*ex);
  return body;
}

/// The outer-scope values the body reads, from the context.
StatusOr<std::map<std::string, const Tensor*>> outer_scope(const KernelContext& ctx,
                                                           const std::vector<std::string>& names) {
  std::map<std::string, const Tensor*> scope;
  for (const auto& n : names) {
    const Tensor* t = ctx.lookup ? ctx.lookup(n) : nullptr;
    if (t == nullptr) return ctx.error("outer-scope value '" + n + "' is not available");
    scope[n] = t;
  }
  return scope;
}

StatusOr<bool> read_bool_scalar(const Tensor& t, const KernelContext& ctx, const char* what) {
  if (t.numel() != 1) {
    return ctx.error(std::string(what) + " must hold one element, got shape " +
                     ir::dims_to_string(t.dims()));
  }
  switch (t.dtype()) {
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8:
      return t.span<uint8_t>()[0] != 0;
    default:
      return ctx.error(std::string(what) + " must be bool, got " +
                       std::string(ir::dtype_name(t.dtype())));
  }
}

// ---------------------------------------------------------------------------------------------
// If

class IfKernel : public Kernel {
 public:
  IfKernel(Body then_body, Body else_body, std::vector<std::string> outer)
      : then_(std::move(then_body)), else_(std::move(else_body)), outer_(std::move(outer)) {}

  Status compute(KernelContext& ctx) const override {
    COMPRESSOR_ASSIGN_OR_RETURN(bool cond, read_bool_scalar(ctx.input(0), ctx, "cond"));
    COMPRESSOR_ASSIGN_OR_RETURN(auto scope, outer_scope(ctx, outer_));
    const Body& body = cond ? then_ : else_;
    auto outs = body.executor->run_with_scope({}, scope);
    if (!outs.ok()) {
      return ctx.error(std::string(cond ? "then_branch" : "else_branch") + ": " +
                       outs.status().message());
    }
    for (size_t i = 0; i < outs->size() && i < ctx.outputs.size(); ++i) {
      ctx.outputs[i] = std::move((*outs)[i]);
    }
    return ok_status();
  }

 private:
  Body then_;
  Body else_;
  std::vector<std::string> outer_;
};

StatusOr<std::unique_ptr<Kernel>> make_if(const NodeView& view) {
  const auto reads = ir::subgraph_outer_reads(view.node());
  std::vector<std::string> outer(reads.begin(), reads.end());
  COMPRESSOR_ASSIGN_OR_RETURN(Body then_body, plan_body(view, "then_branch", outer));
  COMPRESSOR_ASSIGN_OR_RETURN(Body else_body, plan_body(view, "else_branch", outer));
  const size_t n = view.node().outputs.size();
  if (then_body.outputs.size() != n || else_body.outputs.size() != n) {
    return view.error("then_branch and else_branch must have " + std::to_string(n) +
                      " outputs, have " + std::to_string(then_body.outputs.size()) + " and " +
                      std::to_string(else_body.outputs.size()));
  }
  if (!then_body.inputs.empty() || !else_body.inputs.empty()) {
    return view.error("If branches must not declare inputs");
  }
  return make_kernel<IfKernel>(std::move(then_body), std::move(else_body), std::move(outer));
}

// ---------------------------------------------------------------------------------------------
// Loop

/// Stacks equally shaped tensors along a new first axis.
StatusOr<Tensor> stack(const std::vector<Tensor>& parts, const ir::ValueInfo& declared,
                       const KernelContext& ctx) {
  if (parts.empty()) {
    // Zero iterations: [0, declared dims...] when the body declares them, else [0].
    Dims dims{0};
    DType dtype = declared.dtype() == DType::kUndefined ? DType::kFloat : declared.dtype();
    if (declared.has_shape()) {
      for (const auto& d : declared.shape()) dims.push_back(d.value.value_or(0));
    }
    return Tensor::zeros(dtype, dims);
  }
  const Tensor& first = parts.front();
  if (first.dtype() == DType::kString) {
    return ctx.error("scan output '" + declared.name() + "' of strings is not supported");
  }
  Dims dims{static_cast<int64_t>(parts.size())};
  dims.insert(dims.end(), first.dims().begin(), first.dims().end());
  Tensor out = Tensor::zeros(first.dtype(), dims);
  std::byte* dst = out.mutable_data();
  for (const auto& p : parts) {
    if (p.dims() != first.dims() || p.dtype() != first.dtype()) {
      return ctx.error("scan output '" + declared.name() + "' changes shape or type across " +
                       "iterations: " + ir::dims_to_string(first.dims()) + " then " +
                       ir::dims_to_string(p.dims()));
    }
    if (p.nbytes() > 0) std::memcpy(dst, p.data(), p.nbytes());
    dst += p.nbytes();
  }
  return out;
}

class LoopKernel : public Kernel {
 public:
  LoopKernel(Body body, std::vector<std::string> outer, size_t carried)
      : body_(std::move(body)), outer_(std::move(outer)), carried_(carried) {}

  Status compute(KernelContext& ctx) const override {
    int64_t max_trip = -1;  // -1: unbounded
    if (ctx.has_input(0)) {
      const Tensor& m = ctx.input(0);
      const auto v = to_int64_vector(m);
      if (v.size() != 1) return ctx.error("M must be one int64 value");
      max_trip = v[0];
    }
    bool cond = true;
    if (ctx.has_input(1)) {
      COMPRESSOR_ASSIGN_OR_RETURN(cond, read_bool_scalar(ctx.input(1), ctx, "cond"));
    }
    COMPRESSOR_ASSIGN_OR_RETURN(auto scope, outer_scope(ctx, outer_));
    std::vector<Tensor> values(carried_);
    for (size_t k = 0; k < carried_; ++k) {
      if (!ctx.has_input(2 + k))
        return ctx.error("loop-carried input " + std::to_string(k) + " is missing");
      values[k] = ctx.input(2 + k);
    }
    const size_t scans = body_.outputs.size() - 1 - carried_;
    std::vector<std::vector<Tensor>> scan_parts(scans);
    for (int64_t i = 0; (max_trip < 0 || i < max_trip) && cond; ++i) {
      // Body inputs: iteration number, condition, loop-carried values (unnamed ones skipped).
      std::vector<exec::NamedTensor> inputs;
      inputs.reserve(2 + carried_);
      const bool c = cond;
      auto feed = [&](size_t k, Tensor t) {
        if (!body_.inputs[k].empty()) inputs.push_back({body_.inputs[k], std::move(t)});
      };
      feed(0, Tensor::from_values<int64_t>({}, std::span<const int64_t>(&i, 1)));
      feed(1, Tensor::from_values<bool>({}, std::span<const bool>(&c, 1)));
      for (size_t k = 0; k < carried_; ++k) feed(2 + k, std::move(values[k]));
      auto outs = body_.executor->run_with_scope(inputs, scope);
      if (!outs.ok()) {
        return ctx.error("body, iteration " + std::to_string(i) + ": " + outs.status().message());
      }
      COMPRESSOR_ASSIGN_OR_RETURN(cond, read_bool_scalar((*outs)[0], ctx, "body cond output"));
      for (size_t k = 0; k < carried_; ++k) values[k] = std::move((*outs)[1 + k]);
      for (size_t k = 0; k < scans; ++k) {
        scan_parts[k].push_back(std::move((*outs)[1 + carried_ + k]));
      }
    }
    for (size_t k = 0; k < carried_ && k < ctx.outputs.size(); ++k) {
      ctx.outputs[k] = std::move(values[k]);
    }
    for (size_t k = 0; k < scans && carried_ + k < ctx.outputs.size(); ++k) {
      COMPRESSOR_ASSIGN_OR_RETURN(ctx.outputs[carried_ + k],
                                  stack(scan_parts[k], body_.outputs[1 + carried_ + k], ctx));
    }
    return ok_status();
  }

 private:
  Body body_;
  std::vector<std::string> outer_;
  size_t carried_;
};

StatusOr<std::unique_ptr<Kernel>> make_loop(const NodeView& view) {
  const auto reads = ir::subgraph_outer_reads(view.node());
  std::vector<std::string> outer(reads.begin(), reads.end());
  COMPRESSOR_ASSIGN_OR_RETURN(Body body, plan_body(view, "body", outer));
  const size_t n_in = view.node().inputs.size();
  if (n_in < 2) return view.error("Loop needs inputs M and cond (either may be empty)");
  const size_t carried = n_in - 2;
  if (body.inputs.size() != 2 + carried) {
    return view.error("body must have " + std::to_string(2 + carried) + " inputs, has " +
                      std::to_string(body.inputs.size()));
  }
  if (body.outputs.size() < 1 + carried) {
    return view.error("body must have at least " + std::to_string(1 + carried) + " outputs, has " +
                      std::to_string(body.outputs.size()));
  }
  const size_t node_outs = view.node().outputs.size();
  if (node_outs > body.outputs.size() - 1) {
    return view.error("Loop has " + std::to_string(node_outs) + " outputs, the body gives " +
                      std::to_string(body.outputs.size() - 1));
  }
  return make_kernel<LoopKernel>(std::move(body), std::move(outer), carried);
}

}  // namespace

void register_control_flow_kernels(exec::KernelRegistry& r) {
  r.add("If", make_if);
  r.add("Loop", make_loop);
}

}  // namespace compressor::kernels
