// Kernel family 'sequence': ops on sequences of tensors and on optionals (SequenceEmpty,
// SequenceConstruct, SequenceInsert, SequenceAt, SequenceErase, SequenceLength,
// SplitToSequence, ConcatFromSequence, Optional, OptionalHasElement, OptionalGetElement) and
// Identity from opset 14 on, where it also passes sequences (14) and optionals (16) through.
// Every kernel here takes values (Kernel::takes_values). Positions follow Python: -n..n-1 name
// the n elements (SequenceInsert also accepts n, the end); anything else is refused at run time.
#include <string>
#include <vector>

#include "compressor/ir/graph.h"
#include "kernel_util.h"
#include "value_util.h"

namespace compressor::kernels {
namespace {

constexpr int kMax = 1 << 20;

/// A position input (int32/int64 scalar) normalized against a sequence of `size` elements;
/// `allow_end` accepts `size` itself (insert at the end).
StatusOr<size_t> position(const KernelContext& ctx, const Tensor& t, size_t size, bool allow_end) {
  COMPRESSOR_ASSIGN_OR_RETURN(int64_t p, int_scalar(t, ctx, "position"));
  const int64_t n = static_cast<int64_t>(size);
  const int64_t hi = allow_end ? n : n - 1;
  if (p < -n || p > hi) {
    return ctx.error("position " + std::to_string(p) + " is out of range for a sequence of " +
                     std::to_string(n) + " tensors (allowed " + std::to_string(-n) + ".." +
                     std::to_string(hi) + ")");
  }
  return static_cast<size_t>(p < 0 ? p + n : p);
}

/// The element type of the sequence a node builds from its `dtype` attribute.
StatusOr<DType> dtype_attribute(const NodeView& view, int64_t fallback) {
  const int64_t raw = view.node().attr_int("dtype", fallback);
  auto dt = ir::dtype_from_onnx(static_cast<int32_t>(raw));
  if (!dt || *dt == DType::kUndefined) {
    return view.error("dtype " + std::to_string(raw) + " is not a known element type");
  }
  return *dt;
}

/// Fails when `t` cannot go into a sequence of `elem_type` tensors.
Status check_element(const KernelContext& ctx, DType elem_type, const Tensor& t) {
  if (elem_type == DType::kUndefined || t.dtype() == elem_type) return ok_status();
  return ctx.error("a " + std::string(ir::dtype_name(t.dtype())) +
                   " tensor cannot join a sequence of " + std::string(ir::dtype_name(elem_type)) +
                   " tensors");
}

StatusOr<std::unique_ptr<Kernel>> make_sequence_empty(const NodeView& view) {
  COMPRESSOR_ASSIGN_OR_RETURN(DType dtype, dtype_attribute(view, 1));
  return value_lambda([dtype](KernelContext& ctx) -> Status {
    ctx.value_outputs[0] = Value::sequence(dtype, {});
    return ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_sequence_construct(const NodeView& view) {
  if (view.input_count() == 0) return view.error("needs at least one input");
  return value_lambda([](KernelContext& ctx) -> Status {
    std::vector<Tensor> elements;
    elements.reserve(ctx.value_inputs.size());
    for (size_t i = 0; i < ctx.value_inputs.size(); ++i) {
      COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* t,
                                  tensor_input(ctx, i, "input " + std::to_string(i)));
      if (t == nullptr) return ctx.error("input " + std::to_string(i) + " is missing");
      if (!elements.empty())
        COMPRESSOR_RETURN_IF_ERROR(check_element(ctx, elements[0].dtype(), *t));
      elements.push_back(*t);
    }
    const DType dtype = elements[0].dtype();
    ctx.value_outputs[0] = Value::sequence(dtype, std::move(elements));
    return ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_sequence_insert(const NodeView& view) {
  if (!view.has_input(0) || !view.has_input(1)) return view.error("needs a sequence and a tensor");
  return value_lambda([](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(const Value* seq, sequence_input(ctx, 0, "input_sequence"));
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* t, tensor_input(ctx, 1, "tensor"));
    if (t == nullptr) return ctx.error("tensor is missing");
    COMPRESSOR_RETURN_IF_ERROR(check_element(ctx, seq->elem_type(), *t));
    std::vector<Tensor> elements = seq->elements();
    size_t at = elements.size();
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* pos, tensor_input(ctx, 2, "position"));
    if (pos != nullptr) {
      COMPRESSOR_ASSIGN_OR_RETURN(at, position(ctx, *pos, elements.size(), true));
    }
    elements.insert(elements.begin() + static_cast<std::ptrdiff_t>(at), *t);
    const DType dtype = seq->elem_type() == DType::kUndefined ? t->dtype() : seq->elem_type();
    ctx.value_outputs[0] = Value::sequence(dtype, std::move(elements));
    return ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_sequence_at(const NodeView& view) {
  if (!view.has_input(0) || !view.has_input(1))
    return view.error("needs a sequence and a position");
  return value_lambda([](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(const Value* seq, sequence_input(ctx, 0, "input_sequence"));
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* pos, tensor_input(ctx, 1, "position"));
    if (pos == nullptr) return ctx.error("position is missing");
    COMPRESSOR_ASSIGN_OR_RETURN(size_t at, position(ctx, *pos, seq->elements().size(), false));
    ctx.value_outputs[0] = seq->elements()[at];
    return ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_sequence_erase(const NodeView& view) {
  if (!view.has_input(0)) return view.error("needs a sequence");
  return value_lambda([](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(const Value* seq, sequence_input(ctx, 0, "input_sequence"));
    std::vector<Tensor> elements = seq->elements();
    if (elements.empty()) return ctx.error("cannot erase from an empty sequence");
    size_t at = elements.size() - 1;
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* pos, tensor_input(ctx, 1, "position"));
    if (pos != nullptr) {
      COMPRESSOR_ASSIGN_OR_RETURN(at, position(ctx, *pos, elements.size(), false));
    }
    elements.erase(elements.begin() + static_cast<std::ptrdiff_t>(at));
    ctx.value_outputs[0] = Value::sequence(seq->elem_type(), std::move(elements));
    return ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_sequence_length(const NodeView& view) {
  if (!view.has_input(0)) return view.error("needs a sequence");
  return value_lambda([](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(const Value* seq, sequence_input(ctx, 0, "input_sequence"));
    const int64_t n = static_cast<int64_t>(seq->elements().size());
    ctx.value_outputs[0] = Tensor::from_values<int64_t>({}, std::span<const int64_t>(&n, 1));
    return ok_status();
  });
}

// SplitToSequence: without `split`, every index along `axis` becomes one element (the axis is
// dropped when keepdims=0); a scalar `split` cuts chunks of that length (the last may be
// shorter); a 1-D `split` gives the lengths, which must add up to the axis.
StatusOr<std::unique_ptr<Kernel>> make_split_to_sequence(const NodeView& view) {
  const int64_t axis = view.node().attr_int("axis", 0);
  const bool keepdims = view.node().attr_int("keepdims", 1) != 0;
  return value_lambda([axis, keepdims](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* x, tensor_input(ctx, 0, "input"));
    if (x == nullptr) return ctx.error("input is missing");
    if (x->rank() == 0) return ctx.error("cannot split a scalar");
    COMPRESSOR_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, x->rank(), ctx));
    const int64_t dim = x->dims()[a];
    COMPRESSOR_ASSIGN_OR_RETURN(const Tensor* split, tensor_input(ctx, 1, "split"));
    std::vector<Tensor> elements;
    if (split == nullptr) {
      for (int64_t i = 0; i < dim; ++i) {
        auto part = keepdims ? slice_along_axis(*x, a, i, 1, ctx) : take_along_axis(*x, a, i, ctx);
        if (!part.ok()) return part.status();
        elements.push_back(std::move(part).value());
      }
      ctx.value_outputs[0] = Value::sequence(x->dtype(), std::move(elements));
      return ok_status();
    }
    if (split->dtype() != DType::kInt64 && split->dtype() != DType::kInt32) {
      return ctx.error("split must be int32 or int64, got " +
                       std::string(ir::dtype_name(split->dtype())));
    }
    std::vector<int64_t> lengths;
    if (split->rank() == 0) {
      const int64_t chunk = to_int64_vector(*split)[0];
      if (chunk <= 0) return ctx.error("split " + std::to_string(chunk) + " must be positive");
      for (int64_t start = 0; start < dim; start += chunk) {
        lengths.push_back(std::min(chunk, dim - start));
      }
    } else if (split->rank() == 1) {
      lengths = to_int64_vector(*split);
      int64_t sum = 0;
      for (int64_t l : lengths) {
        if (l < 0) return ctx.error("split has a negative length " + std::to_string(l));
        sum += l;
      }
      if (sum != dim) {
        return ctx.error("split lengths add up to " + std::to_string(sum) + ", axis " +
                         std::to_string(a) + " has " + std::to_string(dim));
      }
    } else {
      return ctx.error("split must be a scalar or 1-D, got shape " +
                       ir::dims_to_string(split->dims()));
    }
    int64_t start = 0;
    for (int64_t l : lengths) {
      COMPRESSOR_ASSIGN_OR_RETURN(Tensor part, slice_along_axis(*x, a, start, l, ctx));
      elements.push_back(std::move(part));
      start += l;
    }
    ctx.value_outputs[0] = Value::sequence(x->dtype(), std::move(elements));
    return ok_status();
  });
}

// ConcatFromSequence: joins the elements along `axis` (-r..r-1), or stacks them along a new
// axis at `axis` (-r-1..r) when new_axis=1.
StatusOr<std::unique_ptr<Kernel>> make_concat_from_sequence(const NodeView& view) {
  if (view.node().attribute("axis") == nullptr) return view.error("attribute 'axis' is required");
  const int64_t axis = view.node().attr_int("axis", 0);
  const int64_t new_axis = view.node().attr_int("new_axis", 0);
  if (new_axis != 0 && new_axis != 1) {
    return view.error("new_axis must be 0 or 1, got " + std::to_string(new_axis));
  }
  return value_lambda([axis, new_axis](KernelContext& ctx) -> Status {
    COMPRESSOR_ASSIGN_OR_RETURN(const Value* seq, sequence_input(ctx, 0, "input_sequence"));
    if (seq->elements().empty()) return ctx.error("cannot concatenate an empty sequence");
    const int64_t rank = seq->elements()[0].rank() + new_axis;
    COMPRESSOR_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, rank, ctx));
    COMPRESSOR_ASSIGN_OR_RETURN(
        Tensor out, join_along_axis(seq->elements(), a, new_axis != 0, ctx, "sequence element"));
    ctx.value_outputs[0] = std::move(out);
    return ok_status();
  });
}

// Optional: wraps its input, or is empty (its `type` attribute then says of what).
StatusOr<std::unique_ptr<Kernel>> make_optional(const NodeView& view) {
  if (!view.has_input(0)) {
    const ir::Attribute* type = view.node().attribute("type");
    if (type == nullptr || type->type() != ir::Attribute::Type::kTypeProto) {
      return view.error("an Optional without input needs its 'type' attribute");
    }
  }
  return value_lambda([](KernelContext& ctx) -> Status {
    const Value* v = value_input(ctx, 0);
    if (v == nullptr) {
      ctx.value_outputs[0] = Value::empty_optional();
      return ok_status();
    }
    if (!v->is_tensor() && !v->is_sequence()) {
      return ctx.error("input must be a tensor or a sequence, got a " + v->kind_string());
    }
    ctx.value_outputs[0] = Value::optional_of(*v);
    return ok_status();
  });
}

// OptionalHasElement: false for an empty optional (or an omitted input), true otherwise.
StatusOr<std::unique_ptr<Kernel>> make_optional_has_element(const NodeView&) {
  return value_lambda([](KernelContext& ctx) -> Status {
    const Value* v = value_input(ctx, 0);
    const bool has = v != nullptr && v->has_element();
    ctx.value_outputs[0] = Tensor::from_values<bool>({}, std::span<const bool>(&has, 1));
    return ok_status();
  });
}

// OptionalGetElement: the content of an optional (a plain tensor or sequence passes through);
// an empty optional is an error.
StatusOr<std::unique_ptr<Kernel>> make_optional_get_element(const NodeView& view) {
  if (!view.has_input(0)) return view.error("needs an input");
  return value_lambda([](KernelContext& ctx) -> Status {
    const Value* v = value_input(ctx, 0);
    if (!v->has_element()) return ctx.error("the optional input is empty");
    ctx.value_outputs[0] = v->content();
    return ok_status();
  });
}

StatusOr<std::unique_ptr<Kernel>> make_identity(const NodeView& view) {
  if (!view.has_input(0)) return view.error("needs an input");
  return value_lambda([](KernelContext& ctx) -> Status {
    ctx.value_outputs[0] = *value_input(ctx, 0);
    return ok_status();
  });
}

}  // namespace

void register_sequence_kernels(exec::KernelRegistry& r) {
  r.add("", "SequenceEmpty", 11, kMax, make_sequence_empty);
  r.add("", "SequenceConstruct", 11, kMax, make_sequence_construct);
  r.add("", "SequenceInsert", 11, kMax, make_sequence_insert);
  r.add("", "SequenceAt", 11, kMax, make_sequence_at);
  r.add("", "SequenceErase", 11, kMax, make_sequence_erase);
  r.add("", "SequenceLength", 11, kMax, make_sequence_length);
  r.add("", "SplitToSequence", 11, kMax, make_split_to_sequence);
  r.add("", "ConcatFromSequence", 11, kMax, make_concat_from_sequence);
  r.add("", "Optional", 15, kMax, make_optional);
  r.add("", "OptionalHasElement", 15, kMax, make_optional_has_element);
  r.add("", "OptionalGetElement", 15, kMax, make_optional_get_element);
  r.add("", "Identity", 14, kMax, make_identity);
}

}  // namespace compressor::kernels
