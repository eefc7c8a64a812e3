// Gram matrices of layer inputs. Rows are gathered into a double block of K x n (one x per
// column, n chosen so the block holds about 2^18 doubles) and added with a symmetric rank-n
// update of the lower triangle, so memory stays at the Grams plus one block whatever the
// sample size. Conv rows come from an im2col over the node's own geometry (pads, auto_pad,
// strides, dilations; 1-D and 2-D windows occupy the trailing axes of a 3-D one), one output
// position per row, in the weight's [c][kd][kh][kw] order.
#include "layer_gram.h"

#include <algorithm>
#include <array>

namespace compressor::pass {
namespace {

constexpr size_t kBlockDoubles = size_t{1} << 18;

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::string dims_text(const ir::Dims& dims) { return ir::dims_to_string(dims); }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

StatusOr<GramAccumulator> GramAccumulator::create(const ir::Graph& graph,
                                                  const std::string& layer) {
  const ir::Node* node = nullptr;
  for (const auto& n : graph.nodes()) {
    if (node_label(*n) == layer) {
      node = n.get();
      break;
    }
  }
  const std::string where = "Gram statistics for layer '" + layer + "'";
  if (node == nullptr) return invalid_argument(where + ": no node has this label");
  GramAccumulator acc;
  acc.layer_ = layer;
  if (!node->in_default_domain() ||
      (node->op_type != "MatMul" && node->op_type != "Gemm" && node->op_type != "Conv")) {
    return unsupported(where + ": " + node->op_type +
                       " is not supported (Conv, Gemm and MatMul are)");
  }
  if (node->inputs.size() < 2 || node->inputs[0].empty()) {
    return invalid_model(where + ": " + node->op_type + " lacks an input");
  }
  const ir::Initializer* weight = graph.find_initializer(node->inputs[1]);
  if (weight == nullptr) {
    return invalid_argument(where + ": its weight '" + node->inputs[1] +
                            "' is not a constant (initializer)");
  }
  if (weight->tensor.dtype() != ir::DType::kFloat) {
    return unsupported(where + ": its weight '" + node->inputs[1] + "' is not float32");
  }
  const ir::Dims& w = weight->tensor.dims();
  acc.input_ = node->inputs[0];
  if (node->op_type == "MatMul") {
    acc.kind_ = Kind::kMatMul;
    if (w.size() != 2) {
      return unsupported(where + ": MatMul weight " + dims_text(w) + " is not 2-D");
    }
    acc.size_ = static_cast<size_t>(w[0]);
  } else if (node->op_type == "Gemm") {
    acc.kind_ = Kind::kGemm;
    if (w.size() != 2)
      return invalid_model(where + ": Gemm weight " + dims_text(w) + " is not 2-D");
    acc.trans_a_ = node->attr_int("transA", 0) != 0;
    acc.size_ = static_cast<size_t>(node->attr_int("transB", 0) != 0 ? w[1] : w[0]);
  } else {
    acc.kind_ = Kind::kConv;
    if (w.size() < 3 || w.size() > 5) {
      return unsupported(where + ": Conv weight " + dims_text(w) +
                         " is not a 1-D, 2-D or 3-D kernel");
    }
    const int64_t group = node->attr_int("group", 1);
    if (group < 1 || w[0] % group != 0) {
      return invalid_model(where + ": group " + std::to_string(group) + " does not divide the " +
                           std::to_string(w[0]) + " output channels");
    }
    acc.groups_ = static_cast<size_t>(group);
    acc.kernel_.assign(w.begin() + 2, w.end());
    const size_t nd = acc.kernel_.size();
    const std::vector<int64_t> given = node->attr_ints("kernel_shape");
    if (!given.empty() && given != acc.kernel_) {
      return invalid_model(where + ": kernel_shape does not match the weight " + dims_text(w));
    }
    acc.strides_ = node->attr_ints("strides");
    acc.dilations_ = node->attr_ints("dilations");
    acc.pads_ = node->attr_ints("pads");
    if ((!acc.strides_.empty() && acc.strides_.size() != nd) ||
        (!acc.dilations_.empty() && acc.dilations_.size() != nd) ||
        (!acc.pads_.empty() && acc.pads_.size() != 2 * nd)) {
      return invalid_model(where + ": strides, dilations or pads do not match the " +
                           std::to_string(nd) + "-D kernel");
    }
    for (int64_t v : acc.strides_) {
      if (v < 1) return invalid_model(where + ": strides must be >= 1");
    }
    for (int64_t v : acc.dilations_) {
      if (v < 1) return invalid_model(where + ": dilations must be >= 1");
    }
    for (int64_t v : acc.pads_) {
      if (v < 0) return invalid_model(where + ": negative pads are not supported");
    }
    if (const ir::Attribute* a = node->attribute("auto_pad")) acc.auto_pad_ = a->s();
    if (acc.auto_pad_ == "NOTSET") acc.auto_pad_.clear();
    if (!acc.auto_pad_.empty() && acc.auto_pad_ != "VALID" && acc.auto_pad_ != "SAME_UPPER" &&
        acc.auto_pad_ != "SAME_LOWER") {
      return unsupported(where + ": auto_pad '" + acc.auto_pad_ + "' is not supported");
    }
    acc.size_ = static_cast<size_t>(w[1]);
    for (int64_t k : acc.kernel_) acc.size_ *= static_cast<size_t>(k);
  }
  if (acc.size_ == 0) return invalid_model(where + ": the reduction length is 0");
  acc.grams_.assign(acc.groups_, Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(acc.size_),
                                                       static_cast<Eigen::Index>(acc.size_)));
  return acc;
}

Status GramAccumulator::fail(const std::string& what, size_t sample) const {
  return invalid_argument("Gram statistics for layer '" + layer_ + "': " + what + " in sample " +
                          std::to_string(sample));
}

void GramAccumulator::add(size_t g, const Eigen::Ref<const Eigen::MatrixXd>& block) {
  grams_[g].selfadjointView<Eigen::Lower>().rankUpdate(block);
}

Status GramAccumulator::observe(const ir::Tensor& value, size_t sample) {
  if (value.dtype() != ir::DType::kFloat) return fail("the input is not float32", sample);
  if (kind_ == Kind::kConv) return observe_conv(value, sample);
  const ir::Dims& dims = value.dims();
  const auto k = static_cast<Eigen::Index>(size_);
  Eigen::Index rows = 0;
  if (kind_ == Kind::kMatMul) {
    if (dims.empty() || dims.back() != k) {
      return fail("input " + dims_text(dims) + " does not end in the weight's " +
                      std::to_string(size_) + " rows",
                  sample);
    }
    rows = static_cast<Eigen::Index>(value.span<float>().size()) / k;
  } else {
    if (dims.size() != 2 || dims[trans_a_ ? 0 : 1] != k) {
      return fail("input " + dims_text(dims) + " does not match the weight's " +
                      std::to_string(size_) + " rows",
                  sample);
    }
    rows = static_cast<Eigen::Index>(dims[trans_a_ ? 1 : 0]);
  }
  const Eigen::Index step = std::max<Eigen::Index>(1, static_cast<Eigen::Index>(kBlockDoubles) / k);
  const float* data = value.span<float>().data();
  for (Eigen::Index r = 0; r < rows; r += step) {
    const Eigen::Index n = std::min(step, rows - r);
    if (trans_a_) {
      // A is [K, M]: the rows x are its columns.
      Eigen::Map<const RowMajorF> a(data, k, rows);
      block_ = a.middleCols(r, n).cast<double>();
    } else {
      Eigen::Map<const RowMajorF> a(data, rows, k);
      block_ = a.middleRows(r, n).transpose().cast<double>();
    }
    if (!block_.allFinite()) return fail("the input holds a value that is not finite", sample);
    add(0, block_);
  }
  rows_ += static_cast<uint64_t>(rows);
  return ok_status();
}

Status GramAccumulator::observe_conv(const ir::Tensor& value, size_t sample) {
  const ir::Dims& dims = value.dims();
  const size_t nd = kernel_.size();
  if (dims.size() != nd + 2) {
    return fail(
        "input " + dims_text(dims) + " does not match a " + std::to_string(nd) + "-D kernel",
        sample);
  }
  int64_t kernel_size = 1;
  for (int64_t k : kernel_) kernel_size *= k;
  const int64_t cg = static_cast<int64_t>(size_) / kernel_size;
  if (dims[1] != cg * static_cast<int64_t>(groups_)) {
    return fail("input " + dims_text(dims) + " has not " + std::to_string(cg) + " x " +
                    std::to_string(groups_) + " channels",
                sample);
  }
  // The 3-D geometry; 1-D and 2-D windows occupy the trailing axes.
  std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, out{1, 1, 1};
  for (size_t i = 0; i < nd; ++i) {
    const size_t a = 3 - nd + i;
    in[a] = dims[2 + i];
    k[a] = kernel_[i];
    s[a] = strides_.empty() ? 1 : strides_[i];
    d[a] = dilations_.empty() ? 1 : dilations_[i];
    const int64_t eff = (k[a] - 1) * d[a] + 1;
    if (auto_pad_.empty()) {
      pb[a] = pads_.empty() ? 0 : pads_[i];
      const int64_t span = in[a] + pb[a] + (pads_.empty() ? 0 : pads_[i + nd]) - eff;
      if (span < 0) return fail("the window is larger than the padded input", sample);
      out[a] = span / s[a] + 1;
    } else if (auto_pad_ == "VALID") {
      if (in[a] < eff) return fail("the window is larger than the input", sample);
      out[a] = (in[a] - eff) / s[a] + 1;
    } else {
      out[a] = ceil_div(in[a], s[a]);
      const int64_t total = std::max<int64_t>(0, (out[a] - 1) * s[a] + eff - in[a]);
      pb[a] = auto_pad_ == "SAME_UPPER" ? total / 2 : total - total / 2;
    }
  }
  const int64_t positions = out[0] * out[1] * out[2];
  const int64_t in_size = in[0] * in[1] * in[2];
  const auto kk = static_cast<Eigen::Index>(size_);
  const int64_t step =
      std::max<int64_t>(1, static_cast<int64_t>(kBlockDoubles) / static_cast<int64_t>(size_));
  const float* x = value.span<float>().data();
  for (int64_t b = 0; b < dims[0]; ++b) {
    for (size_t g = 0; g < groups_; ++g) {
      const float* xg = x + (b * dims[1] + static_cast<int64_t>(g) * cg) * in_size;
      for (int64_t p0 = 0; p0 < positions; p0 += step) {
        const int64_t len = std::min(step, positions - p0);
        block_.resize(kk, static_cast<Eigen::Index>(len));
        for (int64_t p = 0; p < len; ++p) {
          const int64_t pos = p0 + p;
          const int64_t ow = pos % out[2], oh = (pos / out[2]) % out[1],
                        od = pos / (out[2] * out[1]);
          double* col = block_.col(static_cast<Eigen::Index>(p)).data();
          for (int64_t c = 0; c < cg; ++c) {
            const float* xc = xg + c * in_size;
            for (int64_t kd = 0; kd < k[0]; ++kd) {
              const int64_t id = od * s[0] - pb[0] + kd * d[0];
              const bool din = id >= 0 && id < in[0];
              for (int64_t kh = 0; kh < k[1]; ++kh) {
                const int64_t ih = oh * s[1] - pb[1] + kh * d[1];
                const bool hin = din && ih >= 0 && ih < in[1];
                for (int64_t kw = 0; kw < k[2]; ++kw) {
                  const int64_t iw = ow * s[2] - pb[2] + kw * d[2];
                  *col++ = hin && iw >= 0 && iw < in[2]
                               ? static_cast<double>(xc[(id * in[1] + ih) * in[2] + iw])
                               : 0.0;
                }
              }
            }
          }
        }
        if (!block_.allFinite()) return fail("the input holds a value that is not finite", sample);
        add(g, block_);
      }
    }
  }
  rows_ += static_cast<uint64_t>(dims[0] * positions);
  return ok_status();
}

LayerGram GramAccumulator::result() const {
  LayerGram out;
  out.groups = groups_;
  out.size = size_;
  out.rows = rows_;
  out.data.resize(groups_ * size_ * size_);
  for (size_t g = 0; g < groups_; ++g) {
    // Row-major storage of a symmetric matrix equals its column-major storage.
    Eigen::Map<Eigen::MatrixXd> h(out.data.data() + g * size_ * size_,
                                  static_cast<Eigen::Index>(size_),
                                  static_cast<Eigen::Index>(size_));
    h = grams_[g].selfadjointView<Eigen::Lower>();
  }
  return out;
}

}  // namespace compressor::pass
