// Kernel family 'optimizer': one training step of Adagrad, Momentum (standard and Nesterov) and
// Adam, domain ai.onnx.preview.training, opset 1.
//
// Inputs are R (scalar learning rate), T (scalar int64 update count), then n tensors to optimize
// followed by their per-tensor state, grouped by kind: Adagrad and Momentum take
// [X1..Xn, G1..Gn, S1..Sn] and return [X1_new..Xn_new, S1_new..Sn_new] (S = accumulated squared
// gradient H, or momentum V); Adam takes [X.., G.., V.., H..] and returns [X_new.., V_new..,
// H_new..]. Each tensor's gradient and state must have its shape. The update is element-wise,
// computed in double and rounded to the tensor's type.
#include <cmath>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

enum class Algo { kAdagrad, kMomentum, kNesterov, kAdam };

struct OptParams {
  Algo algo = Algo::kAdagrad;
  double norm_coefficient = 0.0;
  double decay_factor = 0.0;           ///< Adagrad
  double epsilon = 1e-6;               ///< Adagrad, Adam
  double alpha = 0.0;                  ///< Momentum, Adam
  double beta = 0.0;                   ///< Momentum, Adam
  double norm_coefficient_post = 0.0;  ///< Adam
  int64_t groups = 0;  ///< Tensors per optimized variable in the inputs (X, G and states).
};

/// Reads a scalar (one-element) float or double tensor.
StatusOr<double> scalar_float(const Tensor& t, const char* name, const KernelContext& ctx) {
  if (t.numel() != 1) {
    return ctx.error(std::string(name) + " must be a scalar, got shape " +
                     ir::dims_to_string(t.dims()));
  }
  if (t.dtype() == DType::kFloat) return static_cast<double>(t.span<float>()[0]);
  if (t.dtype() == DType::kDouble) return t.span<double>()[0];
  return ctx.error(std::string(name) + " must be float or double, got " +
                   std::string(ir::dtype_name(t.dtype())));
}

class OptimizerKernel final : public Kernel {
 public:
  explicit OptimizerKernel(OptParams p) : p_(p) {}

  Status compute(KernelContext& ctx) const override {
    COMPRESSOR_ASSIGN_OR_RETURN(const double R, scalar_float(ctx.input(0), "R", ctx));
    const Tensor& tt = ctx.input(1);
    if (tt.dtype() != DType::kInt64 || tt.numel() != 1) {
      return ctx.error("T must be a scalar int64, got " + std::string(ir::dtype_name(tt.dtype())) +
                       ir::dims_to_string(tt.dims()));
    }
    const int64_t T = tt.span<int64_t>()[0];
    const size_t n = (ctx.inputs.size() - 2) / p_.groups;
    const size_t outs_per = p_.groups - 1;
    for (size_t v = 0; v < n; ++v) {
      const Tensor& x = ctx.input(2 + v);
      if (x.dtype() != DType::kFloat && x.dtype() != DType::kDouble) {
        return ctx.error("optimized tensors must be float or double, got " +
                         std::string(ir::dtype_name(x.dtype())));
      }
      for (int64_t k = 1; k < p_.groups; ++k) {
        if (!ctx.has_input(2 + k * n + v)) {
          return ctx.error("input " + std::to_string(2 + k * n + v) + " is missing");
        }
        const Tensor& s = ctx.input(2 + k * n + v);
        if (s.dtype() != x.dtype() || s.dims() != x.dims()) {
          return ctx.error("input " + std::to_string(2 + k * n + v) + " (" +
                           std::string(ir::dtype_name(s.dtype())) + ir::dims_to_string(s.dims()) +
                           ") must match the optimized tensor " + std::to_string(2 + v) + " (" +
                           std::string(ir::dtype_name(x.dtype())) + ir::dims_to_string(x.dims()) +
                           ")");
        }
      }
      std::vector<const Tensor*> in(p_.groups);
      for (int64_t k = 0; k < p_.groups; ++k) in[k] = &ctx.input(2 + k * n + v);
      std::vector<Tensor> out(outs_per);
      for (auto& o : out) o = Tensor::zeros(x.dtype(), x.dims());
      if (x.dtype() == DType::kFloat) {
        step<float>(R, T, in, out, ctx.pool);
      } else {
        step<double>(R, T, in, out, ctx.pool);
      }
      for (size_t k = 0; k < outs_per; ++k) {
        if (k * n + v < ctx.outputs.size()) ctx.outputs[k * n + v] = std::move(out[k]);
      }
    }
    return Status::ok_status();
  }

 private:
  template <typename S>
  void step(double R, int64_t T, const std::vector<const Tensor*>& in, std::vector<Tensor>& out,
            exec::ThreadPool* pool) const {
    const int64_t m = in[0]->numel();
    std::vector<const S*> src(in.size());
    for (size_t k = 0; k < in.size(); ++k) src[k] = reinterpret_cast<const S*>(in[k]->data());
    std::vector<S*> dst(out.size());
    for (size_t k = 0; k < out.size(); ++k) dst[k] = reinterpret_cast<S*>(out[k].mutable_data());
    const OptParams& p = p_;
    // Scalar learning-rate factors shared by every element.
    const double t = static_cast<double>(T);
    const double adagrad_r = R / (1.0 + t * p.decay_factor);
    const double momentum_beta = T > 0 ? p.beta : 1.0;
    const double adam_r =
        T > 0 ? R * std::sqrt(1.0 - std::pow(p.beta, t)) / (1.0 - std::pow(p.alpha, t)) : R;
    exec::parallel_for(pool, m, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const double x = static_cast<double>(src[0][i]);
        const double g = p.norm_coefficient * x + static_cast<double>(src[1][i]);  // regularized
        switch (p.algo) {
          case Algo::kAdagrad: {
            const double h = static_cast<double>(src[2][i]) + g * g;
            dst[0][i] = static_cast<S>(x - adagrad_r * g / (std::sqrt(h) + p.epsilon));
            dst[1][i] = static_cast<S>(h);
            break;
          }
          case Algo::kMomentum:
          case Algo::kNesterov: {
            const double v = p.alpha * static_cast<double>(src[2][i]) + momentum_beta * g;
            const double dir = p.algo == Algo::kMomentum ? v : g + p.alpha * v;
            dst[0][i] = static_cast<S>(x - R * dir);
            dst[1][i] = static_cast<S>(v);
            break;
          }
          case Algo::kAdam: {
            const double v = p.alpha * static_cast<double>(src[2][i]) + (1.0 - p.alpha) * g;
            const double h = p.beta * static_cast<double>(src[3][i]) + (1.0 - p.beta) * g * g;
            const double x_new = x - adam_r * v / (std::sqrt(h) + p.epsilon);
            dst[0][i] = static_cast<S>((1.0 - p.norm_coefficient_post) * x_new);
            dst[1][i] = static_cast<S>(v);
            dst[2][i] = static_cast<S>(h);
            break;
          }
        }
      }
    });
  }

  OptParams p_;
};

/// A float attribute that the op requires (no default in the spec).
StatusOr<double> required_float(const NodeView& view, const char* name) {
  const ir::Attribute* a = view.node().attribute(name);
  if (a == nullptr) return view.error(std::string("attribute '") + name + "' is required");
  return static_cast<double>(a->f());
}

exec::KernelFactory optimizer_factory(Algo base) {
  return [base](const NodeView& view) -> StatusOr<std::unique_ptr<Kernel>> {
    OptParams p;
    p.algo = base;
    const ir::Node& node = view.node();
    switch (base) {
      case Algo::kAdagrad:
        p.groups = 3;
        p.norm_coefficient = node.attr_float("norm_coefficient", 0.0f);
        p.decay_factor = node.attr_float("decay_factor", 0.0f);
        p.epsilon = node.attr_float("epsilon", 1e-6f);
        break;
      case Algo::kMomentum:
      case Algo::kNesterov: {
        p.groups = 3;
        COMPRESSOR_ASSIGN_OR_RETURN(p.alpha, required_float(view, "alpha"));
        COMPRESSOR_ASSIGN_OR_RETURN(p.beta, required_float(view, "beta"));
        COMPRESSOR_ASSIGN_OR_RETURN(p.norm_coefficient, required_float(view, "norm_coefficient"));
        const ir::Attribute* mode = node.attribute("mode");
        if (mode == nullptr) return view.error("attribute 'mode' is required");
        if (mode->s() == "standard") {
          p.algo = Algo::kMomentum;
        } else if (mode->s() == "nesterov") {
          p.algo = Algo::kNesterov;
        } else {
          return view.error("mode must be 'standard' or 'nesterov', got '" + mode->s() + "'");
        }
        break;
      }
      case Algo::kAdam:
        p.groups = 4;
        p.norm_coefficient = node.attr_float("norm_coefficient", 0.0f);
        p.norm_coefficient_post = node.attr_float("norm_coefficient_post", 0.0f);
        p.alpha = node.attr_float("alpha", 0.9f);
        p.beta = node.attr_float("beta", 0.999f);
        p.epsilon = node.attr_float("epsilon", 1e-6f);
        break;
    }
    const size_t ins = view.input_count();
    if (ins < 2 + static_cast<size_t>(p.groups) || (ins - 2) % p.groups != 0) {
      return view.error("expects R, T and " + std::to_string(p.groups) +
                        " inputs per optimized tensor, got " + std::to_string(ins) + " inputs");
    }
    const size_t n = (ins - 2) / p.groups;
    const size_t outs = node.outputs.size();
    if (outs != n * (p.groups - 1)) {
      return view.error("expects " + std::to_string(n * (p.groups - 1)) + " outputs for " +
                        std::to_string(n) + " optimized tensors, got " + std::to_string(outs));
    }
    for (size_t i = 0; i < ins; ++i) {
      const DType t = view.input_dtype(i);
      if (t == DType::kUndefined) continue;
      if (i == 1 ? t != DType::kInt64 : (t != DType::kFloat && t != DType::kDouble)) {
        return view.error("input " + std::to_string(i) + " has unsupported data type " +
                          std::string(ir::dtype_name(t)) +
                          (i == 1 ? " (T must be int64)" : " (float or double expected)"));
      }
    }
    return make_kernel<OptimizerKernel>(p);
  };
}

}  // namespace

void register_optimizer_kernels(exec::KernelRegistry& r) {
  const std::string domain = "ai.onnx.preview.training";
  r.add(domain, "Adagrad", 1, 1, optimizer_factory(Algo::kAdagrad));
  r.add(domain, "Momentum", 1, 1, optimizer_factory(Algo::kMomentum));
  r.add(domain, "Adam", 1, 1, optimizer_factory(Algo::kAdam));
}

}  // namespace compressor::kernels
