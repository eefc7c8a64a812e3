// PassPipeline: parsing "a,b{k=v}", running passes with instrumentations, metadata stamping.
#include "compressor/pass/pipeline.h"

#include <onnx/onnx_pb.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>

#include "compressor/core/logging.h"
#include "compressor/eval/model_info.h"
#include "compressor/io/onnx_io.h"
#include "compressor/version.h"

namespace compressor::pass {

namespace {

/// Adds the initializers' and Constant-node tensors' elements and bytes to `s`.
void count_weights(const ir::Model& model, ModelStats& s) {
  for (const auto& init : model.graph.initializers()) {
    s.params += static_cast<uint64_t>(init.tensor.numel());
    s.bytes += init.tensor.nbytes();
  }
  // Weights held in Constant nodes count too (the loader checked their shapes and sizes).
  for (const auto& node : model.graph.nodes()) {
    if (node->op_type != "Constant" || !node->in_default_domain()) continue;
    const ir::Attribute* value = node->attribute("value");
    if (value == nullptr || value->type() != ir::Attribute::Type::kTensor) continue;
    const auto& t = value->proto().t();
    const auto dtype = ir::dtype_from_onnx(t.data_type());
    if (!dtype) continue;
    const int64_t n = ir::element_count({t.dims().begin(), t.dims().end()});
    s.params += static_cast<uint64_t>(n);
    s.bytes += ir::storage_bytes(*dtype, n);
  }
}

}  // namespace

uint64_t parameter_count(const ir::Model& model) {
  ModelStats s;
  count_weights(model, s);
  return s.params;
}

ModelStats model_stats(const ir::Model& model, const std::map<std::string, int64_t>& dims) {
  ModelStats s;
  s.file_bytes = io::serialized_size(model);
  auto macs = eval::estimate_macs(model, dims);
  if (macs.ok()) {
    s.macs = macs->total;
    s.macs_known = macs->unknown_nodes == 0;
  }
  s.nodes = model.graph.node_count();
  count_weights(model, s);
  return s;
}

Status VerifyInstrumentation::before_pass(const Pass&, const ir::Model& model) {
  if (input_checked_) return ok_status();
  input_checked_ = true;
  Status st = io::check_model(model);
  if (!st.ok()) return st.with_context("the input model is invalid before any pass ran");
  return ok_status();
}

Status VerifyInstrumentation::after_pass(const Pass& pass, const ir::Model& model, PassRecord&) {
  Status st = model.graph.validate();
  if (st.ok()) st = io::check_model(model);
  if (!st.ok()) return st.with_context("pass '" + pass.name() + "' produced an invalid model");
  return ok_status();
}

Status DumpInstrumentation::after_pass(const Pass& pass, const ir::Model& model, PassRecord&) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return io_error(dir_ + ": cannot create --dump-after folder: " + ec.message());
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%02d-", ++count_);
  io::SaveOptions options;
  options.check = false;  // the verify instrumentation owns checking
  auto saved = io::save_model(model, dir_ + "/" + prefix + pass.name() + ".onnx", options);
  return saved.ok() ? ok_status() : saved.status();
}

std::vector<eval::OutputDrift> zero_delta(const std::vector<eval::OutputDrift>& current) {
  std::vector<eval::OutputDrift> out;
  for (const auto& d : current) {
    eval::DriftMetrics m;
    m.samples = d.metrics.samples;
    m.elements = d.metrics.elements;
    m.snr_db = std::numeric_limits<double>::infinity();
    if (d.metrics.top1_agreement) m.top1_agreement = 1.0;
    if (d.metrics.top5_agreement) m.top5_agreement = 1.0;
    if (d.metrics.accuracy) {
      m.reference_accuracy = d.metrics.accuracy;
      m.accuracy = d.metrics.accuracy;
      m.accuracy_drop = 0.0;
    }
    out.push_back({d.output, m});
  }
  return out;
}

Status DriftInstrumentation::after_pass(const Pass& pass, const ir::Model& model,
                                        PassRecord& record) {
  const auto start = std::chrono::steady_clock::now();
  if (record.result.nodes_changed == 0) {
    record.drift = meter_.current();
    record.delta = zero_delta(meter_.current());
  } else {
    auto m = meter_.measure(model);
    if (!m.ok()) return m.status().with_context("measuring drift after pass '" + pass.name() + "'");
    record.drift = std::move(m->cumulative);
    record.delta = std::move(m->delta);
  }
  record.drift_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  eval::GateInputs inputs;
  inputs.drift = &record.drift;
  for (const auto& gate : gates_) {
    COMPRESSOR_ASSIGN_OR_RETURN(eval::GateResult r, eval::evaluate_gate(gate, inputs));
    if (!r.ok) record.exceeded.push_back(std::move(r));
  }
  if (record.exceeded.empty()) {
    if (record.result.nodes_changed > 0) meter_.accept();
    return ok_status();
  }
  if (!deferred_.empty() && pass.name() == deferred_) return ok_status();
  record.verdict =
      on_exceed_ == OnExceed::kRevert ? PassRecord::Verdict::kRevert : PassRecord::Verdict::kStop;
  if (record.verdict == PassRecord::Verdict::kStop && record.result.nodes_changed > 0) {
    meter_.accept();  // the model keeps this pass
  }
  return ok_status();
}

StatusOr<std::vector<PassSpec>> parse_pass_specs(std::string_view spec) {
  std::vector<PassSpec> specs;
  size_t pos = 0;
  auto trim = [](std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
  };
  while (pos < spec.size()) {
    size_t end = pos;
    while (end < spec.size() && spec[end] != ',' && spec[end] != '{') ++end;
    PassSpec entry;
    entry.name = trim(std::string(spec.substr(pos, end - pos)));
    const std::string& name = entry.name;
    if (end < spec.size() && spec[end] == '{') {
      size_t close = spec.find('}', end);
      if (close == std::string_view::npos) {
        return invalid_argument("--passes: missing '}' after options of '" + name + "'");
      }
      entry.options_text = std::string(spec.substr(end + 1, close - end - 1));
      const std::string& options_text = entry.options_text;
      size_t p = 0;
      while (p <= options_text.size()) {
        size_t comma = options_text.find(',', p);
        if (comma == std::string::npos) comma = options_text.size();
        std::string kv = trim(options_text.substr(p, comma - p));
        if (!kv.empty()) {
          size_t eq = kv.find('=');
          if (eq == std::string::npos) {
            return invalid_argument("--passes: option '" + kv + "' of '" + name +
                                    "' is not of the form key=value");
          }
          entry.options[trim(kv.substr(0, eq))] = trim(kv.substr(eq + 1));
        }
        p = comma + 1;
      }
      end = close + 1;
      while (end < spec.size() && std::isspace(static_cast<unsigned char>(spec[end]))) ++end;
      if (end < spec.size() && spec[end] != ',') {
        return invalid_argument("--passes: expected ',' after options of '" + name + "'");
      }
    }
    if (name.empty())
      return invalid_argument("--passes: empty pass name in '" + std::string(spec) + "'");
    specs.push_back(std::move(entry));
    pos = end + 1;
  }
  if (specs.empty()) return invalid_argument("--passes: no pass given");
  return specs;
}

StatusOr<PassPipeline> PassPipeline::parse(std::string_view spec, const PassRegistry& registry) {
  COMPRESSOR_ASSIGN_OR_RETURN(std::vector<PassSpec> specs, parse_pass_specs(spec));
  PassPipeline pipeline;
  for (auto& entry : specs) {
    COMPRESSOR_ASSIGN_OR_RETURN(auto pass, registry.create(entry.name, entry.options));
    pipeline.add(std::move(pass), std::move(entry.options_text));
  }
  return pipeline;
}

void PassPipeline::set_calibration_table(CalibrationTable table) {
  table_ = std::move(table);
  table_given_ = true;
}

void PassPipeline::set_calibration_samples(const io::SampleSet* samples,
                                           CalibrationOptions options) {
  calibration_samples_ = samples;
  calibration_options_ = options;
}

Status PassPipeline::prepare_calibration(const Pass& pass, const ir::Model& model, PassContext& ctx,
                                         PassRecord& record) {
  ctx.set_calibration(nullptr);
  const std::vector<std::string> needed = pass.calibration_tensors(model);
  const std::vector<ChannelRequest> channels = pass.channel_statistics(model);
  const std::vector<GramRequest> grams = pass.gram_statistics(model);
  if (needed.empty() && channels.empty() && grams.empty()) return ok_status();
  const auto missing = [&](const std::string& name, const char* what) {
    return invalid_argument("the calibration table has no " + std::string(what) + " for tensor '" +
                            name + "', which pass '" + pass.name() +
                            "' needs (was it made for this model and these options?)");
  };
  if (table_given_ && !grams.empty() && calibration_samples_ == nullptr) {
    return invalid_argument("pass '" + pass.name() +
                            "' needs calibration samples: the Gram statistics of layer inputs it "
                            "uses are not stored in calibration tables (give sample data)");
  }
  if (table_given_) {
    for (const auto& name : needed) {
      if (table_->ranges.count(name) == 0) return missing(name, "range");
    }
    for (const auto& request : channels) {
      if (!request.optional && table_->channels.count(request.tensor) == 0) {
        return missing(request.tensor, "per-channel statistics");
      }
    }
    if (grams.empty()) {
      ctx.set_calibration(&*table_);
    } else {
      // The given table's ranges and statistics, with Grams gathered from the samples.
      const auto start = std::chrono::steady_clock::now();
      auto table = calibrate(model, *calibration_samples_, {}, calibration_options_, {}, grams);
      if (!table.ok())
        return table.status().with_context("calibrating for pass '" + pass.name() + "'");
      record.calibrated_tensors = table->grams.size();
      record.calibration_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      pass_table_ = *table_;
      pass_table_->grams = std::move(table->grams);
      ctx.set_calibration(&*pass_table_);
    }
  } else if (calibration_samples_ != nullptr) {
    const auto start = std::chrono::steady_clock::now();
    auto table =
        calibrate(model, *calibration_samples_, needed, calibration_options_, channels, grams);
    if (!table.ok())
      return table.status().with_context("calibrating for pass '" + pass.name() + "'");
    record.calibrated_tensors = table->ranges.size() + table->channels.size() + table->grams.size();
    record.calibration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Every table a pass used goes into the saved one, so that reusing it reproduces the run;
    // Grams are not saved, so they stay with this pass's table only (they are large).
    if (!table_) table_.emplace();
    std::map<std::string, LayerGram> layer_grams = std::move(table->grams);
    table->grams.clear();
    table_->merge(*table);
    pass_table_ = std::move(table).value();
    pass_table_->grams = std::move(layer_grams);
    ctx.set_calibration(&*pass_table_);
  } else {
    return invalid_argument(
        "pass '" + pass.name() +
        "' needs calibration (activation ranges, per-channel statistics or layer-input Grams): "
        "give "
        "sample data or a calibration table");
  }
  used_table_ = true;
  return ok_status();
}

void PassPipeline::add(std::unique_ptr<Pass> pass, std::string options_text) {
  passes_.push_back({std::move(pass), std::move(options_text)});
}

void PassPipeline::add_instrumentation(std::unique_ptr<PassInstrumentation> inst) {
  instrumentations_.push_back(std::move(inst));
}

std::string PassPipeline::spec() const {
  std::string s;
  for (const auto& e : passes_) {
    if (!s.empty()) s += ',';
    s += e.pass->name();
    if (!e.options_text.empty()) s += '{' + e.options_text + '}';
  }
  return s;
}

StatusOr<std::vector<PassRecord>> PassPipeline::run(ir::Model& model, PassContext& ctx) {
  std::vector<PassRecord> records;
  bool snapshots = false;
  for (const auto& inst : instrumentations_) snapshots = snapshots || inst->may_revert();
  ModelStats stats = model_stats(model, ctx.dims());
  for (auto& entry : passes_) {
    Pass& pass = *entry.pass;
    PassRecord record;
    record.name = pass.name();
    record.options = entry.options_text;
    record.before = stats;
    for (auto& inst : instrumentations_) {
      COMPRESSOR_RETURN_IF_ERROR(inst->before_pass(pass, model));
    }
    std::optional<ir::Model> snapshot;
    if (snapshots) snapshot = model;
    COMPRESSOR_RETURN_IF_ERROR(prepare_calibration(pass, model, ctx, record));
    auto start = std::chrono::steady_clock::now();
    auto result = pass.run(model, ctx);
    ctx.set_calibration(nullptr);
    if (pass_table_) pass_table_->grams.clear();  // large, and only this pass's
    if (!result.ok()) return result.status().with_context("pass '" + pass.name() + "'");
    record.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    record.result = std::move(result).value();
    record.after = model_stats(model, ctx.dims());
    for (auto& inst : instrumentations_) {
      COMPRESSOR_RETURN_IF_ERROR(inst->after_pass(pass, model, record));
    }
    COMPRESSOR_LOG_INFO(
        "{}: {} node(s) changed, {} skipped; nodes {} -> {}, params {} -> {} ({:.3f}s)",
        record.name, record.result.nodes_changed, record.result.skipped.size(), record.before.nodes,
        record.after.nodes, record.before.params, record.after.params, record.seconds);
    const auto verdict = record.verdict;
    if (verdict == PassRecord::Verdict::kRevert && snapshot) {
      model = std::move(*snapshot);
      COMPRESSOR_LOG_WARN("{}: undone (drift past a gate)", record.name);
    } else {
      stats = record.after;
    }
    records.push_back(std::move(record));
    if (verdict == PassRecord::Verdict::kStop) break;
  }
  return records;
}

std::string cleanup_pipeline_spec() {
  return "constants-to-initializers,eliminate-identity,fold-batchnorm,fuse-hardswish,"
         "merge-duplicate-initializers,eliminate-dead-nodes";
}

std::string optimize_pipeline_spec() {
  return "constants-to-initializers,eliminate-identity,fold-batchnorm,fold-conv-affine,"
         "fuse-hardswish,merge-duplicate-initializers,eliminate-dead-nodes";
}

void stamp_metadata(ir::Model& model, const std::string& passes_spec) {
  model.set_metadata("compressor.version", kVersion);
  std::string applied = passes_spec;
  for (const auto& [key, value] : model.metadata()) {
    if (key == "compressor.passes" && !value.empty()) applied = value + "," + passes_spec;
  }
  model.set_metadata("compressor.passes", applied);
}

}  // namespace compressor::pass
