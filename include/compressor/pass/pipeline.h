// PassPipeline: runs passes in order with instrumentations (verify, stats, dump) around each.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/ir/model.h"
#include "compressor/pass/pass.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/registry.h"

namespace compressor::pass {

/// Size of a model as the report counts it.
struct ModelStats {
  size_t nodes = 0;
  uint64_t params = 0;  ///< Elements of all initializers.
  uint64_t bytes = 0;   ///< Bytes of all initializers.
};
ModelStats model_stats(const ir::Model& model);

/// One row of the run: what a pass did and what it cost.
struct PassRecord {
  std::string name;
  std::string options;  ///< "k=v,k=v" as given.
  double seconds = 0;
  ModelStats before;
  ModelStats after;
  PassResult result;
};

/// Hooks run around every pass (verification, statistics, dumps, drift).
class PassInstrumentation {
 public:
  virtual ~PassInstrumentation() = default;
  virtual Status before_pass(const Pass& /*pass*/, const ir::Model& /*model*/) {
    return ok_status();
  }
  /// Runs after the pass; an error stops the pipeline and is reported against the pass.
  virtual Status after_pass(const Pass& pass, const ir::Model& model, PassRecord& record) = 0;
};

/// Runs the ONNX checker with strict shape inference on the input (so that a broken input is
/// not blamed on the first pass) and after every pass.
class VerifyInstrumentation : public PassInstrumentation {
 public:
  Status before_pass(const Pass& pass, const ir::Model& model) override;
  Status after_pass(const Pass& pass, const ir::Model& model, PassRecord& record) override;

 private:
  bool input_checked_ = false;
};

/// Saves the model after every pass as DIR/NN-<pass>.onnx.
class DumpInstrumentation : public PassInstrumentation {
 public:
  explicit DumpInstrumentation(std::string dir) : dir_(std::move(dir)) {}
  Status after_pass(const Pass& pass, const ir::Model& model, PassRecord& record) override;

 private:
  std::string dir_;
  int count_ = 0;
};

/// An ordered list of passes.
class PassPipeline {
 public:
  /// Parses "a,b{k=v,k2=v2},c" against the registry.
  static StatusOr<PassPipeline> parse(std::string_view spec,
                                      const PassRegistry& registry = PassRegistry::builtin());

  void add(std::unique_ptr<Pass> pass, std::string options_text = {});
  void add_instrumentation(std::unique_ptr<PassInstrumentation> inst);
  size_t size() const { return passes_.size(); }
  /// "a,b{k=v}" as given, for metadata and the report.
  std::string spec() const;

  /// Runs every pass in order; stops at the first error, naming the pass.
  StatusOr<std::vector<PassRecord>> run(ir::Model& model, PassContext& ctx);

 private:
  struct Entry {
    std::unique_ptr<Pass> pass;
    std::string options_text;
  };
  std::vector<Entry> passes_;
  std::vector<std::unique_ptr<PassInstrumentation>> instrumentations_;
};

/// The cleanup passes every compression command runs first, in order.
std::string cleanup_pipeline_spec();

/// Records the compressor version and the passes applied in the model's metadata_props.
void stamp_metadata(ir::Model& model, const std::string& passes_spec);

}  // namespace compressor::pass
