// PassPipeline: runs passes in order with instrumentations (verify, stats, dump) around each.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compressor/core/status.h"
#include "compressor/eval/compare.h"
#include "compressor/eval/gates.h"
#include "compressor/ir/model.h"
#include "compressor/pass/calibration.h"
#include "compressor/pass/pass.h"
#include "compressor/pass/pass_context.h"
#include "compressor/pass/registry.h"

namespace compressor::pass {

/// Size of a model as the report counts it.
struct ModelStats {
  size_t nodes = 0;
  uint64_t params = 0;      ///< Elements of all initializers and Constant-node tensors.
  uint64_t bytes = 0;       ///< Bytes of all initializers and Constant-node tensors.
  uint64_t file_bytes = 0;  ///< Bytes of the model saved with every tensor embedded.
  uint64_t macs = 0;        ///< Estimated multiply-accumulates per run (see eval::estimate_macs).
  bool macs_known = false;  ///< False when shape inference could not give every MAC count.
};
/// Elements of all initializers and Constant-node tensors (no shape inference; cheap).
uint64_t parameter_count(const ir::Model& model);

/// Counts nodes, parameters and bytes; MACs with the symbolic dimensions bound to `dims`.
ModelStats model_stats(const ir::Model& model, const std::map<std::string, int64_t>& dims = {});

/// One row of the run: what a pass did and what it cost.
struct PassRecord {
  std::string name;
  std::string options;  ///< "k=v,k=v" as given.
  double seconds = 0;
  ModelStats before;
  ModelStats after;
  PassResult result;

  /// Drift after this pass against the original model (cumulative) and against the model
  /// before this pass (delta); empty when drift is not measured.
  std::vector<eval::OutputDrift> drift;
  std::vector<eval::OutputDrift> delta;
  /// Seconds spent measuring drift after the pass.
  double drift_seconds = 0;
  /// Calibration run for this pass (tensors calibrated, seconds; 0 when none ran or a table
  /// was given).
  size_t calibrated_tensors = 0;
  double calibration_seconds = 0;
  /// Gates the drift after this pass broke.
  std::vector<eval::GateResult> exceeded;

  /// Set by instrumentations: keep the pass, undo it (the model goes back to how it was before
  /// the pass, and the pipeline goes on), or stop the pipeline after it.
  enum class Verdict { kKeep, kRevert, kStop };
  Verdict verdict = Verdict::kKeep;
};

/// The drift between a model and itself, shaped like `current` (a pass that changed nothing).
std::vector<eval::OutputDrift> zero_delta(const std::vector<eval::OutputDrift>& current);

/// Hooks run around every pass (verification, statistics, dumps, drift).
class PassInstrumentation {
 public:
  virtual ~PassInstrumentation() = default;
  virtual Status before_pass(const Pass& /*pass*/, const ir::Model& /*model*/) {
    return ok_status();
  }
  /// Runs after the pass; an error stops the pipeline and is reported against the pass.
  virtual Status after_pass(const Pass& pass, const ir::Model& model, PassRecord& record) = 0;
  /// True when after_pass may ask for a pass to be undone (the pipeline then keeps a copy of
  /// the model from before each pass; tensors are shared until written, so it is cheap).
  virtual bool may_revert() const { return false; }
};

/// What to do when a pass pushes drift past a gate.
enum class OnExceed {
  kFail,    ///< Stop after the pass; the command writes the model and report and exits 3.
  kRevert,  ///< Undo the pass and go on with the next.
};

/// Measures drift after every pass with a DriftMeter, and holds it to the drift gates.
class DriftInstrumentation : public PassInstrumentation {
 public:
  DriftInstrumentation(eval::DriftMeter& meter, std::vector<eval::Gate> gates, OnExceed on_exceed)
      : meter_(meter), gates_(std::move(gates)), on_exceed_(on_exceed) {}
  Status after_pass(const Pass& pass, const ir::Model& model, PassRecord& record) override;
  bool may_revert() const override { return on_exceed_ == OnExceed::kRevert && !gates_.empty(); }
  /// A pass named `pass_name` that breaks a gate keeps the verdict kKeep and is not accepted by
  /// the meter (the broken gates are still in PassRecord::exceeded): the caller settles it, as
  /// the accuracy-driven fallback search does.
  void defer(std::string pass_name) { deferred_ = std::move(pass_name); }

 private:
  std::string deferred_;
  eval::DriftMeter& meter_;
  std::vector<eval::Gate> gates_;  ///< Drift gates only.
  OnExceed on_exceed_;
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

/// One pass of a pipeline spec: its name and options, and the options as written.
struct PassSpec {
  std::string name;
  PassOptions options;
  std::string options_text;
};

/// Splits "a,b{k=v,k2=v2},c" into passes and options (names are not checked against a registry).
StatusOr<std::vector<PassSpec>> parse_pass_specs(std::string_view spec);

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

  /// A pass that needs calibrated activation ranges (Pass::calibration_tensors) takes them from
  /// this table; it must cover every tensor the pass asks for.
  void set_calibration_table(CalibrationTable table);
  /// Or: calibrate on these samples, on the model as it stands just before such a pass.
  void set_calibration_samples(const io::SampleSet* samples, CalibrationOptions options);
  /// Every calibration the passes used, merged (to save it; a later pass's entry for a tensor
  /// wins); null when no pass needed one.
  const CalibrationTable* calibration_table() const { return used_table_ ? &*table_ : nullptr; }

  /// Runs every pass in order; stops at the first error, naming the pass, and after a pass an
  /// instrumentation gave the verdict kStop (the last record says so). A pass given kRevert is
  /// undone: the model is as it was before it.
  StatusOr<std::vector<PassRecord>> run(ir::Model& model, PassContext& ctx);

 private:
  struct Entry {
    std::unique_ptr<Pass> pass;
    std::string options_text;
  };
  /// Gives `pass` the calibration it needs (if any) through `ctx`.
  Status prepare_calibration(const Pass& pass, const ir::Model& model, PassContext& ctx,
                             PassRecord& record);

  std::vector<Entry> passes_;
  std::vector<std::unique_ptr<PassInstrumentation>> instrumentations_;
  std::optional<CalibrationTable> table_;       ///< Given, or the merge of every run.
  std::optional<CalibrationTable> pass_table_;  ///< The current pass's own run.
  bool table_given_ = false;
  bool used_table_ = false;
  const io::SampleSet* calibration_samples_ = nullptr;
  CalibrationOptions calibration_options_;
};

/// The cleanup passes every compression command runs first, in order (structured pruning runs
/// its own: it needs BatchNormalization until its channels are chosen).
std::string cleanup_pipeline_spec();
/// What `compressor optimize` runs by default: the cleanup passes and fold-conv-affine. The
/// compression commands leave a Conv's constant Mul/Add apart: folded into the Conv,
/// quantize-static then puts Q/DQ pairs on the HardSwish after it (PP-OCR rec: 141 -> 197
/// QuantizeLinear nodes), which cost calibration time and gave ONNX Runtime no speed on PP-OCR det
/// and rec (measured again with fuse-hardswish: no difference beyond run-to-run noise).
std::string optimize_pipeline_spec();

/// Records the compressor version and the passes applied in the model's metadata_props.
void stamp_metadata(ir::Model& model, const std::string& passes_spec);

}  // namespace compressor::pass
