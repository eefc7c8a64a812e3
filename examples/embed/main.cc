// compressor as a library: load a model, run the cleanup passes and 50% magnitude pruning with
// drift measured after every pass on 8 random samples, print one line per pass, save the model.
//
//   embed MODEL.onnx OUT.onnx
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "compressor/eval/compare.h"
#include "compressor/io/onnx_io.h"
#include "compressor/io/samples.h"
#include "compressor/pass/pipeline.h"

using namespace compressor;

// The value, or exit with the one-line error.
template <typename T>
T take(StatusOr<T> result) {
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n", result.status().message().c_str());
    std::exit(1);
  }
  return std::move(result).value();
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL.onnx OUT.onnx\n", argv[0]);
    return 2;
  }
  ir::Model model = take(io::load_model(argv[1]));
  io::SampleSet samples = take(io::SampleSet::open(model, {}));  // random, from the input types
  auto meter = take(eval::DriftMeter::create(model, samples));

  auto pipeline = take(
      pass::PassPipeline::parse(pass::cleanup_pipeline_spec() + ",prune-magnitude{sparsity=0.5}"));
  pipeline.add_instrumentation(std::make_unique<pass::DriftInstrumentation>(
      *meter, std::vector<eval::Gate>{}, pass::OnExceed::kFail));
  pass::PassContext ctx;
  for (const pass::PassRecord& r : take(pipeline.run(model, ctx))) {
    std::printf("%-30s %3zu nodes changed  params %llu -> %llu  cosine %.6f\n", r.name.c_str(),
                r.result.nodes_changed, static_cast<unsigned long long>(r.before.params),
                static_cast<unsigned long long>(r.after.params), r.drift.at(0).metrics.cosine);
  }
  pass::stamp_metadata(model, pipeline.spec());
  io::SaveResult saved = take(io::save_model(model, argv[2]));
  std::printf("wrote %s (%llu bytes)\n", argv[2],
              static_cast<unsigned long long>(saved.model_bytes));
  return 0;
}
