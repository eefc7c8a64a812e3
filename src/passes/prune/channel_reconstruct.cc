// Least-squares re-fit of the layers that lose input channels (see channel_reconstruct.h).
#include "channel_reconstruct.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <map>

#include "compressor/pass/pass.h"

namespace compressor::passes {
namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// True when edit `e` slices the reduction axis of a Conv (group 1), Gemm or MatMul weight.
bool is_reduction_edit(const ir::Graph& graph, const InitializerEdit& e) {
  const ir::Node& node = graph.node(e.node);
  if (node.inputs.size() < 2 || node.inputs[1] != e.initializer) return false;
  if (node.op_type == "Conv") return node.attr_int("group", 1) == 1 && e.axis == 1;
  if (node.op_type == "Gemm") return e.axis == (node.attr_int("transB", 0) != 0 ? 1 : 0);
  if (node.op_type == "MatMul") return e.axis == 0;
  return false;
}

// tr(D H D^T) for D = rows x K.
double energy(const Eigen::MatrixXd& d, const Eigen::Map<const Eigen::MatrixXd>& h) {
  return (d * h).cwiseProduct(d).sum();
}

}  // namespace

std::vector<ReductionReader> reduction_readers(const ir::Graph& graph,
                                               const ChannelAnalysis& analysis) {
  std::map<size_t, size_t> by_node;
  for (size_t k = 0; k < analysis.edits.size(); ++k) {
    const InitializerEdit& e = analysis.edits[k];
    if (!is_reduction_edit(graph, e)) continue;
    bool prunable = false;
    for (const auto& s : analysis.layouts[e.layout].slices) {
      prunable =
          prunable ||
          (s.group >= 0 && !analysis.groups[static_cast<size_t>(analysis.root(s.group))].refused);
    }
    if (prunable) by_node.emplace(e.node, k);
  }
  std::vector<ReductionReader> out;
  for (const auto& [node, edit] : by_node) out.push_back({node, edit});
  return out;
}

StatusOr<std::vector<ReconstructedLayer>> reconstruct_readers(ir::Model& model,
                                                              const ChannelAnalysis& analysis,
                                                              const ChannelKeep& keep,
                                                              const pass::CalibrationTable* table,
                                                              const std::string& pass_name) {
  ir::Graph& graph = model.graph;
  // The layers losing inputs; every Gram is checked before any weight changes.
  std::vector<ReductionReader> readers;
  for (const ReductionReader& reader : reduction_readers(graph, analysis)) {
    const ChannelLayout& layout = analysis.layouts[analysis.edits[reader.edit].layout];
    if (static_cast<int64_t>(layout_keep(analysis, layout, keep).size()) ==
        layout.channels() * layout.block) {
      continue;
    }
    const std::string label = pass::node_label(graph.node(reader.node));
    const pass::LayerGram* gram = table ? table->find_gram(label) : nullptr;
    if (gram == nullptr || gram->rows == 0) {
      return invalid_argument(pass_name + ": reconstruct: layer '" + label +
                              "' has no input Gram statistics to re-fit against (give "
                              "calibration samples, or leave reconstruct off)");
    }
    readers.push_back(reader);
  }
  std::vector<ReconstructedLayer> out;
  for (const ReductionReader& reader : readers) {
    const InitializerEdit& e = analysis.edits[reader.edit];
    const ChannelLayout& layout = analysis.layouts[e.layout];
    const std::vector<int64_t> kept = layout_keep(analysis, layout, keep);
    const int64_t width = layout.channels() * layout.block;
    const ir::Node& node = graph.node(reader.node);
    const std::string label = pass::node_label(node);
    const std::string where = pass_name + ": reconstruct: layer '" + label + "'";
    const pass::LayerGram* gram = table->find_gram(label);
    ir::Initializer* init = graph.find_initializer(e.initializer);
    if (init == nullptr) return internal_error(where + ": its weight is missing");
    ir::Tensor& wt = init->tensor;
    const ir::Dims& d = wt.dims();
    // The weight as an out x K matrix W whose columns follow the Gram's rows.
    const bool transposed = node.op_type != "Conv" && e.axis == 0;  // B is [K, N]
    int64_t per_column = 1;                                         // Conv: kernel positions
    for (size_t a = 2; node.op_type == "Conv" && a < d.size(); ++a) per_column *= d[a];
    const int64_t rows = node.op_type == "Conv" ? d[0] : (transposed ? d[1] : d[0]);
    const int64_t k = node.op_type == "Conv" ? d[1] * per_column : (transposed ? d[0] : d[1]);
    if (gram->groups != 1 || static_cast<int64_t>(gram->size) != k || k != width * per_column) {
      return invalid_argument(where + ": its input Gram (size " + std::to_string(gram->size) +
                              ") does not match the weight's " + std::to_string(k) + " inputs");
    }
    Eigen::MatrixXd w;
    {
      Eigen::Map<const RowMajorF> m(wt.span<float>().data(), transposed ? k : rows,
                                    transposed ? rows : k);
      if (transposed) {
        w = m.transpose().cast<double>();
      } else {
        w = m.cast<double>();
      }
    }
    std::vector<Eigen::Index> cols;
    cols.reserve(kept.size() * static_cast<size_t>(per_column));
    for (int64_t c : kept) {
      for (int64_t j = 0; j < per_column; ++j) cols.push_back(c * per_column + j);
    }
    const auto s = static_cast<Eigen::Index>(cols.size());
    const Eigen::Map<const Eigen::MatrixXd> h(gram->data.data(), k, k);

    ReconstructedLayer layer;
    layer.node = reader.node;
    layer.rows = gram->rows;
    const double total = energy(w, h);
    Eigen::MatrixXd dropped = w;  // W with the kept columns zeroed: the error of slicing alone
    for (Eigen::Index j : cols) dropped.col(j).setZero();
    layer.before = total > 0 ? energy(dropped, h) / total : 0.0;
    if (!(total > 0) || !std::isfinite(total)) {
      layer.reason = "its output is zero on the calibration samples";
      out.push_back(std::move(layer));
      continue;
    }

    // A = H[S, S] + lambda I, B = H[S, :] W^T; W'_S^T = A^-1 B.
    Eigen::MatrixXd a(s, s), b_rows(s, k);
    for (Eigen::Index i = 0; i < s; ++i) {
      b_rows.row(i) = h.row(cols[static_cast<size_t>(i)]);
      for (Eigen::Index j = 0; j < s; ++j) {
        a(i, j) = h(cols[static_cast<size_t>(i)], cols[static_cast<size_t>(j)]);
      }
    }
    const Eigen::MatrixXd rhs = b_rows * w.transpose();
    const double mean_diag = a.diagonal().mean();
    Eigen::MatrixXd solved;
    if (mean_diag > 0) {
      for (double lambda = 1e-6 * mean_diag; lambda <= mean_diag * (1 + 1e-9); lambda *= 10) {
        Eigen::MatrixXd damped = a;
        damped.diagonal().array() += lambda;
        Eigen::LLT<Eigen::MatrixXd> llt(damped);
        if (llt.info() != Eigen::Success) continue;
        solved = llt.solve(rhs);
        if (solved.allFinite()) break;
        solved.resize(0, 0);
      }
    }
    if (solved.size() == 0) {
      layer.reason = mean_diag > 0 ? "the kept inputs' Gram could not be factorized"
                                   : "the kept inputs are zero on the calibration samples";
      out.push_back(std::move(layer));
      continue;
    }
    // The error with the weights as they will be stored (float32).
    const Eigen::MatrixXf fitted = solved.transpose().cast<float>();  // rows x s
    Eigen::MatrixXd residual = dropped;
    for (Eigen::Index j = 0; j < s; ++j) {
      const Eigen::Index c = cols[static_cast<size_t>(j)];
      residual.col(c) = w.col(c) - fitted.col(j).cast<double>();
    }
    layer.after = energy(residual, h) / total;
    if (!(layer.after < layer.before)) {
      layer.reason = "the re-fit does not lower the output error";
      out.push_back(std::move(layer));
      continue;
    }
    layer.refitted = true;
    auto v = wt.mutable_span<float>();
    for (Eigen::Index o = 0; o < rows; ++o) {
      for (Eigen::Index j = 0; j < s; ++j) {
        const Eigen::Index c = cols[static_cast<size_t>(j)];
        const size_t at =
            transposed ? static_cast<size_t>(c * rows + o) : static_cast<size_t>(o * k + c);
        v[at] = fitted(o, j);
      }
    }
    out.push_back(std::move(layer));
  }
  return out;
}

}  // namespace compressor::passes
