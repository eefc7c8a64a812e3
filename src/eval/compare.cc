// Model-vs-model comparison: streaming drift, the output store with spill-to-disk, and the
// drift meter that pipelines use after every pass.
#include "compressor/eval/compare.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>

#include "compressor/core/progress.h"

namespace compressor::eval {

// ---------------------------------------------------------------------------------------------
// OutputStore

struct OutputStore::Impl {
  struct Entry {
    ir::Tensor tensor;  ///< Set when held in memory.
    ir::DType dtype = ir::DType::kUndefined;
    ir::Dims dims;
    uint64_t offset = 0;  ///< Position in the spill file when not in memory.
    bool spilled = false;
  };
  size_t budget = 0;
  uint64_t in_memory = 0;
  uint64_t on_disk = 0;
  std::vector<std::vector<Entry>> samples;
  FILE* spill = nullptr;

  ~Impl() {
    if (spill != nullptr) std::fclose(spill);
  }
};

OutputStore::OutputStore(size_t memory_budget_bytes) : impl_(std::make_unique<Impl>()) {
  impl_->budget = memory_budget_bytes;
}
OutputStore::OutputStore(OutputStore&&) noexcept = default;
OutputStore& OutputStore::operator=(OutputStore&&) noexcept = default;
OutputStore::~OutputStore() = default;

size_t OutputStore::size() const { return impl_->samples.size(); }
uint64_t OutputStore::memory_bytes() const { return impl_->in_memory; }
uint64_t OutputStore::spilled_bytes() const { return impl_->on_disk; }

Status OutputStore::append(std::vector<ir::Tensor> outputs) {
  Impl& s = *impl_;
  std::vector<Impl::Entry> entries;
  entries.reserve(outputs.size());
  for (auto& t : outputs) {
    Impl::Entry e;
    e.dtype = t.dtype();
    e.dims = t.dims();
    const bool fits = s.in_memory + t.nbytes() <= s.budget;
    if (fits || t.dtype() == ir::DType::kString || t.nbytes() == 0) {
      s.in_memory += t.nbytes();
      e.tensor = std::move(t);
    } else {
      if (s.spill == nullptr) {
        s.spill = std::tmpfile();
        if (s.spill == nullptr) {
          return io_error(std::string("cannot create a temporary file for model outputs: ") +
                          std::strerror(errno));
        }
      }
      e.offset = s.on_disk;
      e.spilled = true;
      if (std::fseek(s.spill, static_cast<long>(e.offset), SEEK_SET) != 0 ||
          std::fwrite(t.data(), 1, t.nbytes(), s.spill) != t.nbytes()) {
        return io_error(std::string("cannot write model outputs to a temporary file: ") +
                        std::strerror(errno));
      }
      s.on_disk += t.nbytes();
    }
    entries.push_back(std::move(e));
  }
  s.samples.push_back(std::move(entries));
  return ok_status();
}

StatusOr<std::vector<ir::Tensor>> OutputStore::get(size_t i) const {
  const Impl& s = *impl_;
  if (i >= s.samples.size()) return internal_error("output store: no sample " + std::to_string(i));
  std::vector<ir::Tensor> out;
  out.reserve(s.samples[i].size());
  for (const auto& e : s.samples[i]) {
    if (!e.spilled) {
      out.push_back(e.tensor);
      continue;
    }
    ir::Tensor t = ir::Tensor::uninitialized(e.dtype, e.dims);
    std::fflush(s.spill);
    const ssize_t got =
        ::pread(fileno(s.spill), t.mutable_data(), t.nbytes(), static_cast<off_t>(e.offset));
    if (got < 0 || static_cast<size_t>(got) != t.nbytes()) {
      return io_error("cannot read model outputs back from a temporary file");
    }
    out.push_back(std::move(t));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running a model on one sample

namespace {

StatusOr<std::vector<ir::Tensor>> run_sample(const exec::Executor& executor,
                                             const io::SampleSet& samples, size_t i,
                                             const char* which) {
  auto sample = samples.get(i);
  if (!sample.ok()) return sample.status();
  std::vector<exec::NamedTensor> feed;
  feed.reserve(sample->size());
  for (auto& t : *sample) feed.push_back({t.name, std::move(t.tensor)});
  auto outputs = executor.run(feed);
  if (!outputs.ok()) {
    return outputs.status().with_context(std::string(which) + " model, sample " +
                                         std::to_string(i));
  }
  return outputs;
}

/// For each reference output, the index of the candidate output of the same name.
StatusOr<std::vector<size_t>> match_outputs(const std::vector<std::string>& reference,
                                            const std::vector<std::string>& candidate) {
  std::map<std::string, size_t> index;
  for (size_t k = 0; k < candidate.size(); ++k) index[candidate[k]] = k;
  std::vector<size_t> map;
  for (const auto& name : reference) {
    auto it = index.find(name);
    if (it == index.end()) {
      return invalid_model("the candidate model has no output '" + name +
                           "' (the reference has it)");
    }
    map.push_back(it->second);
  }
  return map;
}

std::optional<int64_t> label_of(const io::SampleSet& samples, size_t i) {
  const auto& labels = samples.labels();
  if (i < labels.size()) return labels[i];
  return std::nullopt;
}

/// Adds one sample's outputs to the accumulators.
Status accumulate(std::vector<DriftAccumulator>& acc, const std::vector<std::string>& names,
                  const std::vector<ir::Tensor>& ref, const std::vector<ir::Tensor>& cand,
                  const std::vector<size_t>& map, std::optional<int64_t> label, size_t sample) {
  for (size_t k = 0; k < names.size(); ++k) {
    Status st = acc[k].add(names[k], ref[k], cand[map[k]], label);
    if (!st.ok()) return st.with_context("sample " + std::to_string(sample));
  }
  return ok_status();
}

std::vector<OutputDrift> results(const std::vector<DriftAccumulator>& acc,
                                 const std::vector<std::string>& names) {
  std::vector<OutputDrift> out;
  for (size_t k = 0; k < names.size(); ++k) out.push_back({names[k], acc[k].result()});
  return out;
}

}  // namespace

StatusOr<std::vector<OutputDrift>> compare_models(const ir::Model& reference,
                                                  const ir::Model& candidate,
                                                  const io::SampleSet& samples,
                                                  const CompareOptions& options) {
  auto ref_exec = exec::Executor::create(reference, options.executor);
  if (!ref_exec.ok()) return ref_exec.status().with_context("reference model");
  auto cand_exec = exec::Executor::create(candidate, options.executor);
  if (!cand_exec.ok()) return cand_exec.status().with_context("candidate model");
  const auto& names = (*ref_exec)->output_names();
  COMPRESSOR_ASSIGN_OR_RETURN(auto map, match_outputs(names, (*cand_exec)->output_names()));
  std::vector<DriftAccumulator> acc(names.size());
  Progress progress("evaluation", samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    COMPRESSOR_ASSIGN_OR_RETURN(auto ref, run_sample(**ref_exec, samples, i, "reference"));
    COMPRESSOR_ASSIGN_OR_RETURN(auto cand, run_sample(**cand_exec, samples, i, "candidate"));
    COMPRESSOR_RETURN_IF_ERROR(accumulate(acc, names, ref, cand, map, label_of(samples, i), i));
    progress.advance();
  }
  return results(acc, names);
}

// ---------------------------------------------------------------------------------------------
// DriftMeter

DriftMeter::DriftMeter(const io::SampleSet& samples, CompareOptions options)
    : samples_(samples), options_(std::move(options)) {}

StatusOr<std::unique_ptr<DriftMeter>> DriftMeter::create(const ir::Model& reference,
                                                         const io::SampleSet& samples,
                                                         const CompareOptions& options) {
  std::unique_ptr<DriftMeter> meter(new DriftMeter(samples, options));
  const auto start = std::chrono::steady_clock::now();
  auto executor = exec::Executor::create(reference, options.executor);
  if (!executor.ok()) return executor.status().with_context("reference model");
  meter->output_names_ = (*executor)->output_names();
  Progress progress("reference outputs", samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    COMPRESSOR_ASSIGN_OR_RETURN(auto outputs, run_sample(**executor, samples, i, "reference"));
    COMPRESSOR_RETURN_IF_ERROR(meter->reference_.append(std::move(outputs)));
    progress.advance();
  }
  meter->reference_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Before any pass, the model is the reference: zero drift.
  std::vector<DriftAccumulator> acc(meter->output_names_.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    COMPRESSOR_ASSIGN_OR_RETURN(auto ref, meter->reference_.get(i));
    std::vector<size_t> identity(ref.size());
    for (size_t k = 0; k < identity.size(); ++k) identity[k] = k;
    COMPRESSOR_RETURN_IF_ERROR(
        accumulate(acc, meter->output_names_, ref, ref, identity, label_of(samples, i), i));
  }
  meter->current_ = results(acc, meter->output_names_);
  return meter;
}

StatusOr<DriftMeter::Measurement> DriftMeter::measure(const ir::Model& candidate) {
  auto executor = exec::Executor::create(candidate, options_.executor);
  if (!executor.ok()) return executor.status().with_context("candidate model");
  COMPRESSOR_ASSIGN_OR_RETURN(auto map, match_outputs(output_names_, (*executor)->output_names()));
  std::vector<DriftAccumulator> cumulative(output_names_.size()), delta(output_names_.size());
  auto store = std::make_unique<OutputStore>();
  const OutputStore& previous = previous_ ? *previous_ : reference_;
  Progress progress("drift", samples_.size());
  for (size_t i = 0; i < samples_.size(); ++i) {
    COMPRESSOR_ASSIGN_OR_RETURN(auto cand, run_sample(**executor, samples_, i, "candidate"));
    COMPRESSOR_ASSIGN_OR_RETURN(auto ref, reference_.get(i));
    const auto label = label_of(samples_, i);
    COMPRESSOR_RETURN_IF_ERROR(accumulate(cumulative, output_names_, ref, cand, map, label, i));
    ref.clear();
    COMPRESSOR_ASSIGN_OR_RETURN(auto prev, previous.get(i));
    std::vector<size_t> identity(prev.size());
    for (size_t k = 0; k < identity.size(); ++k) identity[k] = k;
    // prev is indexed like the reference; cand like the candidate: reorder cand first.
    std::vector<ir::Tensor> ordered;
    ordered.reserve(map.size());
    for (size_t k = 0; k < map.size(); ++k) ordered.push_back(cand[map[k]]);
    COMPRESSOR_RETURN_IF_ERROR(accumulate(delta, output_names_, prev, ordered, identity, label, i));
    cand.clear();
    COMPRESSOR_RETURN_IF_ERROR(store->append(std::move(ordered)));
    progress.advance();
  }
  Measurement m{results(cumulative, output_names_), results(delta, output_names_)};
  pending_ = std::move(store);
  pending_drift_ = m.cumulative;
  return m;
}

void DriftMeter::accept() {
  if (!pending_) return;
  previous_ = std::move(pending_);
  current_ = std::move(pending_drift_);
  pending_drift_.clear();
}

}  // namespace compressor::eval
