// Stacks samples along axis 0, runs them as one batch, and splits the outputs into views.
#include "compressor/exec/batching.h"

#include <cstring>
#include <memory>

namespace compressor::exec {
namespace {

// The name of axis 0 of a declared tensor value, or "" when it is not symbolic.
std::string axis0_param(const ir::ValueInfo& v) {
  if (!v.is_tensor() || !v.has_shape()) return {};
  const auto shape = v.shape();
  if (shape.empty() || shape[0].value) return {};
  return shape[0].param;
}

// Inputs of `samples[first, last)` agree on names, dtypes and every axis but 0.
bool compatible(const std::vector<std::vector<NamedTensor>>& samples, size_t first, size_t last) {
  const auto& a = samples[first];
  for (size_t s = first + 1; s < last; ++s) {
    const auto& b = samples[s];
    if (b.size() != a.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      const ir::Tensor& x = a[i].tensor;
      const ir::Tensor& y = b[i].tensor;
      if (a[i].name != b[i].name || x.dtype() != y.dtype() || x.rank() != y.rank() ||
          x.rank() == 0 || x.dtype() == ir::DType::kString) {
        return false;
      }
      for (int64_t d = 1; d < x.rank(); ++d) {
        if (x.dims()[d] != y.dims()[d]) return false;
      }
    }
  }
  return true;
}

// Concatenates the inputs of samples [first, last) along axis 0.
std::vector<NamedTensor> stack(const std::vector<std::vector<NamedTensor>>& samples, size_t first,
                               size_t last) {
  std::vector<NamedTensor> out;
  for (size_t i = 0; i < samples[first].size(); ++i) {
    ir::Dims dims = samples[first][i].tensor.dims();
    dims[0] = 0;
    for (size_t s = first; s < last; ++s) dims[0] += samples[s][i].tensor.dims()[0];
    ir::Tensor t = ir::Tensor::zeros(samples[first][i].tensor.dtype(), dims);
    std::byte* p = t.nbytes() > 0 ? t.mutable_data() : nullptr;
    for (size_t s = first; s < last; ++s) {
      const ir::Tensor& part = samples[s][i].tensor;
      if (part.nbytes() == 0) continue;
      std::memcpy(p, part.data(), part.nbytes());
      p += part.nbytes();
    }
    out.push_back({samples[first][i].name, std::move(t)});
  }
  return out;
}

}  // namespace

BatchAxis batch_axis(const ir::Model& model) {
  BatchAxis out;
  std::string dim;
  auto check = [&](const ir::ValueInfo& v, const char* kind) {
    const std::string p = axis0_param(v);
    if (p.empty()) {
      out.why_not = std::string(kind) + " '" + v.name() + "' has no symbolic axis 0 (" +
                    v.type_string() + ")";
      return false;
    }
    if (!dim.empty() && p != dim) {
      out.why_not =
          std::string(kind) + " '" + v.name() + "' has axis 0 '" + p + "', not '" + dim + "'";
      return false;
    }
    dim = p;
    return true;
  };
  bool any_input = false;
  for (const auto& v : model.graph.inputs) {
    if (model.graph.find_initializer(v.name())) continue;
    any_input = true;
    if (!check(v, "input")) return out;
  }
  if (!any_input) {
    out.why_not = "the model has no inputs";
    return out;
  }
  for (const auto& v : model.graph.outputs) {
    if (!check(v, "output")) return out;
  }
  out.stackable = true;
  out.dim = dim;
  return out;
}

StatusOr<std::vector<std::vector<ir::Tensor>>> run_samples(
    const Executor& executor, const ir::Model& model,
    const std::vector<std::vector<NamedTensor>>& samples, size_t max_batch,
    const NodeTimeHook& on_node) {
  std::vector<std::vector<ir::Tensor>> results(samples.size());
  const bool stackable = max_batch > 1 && batch_axis(model).stackable;
  size_t first = 0;
  while (first < samples.size()) {
    size_t last = first + 1;
    if (stackable) {
      while (last < samples.size() && last - first < max_batch &&
             compatible(samples, first, last + 1)) {
        ++last;
      }
    }
    if (last - first == 1) {
      COMPRESSOR_ASSIGN_OR_RETURN(results[first], executor.run(samples[first], {}, {}, on_node));
      ++first;
      continue;
    }
    COMPRESSOR_ASSIGN_OR_RETURN(auto outs,
                                executor.run(stack(samples, first, last), {}, {}, on_node));
    // Axis 0 of every output must be the stacked size for the split to mean anything.
    int64_t total = 0;
    std::vector<int64_t> rows;
    for (size_t s = first; s < last; ++s) {
      rows.push_back(samples[s][0].tensor.dims()[0]);
      total += rows.back();
    }
    bool split_ok = true;
    for (const auto& o : outs) {
      if (o.rank() == 0 || o.dims()[0] != total || o.dtype() == ir::DType::kString)
        split_ok = false;
    }
    if (!split_ok) {
      for (size_t s = first; s < last; ++s) {
        COMPRESSOR_ASSIGN_OR_RETURN(results[s], executor.run(samples[s], {}, {}, on_node));
      }
      first = last;
      continue;
    }
    for (auto& o : outs) {
      auto keep = std::make_shared<const ir::Tensor>(std::move(o));
      const size_t row_bytes = total > 0 ? keep->nbytes() / static_cast<size_t>(total) : 0;
      size_t offset = 0;
      for (size_t s = first; s < last; ++s) {
        ir::Dims dims = keep->dims();
        dims[0] = rows[s - first];
        const size_t bytes = row_bytes * static_cast<size_t>(dims[0]);
        results[s].push_back(
            ir::Tensor::borrow(keep->dtype(), dims, keep, keep->data() + offset, bytes));
        offset += bytes;
      }
    }
    first = last;
  }
  return results;
}

}  // namespace compressor::exec
