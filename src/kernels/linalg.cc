// Kernel family 'linalg': Einsum and Det.
//
// Einsum. The equation is parsed once at plan time; the ellipsis is resolved per run from the
// input ranks. Every operand is read through per-label strides (a label repeated within one
// operand adds its strides, which reads the diagonal; a dimension of size 1 broadcasts with
// stride 0), so transposes, diagonals, traces and reductions need no copies. When the equation
// is a (batched) matrix product of two float or double operands (every label is in both
// operands and the output, in one operand and the output, or in both operands only), the
// operands are read as [batch, m, k] and [batch, k, n] (packed first unless already laid out
// so) and multiplied with Eigen's GEMM; otherwise each output element sums the product of the
// operands over the contracted labels, in double for floating types and in wrapping 64-bit
// arithmetic for integers.
//
// Det. The determinant of each trailing M x M matrix from an LU decomposition with partial
// pivoting: det = sign(P) * prod(diag(U)).
#include <Eigen/Core>
#include <Eigen/LU>
#include <algorithm>
#include <array>
#include <numeric>
#include <optional>
#include <type_traits>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

constexpr int kMax = 1 << 20;

std::string str(int64_t v) { return std::to_string(v); }

// ---------------------------------------------------------------------------------------------
// Einsum: parsing.

/// A term of the equation: labels as characters, '.' standing for the whole ellipsis.
using Term = std::string;

struct Equation {
  std::vector<Term> inputs;
  Term output;
  bool explicit_output = false;
};

bool is_label(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/// Parses one term ("ab...c" -> "ab.c"); fails on other characters or a second ellipsis.
StatusOr<Term> parse_term(const std::string& text, const NodeView& view) {
  Term term;
  bool ellipsis = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_label(c)) {
      term.push_back(c);
    } else if (c == '.' && text.compare(i, 3, "...") == 0) {
      if (ellipsis) return view.error("term '" + text + "' has two ellipses");
      ellipsis = true;
      term.push_back('.');
      i += 2;
    } else {
      return view.error("unexpected character '" + std::string(1, c) + "' in term '" + text + "'");
    }
  }
  return term;
}

StatusOr<Equation> parse_equation(const std::string& raw, const NodeView& view) {
  std::string eq;
  for (char c : raw) {
    if (c != ' ' && c != '\t') eq.push_back(c);
  }
  Equation out;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    COMPRESSOR_ASSIGN_OR_RETURN(Term t, parse_term(lhs.substr(start, comma - start), view));
    out.inputs.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (arrow != std::string::npos) {
    out.explicit_output = true;
    COMPRESSOR_ASSIGN_OR_RETURN(out.output, parse_term(eq.substr(arrow + 2), view));
    for (size_t i = 0; i < out.output.size(); ++i) {
      const char c = out.output[i];
      if (out.output.find(c, i + 1) != std::string::npos) {
        return view.error("output label '" + std::string(1, c) + "' is repeated");
      }
      const bool found = std::any_of(out.inputs.begin(), out.inputs.end(),
                                     [c](const Term& t) { return t.find(c) != std::string::npos; });
      if (!found) {
        return view.error(c == '.'
                              ? std::string("the output has an ellipsis but no input has")
                              : "output label '" + std::string(1, c) + "' is not in any input");
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Einsum: resolving labels against the input shapes.

/// The equation bound to shapes: labels numbered 0..n-1 (letters first, then one per ellipsis
/// dimension), their sizes, each operand's stride per label, the output's labels.
struct Bound {
  std::vector<int64_t> size;                 // per label
  std::vector<std::vector<int64_t>> stride;  // [operand][label], 0 when absent or broadcast
  std::vector<std::vector<bool>> has;        // [operand][label]
  std::vector<int> out;                      // output labels in order
  std::vector<int> sum;                      // contracted labels
};

StatusOr<Bound> bind(const Equation& eq, const KernelContext& ctx) {
  const size_t n_in = eq.inputs.size();
  std::array<int, 128> letter_id;
  letter_id.fill(-1);
  std::array<int, 128> uses{};
  int letters = 0;
  for (const Term& t : eq.inputs) {
    for (char c : t) {
      if (c == '.') continue;
      if (letter_id[c] < 0) letter_id[c] = letters++;
      ++uses[c];
    }
  }
  // Ellipsis rank of each operand and of the broadcast ellipsis.
  std::vector<int64_t> ell(n_in, 0);
  int64_t ell_rank = 0;
  for (size_t i = 0; i < n_in; ++i) {
    const Term& t = eq.inputs[i];
    const bool has_ell = t.find('.') != std::string::npos;
    const int64_t named = static_cast<int64_t>(t.size()) - (has_ell ? 1 : 0);
    const int64_t rank = ctx.input(i).rank();
    if (has_ell ? rank < named : rank != named) {
      return ctx.error("input " + str(static_cast<int64_t>(i)) + " of rank " + str(rank) +
                       " does not match term '" + t + "'");
    }
    ell[i] = rank - named;
    ell_rank = std::max(ell_rank, ell[i]);
  }
  const int n_labels = letters + static_cast<int>(ell_rank);
  Bound b;
  b.size.assign(n_labels, 1);
  b.stride.assign(n_in, std::vector<int64_t>(n_labels, 0));
  b.has.assign(n_in, std::vector<bool>(n_labels, false));
  std::vector<bool> sized(n_labels, false);
  for (size_t i = 0; i < n_in; ++i) {
    const Dims& d = ctx.input(i).dims();
    const auto st = strides_of(d);
    std::vector<int> axis_label;
    for (char c : eq.inputs[i]) {
      if (c != '.') {
        axis_label.push_back(letter_id[c]);
        continue;
      }
      for (int64_t k = 0; k < ell[i]; ++k) {
        axis_label.push_back(letters + static_cast<int>(ell_rank - ell[i] + k));
      }
    }
    std::vector<int64_t> own(n_labels, -1);  // the operand's size of each label
    for (size_t a = 0; a < axis_label.size(); ++a) {
      const int l = axis_label[a];
      if (own[l] >= 0 && own[l] != d[a]) {
        return ctx.error("input " + str(static_cast<int64_t>(i)) +
                         " repeats a label over axes of sizes " + str(own[l]) + " and " +
                         str(d[a]));
      }
      own[l] = d[a];
      b.has[i][l] = true;
      if (d[a] != 1) b.stride[i][l] += st[a];
    }
    for (int l = 0; l < n_labels; ++l) {
      if (own[l] < 0 || own[l] == 1) continue;
      if (sized[l] && b.size[l] != own[l]) {
        return ctx.error("label of size " + str(own[l]) + " in input " +
                         str(static_cast<int64_t>(i)) + " was " + str(b.size[l]) +
                         " in an earlier input");
      }
      b.size[l] = own[l];
      sized[l] = true;
    }
    // A label of size 1 in every operand keeps size 1; a size-0 label is recorded as such.
  }
  std::vector<bool> in_out(n_labels, false);
  auto push_out = [&](int l) {
    b.out.push_back(l);
    in_out[l] = true;
  };
  if (eq.explicit_output) {
    for (char c : eq.output) {
      if (c != '.') {
        push_out(letter_id[c]);
        continue;
      }
      for (int64_t k = 0; k < ell_rank; ++k) push_out(letters + static_cast<int>(k));
    }
  } else {
    for (int64_t k = 0; k < ell_rank; ++k) push_out(letters + static_cast<int>(k));
    for (int c = 0; c < 128; ++c) {
      if (uses[c] == 1) push_out(letter_id[c]);
    }
  }
  for (int l = 0; l < n_labels; ++l) {
    if (!in_out[l]) b.sum.push_back(l);
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Einsum: compute.

template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;

/// dst[row-major over `dims`] = src[sum_k idx_k * strides[k]].
template <typename T>
void pack(const T* src, T* dst, const std::vector<int64_t>& dims,
          const std::vector<int64_t>& strides) {
  const int64_t n = std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<>());
  std::vector<int64_t> idx(dims.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = src[off];
    for (size_t k = dims.size(); k-- > 0;) {
      off += strides[k];
      if (++idx[k] < dims[k]) break;
      off -= strides[k] * dims[k];
      idx[k] = 0;
    }
  }
}

/// True when reading through `strides` in row-major order over `dims` walks memory in order.
bool is_contiguous(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  int64_t expected = 1;
  for (size_t k = dims.size(); k-- > 0;) {
    if (dims[k] != 1 && strides[k] != expected) return false;
    expected *= dims[k];
  }
  return true;
}

/// `src` read through `strides` over `dims` as a row-major array: `src` itself when that is
/// its layout already, else a copy packed into `buffer`.
template <typename T>
const T* packed(const T* src, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides,
                std::vector<T>& buffer) {
  if (is_contiguous(dims, strides)) return src;
  buffer.resize(static_cast<size_t>(
      std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<>())));
  pack(src, buffer.data(), dims, strides);
  return buffer.data();
}

/// Sums the product of the operands over the contracted labels, for each output element.
template <typename T>
void einsum_general(const Bound& b, const std::vector<const T*>& src, T* dst, int64_t out_count,
                    exec::ThreadPool* pool) {
  const size_t n_in = src.size();
  const size_t ns = b.sum.size();
  std::vector<int64_t> sum_dims(ns);
  int64_t sum_count = 1;
  for (size_t s = 0; s < ns; ++s) {
    sum_dims[s] = b.size[b.sum[s]];
    sum_count *= sum_dims[s];
  }
  const int64_t chunk = std::max<int64_t>(1, 16384 / std::max<int64_t>(sum_count, 1));
  exec::parallel_for(pool, out_count, chunk, [&](int64_t p0, int64_t p1) {
    std::vector<int64_t> base(n_in), off(n_in), idx(ns);
    for (int64_t p = p0; p < p1; ++p) {
      std::fill(base.begin(), base.end(), 0);
      int64_t rem = p;
      for (size_t o = b.out.size(); o-- > 0;) {
        const int l = b.out[o];
        const int64_t c = rem % b.size[l];
        rem /= b.size[l];
        for (size_t i = 0; i < n_in; ++i) base[i] += c * b.stride[i][l];
      }
      off = base;
      std::fill(idx.begin(), idx.end(), 0);
      Acc<T> acc = 0;
      for (int64_t s = 0; s < sum_count; ++s) {
        Acc<T> prod = static_cast<Acc<T>>(src[0][off[0]]);
        for (size_t i = 1; i < n_in; ++i) prod *= static_cast<Acc<T>>(src[i][off[i]]);
        acc += prod;
        for (size_t k = ns; k-- > 0;) {
          const int l = b.sum[k];
          for (size_t i = 0; i < n_in; ++i) off[i] += b.stride[i][l];
          if (++idx[k] < sum_dims[k]) break;
          for (size_t i = 0; i < n_in; ++i) off[i] -= b.stride[i][l] * sum_dims[k];
          idx[k] = 0;
        }
      }
      dst[p] = static_cast<T>(acc);
    }
  });
}

/// Labels of a two-operand matrix product, or nothing when the equation is not one.
struct MatmulPlan {
  std::vector<int> batch, m, n, k;
};

std::optional<MatmulPlan> matmul_plan(const Bound& b) {
  if (b.has.size() != 2) return std::nullopt;
  std::vector<bool> in_out(b.size.size(), false);
  for (int l : b.out) in_out[l] = true;
  MatmulPlan plan;
  for (int l : b.out) {  // output order keeps the packed product close to the output layout
    const bool a = b.has[0][l], c = b.has[1][l];
    if (a && c) {
      plan.batch.push_back(l);
    } else if (a) {
      plan.m.push_back(l);
    } else if (c) {
      plan.n.push_back(l);
    }
  }
  for (int l : b.sum) {
    if (!b.has[0][l] || !b.has[1][l]) return std::nullopt;  // a reduction inside one operand
    plan.k.push_back(l);
  }
  return plan;
}

/// The (batched) matrix product through Eigen's GEMM.
template <typename T>
void einsum_matmul(const Bound& b, const MatmulPlan& plan, const T* a, const T* c, T* dst,
                   exec::ThreadPool* pool) {
  auto dims_of = [&](std::initializer_list<const std::vector<int>*> groups, size_t operand,
                     std::vector<int64_t>& dims, std::vector<int64_t>& strides) {
    for (const auto* g : groups) {
      for (int l : *g) {
        dims.push_back(b.size[l]);
        strides.push_back(b.stride[operand][l]);
      }
    }
  };
  auto count = [&](const std::vector<int>& g) {
    int64_t n = 1;
    for (int l : g) n *= b.size[l];
    return n;
  };
  const int64_t nb = count(plan.batch), m = count(plan.m), n = count(plan.n), k = count(plan.k);
  std::vector<int64_t> ad, as, cd, cs;
  dims_of({&plan.batch, &plan.m, &plan.k}, 0, ad, as);
  dims_of({&plan.batch, &plan.k, &plan.n}, 1, cd, cs);
  std::vector<T> a_buffer, c_buffer, prod_buffer;
  const T* pa = packed(a, ad, as, a_buffer);
  const T* pc = packed(c, cd, cs, c_buffer);
  // The product is laid out as [batch, m, n]; the stride of each output label in it.
  std::vector<int64_t> label_stride(b.size.size(), 0);
  int64_t s = 1;
  for (const auto* g : {&plan.n, &plan.m, &plan.batch}) {
    for (size_t j = g->size(); j-- > 0;) {
      label_stride[(*g)[j]] = s;
      s *= b.size[(*g)[j]];
    }
  }
  std::vector<int64_t> od, os;
  for (int l : b.out) {
    od.push_back(b.size[l]);
    os.push_back(label_stride[l]);
  }
  const bool direct = is_contiguous(od, os);
  if (!direct) prod_buffer.resize(static_cast<size_t>(nb * m * n));
  T* prod = direct ? dst : prod_buffer.data();
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  exec::parallel_for(pool, nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) {
      Eigen::Map<const Mat> ma(pa + i * m * k, m, k);
      Eigen::Map<const Mat> mc(pc + i * k * n, k, n);
      Eigen::Map<Mat> mo(prod + i * m * n, m, n);
      if (k == 0) {
        mo.setZero();
      } else {
        mo.noalias() = ma * mc;
      }
    }
  });
  if (!direct) pack(prod_buffer.data(), dst, od, os);
}

// Real numbers without float16/bfloat16 (no node test uses them) and without bool.
bool is_einsum_dtype(DType t) {
  return is_real_or_bool(t) && t != DType::kBool && t != DType::kFloat16 && t != DType::kBFloat16;
}

StatusOr<std::unique_ptr<Kernel>> make_einsum(const NodeView& view) {
  const auto* attr = view.node().attribute("equation");
  if (attr == nullptr) return view.error("missing the equation attribute");
  COMPRESSOR_ASSIGN_OR_RETURN(Equation eq, parse_equation(attr->s(), view));
  if (eq.inputs.size() != view.input_count()) {
    return view.error("equation '" + attr->s() + "' has " + str(eq.inputs.size()) +
                      " input terms for " + str(view.input_count()) + " inputs");
  }
  for (size_t i = 0; i < view.input_count(); ++i) {
    const DType t = view.input_dtype(i);
    if (t != DType::kUndefined && !is_einsum_dtype(t)) {
      return view.error("input " + str(static_cast<int64_t>(i)) + " has unsupported data type " +
                        std::string(ir::dtype_name(t)));
    }
  }
  return make_kernel<exec::LambdaKernel>([eq](KernelContext& ctx) -> Status {
    const DType dt = ctx.input(0).dtype();
    for (size_t i = 1; i < ctx.inputs.size(); ++i) {
      if (ctx.input(i).dtype() != dt) return ctx.error("inputs differ in data type");
    }
    if (!is_einsum_dtype(dt)) {
      return ctx.error("unsupported data type " + std::string(ir::dtype_name(dt)));
    }
    COMPRESSOR_ASSIGN_OR_RETURN(const Bound b, bind(eq, ctx));
    Dims dims;
    for (int l : b.out) dims.push_back(b.size[l]);
    return dispatch_numeric(dt, ctx, [&](auto tag) -> Status {
      using T = decltype(tag);
      Tensor y = Tensor::zeros(dt, dims);
      T* dst = reinterpret_cast<T*>(y.mutable_data());
      std::vector<const T*> src;
      for (size_t i = 0; i < ctx.inputs.size(); ++i) {
        src.push_back(reinterpret_cast<const T*>(ctx.input(i).data()));
      }
      std::optional<MatmulPlan> plan;
      if constexpr (std::is_floating_point_v<T>) plan = matmul_plan(b);
      if (plan) {
        einsum_matmul(b, *plan, src[0], src[1], dst, ctx.pool);
      } else {
        einsum_general(b, src, dst, y.numel(), ctx.pool);
      }
      ctx.outputs[0] = std::move(y);
      return ok_status();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Det.

StatusOr<std::unique_ptr<Kernel>> make_det(const NodeView& view) {
  const DType t = view.input_dtype(0);
  if (t != DType::kUndefined && t != DType::kFloat && t != DType::kDouble) {
    return view.error("unsupported data type " + std::string(ir::dtype_name(t)) +
                      "; expected float or double");
  }
  return make_kernel<exec::LambdaKernel>([](KernelContext& ctx) -> Status {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2) return ctx.error("input must have rank >= 2, got " + str(x.rank()));
    const int64_t m = x.dims()[x.rank() - 1];
    if (x.dims()[x.rank() - 2] != m) {
      return ctx.error("input " + ir::dims_to_string(x.dims()) + " is not a batch of square " +
                       "matrices");
    }
    const Dims dims(x.dims().begin(), x.dims().end() - 2);
    auto run = [&](auto tag) -> Status {
      using T = decltype(tag);
      using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
      Tensor y = Tensor::zeros(x.dtype(), dims);
      T* dst = reinterpret_cast<T*>(y.mutable_data());
      const T* src = reinterpret_cast<const T*>(x.data());
      exec::parallel_for(ctx.pool, y.numel(), 1, [&](int64_t b0, int64_t b1) {
        for (int64_t i = b0; i < b1; ++i) {
          if (m == 0) {
            dst[i] = T(1);
            continue;
          }
          Eigen::PartialPivLU<Mat> lu(Eigen::Map<const Mat>(src + i * m * m, m, m));
          dst[i] = lu.determinant();
        }
      });
      ctx.outputs[0] = std::move(y);
      return ok_status();
    };
    if (x.dtype() == DType::kFloat) return run(float{});
    if (x.dtype() == DType::kDouble) return run(double{});
    return ctx.error("unsupported data type " + std::string(ir::dtype_name(x.dtype())) +
                     "; expected float or double");
  });
}

}  // namespace

void register_linalg_kernels(exec::KernelRegistry& r) {
  r.add("", "Einsum", 12, kMax, make_einsum);
  r.add("", "Det", 11, kMax, make_det);
}

}  // namespace compressor::kernels
