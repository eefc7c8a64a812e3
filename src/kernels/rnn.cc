// Kernel family 'rnn': RNN, GRU and LSTM (opset 7 and 14; forward, reverse, bidirectional;
// layout 0 and 1; optional B, sequence_lens, initial_h, initial_c, P; clip; GRU
// linear_before_reset). Only the default activations are implemented; others are refused at
// plan time.
//
// Per direction, the input projection X * W^T + bias of every time step is one matrix product;
// each step then adds H * R^T and applies the gates over the whole batch.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "kernel_util.h"

namespace compressor::kernels {
namespace {

enum class Cell { kRnn, kGru, kLstm };

struct RnnSpec {
  Cell cell = Cell::kLstm;
  int gates = 4;
  int directions = 1;
  bool reverse = false;  // direction == "reverse"
  int64_t hidden = 0;    // 0: from W
  int64_t layout = 0;
  float clip = 0;  // 0: none
  bool linear_before_reset = false;
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

StatusOr<std::unique_ptr<Kernel>> make_rnn_kernel(const NodeView& view, Cell cell);

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using CMap = Eigen::Map<const Mat<T>>;

template <typename T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <typename A>
auto sigmoid_of(const A& a) {
  using T = typename A::Scalar;
  return a.unaryExpr([](T v) { return sigmoid(v); });
}

template <typename T>
Status run_rnn(const RnnSpec& spec, KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor& r = ctx.input(2);
  if (x.rank() != 3 || w.rank() != 3 || r.rank() != 3) {
    return ctx.error("X, W and R must have rank 3");
  }
  const int64_t G = spec.gates;
  const int64_t D = spec.directions;
  const int64_t S = spec.layout == 0 ? x.dims()[0] : x.dims()[1];
  const int64_t B = spec.layout == 0 ? x.dims()[1] : x.dims()[0];
  const int64_t I = x.dims()[2];
  const int64_t H = spec.hidden > 0 ? spec.hidden : w.dims()[1] / G;
  if (w.dims() != Dims{D, G * H, I} || r.dims() != Dims{D, G * H, H}) {
    return ctx.error("W " + ir::dims_to_string(w.dims()) + " or R " + ir::dims_to_string(r.dims()) +
                     " does not match " + std::to_string(D) + " directions, hidden size " +
                     std::to_string(H) + " and input size " + std::to_string(I));
  }
  for (size_t i = 1; i < ctx.inputs.size(); ++i) {
    if (i == 4 || !ctx.has_input(i)) continue;
    if (ctx.input(i).dtype() != x.dtype()) {
      return ctx.error("input " + std::to_string(i) + " must have the data type of X");
    }
  }
  const bool has_b = ctx.has_input(3);
  if (has_b && ctx.input(3).dims() != Dims{D, 2 * G * H}) {
    return ctx.error("B must have shape " + ir::dims_to_string({D, 2 * G * H}));
  }
  std::vector<int64_t> lens(static_cast<size_t>(B), S);
  if (ctx.has_input(4)) {
    lens = to_int64_vector(ctx.input(4));
    if (static_cast<int64_t>(lens.size()) != B)
      return ctx.error("sequence_lens must hold batch_size values");
    for (int64_t l : lens) {
      if (l < 0 || l > S)
        return ctx.error("sequence_lens value " + std::to_string(l) + " is out of range");
    }
  }
  const Dims state_dims = spec.layout == 0 ? Dims{D, B, H} : Dims{B, D, H};
  const bool has_h0 = ctx.has_input(5), has_c0 = spec.cell == Cell::kLstm && ctx.has_input(6);
  const bool has_p = spec.cell == Cell::kLstm && ctx.has_input(7);
  if (has_h0 && ctx.input(5).dims() != state_dims)
    return ctx.error("initial_h has the wrong shape");
  if (has_c0 && ctx.input(6).dims() != state_dims)
    return ctx.error("initial_c has the wrong shape");
  if (has_p && ctx.input(7).dims() != Dims{D, 3 * H}) return ctx.error("P must have shape [D, 3H]");

  Tensor y = Tensor::zeros(x.dtype(), spec.layout == 0 ? Dims{S, D, B, H} : Dims{B, S, D, H});
  Tensor yh = Tensor::zeros(x.dtype(), state_dims);
  Tensor yc = Tensor::zeros(x.dtype(), state_dims);
  T* y_p = y.mutable_span<T>().data();
  T* yh_p = yh.mutable_span<T>().data();
  T* yc_p = yc.mutable_span<T>().data();
  // Offsets of (t, d, b) in Y and (d, b) in the state tensors, per layout.
  auto y_at = [&](int64_t t, int64_t d, int64_t b) {
    return spec.layout == 0 ? ((t * D + d) * B + b) * H : ((b * S + t) * D + d) * H;
  };
  auto state_at = [&](int64_t d, int64_t b) {
    return spec.layout == 0 ? (d * B + b) * H : (b * D + d) * H;
  };

  // X as (S * B, I) rows in (t, b) order.
  Mat<T> xs(S * B, I);
  const T* x_p = x.span<T>().data();
  for (int64_t t = 0; t < S; ++t) {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t src = spec.layout == 0 ? (t * B + b) * I : (b * S + t) * I;
      xs.row(t * B + b) = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(x_p + src, I);
    }
  }
  using Arr = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic>;
  const T clip = T(spec.clip);
  auto clamp = [&](auto&& m) {
    if (spec.clip > 0) m = m.cwiseMax(-clip).cwiseMin(clip);
  };

  for (int64_t d = 0; d < D; ++d) {
    const bool reverse = spec.reverse || d == 1;
    CMap<T> wd(w.span<T>().data() + d * G * H * I, G * H, I);
    CMap<T> rd(r.span<T>().data() + d * G * H * H, G * H, H);
    Eigen::Matrix<T, 1, Eigen::Dynamic> wb = Eigen::Matrix<T, 1, Eigen::Dynamic>::Zero(G * H);
    Eigen::Matrix<T, 1, Eigen::Dynamic> rb = wb;
    if (has_b) {
      const T* b_p = ctx.input(3).span<T>().data() + d * 2 * G * H;
      wb = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(b_p, G * H);
      rb = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(b_p + G * H, G * H);
    }
    // The recurrent bias of GRU's hidden gate stays inside r * (...) when linear_before_reset.
    Eigen::Matrix<T, 1, Eigen::Dynamic> bias = wb + rb;
    Eigen::Matrix<T, 1, Eigen::Dynamic> rbh;
    if (spec.cell == Cell::kGru && spec.linear_before_reset) {
      rbh = rb.segment(2 * H, H);
      bias.segment(2 * H, H) = wb.segment(2 * H, H);
    }
    Mat<T> xw = xs * wd.transpose();
    xw.rowwise() += bias;

    Mat<T> h = Mat<T>::Zero(B, H), c = Mat<T>::Zero(B, H);
    for (int64_t b = 0; b < B; ++b) {
      if (has_h0) {
        h.row(b) = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(
            ctx.input(5).span<T>().data() + state_at(d, b), H);
      }
      if (has_c0) {
        c.row(b) = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(
            ctx.input(6).span<T>().data() + state_at(d, b), H);
      }
    }
    Eigen::Array<T, 1, Eigen::Dynamic> pi, po, pf;
    if (has_p) {
      const T* p_p = ctx.input(7).span<T>().data() + d * 3 * H;
      pi = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(p_p, H);
      po = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(p_p + H, H);
      pf = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(p_p + 2 * H, H);
    }

    Mat<T> g(B, G * H), hn(B, H), cn(B, H);
    std::vector<int64_t> time(static_cast<size_t>(B));
    for (int64_t s = 0; s < S; ++s) {
      bool any = false;
      for (int64_t b = 0; b < B; ++b) {
        const bool active = s < lens[b];
        any = any || active;
        time[b] = !active ? -1 : reverse ? lens[b] - 1 - s : s;
        g.row(b) = active ? xw.row(time[b] * B + b) : xw.row(b);
      }
      if (!any) break;
      if (spec.cell == Cell::kGru) {
        // Gates z, r, h.
        g.leftCols(2 * H).noalias() += h * rd.topRows(2 * H).transpose();
        clamp(g.leftCols(2 * H));
        auto z = g.leftCols(H).array().unaryExpr([](T v) { return sigmoid(v); }).eval();
        auto rr = g.middleCols(H, H).array().unaryExpr([](T v) { return sigmoid(v); }).eval();
        if (spec.linear_before_reset) {
          Mat<T> hr = h * rd.bottomRows(H).transpose();
          hr.rowwise() += rbh;
          g.rightCols(H).array() += rr * hr.array();
        } else {
          g.rightCols(H).noalias() += (rr * h.array()).matrix() * rd.bottomRows(H).transpose();
        }
        clamp(g.rightCols(H));
        auto ht = g.rightCols(H).array().tanh();
        hn = ((T(1) - z) * ht + z * h.array()).matrix();
      } else if (spec.cell == Cell::kLstm) {
        // Gates i, o, f, c; peepholes i, o, f.
        g.noalias() += h * rd.transpose();
        Arr gi = g.leftCols(H).array(), go = g.middleCols(H, H).array();
        Arr gf = g.middleCols(2 * H, H).array(), gc = g.rightCols(H).array();
        if (has_p) {
          gi += c.array().rowwise() * pi;
          gf += c.array().rowwise() * pf;
        }
        clamp(gi);
        clamp(gf);
        clamp(gc);
        cn = (sigmoid_of(gf) * c.array() + sigmoid_of(gi) * gc.tanh()).matrix();
        if (has_p) go += cn.array().rowwise() * po;
        clamp(go);
        hn = (sigmoid_of(go) * cn.array().tanh()).matrix();
      } else {
        g.noalias() += h * rd.transpose();
        clamp(g);
        hn = g.array().tanh().matrix();
      }
      for (int64_t b = 0; b < B; ++b) {
        if (time[b] < 0) continue;
        h.row(b) = hn.row(b);
        if (spec.cell == Cell::kLstm) c.row(b) = cn.row(b);
        Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(y_p + y_at(time[b], d, b), H) = h.row(b);
      }
    }
    for (int64_t b = 0; b < B; ++b) {
      Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(yh_p + state_at(d, b), H) = h.row(b);
      Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(yc_p + state_at(d, b), H) = c.row(b);
    }
  }
  if (!ctx.outputs.empty()) ctx.outputs[0] = std::move(y);
  if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(yh);
  if (ctx.outputs.size() > 2 && spec.cell == Cell::kLstm) ctx.outputs[2] = std::move(yc);
  return {};
}

StatusOr<std::unique_ptr<Kernel>> make_rnn_kernel(const NodeView& view, Cell cell) {
  const ir::Node& node = view.node();
  RnnSpec spec;
  spec.cell = cell;
  spec.gates = cell == Cell::kLstm ? 4 : cell == Cell::kGru ? 3 : 1;
  const ir::Attribute* dir = node.attribute("direction");
  const std::string direction = dir ? dir->s() : "forward";
  if (direction == "forward") {
    spec.directions = 1;
  } else if (direction == "reverse") {
    spec.directions = 1;
    spec.reverse = true;
  } else if (direction == "bidirectional") {
    spec.directions = 2;
  } else {
    return view.error("direction '" + direction + "' is not supported");
  }
  spec.hidden = node.attr_int("hidden_size", 0);
  spec.layout = node.attr_int("layout", 0);
  if (spec.layout != 0 && spec.layout != 1) {
    return view.error("layout " + std::to_string(spec.layout) + " is not supported");
  }
  if (const ir::Attribute* c = node.attribute("clip")) {
    spec.clip = c->f();
    if (!(spec.clip > 0)) return view.error("clip must be positive");
  }
  spec.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
  if (node.attr_int("input_forget", 0) != 0) return view.error("input_forget=1 is not supported");
  if (node.attribute("activation_alpha") != nullptr ||
      node.attribute("activation_beta") != nullptr) {
    return view.error("activation_alpha/activation_beta are not supported");
  }
  if (const ir::Attribute* acts = node.attribute("activations")) {
    std::vector<std::string> want;
    for (int d = 0; d < spec.directions; ++d) {
      if (cell == Cell::kLstm) want.insert(want.end(), {"sigmoid", "tanh", "tanh"});
      if (cell == Cell::kGru) want.insert(want.end(), {"sigmoid", "tanh"});
      if (cell == Cell::kRnn) want.insert(want.end(), {"tanh"});
    }
    std::vector<std::string> got;
    for (int i = 0; i < acts->proto().strings_size(); ++i)
      got.push_back(lower(acts->proto().strings(i)));
    if (got != want) return view.error("non-default activations are not supported");
  }
  const DType dt = view.input_dtype(0);
  if (dt != DType::kUndefined && dt != DType::kFloat && dt != DType::kDouble) {
    return view.error("unsupported data type " + std::string(ir::dtype_name(dt)) +
                      " (float and double only)");
  }
  if (view.input_count() < 3) return view.error("expects at least 3 inputs (X, W, R)");
  return make_kernel<exec::LambdaKernel>([spec](KernelContext& ctx) -> Status {
    switch (ctx.input(0).dtype()) {
      case DType::kFloat:
        return run_rnn<float>(spec, ctx);
      case DType::kDouble:
        return run_rnn<double>(spec, ctx);
      default:
        return ctx.error("unsupported data type " +
                         std::string(ir::dtype_name(ctx.input(0).dtype())) +
                         " (float and double only)");
    }
  });
}

}  // namespace

void register_rnn_kernels(exec::KernelRegistry& r) {
  r.add("", "RNN", 7, 1 << 20, [](const NodeView& v) { return make_rnn_kernel(v, Cell::kRnn); });
  r.add("", "GRU", 7, 1 << 20, [](const NodeView& v) { return make_rnn_kernel(v, Cell::kGru); });
  r.add("", "LSTM", 7, 1 << 20, [](const NodeView& v) { return make_rnn_kernel(v, Cell::kLstm); });
}

}  // namespace compressor::kernels
