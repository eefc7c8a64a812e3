// store-sparse: weights with enough zeros are saved in ONNX's sparse tensor format (the nonzero
// values plus one INT64 linear index each) when that makes the file strictly smaller.
//
// Before:  initializer W float[16, 32], 460 zeros           raw data: 512 x 4 = 2048 bytes
// After:   W = Constant <sparse_value = values float[52],   raw data: 52 x 4 = 208 bytes
//                        indices int64[52]>                           52 x 8 = 416 bytes
//
// The file holds a Constant node with a sparse_value attribute rather than a sparse_initializer:
// ONNX 1.12's strict shape inference (onnx.checker full_check) rejects a sparse_initializer read
// as a dense operator input, and accepts the sparse Constant; ONNX Runtime loads both as a dense
// initializer. Loading such a model gives the flagged dense initializer back.
//
// Only the file changes: every reader of the model in memory (executor, other passes, sizes)
// still sees the dense tensor, so the model computes exactly what it did. An INT64 index per
// nonzero float32 means the sparse form only pays above about 2/3 zeros; the pass computes both
// encodings' exact byte counts per tensor and keeps the smaller one. Every candidate left dense is
// reported with its share of zeros and how much larger the sparse form would have been.
#include <cstdio>
#include <set>

#include "../pass_util.h"
#include "../weight_layers.h"
#include "compressor/io/onnx_io.h"
#include "compressor/pass/pass_context.h"

namespace compressor::passes {
namespace {

constexpr const char* kName = "store-sparse";
// Sparse tensors exist from IR version 6 (ONNX 1.6) on; Constant's sparse_value from opset 11.
constexpr int64_t kSparseIrVersion = 6;
constexpr int64_t kSparseConstantOpset = 11;

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100.0 * fraction);
  return buf;
}

class StoreSparse : public pass::Pass {
 public:
  StoreSparse(double min_sparsity, bool all) : min_sparsity_(min_sparsity), all_(all) {}

  const pass::PassInfo& info() const override;

  StatusOr<pass::PassResult> run(ir::Model& model, pass::PassContext&) override {
    ir::Graph& graph = model.graph;
    pass::PassResult result;
    if (model.ir_version() < kSparseIrVersion) {
      result.notes.push_back("IR version " + std::to_string(model.ir_version()) +
                             " predates sparse tensors (IR version 6); every weight stays dense");
      return result;
    }
    if (model.opset_version("") < kSparseConstantOpset) {
      result.notes.push_back("opset " + std::to_string(model.opset_version("")) +
                             " predates Constant's sparse_value (opset 11; convert-opset "
                             "moves a model there); every weight stays dense");
      return result;
    }

    // Candidates in graph order: the weights of weight layers, or every float initializer.
    std::vector<std::string> candidates;
    std::set<std::string> seen;
    if (all_) {
      for (const ir::Initializer& init : graph.initializers()) {
        const ir::DTypeTraits& t = ir::traits(init.tensor.dtype());
        if (t.is_float && t.bits >= 8 && init.tensor.numel() > 0) candidates.push_back(init.name);
      }
    } else {
      const LayerScan scan = scan_weight_layers(graph, MatMulWeight::kEither);
      result.skipped = scan.skipped;
      for (const WeightLayer& layer : scan.layers) {
        const std::string& w = graph.node(layer.node).inputs[layer.slot];
        if (seen.insert(w).second) candidates.push_back(w);
      }
    }

    uint64_t dense_total = 0, stored_total = 0;
    size_t stored = 0;
    for (const std::string& name : candidates) {
      ir::Initializer* init = graph.find_initializer(name);
      if (graph.is_graph_input(name)) {
        init->sparse = false;
        result.skipped.push_back(
            {name, "also a graph input (a default callers may override); kept dense"});
        continue;
      }
      const io::StorageSize size = io::initializer_storage(*init);
      const double numel = static_cast<double>(init->tensor.numel());
      const double zeros = 1.0 - static_cast<double>(size.nonzeros) / numel;
      std::string reason;
      if (zeros < min_sparsity_) {
        reason = percent(zeros) + " zeros, below min_sparsity " + percent(min_sparsity_) +
                 "; kept dense";
      } else if (size.sparse_bytes >= size.dense_bytes) {
        char buf[96];
        std::snprintf(
            buf, sizeof(buf), ", sparse would be %.2f× %s; kept dense",
            static_cast<double>(size.sparse_bytes) / static_cast<double>(size.dense_bytes),
            size.sparse_bytes == size.dense_bytes ? "the size" : "larger");
        reason = percent(zeros) + " zeros" + buf;
      }
      if (!reason.empty()) {
        init->sparse = false;
        result.skipped.push_back({name, reason});
        continue;
      }
      init->sparse = true;
      ++stored;
      dense_total += size.dense_bytes;
      stored_total += size.sparse_bytes;
      result.changes.push_back({name, percent(zeros) + " zeros: " + human_bytes(size.dense_bytes) +
                                          " dense -> " + human_bytes(size.sparse_bytes) +
                                          " sparse"});
    }
    // The computation is unchanged (nodes_changed stays 0): drift is not measured again.
    if (stored > 0) {
      result.notes.push_back("stored " + std::to_string(stored) + " of " +
                             std::to_string(candidates.size()) + " weight tensor(s) sparse: " +
                             human_bytes(dense_total) + " -> " + human_bytes(stored_total));
    } else if (!candidates.empty()) {
      result.notes.push_back("no weight tensor is smaller stored sparse; all " +
                             std::to_string(candidates.size()) + " kept dense");
    }
    return result;
  }

 private:
  double min_sparsity_;
  bool all_;
};

}  // namespace

const pass::PassInfo& store_sparse_info() {
  static const pass::PassInfo info{
      kName,
      "Saves weights with enough zeros in ONNX's sparse format (values plus INT64 indices) where "
      "that makes the file smaller.",
      {{"min_sparsity", "0",
        "Store a tensor sparse only when at least this fraction of it is zero, in [0, 1] (it "
        "must also be smaller sparse)."},
       {"all", "false",
        "Consider every float initializer, not only Conv/ConvTranspose/Gemm/MatMul weights."}}};
  return info;
}

const pass::PassInfo& StoreSparse::info() const { return store_sparse_info(); }

StatusOr<std::unique_ptr<pass::Pass>> create_store_sparse(const pass::PassOptions& options) {
  double min_sparsity = 0.0;
  bool all = false;
  if (auto it = options.find("min_sparsity"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(min_sparsity,
                                parse_number_option(kName, "min_sparsity", it->second));
    if (!(min_sparsity >= 0.0 && min_sparsity <= 1.0)) {
      return invalid_argument(std::string(kName) +
                              ": option 'min_sparsity' must be in [0, 1], got '" + it->second +
                              "'");
    }
  }
  if (auto it = options.find("all"); it != options.end()) {
    COMPRESSOR_ASSIGN_OR_RETURN(all, parse_bool_option(kName, "all", it->second));
  }
  return std::unique_ptr<pass::Pass>(new StoreSparse(min_sparsity, all));
}

}  // namespace compressor::passes
