// Kernel family 'control_flow': If, Loop, Scan and SequenceMap. Each body is converted and
// planned once, in the factory, as a nested Executor; at run time the body reads enclosing-scope
// values through KernelContext::lookup (filled by the executor for nodes with subgraphs), so
// nested bodies (an If inside a Loop body) see every scope above them. If, Loop and SequenceMap
// take values: branches and loop-carried values may be sequences or optionals. A body value
// without a declared type (a loop-carried value of a function expansion) takes its type from
// the value that flows in at run time.
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "compressor/exec/executor.h"
#include "compressor/io/onnx_io.h"
#include "kernel_util.h"
#include "onnx/onnx_pb.h"
#include "value_util.h"

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
  for (const auto& v : graph->inputs) body.inputs.push_back(v.name());
  body.outputs = graph->outputs;
  // Bodies run inside one kernel call: no pool of their own.
  auto ex = exec::Executor::create_for_graph(*graph, *view.model(), outer_names, {.threads = 1});
  if (!ex.ok()) return view.error(attr_name + ": " + ex.status().message());
  body.executor = std::move(*ex);
  return body;
}

/// The outer-scope values the body reads, from the context.
StatusOr<std::map<std::string, const Value*>> outer_scope(const KernelContext& ctx,
                                                          const std::vector<std::string>& names) {
  std::map<std::string, const Value*> scope;
  for (const auto& n : names) {
    const Value* t = ctx.lookup ? ctx.lookup(n) : nullptr;
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

  bool takes_values() const override { return true; }

  Status compute(KernelContext& ctx) const override {
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* c, tensor_input(ctx, 0, "cond"));
    if (c == nullptr) return ctx.error("cond is missing");
    COMPRESSOR_ASSIGN_OR_RETURN(bool cond, read_bool_scalar(*c, ctx, "cond"));
    COMPRESSOR_ASSIGN_OR_RETURN(auto scope, outer_scope(ctx, outer_));
    const Body& body = cond ? then_ : else_;
    auto outs = body.executor->run_with_scope({}, scope);
    if (!outs.ok()) {
      return ctx.error(std::string(cond ? "then_branch" : "else_branch") + ": " +
                       outs.status().message());
    }
    for (size_t i = 0; i < outs->size() && i < ctx.value_outputs.size(); ++i) {
      ctx.value_outputs[i] = std::move((*outs)[i]);
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

  bool takes_values() const override { return true; }

  Status compute(KernelContext& ctx) const override {
    int64_t max_trip = -1;  // -1: unbounded
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* m, tensor_input(ctx, 0, "M"));
    if (m != nullptr) {
      const auto v = to_int64_vector(*m);
      if (v.size() != 1) return ctx.error("M must be one int64 value");
      max_trip = v[0];
    }
    bool cond = true;
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* c0, tensor_input(ctx, 1, "cond"));
    if (c0 != nullptr) {
      COMPRESSOR_ASSIGN_OR_RETURN(cond, read_bool_scalar(*c0, ctx, "cond"));
    }
    COMPRESSOR_ASSIGN_OR_RETURN(auto scope, outer_scope(ctx, outer_));
    std::vector<Value> values(carried_);
    for (size_t k = 0; k < carried_; ++k) {
      const Value* v = value_input(ctx, 2 + k);
      if (v == nullptr) return ctx.error("loop-carried input " + std::to_string(k) + " is missing");
      values[k] = *v;
    }
    const size_t scans = body_.outputs.size() - 1 - carried_;
    std::vector<std::vector<Tensor>> scan_parts(scans);
    for (int64_t i = 0; (max_trip < 0 || i < max_trip) && cond; ++i) {
      // Body inputs: iteration number, condition, loop-carried values (unnamed ones skipped).
      std::vector<exec::NamedValue> inputs;
      inputs.reserve(2 + carried_);
      const bool c = cond;
      auto feed = [&](size_t k, Value t) {
        if (!body_.inputs[k].empty()) inputs.push_back({body_.inputs[k], std::move(t)});
      };
      feed(0, Tensor::from_values<int64_t>({}, std::span<const int64_t>(&i, 1)));
      feed(1, Tensor::from_values<bool>({}, std::span<const bool>(&c, 1)));
      for (size_t k = 0; k < carried_; ++k) feed(2 + k, std::move(values[k]));
      auto outs = body_.executor->run_with_scope(inputs, scope);
      if (!outs.ok()) {
        return ctx.error("body, iteration " + std::to_string(i) + ": " + outs.status().message());
      }
      if (!(*outs)[0].is_tensor()) {
        return ctx.error("body cond output must be a tensor, got a " + (*outs)[0].kind_string());
      }
      COMPRESSOR_ASSIGN_OR_RETURN(cond,
                                  read_bool_scalar((*outs)[0].tensor(), ctx, "body cond output"));
      for (size_t k = 0; k < carried_; ++k) values[k] = std::move((*outs)[1 + k]);
      for (size_t k = 0; k < scans; ++k) {
        Value& part = (*outs)[1 + carried_ + k];
        if (!part.is_tensor()) {
          return ctx.error("scan output '" + body_.outputs[1 + carried_ + k].name() +
                           "' must be a tensor, got a " + part.kind_string());
        }
        scan_parts[k].push_back(std::move(part.tensor()));
      }
    }
    for (size_t k = 0; k < carried_ && k < ctx.value_outputs.size(); ++k) {
      ctx.value_outputs[k] = std::move(values[k]);
    }
    for (size_t k = 0; k < scans && carried_ + k < ctx.value_outputs.size(); ++k) {
      COMPRESSOR_ASSIGN_OR_RETURN(Tensor stacked,
                                  stack(scan_parts[k], body_.outputs[1 + carried_ + k], ctx));
      ctx.value_outputs[carried_ + k] = std::move(stacked);
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

// ---------------------------------------------------------------------------------------------
// Scan

/// Axes and directions of a Scan (already checked against the counts at plan time).
struct ScanSpec {
  size_t states = 0;                 // M loop-carried state values
  size_t scan_inputs = 0;            // N scanned inputs
  std::vector<int64_t> in_axes;      // per scan input, may be negative
  std::vector<int64_t> in_reverse;   // per scan input, 1 walks from the end
  std::vector<int64_t> out_axes;     // per scan output, may be negative
  std::vector<int64_t> out_reverse;  // per scan output, 1 stacks in reverse iteration order
};

/// What one walk over the scan inputs gives: final states and stacked scan outputs.
struct ScanResult {
  std::vector<Tensor> states;
  std::vector<Tensor> scans;
};

class ScanKernel : public Kernel {
 public:
  ScanKernel(Body body, std::vector<std::string> outer, ScanSpec spec, bool batched)
      : body_(std::move(body)),
        outer_(std::move(outer)),
        spec_(std::move(spec)),
        batched_(batched) {}

  Status compute(KernelContext& ctx) const override {
    COMPRESSOR_ASSIGN_OR_RETURN(auto scope, outer_scope(ctx, outer_));
    const size_t first = batched_ ? 1 : 0;  // opset 8: input 0 is sequence_lens
    std::vector<Tensor> states, scans;
    for (size_t k = 0; k < spec_.states + spec_.scan_inputs; ++k) {
      if (!ctx.has_input(first + k)) {
        return ctx.error("input " + std::to_string(first + k) + " is missing");
      }
      (k < spec_.states ? states : scans).push_back(ctx.input(first + k));
    }
    ScanResult result;
    if (batched_) {
      COMPRESSOR_ASSIGN_OR_RETURN(result, run_batched(ctx, scope, states, scans));
    } else {
      COMPRESSOR_ASSIGN_OR_RETURN(
          result, run_once(ctx, scope, states, scans, spec_.in_axes, spec_.in_reverse, -1));
    }
    for (size_t k = 0; k < result.states.size() && k < ctx.outputs.size(); ++k) {
      ctx.outputs[k] = std::move(result.states[k]);
    }
    for (size_t k = 0; k < result.scans.size() && spec_.states + k < ctx.outputs.size(); ++k) {
      ctx.outputs[spec_.states + k] = std::move(result.scans[k]);
    }
    return ok_status();
  }

 private:
  /// Walks the scan inputs along their axes: `length` steps (all of them when negative).
  StatusOr<ScanResult> run_once(const KernelContext& ctx,
                                const std::map<std::string, const Value*>& scope,
                                std::vector<Tensor> states, const std::vector<Tensor>& scans,
                                const std::vector<int64_t>& in_axes,
                                const std::vector<int64_t>& in_reverse, int64_t length) const {
    std::vector<int64_t> axes(scans.size());
    int64_t steps = -1;
    for (size_t j = 0; j < scans.size(); ++j) {
      COMPRESSOR_ASSIGN_OR_RETURN(axes[j], normalize_axis(in_axes[j], scans[j].rank(), ctx));
      if (scans[j].rank() == 0)
        return ctx.error("scan input " + std::to_string(j) + " is a scalar");
      const int64_t n = scans[j].dims()[axes[j]];
      if (steps >= 0 && n != steps) {
        return ctx.error("scan inputs differ in length: " + std::to_string(steps) + " and " +
                         std::to_string(n));
      }
      steps = n;
    }
    if (length >= 0) {
      if (length > steps) {
        return ctx.error("sequence length " + std::to_string(length) + " exceeds the " +
                         std::to_string(steps) + " steps of the scan inputs");
      }
      steps = length;
    }
    const size_t outs = body_.outputs.size() - spec_.states;
    std::vector<std::vector<Tensor>> parts(outs);
    for (int64_t t = 0; t < steps; ++t) {
      std::vector<exec::NamedValue> inputs;
      for (size_t k = 0; k < states.size(); ++k) inputs.push_back({body_.inputs[k], states[k]});
      for (size_t j = 0; j < scans.size(); ++j) {
        const int64_t at = in_reverse[j] != 0 ? steps - 1 - t : t;
        COMPRESSOR_ASSIGN_OR_RETURN(Tensor slice, take_along_axis(scans[j], axes[j], at, ctx));
        inputs.push_back({body_.inputs[states.size() + j], std::move(slice)});
      }
      auto got = body_.executor->run_with_scope(inputs, scope);
      if (!got.ok()) {
        return ctx.error("body, iteration " + std::to_string(t) + ": " + got.status().message());
      }
      for (size_t k = 0; k < got->size(); ++k) {
        Value& v = (*got)[k];
        if (!v.is_tensor()) {
          return ctx.error("body output '" + body_.outputs[k].name() +
                           "' must be a tensor, got a " + v.kind_string());
        }
        if (k < states.size()) {
          states[k] = std::move(v.tensor());
        } else {
          parts[k - states.size()].push_back(std::move(v.tensor()));
        }
      }
    }
    ScanResult result;
    result.states = std::move(states);
    for (size_t k = 0; k < outs; ++k) {
      const ir::ValueInfo& declared = body_.outputs[spec_.states + k];
      const int64_t axis = k < spec_.out_axes.size() ? spec_.out_axes[k] : 0;
      const bool reverse = k < spec_.out_reverse.size() && spec_.out_reverse[k] != 0;
      if (parts[k].empty()) {
        COMPRESSOR_ASSIGN_OR_RETURN(Tensor empty, stack({}, declared, ctx));
        result.scans.push_back(std::move(empty));
        continue;
      }
      if (reverse) std::reverse(parts[k].begin(), parts[k].end());
      COMPRESSOR_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, parts[k][0].rank() + 1, ctx));
      COMPRESSOR_ASSIGN_OR_RETURN(
          Tensor stacked,
          join_along_axis(parts[k], a, true, ctx, "scan output '" + declared.name() + "'"));
      result.scans.push_back(std::move(stacked));
    }
    return result;
  }

  /// Opset 8: axis 0 of every state and scan input is the batch; each batch row is scanned
  /// along its axis 0 for its sequence length, and shorter scan outputs are padded with zeros.
  StatusOr<ScanResult> run_batched(const KernelContext& ctx,
                                   const std::map<std::string, const Value*>& scope,
                                   const std::vector<Tensor>& states,
                                   const std::vector<Tensor>& scans) const {
    int64_t batch = -1;
    for (const auto* list : {&states, &scans}) {
      for (const auto& t : *list) {
        if (t.rank() == 0) return ctx.error("states and scan inputs need a batch axis");
        if (batch >= 0 && t.dims()[0] != batch) {
          return ctx.error("batch sizes differ: " + std::to_string(batch) + " and " +
                           std::to_string(t.dims()[0]));
        }
        batch = t.dims()[0];
      }
    }
    const int64_t max_len = scans.empty() || scans[0].rank() < 2 ? 0 : scans[0].dims()[1];
    std::vector<int64_t> lens(static_cast<size_t>(std::max<int64_t>(batch, 0)), max_len);
    if (ctx.has_input(0)) {
      lens = to_int64_vector(ctx.input(0));
      if (static_cast<int64_t>(lens.size()) != batch) {
        return ctx.error("sequence_lens has " + std::to_string(lens.size()) +
                         " values for a batch of " + std::to_string(batch));
      }
    }
    const std::vector<int64_t> axes(scans.size(), 0);
    std::vector<std::vector<Tensor>> state_rows(states.size()), scan_rows;
    for (int64_t b = 0; b < batch; ++b) {
      if (lens[b] < 1 || lens[b] > max_len) {
        return ctx.error("sequence_lens[" + std::to_string(b) + "] = " + std::to_string(lens[b]) +
                         " is outside 1.." + std::to_string(max_len));
      }
      std::vector<Tensor> s_b, x_b;
      for (const auto& t : states) {
        COMPRESSOR_ASSIGN_OR_RETURN(Tensor row, take_along_axis(t, 0, b, ctx));
        s_b.push_back(std::move(row));
      }
      for (const auto& t : scans) {
        COMPRESSOR_ASSIGN_OR_RETURN(Tensor row, take_along_axis(t, 0, b, ctx));
        x_b.push_back(std::move(row));
      }
      COMPRESSOR_ASSIGN_OR_RETURN(
          auto r, run_once(ctx, scope, std::move(s_b), x_b, axes, spec_.in_reverse, lens[b]));
      for (size_t k = 0; k < r.states.size(); ++k) state_rows[k].push_back(std::move(r.states[k]));
      scan_rows.resize(r.scans.size());
      for (size_t k = 0; k < r.scans.size(); ++k) {
        Tensor out = std::move(r.scans[k]);
        if (lens[b] < max_len) {  // pad along the sequence axis with zeros
          if (out.dtype() == DType::kString) return ctx.error("padding strings is not supported");
          Dims pad_dims = out.dims();
          pad_dims[0] = max_len - lens[b];
          COMPRESSOR_ASSIGN_OR_RETURN(
              out, join_along_axis({out, Tensor::zeros(out.dtype(), pad_dims)}, 0, false, ctx,
                                   "scan output"));
        }
        scan_rows[k].push_back(std::move(out));
      }
    }
    if (batch == 0) return ctx.error("a batch of 0 is not supported");
    ScanResult result;
    for (auto& rows : state_rows) {
      COMPRESSOR_ASSIGN_OR_RETURN(Tensor t, join_along_axis(rows, 0, true, ctx, "final state"));
      result.states.push_back(std::move(t));
    }
    for (auto& rows : scan_rows) {
      COMPRESSOR_ASSIGN_OR_RETURN(Tensor t, join_along_axis(rows, 0, true, ctx, "scan output"));
      result.scans.push_back(std::move(t));
    }
    return result;
  }

  Body body_;
  std::vector<std::string> outer_;
  ScanSpec spec_;
  bool batched_;
};

/// A per-item attribute list: its values, or `count` copies of `fallback` when absent.
StatusOr<std::vector<int64_t>> per_item(const NodeView& view, const char* name, size_t count,
                                        int64_t fallback) {
  if (view.node().attribute(name) == nullptr) return std::vector<int64_t>(count, fallback);
  auto v = view.node().attr_ints(name);
  if (v.size() != count) {
    return view.error(std::string(name) + " has " + std::to_string(v.size()) +
                      " values, expected " + std::to_string(count));
  }
  return v;
}

StatusOr<std::unique_ptr<Kernel>> make_scan(const NodeView& view) {
  const bool batched = view.opset() < 9;
  const int64_t n = view.node().attr_int("num_scan_inputs", 0);
  const size_t first = batched ? 1 : 0;
  const size_t n_in = view.node().inputs.size();
  if (n < 1 || first + static_cast<size_t>(n) > n_in) {
    return view.error("num_scan_inputs must be between 1 and the " + std::to_string(n_in - first) +
                      " state and scan inputs, got " + std::to_string(n));
  }
  ScanSpec spec;
  spec.scan_inputs = static_cast<size_t>(n);
  spec.states = n_in - first - spec.scan_inputs;
  const auto reads = ir::subgraph_outer_reads(view.node());
  std::vector<std::string> outer(reads.begin(), reads.end());
  COMPRESSOR_ASSIGN_OR_RETURN(Body body, plan_body(view, "body", outer));
  if (body.inputs.size() != spec.states + spec.scan_inputs) {
    return view.error("body must have " + std::to_string(spec.states + spec.scan_inputs) +
                      " inputs, has " + std::to_string(body.inputs.size()));
  }
  if (body.outputs.size() < spec.states) {
    return view.error("body must have at least " + std::to_string(spec.states) + " outputs, has " +
                      std::to_string(body.outputs.size()));
  }
  if (view.node().outputs.size() > body.outputs.size()) {
    return view.error("Scan has " + std::to_string(view.node().outputs.size()) +
                      " outputs, the body gives " + std::to_string(body.outputs.size()));
  }
  const size_t k = body.outputs.size() - spec.states;
  if (batched) {
    COMPRESSOR_ASSIGN_OR_RETURN(spec.in_reverse, per_item(view, "directions", spec.scan_inputs, 0));
    spec.in_axes.assign(spec.scan_inputs, 0);
  } else {
    COMPRESSOR_ASSIGN_OR_RETURN(spec.in_axes,
                                per_item(view, "scan_input_axes", spec.scan_inputs, 0));
    COMPRESSOR_ASSIGN_OR_RETURN(spec.in_reverse,
                                per_item(view, "scan_input_directions", spec.scan_inputs, 0));
    COMPRESSOR_ASSIGN_OR_RETURN(spec.out_axes, per_item(view, "scan_output_axes", k, 0));
    COMPRESSOR_ASSIGN_OR_RETURN(spec.out_reverse, per_item(view, "scan_output_directions", k, 0));
  }
  return make_kernel<ScanKernel>(std::move(body), std::move(outer), std::move(spec), batched);
}

// ---------------------------------------------------------------------------------------------
// SequenceMap

class SequenceMapKernel : public Kernel {
 public:
  SequenceMapKernel(Body body, std::vector<std::string> outer)
      : body_(std::move(body)), outer_(std::move(outer)) {}

  bool takes_values() const override { return true; }

  Status compute(KernelContext& ctx) const override {
    COMPRESSOR_ASSIGN_OR_RETURN(auto scope, outer_scope(ctx, outer_));
    COMPRESSOR_ASSIGN_OR_RETURN(const Value* seq, sequence_input(ctx, 0, "input_sequence"));
    const size_t n = seq->elements().size();
    std::vector<const Value*> ins{seq};
    for (size_t j = 1; j < body_.inputs.size(); ++j) {
      const Value* v = value_input(ctx, j);
      if (v == nullptr) return ctx.error("input " + std::to_string(j) + " is missing");
      if (v->is_sequence() && v->elements().size() != n) {
        return ctx.error("input " + std::to_string(j) + " is a sequence of " +
                         std::to_string(v->elements().size()) + " tensors, input_sequence has " +
                         std::to_string(n));
      }
      if (!v->is_sequence() && !v->is_tensor()) {
        return ctx.error("input " + std::to_string(j) + " must be a sequence or a tensor, got a " +
                         v->kind_string());
      }
      ins.push_back(v);
    }
    std::vector<std::vector<Tensor>> parts(body_.outputs.size());
    for (size_t i = 0; i < n; ++i) {
      std::vector<exec::NamedValue> inputs;
      for (size_t j = 0; j < ins.size(); ++j) {
        inputs.push_back(
            {body_.inputs[j], ins[j]->is_sequence() ? ins[j]->elements()[i] : ins[j]->tensor()});
      }
      auto got = body_.executor->run_with_scope(inputs, scope);
      if (!got.ok()) {
        return ctx.error("body, element " + std::to_string(i) + ": " + got.status().message());
      }
      for (size_t k = 0; k < got->size(); ++k) {
        if (!(*got)[k].is_tensor()) {
          return ctx.error("body output '" + body_.outputs[k].name() +
                           "' must be a tensor, got a " + (*got)[k].kind_string());
        }
        parts[k].push_back(std::move((*got)[k].tensor()));
      }
    }
    for (size_t k = 0; k < parts.size() && k < ctx.value_outputs.size(); ++k) {
      ctx.value_outputs[k] = Value::sequence(body_.outputs[k].dtype(), std::move(parts[k]));
    }
    return ok_status();
  }

 private:
  Body body_;
  std::vector<std::string> outer_;
};

StatusOr<std::unique_ptr<Kernel>> make_sequence_map(const NodeView& view) {
  const auto reads = ir::subgraph_outer_reads(view.node());
  std::vector<std::string> outer(reads.begin(), reads.end());
  COMPRESSOR_ASSIGN_OR_RETURN(Body body, plan_body(view, "body", outer));
  if (body.inputs.size() != view.node().inputs.size()) {
    return view.error("body must have " + std::to_string(view.node().inputs.size()) +
                      " inputs, has " + std::to_string(body.inputs.size()));
  }
  if (body.outputs.size() != view.node().outputs.size()) {
    return view.error("body must have " + std::to_string(view.node().outputs.size()) +
                      " outputs, has " + std::to_string(body.outputs.size()));
  }
  return make_kernel<SequenceMapKernel>(std::move(body), std::move(outer));
}

}  // namespace

void register_control_flow_kernels(exec::KernelRegistry& r) {
  r.add("If", make_if);
  r.add("Loop", make_loop);
  r.add("", "Scan", 8, 8, make_scan);
  r.add("", "Scan", 9, 1 << 20, make_scan);
  r.add("", "SequenceMap", 17, 1 << 20, make_sequence_map);
}

}  // namespace compressor::kernels
